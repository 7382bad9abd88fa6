"""Relational database helpers shared by every layer: URL forms and one engine per URL.

The same database (SQLite under the data dir by default, PostgreSQL when
``MEDASSIST_DATABASE_URL`` is set) holds the audit trail, the document store, the agent's
checkpoints and the chat's threads. Each of those speaks to it through a different client
(SQLAlchemy sync, SQLAlchemy async, libpq), and each needs the URL in its own form; this module
is the one place that knows those forms, so that the foundation (audit) need not reach up into
the retrieval layer for an engine, and the UI need not borrow a private regex from the agents.

Creating the *tables* is left to their owners (audit, docstore, UI store): an engine knows no
schema, and :func:`ensure_tables` lets each owner create its own once per engine.

Example::

    >>> is_postgres_url("postgresql+psycopg://u@db:5432/m"), is_postgres_url("sqlite:///x.db")
    (True, False)
    >>> postgres_dsn("postgresql+psycopg://u@db:5432/m")
    'postgresql://u@db:5432/m'
    >>> sqlalchemy_url("postgres://u@db/m")
    'postgresql+psycopg://u@db/m'
    >>> psycopg_url("postgresql+asyncpg://u@db/m")
    'postgresql+psycopg://u@db/m'
    >>> from sqlalchemy import Column, Integer, MetaData, Table
    >>> meta = MetaData(); _ = Table("t", meta, Column("id", Integer, primary_key=True))
    >>> eng = engine_for("sqlite://")
    >>> ensure_tables(eng, meta), ensure_tables(eng, meta)
    (True, False)
"""

from __future__ import annotations

import re
import weakref
from functools import lru_cache

from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.engine import Engine

POSTGRES_URL = re.compile(r"^postgres(?:ql)?(?:\+\w+)?://", re.I)
"""Any PostgreSQL URL, with or without a SQLAlchemy driver suffix (``postgresql+psycopg://``)."""


def is_postgres_url(url: str) -> bool:
    """Whether the settings name a PostgreSQL server (else: SQLite files under the data dir)."""
    return bool(url and POSTGRES_URL.match(url))


def postgres_dsn(url: str) -> str:
    """A libpq/psycopg DSN from a PostgreSQL URL, SQLAlchemy driver suffix removed.

    The LangGraph checkpointer opens psycopg connections itself and rejects driver suffixes."""
    return POSTGRES_URL.sub("postgresql://", url, count=1)


def psycopg_url(url: str) -> str:
    """Any PostgreSQL URL on SQLAlchemy's psycopg 3 driver, whatever driver it named.

    The chat's async data layer needs an async-capable driver; psycopg 3 is the one already
    installed (no asyncpg)."""
    return POSTGRES_URL.sub("postgresql+psycopg://", url, count=1)


def sqlalchemy_url(url: str) -> str:
    """``postgresql://`` (the form libpq and the LangGraph checkpointer take) -> psycopg 3 driver.

    A URL that already names a driver, or a SQLite URL, is kept as written."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


@lru_cache(maxsize=4)
def engine_for(url: str) -> Engine:
    """One pooled engine per URL for the whole process (audit, docstore and UI store share it).

    SQLite runs in WAL mode with a busy timeout so that readers (the UI) and one writer (an
    ingestion) coexist. Tests replacing the database file call ``engine_for.cache_clear()``."""
    eng = create_engine(sqlalchemy_url(url), future=True, pool_pre_ping=True)
    if url.startswith("sqlite"):
        @event.listens_for(eng, "connect")
        def _pragmas(dbapi_conn, _):  # WAL: readers (UI) and one writer (ingest) coexist
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=5000")
            cur.close()
    return eng


_created: weakref.WeakKeyDictionary[Engine, set[int]] = weakref.WeakKeyDictionary()


def ensure_tables(engine: Engine, metadata: MetaData) -> bool:
    """Create ``metadata``'s tables on ``engine`` once per engine; True the first time.

    Keyed by engine rather than URL: after ``engine_for.cache_clear()`` (a replaced database
    file) the next engine creates the tables again, as a fresh database needs."""
    done = _created.setdefault(engine, set())
    if id(metadata) in done:
        return False
    metadata.create_all(engine)
    done.add(id(metadata))
    return True
