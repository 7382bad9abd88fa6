"""Document store: patients, documents' extracted text and content hashes, in SQL.

The vector store answers "which passages"; this store answers "what exactly does document D say"
(the full extracted text every citation offset points into), "which patients exist", and "has
this file changed since it was indexed" (content hash). SQLite under the data dir by default,
PostgreSQL when ``MEDASSIST_DATABASE_URL`` is set — same SQLAlchemy Core code.

The document row is written **last** during ingestion, after its chunks are in the vector store:
a crash in between leaves a stale or missing hash, so the next ingest redoes that document, and a
reader never sees a document whose chunks are missing.

Versions: a row displaced by a different content (replacement, restore) or by a deletion is first
copied into ``document_versions`` in the same transaction, numbered 1, 2, … per document; nothing
an upload or a deletion touches is lost (:meth:`DocStore.list_versions`, :meth:`DocStore.get_version`,
``RetrievalService.restore``). Deleting a whole patient erases the kept versions too.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Text, delete, func, select

from medassist.db import engine_for, ensure_tables
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

def _document_columns() -> list[Column]:
    """The columns a document row holds, for the current table and its kept versions (a Column
    belongs to one table: each table gets fresh ones)."""
    return [
        Column("title", Text, nullable=False),
        Column("doc_type", String(64), nullable=False),
        Column("date", String(10)),
        Column("author", Text),
        Column("stay_id", String(32)),
        Column("source_name", Text, nullable=False),
        Column("content_hash", String(64), nullable=False),
        Column("text", Text, nullable=False),
        Column("blocks", Text, nullable=False),  # JSON [[start, end, page, ocr], …] (ocr since INDEX_VERSION 5)
        Column("pages", Integer, nullable=False),
        Column("chunks", Integer, nullable=False),
        Column("ingested_at", DateTime(timezone=True), nullable=False),
    ]


documents = Table(
    "documents",
    metadata,
    Column("corpus", String(16), primary_key=True),
    Column("patient_key", String(64), primary_key=True),  # patient id, "" for procedures
    Column("doc_id", String(128), primary_key=True),
    *_document_columns(),
)


#: Previous versions of documents: the row a replacement, a restore or a deletion displaced. Why:
#: nothing the record held is ever lost by an upload; a replaced version can be read and restored.
document_versions = Table(
    "document_versions",
    metadata,
    Column("corpus", String(16), primary_key=True),
    Column("patient_key", String(64), primary_key=True),
    Column("doc_id", String(128), primary_key=True),
    Column("version", Integer, primary_key=True),  # 1, 2, … per document, oldest first
    *_document_columns(),
    Column("archived_at", DateTime(timezone=True), nullable=False),
    Column("reason", String(16), nullable=False),  # "replaced" | "deleted"
)
#: what makes two rows the same version (a re-index of identical content archives nothing)
_VERSION_FIELDS = ("text", "title", "doc_type", "date", "author", "stay_id")


class DocStore:
    def __init__(self, settings: Settings):
        settings.ensure_dirs()
        self.engine = engine_for(settings.effective_database_url)
        ensure_tables(self.engine, metadata)

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
        with self.engine.begin() as cx:  # the whole record, kept versions included (an erasure)
            cx.execute(delete(documents).where(documents.c.corpus == Corpus.patients.value,
                                               documents.c.patient_key == patient_id))
            cx.execute(delete(document_versions).where(document_versions.c.corpus == Corpus.patients.value,
                                                       document_versions.c.patient_key == patient_id))
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
                     content_hash: str, text: str, blocks: list[tuple], pages: int,
                     chunks: int) -> None:
        row = dict(
            corpus=corpus.value, patient_key=patient_id or "", doc_id=meta.id, title=meta.title, doc_type=meta.type,
            date=meta.date.isoformat() if meta.date else None, author=meta.author, stay_id=meta.stay_id,
            source_name=source_name, content_hash=content_hash, text=text, blocks=json.dumps(blocks), pages=pages,
            chunks=chunks, ingested_at=datetime.now(timezone.utc),
        )
        with self.engine.begin() as cx:
            old = cx.execute(select(documents).where(*self._key(corpus, patient_id, meta.id))).mappings().first()
            if old is not None and any(old[f] != row[f] for f in _VERSION_FIELDS):
                self._archive(cx, old, "replaced")
            cx.execute(delete(documents).where(*self._key(corpus, patient_id, meta.id)))
            cx.execute(documents.insert().values(**row))

    def delete_document(self, corpus: Corpus, patient_id: str | None, doc_id: str) -> bool:
        """Remove a document from the record; its last content is kept as a version (restorable)."""
        with self.engine.begin() as cx:
            old = cx.execute(select(documents).where(*self._key(corpus, patient_id, doc_id))).mappings().first()
            if old is None:
                return False
            self._archive(cx, old, "deleted")
            return cx.execute(delete(documents).where(*self._key(corpus, patient_id, doc_id))).rowcount > 0

    # ---------------------------------------------------------------- versions
    @staticmethod
    def _vkey(corpus: Corpus, patient_id: str | None, doc_id: str):
        return [document_versions.c.corpus == corpus.value, document_versions.c.patient_key == (patient_id or ""),
                document_versions.c.doc_id == doc_id]

    def _archive(self, cx, old, reason: str) -> int:
        """Copy the displaced row ``old`` into :data:`document_versions` (same transaction); its number."""
        last = cx.execute(select(func.max(document_versions.c.version)).where(
            *self._vkey(Corpus(old["corpus"]), old["patient_key"], old["doc_id"]))).scalar()
        version = (last or 0) + 1
        cx.execute(document_versions.insert().values(
            **{c.name: old[c.name] for c in documents.columns}, version=version,
            archived_at=datetime.now(timezone.utc), reason=reason))
        return version

    def list_versions(self, corpus: Corpus, patient_id: str | None, doc_id: str) -> list[dict]:
        """Kept versions of one document, oldest first: number, sizes, dates, why it was displaced
        (no text: :meth:`get_version` reads one)."""
        v = document_versions.c
        with self.engine.connect() as cx:
            rows = cx.execute(select(
                v.version, v.source_name, v.title, v.date, v.pages, v.chunks, func.length(v.text).label("chars"),
                v.ingested_at, v.archived_at, v.reason,
            ).where(*self._vkey(corpus, patient_id, doc_id)).order_by(v.version)).mappings().all()
        return [dict(r) for r in rows]

    def get_version(self, corpus: Corpus, patient_id: str | None, doc_id: str, version: int) -> dict | None:
        """One kept version (text and metadata), only within the scope."""
        with self.engine.connect() as cx:
            row = cx.execute(select(document_versions).where(
                *self._vkey(corpus, patient_id, doc_id), document_versions.c.version == version)).mappings().first()
        return dict(row) if row else None

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
