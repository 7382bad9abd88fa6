#!/usr/bin/env python
"""Generate the binary documents (DOCX, PDF) of the synthetic corpus from their text sources.

The binaries of ``knowledge/`` are never edited by hand: each one is built from a plain-text source kept
next to it in a ``_src`` folder::

    knowledge/patients/P001/_src/crh_2026-02-18.pdf.txt   ->  knowledge/patients/P001/crh_2026-02-18.pdf
    knowledge/patients/P001/_src/ordonnance.docx.txt      ->  knowledge/patients/P001/ordonnance.docx
    knowledge/procedures/_src/<stem>.docx.txt              ->  knowledge/procedures/<stem>.docx

Source format (one file, UTF-8):

* a line starting with ``"# "`` is a section heading (DOCX style "Heading 2", bold in the PDF);
* a blank line separates paragraphs; every other line is printed as its own line;
* a line containing only ``\\f`` (a form feed, or the two characters backslash + f) starts a new page.

Every page carries a header line with the hospital name. Output is deterministic: fixed creation and
modification dates and fixed ZIP timestamps, so re-running the script on unchanged sources rewrites
identical bytes.

Usage::

    python scripts/build_corpus.py            # build every binary
    python scripts/build_corpus.py --check    # exit 1 if a binary is missing or out of date
    python scripts/build_corpus.py --root DIR # work on DIR instead of the repository's knowledge/
"""

from __future__ import annotations

import argparse
import io
import sys
import unicodedata
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

HOSPITAL = "Centre Hospitalier Universitaire de Valmont"
FIXED_DATE = datetime(2026, 1, 1, 0, 0, 0, tzinfo=timezone.utc)
ZIP_DATE = (2026, 1, 1, 0, 0, 0)
DEJAVU_DIR = Path("/usr/share/fonts/truetype/dejavu")
REPO_ROOT = Path(__file__).resolve().parent.parent
SUFFIXES = (".docx", ".pdf")

# Characters outside latin-1 that French clinical text uses, for the core-font fallback.
_TRANSLIT = {
    "\u0152": "OE", "\u0153": "oe", "\u2018": "'", "\u2019": "'", "\u201a": ",", "\u201c": '"',
    "\u201d": '"', "\u201e": '"', "\u2013": "-", "\u2014": "-", "\u2026": "...", "\u2022": "-",
    "\u20ac": "EUR", "\u2264": "<=", "\u2265": ">=", "\u2192": "->", "\u00a0": " ", "\u202f": " ",
    "\u2009": " ", "\u2212": "-", "\u2030": "pour mille", "\u0394": "Delta", "\u03b1": "alpha",
    "\u03b2": "beta", "\u03b3": "gamma", "\u00b5": "\u00b5", "\u03bc": "\u00b5",
}


# --------------------------------------------------------------------------- source parsing
@dataclass(frozen=True)
class Block:
    """One unit of the source: a heading, a paragraph (list of lines) or a page break."""

    kind: str  # "heading" | "paragraph" | "pagebreak"
    lines: tuple[str, ...]


def parse_source(text: str) -> list[Block]:
    """Split a text source into headings, paragraphs and page breaks."""
    blocks: list[Block] = []
    current: list[str] = []

    def flush() -> None:
        if current:
            blocks.append(Block("paragraph", tuple(current)))
            current.clear()

    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = raw.rstrip()
        stripped = line.strip()
        if stripped in ("\f", "\\f"):
            flush()
            blocks.append(Block("pagebreak", ()))
        elif not stripped:
            flush()
        elif line.startswith("# "):
            flush()
            blocks.append(Block("heading", (line[2:].strip(),)))
        else:
            current.append(line.replace("\f", ""))
    flush()
    return blocks


