"""The fail-closed second pass: re-scan an *output* text for what must not be there.

    >>> from medassist.schemas import Patient
    >>> p = Patient.model_validate({"id": "P9", "identity": {"first_name": "Jean", "last_name": "DUPONT",
    ...     "sex": "M", "birth_date": "1948-03-12", "ipp": "80012345"}, "gp": {"name": "Dr Anne MOREL"}})
    >>> [r.category for r in scan_residuals("Revu M. DUPONT, IPP 80012345.", PseudoContext(p, offset_days=5))]
    ['NOM', 'IPP']

Limits: it reports positions and categories, never values; it accepts false alarms (fail closed).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from datetime import date

from knowledge.dates import MONTHS
from knowledge.french import fold_chars
from tools.pseudonymise.context import PseudoContext
from tools.pseudonymise.dates import DATE_WORDS_RE, _words_date
from tools.pseudonymise.names import _gazetteer_candidates, _word_alt, compound_parts
from tools.pseudonymise.patterns import (
    _TITLE_BEFORE,
    EMAIL_RE,
    IPP_RE,
    NIR_RE,
    PHONE_RE,
    _common_word,
    _email_regex,
    _is_title_case,
    _number_regex,
    _pattern_candidates,
    _phone_regex,
    _sentence_start,
)


@dataclass(frozen=True)
class Residual:
    """An identifier still present after pseudonymisation: where, what kind — never its value."""

    doc: str
    category: str
    position: int


def _date_forms(d: date) -> list[str]:
    return [f"{d.day:02d}/{d.month:02d}/{d.year}", f"{d.day}/{d.month}/{d.year}", d.isoformat(),
            f"{d.day:02d}.{d.month:02d}.{d.year}", f"{d.day:02d}-{d.month:02d}-{d.year}",
            f"{'1er' if d.day == 1 else d.day} {MONTHS[d.month - 1]} {d.year}"]


def scan_residuals(text: str, ctx: PseudoContext, doc: str = "") -> list[Residual]:
    """Second pass over an *output* text: original metadata values and identifier patterns left.

    Stricter than the first pass (it accepts false alarms): every upper-case or Title-case
    occurrence of a declared first name or surname or of a part of a compound one, a lower-case one
    that is not a common French word, every declared phone / IPP / NIR / RPPS / e-mail (digits
    normalised, e-mails de-obfuscated) / street / postcode, the exact birth date in its usual forms
    and in words; and the same detectors as the first pass: any phone, NIR, 8-digit, e-mail (plain
    or obfuscated), hospital, street, hamlet, commune of residence, and any name the gazetteer and
    role rules recognise.
    """
    found: set[tuple[str, int]] = set()
    folded = fold_chars(text, lower=False)
    for person in ctx.persons:
        if not person.declared:
            continue
        for _kind, names in (("last", person.last_names), ("first", person.first_names)):
            alts = {_word_alt(n) for n in names} | {re.escape(fold_chars(p, lower=False))
                                                   for n in names for p in compound_parts(n)}
            for alt in alts:
                for m in re.finditer(r"(?<![\w\[])" + alt + r"(?![\w\]])", folded, re.IGNORECASE):
                    orig = text[m.start():m.end()]
                    cue = bool(_TITLE_BEFORE.search(text[max(0, m.start() - 16):m.start()]))
                    if orig.islower() and not cue and (_common_word(orig) or len(orig) < 3):
                        continue
                    if _is_title_case(orig) and not cue and _sentence_start(text, m.start()) and _common_word(orig):
                        continue  # "Petit épanchement." (same ambiguity rule as the first pass)
                    found.add(("NOM", m.start()))
    for phone in ctx.phones():
        found.update(("TEL", m.start()) for m in re.finditer(_phone_regex(phone), text))
    for cat, digits in ctx.numbers():
        found.update((cat, m.start()) for m in re.finditer(_number_regex(cat, digits), text))
    for email in ctx.emails():
        found.update(("EMAIL", m.start()) for m in re.finditer(_email_regex(email), text, re.IGNORECASE))
    for street in ctx.streets():
        pat = r"(?<!\w)" + r"\s*,?\s+".join(re.escape(fold_chars(w, lower=False)) for w in street.split()) + r"(?!\w)"
        found.update(("ADRESSE", m.start()) for m in re.finditer(pat, folded, re.IGNORECASE))
    for pc in ctx.postcodes():
        found.update(("ADRESSE", m.start()) for m in re.finditer(rf"(?<!\d){pc}(?!\d)", text))
    for form in _date_forms(ctx.patient.identity.birth_date):
        found.update(("DATE", m.start()) for m in re.finditer(r"(?<!\d)" + re.escape(form) + r"(?!\d)", text,
                                                               re.IGNORECASE))
    birth = ctx.patient.identity.birth_date
    found.update(("DATE", m.start()) for m in DATE_WORDS_RE.finditer(text) if _words_date(m) == birth)
    for rx, cat in ((PHONE_RE, "TEL"), (NIR_RE, "NIR"), (EMAIL_RE, "EMAIL"), (IPP_RE, "IPP")):
        found.update((cat, m.start()) for m in rx.finditer(text))
    # the first pass's own detectors, run again on the output: whatever they still see is a leak
    for c in _pattern_candidates(text):
        if c.category in ("TEL", "NIR", "EMAIL", "ADRESSE", "HOPITAL"):
            found.add((c.category, c.start))
    probe = copy.copy(ctx)
    probe.learned_surnames = set(ctx.learned_surnames)  # the probe must not teach the export anything
    found.update(("NOM", c.start) for c in _gazetteer_candidates(text, probe))
    return [Residual(doc, c, p) for c, p in sorted(found, key=lambda x: (x[1], x[0]))]
