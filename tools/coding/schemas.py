"""Input and output shapes of the coding tool (pydantic, JSON-serialisable as-is).

``CodingResult.model_dump()`` is the tool's JSON::

    {"suggestions": [{"code": "I50.02", "label": "...", "role": "DP", "score": 0.93, "to_review": false,
                      "evidence": [{"source": "text", "quote": "...", "start": 12, "end": 40}],
                      "chapter": "IX", "rule": "FEVG 35 % < 40 → I50.02",
                      "atih_restriction": "sans restriction (DP, DR ou DAS)",
                      "reason": "DP : diagnostic nommé dans la conclusion ...", ...}],
     "warnings": ["I48 : préciser le type de fibrillation auriculaire ..."],
     "excluded": [{"code": "I26.9", "reason": "négation", ...}]}

``score`` is the calibrated probability that the code belongs to the coder's final set
(:mod:`tools.coding.calibration`); ``to_review`` flags the suggestions under the threshold, which
are still listed. Every ``Evidence`` satisfies ``source_text[start:end] == quote`` (checked in tests).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

__all__ = ["CodeSuggestion", "CodingResult", "Evidence", "ExcludedMention", "SourceText"]


class SourceText(BaseModel):
    """One document of the stay: ``source`` is its id (e.g. ``"P001-D03"``) or ``"text"``."""

    source: str
    text: str


class Evidence(BaseModel):
    """A quote of a source, with character offsets into that source's text."""

    source: str
    quote: str
    start: int = Field(ge=0)
    end: int = Field(ge=0)


class CodeSuggestion(BaseModel):
    code: str = Field(description="Code CIM-10 avec point, codable (type ATIH ≠ 3)")
    label: str = Field(description="Libellé ATIH long")
    role: Literal["DP", "DAS"]
    score: float = Field(ge=0.0, le=1.0)
    evidence: list[Evidence]
    chapter: str = Field(description="Chapitre CIM-10 (chiffre romain)")
    atih_type: int = Field(description="Type MCO/HAD ATIH (0 = sans restriction, 1/2/4 = interdit en DP)")
    rule: str | None = Field(default=None, description="Règle de précision appliquée, en clair")
    missing_detail: str | None = Field(default=None, description="Détail manquant pour un code plus précis")
    origins: list[str] = Field(default_factory=list, description="Sources du candidat (synonyme, libellé CIM-10...)")
    history: bool = Field(default=False, description="Mentionné comme antécédent (pathologie chronique)")
    llm_verified: bool | None = Field(default=None, description="None : pas de vérification LLM")
    to_review: bool = Field(default=False, description="« à vérifier » : probabilité calibrée sous le seuil")
    atih_restriction: str = Field(default="", description="Restriction ATIH du code, en clair (type MCO)")
    reason: str | None = Field(default=None, description="Pourquoi DP ou DAS, en une phrase")


class ExcludedMention(BaseModel):
    """A mention that was found but must not be coded (negated, hypothetical, family, past...)."""

    code: str
    label: str
    reason: str
    evidence: Evidence


class CodingResult(BaseModel):
    suggestions: list[CodeSuggestion] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    excluded: list[ExcludedMention] = Field(default_factory=list)
    llm_used: bool = False

    @property
    def dp(self) -> CodeSuggestion | None:
        return next((s for s in self.suggestions if s.role == "DP"), None)

    def codes(self) -> list[str]:
        """Suggested codes in output order (DP first)."""
        return [s.code for s in self.suggestions]
