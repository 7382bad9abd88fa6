"""Section-aware chunking for French clinical documents.

A clinical report is read by section ("Antécédents", "Traitement de sortie", "Conclusion"…): a chunk
that mixes the end of "Traitement à l'entrée" with the start of "Traitement de sortie" would cite
the wrong list. So we first cut the extracted text at section headings (markdown/HTML titles or the
capitalised "CONCLUSION :" lines French reports use), then pack each section's blocks into chunks
of at most ``max_chars``, never crossing a section boundary. Every chunk keeps exact offsets into
the document text (``text[start:end] == chunk.text``) so citations can be highlighted.

Example::

    >>> from retrieval.parsing import ParsedDocument, Block
    >>> t = "CONCLUSION :\\n\\nPas de fièvre.\\n\\nTRAITEMENT DE SORTIE :\\n\\n- APIXABAN 5 mg"
    >>> chunks = chunk_text(t)
    >>> [(c.section, c.text) for c in chunks][-1]
    ('Traitement de sortie', 'TRAITEMENT DE SORTIE :\\n\\n- APIXABAN 5 mg')

Limits: headings not in :data:`SECTION_NAMES` and not marked as titles are not detected; very long
single paragraphs are split on sentence boundaries.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

#: Canonical French section names (normalised without accents, lower case) -> display name.
SECTION_NAMES: dict[str, str] = {
    "motif d'hospitalisation": "Motif d'hospitalisation",
    "motif d'admission": "Motif d'hospitalisation",
    "motif de consultation": "Motif de consultation",
    "motif": "Motif",
    "antecedents": "Antécédents",
    "atcd": "Antécédents",
    "antecedents familiaux": "Antécédents familiaux",
    "antecedents personnels": "Antécédents",
    "allergies": "Allergies",
    "mode de vie": "Mode de vie",
    "traitement a l'entree": "Traitement à l'entrée",
    "traitement habituel": "Traitement à l'entrée",
    "traitement en cours": "Traitement en cours",
    "ttt habituel": "Traitement à l'entrée",
    "histoire de la maladie": "Histoire de la maladie",
    "hdm": "Histoire de la maladie",
    "examen clinique": "Examen clinique",
    "examens complementaires": "Examens complémentaires",
    "biologie": "Biologie",
    "imagerie": "Imagerie",
    "evolution": "Évolution",
    "evolution dans le service": "Évolution",
    "conclusion": "Conclusion",
    "synthese": "Conclusion",
    "diagnostic": "Diagnostic",
    "diagnostics": "Diagnostic",
    "traitement de sortie": "Traitement de sortie",
    "ttt de sortie": "Traitement de sortie",
    "traitements arretes ou modifies": "Traitements arrêtés ou modifiés",
    "resultats en attente": "Résultats en attente",
    "suivi": "Suivi",
    "rendez-vous": "Suivi",
    "projet de soins": "Suivi",
    "proposition": "Proposition",
    "decision": "Décision",
    "prescription": "Prescription",
    "compte rendu": "Compte rendu",
    "indication": "Indication",
    "technique": "Technique",
    "resultats": "Résultats",
    "interpretation": "Interprétation",
    "transmissions": "Transmissions",
}

_HEADING_LINE = re.compile(r"^\s*(?:#{1,6}\s*)?(?P<name>[^\n:]{2,60}?)\s*:?\s*$")


def _norm(s: str) -> str:
    s = unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode().lower()
    s = s.replace("’", "'")
    return re.sub(r"\s+", " ", s).strip(" :-#*")


def heading_name(line: str) -> str | None:
    """The canonical section name when ``line`` is a known section heading, else None."""
    m = _HEADING_LINE.match(line)
    if not m:
        return None
    name = _norm(m.group("name"))
    if name in SECTION_NAMES:
        return SECTION_NAMES[name]
    # "CONCLUSION DE SORTIE", "Évolution clinique": accept a known name followed by at most 2 words
    for key, display in SECTION_NAMES.items():
        if len(key) > 4 and name.startswith(key + " ") and len(name.split()) <= len(key.split()) + 2:
            return display
    return None


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


def chunk_text(text: str, *, max_chars: int = 900, min_chars: int = 200) -> list[TextChunk]:
    """Cut ``text`` into section-bounded chunks with exact offsets."""
    # 1. sections: (heading or None, start, end)
    sections: list[tuple[str | None, int, int]] = []
    current, cur_start = None, 0
    pos = 0
    for line in text.splitlines(keepends=True):
        name = heading_name(line) if len(line) < 80 else None
        if name:
            if pos > cur_start and text[cur_start:pos].strip():
                sections.append((current, cur_start, pos))
            current, cur_start = name, pos
        pos += len(line)
    if text[cur_start:].strip():
        sections.append((current, cur_start, len(text)))
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
                cur = (a, b)
        if cur is not None:
            chunks.append(TextChunk(text[cur[0]:cur[1]], cur[0], cur[1], name))
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
