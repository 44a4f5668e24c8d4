"""SLA reports rendered for department managers: HTML, PDF, XLSX and CSV.

The renderers only format what the engine computed (``agent.sla.model.Report``); the words
and number formats of both languages are in ``i18n``, the inline SVG charts in ``charts``.

>>> data = render(report, "pdf")   # bytes, ready to write or mail
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import partial
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

__all__ = ["FORMATS", "Format", "RenderError", "render", "render_many"]


def render(report: Report, fmt: Format) -> bytes:
    """The report in `fmt`; RenderError when this machine lacks what the format needs."""
    renderer = _RENDERERS.get(fmt)
    if renderer is None:
        raise ValueError(f"unknown report format {fmt!r}: expected one of {', '.join(FORMATS)}")
    return renderer(report)


def render_many(reports: Sequence[Report], fmt: Format, workers: int | None = None) -> list[bytes]:
    """Many reports (one per department), on every core: a PDF takes ~0.4 s to lay out.

    `workers` defaults to the CPUs this process may use; with one, or a handful of reports,
    no process is started."""
    workers = workers or len(os.sched_getaffinity(0))
    # CSV is cheaper to write than to hand to another process.
    if workers < 2 or len(reports) < 8 or fmt == "csv":
        return [render(report, fmt) for report in reports]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        chunk = max(1, len(reports) // (workers * 4))
        return list(pool.map(partial(render, fmt=fmt), reports, chunksize=chunk))
