"""Reports people read: the readiness report, the model card and the monitoring report, each one
self-contained HTML file."""

from charter.reports._audit_html import render_audit_html, write_audit_html
from charter.reports._model_card import (
    render_model_card,
    render_version_cards,
    write_model_card,
)
from charter.reports._monitor_html import render_monitor_report

__all__ = [
    "render_audit_html",
    "render_model_card",
    "render_monitor_report",
    "render_version_cards",
    "write_audit_html",
    "write_model_card",
]
