#!/usr/bin/env python
"""Render the format-robustness sets: one structured source per patient -> six file styles.

Why: every quality figure of the README comes from one house style. These sets keep the facts of
one stay per dev patient and vary the form (wording, abbreviations, date formats, headings, file
format, layout, scans). Three sets share this renderer (see :data:`SETS`):

* ``a`` — ``knowledge/eval/robustness`` (P001-P008), scored blind once on 2026-12-03 and a **dev**
  set since (the fixes of issue 14 were made looking at its results);
* ``b`` — ``knowledge/eval/robustness_b`` (P009-P016), written on 2026-12-03 by other "authors" as
  the **test** split the fixes are measured on, once; scored blind once that day, a **dev** set since;
* ``c`` — ``knowledge/eval/robustness_c`` (P001-P008 again, in a third voice: other hospitals'
  habits), written on 2026-12-03 before the next fixes were measured: the new blind **test** split.

Each set's ``PROTOCOL.md`` lists its differences from set A's.

Input: ``<set>/sources/PXXX.json``::

    {"patient": "P001", "documents": [{"file": "doc01", "type": "biologie", "date": "2026-02-09",
      "header": [lines], "title": "...", "intro": [lines],
      "sections": [{"heading": "...", "blocks": [{"p": "..."}, {"list": [...]},
                                                 {"table": {"head": [...], "rows": [[...]]}}]}],
      "signature": [lines]}]}

``type`` and ``date`` are gold (they are never written as metadata into the rendered files).

Output: ``<set>/styles/<style>/<patient>/`` with ``patient.json`` (the dev patient's identity, gp,
allergies, contacts, stays, specialties, ``"documents": []``) and one file per document, same stem
in every style:

* ``txt_lines`` — ``.txt``, one item per line; headings per document UPPER / ``Titre :`` / Title
  Case / ``1. Titre`` (cycled over the documents of each set); bullets ``- `` or ``• ``; tables as
  space-aligned columns;
* ``markdown`` — ``.md`` with ``#``/``##`` headings, ``- `` lists, pipe tables;
* ``docx`` — Word ``Heading 1/2``, ``List Bullet``, a real table, empty core properties;
* ``html`` — ``<div>``/``<br>`` only, bold headings by inline style, ``<table>`` for tables;
* ``pdf`` — fpdf2 with a Unicode TTF (DejaVu Sans when found), text layer, page numbers;
* ``scan`` — for the set's ``scan_patients`` only: the ``pdf`` pages rasterised (grayscale, 150 dpi
  or coarser when a file would exceed 400 KB), rotated by at most 1° and lightly noised (fixed
  seeds), saved as an image-only PDF (pdftoppm, else pypdfium2, else the text drawn with PIL).

Deterministic and idempotent: fixed seeds, fixed dates, normalised ZIP timestamps; a file whose
bytes would not change is not rewritten, and files of the styles folder that the build does not
produce are removed. A set's bytes do not depend on the other sets (layouts are cycled per set).

Usage::

    python scripts/build_robustness.py                    # build every style of every set
    python scripts/build_robustness.py --set c            # one set
    python scripts/build_robustness.py --check            # exit 1 if a text/docx/pdf output of a set is stale
    python scripts/build_robustness.py --set a --out DIR --styles txt_lines markdown html
    python scripts/build_robustness.py --export pdf DIR --set b   # one style + flat qa.jsonl for `medassist eval --cases DIR`

``--export`` without ``--set`` exports set A (the behaviour before set B existed).

Example::

    >>> heading_text("Suites à donner", "upper")
    'SUITES À DONNER'
    >>> heading_text("Examen clinique à l'entrée", "title")
    "Examen Clinique à l'Entrée"
    >>> [SETS[k].root.name for k in SET_NAMES], SETS["b"].scan_patients, SETS["c"].scan_patients
    (['robustness', 'robustness_b', 'robustness_c'], ('P011', 'P014'), ('P002', 'P007'))
"""

from __future__ import annotations

import argparse
import html
import io
import json
import shutil
import subprocess
import sys
import tempfile
import unicodedata
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_corpus import _normalise_zip  # noqa: E402 - the same deterministic DOCX bytes as the corpus builder

