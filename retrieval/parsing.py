"""Parse .txt .md .html .docx .pdf and scanned pages (.png .jpg .tif, image-only PDF pages) into one
extracted text that keeps the document's structure, with exact block offsets.

The extracted text is what every citation points into. Blocks are joined with a blank line
(``"\\n\\n"``), the lines of a block with ``"\\n"``, and each :class:`Block` remembers its exact
``[start, end)`` span (``doc.text[b.start:b.end] == b.text``), its page and its category:

* one source line stays one line (a report written one item per line is not glued into a paragraph);
* a heading is a block of its own, category ``"Title"`` (``depth`` 0 = top level when the markup says);
* list items are one per line, bullets written ``"- "``, numbering (``"1."``, ``"2)"``) kept;
  consecutive items form one ``"ListItem"`` block;
* a table is one ``"Table"`` block, one line per row, cells separated by ``" | "``;
* plain text is ``"NarrativeText"``; PDF running heads / page footers are ``"Header"`` / ``"Footer"``.
Which heading is "Traitement de sortie" is decided later (section names); here a heading only has
to end up on its own line.

How each format is read, and why:

* **.docx** — ``unstructured.partition_docx``: Word heading styles give ``Title`` (with
  ``category_depth``), list styles ``ListItem`` (with the Word numbering label), tables
  ``metadata.text_as_html``; soft line breaks are kept as ``"\\n"`` in element text.
* **.html / .md** — ``unstructured.partition_html`` (Markdown is converted first with
  ``markdown`` + ``nl2br``, as ``partition_md`` does, so that every source line becomes a ``<br>``).
  ``partition_html`` turns ``<br>`` into a space and drops ``<ol>`` numbering, so before
  partitioning we replace each ``<br>`` by a private-use marker (split into lines afterwards) and
  write the number into each ``<ol>`` item. ``<h1>``… give ``Title``, ``<li>`` ``ListItem``,
  ``<table>`` ``Table``.
* **.txt** — our own line reader. ``partition_text(paragraph_grouper=False)`` does split every
  line, but it forgets the blank lines that separate paragraphs, and its title test (built for
  English: "no English verb" ⇒ title) calls almost every short French line a ``Title``. We reuse
  unstructured's bullet and numbering tests (``UNICODE_BULLETS_RE``, ``clean_bullets``,
  ``NUMBERED_LIST_RE``) and decide headings with a French heuristic (below). Space-aligned
  columns (3+ spaces or tabs) on 2+ consecutive lines are read as a table.
* **.pdf** — our own reader on pdfminer.six layout lines. unstructured's ``fast`` strategy (also
  pdfminer) collapses every line break of a text box into a space, with no option to keep them,
  and cuts justified lines into pieces; its ``hi_res`` strategy needs layout models from a hub.
  We take pdfminer's lines (``char_margin=4``, which keeps justified lines whole), regroup the
  pieces of one visual row (cells far apart become ``" | "`` table cells), split blocks at
  vertical gaps, re-join lines that were only wrapped by the PDF's line width (the next word would
  not have fitted), and use font evidence: a short bold or larger line is a heading. Rows in the
  top/bottom 7 % of the page (unstructured's own band) are ``Header``/``Footer`` when they repeat
  on 2+ pages or are a page number; body text that reaches the bottom margin stays body text.
* **OCR** — a PDF page without a text layer (or a page-size image with only a stamp of text on
  it), and every image (multi-page TIFF: one page per frame), is read by Tesseract
  (``pytesseract``, ``-l fra --psm 3``, one thread per page) on a 300 dpi grayscale rendering
  (``pypdfium2``, or ``pdftoppm`` when pypdfium2 is missing). unstructured's own OCR path
  (``hi_res``/``ocr_only``) needs hub models and cannot run offline. Long horizontal/vertical rules
  (table borders) are erased first: Tesseract otherwise skips bordered tables. Tesseract's lines
  go through the same layout code as PDF lines (a bullet read as "+" is written back "- "). A text
  layer is never OCR'd. OCR'd blocks have ``ocr=True`` and the document
  ``ocr=True``: citations should say « texte reconnu par OCR, à vérifier ». Tesseract is a system
  package: ``sudo scripts/system_deps.sh`` installs ``tesseract-ocr tesseract-ocr-fra``.

Size limits (:class:`Limits`, from the settings): characters and pages are counted while a file
is read (PDF page by page, TIFF frame by frame, DOCX parts from the zip directory before anything is
decompressed); the first excess raises :class:`LimitError` in French and nothing is indexed.
Text files: a byte-order mark (UTF-8/16/32) or UTF-16's zero bytes name the encoding, else UTF-8,
Windows-1252, latin-1; more than 1 % control characters is binary content, refused.

French heading heuristic (text without markup: .txt, ``<div>``/``<br>`` HTML, PDF and OCR lines): a
line is a heading when it is followed by more text and is either upper case or ends with ":" (a
short line), or is a short phrase (≤ 8 words, starts with a capital, no sentence punctuation, no
digit, not a person's name) that is not followed by another such phrase; a numbered line
(``"2. Antécédents"``) is a heading when neither neighbour is a numbered item.

Offline trap (see ENVIRONMENT.md): unstructured downloads an English spaCy model from GitHub on
first use; we give it a local blank French pipeline with a sentencizer instead (for the HTML and
DOCX partitioners). Telemetry of unstructured is disabled before import.

Example::

    >>> from pathlib import Path; import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "cr.txt"
    >>> _ = p.write_text("Antécédents\\n- HTA\\n• Diabète de type 2\\nTraitement de sortie :\\nAPIXABAN 5 mg\\n")
    >>> doc = parse_file(p)
    >>> print(doc.text)
    Antécédents
    <BLANKLINE>
    - HTA
    - Diabète de type 2
    <BLANKLINE>
    Traitement de sortie :
    <BLANKLINE>
    APIXABAN 5 mg
    >>> [(b.category, b.text) for b in doc.blocks][:2]
    [('Title', 'Antécédents'), ('ListItem', '- HTA\\n- Diabète de type 2')]
    >>> all(doc.text[b.start:b.end] == b.text for b in doc.blocks), doc.ocr
    (True, False)

Limits: headings without markup are guessed (a short unpunctuated line can be taken for one, a
heading followed by another short phrase is missed; it stays on its own line either way). PDF
tables are recovered from the geometry of rows (a two-column letterhead also becomes
``"left | right"``); true multi-column page layouts are read row by row. PDF page numbers only
(DOCX has no pages: ``page`` is None). OCR: measured on the 8 scanned pages of the robustness set
(150 dpi, 1° skew, noise) 98 % of the words of the text-layer version come back, headings and
table rows included; errors are typical ("µmol/l" read "pmol/l" or "umol/l", "I" read "l", a
bold heading with a digit not recognised as a heading). Time: ≈1.1 s per A4 page (300 dpi, one
thread) on a quiet 2-core machine, 3-4 s when the cores are shared; Tesseract's default OpenMP
threads were 4x slower there. OCR'd text is flagged, never trusted or checked.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

os.environ.setdefault("SCARF_NO_ANALYTICS", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("UNSTRUCTURED_DISABLE_NOTICE", "1")

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
SUPPORTED_SUFFIXES = (".txt", ".md", ".html", ".htm", ".docx", ".pdf") + IMAGE_SUFFIXES

#: rendering resolution of PDF pages sent to Tesseract
OCR_DPI = 300
#: seconds Tesseract may spend on one page before the file is rejected
OCR_TIMEOUT_S = 180
_SETUP_HINT = "lancez « sudo scripts/system_deps.sh » (paquets tesseract-ocr et tesseract-ocr-fra)"


class ParseError(ValueError):
    """A file that cannot be read; the message is French and names the file."""


class LimitError(ParseError):
    """A file whose extracted size exceeds a limit (:class:`Limits`); nothing of it is indexed.
    ``upload`` is True when the limit was the remaining budget of the upload, not the document's."""

    def __init__(self, message: str, *, upload: bool = False):
        super().__init__(message)
        self.upload = upload


