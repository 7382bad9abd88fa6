"""Typed state of the agent graph (what the checkpointer stores for a conversation thread).

One thread = one (user, patient) conversation. ``messages`` accumulates the dialogue (reducer
:func:`langgraph.graph.message.add_messages`); every other key describes the *current turn* and is
reset by the ``understand`` node at the start of each turn, except ``patient_id`` (fixed for the
thread) and ``last_question`` (the previous resolved question, used to rewrite follow-ups such as
"et sa posologie ?").

Only JSON-friendly values are stored (dicts, lists, strings): the checkpoint must survive a
process restart and be readable from SQLite or PostgreSQL by another process.

Example::

    >>> from langchain_core.messages import HumanMessage
    >>> s: AgentState = {"messages": [HumanMessage("Quelle FEVG ?")], "question": "Quelle FEVG ?"}
    >>> sorted(TURN_DEFAULTS)[:3]
    ['answer', 'citations', 'coding']
"""

from __future__ import annotations

from typing import Annotated, Any

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages
from typing_extensions import TypedDict


class AgentState(TypedDict, total=False):
    # ------------------------------------------------------------- conversation (kept across turns)
    messages: Annotated[list[AnyMessage], add_messages]
    patient_id: str
    last_question: str
    # ------------------------------------------------------------- current turn
    question: str  # the user's message, as typed
    resolved_question: str  # after follow-up rewriting
    intent: str  # question | procedure_question | code | draft_discharge | draft_appointment | draft_summary
    route: dict[str, Any]  # who decided the intent (router cues or model tool call)
    tool_calls: list[dict[str, Any]]  # [{"name", "args", "id"}] to execute this turn
    corpus: str  # "patients" | "procedures"
    hits: list[dict[str, Any]]  # SearchHit dumps, best first
    citations: list[dict[str, Any]]  # AnswerCitation dumps
    key_sentences: list[dict[str, Any]]
    extractive_answer: str  # always computed: the fallback when generation fails verification
    answer: str
    mode: str  # "extractive" | "generative" (may degrade to extractive within a turn)
    weak_evidence: bool
    flags: list[str]  # French warnings shown with the answer (verification, scope, evidence)
    notices: list[str]  # French notes about the mode / model server
    draft: dict[str, Any] | None
    draft_status: str | None  # pending | validated | edited | rejected
    coding: dict[str, Any] | None
    refused: bool
    error: str | None


#: Values every turn starts from (``understand`` returns them, so nothing leaks between turns).
TURN_DEFAULTS: dict[str, Any] = {
    "resolved_question": "", "intent": "question", "route": {}, "tool_calls": [], "corpus": "patients", "hits": [],
    "citations": [], "key_sentences": [], "extractive_answer": "", "answer": "", "mode": "extractive",
    "weak_evidence": False, "flags": [], "notices": [], "draft": None, "draft_status": None, "coding": None,
    "refused": False, "error": None,
}
