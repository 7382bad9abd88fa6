"""Chainlit persistence: threads, steps, feedback and elements in the settings' database.

Chainlit 2.12's ``SQLAlchemyDataLayer`` is used as-is, over

* PostgreSQL when ``settings.database_url`` is a PostgreSQL URL (async psycopg 3 driver, the one
  already used by the rest of the application: no asyncpg needed);
* otherwise an SQLite file ``<data_dir>/ui_chainlit.sqlite`` (aiosqlite). This works for our app
  because its steps carry no list-typed ``tags`` (the LangChain callback handler's steps do, and
  those fail on SQLite: we do not use it).

Chainlit does not create the schema of that data layer: :func:`ensure_schema` does, with the
columns derived from Chainlit's own ``StepDict`` / ``ElementDict`` (a column missing from the
table would make every insert fail after a Chainlit upgrade; deriving them keeps both in step).

Elements (citation passages, DOCX files) are persisted by :class:`LocalStorageClient` under
``<data_dir>/ui_files``; they are served back by :func:`register_file_route` at
``/medassist/files/<key>`` only to the authenticated user who owns them (the key starts with the
persisted user's id).
"""

from __future__ import annotations

import asyncio
import json
import mimetypes
import re
from pathlib import Path
from typing import Any, get_type_hints

from medassist.db import is_postgres_url, psycopg_url
from medassist.settings import Settings

FILES_ROUTE = "/medassist/files"


def async_url(settings: Settings) -> str:
    """The async SQLAlchemy URL of the Chainlit tables."""
    if is_postgres_url(settings.database_url):
        return psycopg_url(settings.database_url)
    return f"sqlite+aiosqlite:///{settings.data_dir / 'ui_chainlit.sqlite'}"


# --------------------------------------------------------------------------- schema
def _columns(typed_dict: type, pg: bool, overrides: dict[str, str], exclude: frozenset[str] = frozenset()) -> list[str]:
    """``"name" TYPE`` for every key of a Chainlit TypedDict (types: PostgreSQL or SQLite)."""
    hints = get_type_hints(typed_dict)
    cols = []
    for name, hint in hints.items():
        if name in exclude:
            continue
        if name in overrides:
            typ = overrides[name]
        else:
            h = str(hint)
            if "bool" in h:
                typ = "BOOLEAN"
            elif "int" in h and "Dict" not in h:
                typ = "INT"
            elif "Dict" in h or "dict" in h:
                typ = "JSONB" if pg else "TEXT"
            else:
                typ = "TEXT"
        cols.append(f'"{name}" {typ}')
    return cols


def schema_statements(pg: bool) -> list[str]:
    """CREATE TABLE IF NOT EXISTS statements of the Chainlit tables, plus columns to add."""
    from chainlit.element import ElementDict
    from chainlit.step import StepDict

    uuid = "UUID" if pg else "TEXT"
    json_t = "JSONB" if pg else "TEXT"
    arr = "TEXT[]" if pg else "TEXT"
    step_cols = _columns(StepDict, pg, {
        "id": f"{uuid} PRIMARY KEY", "threadId": f"{uuid} NOT NULL", "parentId": uuid, "name": "TEXT NOT NULL",
        "type": "TEXT NOT NULL", "streaming": "BOOLEAN NOT NULL", "tags": arr, "metadata": json_t,
        "generation": json_t, "showInput": "TEXT", "modes": json_t,
    }, exclude=frozenset({"feedback"}))  # feedback lives in its own table
    element_cols = _columns(ElementDict, pg, {
        "id": f"{uuid} PRIMARY KEY", "threadId": uuid, "props": json_t, "playerConfig": json_t, "forId": uuid,
        "page": "INT", "autoPlay": "BOOLEAN",
    })
    return [
        f'CREATE TABLE IF NOT EXISTS users ("id" {uuid} PRIMARY KEY, "identifier" TEXT NOT NULL UNIQUE, '
        f'"metadata" {json_t} NOT NULL, "createdAt" TEXT)',
        f'CREATE TABLE IF NOT EXISTS threads ("id" {uuid} PRIMARY KEY, "createdAt" TEXT, "name" TEXT, '
        f'"userId" {uuid}, "userIdentifier" TEXT, "tags" {arr}, "metadata" {json_t}, '
        f'FOREIGN KEY ("userId") REFERENCES users("id") ON DELETE CASCADE)',
        f'CREATE TABLE IF NOT EXISTS steps ({", ".join(step_cols)}, '
        f'FOREIGN KEY ("threadId") REFERENCES threads("id") ON DELETE CASCADE)',
        f'CREATE TABLE IF NOT EXISTS elements ({", ".join(element_cols)}, '
        f'FOREIGN KEY ("threadId") REFERENCES threads("id") ON DELETE CASCADE)',
        f'CREATE TABLE IF NOT EXISTS feedbacks ("id" {uuid} PRIMARY KEY, "forId" {uuid} NOT NULL, '
        f'"threadId" {uuid} NOT NULL, "value" INT NOT NULL, "comment" TEXT, '
        f'FOREIGN KEY ("threadId") REFERENCES threads("id") ON DELETE CASCADE)',
    ]


