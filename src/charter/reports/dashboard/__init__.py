"""The dashboard: one place where the owner, the data scientist and the engineer see the same truth.

Server-rendered pages over the workspace's stores (the charter, the audit, the registry, the
prediction log's monitoring runs); they read, never retrain or re-measure. `charter ui` serves
it on its own; `charter serve --ui` mounts it under `/ui` beside the prediction service.

Example:
    >>> app = create_dashboard(Project("charter.yaml"))  # doctest: +SKIP
    >>> uvicorn.run(app, port=8080)
"""

from charter.reports.dashboard._app import create_dashboard

__all__ = ["create_dashboard"]
