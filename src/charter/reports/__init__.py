"""Reports people read: the readiness report and the model card, each one self-contained HTML file."""

from charter.reports._audit_html import render_audit_html, write_audit_html
from charter.reports._model_card import (
    render_model_card,
    render_version_cards,
    write_model_card,
)

__all__ = [
    "render_audit_html",
    "render_model_card",
    "render_version_cards",
    "write_audit_html",
    "write_model_card",
]