# --------------------------------------------------------------------------- DOCX
def _normalise_zip(data: bytes) -> bytes:
    """Rewrite a ZIP archive with fixed timestamps so that identical content gives identical bytes."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=ZIP_DATE)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            dst.writestr(fixed, src.read(info.filename))
    return out.getvalue()


def render_docx(text: str, title: str = "") -> bytes:
    """Render a text source as DOCX bytes."""
    from docx import Document
    from docx.shared import Pt

    doc = Document()
    props = doc.core_properties
    props.author = HOSPITAL
    props.last_modified_by = HOSPITAL
    props.title = title
    props.created = FIXED_DATE.replace(tzinfo=None)
    props.modified = FIXED_DATE.replace(tzinfo=None)
    props.last_printed = FIXED_DATE.replace(tzinfo=None)
    props.revision = 1
    props.comments = ""

    section = doc.sections[0]
    header_par = section.header.paragraphs[0]
    header_par.text = HOSPITAL
    header_par.runs[0].bold = True

    normal = doc.styles["Normal"]
    normal.font.name = "Calibri"
    normal.font.size = Pt(10.5)
    normal.paragraph_format.space_after = Pt(0)

    pending_break = False
    for block in parse_source(text):
        if block.kind == "pagebreak":
            pending_break = True
            continue
        if block.kind == "heading":
            par = doc.add_heading(block.lines[0], level=2)
        else:
            first = True
            for line in block.lines:
                par = doc.add_paragraph(line)
                if first:
                    par.paragraph_format.space_before = Pt(6)
                    first = False
        if pending_break:
            par.paragraph_format.page_break_before = True
            pending_break = False

    buffer = io.BytesIO()
    doc.save(buffer)
    return _normalise_zip(buffer.getvalue())


# --------------------------------------------------------------------------- PDF
def transliterate_latin1(text: str) -> str:
    """Map text to latin-1 for the core PDF fonts: keep accents, replace the rest by ASCII lookalikes."""
    out = []
    for char in text:
        if char in _TRANSLIT:
            out.append(_TRANSLIT[char])
            continue
        try:
            char.encode("latin-1")
            out.append(char)
        except UnicodeEncodeError:
            decomposed = unicodedata.normalize("NFKD", char)
            ascii_part = "".join(c for c in decomposed if not unicodedata.combining(c))
            try:
                ascii_part.encode("latin-1")
                out.append(ascii_part or "?")
            except UnicodeEncodeError:
                out.append("?")
    return "".join(out)


def _pdf_fonts() -> tuple[str, str] | None:
    """Regular and bold DejaVu Sans paths when installed, else None (core Helvetica fallback)."""
    regular, bold = DEJAVU_DIR / "DejaVuSans.ttf", DEJAVU_DIR / "DejaVuSans-Bold.ttf"
    if regular.is_file() and bold.is_file():
        return str(regular), str(bold)
    return None


def render_pdf(text: str, title: str = "", font_paths: tuple[str, str] | None | bool = True) -> bytes:
    """Render a text source as PDF bytes with real (extractable) text.

    ``font_paths``: ``True`` to look for DejaVu Sans, ``None``/``False`` to force core Helvetica,
    or an explicit ``(regular, bold)`` pair of TTF paths.
    """
    from fpdf import FPDF

    fonts = _pdf_fonts() if font_paths is True else (font_paths or None)
    family = "DejaVu" if fonts else "Helvetica"
    conv = (lambda s: s) if fonts else transliterate_latin1

    class _Doc(FPDF):
        def header(self) -> None:
            self.set_font(family, "B", 9)
            self.cell(0, 5, conv(HOSPITAL), new_x="LMARGIN", new_y="NEXT", align="L")
            self.set_draw_color(120, 120, 120)
            self.line(self.l_margin, self.get_y() + 1, self.w - self.r_margin, self.get_y() + 1)
            self.ln(5)

        def footer(self) -> None:
            self.set_y(-12)
            self.set_font(family, "", 8)
            self.cell(0, 5, f"Page {self.page_no()}/{{nb}}", align="R")

    pdf = _Doc(format="A4", unit="mm")
    pdf.set_creation_date(FIXED_DATE)
    pdf.set_creator("medassist build_corpus")
    pdf.set_producer("fpdf2")
    pdf.set_author(conv(HOSPITAL))
    pdf.set_title(conv(title))
    pdf.set_margins(18, 15, 18)
    pdf.set_auto_page_break(auto=True, margin=16)
    if fonts:
        pdf.add_font("DejaVu", "", fonts[0])
        pdf.add_font("DejaVu", "B", fonts[1])
    pdf.add_page()

    width = pdf.w - pdf.l_margin - pdf.r_margin
    for block in parse_source(text):
        if block.kind == "pagebreak":
            pdf.add_page()
        elif block.kind == "heading":
            pdf.ln(2)
            pdf.set_font(family, "B", 11)
            pdf.multi_cell(width, 6, conv(block.lines[0]), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1)
        else:
            pdf.set_font(family, "", 10)
            for line in block.lines:
                pdf.multi_cell(width, 5, conv(line), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(3)
    return bytes(pdf.output())


# --------------------------------------------------------------------------- discovery and build
@dataclass(frozen=True)
class Job:
    source: Path
    target: Path

    @property
    def kind(self) -> str:
        return self.target.suffix.lstrip(".")


def find_jobs(knowledge_root: Path) -> list[Job]:
    """Every ``_src/<stem>.docx.txt`` / ``_src/<stem>.pdf.txt`` under patients/*/ and procedures/."""
    src_dirs = sorted(knowledge_root.glob("patients/*/_src"))
    procedures = knowledge_root / "procedures"
    if procedures.is_dir():
        src_dirs += sorted(p for p in procedures.rglob("_src") if p.is_dir())
    jobs: list[Job] = []
    for src_dir in src_dirs:
        for source in sorted(src_dir.iterdir()):
            name = source.name
            for suffix in SUFFIXES:
                if source.is_file() and name.endswith(suffix + ".txt"):
                    target = src_dir.parent / name[: -len(".txt")]
                    jobs.append(Job(source, target))
    return jobs


def render(job: Job) -> bytes:
    text = job.source.read_text(encoding="utf-8")
    title = job.target.stem
    return render_docx(text, title) if job.kind == "docx" else render_pdf(text, title)


def is_stale(job: Job) -> bool:
    """Missing, or older than its source with content that differs from a fresh build.

    A binary older than its source but byte-identical to a fresh build (mtimes lost by a git checkout)
    is up to date.
    """
    if not job.target.is_file():
        return True
    if job.target.stat().st_mtime >= job.source.stat().st_mtime:
        return False
    return job.target.read_bytes() != render(job)


def build(knowledge_root: Path) -> list[Path]:
    written: list[Path] = []
    for job in find_jobs(knowledge_root):
        data = render(job)
        if job.target.is_file() and job.target.read_bytes() == data:
            continue
        job.target.write_bytes(data)
        written.append(job.target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a binary is missing or stale")
    parser.add_argument("--root", type=Path, default=REPO_ROOT / "knowledge",
                        help="knowledge folder (default: the repository's knowledge/)")
    args = parser.parse_args(argv)
    root: Path = args.root

    jobs = find_jobs(root)
    if args.check:
        stale = [job for job in jobs if is_stale(job)]
        for job in stale:
            print(f"stale or missing: {job.target}", file=sys.stderr)
        print(f"{len(jobs) - len(stale)}/{len(jobs)} binaries up to date")
        return 1 if stale else 0

    written = build(root)
    for path in written:
        print(f"wrote {path}")
    print(f"{len(jobs)} sources, {len(written)} binaries written, {len(jobs) - len(written)} unchanged")
    return 0


if __name__ == "__main__":
    sys.exit(main())
