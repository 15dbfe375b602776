"""Figures as inline SVG: no prolog or size, prefixed ids, intact references, an accessible name."""

from __future__ import annotations

import re

from charter.reports._svg import figure, figure_to_svg


def draw(key: str, title: str = "T", description: str = "D") -> str:
    with figure(3, 2, left=0.5, bottom=0.4) as (fig, ax):
        ax.bar([1, 2, 3], [3, 1, 2])
        ax.set_xlabel("$x$ & <y>")
        return figure_to_svg(fig, key=key, title=title, description=description)


def test_svg_is_an_inline_element():
    svg = draw("k")
    assert svg.startswith("<svg viewBox=")
    assert svg.endswith("</svg>")
    assert "<?xml" not in svg and "DOCTYPE" not in svg and "http" not in svg
    assert "<metadata" not in svg and "<style" not in svg
    head = svg[: svg.index(">")]
    assert "width=" not in head and "height=" not in head


def test_svg_has_an_accessible_name_and_escaped_text():
    svg = draw("k", title='A "title" <b>', description="rows & <more>")
    assert 'role="img" aria-label="rows &amp; &lt;more&gt;"' in svg
    assert "<title>A &#34;title&#34; &lt;b&gt;</title>" in svg
    assert "$x$ &amp; &lt;y&gt;" in svg  # text kept as text, not parsed as mathtext


def test_ids_are_prefixed_and_every_reference_resolves():
    svg = draw("Dist 3")
    ids = re.findall(r'\sid="([^"]+)"', svg)
    assert ids and all(i.startswith("dist-3-") for i in ids)
    references = [a or b for a, b in re.findall(r'url\(#([^)]+)\)|href="#([^"]+)"', svg)]
    assert references and set(references) <= set(ids)


def test_same_figure_gives_same_svg():
    assert draw("k") == draw("k")


def test_names_in_any_script_draw_without_warnings():
    # pytest turns warnings into errors: a missing glyph must not warn, the browser draws it.
    with figure(3, 2, left=0.5, bottom=0.4) as (fig, ax):
        ax.set_xlabel("顧客 🚀 عميل")
        svg = figure_to_svg(fig, key="k", title="t", description="d")
    assert "顧客 🚀 عميل" in svg
