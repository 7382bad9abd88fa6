"""Parse .txt .md .html .docx .pdf into one extracted text with block offsets, using unstructured.

The extracted text is what every citation points into: blocks (unstructured elements) are joined
with blank lines and each block remembers its ``[start, end)`` span and page. List items keep a
leading "- " so that treatment lists read as lists.

Offline trap (see ENVIRONMENT.md): unstructured downloads an English spaCy model from GitHub on
first use; without network txt/html/docx raise and PDF ``fast`` silently returns ``[]``. We give it
a local blank French pipeline with a sentencizer instead (its sentence and POS helpers then work
offline; POS-based heuristics only affect element *categories*, which we do not rely on).
Telemetry of unstructured is disabled before import: no document metadata ever leaves the host.

Example::

    >>> from pathlib import Path; import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "cr.txt"; _ = p.write_text("CONCLUSION :\\nPas de fièvre.")
    >>> doc = parse_file(p)
    >>> doc.text[doc.blocks[-1].start:doc.blocks[-1].end]
    'Pas de fièvre.'

Limits: scanned PDFs (images) give no text and are rejected with a clear message; tables are
flattened to text.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

os.environ.setdefault("SCARF_NO_ANALYTICS", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("UNSTRUCTURED_DISABLE_NOTICE", "1")

SUPPORTED_SUFFIXES = (".txt", ".md", ".html", ".htm", ".docx", ".pdf")


class ParseError(ValueError):
    """A file that cannot be read; the message is French and names the file."""


@dataclass(frozen=True)
class Block:
    text: str
    start: int
    end: int
    page: int | None
    category: str


@dataclass
class ParsedDocument:
    text: str
    blocks: list[Block] = field(default_factory=list)
    pages: int = 1

    def page_at(self, offset: int) -> int | None:
        for b in self.blocks:
            if b.start <= offset < b.end or offset < b.start:
                return b.page
        return self.blocks[-1].page if self.blocks else None


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


def _partition(path: Path) -> list:
    _offline_nlp()
    suffix = path.suffix.lower()
    kwargs = {"filename": str(path), "languages": ["fra"]}
    if suffix == ".txt":
        from unstructured.partition.text import partition_text

        text = _read_text(path)
        return partition_text(text=text, languages=["fra"])
    if suffix == ".md":
        from unstructured.partition.md import partition_md

        return partition_md(text=_read_text(path), languages=["fra"])
    if suffix in (".html", ".htm"):
        from unstructured.partition.html import partition_html

        return partition_html(text=_read_text(path), languages=["fra"])
    if suffix == ".docx":
        from unstructured.partition.docx import partition_docx

        return partition_docx(**kwargs)
    if suffix == ".pdf":
        from unstructured.partition.pdf import partition_pdf

        return partition_pdf(strategy="fast", **kwargs)
    raise ParseError(
        f"Format non pris en charge pour « {path.name} » (formats acceptés : {', '.join(SUPPORTED_SUFFIXES)})."
    )


def _read_text(path: Path) -> str:
    """Read text as UTF-8, falling back to Windows-1252/latin-1 (common in hospital exports)."""
    raw = path.read_bytes()
    if b"\x00" in raw[:4096]:
        raise ParseError(f"« {path.name} » n'est pas un fichier texte lisible (contenu binaire).")
    for enc in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    raise ParseError(f"Encodage de « {path.name} » non reconnu.")  # pragma: no cover - latin-1 decodes all


def _check_pdf(path: Path) -> None:
    """pdfminer silently returns nothing for a truncated PDF; say "corrupt", not "scanned"."""
    raw = path.read_bytes()
    if not raw.startswith(b"%PDF") or b"%%EOF" not in raw[-2048:]:
        raise ParseError(f"« {path.name} » est illisible ou corrompu (PDF tronqué ou invalide).")
    try:
        from pypdf import PdfReader

        if len(PdfReader(path).pages) == 0:
            raise ValueError("no pages")
    except Exception as exc:
        raise ParseError(f"« {path.name} » est illisible ou corrompu (PDF invalide).") from exc


def parse_file(path: str | Path) -> ParsedDocument:
    """Parse one file; raise :class:`ParseError` (French) for empty, corrupt or unsupported files."""
    path = Path(path)
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise ParseError(
            f"Format non pris en charge pour « {path.name} » (formats acceptés : {', '.join(SUPPORTED_SUFFIXES)})."
        )
    if not path.exists():
        raise ParseError(f"Fichier introuvable : « {path.name} ».")
    if path.stat().st_size == 0:
        raise ParseError(f"« {path.name} » est vide.")
    if path.suffix.lower() == ".pdf":
        _check_pdf(path)
    try:
        elements = _partition(path)
    except ParseError:
        raise
    except Exception as exc:  # unstructured/pdfminer/docx raise many types on corrupt input
        raise ParseError(f"« {path.name} » est illisible ou corrompu ({type(exc).__name__}).") from exc
    parts: list[str] = []
    blocks: list[Block] = []
    offset = 0
    pages = 1
    for el in elements:
        text = (el.text or "").strip()
        if not text:
            continue
        if el.category == "ListItem" and not text.startswith(("-", "•", "*")):
            text = "- " + text
        if parts:
            parts.append("\n\n")
            offset += 2
        page = getattr(el.metadata, "page_number", None)
        pages = max(pages, page or 1)
        blocks.append(Block(text=text, start=offset, end=offset + len(text), page=page, category=el.category))
        parts.append(text)
        offset += len(text)
    text = "".join(parts)
    if not text.strip():
        raise ParseError(f"Aucun texte extractible dans « {path.name} » (document scanné ou vide ?).")
    return ParsedDocument(text=text, blocks=blocks, pages=pages)