@dataclass(frozen=True)
class Limits:
    """How much one file may expand to, checked *while* it is read (not after).

    Why: the upload size limit checks compressed bytes; a 150 KB DOCX (a zip) once expanded to
    24.75 M characters and 32,787 chunks. ``max_chars``/``max_pages`` bound the extracted text and
    the pages (PDF pages, TIFF frames, before any OCR); ``max_unzipped_bytes``/``max_zip_ratio``
    bound a DOCX's parts as declared in its zip directory, before any part is decompressed (Python's
    zipfile never inflates a part past its declared size, so the declared sizes are a real bound).
    The defaults mirror :class:`medassist.settings.Settings`.
    """

    max_chars: int = 2_000_000
    max_pages: int = 500
    max_unzipped_bytes: int = 50_000_000
    max_zip_ratio: float = 200.0

    @classmethod
    def from_settings(cls, settings) -> Limits:
        return cls(max_chars=settings.max_document_chars, max_pages=settings.max_document_pages,
                   max_unzipped_bytes=int(settings.max_unzipped_mb * 1e6), max_zip_ratio=settings.max_zip_ratio)

    def check_chars(self, n: int, name: str) -> None:
        if n > self.max_chars:
            raise LimitError(
                f"« {name} » est trop volumineux une fois extrait : plus de {fr_int(self.max_chars)} caractères "
                "par document ; rien n'a été indexé.")

    def check_pages(self, n: int, name: str) -> None:
        if n > self.max_pages:
            raise LimitError(f"« {name} » compte trop de pages : plus de {fr_int(self.max_pages)} par document ; "
                             "rien n'a été indexé.")


def fr_int(n: int) -> str:
    """``2000000`` -> ``"2 000 000"`` (French thousands separator, narrow no-break space)."""
    return f"{n:,}".replace(",", "\u202f")


@dataclass(frozen=True)
class Block:
    """One block of the extracted text: ``text == doc.text[start:end]``.

    ``category``: "Title", "ListItem", "Table", "NarrativeText", "Header", "Footer" (or another
    unstructured category such as "EmailAddress" when a partitioner reports one). ``depth``: the
    heading level given by the markup (0 = top), else None. ``ocr``: the text was recognised by OCR.
    """

    text: str
    start: int
    end: int
    page: int | None
    category: str
    ocr: bool = False
    depth: int | None = None


@dataclass
class ParsedDocument:
    text: str
    blocks: list[Block] = field(default_factory=list)
    pages: int = 1
    #: True when any block was recognised by OCR (citations then say « texte reconnu par OCR, à vérifier »)
    ocr: bool = False

    def page_at(self, offset: int) -> int | None:
        for b in self.blocks:
            if b.start <= offset < b.end or offset < b.start:
                return b.page
        return self.blocks[-1].page if self.blocks else None

    def ocr_at(self, start: int, end: int) -> bool:
        """Whether any OCR'd block overlaps ``[start, end)``: the passage must be checked against the scan."""
        return any(b.ocr and b.start < end and start < b.end for b in self.blocks)

    def block_at(self, offset: int) -> Block | None:
        """The block containing ``offset`` (or the next one after a separator), else the last one."""
        for b in self.blocks:
            if b.start <= offset < b.end or offset < b.start:
                return b
        return self.blocks[-1] if self.blocks else None


# =============================================================================== unstructured setup
class _OfflineSentences:
    """A blank French tokenizer + spaCy's rule-based Sentencizer, called directly (not through
    ``add_pipe``: once edsnlp has loaded its own pipelines in the process, the "sentencizer"
    factory lookup can fail, and uploads after a coding request would break)."""

    def __init__(self):
        import spacy
        from spacy.pipeline import Sentencizer

        self._tok = spacy.blank("fr")
        self._sent = Sentencizer()
        self.max_length = self._tok.max_length

    def __call__(self, text: str):
        return self._sent(self._tok(text))

    def pipe(self, texts, **_):
        return (self(t) for t in texts)


@lru_cache(maxsize=1)
def _offline_nlp():
    """Install a local French sentence pipeline into unstructured (no download)."""
    import unstructured.nlp.tokenize as tok

    nlp = _OfflineSentences()
    tok._get_nlp = lambda: nlp  # unstructured looks this function up at call time
    return nlp


# =============================================================================== line classification
@dataclass
class _Line:
    """One output line before classification. ``kind`` is fixed by markup/layout (Title, ListItem,
    Table, Header, Footer) or None (free text, classified by :func:`_classify`)."""

    text: str
    group: int  # lines of one group (paragraph, element, layout block) may share a block
    kind: str | None = None
    page: int | None = None
    ocr: bool = False
    depth: int | None = None
    strong: bool = False  # layout evidence of a heading (bold or larger font)