REPO = Path(__file__).resolve().parent.parent
DEV_PATIENTS = REPO / "knowledge" / "patients"


@dataclass(frozen=True)
class RobustnessSet:
    """One set: its folder (``sources/``, ``styles/``, ``gold.jsonl``) and its scanned patients."""

    name: str
    root: Path
    scan_patients: tuple[str, ...]

    @property
    def sources(self) -> Path:
        return self.root / "sources"

    @property
    def styles_dir(self) -> Path:
        return self.root / "styles"

    @property
    def gold(self) -> Path:
        return self.root / "gold.jsonl"


SETS = {
    "a": RobustnessSet("a", REPO / "knowledge" / "eval" / "robustness", ("P003", "P006")),
    "b": RobustnessSet("b", REPO / "knowledge" / "eval" / "robustness_b", ("P011", "P014")),
    "c": RobustnessSet("c", REPO / "knowledge" / "eval" / "robustness_c", ("P002", "P007")),
}
SET_NAMES = tuple(SETS)
# set A's paths under their historical names (callers written before set B existed)
SET_ROOT = SETS["a"].root
SOURCES = SETS["a"].sources
STYLES_DIR = SETS["a"].styles_dir
GOLD = SETS["a"].gold
SCAN_PATIENTS = SETS["a"].scan_patients

STYLES = ("txt_lines", "markdown", "docx", "html", "pdf", "scan")
#: the styles ``--check`` compares byte for byte (a scan's bytes depend on the rasteriser)
CHECKED_STYLES = ("txt_lines", "markdown", "docx", "html", "pdf")
EXT = {"txt_lines": ".txt", "markdown": ".md", "docx": ".docx", "html": ".html", "pdf": ".pdf", "scan": ".pdf"}
#: heading forms of the txt_lines style, cycled over the documents of the set
HEADING_FORMS = ("upper", "colon", "title", "numbered")
PATIENT_KEYS = ("id", "identity", "gp", "allergies", "contacts", "stays", "specialties")

FIXED_DATE = datetime(2026, 1, 1, tzinfo=timezone.utc)
SCAN_MAX_BYTES = 390_000
#: (dpi, JPEG quality) tried in order for each scanned file
SCAN_SETTINGS = ((150, 45), (150, 35), (130, 35), (110, 35), (100, 30))
FONT_CANDIDATES = (
    ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
    ("/usr/share/fonts/dejavu/DejaVuSans.ttf", "/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf"),
)
_SMALL_WORDS = {"de", "du", "des", "la", "le", "les", "à", "au", "aux", "en", "et", "sur", "par", "pour", "ou"}


# =========================================================================== sources
def load_sources(sources: Path = SOURCES) -> list[dict]:
    """Every patient source, sorted by patient id."""
    out = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(sources.glob("P*.json"))]
    return sorted(out, key=lambda s: s["patient"])


