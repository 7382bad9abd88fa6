"""Optional LLM verification of extracted CIM-10 candidates: choose among them, quote, be checked.

Why: a capable model can judge which candidate is the DP better than positional rules, but it must
not invent codes nor cite text that is not there. So the model only sees the candidates, answers
with a JSON schema (``llm.with_structured_output(LlmVerdict, method="json_schema")``) that lists
chosen codes, their role and a verbatim quote, and every answer is re-checked here:

* a code that is not a candidate is ignored (warning) — the LLM never adds codes;
* a quote is located in the named source (exact, then whitespace/case-insensitive); a quote found
  nowhere is refused (warning) and the choice does not count;
* confirmed candidates get ``llm_verified=True`` and a small score boost, the others
  ``llm_verified=False`` and a lower score (they stay listed: the coder decides);
* a valid, DP-eligible DP choice becomes the DP; the former DP becomes a DAS.

Any failure of the call (network, schema, timeout) leaves the extractive result unchanged and adds
a French warning.

Example (with a scripted model; any LangChain chat model works the same way)::

    >>> from tools.coding import SourceText, suggest_codes
    >>> from tools.coding.verify import verify_with_llm
    >>> src = [SourceText(source="text", text="Motif : pneumopathie communautaire. HTA.")]
    >>> result = suggest_codes(src)
    >>> # verify_with_llm(result, src, ChatOpenAI(...))  -> CodingResult with llm_used=True

Limits: the check proves a quote exists, not that it supports the code; a small model (SmolLM2 in
the embedded mode) produces mostly refused answers — the result then degrades to extractive.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, Field

from knowledge.cim10 import dot

from .schemas import CodingResult, Evidence, SourceText

__all__ = ["LlmCodeChoice", "LlmVerdict", "build_messages", "locate_quote", "verify_with_llm"]


class LlmCodeChoice(BaseModel):
    code: str = Field(description="Code CIM-10 choisi, obligatoirement parmi les codes candidats (ex. I50.02)")
    role: Literal["DP", "DAS"] = Field(description="DP : diagnostic principal du séjour ; DAS : diagnostic associé")
    source: str = Field(description="Identifiant du document source cité")
    quote: str = Field(description="Citation exacte, mot pour mot, du document source justifiant ce code")


class LlmVerdict(BaseModel):
    choices: list[LlmCodeChoice] = Field(description="Codes retenus parmi les candidats, le DP en premier")


_SYSTEM = (
    "Tu es médecin DIM et tu vérifies un codage CIM-10 (PMSI MCO). On te donne les documents d'un séjour "
    "et une liste de codes candidats extraits automatiquement. Retiens uniquement les candidats justifiés "
    "par le texte, en indiquant un seul DP (le problème qui a motivé l'hospitalisation) et les DAS. "
    "Règles : tu ne peux choisir QUE des codes de la liste des candidats ; pour chaque code, recopie mot pour "
    "mot un passage du document qui le justifie ; n'invente aucun code ni aucune citation ; ne retiens pas un "
    "diagnostic nié, supposé ou familial."
)


def build_messages(result: CodingResult, sources: list[SourceText]) -> list[tuple[str, str]]:
    """The (role, content) messages sent to the model: documents, then candidates with their quotes."""
    docs = "\n\n".join(f"[document {s.source}]\n{s.text}" for s in sources)
    lines = []
    for s in result.suggestions:
        quotes = " | ".join(f"« {e.quote} »" for e in s.evidence[:3])
        lines.append(f"- {s.code} ({s.role} proposé) {s.label} — {quotes}")
    user = f"Documents du séjour :\n{docs}\n\nCodes candidats :\n" + "\n".join(lines)
    return [("system", _SYSTEM), ("human", user)]


def locate_quote(text: str, quote: str) -> tuple[int, int] | None:
    """Offsets of ``quote`` in ``text``: exact match, else ignoring case and runs of whitespace."""
    q = quote.strip().strip("«»\"' ")
    if not q:
        return None
    i = text.find(q)
    if i >= 0:
        return i, i + len(q)
    parts = [re.escape(p) for p in q.split()]
    if not parts:
        return None
    m = re.search(r"\s+".join(parts), text, flags=re.IGNORECASE)
    return (m.start(), m.end()) if m else None


def _as_verdict(raw: Any) -> LlmVerdict:
    if isinstance(raw, LlmVerdict):
        return raw
    if isinstance(raw, BaseModel):
        return LlmVerdict.model_validate(raw.model_dump())
    if isinstance(raw, dict) and "parsed" in raw:  # include_raw=True style
        return _as_verdict(raw["parsed"])
    return LlmVerdict.model_validate(raw)


def verify_with_llm(result: CodingResult, sources: list[SourceText], llm) -> CodingResult:
    """Re-rank/verify ``result`` with ``llm`` (LangChain chat model); see the module docstring."""
    if not result.suggestions:
        return result
    out = result.model_copy(deep=True)
    out.llm_used = True
    texts = {s.source: s.text for s in sources}
    try:
        structured = llm.with_structured_output(LlmVerdict, method="json_schema")
        verdict = _as_verdict(structured.invoke(build_messages(result, sources)))
    except Exception as exc:  # the extractive result stands on its own
        out.llm_used = False
        out.warnings.append(f"Vérification par le LLM impossible ({type(exc).__name__}) : résultat extractif seul.")
        return out

    by_code = {s.code: s for s in out.suggestions}
    confirmed: dict[str, str] = {}  # code -> role chosen by the LLM
    for ch in verdict.choices:
        code = dot(ch.code)
        sugg = by_code.get(code)
        if sugg is None:
            out.warnings.append(f"Le LLM a proposé {code}, absent des candidats extraits : ignoré.")
            continue
        src = ch.source if ch.source in texts else None
        span = locate_quote(texts[src], ch.quote) if src else None
        if span is None:  # the model may name the source wrongly: accept a quote found in any source
            for sid, t in texts.items():
                span = locate_quote(t, ch.quote)
                if span:
                    src = sid
                    break
        if span is None or src is None:
            out.warnings.append(f"Citation du LLM introuvable dans les documents pour {code} : choix ignoré.")
            continue
        a, b = span
        ev = Evidence(source=src, quote=texts[src][a:b], start=a, end=b)
        if all((e.source, e.start, e.end) != (ev.source, ev.start, ev.end) for e in sugg.evidence):
            sugg.evidence.append(ev)
        confirmed[code] = ch.role

    for s in out.suggestions:
        if s.code in confirmed:
            s.llm_verified = True
            s.score = round(min(1.0, s.score + 0.05), 3)
        else:
            s.llm_verified = False
            s.score = round(s.score * 0.6, 3)

    from knowledge.cim10 import get_catalogue

    cat = get_catalogue()
    llm_dp = next((c for c, role in confirmed.items() if role == "DP"), None)
    current_dp = out.dp
    if llm_dp is not None and (current_dp is None or current_dp.code != llm_dp):
        if cat.dp_allowed(llm_dp):
            for s in out.suggestions:
                if s.code == llm_dp:
                    s.role = "DP"
                elif s.role == "DP":
                    s.role = "DAS"
            out.warnings.append(f"DP modifié par la vérification LLM : {llm_dp}.")
        else:
            out.warnings.append(f"Le LLM propose {llm_dp} en DP, non autorisé en DP par l'ATIH : ignoré.")
    unconfirmed = [s.code for s in out.suggestions if s.llm_verified is False]
    if unconfirmed:
        out.warnings.append("Codes non confirmés par le LLM (à vérifier) : " + ", ".join(unconfirmed) + ".")
    out.suggestions.sort(key=lambda s: (s.role != "DP", -s.score, s.code))
    return out