@dataclass
class _Piece:
    kind: str
    lines: list[str]
    page: int | None = None
    ocr: bool = False
    depth: int | None = None


_NUMBERED = re.compile(r"^(?:\d{1,3}[.)]|[a-z]\))\s+\S")
_PERSON = re.compile(r"^(?:Dr|Pr|Docteur|Professeur|Mme|Mlle|M\.|Monsieur|Madame|Me)\b")
_SENTENCE_END = ".;,!?…"
_RULE_LINE = re.compile(r"^[\s\-=_*~.+|]{3,}$")
_CELL_SPLIT = re.compile(r"\t+|\s{3,}")


def _list_item(line: str) -> str | None:
    """``line`` as a list item (bullet -> "- item", numbering kept), "" for a lone bullet, else None.

    Uses unstructured's own bullet/numbering patterns (what ``partition_text`` tests per line)."""
    from unstructured.cleaners.core import clean_bullets
    from unstructured.nlp.patterns import NUMBERED_LIST_RE, UNICODE_BULLETS_RE

    s = line.strip()
    if UNICODE_BULLETS_RE.match(s):
        item = clean_bullets(s).strip()
        return f"- {item}" if item else ""
    if NUMBERED_LIST_RE.match(s) or _NUMBERED.match(s):
        return s
    return None


def _shape(line: str, *, lenient: bool = False) -> int:
    """How much ``line`` looks like a French heading: 2 strong (upper case, or ends with ":"),
    1 weak (a short capitalised phrase), 0 not. ``lenient``: layout already says heading (bold or
    large font), so digits and longer phrases are allowed."""
    s = line.strip()
    core = s.rstrip(" :").strip()
    if not core or len(s) > (120 if lenient else 80) or ":" in core:
        return 0
    if core[-1] in _SENTENCE_END or _PERSON.match(core):
        return 0
    words = core.split()
    if len(words) > (14 if lenient else 10):
        return 0
    letters = sum(c.isalpha() for c in core)
    if letters < 0.5 * len(core.replace(" ", "")):
        return 0
    first = next((c for c in core if c.isalpha()), "")
    if not lenient and not first.isupper():
        return 0
    if lenient:
        return 2
    if core.isupper() and letters >= 3:
        return 2
    if s.endswith(":") and len(words) <= 8:
        return 2
    if len(words) <= 8 and not any(c.isdigit() for c in core):
        return 1
    return 0


def _classify(lines: list[_Line]) -> list[_Line]:
    """Give every free line a kind: ListItem, Title or NarrativeText (see module docstring)."""
    free = [ln.kind is None for ln in lines]
    items = [_list_item(ln.text) if f else None for ln, f in zip(lines, free)]
    out: list[_Line] = []
    n = len(lines)

    def shaped(j: int) -> int:
        if j >= n or not free[j] or items[j] is not None:
            return 2 if j < n and lines[j].kind == "Title" else 0
        return _shape(lines[j].text)

    def numbered(j: int) -> bool:
        return 0 <= j < n and items[j] is not None and not items[j].startswith("- ")

    body_after = [False] * n  # some body line (not a running head/foot) comes later
    for i in range(n - 2, -1, -1):
        body_after[i] = body_after[i + 1] or lines[i + 1].kind not in ("Header", "Footer")
    for i, ln in enumerate(lines):
        if not free[i]:
            out.append(ln)
            continue
        item = items[i]
        follows = body_after[i]
        same_group_next = follows and lines[i + 1].group == ln.group
        kind = "NarrativeText"
        text = ln.text
        if item == "":
            continue  # a lone bullet glyph
        if item is not None:
            kind, text = "ListItem", item
            rest = item.split(None, 1)[1] if numbered(i) and len(item.split(None, 1)) > 1 else ""
            if rest and follows and not numbered(i - 1) and not numbered(i + 1) and _shape(rest):
                kind = "Title"
        elif ln.strong and follows and _shape(text, lenient=True):
            kind = "Title"
        else:
            s = _shape(text)
            if s == 2 and follows:
                kind = "Title"
            elif s == 1 and follows and not (same_group_next and shaped(i + 1) == 1):
                kind = "Title"
        out.append(_Line(text, ln.group, kind, ln.page, ln.ocr, ln.depth, ln.strong))
    return out


def _pieces(lines: list[_Line]) -> list[_Piece]:
    """Group classified lines into blocks: a Title line alone; consecutive lines of the same kind,
    group and page together."""
    pieces: list[_Piece] = []
    prev_group = None
    for ln in lines:
        text = " ".join(ln.text.split())  # runs of spaces (justified or aligned text) are not structure
        if not text:
            continue
        last = pieces[-1] if pieces else None
        if (
            last is not None and last.kind == ln.kind and ln.kind != "Title" and prev_group == ln.group
            and last.page == ln.page and last.ocr == ln.ocr
        ):
            last.lines.append(text)
        else:
            pieces.append(_Piece(ln.kind or "NarrativeText", [text], ln.page, ln.ocr, ln.depth if ln.kind == "Title" else None))
        prev_group = ln.group
    return pieces


def _assemble(pieces: list[_Piece]) -> tuple[str, list[Block]]:
    parts: list[str] = []
    blocks: list[Block] = []
    offset = 0
    for p in pieces:
        lines = [ln for ln in (" ".join(x.split("\n")).strip() for x in p.lines) if ln]
        if not lines:
            continue
        text = "\n".join(lines)
        if parts:
            parts.append("\n\n")
            offset += 2
        blocks.append(Block(text=text, start=offset, end=offset + len(text), page=p.page, category=p.kind,
                            ocr=p.ocr, depth=p.depth))
        parts.append(text)
        offset += len(text)
    return "".join(parts), blocks


# =============================================================================== text
_BOMS = (  # longest first: the UTF-32 LE mark starts with the UTF-16 LE one
    (b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"), (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"),
)
#: control characters a text file may hold (tab, newlines, form feed, DOS end-of-file)
_TEXT_CONTROLS = frozenset("\t\n\r\f\v\x1a")


def _utf16_without_bom(raw: bytes) -> str | None:
    """``"utf-16-le"``/``"utf-16-be"`` when ``raw`` looks like UTF-16 written without a byte-order
    mark (Windows tools do): in French text nearly every character has a zero high byte, so the
    zeros fall on every other byte; binary data has its zeros anywhere."""
    sample = raw[:8192]
    pairs = len(sample) // 2
    if pairs < 4:
        return None
    even = sum(1 for i in range(0, 2 * pairs, 2) if sample[i] == 0) / pairs
    odd = sum(1 for i in range(1, 2 * pairs, 2) if sample[i] == 0) / pairs
    if odd >= 0.7 and even <= 0.05:
        return "utf-16-le"
    if even >= 0.7 and odd <= 0.05:
        return "utf-16-be"
    return None


