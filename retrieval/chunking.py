"""Section-aware chunking for French clinical documents.

A clinical report is read by section ("Antécédents", "Traitement de sortie", "Conclusion"…): a chunk
that mixes the end of "Traitement à l'entrée" with the start of "Traitement de sortie" would cite
the wrong list. So we first cut the extracted text at the section headings of
:mod:`knowledge.sections` (markdown/HTML titles, the capitalised "CONCLUSION :" lines French reports
use…), then pack each section's blocks into chunks of at most ``max_chars``, never crossing a
section boundary. Every chunk keeps exact offsets into
the document text (``text[start:end] == chunk.text``) so citations can be highlighted.

Example::

    >>> from retrieval.parsing import ParsedDocument, Block
    >>> t = "CONCLUSION :\\n\\nPas de fièvre.\\n\\nTRAITEMENT DE SORTIE :\\n\\n- APIXABAN 5 mg"
    >>> chunks = chunk_text(t)
    >>> [(c.section, c.text) for c in chunks][-1]
    ('Traitement de sortie', 'TRAITEMENT DE SORTIE :\\n\\n- APIXABAN 5 mg')

Limits: headings unknown to :data:`knowledge.sections.SECTIONS` are not detected; very long
single paragraphs are split on sentence boundaries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from knowledge.sections import heading_name, split_sections

__all__ = ["ChunkLimitError", "TextChunk", "bound_tokens", "chunk_text", "heading_name"]


class ChunkLimitError(ValueError):
    """More chunks than allowed: raised as soon as the count passes ``limit``, before the rest of
    the text is cut (the caller words the French message: it knows the file and which limit)."""

    def __init__(self, limit: int):
        super().__init__(f"more than {limit} chunks")
        self.limit = limit


def _count(chunks: list, max_chunks: int | None) -> None:
    if max_chunks is not None and len(chunks) > max_chunks:
        raise ChunkLimitError(max_chunks)


@dataclass(frozen=True)
class TextChunk:
    text: str
    start: int
    end: int
    section: str | None


_PARA = re.compile(r"\n\s*\n")
_NL = re.compile(r"\n")
_SENT = re.compile(r"(?<=[.!?])\s+(?=[A-ZÉÈÀÂÎÔÙÇ0-9-])")


def _paragraph_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    spans, pos = [], start
    for m in _PARA.finditer(text, start, end):
        if m.start() > pos:
            spans.append((pos, m.start()))
        pos = m.end()
    if pos < end:
        spans.append((pos, end))
    return [(s, e) for s, e in spans if text[s:e].strip()]


def _split_long(text: str, s: int, e: int, max_chars: int) -> list[tuple[int, int]]:
    """Split one over-long paragraph greedily at sentence or line boundaries (hard cut on a space
    when a single sentence is longer than ``max_chars``)."""
    if e - s <= max_chars:
        return [(s, e)]
    bounds = sorted({m.start() for m in _SENT.finditer(text, s, e)} | {m.end() for m in _NL.finditer(text, s, e)})
    bounds = [b for b in bounds if s < b < e] + [e]
    out, cur, last = [], s, None
    for b in bounds:
        if b - cur > max_chars and last is not None and last > cur:
            out.append((cur, last))
            cur = last
        last = b
    out.append((cur, e))
    final = []
    for a, b in out:
        while b - a > max_chars:
            cut = text.rfind(" ", a + 1, a + max_chars)
            cut = cut if cut > a else a + max_chars
            final.append((a, cut))
            a = cut
        final.append((a, b))
    return [(a, b) for a, b in final if text[a:b].strip()]


def _strip_span(text: str, s: int, e: int) -> tuple[int, int]:
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return s, e


def chunk_text(text: str, *, max_chars: int = 900, min_chars: int = 200,
               max_chunks: int | None = None) -> list[TextChunk]:
    """Cut ``text`` into section-bounded chunks with exact offsets; :class:`ChunkLimitError` as soon
    as more than ``max_chunks`` are cut.

    >>> chunk_text("Une phrase assez longue. " * 400, max_chunks=3)
    Traceback (most recent call last):
    retrieval.chunking.ChunkLimitError: more than 3 chunks
    """
    # 1. sections: (heading or None, start, end), the heading line inside its section; only headings
    #    alone on their line cut ("Motif : chute" lines stay with their neighbours, not tiny chunks)
    sections = [(s.name, s.heading_start, s.end) for s in split_sections(text, inline=False)
                if text[s.heading_start:s.end].strip()]
    # 2. pack paragraphs inside each section
    chunks: list[TextChunk] = []
    for name, s_start, s_end in sections:
        paras: list[tuple[int, int]] = []
        for a, b in _paragraph_spans(text, s_start, s_end):
            paras.extend(_split_long(text, a, b, max_chars))
        cur: tuple[int, int] | None = None
        for a, b in paras:
            if cur is None:
                cur = (a, b)
            elif b - cur[0] <= max_chars:
                cur = (cur[0], b)
            else:
                chunks.append(TextChunk(text[cur[0]:cur[1]], cur[0], cur[1], name))
                _count(chunks, max_chunks)
                cur = (a, b)
        if cur is not None:
            chunks.append(TextChunk(text[cur[0]:cur[1]], cur[0], cur[1], name))
            _count(chunks, max_chunks)
    # 3. merge a tiny leading header chunk (patient line, service…) into the next chunk of no section
    merged: list[TextChunk] = []
    for c in chunks:
        if merged and merged[-1].section == c.section and (c.end - merged[-1].start) <= max_chars and (
            len(merged[-1].text) < min_chars
        ):
            prev = merged.pop()
            merged.append(TextChunk(text[prev.start:c.end], prev.start, c.end, c.section))
        else:
            merged.append(c)
    out = []
    for c in merged:
        s, e = _strip_span(text, c.start, c.end)
        if e > s:
            out.append(TextChunk(text[s:e], s, e, c.section))
    return out


def bound_tokens(text: str, chunks: list[TextChunk], count_tokens, max_tokens: int,
                 max_chunks: int | None = None) -> list[TextChunk]:
    """Split every chunk whose length in model tokens exceeds ``max_tokens``, keeping exact offsets.

    Why: ``max_chars`` is a proxy; tables, numbers and abbreviations tokenise at 2–3 characters a
    token, and an over-long chunk costs quadratic attention time and is truncated by the model. Each
    offending chunk is re-cut at sentence or line boundaries with a character budget scaled by its
    measured characters-per-token, until every piece fits. :class:`ChunkLimitError` as soon as the
    pieces outnumber ``max_chunks``.

    >>> t = "Na 134. K 4,6. Créat 118. " * 20
    >>> out = bound_tokens(t, chunk_text(t), lambda s: len(s) // 2, 60)
    >>> all(len(c.text) // 2 <= 60 for c in out) and all(t[c.start:c.end] == c.text for c in out)
    True
    """
    out: list[TextChunk] = []
    for c in chunks:
        n = count_tokens(c.text)
        if n <= max_tokens:
            out.append(c)
            _count(out, max_chunks)
            continue
        budget = max(40, int(len(c.text) * max_tokens / n * 0.9))
        pieces = _split_long(text, c.start, c.end, budget)
        if len(pieces) == 1:  # no boundary found: hard cut on spaces
            pieces = [(a, min(a + budget, c.end)) for a in range(c.start, c.end, budget)]
        for a, b in pieces:
            a, b = _strip_span(text, a, b)
            if b > a:
                out.extend(bound_tokens(text, [TextChunk(text[a:b], a, b, c.section)], count_tokens, max_tokens))
                _count(out, max_chunks)
    return out
