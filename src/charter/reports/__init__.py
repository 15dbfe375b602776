"""Reports people read: the readiness report as one self-contained HTML file."""

from charter.reports._audit_html import render_audit_html, write_audit_html

__all__ = ["render_audit_html", "write_audit_html"]
