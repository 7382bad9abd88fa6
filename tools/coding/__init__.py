"""CIM-10 coding tool: deterministic, cited suggestions (DP/DAS) for a hospital stay.

Public API::

    from tools.coding import SourceText, suggest_codes
    result = suggest_codes([SourceText(source="text", text="...")], llm=None, top_k=10)
    result.model_dump()  # {"suggestions": [...], "warnings": [...], "excluded": [...]}

``label_search=None`` searches the whole ATIH catalogue densely when the embedding model is
provisioned (:mod:`tools.coding.label_index`); scores are calibrated probabilities
(:mod:`tools.coding.calibration`); :mod:`tools.coding.export` writes validated codes as a RUM-like
CSV or JSON. See :mod:`tools.coding.extract` for the method, :mod:`tools.coding.rules` for the ATIH precision
rules and :mod:`tools.coding.verify` for the optional LLM check.
"""

from .export import ValidatedStay, to_json, to_rum_csv, validated_stay
from .extract import CHRONIC_PREFIXES, LabelSearch, atih_restriction, suggest_codes
from .schemas import CodeSuggestion, CodingResult, Evidence, ExcludedMention, SourceText
from .verify import LlmCodeChoice, LlmVerdict, verify_with_llm

__all__ = [
    "CHRONIC_PREFIXES",
    "CodeSuggestion",
    "ValidatedStay",
    "atih_restriction",
    "to_json",
    "to_rum_csv",
    "validated_stay",
    "CodingResult",
    "Evidence",
    "ExcludedMention",
    "LabelSearch",
    "LlmCodeChoice",
    "LlmVerdict",
    "SourceText",
    "suggest_codes",
    "verify_with_llm",
]
