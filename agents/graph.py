"""The agent graph: a LangGraph ``StateGraph`` over :class:`AgentState`, run with a :class:`Context`.

::

    START → understand ─┬─ question / procedure_question → retrieve → compose → verify → finalize → END
                        ├─ code / draft_*  → call_tools ─┬─ draft → review (interrupt) → finalize
                        │                                └─ coding / refusal / error → finalize
                        └─ refusal / error → finalize

Serves the three roles; what each may do is enforced by the tools (:mod:`medassist.access`), not
by the graph. ``review`` pauses the run with :func:`langgraph.types.interrupt`; the caller resumes
it with ``Command(resume={"action": "validate" | "edit" | "reject", "sections": [...]})`` (see
:func:`agents.runner.resume`). A checkpointer is required for that pause and for the
conversation memory (:mod:`agents.checkpoint`).

Example::

    >>> from langgraph.checkpoint.memory import InMemorySaver
    >>> g = build_graph(checkpointer=InMemorySaver())
    >>> sorted(n for n in g.get_graph().nodes if not n.startswith("__"))
    ['call_tools', 'compose', 'finalize', 'retrieve', 'review', 'understand', 'verify']
"""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph

from agents import nodes
from agents.configuration import Context
from agents.state import AgentState


def after_understand(state: AgentState) -> str:
    if state.get("refused") or state.get("error"):
        return "finalize"
    if state.get("intent") in ("question", "procedure_question"):
        return "retrieve"
    return "call_tools"


def after_retrieve(state: AgentState) -> str:
    return "finalize" if state.get("refused") or state.get("error") else "compose"


def after_tools(state: AgentState) -> str:
    if state.get("draft") and state.get("draft_status") == "pending" and not (state.get("refused") or state.get("error")):
        return "review"
    return "finalize"


def build_graph(checkpointer: Any = None, *, name: str = "medassist"):
    """Compile the graph (``checkpointer`` needed for interrupts and memory)."""
    b = StateGraph(AgentState, context_schema=Context)
    b.add_node("understand", nodes.understand)
    b.add_node("retrieve", nodes.retrieve)
    b.add_node("compose", nodes.compose)
    b.add_node("verify", nodes.verify)
    b.add_node("call_tools", nodes.call_tools)
    b.add_node("review", nodes.review)
    b.add_node("finalize", nodes.finalize)
    b.add_edge(START, "understand")
    b.add_conditional_edges("understand", after_understand, ["retrieve", "call_tools", "finalize"])
    b.add_conditional_edges("retrieve", after_retrieve, ["compose", "finalize"])
    b.add_edge("compose", "verify")
    b.add_edge("verify", "finalize")
    b.add_conditional_edges("call_tools", after_tools, ["review", "finalize"])
    b.add_edge("review", "finalize")
    b.add_edge("finalize", END)
    return b.compile(checkpointer=checkpointer, name=name)
