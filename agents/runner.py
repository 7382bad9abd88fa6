"""The agent's small API for the CLI and the UI: one call per user turn, one per draft decision.

* :func:`run_turn` runs one message in the (user, patient) thread and returns an
  :class:`AgentAnswer`; with ``stream=callback`` it streams step events, tokens and progress;
* :func:`resume` answers a pending draft validation (``{"action": "validate" | "edit" | "reject",
  "sections": [...]}``);
* :func:`thread_state` reads a thread back (history, pending validation), e.g. after a restart;
* :func:`ask_payload` is what ``medassist ask --patient ID [--user U] "question" --json`` prints.

Stream events passed to the callback (plain dicts, French labels)::

    {"type": "step", "node": "retrieve", "label": "Recherche des passages"}
    {"type": "progress", "step": "retrieve", "passages": 8, "documents": [...]}
    {"type": "token", "text": "La FEVG"}            # generative mode only, before verification
    {"type": "interrupt", "value": {...}}             # a draft awaits validation

Tokens are provisional: the verified text is ``AgentAnswer.answer``.

Example::

    >>> from medassist.access import User; from medassist.schemas import Role
    >>> ans = run_turn(User(username="dr", role=Role.clinician), "P001",
    ...                "Quelle fraction d'éjection à l'échographie ?")      # doctest: +SKIP
    >>> ans.mode, ans.citations[0].doc_id                                      # doctest: +SKIP
    ('extractive', 'P001-D03')

Limits: synchronous (the UI runs it in a worker thread: ``await asyncio.to_thread(run_turn, ...)``);
one process-wide graph per settings object; the checkpointer stays open for the process lifetime
(:func:`close` releases it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Literal

from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage
from langgraph.types import Command
from pydantic import BaseModel, Field

from agents.checkpoint import CheckpointerHandle, open_checkpointer, thread_id_for
from agents.compose import AnswerCitation
from agents.configuration import Context, resolve_context
from agents.graph import build_graph
from agents.nodes import STEP_LABELS, is_mode_notice, mode_line
from agents.text import clean_user_text
from medassist.access import User
from medassist.settings import Settings, get_settings

StreamCallback = Callable[[dict[str, Any]], None]


class AgentAnswer(BaseModel):
    """One turn's result; ``model_dump()`` is the JSON the CLI and the UI consume."""

    answer: str
    citations: list[AnswerCitation] = Field(default_factory=list)
    mode: Literal["extractive", "generative"] = "extractive"
    intent: str = "question"
    weak_evidence: bool = False
    refused: bool = False
    error: str | None = None
    flags: list[str] = Field(default_factory=list)
    notices: list[str] = Field(default_factory=list)
    draft: dict[str, Any] | None = None
    draft_status: str | None = None
    coding: dict[str, Any] | None = None
    #: pending validation request (draft review), ``None`` when the turn is complete
    interrupt: dict[str, Any] | None = None
    question: str = ""
    resolved_question: str = ""
    patient_id: str = ""
    thread_id: str = ""
    route: dict[str, Any] = Field(default_factory=dict)

    def cli_payload(self) -> dict[str, Any]:
        """``medassist ask --json``: answer, citations, mode, plus the turn's status fields."""
        keep = {"answer", "citations", "mode", "intent", "weak_evidence", "refused", "flags", "draft", "coding",
                "interrupt"}
        return self.model_dump(mode="json", include=keep)


# ------------------------------------------------------------------------------ process-wide graph
_lock = threading.Lock()
_agents: dict[str, tuple[Any, CheckpointerHandle]] = {}


def get_agent(settings: Settings | None = None):
    """The compiled graph with the checkpointer the settings name (one per data dir / database)."""
    settings = settings or get_settings()
    key = f"{settings.data_dir}|{settings.database_url}"
    with _lock:
        if key not in _agents:
            handle = open_checkpointer(settings)
            _agents[key] = (build_graph(checkpointer=handle.saver), handle)
        return _agents[key][0]


def close() -> None:
    """Release the process-wide checkpointers (tests, shutdown)."""
    with _lock:
        for _, handle in _agents.values():
            handle.close()
        _agents.clear()


# ------------------------------------------------------------------------------ turns
def _config(thread_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id}, "recursion_limit": 25}


def _drive(graph, payload, config, ctx: Context, stream: StreamCallback | None) -> None:
    if stream is None:
        graph.invoke(payload, config, context=ctx)
        return
    for mode, chunk in graph.stream(payload, config, context=ctx, stream_mode=["updates", "messages", "custom"]):
        if mode == "updates":
            for node, update in chunk.items():
                if node == "__interrupt__":
                    for it in update:
                        stream({"type": "interrupt", "value": getattr(it, "value", it)})
                else:
                    stream({"type": "step", "node": node, "label": STEP_LABELS.get(node, node)})
        elif mode == "messages":
            msg, meta = chunk
            if (isinstance(msg, (AIMessageChunk, AIMessage)) and msg.content and meta.get("langgraph_node") == "compose"
                    and "medassist:answer" in (meta.get("tags") or [])):
                stream({"type": "token", "text": msg.content if isinstance(msg.content, str) else str(msg.content)})
        elif mode == "custom":
            stream({"type": "progress", **(chunk if isinstance(chunk, dict) else {"value": chunk})})