def _column_defs(stmt: str) -> dict[str, str]:
    body = stmt[stmt.index("(") + 1: stmt.rindex(")")]
    out = {}
    for part in re.split(r",\s*(?=\"|FOREIGN)", body):
        m = re.match(r'"(\w+)"\s+(.+)', part.strip())
        if m and "FOREIGN KEY" not in part:
            out[m.group(1)] = m.group(2).split(",")[0].replace("PRIMARY KEY", "").replace("NOT NULL", "").strip()
    return out


async def ensure_schema(engine) -> None:
    """Create the tables (idempotent) and add the columns a newer Chainlit expects."""
    from sqlalchemy import inspect, text

    pg = engine.dialect.name == "postgresql"
    stmts = schema_statements(pg)
    async with engine.begin() as cx:
        for stmt in stmts:
            await cx.execute(text(stmt))
        for stmt in stmts:
            table = stmt.split("EXISTS ")[1].split(" ")[0]
            existing = await cx.run_sync(lambda sync_cx, t=table: {c["name"] for c in inspect(sync_cx).get_columns(t)})
            for col, typ in _column_defs(stmt).items():
                if col not in existing:
                    await cx.execute(text(f'ALTER TABLE {table} ADD COLUMN "{col}" {typ}'))


# --------------------------------------------------------------------------- element storage
class LocalStorageClient:
    """Element files on the local disk (Chainlit ``BaseStorageClient`` protocol)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path_for(self, object_key: str) -> Path:
        p = (self.root / object_key).resolve()
        if self.root.resolve() not in p.parents:
            raise ValueError("clé d'objet invalide")
        return p

    async def upload_file(self, object_key: str, data: bytes | str, mime: str = "application/octet-stream",
                          overwrite: bool = True, content_disposition: str | None = None) -> dict[str, Any]:
        p = self.path_for(object_key)
        if p.exists() and not overwrite:
            return {"object_key": object_key, "url": await self.get_read_url(object_key)}
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        return {"object_key": object_key, "url": await self.get_read_url(object_key)}

    async def delete_file(self, object_key: str) -> bool:
        p = self.path_for(object_key)
        if p.exists():
            p.unlink()
            return True
        return False

    async def get_read_url(self, object_key: str) -> str:
        return f"{FILES_ROUTE}/{object_key}"

    async def close(self) -> None:
        return None


def _storage_base():
    from chainlit.data.storage_clients.base import BaseStorageClient

    return BaseStorageClient


def make_storage(settings: Settings):
    base = _storage_base()
    cls = type("MedassistLocalStorage", (LocalStorageClient, base), {})
    return cls(settings.data_dir / "ui_files")


def _layer_class():
    from chainlit.data.sql_alchemy import SQLAlchemyDataLayer

    class MedassistDataLayer(SQLAlchemyDataLayer):
        """Chainlit's layer; on SQLite its statements are serialised (one writer at a time:
        concurrent transactions of the same process would otherwise fail with "database is
        locked" while the event loop is busy)."""

        _sqlite_lock: asyncio.Lock | None = None

        async def execute_sql(self, query: str, parameters: dict):
            if self.engine.dialect.name != "sqlite":
                return await super().execute_sql(query, parameters)
            if self._sqlite_lock is None:
                self._sqlite_lock = asyncio.Lock()
            async with self._sqlite_lock:
                return await super().execute_sql(query, parameters)

        async def get_thread(self, thread_id: str):
            # SQLite returns JSON columns as text: decode them as PostgreSQL's JSONB would be
            return decode_json_fields(await super().get_thread(thread_id))

    return MedassistDataLayer


