"""The first pass: gather candidate spans from every detector, keep non-overlapping ones, replace.

    >>> from medassist.schemas import Patient
    >>> p = Patient.model_validate({"id": "P9", "identity": {"first_name": "Jean", "last_name": "DUPONT",
    ...     "sex": "M", "birth_date": "1948-03-12", "ipp": "80012345"}, "gp": {"name": "Dr Anne MOREL"}})
    >>> pseudonymise_text("M. DUPONT vu le 12/03/2026.", p, offset_days=1, use_edsnlp=False).text
    'M. [NOM_1] vu le 13/03/2026.'

Limits: a span is replaced whole or not at all; overlapping detections are resolved by tier then length.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date

from knowledge.french import fold_chars
from medassist.schemas import Patient
from tools.pseudonymise.context import PseudoContext
from tools.pseudonymise.dates import _date_candidates
from tools.pseudonymise.names import _gazetteer_candidates, _name_candidates
from tools.pseudonymise.patterns import CATEGORIES, _Cand, _metadata_candidates, _pattern_candidates


@dataclass(frozen=True)
class Replacement:
    """One replaced span of the *original* text (offsets), its category and what replaced it.
    The original value is not kept."""

    start: int
    end: int
    category: str
    replacement: str
    source: str  # "métadonnées", "motif", "eds.dates"


@dataclass
class PseudoResult:
    text: str
    replacements: list[Replacement]

    @property
    def counts(self) -> dict[str, int]:
        c = Counter(r.category for r in self.replacements)
        return {k: c[k] for k in CATEGORIES if c[k]}


def _resolve(cands: list[_Cand]) -> list[_Cand]:
    """Non-overlapping spans: lower tier first (identifiers, then declared names and dates, then
    rule names), then the longest."""
    chosen: list[_Cand] = []
    taken: list[tuple[int, int]] = []
    for c in sorted(cands, key=lambda c: (c.tier, -(c.end - c.start), c.start)):
        if c.end <= c.start:
            continue
        if any(c.start < e and s < c.end for s, e in taken):
            continue
        chosen.append(c)
        taken.append((c.start, c.end))
    return sorted(chosen, key=lambda c: c.start)


def pseudonymise_text(text: str, patient: Patient, *, context: PseudoContext | None = None,
                      offset_days: int | None = None, seed: int | None = None,
                      reference_date: date | None = None, use_edsnlp: bool = True) -> PseudoResult:
    """Replace the identifiers of ``text`` (one document of ``patient``); pure apart from the
    person registry of ``context`` (undeclared names get the next tag).

    ``reference_date`` (the document's date) gives the year of a day-month date ("le 13/02");
    ``use_edsnlp=False`` uses only our regexes (no model build, for quick calls).
    """
    ctx = context or PseudoContext(patient, offset_days=offset_days, seed=seed)
    folded = fold_chars(text, lower=False)
    cands = (_metadata_candidates(text, folded, ctx) + _pattern_candidates(text)
             + _name_candidates(text, folded, ctx) + _gazetteer_candidates(text, ctx)
             + _date_candidates(text, ctx, reference_date, use_edsnlp))
    chosen = _resolve(cands)
    parts: list[str] = []
    reps: list[Replacement] = []
    pos = 0
    for c in chosen:
        repl = c.replacement
        if c.category == "NOM" and repl is None:
            repl = ctx.person_for(c.words or text[c.start:c.end].split()).tag
        parts.append(text[pos:c.start])
        parts.append(repl)
        reps.append(Replacement(c.start, c.end, c.category, repl, c.source))
        pos = c.end
    parts.append(text[pos:])
    return PseudoResult("".join(parts), reps)