def _looks_binary(text: str) -> bool:
    """Decoded bytes that are not text: more than 1 % control characters (at least 2). Latin-1
    decodes any byte, so a binary file without a zero byte used to be accepted as a "document";
    text files hold almost none (tabs and newlines aside)."""
    controls = sum(1 for ch in text if ch not in _TEXT_CONTROLS and (ch < " " or "\x7f" <= ch <= "\x9f"))
    return controls >= 2 and controls > 0.01 * len(text)


def _decode_text(raw: bytes, name: str) -> str:
    """Bytes of a text file -> str: a byte-order mark names the encoding (UTF-8, UTF-16, UTF-32);
    UTF-16 without a mark is recognised by its zero bytes; else UTF-8, then Windows-1252, then
    latin-1 (common in hospital exports). Binary content is refused in French.

    >>> _decode_text("Compte rendu : fièvre".encode("utf-16"), "cr.txt")
    'Compte rendu : fièvre'
    >>> _decode_text(bytes(range(1, 256)) * 4, "x.txt")
    Traceback (most recent call last):
    retrieval.parsing.ParseError: « x.txt » n'est pas un fichier texte lisible (contenu binaire).
    """
    binary = ParseError(f"« {name} » n'est pas un fichier texte lisible (contenu binaire).")
    encodings: tuple[str, ...]
    bom = next((enc for mark, enc in _BOMS if raw.startswith(mark)), None)
    if bom:
        encodings = (bom,)
    elif (utf16 := _utf16_without_bom(raw)) is not None:
        encodings = (utf16,)
    elif b"\x00" in raw:
        raise binary
    else:
        encodings = ("utf-8", "cp1252", "latin-1")
    for enc in encodings:
        try:
            text = raw.decode(enc)
        except UnicodeDecodeError:
            continue
        if _looks_binary(text):
            raise binary
        return text
    raise binary  # a byte-order mark followed by bytes that are not in its encoding


def _read_text(path: Path, limits: Limits | None = None) -> str:
    """A text file's content (see :func:`_decode_text`), its length checked against ``limits``."""
    text = _decode_text(path.read_bytes(), path.name)
    if limits is not None:
        limits.check_chars(len(text), path.name)
    return text


def _table_cells(line: str) -> list[tuple[int, str]] | None:
    """(start column, text) of the cells of a row laid out with 3+ spaces or tabs, else None."""
    if _list_item(line) is not None:
        return None
    cells, pos = [], 0
    for m in _CELL_SPLIT.finditer(line + "   "):
        if line[pos:m.start()].strip():
            cells.append((pos, line[pos:m.start()].strip()))
        pos = m.end()
    return cells if len(cells) >= 2 else None


def _same_columns(head: list[tuple[int, str]], row: list[tuple[int, str]], tabs: bool) -> bool:
    """``row`` continues the table of ``head``: same cell count for tab-separated rows, else every
    cell starts at a column of the head (±1): justified prose with wide gaps does not line up."""
    if tabs:
        return len(row) == len(head)
    starts = [s for s, _ in head]
    return all(any(abs(s - t) <= 1 for t in starts) for s, _ in row)


def _text_lines(text: str) -> list[_Line]:
    """Source lines of a plain-text file; blank lines separate groups; aligned columns -> Table."""
    paragraphs: list[list[str]] = [[]]
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = raw.replace("\f", "").rstrip()
        if line.strip():
            paragraphs[-1].append(line)
        elif paragraphs[-1]:
            paragraphs.append([])
    out: list[_Line] = []
    group = 0
    for para in (p for p in paragraphs if p):
        group += 1
        indent = min(len(ln) - len(ln.lstrip()) for ln in para)
        para = [ln[indent:] for ln in para]  # columns are compared within the paragraph
        cells = [_table_cells(ln) for ln in para]
        i = 0
        while i < len(para):
            # a table: 2+ consecutive rows on the same columns (rule lines between them dropped)
            j, rows = i, []
            tabs = "\t" in para[i]
            while j < len(para):
                if cells[j] and (not rows or _same_columns(cells[i], cells[j], tabs)):
                    rows.append(" | ".join(c for _, c in cells[j]))
                elif not (rows and _RULE_LINE.match(para[j])):
                    break
                j += 1
            if len(rows) >= 2:
                out.extend(_Line(r, group + 1, "Table") for r in rows)
                group += 2  # the rest of the paragraph is a new group
                i = j
                continue
            out.append(_Line(para[i].strip(), group))
            i += 1
    return out


# =============================================================================== html / markdown / docx
_BR = "\ue000"  # private-use marker for <br>: survives partition_html's whitespace normalisation


def _prepare_html(html: str) -> str:
    """Mark ``<br>`` (lines) and write ``<ol>`` numbers into the items, which partition_html drops."""
    import lxml.html

    html = re.sub(r"^\s*<\?xml[^>]*\?>", "", html)  # lxml refuses a str with an encoding declaration
    try:
        root = lxml.html.document_fromstring(html)
    except Exception:  # lxml refuses empty/odd documents: let partition_html decide
        return html
    for br in list(root.iter("br")):
        in_table = any(a.tag in ("td", "th") for a in br.iterancestors())
        br.tail = (" " if in_table else _BR) + (br.tail or "")
    for ol in root.iter("ol"):
        try:
            n = int(ol.get("start") or 1)
        except ValueError:
            n = 1
        for li in ol.iterchildren("li"):
            target = next((e for e in li.iter() if (e.text or "").strip() and e.tag not in ("ol", "ul")), li)
            target.text = f"{n}. " + (target.text or "").lstrip()
            n += 1
    return lxml.html.tostring(root, encoding="unicode")


def _table_rows(el) -> list[str]:
    """One line per row, cells joined by " | ", from unstructured's ``metadata.text_as_html``."""
    html = getattr(el.metadata, "text_as_html", None)
    rows: list[str] = []
    if html:
        import lxml.html

        try:
            root = lxml.html.fromstring(html)
            for tr in root.iter("tr"):
                cells = [" ".join(td.text_content().replace(_BR, " ").split()) for td in tr if td.tag in ("td", "th")]
                if any(cells):
                    rows.append(" | ".join(cells))
        except Exception:
            rows = []
    return rows or [" ".join((el.text or "").replace(_BR, " ").split())]