def layouts(sources: list[dict]) -> dict[tuple[str, str], dict]:
    """Per-document layout choices of the txt_lines style, cycled so that every form occurs."""
    out = {}
    i = 0
    for src in sources:
        for doc in src["documents"]:
            out[(src["patient"], doc["file"])] = {
                "heading": HEADING_FORMS[i % len(HEADING_FORMS)],
                "bullet": "• " if (i // 2) % 2 else "- ",
                "rule": i % 3 == 0,  # dashed line under table headers
            }
            i += 1
    return out


def patient_json(patient_id: str, dev_root: Path = DEV_PATIENTS) -> str:
    """The case's patient.json: the dev patient's identity and stays, no declared documents."""
    dev = json.loads((dev_root / patient_id / "patient.json").read_text(encoding="utf-8"))
    out = {k: dev[k] for k in PATIENT_KEYS if k in dev}
    out["documents"] = []
    return json.dumps(out, ensure_ascii=False, indent=2) + "\n"


# =========================================================================== plain text
def heading_text(text: str, form: str, number: int = 1) -> str:
    if form == "upper":
        return text.upper()
    if form == "colon":
        return f"{text} :"
    if form == "numbered":
        return f"{number}. {text}"
    if form == "title":
        words = []
        for i, w in enumerate(text.split(" ")):
            low = w.lower()
            if i and low in _SMALL_WORDS:
                words.append(low)
            elif i and low[:2] in ("d'", "l'") and len(w) > 2:
                words.append(low[:2] + w[2].upper() + w[3:])
            else:
                words.append(w[:1].upper() + w[1:])
        return " ".join(words)
    return text


def table_lines(table: dict, rule: bool = False) -> list[str]:
    rows = [table["head"], *table["rows"]]
    widths = [max(len(r[c]) for r in rows) for c in range(len(table["head"]))]

    def fmt(r):
        return "   ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip()

    out = [fmt(table["head"])]
    if rule:
        out.append("-" * len(out[0]))
    return out + [fmt(r) for r in table["rows"]]


def render_txt(doc: dict, lay: dict) -> str:
    lines: list[str] = [*doc.get("header", []), ""]
    title = doc["title"].upper() if lay["heading"] == "upper" else doc["title"]
    lines += [title, ""]
    if doc.get("intro"):
        lines += [*doc["intro"], ""]
    for n, sec in enumerate(doc["sections"], 1):
        lines.append(heading_text(sec["heading"], lay["heading"], n))
        for block in sec["blocks"]:
            if "p" in block:
                lines.append(block["p"])
            elif "list" in block:
                lines += [lay["bullet"] + item for item in block["list"]]
            elif "table" in block:
                lines += table_lines(block["table"], lay["rule"])
        lines.append("")
    lines += doc.get("signature", [])
    return "\n".join(lines).rstrip("\n") + "\n"


# =========================================================================== markdown
def render_md(doc: dict) -> str:
    parts: list[str] = [f"**{doc['header'][0]}**", *doc["header"][1:]] if doc.get("header") else []
    parts.append(f"# {doc['title']}")
    parts += doc.get("intro", [])
    for sec in doc["sections"]:
        parts.append(f"## {sec['heading']}")
        for block in sec["blocks"]:
            if "p" in block:
                parts.append(block["p"])
            elif "list" in block:
                parts.append("\n".join(f"- {item}" for item in block["list"]))
            elif "table" in block:
                t = block["table"]
                rows = [f"| {' | '.join(t['head'])} |", "|" + "|".join("---" for _ in t["head"]) + "|"]
                rows += [f"| {' | '.join(r)} |" for r in t["rows"]]
                parts.append("\n".join(rows))
    parts += doc.get("signature", [])
    return "\n\n".join(parts) + "\n"


# =========================================================================== html
_BODY = "font-family:Arial,Helvetica,sans-serif;font-size:13px;color:#222;margin:24px"
_HEAD = "font-weight:bold;font-size:14px;margin-top:12px;border-bottom:1px solid #999"
_TITLE = "font-weight:bold;font-size:18px;text-align:center;margin:14px 0"


def render_html(doc: dict) -> str:
    e = lambda s: html.escape(s, quote=False)  # noqa: E731
    out = ['<!DOCTYPE html>', '<html lang="fr">', '<head><meta charset="utf-8"></head>', f'<body style="{_BODY}">']
    if doc.get("header"):
        out.append('<div style="color:#444">' + "<br>".join(e(x) for x in doc["header"]) + "</div>")
    out.append(f'<div style="{_TITLE}">{e(doc["title"])}</div>')
    if doc.get("intro"):
        out.append("<div>" + "<br>".join(e(x) for x in doc["intro"]) + "</div>")
    for sec in doc["sections"]:
        out.append(f'<div style="{_HEAD}">{e(sec["heading"])}</div>')
        for i, block in enumerate(sec["blocks"]):
            if "p" in block:  # consecutive paragraphs share one <div>, separated by <br>
                if i and "p" in sec["blocks"][i - 1]:
                    out[-1] = out[-1][: -len("</div>")] + f"<br>{e(block['p'])}</div>"
                else:
                    out.append(f"<div>{e(block['p'])}</div>")
            elif "list" in block:
                out.append('<div style="margin-left:12px">' + "<br>".join("&ndash; " + e(i) for i in block["list"]) + "</div>")
            elif "table" in block:
                t = block["table"]
                rows = ['<table style="border-collapse:collapse" border="1" cellpadding="3">']
                rows.append("<tr>" + "".join(f'<td style="font-weight:bold">{e(c)}</td>' for c in t["head"]) + "</tr>")
                rows += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in t["rows"]]
                out.append("\n".join(rows) + "\n</table>")
    if doc.get("signature"):
        out.append('<div style="margin-top:16px">' + "<br>".join(e(x) for x in doc["signature"]) + "</div>")
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"


