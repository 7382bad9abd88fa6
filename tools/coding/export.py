"""Export of a stay's validated CIM-10 codes: a RUM-like CSV row and JSON, checked against ATIH rules.

Why: the DIM (département d'information médicale) sends the validated diagnoses of each stay to the
PMSI grouping software as a RUM (résumé d'unité médicale). We do not write the fixed-width RUM
format (it also needs CCAM acts, modes of entry and exit, the unit's number...), but the diagnostic
part of it — stay, DP, DR, DAS, dates — as a CSV row and as JSON that a DIM tool can import, after
the same ATIH position checks the grouping software applies:

* DP: codable and ATIH type 0 (no restriction);
* DR (diagnostic relié): type 0 or 4, and only meaningful with a DP of chapter XXI (Z codes, e.g.
  Z51.1 chemotherapy session → DR = the cancer treated); proposed automatically in that case from
  the first cancer (C00–D48 malignant) or other eligible DAS;
* DAS: codable (type ≠ 3), no duplicates, not equal to the DP or the DR.

Example::

    >>> stay = ValidatedStay(stay_id="S2", patient_id="P010", entry_date="2026-03-02",
    ...                      exit_date="2026-03-02", dp="Z51.1", dr="C34.1", das=["C77.1"])
    >>> print(to_rum_csv([stay]).strip())
    stay_id;patient_id;entry_date;exit_date;dp;dr;das
    S2;P010;2026-03-02;2026-03-02;Z51.1;C34.1;C77.1

Limits: not the ATIH fixed-width RUM (no acts, no units, no severity levels); the DR proposal
covers sessions and Z codes only, the coder can always set it by hand.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable

from pydantic import BaseModel, Field, field_validator, model_validator

from knowledge.cim10 import dot, get_catalogue

from .schemas import CodingResult

__all__ = ["ValidatedStay", "to_json", "to_rum_csv", "validated_stay"]

CSV_FIELDS = ("stay_id", "patient_id", "entry_date", "exit_date", "dp", "dr", "das")


class ValidatedStay(BaseModel):
    """The diagnoses a coder validated for one stay (dotted codes)."""

    stay_id: str
    patient_id: str | None = None
    entry_date: str | None = Field(default=None, description="AAAA-MM-JJ")
    exit_date: str | None = Field(default=None, description="AAAA-MM-JJ")
    dp: str
    dr: str | None = None
    das: list[str] = Field(default_factory=list)

    @field_validator("dp", "dr")
    @classmethod
    def _dotted(cls, v: str | None) -> str | None:
        return dot(v) if v else v

    @field_validator("das")
    @classmethod
    def _dotted_list(cls, v: list[str]) -> list[str]:
        return [dot(c) for c in v]

    @model_validator(mode="after")
    def _atih_positions(self) -> ValidatedStay:
        cat = get_catalogue()
        if not cat.dp_allowed(self.dp):
            kind = f"type ATIH {cat[self.dp].type}" if self.dp in cat else "code inconnu"
            raise ValueError(f"DP {self.dp} non autorisé en diagnostic principal ({kind}).")
        if self.dr is not None:
            if self.dr not in cat or cat[self.dr].type not in (0, 4):
                raise ValueError(f"DR {self.dr} non autorisé en diagnostic relié.")
        seen = {self.dp, self.dr}
        das = []
        for c in self.das:
            if not cat.das_allowed(c):
                raise ValueError(f"DAS {c} non codable ou inconnu.")
            if c not in seen:
                das.append(c)
                seen.add(c)
        self.das = das
        return self


def _proposed_dr(dp: str, das: list[str]) -> str | None:
    """DR for a Z-code DP (session, follow-up): the first malignant tumour among the DAS, else the
    first DR-eligible DAS; ``None`` for any other DP (the DR is then empty)."""
    if not dp.startswith("Z"):
        return None
    cat = get_catalogue()
    eligible = [c for c in das if c in cat and cat[c].type in (0, 4)]
    cancer = [c for c in eligible if c.startswith("C") or c[:3] in {f"D0{i}" for i in range(10)}]
    return (cancer or eligible or [None])[0]


def validated_stay(result: CodingResult, *, stay_id: str, patient_id: str | None = None,
                   entry_date: str | None = None, exit_date: str | None = None,
                   codes: Iterable[str] | None = None, include_to_review: bool = False,
                   dr: str | None = None) -> ValidatedStay:
    """The stay's validated codes from a :class:`CodingResult`.

    ``codes``: the codes the coder kept (default: every suggestion, without those flagged
    « à vérifier » unless ``include_to_review``). The DP is the result's DP when kept, else the
    first kept DP-eligible code; ``dr`` defaults to :func:`_proposed_dr`. Raises ``ValueError``
    (French) when no DP can be chosen or a position is forbidden by the ATIH."""
    kept = [dot(c) for c in codes] if codes is not None else [
        s.code for s in result.suggestions if include_to_review or not s.to_review or s.role == "DP"]
    cat = get_catalogue()
    dp = result.dp.code if result.dp is not None and result.dp.code in kept else None
    if dp is None:
        dp = next((c for c in kept if cat.dp_allowed(c)), None)
    if dp is None:
        raise ValueError("Aucun code validé n'est autorisé en diagnostic principal : export impossible.")
    das = [c for c in kept if c != dp]
    dr = dot(dr) if dr else _proposed_dr(dp, das)
    return ValidatedStay(stay_id=stay_id, patient_id=patient_id, entry_date=entry_date, exit_date=exit_date,
                         dp=dp, dr=dr, das=[c for c in das if c != dr])


def to_rum_csv(stays: Iterable[ValidatedStay], *, das_separator: str = "|") -> str:
    """One row per stay, ``;``-separated (French spreadsheets), DAS joined by ``das_separator``."""
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=";", lineterminator="\n")
    w.writerow(CSV_FIELDS)
    for s in stays:
        w.writerow([s.stay_id, s.patient_id or "", s.entry_date or "", s.exit_date or "", s.dp, s.dr or "",
                    das_separator.join(s.das)])
    return buf.getvalue()


def to_json(stays: Iterable[ValidatedStay]) -> str:
    """JSON list of stays (``ValidatedStay`` fields), UTF-8, indented."""
    return json.dumps([s.model_dump() for s in stays], ensure_ascii=False, indent=1)
