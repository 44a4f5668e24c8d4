"""SLA reports rendered for department managers: HTML, PDF, XLSX and CSV.

The renderers only format what the engine computed (``agent.sla.model.Report``); the words
and number formats of both languages are in ``i18n``, the inline SVG charts in ``charts``.

>>> data = render(report, "pdf")   # bytes, ready to write or mail
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, get_args

from agent.sla.model import Report
from agent.sla.render.csvout import render_csv
from agent.sla.render.html import render_html
from agent.sla.render.pdf import RenderError, render_pdf
from agent.sla.render.xlsx import render_xlsx

Format = Literal["html", "pdf", "xlsx", "csv"]
FORMATS: tuple[Format, ...] = get_args(Format)

_RENDERERS: dict[Format, Callable[[Report], bytes]] = {
    "html": render_html,
    "pdf": render_pdf,
    "xlsx": render_xlsx,
    "csv": render_csv,
}

__all__ = ["FORMATS", "Format", "RenderError", "render"]


def render(report: Report, fmt: Format) -> bytes:
    """The report in `fmt`; RenderError when this machine lacks what the format needs."""
    renderer = _RENDERERS.get(fmt)
    if renderer is None:
        raise ValueError(f"unknown report format {fmt!r}: expected one of {', '.join(FORMATS)}")
    return renderer(report)