# =========================================================================== docx
def render_docx(doc: dict) -> bytes:
    from docx import Document
    from docx.shared import Pt

    d = Document()
    props = d.core_properties
    for attr in ("author", "last_modified_by", "title", "subject", "keywords", "comments", "category"):
        setattr(props, attr, "")
    props.created = props.modified = props.last_printed = FIXED_DATE.replace(tzinfo=None)
    props.revision = 1
    normal = d.styles["Normal"]
    normal.font.name = "Calibri"
    normal.font.size = Pt(10.5)
    for line in doc.get("header", []):
        d.add_paragraph(line)
    d.add_heading(doc["title"], level=1)
    for line in doc.get("intro", []):
        d.add_paragraph(line)
    for sec in doc["sections"]:
        d.add_heading(sec["heading"], level=2)
        for block in sec["blocks"]:
            if "p" in block:
                d.add_paragraph(block["p"])
            elif "list" in block:
                for item in block["list"]:
                    d.add_paragraph(item, style="List Bullet")
            elif "table" in block:
                t = block["table"]
                table = d.add_table(rows=1 + len(t["rows"]), cols=len(t["head"]))
                table.style = "Table Grid"
                for r, row in enumerate([t["head"], *t["rows"]]):
                    for c, text in enumerate(row):
                        cell = table.cell(r, c)
                        cell.text = text
                        if r == 0:
                            cell.paragraphs[0].runs[0].bold = True
    for line in doc.get("signature", []):
        d.add_paragraph(line)
    buf = io.BytesIO()
    d.save(buf)
    return _normalise_zip(buf.getvalue())


# =========================================================================== pdf
def find_fonts() -> tuple[str, str] | None:
    """A regular + bold Unicode TTF pair: system DejaVu Sans, else matplotlib's copy, else None."""
    for regular, bold in FONT_CANDIDATES:
        if Path(regular).is_file() and Path(bold).is_file():
            return regular, bold
    try:
        import importlib.util

        spec = importlib.util.find_spec("matplotlib")
        if spec and spec.submodule_search_locations:
            ttf = Path(spec.submodule_search_locations[0]) / "mpl-data" / "fonts" / "ttf"
            if (ttf / "DejaVuSans.ttf").is_file() and (ttf / "DejaVuSans-Bold.ttf").is_file():
                return str(ttf / "DejaVuSans.ttf"), str(ttf / "DejaVuSans-Bold.ttf")
    except (ImportError, ValueError):
        pass
    return None


def _latin1(text: str) -> str:
    """Core-font fallback: keep latin-1, replace the rest by ASCII lookalikes."""
    repl = {"\u2022": "-", "\u2013": "-", "\u2014": "-", "\u2019": "'", "\u2192": "->", "\u2265": ">=",
            "\u2264": "<=", "\u0153": "oe", "\u0152": "OE", "\u2026": "...", "\u202f": " "}
    out = []
    for ch in text:
        ch = repl.get(ch, ch)
        try:
            ch.encode("latin-1")
            out.append(ch)
        except UnicodeEncodeError:
            out.append(unicodedata.normalize("NFKD", ch).encode("latin-1", "ignore").decode("latin-1") or "?")
    return "".join(out)