def _element_lines(elements) -> list[_Line]:
    """unstructured elements -> lines (markup kinds fixed, plain text left to :func:`_classify`)."""
    out: list[_Line] = []
    list_group = None
    for g, el in enumerate(elements):
        cat = el.category
        page = getattr(el.metadata, "page_number", None)
        if cat == "Table":
            out.extend(_Line(r, g, "Table", page) for r in _table_rows(el))
            list_group = None
            continue
        raw = (el.text or "").replace(_BR, "\n")
        lines = [ln.strip() for ln in raw.split("\n") if ln.strip()]
        if not lines:
            continue
        if cat == "ListItem":
            list_group = g if list_group is None else list_group  # consecutive items: one block
            first = lines[0]
            if not (_NUMBERED.match(first) or re.match(r"^(?:[ivx]{1,5}|[IVX]{1,5})[.)]\s", first)):
                first = "- " + (_list_item(first) or first).removeprefix("- ")
            out.append(_Line(first, list_group, "ListItem", page))
            # next lines: more items ("<br>– b" after "– a") or the item's continuation
            out.extend(_Line(_list_item(ln) or ln, list_group, "ListItem", page) for ln in lines[1:])
            continue
        list_group = None
        if cat == "Title":
            depth = getattr(el.metadata, "category_depth", None)
            out.extend(_Line(ln, g, "Title", page, depth=depth) for ln in lines)
        elif cat in ("Header", "Footer"):
            out.extend(_Line(ln, g, cat, page) for ln in lines)
        else:  # NarrativeText, UncategorizedText, Text, Address, EmailAddress…: lines decided here
            out.extend(_Line(ln, g, None, page) for ln in lines)
    return out


