"""Matplotlib figures as small SVG fragments that can be inlined, several to a page."""

from __future__ import annotations

import io
import re
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import matplotlib
from markupsafe import escape
from matplotlib.axes import Axes
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

__all__ = ["INK", "MUTED", "PALETTE", "figure", "figure_to_svg"]

PALETTE = ("#3b6ea8", "#e07b39", "#6a9f58", "#b5485d", "#8c6bb1")
INK = "#1d2939"
MUTED = "#667085"

_STYLE: dict[RcKeyType, Any] = {
    "svg.fonttype": "none",  # text stays text: searchable, small, crisp
    "svg.hashsalt": "charter",  # deterministic clip-path ids, so equal input gives equal output
    "text.parse_math": False,  # a column named "$x$" is a name, not a formula
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Arial", "Helvetica"],
    "font.size": 8.5,
    "axes.titlesize": 9,
    "axes.labelsize": 8.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.edgecolor": "#98a2b3",
    "axes.labelcolor": "#344054",
    "xtick.color": "#475467",
    "ytick.color": "#475467",
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "legend.frameon": False,
}
_METADATA: dict[str, str | None] = {"Creator": None, "Date": None, "Format": None, "Type": None}
# rc_context changes process-wide settings; charts drawn from several threads must take turns.
_LOCK = threading.Lock()

_PROLOG = re.compile(r"\A.*?(?=<svg\b)", re.S)
_NAMESPACES = re.compile(r'\s+(?:xmlns(?::xlink)?="[^"]*"|version="[^"]*")')
_SIZE = re.compile(r'\s(?:width|height)="[^"]*"')
_STYLE_DEFS = re.compile(r"<defs>\s*<style[^>]*>.*?</style>\s*</defs>\s*", re.S)
_EMPTY_STYLE = re.compile(r"<style[^>]*>.*?</style>\s*", re.S)
_ID = re.compile(r'\sid="([^"]*)"')
_REFERENCE = re.compile(r'url\(#([^)]+)\)|href="#([^"]+)"')
_BLANK_LINES = re.compile(r"\s*\n\s*")


@contextmanager
def figure(
    width: float,
    height: float,
    *,
    left: float,
    bottom: float,
    right: float = 0.15,
    top: float = 0.1,
) -> Iterator[tuple[Figure, Axes]]:
    """A figure of a fixed size (inches) with one axes and fixed margins (inches).

    Fixed margins instead of a tight layout: the layout engine draws the figure once more,
    which would double the cost of every chart.
    """
    with _LOCK, matplotlib.rc_context(_STYLE), warnings.catch_warnings():
        # Text stays text, so the browser draws any script or emoji matplotlib's font lacks.
        warnings.filterwarnings("ignore", r"Glyph \d+ .* missing from font", UserWarning)
        fig = Figure(figsize=(width, height))
        FigureCanvasSVG(fig)
        fig.subplots_adjust(
            left=left / width,
            right=1 - right / width,
            bottom=bottom / height,
            top=1 - top / height,
        )
        yield fig, fig.add_subplot()


def figure_to_svg(fig: Figure, *, key: str, title: str, description: str) -> str:
    """Serialise `fig` as an `<svg>` element fit for inlining in HTML.

    Drops the XML prolog, namespaces (HTML parsing supplies them) and fixed size (the page's
    CSS scales the chart through its viewBox); removes element ids nobody refers to and prefixes
    the rest with `key`, so several charts on one page cannot collide; adds an accessible name.
    Must be called inside `figure()`, which holds the settings the SVG writer reads.
    """
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata=_METADATA)
    svg = _PROLOG.sub("", buffer.getvalue(), count=1)
    svg = _STYLE_DEFS.sub("", svg, count=1)
    svg = _EMPTY_STYLE.sub("", svg)
    head, _, body = svg.partition(">")
    head = _SIZE.sub("", _NAMESPACES.sub("", head))
    prefix = re.sub(r"[^a-z0-9-]+", "-", key.lower()).strip("-") or "chart"
    body = _prefix_ids(body, prefix)
    body = _BLANK_LINES.sub("\n", body).strip()
    return (
        f'{head} role="img" aria-label="{escape(description)}">'
        f"<title>{escape(title)}</title>\n{body}"
    )


def _prefix_ids(body: str, prefix: str) -> str:
    referenced = {a or b for a, b in _REFERENCE.findall(body)}

    def rename(match: re.Match[str]) -> str:
        name = match.group(1)
        return f' id="{prefix}-{name}"' if name in referenced else ""

    def point(match: re.Match[str]) -> str:
        if match.group(1):
            return f"url(#{prefix}-{match.group(1)})"
        return f'href="#{prefix}-{match.group(2)}"'

    return _REFERENCE.sub(point, _ID.sub(rename, body))