def render_pdf(doc: dict) -> bytes:
    from fpdf import FPDF
    from fpdf.fonts import FontFace

    fonts = find_fonts()
    family = "DejaVu" if fonts else "Helvetica"
    conv = (lambda s: s) if fonts else _latin1

    class _Doc(FPDF):
        def footer(self) -> None:
            self.set_y(-12)
            self.set_font(family, "", 8)
            self.cell(0, 5, f"p. {self.page_no()}/{{nb}}", align="C")

    pdf = _Doc(format="A4", unit="mm")
    pdf.set_creation_date(FIXED_DATE)
    pdf.set_margins(20, 16, 20)
    pdf.set_auto_page_break(auto=True, margin=18)
    if fonts:
        pdf.add_font("DejaVu", "", fonts[0])
        pdf.add_font("DejaVu", "B", fonts[1])
    pdf.add_page()
    width = pdf.w - pdf.l_margin - pdf.r_margin

    def para(text: str, size: float = 10, style: str = "", h: float = 5, indent: float = 0) -> None:
        pdf.set_font(family, style, size)
        pdf.set_x(pdf.l_margin + indent)
        pdf.multi_cell(width - indent, h, conv(text), new_x="LMARGIN", new_y="NEXT")

    for line in doc.get("header", []):
        para(line, 9)
    pdf.ln(4)
    para(doc["title"], 14, "B", 8)
    pdf.ln(2)
    for line in doc.get("intro", []):
        para(line)
    for sec in doc["sections"]:
        pdf.ln(3)
        para(sec["heading"], 11, "B", 6)
        for block in sec["blocks"]:
            if "p" in block:
                para(block["p"])
            elif "list" in block:
                for item in block["list"]:
                    para(("\u2022 " if fonts else "- ") + item, indent=4)
            elif "table" in block:
                t = block["table"]
                pdf.set_font(family, "", 9)
                with pdf.table(text_align="LEFT", line_height=5, first_row_as_headings=True,
                               headings_style=FontFace(emphasis="BOLD")) as table:
                    for row in [t["head"], *t["rows"]]:
                        r = table.row()
                        for cell in row:
                            r.cell(conv(cell))
                pdf.ln(1)
    if doc.get("signature"):
        pdf.ln(5)
        for line in doc["signature"]:
            para(line)
    return bytes(pdf.output())


# =========================================================================== scan
def _rasterise(pdf_bytes: bytes, dpi: int) -> list:
    """PDF pages as grayscale PIL images: pdftoppm, else pypdfium2, else None."""
    from PIL import Image

    if shutil.which("pdftoppm"):
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp) / "in.pdf"
            src.write_bytes(pdf_bytes)
            subprocess.run(["pdftoppm", "-r", str(dpi), "-gray", "-png", str(src), str(Path(tmp) / "page")],
                           check=True, capture_output=True)
            pages = sorted(Path(tmp).glob("page-*.png"), key=lambda p: int(p.stem.split("-")[-1]))
            return [Image.open(p).convert("L").copy() for p in pages]
    try:
        import pypdfium2 as pdfium

        pdf = pdfium.PdfDocument(pdf_bytes)
        return [page.render(scale=dpi / 72, grayscale=True).to_pil().convert("L") for page in pdf]
    except ImportError:
        return []


def _draw_text_pages(text: str, dpi: int) -> list:
    """Last resort: draw the plain text on A4 pages with PIL."""
    from PIL import Image, ImageDraw, ImageFont

    fonts = find_fonts()
    size = int(10 / 72 * dpi)
    font = ImageFont.truetype(fonts[0], size) if fonts else ImageFont.load_default()
    w, h = int(8.27 * dpi), int(11.69 * dpi)
    margin, step = int(0.8 * dpi), int(size * 1.5)
    pages, y, page = [], margin, None
    for line in text.splitlines():
        for chunk in [line[i:i + 95] for i in range(0, max(len(line), 1), 95)]:
            if page is None or y > h - margin:
                page = Image.new("L", (w, h), 255)
                pages.append(page)
                y = margin
            ImageDraw.Draw(page).text((margin, y), chunk, fill=0, font=font)
            y += step
    return pages