def _check_docx(path: Path, limits: Limits) -> None:
    """Refuse a DOCX whose parts would expand beyond ``limits``, from the zip directory alone (no
    part is decompressed): total declared size, and the ratio of any part over 1 MB (a few KB
    that inflate to hundreds of MB is a decompression bomb, not a letter)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ParseError(f"« {path.name} » est illisible ou corrompu (DOCX invalide).") from exc
    if len(infos) > 10_000:
        raise LimitError(f"« {path.name} » contient trop d'éléments ({len(infos)}) pour un document Word ; "
                         "rien n'a été indexé.")
    total = sum(max(0, i.file_size) for i in infos)
    if total > limits.max_unzipped_bytes:
        raise LimitError(
            f"« {path.name} » se décompresse en plus de {fr_int(limits.max_unzipped_bytes // 1_000_000)} Mo "
            f"({fr_int(total // 1_000_000)} Mo annoncés) : document refusé, rien n'a été indexé.")
    for i in infos:
        if i.file_size > 1_000_000 and i.file_size > limits.max_zip_ratio * max(1, i.compress_size):
            raise LimitError(
                f"« {path.name} » : une partie du document se décompresse {i.file_size // max(1, i.compress_size)} "
                "fois (bombe de décompression ?) : document refusé, rien n'a été indexé.")


def _check_elements(elements, limits: Limits, name: str) -> list:
    """unstructured elements, their text length checked against ``limits``."""
    total = 0
    for el in elements:
        total += len(el.text or "")
        limits.check_chars(total, name)
    return elements


def _partition_markup(path: Path, limits: Limits) -> list[_Line]:
    _offline_nlp()
    suffix = path.suffix.lower()
    if suffix == ".docx":
        from unstructured.partition.docx import partition_docx

        _check_docx(path, limits)
        return _element_lines(_check_elements(partition_docx(filename=str(path), languages=["fra"]), limits,
                                              path.name))
    from unstructured.partition.html import partition_html

    text = _read_text(path)  # markup is bounded by the file size; its extracted text is checked below
    if suffix == ".md":
        import markdown

        # partition_md does exactly this conversion; nl2br keeps one source line per line
        text = markdown.markdown(text, extensions=["tables", "fenced_code", "nl2br", "sane_lists"])
    if not text.strip():
        return []
    return _element_lines(_check_elements(partition_html(text=_prepare_html(text), languages=["fra"]), limits,
                                          path.name))


# =============================================================================== page layout (PDF text layer and OCR)
@dataclass
class _Seg:
    """A piece of one visual line, top-down coordinates (points for PDF, pixels for OCR)."""

    x0: float
    x1: float
    top: float
    bottom: float
    text: str
    size: float
    bold: bool = False
    first_word: float = 0.0


@dataclass
class _Row:
    cells: list[str]
    x0: float
    x1: float
    top: float
    bottom: float
    size: float
    bold: bool
    first_word: float
    band: str | None = None  # Header / Footer

    @property
    def text(self) -> str:
        return " | ".join(self.cells)


def _rows(segs: list[_Seg], height: float) -> list[_Row]:
    """Pieces on one visual row -> a row; pieces far apart (> 2 font sizes) are table cells."""
    rows: list[list[_Seg]] = []
    for s in sorted(segs, key=lambda s: (s.top, s.x0)):
        if rows:
            r = rows[-1]
            top, bottom = min(x.top for x in r), max(x.bottom for x in r)
            overlap = min(bottom, s.bottom) - max(top, s.top)
            if overlap >= 0.5 * min(bottom - top, s.bottom - s.top):
                r.append(s)
                continue
        rows.append([s])
    out: list[_Row] = []
    for r in rows:
        r.sort(key=lambda s: s.x0)
        cells: list[list[_Seg]] = [[r[0]]]
        for s in r[1:]:
            prev = cells[-1][-1]
            if s.x0 - prev.x1 > 2.0 * max(prev.size, s.size):
                cells.append([s])
            else:
                cells[-1].append(s)
        texts = [" ".join(" ".join(s.text for s in c).split()) for c in cells]
        keep = [(t, c) for t, c in zip(texts, cells) if t]
        if not keep:
            continue
        top, bottom = min(s.top for s in r), max(s.bottom for s in r)
        centre = (top + bottom) / 2
        band = "Header" if centre < 0.07 * height else "Footer" if centre > 0.93 * height else None
        out.append(_Row(
            cells=[t for t, _ in keep], x0=keep[0][1][0].x0, x1=keep[-1][1][-1].x1, top=top, bottom=bottom,
            size=max(s.size for s in r), bold=all(s.bold for s in r), first_word=keep[0][1][0].first_word, band=band,
        ))
    return out


_PAGE_NUMBER = re.compile(r"^[-–\s]*(?:page|p\.)?\s*\d{1,4}\s*(?:(?:/|sur|de|of)\s*\d{1,4})?[-–\s]*$", re.I)


def _running_heads(pages: list[list[_Row]]) -> None:
    """Keep ``band`` (Header/Footer, set by position: top/bottom 7 % of the page) only for running
    heads and feet: a row repeated on 2+ pages (digits ignored) or a page number. Body text that
    merely reaches the bottom margin stays body text."""
    def key(r: _Row) -> str:
        return re.sub(r"\d+", "#", " ".join(r.text.lower().split()))

    seen: dict[str, set[int]] = {}
    for n, rows in enumerate(pages):
        for r in rows:
            if r.band:
                seen.setdefault(key(r), set()).add(n)
    for rows in pages:
        for r in rows:
            if r.band and len(seen[key(r)]) < 2 and not _PAGE_NUMBER.match(r.text.strip()):
                r.band = None


_LABEL_LINE = re.compile(r"^[A-ZÀ-Ý][^:.;]{1,40}\s:\s")


def _page_lines(rows: list[_Row], width: float, page: int, ocr: bool, body_size: float | None,
                group_base: int) -> list[_Line]:
    """Rows of one page -> lines: blocks split at vertical gaps, wrapped lines re-joined, Header /
    Footer / Table rows fixed, font evidence passed on as ``strong``."""
    if not rows:
        return []
    single = [r for r in rows if len(r.cells) == 1 and r.band is None]
    right = max((r.x1 for r in single), default=0.0)
    left = min((r.x0 for r in single), default=0.0)
    can_reflow = bool(single) and right - left >= 0.4 * width

    def strong(r: _Row) -> bool:
        if ocr or len(r.cells) > 1 or body_size is None:
            return False
        return r.bold or r.size >= 1.15 * body_size

    out: list[_Line] = []
    group = group_base
    prev: _Row | None = None
    for r in rows:
        if prev is not None:
            gap = r.top - prev.bottom
            table_run = len(r.cells) > 1 and len(prev.cells) > 1
            if r.band != prev.band or gap > (2.0 if table_run else 0.6) * max(r.size, prev.size):
                group += 1
            elif (
                can_reflow and len(r.cells) == 1 and len(prev.cells) == 1 and r.band is None and prev.band is None
                and not strong(r) and not strong(prev) and out and out[-1].kind is None
                and _list_item(r.text) is None
                and prev.x1 + 0.3 * prev.size + r.first_word > right  # the next word would not have fitted
                and not (out[-1].text.rstrip()[-1:] in ".:;" and _LABEL_LINE.match(r.text))  # "Label : ..." line
            ):
                last = out[-1]
                joiner = "" if re.search(r"\w-$", last.text) and r.text[:1].islower() else " "
                last.text = last.text + joiner + r.text
                prev = r
                continue
        kind = r.band or ("Table" if len(r.cells) > 1 else None)
        out.append(_Line(_ocr_fix(r.text) if ocr else r.text, group, kind, page, ocr, strong=strong(r)))
        prev = r
    # a lone "table row" (two things on one row) is just a line
    for i, ln in enumerate(out):
        if ln.kind == "Table" and not any(
            0 <= j < len(out) and out[j].kind == "Table" and out[j].group == ln.group for j in (i - 1, i + 1)
        ):
            ln.kind = None
    return out


_BOLD = re.compile(r"bold|black|heavy|semibold|demi", re.I)


def _pdf_layout(path: Path, limits: Limits | None = None):
    """pdfminer pages -> [(segments, image cover, width, height)], plus the body font size. Image
    cover: the largest image's share of the page area (a scanned page is ≈ 1). Pages and characters
    are counted page by page against ``limits`` (a page tree can lie about its size)."""
    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LAParams, LTAnno, LTChar, LTContainer, LTImage, LTTextLine

    limits = limits or Limits()
    pages = []
    sizes: dict[float, int] = {}
    extracted = 0
    for layout in extract_pages(str(path), laparams=LAParams(char_margin=4.0, all_texts=True)):
        limits.check_pages(len(pages) + 1, path.name)
        width, height = layout.width, layout.height
        segs: list[_Seg] = []
        cover = 0.0
        stack = [layout]
        while stack:
            obj = stack.pop()
            for o in obj:
                if isinstance(o, LTTextLine):
                    chars = [c for c in o if isinstance(c, LTChar)]
                    text = o.get_text().replace("\n", " ")
                    visible = [c for c in chars if c.get_text().strip()]
                    if not visible or not text.strip():
                        continue
                    first_end = o.x0
                    for c in o:
                        if isinstance(c, LTAnno) or not c.get_text().strip():
                            if first_end > o.x0:
                                break
                            continue
                        first_end = c.x1
                    size = statistics.median(c.size for c in visible)
                    for c in visible:
                        sizes[round(c.size * 2) / 2] = sizes.get(round(c.size * 2) / 2, 0) + 1
                    bold = all(_BOLD.search(c.fontname or "") for c in visible)
                    segs.append(_Seg(o.x0, o.x1, height - o.y1, height - o.y0, text, size, bold, first_end - o.x0))
                elif isinstance(o, LTImage):
                    area = max(0.0, o.width) * max(0.0, o.height) / max(1.0, width * height)
                    cover = max(cover, min(1.0, area) or 1e-6)
                elif isinstance(o, LTContainer):
                    stack.append(o)
        pages.append((segs, cover, width, height))
        extracted += sum(len(sg.text) for sg in segs)
        limits.check_chars(extracted, path.name)
    body = max(sizes, key=sizes.get) if sizes else None
    return pages, body


def _needs_ocr(segs: list[_Seg], cover: float) -> bool:
    """A page to OCR: an image and no usable text layer, or a page-size image with only a few words
    of text on it (a scanner's stamp or page number over the scan)."""
    if cover <= 0:
        return False
    if not _has_text(segs):
        return True
    return cover >= 0.5 and len(re.sub(r"\s", "", "".join(s.text for s in segs))) < 200


def _has_text(segs: list[_Seg]) -> bool:
    """A usable text layer: some characters, not mostly pdfminer's "(cid:12)" for unmapped glyphs."""
    text = "".join(s.text for s in segs)
    cid = sum(len(m) for m in re.findall(r"\(cid:\d+\)", text))
    visible = len(re.sub(r"\s", "", text))
    return visible >= 3 and cid < 0.5 * visible


# =============================================================================== OCR
_ocr_env_lock = threading.Lock()


@contextmanager
def _one_thread():
    """Tesseract's OpenMP threads fight for 2 shared cores: 1 thread was 2-4x faster per page here."""
    with _ocr_env_lock:
        old = os.environ.get("OMP_THREAD_LIMIT")
        if old is None:
            os.environ["OMP_THREAD_LIMIT"] = "1"
        try:
            yield
        finally:
            if old is None:
                os.environ.pop("OMP_THREAD_LIMIT", None)


def _tesseract(name: str):
    """pytesseract, checked: the binary and its French model exist (else a French ParseError)."""
    try:
        import pytesseract
    except ImportError as exc:
        raise ParseError(
            f"« {name} » doit être lu par reconnaissance de texte (OCR), mais le module pytesseract est absent : "
            f"installez les dépendances Python du projet, puis {_SETUP_HINT}."
        ) from exc
    try:
        langs = pytesseract.get_languages(config="")
    except (pytesseract.TesseractNotFoundError, OSError) as exc:
        raise ParseError(
            f"« {name} » doit être lu par reconnaissance de texte (OCR), mais Tesseract n'est pas installé : {_SETUP_HINT}."
        ) from exc
    except Exception as exc:
        raise ParseError(f"« {name} » : Tesseract (OCR) ne répond pas ({type(exc).__name__}) ; {_SETUP_HINT}.") from exc
    if "fra" not in langs:
        raise ParseError(
            f"« {name} » doit être lu par reconnaissance de texte (OCR), mais le modèle français de Tesseract "
            f"(tesseract-ocr-fra) manque : {_SETUP_HINT}."
        )
    return pytesseract


def _erase_rules(img):
    """Erase long horizontal and vertical rules (table borders, underlines): Tesseract skips the
    text of bordered tables otherwise. Runs of dark pixels longer than 4 % of the page width."""
    import numpy as np
    from PIL import Image

    a = np.asarray(img)
    dark = a < 200  # rules are often grey once scanned
    length = max(30, int(0.04 * a.shape[1]))

    def long_runs(d):
        h, w = d.shape
        p = np.zeros((h, w + 1), bool)
        p[:, :w] = d  # a False column ends every run inside its row
        flat = p.ravel()
        x = np.flatnonzero(flat[1:] != flat[:-1]) + 1
        if flat[0]:
            x = np.r_[0, x]
        starts, ends = x[0::2], x[1::2]
        keep = (ends - starts) >= length
        if not keep.any():
            return None
        m = np.zeros(flat.size + 1, np.int32)
        np.add.at(m, starts[keep], 1)
        np.add.at(m, ends[keep], -1)
        return (np.cumsum(m[:-1]) > 0).reshape(h, w + 1)[:, :w]

    mask = None
    for m in (long_runs(dark), (lambda t: None if t is None else t.T)(long_runs(np.ascontiguousarray(dark.T)))):
        if m is not None:
            mask = m if mask is None else mask | m
    if mask is None:
        return img
    grown = mask.copy()  # + 2 px around: the anti-aliased edges of a rule would be read as glyphs
    for k in (1, 2):
        grown[k:] |= mask[:-k]
        grown[:-k] |= mask[k:]
        grown[:, k:] |= mask[:, :-k]
        grown[:, :-k] |= mask[:, k:]
    mask = grown
    out = a.copy()
    out[mask] = 255
    return Image.fromarray(out)


def _ocr_segments(tess, img, name: str) -> list[_Seg]:
    """Tesseract words -> segments (one per Tesseract line, split where words are far apart)."""
    img = _erase_rules(img.convert("L"))
    try:
        with _one_thread():
            data = tess.image_to_data(img, lang="fra", config="--psm 3", output_type=tess.Output.DICT,
                                      timeout=OCR_TIMEOUT_S)
    except RuntimeError as exc:  # pytesseract's timeout
        raise ParseError(f"La reconnaissance de texte (OCR) de « {name} » a dépassé {OCR_TIMEOUT_S} s par page.") from exc
    except tess.TesseractError as exc:
        raise ParseError(f"La reconnaissance de texte (OCR) de « {name} » a échoué ({exc.message or exc.status}).") from exc
    lines: dict[tuple, list[tuple]] = {}
    for i, word in enumerate(data["text"]):
        word = (word or "").strip()
        if not word or float(data["conf"][i]) < 0 or set(word) <= set("|¦[]_—=~"):
            continue
        key = (data["block_num"][i], data["par_num"][i], data["line_num"][i])
        lines.setdefault(key, []).append((data["left"][i], data["top"][i], data["width"][i], data["height"][i], word))
    segs: list[_Seg] = []
    for words in lines.values():
        words.sort()
        height = statistics.median(w[3] for w in words)
        run = [words[0]]
        for w in words[1:] + [None]:
            if w is not None and w[0] - (run[-1][0] + run[-1][2]) <= 2.0 * height:
                run.append(w)
                continue
            segs.append(_Seg(
                x0=run[0][0], x1=run[-1][0] + run[-1][2], top=min(x[1] for x in run),
                bottom=max(x[1] + x[3] for x in run), text=" ".join(x[4] for x in run), size=height,
                first_word=run[0][2],
            ))
            run = [w]
    return segs


_OCR_BULLET = re.compile(r"^[+«»°*•·~](?:\s*[+«»°*•·~])*\s+(?=\S)")


def _ocr_fix(line: str) -> str:
    """Tesseract's usual misreadings that change the structure or a unit: a bullet "•" or "-" at
    the start of a line read as "+"/"«"/"°" (-> "- "), "mmol/l" read as "mmol/|"."""
    return re.sub(r"/\|", "/l", _OCR_BULLET.sub("- ", line))


def _ocr_rows(tess, img, name: str) -> list[_Row]:
    return _rows(_ocr_segments(tess, img, name), img.height)


def _render_pdf_page(path: Path, index: int):
    """Page ``index`` (0-based) as a grayscale PIL image at :data:`OCR_DPI`."""
    try:
        import pypdfium2 as pdfium
    except ImportError:
        pdfium = None
    if pdfium is not None:
        pdf = pdfium.PdfDocument(str(path))
        try:
            return pdf[index].render(scale=OCR_DPI / 72, grayscale=True).to_pil().convert("L")
        finally:
            pdf.close()
    if not shutil.which("pdftoppm"):
        raise ParseError(f"« {path.name} » : impossible de convertir la page en image pour l'OCR (pdftoppm absent) ; "
                         f"{_SETUP_HINT}.")
    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["pdftoppm", "-r", str(OCR_DPI), "-gray", "-png", "-f", str(index + 1), "-l", str(index + 1),
                        str(path), f"{tmp}/p"], check=True, capture_output=True, timeout=120)
        out = next(Path(tmp).glob("p*.png"))
        with Image.open(out) as im:
            return im.convert("L")