def _answer_from_state(graph, config, thread_id: str, patient_id: str) -> AgentAnswer:
    snap = graph.get_state(config)
    v = snap.values or {}
    pending = None
    interrupts = getattr(snap, "interrupts", ()) or ()
    if interrupts:
        pending = interrupts[0].value
    mode = v.get("mode") or "extractive"
    answer = v.get("answer", "")
    if pending is not None:  # finalize has not run: state the mode here
        notices = list(dict.fromkeys(v.get("notices", [])))
        answer = "\n\n".join(p for p in [answer, *(n for n in notices if not is_mode_notice(n)),
                                          mode_line(mode, notices)] if p)
    return AgentAnswer(
        answer=answer, citations=[AnswerCitation.model_validate(c) for c in v.get("citations", [])], mode=mode,
        intent=v.get("intent", "question"), weak_evidence=bool(v.get("weak_evidence")),
        refused=bool(v.get("refused")), error=v.get("error"), flags=list(v.get("flags", [])),
        notices=list(v.get("notices", [])), draft=v.get("draft"), draft_status=v.get("draft_status"),
        coding=v.get("coding"), interrupt=pending, question=v.get("question", ""),
        resolved_question=v.get("resolved_question", ""), patient_id=v.get("patient_id", patient_id),
        thread_id=thread_id, route=v.get("route", {}),
    )


def run_turn(user: User, patient_id: str, message: str, *, thread_id: str | None = None,
             stream: StreamCallback | None = None, settings: Settings | None = None, graph=None,
             context: Context | None = None, **context_options: Any) -> AgentAnswer:
    """Run one user message in the (user, patient) thread and return the answer.

    The message is cleaned first (:func:`agents.text.clean_user_text`: NFKC, invisible format
    characters removed): "Rédige la lettre\u200b de liaison" must route like the visible text, and
    a right-to-left override must not hide words from the router or the audit.

    ``context_options`` go to :func:`agents.configuration.resolve_context` (``llm``, ``mode``,
    ``service``, ``allow_wiring_model``, ``k``, ``rank_with_llm``, ``tool_calling``, ``now``).
    """
    message = clean_user_text(message)  # zero-width and bidi characters would defeat routing and search
    settings = settings or get_settings()
    ctx = context or resolve_context(user, patient_id, settings, **context_options)
    graph = graph or get_agent(settings)
    thread_id = thread_id or thread_id_for(user.username, patient_id)
    config = _config(thread_id)
    pending = getattr(graph.get_state(config), "interrupts", ()) or ()
    if pending:  # a new message abandons the draft awaiting validation: say so, and audit it
        value = pending[0].value if isinstance(pending[0].value, dict) else {}
        ctx.notices = [*ctx.notices, "Le brouillon qui attendait votre validation a été abandonné (nouvelle demande)."]
        from medassist import audit

        audit.record(user=user, action=f"review_{value.get('kind') or 'draft'}"[:64], patient_id=patient_id,
                     tool="draft_review", outcome="abandoned")
    payload = {"messages": [HumanMessage(content=message)], "question": message}
    _drive(graph, payload, config, ctx, stream)
    return _answer_from_state(graph, config, thread_id, patient_id)


def resume(user: User, patient_id: str, decision: dict[str, Any], thread_id: str | None = None, *,
           stream: StreamCallback | None = None, settings: Settings | None = None, graph=None,
           context: Context | None = None, **context_options: Any) -> AgentAnswer:
    """Resume a thread paused on a draft validation with the user's ``decision``."""
    settings = settings or get_settings()
    ctx = context or resolve_context(user, patient_id, settings, **context_options)
    graph = graph or get_agent(settings)
    thread_id = thread_id or thread_id_for(user.username, patient_id)
    config = _config(thread_id)
    snap = graph.get_state(config)
    if not getattr(snap, "interrupts", ()):
        return AgentAnswer(answer="Aucun brouillon n'attend de validation dans cette conversation.",
                           error="no_pending_interrupt", thread_id=thread_id, patient_id=patient_id)
    if (snap.values or {}).get("patient_id") not in (None, patient_id):
        return AgentAnswer(answer="Cette conversation concerne un autre patient.", refused=True,
                           thread_id=thread_id, patient_id=patient_id)
    _drive(graph, Command(resume=decision), config, ctx, stream)
    return _answer_from_state(graph, config, thread_id, patient_id)


def thread_state(user: User, patient_id: str, thread_id: str | None = None, *, settings: Settings | None = None,
                 graph=None) -> dict[str, Any]:
    """History and pending validation of a thread: ``{"messages": [{"role", "content"}], "pending": …}``."""
    graph = graph or get_agent(settings or get_settings())
    thread_id = thread_id or thread_id_for(user.username, patient_id)
    snap = graph.get_state(_config(thread_id))
    v = snap.values or {}
    msgs = [{"role": "user" if isinstance(m, HumanMessage) else "assistant", "content": m.content}
            for m in v.get("messages", [])
            if isinstance(m, HumanMessage) or (isinstance(m, AIMessage) and not m.tool_calls)]
    interrupts = getattr(snap, "interrupts", ()) or ()
    return {"thread_id": thread_id, "patient_id": v.get("patient_id"), "messages": msgs,
            "last_question": v.get("last_question"), "pending": interrupts[0].value if interrupts else None}


def ask_payload(user: User, patient_id: str, question: str, **kw: Any) -> dict[str, Any]:
    """The JSON ``medassist ask --json`` prints (see :meth:`AgentAnswer.cli_payload`)."""
    return run_turn(user, patient_id, question, **kw).cli_payload()