def render_scan(pdf_bytes: bytes, seed: int, fallback_text: str = "") -> bytes:
    """Image-only PDF of the pages: slight rotation (≤ 1°), light noise, fixed seed, < 400 KB.

    The first (resolution, JPEG quality) of :data:`SCAN_SETTINGS` that keeps the file under
    :data:`SCAN_MAX_BYTES` is used, so long documents get a coarser scan, as a real scanner's
    "compact" mode would do."""
    for dpi, quality in SCAN_SETTINGS:
        data = _scan_once(pdf_bytes, seed, fallback_text, dpi, quality)
        if len(data) < SCAN_MAX_BYTES:
            return data
    return data


def _scan_once(pdf_bytes: bytes, seed: int, fallback_text: str, dpi: int, quality: int) -> bytes:
    import numpy as np
    from PIL import Image

    pages = _rasterise(pdf_bytes, dpi) or _draw_text_pages(fallback_text, dpi)
    rng = np.random.default_rng(seed)
    out = []
    for page in pages:
        angle = float(rng.uniform(-0.9, 0.9))
        img = page.rotate(angle, resample=Image.BICUBIC, fillcolor=255)
        arr = np.asarray(img, dtype=np.int16)
        arr = arr + rng.normal(0.0, 4.0, arr.shape).round().astype(np.int16)
        specks = rng.random(arr.shape) < 0.0003
        arr[specks] = rng.integers(60, 160, int(specks.sum()))
        arr = np.clip(arr - 8, 0, 255).astype(np.uint8)  # slightly grey paper
        out.append(Image.fromarray(arr, mode="L"))
    buf = io.BytesIO()
    out[0].save(buf, "PDF", save_all=True, append_images=out[1:], resolution=dpi, quality=quality,
                creationDate=FIXED_DATE.timetuple(), modDate=FIXED_DATE.timetuple(),
                producer="scanner", creator="scanner")
    return buf.getvalue()


# =========================================================================== build
def render_all(sources: list[dict], styles: tuple[str, ...] = STYLES, dev_root: Path = DEV_PATIENTS,
               scan_patients: tuple[str, ...] = SCAN_PATIENTS) -> dict[Path, bytes]:
    """Relative path -> bytes of every output file of the given styles."""
    lay = layouts(sources)
    files: dict[Path, bytes] = {}
    for src in sources:
        pid = src["patient"]
        pj = patient_json(pid, dev_root).encode("utf-8")
        for style in styles:
            if style == "scan" and pid not in scan_patients:
                continue
            base = Path(style) / pid
            files[base / "patient.json"] = pj
            for doc in src["documents"]:
                target = base / (doc["file"] + EXT[style])
                if style == "txt_lines":
                    files[target] = render_txt(doc, lay[(pid, doc["file"])]).encode("utf-8")
                elif style == "markdown":
                    files[target] = render_md(doc).encode("utf-8")
                elif style == "html":
                    files[target] = render_html(doc).encode("utf-8")
                elif style == "docx":
                    files[target] = render_docx(doc)
                elif style == "pdf":
                    files[target] = render_pdf(doc)
                elif style == "scan":
                    pdf = files.get(Path("pdf") / pid / (doc["file"] + ".pdf")) or render_pdf(doc)
                    seed = zlib.crc32(f"{pid}/{doc['file']}".encode())
                    files[target] = render_scan(pdf, seed, render_txt(doc, lay[(pid, doc["file"])]))
    return files


def build(out: Path = STYLES_DIR, styles: tuple[str, ...] = STYLES, sources_dir: Path = SOURCES,
          dev_root: Path = DEV_PATIENTS, scan_patients: tuple[str, ...] = SCAN_PATIENTS) -> list[Path]:
    """Write every output under ``out``; return the paths written (unchanged files are not rewritten).

    Files under ``out/<style>/`` that the build does not produce are removed (idempotent tree)."""
    files = render_all(load_sources(sources_dir), styles, dev_root, scan_patients)
    written = []
    for rel, data in sorted(files.items()):
        path = out / rel
        if path.is_file() and path.read_bytes() == data:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        written.append(path)
    for style in styles:
        root = out / style
        if not root.is_dir():
            continue
        for p in sorted(root.rglob("*"), reverse=True):
            if p.is_file() and p.relative_to(out) not in files:
                p.unlink()
            elif p.is_dir() and not any(p.iterdir()):
                p.rmdir()
    return written


