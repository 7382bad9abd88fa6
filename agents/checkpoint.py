"""Checkpointer factory: conversation memory that survives a restart.

* default: SQLite file ``<data_dir>/agent_checkpoints.sqlite`` (``langgraph-checkpoint-sqlite``),
  opened with ``check_same_thread=False`` so a UI thread pool can share it (the saver serialises
  access with its own lock);
* ``settings.database_url`` is a PostgreSQL URL: ``langgraph-checkpoint-postgres`` over a psycopg
  connection pool (SQLAlchemy-style URLs such as ``postgresql+psycopg://`` are accepted: see
  :func:`medassist.db.postgres_dsn`);
* ``memory=True``: in-process ``InMemorySaver`` (unit tests that need no persistence).

Threads are keyed by :func:`thread_id_for` = ``"<user>:<patient>"``: one conversation per user and
patient, so a follow-up question always resolves against the same patient.

Example::

    >>> from medassist.settings import Settings
    >>> import tempfile
    >>> h = open_checkpointer(Settings(data_dir=tempfile.mkdtemp(), database_url=""))
    >>> type(h.saver).__name__, h.backend
    ('SqliteSaver', 'sqlite')
    >>> h.close()
    >>> thread_id_for("dr.martin", "P001")
    'dr.martin:P001'

Limits: the SQLite file allows one writer at a time (fine for one UI process); several UI
processes should use PostgreSQL. Old threads are never pruned here.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any, Callable

from medassist.db import is_postgres_url, postgres_dsn
from medassist.settings import Settings, get_settings


@dataclass
class CheckpointerHandle:
    saver: Any
    backend: str  # "sqlite" | "postgres" | "memory"
    _close: Callable[[], None]

    def close(self) -> None:
        self._close()


def sqlite_checkpoint_path(settings: Settings):
    return settings.data_dir / "agent_checkpoints.sqlite"


def thread_id_for(username: str, patient_id: str) -> str:
    return f"{username}:{patient_id}"


def open_checkpointer(settings: Settings | None = None, *, memory: bool = False) -> CheckpointerHandle:
    """Open the checkpointer the settings name (see module docstring); call ``close()`` when done."""
    settings = settings or get_settings()
    if memory:
        from langgraph.checkpoint.memory import InMemorySaver

        return CheckpointerHandle(InMemorySaver(), "memory", lambda: None)
    if is_postgres_url(settings.database_url):
        from langgraph.checkpoint.postgres import PostgresSaver
        from psycopg.rows import dict_row
        from psycopg_pool import ConnectionPool

        pool = ConnectionPool(
            postgres_dsn(settings.database_url), min_size=1, max_size=8, open=True,
            kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
        )
        saver = PostgresSaver(pool)
        saver.setup()
        return CheckpointerHandle(saver, "postgres", pool.close)
    from langgraph.checkpoint.sqlite import SqliteSaver

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(sqlite_checkpoint_path(settings)), check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA busy_timeout=5000")
    saver = SqliteSaver(conn)
    saver.setup()
    return CheckpointerHandle(saver, "sqlite", conn.close)