def _parse_pdf(path: Path, limits: Limits | None = None) -> tuple[list[_Line], int, bool]:
    """Lines of a PDF, its page count, and whether any page needed OCR."""
    limits = limits or Limits()
    pages, body = _pdf_layout(path, limits)
    to_ocr = [i for i, (segs, cover, _, _) in enumerate(pages) if _needs_ocr(segs, cover)]
    tess = _tesseract(path.name) if to_ocr else None
    laid: list[tuple[list[_Row], float, bool]] = []  # rows, width, ocr
    chars = 0
    for i, (segs, _, width, height) in enumerate(pages):
        if i in to_ocr:
            img = _render_pdf_page(path, i)
            laid.append((_ocr_rows(tess, img, path.name), img.width, True))
        else:
            laid.append((_rows(segs, height) if _has_text(segs) else [], width, False))
        chars += sum(len(r.text) for r in laid[-1][0])
        limits.check_chars(chars, path.name)
    _running_heads([rows for rows, _, _ in laid])
    lines: list[_Line] = []
    for i, (rows, width, ocr) in enumerate(laid):
        lines += _page_lines(rows, width, i + 1, ocr, None if ocr else body, 10_000 * i)
    return lines, max(1, len(pages)), bool(to_ocr)


def _parse_image(path: Path, limits: Limits | None = None) -> tuple[list[_Line], int, bool]:
    from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

    limits = limits or Limits()
    lines: list[_Line] = []
    frames = []
    try:
        with Image.open(path) as im:
            for f in ImageSequence.Iterator(im):  # a multi-page TIFF: frames counted as they are read
                limits.check_pages(len(frames) + 1, path.name)
                frames.append(ImageOps.exif_transpose(f.copy()))
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        if isinstance(exc, LimitError):
            raise
        raise ParseError(f"« {path.name} » est illisible ou corrompu (image invalide).") from exc
    tess = _tesseract(path.name)
    laid: list[tuple[list[_Row], float]] = []
    chars = 0
    for frame in frames:
        img = frame.convert("L")
        if max(img.size) < 1200:  # small images: Tesseract wants glyphs of ~20+ px
            img = img.resize((img.width * 2, img.height * 2), Image.LANCZOS)
        laid.append((_ocr_rows(tess, img, path.name), img.width))
        chars += sum(len(r.text) for r in laid[-1][0])
        limits.check_chars(chars, path.name)
    _running_heads([rows for rows, _ in laid])
    for n, (rows, width) in enumerate(laid, 1):
        lines += _page_lines(rows, width, n, True, None, 10_000 * n)
    return lines, len(frames), True