def build_set(rset: RobustnessSet, styles: tuple[str, ...] = STYLES, out: Path | None = None) -> list[Path]:
    """:func:`build` of one set into its own ``styles/`` folder (or ``out``)."""
    return build(out or rset.styles_dir, styles, rset.sources, DEV_PATIENTS, rset.scan_patients)


def stale(out: Path = STYLES_DIR, styles: tuple[str, ...] = CHECKED_STYLES, rset: RobustnessSet | None = None) -> list[Path]:
    """Outputs of one set (default A) that are missing or differ from a fresh rendering (scans
    depend on the rasteriser, so they are not compared)."""
    rset = rset or SETS["a"]
    files = render_all(load_sources(rset.sources), styles, DEV_PATIENTS, rset.scan_patients)
    return [rel for rel, data in sorted(files.items()) if not (out / rel).is_file() or (out / rel).read_bytes() != data]


def qa_cases(gold: Path = GOLD) -> list[dict]:
    """The QA cases of the gold, flattened to the ``bench/qa_eval.py`` format."""
    cases = []
    for line in gold.read_text(encoding="utf-8").splitlines():
        if line.strip():
            g = json.loads(line)
            cases += [{"id": q["id"], "patient": g["patient"], "question": q["question"],
                       "expect_any": q["expect_any"], "expect_doc": q["expect_doc"]} for q in g["qa"]]
    return cases


def export(style: str, dest: Path, out: Path = STYLES_DIR, gold: Path = GOLD) -> int:
    """Copy one style's patient folders into ``dest`` and write ``dest/qa.jsonl`` (default: set A)."""
    src = out / style
    if not src.is_dir():
        raise SystemExit(f"style absent: {src} (build first)")
    dest.mkdir(parents=True, exist_ok=True)
    patients = sorted(p.name for p in src.iterdir() if p.is_dir())
    for pid in patients:
        shutil.copytree(src / pid, dest / pid, dirs_exist_ok=True)
    cases = [c for c in qa_cases(gold) if c["patient"] in patients]
    (dest / "qa.jsonl").write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases), encoding="utf-8")
    return len(cases)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--set", dest="set_name", choices=[*SET_NAMES, "all"], default=None,
                    help="set to build/check (default: all; --export: a)")
    ap.add_argument("--out", type=Path, default=None, help="styles folder (default: the set's committed one; one set only)")
    ap.add_argument("--styles", nargs="+", choices=STYLES, default=list(STYLES))
    ap.add_argument("--check", action="store_true", help="exit 1 if a txt/md/docx/html/pdf output is stale")
    ap.add_argument("--export", nargs=2, metavar=("STYLE", "DIR"), help="copy one style + flat qa.jsonl into DIR")
    args = ap.parse_args(argv)
    if args.export:
        if args.set_name == "all":
            ap.error("--export takes one set: --set a, b or c")
        rset = SETS[args.set_name or "a"]
        n = export(args.export[0], Path(args.export[1]), args.out or rset.styles_dir, rset.gold)
        print(f"set {rset.name}: {args.export[0]} -> {args.export[1]} ({n} questions in qa.jsonl)")
        return 0
    chosen = [SETS[args.set_name]] if args.set_name in SETS else [SETS[k] for k in SET_NAMES]
    if args.out is not None and len(chosen) > 1:
        ap.error("--out takes one set: --set a, b or c")
    if args.check:
        failed = False
        for rset in chosen:
            bad = stale(args.out or rset.styles_dir, CHECKED_STYLES, rset)
            for rel in bad:
                print(f"stale (set {rset.name}): {rel}")
            print(f"set {rset.name}: {f'{len(bad)} stale file(s)' if bad else 'up to date'}")
            failed = failed or bool(bad)
        return 1 if failed else 0
    total = 0
    for rset in chosen:
        out = args.out or rset.styles_dir
        written = build_set(rset, tuple(args.styles), out)
        for p in written:
            print(f"wrote {rset.name}/{p.relative_to(out) if p.is_relative_to(out) else p}")
        total += len(written)
    print(f"{total} file(s) written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