def _maybe_json(value):
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def decode_json_fields(thread):
    """Thread metadata, step metadata/generation and element props as objects, not JSON text
    (custom elements read ``props.label``; a string there renders an empty banner)."""
    if not thread:
        return thread
    thread["metadata"] = _maybe_json(thread.get("metadata"))
    for step in thread.get("steps") or []:
        for key in ("metadata", "generation"):
            if key in step:
                step[key] = _maybe_json(step[key])
    for element in thread.get("elements") or []:
        if "props" in element:
            element["props"] = _maybe_json(element["props"])
    return thread


def build_data_layer(settings: Settings):
    """The SQLAlchemy data layer over the settings' database, with local element storage."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    storage = make_storage(settings)
    layer = _layer_class()(conninfo=async_url(settings), storage_provider=storage)
    if layer.engine.dialect.name == "sqlite":
        from sqlalchemy import event

        @event.listens_for(layer.engine.sync_engine, "connect")
        def _pragmas(dbapi_conn, _):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

    return layer


def ensure_schema_sync(settings: Settings) -> None:
    """Create the Chainlit tables before the server starts (own event loop, own engine)."""

    from sqlalchemy.ext.asyncio import create_async_engine

    async def run() -> None:
        engine = create_async_engine(async_url(settings))
        try:
            await ensure_schema(engine)
        finally:
            await engine.dispose()

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    run_blocking(run())


def run_blocking(coro):
    """Run a coroutine to completion from synchronous code, even when the calling thread already
    runs an event loop (then in a worker thread with its own loop)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def register_file_route(app, storage: LocalStorageClient) -> None:
    """Serve persisted element files to their owner only (inserted before Chainlit's catch-all)."""
    from chainlit.auth import get_current_user
    from fastapi import Depends, HTTPException
    from fastapi.responses import FileResponse
    from starlette.routing import Match

    async def serve(object_key: str, current_user=Depends(get_current_user)):
        if current_user is None:
            raise HTTPException(status_code=401, detail="Authentification requise.")
        owner = object_key.split("/", 1)[0]
        if owner != str(getattr(current_user, "id", "")):
            raise HTTPException(status_code=403, detail="Accès refusé.")
        try:
            path = storage.path_for(object_key)
        except ValueError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from exc
        if not path.is_file():
            raise HTTPException(status_code=404, detail="Fichier introuvable.")
        return FileResponse(path, media_type=mimetypes.guess_type(path.name)[0] or "application/octet-stream")

    path = FILES_ROUTE + "/{object_key:path}"
    if any(getattr(r, "path", None) == path for r in app.router.routes):
        return
    app.add_api_route(path, serve, methods=["GET"])
    route = app.router.routes.pop()
    app.router.routes.insert(0, route)
    assert route.matches({"type": "http", "path": FILES_ROUTE + "/x", "method": "GET"})[0] != Match.NONE
