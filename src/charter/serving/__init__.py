"""Phase 4, serving: the REST API, batch scoring, the prediction log and feedback intake.

The web parts (FastAPI, uvicorn) load only when a service is built (`charter.serving._app`).
"""

from charter.serving._feedback import FeedbackResult, read_feedback, record_feedback
from charter.serving._log import PredictionLog, prune, read_log
from charter.serving._records import Problem, RecordChecker

__all__ = [
    "FeedbackResult",
    "PredictionLog",
    "Problem",
    "RecordChecker",
    "prune",
    "read_feedback",
    "read_log",
    "record_feedback",
]
