"""Retrieval service: ingest files into the stores and search them, always within a scope.

This is the one entry point the tools, the agent, the UI and the CLI use. Search is hybrid
(dense EmbeddingGemma + sparse French BM25) with a fusion measured on our dev QA set (see
``bench/retrieval_bench.py``; reciprocal-rank fusion and weighted score fusion are both available).

Ingestion is idempotent and crash-safe: a document's content hash (file bytes + declared metadata
+ chunker version) is compared to the one recorded in the document store; unchanged files are
skipped, changed files have their old chunks deleted before the new ones are written, and the
document row is written last. Any error on one file is reported in French and the batch goes on.

Example::

    >>> svc = RetrievalService(get_settings())                          # doctest: +SKIP
    >>> svc.ingest_paths([Path("knowledge/patients")]).added[:2]         # doctest: +SKIP
    ['P001-D01', 'P001-D02']
    >>> svc.search_patient("P001", "anticoagulant de sortie").hits[0].chunk.doc_id  # doctest: +SKIP
    'P001-D05'
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

from medassist.schemas import (
    Chunk, Corpus, DocumentMeta, IngestDuplicate, IngestError, IngestProgress, IngestReport, Patient, SearchHit,
    SearchResult,
)
from medassist.settings import Settings
from retrieval.chunking import bound_tokens, chunk_text
from retrieval.docstore import DocStore
from retrieval.embedder import EmbeddingError
from retrieval.metadata import infer_metadata
from retrieval.parsing import SUPPORTED_SUFFIXES, ParsedDocument, ParseError, parse_file
from retrieval.store import ClientStore, EdgeStore, FrenchBm25, Scope, ScopeError, StoreError, VectorStore

INDEX_VERSION = "4"  # 4: structure-preserving extraction, token-bounded chunks, inferred metadata
FusionMode = Literal["rrf", "weighted"]
SearchMode = Literal["hybrid", "dense", "bm25"]
#: Fusion kept after measuring both on the dev QA set (bench/retrieval_bench.py); see README.
DEFAULT_FUSION: FusionMode = "weighted"
#: Chunks embedded per call during ingestion, across documents (sorted by length inside the model).
EMBED_GROUP = 128


@dataclass
class _Pending:
    """A document read and chunked, waiting for its group to be embedded."""

    scope: Scope
    path: Path
    meta: DocumentMeta
    parsed: ParsedDocument
    digest: str
    replaces: bool
    chunks: list[Chunk]


class UnknownPatientError(LookupError):
    pass


def make_store(settings: Settings) -> VectorStore:
    """The vector store backend the settings name (one place)."""
    if settings.qdrant_url:
        return ClientStore(settings.embedding_dim, url=settings.qdrant_url, api_key=settings.qdrant_api_key)
    return EdgeStore(settings.index_dir, settings.embedding_dim)


def fuse(dense: list[tuple[Chunk, float]], sparse: list[tuple[Chunk, float]], mode: FusionMode = DEFAULT_FUSION,
         k_rrf: int = 60, w_dense: float = 0.7) -> list[SearchHit]:
    """Combine dense and sparse hit lists into one ranking (pure function, tested directly).

    ``rrf``: reciprocal-rank fusion. ``weighted``: each list's scores min-max normalised within the
    query's candidates, then ``w_dense * dense + (1 - w_dense) * sparse``. Measured on the dev QA
    set (254 questions, bench/retrieval_bench.py): weighted 0.7 gives recall@1 0.76 / recall@3 0.91
    against RRF k=60 0.73 / 0.89, dense alone 0.73 / 0.90, BM25 alone 0.64 / 0.85.
    """
    by_id: dict[str, SearchHit] = {}
    for c, s in dense:
        by_id.setdefault(c.chunk_id, SearchHit(chunk=c, score=0.0)).dense_score = s
    for c, s in sparse:
        by_id.setdefault(c.chunk_id, SearchHit(chunk=c, score=0.0)).sparse_score = s
    if mode == "rrf":
        for rank, (c, _) in enumerate(dense):
            by_id[c.chunk_id].score += 1.0 / (k_rrf + rank + 1)
        for rank, (c, _) in enumerate(sparse):
            by_id[c.chunk_id].score += 1.0 / (k_rrf + rank + 1)
    else:
        def minmax(hits: list[tuple[Chunk, float]]) -> dict[str, float]:
            if not hits:
                return {}
            lo, hi = min(s for _, s in hits), max(s for _, s in hits)
            return {c.chunk_id: (s - lo) / (hi - lo) if hi > lo else 1.0 for c, s in hits}

        nd, ns = minmax(dense), minmax(sparse)
        for cid, h in by_id.items():
            h.score = w_dense * nd.get(cid, 0.0) + (1 - w_dense) * ns.get(cid, 0.0)
    return sorted(by_id.values(), key=lambda h: h.score, reverse=True)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", s).strip("-")[:80] or "document"


class RetrievalService:
    def __init__(self, settings: Settings, *, embedder=None, store: VectorStore | None = None):
        self.settings = settings
        settings.ensure_dirs()
        self._embedder = embedder
        self.store = store or make_store(settings)
        self.docs = DocStore(settings)
        self.bm25 = FrenchBm25()

    @property
    def embedder(self):
        if self._embedder is None:
            from retrieval.embedder import get_embedder

            self._embedder = get_embedder(self.settings)
        return self._embedder

    def close(self) -> None:
        self.store.close()

    # ================================================================ ingestion
    def ingest_paths(self, paths: list[Path], *, patient_id: str | None = None, corpus: Corpus | None = None,
                     progress: Callable[[IngestProgress], None] | None = None) -> IngestReport:
        """Ingest files or folders. Folders holding ``patient.json`` are patient records; a folder
        with ``index.json`` (or ``corpus=procedures``) is the procedure corpus; loose files need a
        patient id or ``corpus=procedures``.

        Three steps: every planned file is read and chunked (documents counted); the new chunks are
        embedded in groups of :data:`EMBED_GROUP` across documents (the model sorts a group by
        length, so short notes and long reports share batches without padding waste); each group's
        documents are written as soon as it is embedded (crash-safe per document, see module
        docstring). ``progress`` receives an :class:`IngestProgress` after each step."""
        report = IngestReport()
        t0 = time.perf_counter()
        jobs: list[tuple[Scope, Path, DocumentMeta | None]] = []
        for raw in paths:
            path = Path(raw)
            try:
                jobs.extend(self._plan(path, patient_id, corpus))
            except (ScopeError, UnknownPatientError, ValueError, OSError) as exc:
                report.errors.append(IngestError(path=str(path), message=str(exc)))
        state = IngestProgress(documents_total=len(jobs))
        pending: list[_Pending] = []
        for scope, path, meta in jobs:
            state.current = path.name
            item = self._guarded(path, report, lambda: self._prepare(scope, path, meta, report, pending))
            if item:
                pending.append(item)
                state.chunks_total += len(item.chunks)
            state.documents_done += 1
            if progress:
                progress(state)
        group: list[_Pending] = []
        for item in pending:
            group.append(item)
            if sum(len(g.chunks) for g in group) >= EMBED_GROUP:
                self._embed_and_write(group, report, state, progress)
                group = []
        if group:
            self._embed_and_write(group, report, state, progress)
        if isinstance(self.store, EdgeStore) and (report.added or report.replaced):
            self.store.optimize()
        report.seconds = round(time.perf_counter() - t0, 3)
        report.embed_seconds = round(report.embed_seconds, 3)
        return report

    def _plan(self, path: Path, patient_id: str | None, corpus: Corpus | None):
        if not path.exists():
            raise ValueError(f"Chemin introuvable : « {path} ».")
        if path.is_dir():
            if (path / "patient.json").exists():
                return self._plan_patient_folder(path)
            if corpus == Corpus.procedures or (path / "index.json").exists():
                return self._plan_procedures(path)
            subs = sorted(p for p in path.iterdir() if p.is_dir() and (p / "patient.json").exists())
            if subs:
                return [job for s in subs for job in self._plan_patient_folder(s)]
            if patient_id:
                files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith((".", "_")))
                return [job for f in files for job in self._plan(f, patient_id, corpus)]
            raise ValueError(f"« {path} » n'est ni un dossier patient (patient.json) ni le corpus des procédures.")
        if corpus == Corpus.procedures:
            return [(Scope.procedures(), path, None)]
        if not patient_id:
            raise ScopeError(f"« {path.name} » : précisez le patient (--patient) ou --corpus procedures.")
        if not self.docs.has_patient(patient_id):
            raise UnknownPatientError(f"Patient inconnu : « {patient_id} ».")
        return [(Scope.patient(patient_id), path, None)]

    def _plan_patient_folder(self, folder: Path):
        try:
            patient = Patient.model_validate_json((folder / "patient.json").read_text(encoding="utf-8"))
        except Exception as exc:
            raise ValueError(f"patient.json invalide dans « {folder.name} » ({type(exc).__name__}).") from exc
        self.docs.upsert_patient(patient)
        scope = Scope.patient(patient.id)
        declared = {d.file: d for d in patient.documents}
        jobs = [(scope, folder / d.file, d) for d in patient.documents]
        for f in sorted(folder.iterdir()):
            if f.is_file() and f.name not in declared and f.name != "patient.json" and not f.name.startswith((".", "_")):
                jobs.append((scope, f, None))
        return jobs

    def _plan_procedures(self, folder: Path):
        index = {}
        if (folder / "index.json").exists():
            for entry in json.loads((folder / "index.json").read_text(encoding="utf-8")):
                index[entry["file"]] = DocumentMeta(
                    id=entry["id"], file=entry["file"], type="autre", date=entry["date"], title=entry["title"],
                    author=entry.get("author"),
                )
        files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES
                       and not p.name.startswith((".", "_")))
        return [(Scope.procedures(), f, index.get(f.name)) for f in files]

    def _infer_meta(self, scope: Scope, path: Path, text: str) -> DocumentMeta:
        """Metadata of an undeclared file, read from its content (:mod:`retrieval.metadata`): type,
        date (else the file's modification day), title, and the patient's stay containing the date."""
        patient = self.docs.get_patient(scope.patient_id) if scope.patient_id else None
        found = infer_metadata(text, path.stem, patient.stays if patient else [])
        day = found.date or date.fromtimestamp(path.stat().st_mtime)
        prefix = f"{scope.patient_id}-" if scope.patient_id else "PRO-"
        return DocumentMeta(id=prefix + _slug(path.stem), file=path.name, type=found.type, date=day,
                            title=found.title, stay_id=found.stay_id)

    @staticmethod
    def _guarded(path: Path, report: IngestReport, step):
        """Run one file's step; any failure is reported in French and the batch goes on."""
        try:
            return step()
        except (ParseError, StoreError, ScopeError) as exc:
            report.errors.append(IngestError(path=str(path), message=str(exc)))
        except Exception as exc:  # an unexpected failure on one file must not stop the batch
            report.errors.append(IngestError(
                path=str(path), message=f"Échec de l'indexation de « {path.name} » ({type(exc).__name__})."))
        return None

    def _prepare(self, scope: Scope, path: Path, meta: DocumentMeta | None, report: IngestReport,
                 pending: list[_Pending]) -> _Pending | None:
        """Read, hash and chunk one file; None when it is unchanged or a duplicate."""
        name = path.name
        if not path.exists():
            raise ParseError(f"Fichier déclaré mais introuvable : « {name} ».")
        size_mb = path.stat().st_size / 1e6
        if size_mb > self.settings.max_upload_mb:
            raise ParseError(
                f"« {name} » dépasse la taille maximale autorisée ({size_mb:.1f} Mo > {self.settings.max_upload_mb:g} Mo)."
            )
        raw = path.read_bytes()
        declared = meta is not None
        # a declared document's hash needs no parsing: an unchanged corpus is skipped unparsed
        parsed = None if declared else parse_file(path)
        meta = meta or self._infer_meta(scope, path, parsed.text)
        digest = _sha256(raw + meta.model_dump_json().encode() + INDEX_VERSION.encode()
                         + str(self.settings.embedding_dim).encode())
        previous = self.docs.content_hash(scope.corpus, scope.patient_id, meta.id)
        if previous == digest and self.store.count(scope, meta.id) > 0:
            report.unchanged.append(meta.id)
            return None
        parsed = parsed or parse_file(path)
        twin = None if declared or previous else self._same_text(scope, parsed.text, pending)
        if twin:
            report.duplicates.append(IngestDuplicate(
                path=str(path), existing_doc_id=twin,
                message=f"« {name} » a le même contenu que le document « {twin} » déjà présent : non ajouté (doublon)."))
            return None
        head = meta.title
        pieces = chunk_text(parsed.text)
        pieces = bound_tokens(parsed.text, pieces, max_tokens=self.settings.chunk_max_tokens,
                              count_tokens=lambda t: self.embedder.count_tokens(f"{head}\n{t}"))
        chunks = [
            Chunk(
                chunk_id=f"{scope.corpus.value}/{scope.patient_id or '-'}/{meta.id}/{i}", corpus=scope.corpus,
                patient_id=scope.patient_id, doc_id=meta.id, doc_type=meta.type, title=meta.title,
                date=meta.date.isoformat(), author=meta.author, stay_id=meta.stay_id, section=p.section,
                page=parsed.page_at(p.start), start=p.start, end=p.end, text=p.text, content_hash=digest,
            )
            for i, p in enumerate(pieces)
        ]
        return _Pending(scope=scope, path=path, meta=meta, parsed=parsed, digest=digest,
                        replaces=previous is not None, chunks=chunks)

    def _embed_and_write(self, group: list[_Pending], report: IngestReport, state: IngestProgress,
                         progress: Callable[[IngestProgress], None] | None) -> None:
        """Embed a group's chunks in one call, then write each document (old chunks out, new chunks
        in, document row last)."""
        texts = [self._embed_text(c) for item in group for c in item.chunks]
        t = time.perf_counter()
        try:
            dense = self.embedder.embed_documents(texts)
        except Exception as exc:  # the embedding backend failed: every document of the group is reported
            why = str(exc) if isinstance(exc, EmbeddingError) else f"embeddings indisponibles ({type(exc).__name__})"
            report.errors.extend(IngestError(path=str(item.path), message=f"« {item.path.name} » non indexé : {why}")
                                 for item in group)
            return
        elapsed = time.perf_counter() - t
        report.embed_seconds += elapsed
        state.embed_seconds += elapsed
        pos = 0
        for item in group:
            n = len(item.chunks)
            vectors, item_texts = dense[pos:pos + n], texts[pos:pos + n]
            pos += n
            if self._guarded(item.path, report, lambda item=item, v=vectors, tx=item_texts: self._write(item, v, tx)):
                (report.replaced if item.replaces else report.added).append(item.meta.id)
                report.chunks += n
            state.chunks_done += n
            state.current = item.path.name
        if progress:
            progress(state)

    def _write(self, item: _Pending, dense, texts: list[str]) -> bool:
        scope, meta, parsed = item.scope, item.meta, item.parsed
        sparse = [self.bm25.document(text) for text in texts]
        self.store.delete_document(scope, meta.id)
        self.store.upsert(scope, item.chunks, dense, sparse)
        self.docs.put_document(
            scope.corpus, scope.patient_id, meta, source_name=item.path.name, content_hash=item.digest,
            text=parsed.text, blocks=[(b.start, b.end, b.page) for b in parsed.blocks], pages=parsed.pages,
            chunks=len(item.chunks),
        )
        return True

    def _same_text(self, scope: Scope, text: str, pending: list[_Pending] = ()) -> str | None:
        """Id of a document of the same scope whose text equals ``text`` (whitespace-insensitive).

        Why: an upload of a file already in the record under another name (a PDF re-scanned, a
        letter saved twice) would otherwise duplicate every citation in answers and drafts. Only
        loose files are checked; documents declared in ``patient.json`` keep their declared ids."""
        wanted = " ".join(text.split())
        stored = ((doc_id, other) for doc_id, other in self.docs.document_texts(scope.corpus, scope.patient_id))
        batch = ((p.meta.id, p.parsed.text) for p in pending if p.scope == scope)  # same batch, not yet written
        return next((doc_id for doc_id, other in (*batch, *stored) if " ".join(other.split()) == wanted), None)

    @staticmethod
    def _embed_text(c: Chunk) -> str:
        head = c.title + (f" — {c.section}" if c.section else "")
        return f"{head}\n{c.text}"

    # ================================================================ deletion
    def delete_document(self, scope: Scope, doc_id: str) -> bool:
        self.store.delete_document(scope, doc_id)
        return self.docs.delete_document(scope.corpus, scope.patient_id, doc_id)

    def delete_patient(self, patient_id: str) -> None:
        self.store.delete_scope(Scope.patient(patient_id))
        self.docs.delete_patient(patient_id)

    # ================================================================ search
    def search(self, scope: Scope, query: str, *, k: int = 5, mode: SearchMode = "hybrid",
               fusion: FusionMode = DEFAULT_FUSION, candidates: int = 30) -> SearchResult:
        query = (query or "").strip()
        if not query:
            raise ValueError("La question est vide.")
        if len(query) > self.settings.max_question_chars:
            raise ValueError(f"La question dépasse {self.settings.max_question_chars} caractères.")
        if scope.corpus == Corpus.patients and not self.docs.has_patient(scope.patient_id):
            raise UnknownPatientError(f"Patient inconnu : « {scope.patient_id} ».")
        dense: list[tuple[Chunk, float]] = []
        sparse: list[tuple[Chunk, float]] = []
        if mode in ("hybrid", "dense"):
            dense = self.store.dense_search(scope, self.embedder.embed_query(query), candidates)
        if mode in ("hybrid", "bm25"):
            sparse = self.store.sparse_search(scope, self.bm25.query(query), candidates)
        if mode == "dense":
            hits = [SearchHit(chunk=c, score=s, dense_score=s) for c, s in dense]
        elif mode == "bm25":
            hits = [SearchHit(chunk=c, score=s, sparse_score=s) for c, s in sparse]
        else:
            hits = fuse(dense, sparse, fusion)
        hits = hits[:k]
        best_dense = max((s for _, s in dense), default=None)
        dense_weak = best_dense is not None and best_dense < self.settings.weak_evidence_threshold
        # Evidence of the fused ranking, not of the dense side alone: a short passage (a one-line
        # note) has a low dense similarity even when it holds every word asked; the best fused
        # passage containing all the query's BM25 terms is clear lexical evidence.
        weak = not hits or (dense_weak and not self.covers_query(query, hits[0].chunk))
        warning = None
        if not hits:
            warning = "Aucun passage pertinent trouvé dans les documents."
        elif weak:
            warning = "Preuves faibles : aucun passage ne correspond nettement à la question ; vérifiez les sources."
        return SearchResult(query=query, corpus=scope.corpus, patient_id=scope.patient_id, hits=hits,
                            weak_evidence=weak, warning=warning)

    def covers_query(self, query: str, chunk: Chunk) -> bool:
        """Whether ``chunk`` as indexed (title, section, text) holds every term BM25 searches for
        ``query`` (its French analyser: stop words out, accents folded, stemmed)."""
        wanted = set(self.bm25.query(query)[0])
        return bool(wanted) and wanted <= set(self.bm25.document(self._embed_text(chunk))[0])

    def search_patient(self, patient_id: str, query: str, **kw) -> SearchResult:
        return self.search(Scope.patient(patient_id), query, **kw)

    def search_procedures(self, query: str, **kw) -> SearchResult:
        return self.search(Scope.procedures(), query, **kw)

    # ================================================================ reading
    def document_text(self, scope: Scope, doc_id: str) -> dict | None:
        """The stored document (extracted text, metadata), only within the scope."""
        return self.docs.get_document(scope.corpus, scope.patient_id, doc_id)

    def patient_documents(self, patient_id: str) -> list[dict]:
        if not self.docs.has_patient(patient_id):
            raise UnknownPatientError(f"Patient inconnu : « {patient_id} ».")
        return self.docs.list_documents(Corpus.patients, patient_id)



_SERVICE: RetrievalService | None = None


def get_service(settings: Settings | None = None) -> RetrievalService:
    """The process-wide service: the embedded index allows one opener per process, and the
    embedding model is loaded once."""
    global _SERVICE
    if _SERVICE is None:
        from medassist.settings import get_settings

        _SERVICE = RetrievalService(settings or get_settings())
    return _SERVICE


def reset_service() -> None:
    """Close and forget the process-wide service (tests, settings changes)."""
    global _SERVICE
    if _SERVICE is not None:
        _SERVICE.close()
    _SERVICE = None
