"""Audit trail: an append-only record of every access to patient data.

Who (user, role), when, which patient, which action/tool, which documents were returned, and the
outcome (``ok``, ``denied``, ``error``). Stored in the relational database (SQLite under the data
dir by default, PostgreSQL when configured). The module exposes only ``record`` and ``query``: no
update or delete path exists in the application; on SQLite, triggers reject UPDATE and DELETE.

Nothing here stores patient *text*: only identifiers (patient id, document ids).

Example::

    >>> from medassist.schemas import Role, User
    >>> record(user=User(username="u", role=Role.coder), action="code_cim10", patient_id="P001",
    ...        documents=["P001-D01"], tool="coding")                     # doctest: +SKIP
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Text, select, text

from medassist.db import engine_for
from medassist.schemas import User
from medassist.settings import get_settings

_meta = MetaData()
audit_log = Table(
    "audit_log",
    _meta,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("username", String(128), nullable=False),
    Column("role", String(32), nullable=False),
    Column("patient_id", String(64)),
    Column("action", String(64), nullable=False),
    Column("tool", String(64)),
    Column("documents", Text, nullable=False),  # JSON list of document ids
    Column("outcome", String(16), nullable=False),
    Column("detail", Text),  # short, never patient text
)

_ready: set[str] = set()


def _engine():
    settings = get_settings()
    url = settings.effective_database_url
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    eng = engine_for(url)
    if url not in _ready:
        _meta.create_all(eng)
        if eng.dialect.name == "sqlite":
            with eng.begin() as cx:
                cx.execute(text("CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit_log "
                                "BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END"))
                cx.execute(text("CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit_log "
                                "BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END"))
        _ready.add(url)
    return eng


def record(*, user: User, action: str, patient_id: str | None = None, documents: list[str] | None = None,
           tool: str | None = None, outcome: str = "ok", detail: str | None = None) -> None:
    with _engine().begin() as cx:
        cx.execute(audit_log.insert().values(
            at=datetime.now(timezone.utc), username=user.username, role=user.role.value, patient_id=patient_id,
            action=action, tool=tool, documents=json.dumps(sorted(set(documents or []))), outcome=outcome,
            detail=(detail or "")[:300] or None,
        ))


def query(*, patient_id: str | None = None, username: str | None = None, limit: int = 500) -> list[dict]:
    stmt = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if patient_id:
        stmt = stmt.where(audit_log.c.patient_id == patient_id)
    if username:
        stmt = stmt.where(audit_log.c.username == username)
    with _engine().connect() as cx:
        rows = cx.execute(stmt).mappings().all()
    out = []
    for r in rows:
        d = dict(r)
        d["at"] = d["at"].isoformat() if d["at"] else None
        d["documents"] = json.loads(d["documents"])
        out.append(d)
    return out
