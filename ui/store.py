"""What the UI itself records: exchanges per (user, patient), CIM-10 decisions and feedback.

Why here and not only in Chainlit's data layer: the embedded default (no PostgreSQL) has no
Chainlit persistence at all, yet re-opening a patient must show the previous exchanges, and the
coder's accept/reject decisions and the users' feedback must be kept for review. These tables live
in the relational database of the settings (SQLite under the data dir, or PostgreSQL), next to the
audit trail; the conversation state used by the agent itself is the LangGraph checkpointer's.

Every function is synchronous (SQLAlchemy core); the Chainlit app calls them through
``cl.make_async``.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Column, DateTime, Float, Integer, MetaData, String, Table, Text, select

from medassist.settings import Settings, get_settings

_meta = MetaData()

exchanges = Table(
    "ui_exchanges", _meta,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("username", String(128), nullable=False, index=True),
    Column("patient_id", String(64), nullable=False, index=True),
    Column("thread_id", String(200), nullable=False),
    Column("question", Text, nullable=False),
    Column("answer", Text, nullable=False),
    Column("payload", Text, nullable=False),  # JSON: mode, citations, weak_evidence, kind
)

coding_decisions = Table(
    "ui_coding_decisions", _meta,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("username", String(128), nullable=False),
    Column("patient_id", String(64), nullable=False, index=True),
    Column("thread_id", String(200)),
    Column("code", String(16), nullable=False),
    Column("label", Text),
    Column("role", String(8)),
    Column("score", Float),
    Column("decision", String(16), nullable=False),  # accepted | rejected
)

feedback = Table(
    "ui_feedback", _meta,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("username", String(128), nullable=False),
    Column("patient_id", String(64)),
    Column("thread_id", String(200)),
    Column("message_id", String(64), nullable=False),
    Column("value", Integer, nullable=False),  # 1 = useful, 0 = not useful
    Column("comment", Text),
)

_ready: set[str] = set()


def _engine(settings: Settings | None = None):
    from medassist.db import engine_for

    settings = settings or get_settings()
    url = settings.effective_database_url
    if not settings.database_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    eng = engine_for(url)
    if url not in _ready:
        _meta.create_all(eng)
        _ready.add(url)
    return eng


def _now() -> datetime:
    return datetime.now(timezone.utc)


# --------------------------------------------------------------------------- exchanges
def save_exchange(username: str, patient_id: str, thread_id: str, question: str, answer: str,
                  payload: dict[str, Any] | None = None, settings: Settings | None = None) -> None:
    with _engine(settings).begin() as cx:
        cx.execute(exchanges.insert().values(
            at=_now(), username=username, patient_id=patient_id, thread_id=thread_id, question=question,
            answer=answer, payload=json.dumps(payload or {}, ensure_ascii=False, default=str)))


def recent_exchanges(username: str, patient_id: str, limit: int = 10,
                     settings: Settings | None = None) -> list[dict[str, Any]]:
    """The user's last exchanges about this patient, oldest first."""
    stmt = (select(exchanges).where(exchanges.c.username == username, exchanges.c.patient_id == patient_id)
            .order_by(exchanges.c.id.desc()).limit(limit))
    with _engine(settings).connect() as cx:
        rows = [dict(r) for r in cx.execute(stmt).mappings().all()]
    for r in rows:
        r["payload"] = json.loads(r["payload"] or "{}")
    return list(reversed(rows))


# --------------------------------------------------------------------------- coding decisions
def record_coding_decision(username: str, patient_id: str, thread_id: str | None, suggestion: dict[str, Any],
                           decision: str, settings: Settings | None = None) -> None:
    if decision not in ("accepted", "rejected"):
        raise ValueError(f"décision inconnue : {decision}")
    with _engine(settings).begin() as cx:
        cx.execute(coding_decisions.insert().values(
            at=_now(), username=username, patient_id=patient_id, thread_id=thread_id,
            code=str(suggestion.get("code")), label=suggestion.get("label"), role=suggestion.get("role"),
            score=suggestion.get("score"), decision=decision))


def coding_decisions_for(patient_id: str, settings: Settings | None = None) -> list[dict[str, Any]]:
    stmt = select(coding_decisions).where(coding_decisions.c.patient_id == patient_id).order_by(coding_decisions.c.id)
    with _engine(settings).connect() as cx:
        return [dict(r) for r in cx.execute(stmt).mappings().all()]


# --------------------------------------------------------------------------- feedback
def record_feedback(username: str, patient_id: str | None, thread_id: str | None, message_id: str, value: int,
                    comment: str | None = None, settings: Settings | None = None) -> None:
    with _engine(settings).begin() as cx:
        cx.execute(feedback.insert().values(
            at=_now(), username=username, patient_id=patient_id, thread_id=thread_id, message_id=message_id,
            value=int(value), comment=(comment or None)))


def feedback_for(message_id: str, settings: Settings | None = None) -> list[dict[str, Any]]:
    stmt = select(feedback).where(feedback.c.message_id == message_id).order_by(feedback.c.id)
    with _engine(settings).connect() as cx:
        return [dict(r) for r in cx.execute(stmt).mappings().all()]


def feedback_of_user(username: str, limit: int = 50, settings: Settings | None = None) -> list[dict[str, Any]]:
    """A user's latest feedback, newest first."""
    stmt = select(feedback).where(feedback.c.username == username).order_by(feedback.c.id.desc()).limit(limit)
    with _engine(settings).connect() as cx:
        return [dict(r) for r in cx.execute(stmt).mappings().all()]
