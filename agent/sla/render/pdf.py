"""The report as a PDF, drawn by WeasyPrint from the print layout (``templates/print.html.j2``).

The body font is Liberation Serif, metric-compatible with the Times New Roman that Decree
30/2020/NĐ-CP asks for and carrying every Vietnamese glyph. It is loaded by ``@font-face``
from its Debian path rather than looked up through fontconfig, so the PDF embeds exactly these
files (a subset), whatever else the machine has installed.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from markupsafe import Markup
from PIL import ImageFont

from agent.sla.model import Report
from agent.sla.render import charts
from agent.sla.render.html import TEMPLATES, context, environment
from agent.sla.render.i18n import Words

FONT_DIR = Path("/usr/share/fonts/truetype/liberation2")
#: The family fontconfig knows the files by, so the PDF's fonts are named Liberation-Serif-*.
FONT_FAMILY = "LiberationSerif"
#: (file, CSS font-weight, CSS font-style) of the four faces the layout uses.
FONT_FACES = (
    ("LiberationSerif-Regular.ttf", "normal", "normal"),
    ("LiberationSerif-Bold.ttf", "bold", "normal"),
    ("LiberationSerif-Italic.ttf", "normal", "italic"),
    ("LiberationSerif-BoldItalic.ttf", "bold", "italic"),
)
# 600 px is 159 mm: the 165 mm between Decree 30's margins, less a little air.
PRINT_CHARTS = charts.ChartStyle(font_family=FONT_FAMILY, width=600, bars_height=130)


#: The masthead's issuer column (print.css: 45 % of the 165 mm between the margins) and its
#: font size: a name too long for it is split in two balanced lines, as a typist would
#: ("ỦY BAN NHÂN DÂN / TỈNH BÌNH DƯƠNG"), never left to wrap its last word alone.
ISSUER_COLUMN_MM = 165 * 0.45 - 2
ISSUER_PT = 12
PT_PER_MM = 72 / 25.4


class RenderError(RuntimeError):
    """A report cannot be rendered on this machine (a font or tool is missing)."""


def font_css(font_dir: Path | None = None) -> Markup:
    """The @font-face rules; a missing face is an error, never a silent fallback font."""
    rules = []
    for name, weight, style in FONT_FACES:
        path = (font_dir or FONT_DIR) / name
        if not path.is_file():
            raise RenderError(
                f"font file {path} is missing: install the Debian package fonts-liberation2"
            )
        rules.append(
            f'@font-face {{ font-family: "{FONT_FAMILY}"; src: url("{path.as_uri()}"); '
            f"font-weight: {weight}; font-style: {style}; }}"
        )
    # Markup: a <style> element's text is not HTML-unescaped, so quotes must stay quotes; the
    # only variable part is our own font path.
    return Markup("\n".join(rules))  # noqa: S704


@cache
def _face(path: Path) -> ImageFont.FreeTypeFont:
    # Loaded at size 1000 and scaled down: FreeType rounds the advances of small sizes.
    return ImageFont.truetype(str(path), 1000)


def balanced_lines(text: str, bold: bool) -> tuple[str, ...]:
    """`text` as one line if it fits the issuer column, else as the two lines (split at a
    space) whose longer one is the shortest."""
    face = _face(FONT_DIR / FONT_FACES[1 if bold else 0][0])

    def width_mm(line: str) -> float:
        return face.getlength(line) / 1000 * ISSUER_PT / PT_PER_MM

    words = text.split()
    if width_mm(text) <= ISSUER_COLUMN_MM or len(words) < 2:
        return (text,)
    splits = [(" ".join(words[:i]), " ".join(words[i:])) for i in range(1, len(words))]
    return min(splits, key=lambda pair: max(width_mm(pair[0]), width_mm(pair[1])))


#: Incidents listed in a PDF at most (the heaviest by time charged).
PDF_INCIDENTS = 40


def render_pdf(report: Report) -> bytes:
    words = Words(report.language, report.timezone)
    page = context(report, PRINT_CHARTS, subject_charts=False)
    # Paper gets the incidents that weighed most; the HTML and XLSX list every one. (A
    # province's year holds thousands, and a table that long takes minutes to lay out.)
    every = page["all_incidents"]
    page["incidents_cut"] = ""
    if len(every) > PDF_INCIDENTS:
        heaviest = sorted(
            every, key=lambda row: (row.incident.charged_s, row.incident.seconds), reverse=True
        )[:PDF_INCIDENTS]
        page["all_incidents"] = sorted(heaviest, key=lambda row: row.incident.start)
        page["incidents_cut"] = words(
            "incidents_cut", shown=words.number(PDF_INCIDENTS), total=words.number(len(every))
        )
    period = words.period(report.period, report.start, report.end)
    fonts = font_css()  # first: a missing font file stops here, named
    page.update(
        font_css=fonts,
        issuer_parent_lines=balanced_lines(report.issuer_parent.upper(), bold=False),
        issuer_lines=balanced_lines(report.issuer.upper(), bold=True),
        dated_at=words.dated_at(report.place, report.generated_at),
        subject_line=words("subject_line"),
        period_words=period,
        scope=words(
            "scope",
            department=page["department"],
            period_words=period,
            start=words.time_text(report.start),
            end=page["end_text"],
            zone=report.timezone,
        ),
    )
    html = environment().get_template("print.html.j2").render(page)
    try:
        # Imported here: pango loads with it, and the other formats must not need pango.
        import weasyprint
    except (ImportError, OSError) as error:
        raise RenderError(
            f"WeasyPrint cannot be loaded ({error}): install weasyprint and Debian's libpango-1.0-0"
        ) from error
    pdf = weasyprint.HTML(string=html, base_url=str(TEMPLATES)).write_pdf()
    if not isinstance(pdf, bytes):
        raise RenderError("WeasyPrint returned no PDF")
    return pdf
