"""Tool schemas offered to a capable model, and their mapping to intents.

The model only *chooses* a tool and writes its arguments (a search query, the wording of an
appointment request, a stay id). The graph executes the real tools (:mod:`tools.search`,
:mod:`tools.coding`, :mod:`tools.drafting`) itself, with the user and the patient taken from the
run context. No schema has a patient argument, and any extra argument the model invents is
dropped: a prompt, or a sentence inside a retrieved document, cannot widen the scope.

Example::

    >>> sorted(TOOL_TO_INTENT)[:2]
    ['draft_appointment', 'draft_discharge']
    >>> clean_args("search_record", {"requete": "FEVG", "patient_id": "P003"})
    {'requete': 'FEVG'}
"""

from __future__ import annotations

from typing import Any


def _fn(name: str, description: str, properties: dict[str, dict[str, str]], required: list[str]) -> dict:
    return {"type": "function", "function": {
        "name": name, "description": description,
        "parameters": {"type": "object", "properties": properties, "required": required,
                       "additionalProperties": False},
    }}


_QUERY = {"requete": {"type": "string", "description": "Requête de recherche en français, mots-clés médicaux."}}

TOOL_SPECS: list[dict[str, Any]] = [
    _fn("search_record", "Recherche des passages dans le dossier du patient de la conversation.", _QUERY, ["requete"]),
    _fn("search_procedures", "Recherche dans les procédures et règles de l'établissement (pas de données patient).",
        _QUERY, ["requete"]),
    _fn("suggest_codes", "Propose des codes CIM-10 (DP, DAS) pour un séjour du patient, avec leurs preuves.",
        {"sejour": {"type": "string", "description": "Identifiant du séjour (ex. S1) ; vide : dernier séjour."}}, []),
    _fn("draft_discharge", "Prépare un brouillon de lettre de liaison (courrier de sortie) à faire valider.",
        {"sejour": {"type": "string", "description": "Identifiant du séjour (ex. S1) ; vide : dernier séjour."}}, []),
    _fn("draft_appointment", "Prépare un brouillon de convocation à un rendez-vous à faire valider.",
        {"demande": {"type": "string", "description": "La demande de l'utilisateur : examen, date, consignes."}},
        ["demande"]),
    _fn("draft_summary", "Prépare une synthèse du dossier du patient à faire valider.", {}, []),
]

TOOL_TO_INTENT: dict[str, str] = {
    "search_record": "question",
    "search_procedures": "procedure_question",
    "suggest_codes": "code",
    "draft_discharge": "draft_discharge",
    "draft_appointment": "draft_appointment",
    "draft_summary": "draft_summary",
}
INTENT_TO_TOOL: dict[str, str] = {v: k for k, v in TOOL_TO_INTENT.items()}
SEARCH_TOOLS = ("search_record", "search_procedures")
_ALLOWED_ARGS = {spec["function"]["name"]: set(spec["function"]["parameters"]["properties"]) for spec in TOOL_SPECS}


def clean_args(name: str, args: dict[str, Any] | None) -> dict[str, Any]:
    """Keep only the declared arguments of tool ``name`` (strings, stripped)."""
    allowed = _ALLOWED_ARGS.get(name, set())
    return {k: str(v).strip() for k, v in (args or {}).items() if k in allowed and v is not None and str(v).strip()}


def synthesize_call(intent: str, query: str, message: str, stay_id: str | None = None) -> dict[str, Any]:
    """The tool call the deterministic router stands for (no model involved)."""
    name = INTENT_TO_TOOL[intent]
    args: dict[str, Any] = {}
    if name in SEARCH_TOOLS:
        args["requete"] = query
    elif name == "draft_appointment":
        args["demande"] = message
    elif name in ("suggest_codes", "draft_discharge") and stay_id:
        args["sejour"] = stay_id
    return {"name": name, "args": args, "id": None}
