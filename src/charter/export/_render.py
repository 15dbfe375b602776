"""The build context's Dockerfile and README, from Jinja2 templates beside this module."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from charter.export._layout import (
    APP_DIR,
    KEYS_FILE,
    KEYS_NAME,
    LOG_DIR,
    PORT,
    PROJECT_DIR,
    UID,
    VENV,
    resource_name,
)

__all__ = ["healthcheck", "render_dockerfile", "render_readme"]


def healthcheck(port_variable: str = "CHARTER_SERVE_PORT") -> list[str]:
    """The image's health check: Python's urllib asks /v1/health (slim images have no curl)."""
    code = (
        "import os, urllib.request; urllib.request.urlopen("
        f"'http://127.0.0.1:%s/v1/health' % os.environ.get('{port_variable}', '{PORT}'), timeout=4)"
    )
    return ["python", "-c", code]


def render_dockerfile(context: dict[str, Any]) -> str:
    """The Dockerfile for a package; `context` as `_container` builds it."""
    return _environment().get_template("Dockerfile.j2").render(**_with_layout(context))


def render_readme(context: dict[str, Any]) -> str:
    """The context's README: what each file is, how to build, run and deploy it."""
    return _environment().get_template("README.md.j2").render(**_with_layout(context))


def _with_layout(context: dict[str, Any]) -> dict[str, Any]:
    result = context["result"]
    python_minor = context["python_minor"]
    return {
        **context,
        "name": resource_name(result.version.project),
        "python_image": f"python:{python_minor}-slim",
        "wheel": None if result.wheel is None else result.wheel.name,
        "requirement": result.requirement,
        "lock_source": result.lock_source,
        "sizing": result.sizing,
        "manifests": bool(result.manifests),
        "healthcheck": json.dumps(healthcheck()),
        "venv": VENV,
        "uid": UID,
        "app_dir": APP_DIR,
        "project_dir": PROJECT_DIR,
        "log_dir": LOG_DIR,
        "port": PORT,
        "keys_file": KEYS_FILE,
        "keys_name": KEYS_NAME,
    }


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("charter.export", "templates"),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # a Dockerfile and Markdown, not HTML
    )
