"""Document store: patients, documents' extracted text and content hashes, in SQL.

The vector store answers "which passages"; this store answers "what exactly does document D say"
(the full extracted text every citation offset points into), "which patients exist", and "has
this file changed since it was indexed" (content hash). SQLite under the data dir by default,
PostgreSQL when ``MEDASSIST_DATABASE_URL`` is set — same SQLAlchemy Core code.

The document row is written **last** during ingestion, after its chunks are in the vector store:
a crash in between leaves a stale or missing hash, so the next ingest redoes that document, and a
reader never sees a document whose chunks are missing.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from functools import lru_cache

from sqlalchemy import (
    Column, DateTime, Integer, MetaData, String, Table, Text, create_engine, delete, event, select,
)
from sqlalchemy.engine import Engine

from medassist.schemas import Corpus, DocumentMeta, Patient
from medassist.settings import Settings

metadata = MetaData()

patients = Table(
    "patients",
    metadata,
    Column("patient_id", String(64), primary_key=True),
    Column("data", Text, nullable=False),  # patient.json, validated
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

documents = Table(
    "documents",
    metadata,
    Column("corpus", String(16), primary_key=True),
    Column("patient_key", String(64), primary_key=True),  # patient id, "" for procedures
    Column("doc_id", String(128), primary_key=True),
    Column("title", Text, nullable=False),
    Column("doc_type", String(64), nullable=False),
    Column("date", String(10)),
    Column("author", Text),
    Column("stay_id", String(32)),
    Column("source_name", Text, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("text", Text, nullable=False),
    Column("blocks", Text, nullable=False),  # JSON [[start, end, page], …]
    Column("pages", Integer, nullable=False),
    Column("chunks", Integer, nullable=False),
    Column("ingested_at", DateTime(timezone=True), nullable=False),
)


def sqlalchemy_url(url: str) -> str:
    """``postgresql://`` (the form libpq and the LangGraph checkpointer take) -> psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


@lru_cache(maxsize=4)
def engine_for(url: str) -> Engine:
    eng = create_engine(sqlalchemy_url(url), future=True, pool_pre_ping=True)
    if url.startswith("sqlite"):
        @event.listens_for(eng, "connect")
        def _pragmas(dbapi_conn, _):  # WAL: readers (UI) and one writer (ingest) coexist
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=5000")
            cur.close()
    metadata.create_all(eng)
    return eng


class DocStore:
    def __init__(self, settings: Settings):
        settings.ensure_dirs()
        self.engine = engine_for(settings.effective_database_url)

    # ---------------------------------------------------------------- patients
    def upsert_patient(self, patient: Patient) -> None:
        now = datetime.now(timezone.utc)
        with self.engine.begin() as cx:
            cx.execute(delete(patients).where(patients.c.patient_id == patient.id))
            cx.execute(patients.insert().values(patient_id=patient.id, data=patient.model_dump_json(), updated_at=now))

    def has_patient(self, patient_id: str) -> bool:
        """Existence only (every search checks it: no record to load and validate)."""
        with self.engine.connect() as cx:
            return cx.execute(select(patients.c.patient_id).where(patients.c.patient_id == patient_id)).first() is not None

    def get_patient(self, patient_id: str) -> Patient | None:
        with self.engine.connect() as cx:
            row = cx.execute(select(patients.c.data).where(patients.c.patient_id == patient_id)).first()
        return Patient.model_validate_json(row[0]) if row else None

    def list_patients(self) -> list[Patient]:
        with self.engine.connect() as cx:
            rows = cx.execute(select(patients.c.data).order_by(patients.c.patient_id)).all()
        return [Patient.model_validate_json(r[0]) for r in rows]

    def delete_patient(self, patient_id: str) -> None:
        with self.engine.begin() as cx:
            cx.execute(delete(documents).where(documents.c.corpus == Corpus.patients.value,
                                               documents.c.patient_key == patient_id))
            cx.execute(delete(patients).where(patients.c.patient_id == patient_id))

    # ---------------------------------------------------------------- documents
    def content_hash(self, corpus: Corpus, patient_id: str | None, doc_id: str) -> str | None:
        with self.engine.connect() as cx:
            row = cx.execute(select(documents.c.content_hash).where(*self._key(corpus, patient_id, doc_id))).first()
        return row[0] if row else None

    @staticmethod
    def _key(corpus: Corpus, patient_id: str | None, doc_id: str | None = None):
        conds = [documents.c.corpus == corpus.value, documents.c.patient_key == (patient_id or "")]
        if doc_id is not None:
            conds.append(documents.c.doc_id == doc_id)
        return conds

    def put_document(self, corpus: Corpus, patient_id: str | None, meta: DocumentMeta, *, source_name: str,
                     content_hash: str, text: str, blocks: list[tuple[int, int, int | None]], pages: int,
                     chunks: int) -> None:
        row = dict(
            corpus=corpus.value, patient_key=patient_id or "", doc_id=meta.id, title=meta.title, doc_type=meta.type,
            date=meta.date.isoformat() if meta.date else None, author=meta.author, stay_id=meta.stay_id,
            source_name=source_name, content_hash=content_hash, text=text, blocks=json.dumps(blocks), pages=pages,
            chunks=chunks, ingested_at=datetime.now(timezone.utc),
        )
        with self.engine.begin() as cx:
            cx.execute(delete(documents).where(*self._key(corpus, patient_id, meta.id)))
            cx.execute(documents.insert().values(**row))

    def delete_document(self, corpus: Corpus, patient_id: str | None, doc_id: str) -> bool:
        with self.engine.begin() as cx:
            return cx.execute(delete(documents).where(*self._key(corpus, patient_id, doc_id))).rowcount > 0

    def get_document(self, corpus: Corpus, patient_id: str | None, doc_id: str) -> dict | None:
        with self.engine.connect() as cx:
            row = cx.execute(select(documents).where(*self._key(corpus, patient_id, doc_id))).mappings().first()
        return dict(row) if row else None

    def document_texts(self, corpus: Corpus, patient_id: str | None) -> list[tuple[str, str]]:
        """``(doc_id, text)`` of one patient's documents (or the procedures), nothing else."""
        with self.engine.connect() as cx:
            return [tuple(r) for r in cx.execute(select(documents.c.doc_id, documents.c.text)
                                                 .where(*self._key(corpus, patient_id)))]

    def list_documents(self, corpus: Corpus, patient_id: str | None) -> list[dict]:
        """Documents of one patient (or the procedures), oldest first, text included."""
        with self.engine.connect() as cx:
            rows = cx.execute(
                select(documents).where(*self._key(corpus, patient_id)).order_by(documents.c.date, documents.c.doc_id)
            ).mappings().all()
        return [dict(r) for r in rows]