# =============================================================================== entry point
def _check_pdf(path: Path, limits: Limits | None = None) -> None:
    """pdfminer silently returns nothing for a truncated PDF; say "corrupt", not "scanned". The
    page count is checked against ``limits`` before any page is laid out."""
    raw = path.read_bytes()
    if not raw.startswith(b"%PDF") or b"%%EOF" not in raw[-2048:]:
        raise ParseError(f"« {path.name} » est illisible ou corrompu (PDF tronqué ou invalide).")
    try:
        from pypdf import PdfReader

        n = len(PdfReader(path).pages)
        if n == 0:
            raise ValueError("no pages")
    except Exception as exc:
        raise ParseError(f"« {path.name} » est illisible ou corrompu (PDF invalide).") from exc
    (limits or Limits()).check_pages(n, path.name)


def _unsupported(path: Path) -> ParseError:
    return ParseError(
        f"Format non pris en charge pour « {path.name} » (formats acceptés : {', '.join(SUPPORTED_SUFFIXES)})."
    )


def parse_file(path: str | Path, limits: Limits | None = None) -> ParsedDocument:
    """Parse one file; raise :class:`ParseError` (French) for empty, corrupt or unsupported files,
    :class:`LimitError` as soon as the extraction exceeds ``limits`` (default :class:`Limits`)."""
    path = Path(path)
    limits = limits or Limits()
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise _unsupported(path)
    if not path.exists():
        raise ParseError(f"Fichier introuvable : « {path.name} ».")
    if path.stat().st_size == 0:
        raise ParseError(f"« {path.name} » est vide.")
    if suffix == ".pdf":
        _check_pdf(path, limits)
    pages, ocr_ran = 1, False
    try:
        if suffix == ".txt":
            lines = _text_lines(_read_text(path, limits))
        elif suffix == ".pdf":
            lines, pages, ocr_ran = _parse_pdf(path, limits)
        elif suffix in IMAGE_SUFFIXES:
            lines, pages, ocr_ran = _parse_image(path, limits)
        else:
            lines = _partition_markup(path, limits)
    except ParseError:
        raise
    except MemoryError as exc:
        raise LimitError(f"« {path.name} » est trop volumineux pour être lu ; rien n'a été indexé.") from exc
    except Exception as exc:  # unstructured/pdfminer/docx raise many types on corrupt input
        raise ParseError(f"« {path.name} » est illisible ou corrompu ({type(exc).__name__}).") from exc
    text, blocks = _assemble(_pieces(_classify(lines)))
    ocr = any(b.ocr for b in blocks)
    if not text.strip():
        if ocr_ran:
            raise ParseError(
                f"Aucun texte reconnu dans « {path.name} », même par reconnaissance de texte (OCR) : "
                "page blanche, image trop floue ou document sans texte ?"
            )
        raise ParseError(f"Aucun texte extractible dans « {path.name} » (document vide ou sans texte ?).")
    if suffix != ".pdf" and suffix not in IMAGE_SUFFIXES:
        pages = max([1] + [b.page or 1 for b in blocks])
    limits.check_chars(len(text), path.name)  # the assembled text (separators included)
    limits.check_pages(pages, path.name)
    return ParsedDocument(text=text, blocks=blocks, pages=pages, ocr=ocr)
