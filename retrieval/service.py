"""Retrieval service: ingest files into the stores and search them, always within a scope.

This is the one entry point the tools, the agent, the UI and the CLI use. Search is hybrid
(dense EmbeddingGemma + sparse French BM25) with a fusion measured on our dev QA set (see
``bench/retrieval_bench.py``; reciprocal-rank fusion and weighted score fusion are both available).

Ingestion is idempotent and crash-safe: a document's content hash (file bytes + declared metadata
+ chunker version) is compared to the one recorded in the document store; unchanged files are
skipped, changed files have their old chunks deleted before the new ones are written, and the
document row is written last. Any error on one file is reported in French and the batch goes on.

No silent overwrite: a loose file (an upload, or a file of a patient folder not declared in its
``patient.json``) is named ``<patient>-<file stem>``; when that id already holds another content the
file is added under the next free id (``P001-D04-2``) and the report says so in French. The same
content again is the same document (unchanged, or re-indexed in place). A document is replaced only
on explicit request (``ingest_paths(..., replace=doc_id, user=u)``), audited with both versions'
sizes; every displaced version is kept by the document store and :meth:`RetrievalService.restore`
brings one back. Documents declared in ``patient.json`` keep their declared ids (a changed file is
a new version of that document; the previous one is kept).

Size limits (settings ``max_document_*``, ``max_upload_*``): characters and pages are checked while
a file is parsed (:class:`retrieval.parsing.Limits`), chunks while it is cut; the loose files of one
call share the upload's budget and an upload over it is refused as a whole.

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
    Chunk,
    Corpus,
    DocumentMeta,
    IngestDuplicate,
    IngestError,
    IngestProgress,
    IngestReplacement,
    IngestReport,
    Patient,
    SearchHit,
    SearchResult,
)
from medassist.settings import Settings
from retrieval.chunking import ChunkLimitError, bound_tokens, chunk_text
from retrieval.docstore import DocStore
from retrieval.embedder import EmbeddingError
from retrieval.metadata import infer_metadata
from retrieval.parsing import SUPPORTED_SUFFIXES, Block, LimitError, Limits, ParsedDocument, ParseError, fr_int, parse_file
from retrieval.store import ClientStore, EdgeStore, FrenchBm25, Scope, ScopeError, StoreError, VectorStore

INDEX_VERSION = "5"  # 4: structure-preserving extraction, token-bounded chunks, inferred metadata; 5: OCR flag per passage
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
    #: a loose file (an upload: counted in the upload's budget), not a patient folder's or the corpus's
    loose: bool = False
    #: (characters, chunks, kept versions) of the document this one displaces, when it replaces one
    previous: tuple[int, int, int] | None = None
    #: French note for the report once written (the file got another id than its name gives)
    notice: str | None = None


@dataclass
class _Budget:
    """What remains of one upload's size limits (the loose files of one ingest call together)."""

    chars: int
    chunks: int
    pages: int
    exceeded: bool = False


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
                     progress: Callable[[IngestProgress], None] | None = None, replace: str | None = None,
                     user=None) -> IngestReport:
        """Ingest files or folders. Folders holding ``patient.json`` are patient records; a folder
        with ``index.json`` (or ``corpus=procedures``) is the procedure corpus; loose files need a
        patient id or ``corpus=procedures``.

        Three steps: every planned file is read and chunked (documents counted); the new chunks are
        embedded in groups of :data:`EMBED_GROUP` across documents (the model sorts a group by
        length, so short notes and long reports share batches without padding waste); each group's
        documents are written as soon as it is embedded (crash-safe per document, see module
        docstring). ``progress`` receives an :class:`IngestProgress` after each step.

        ``replace``: the id of a document of the scope that the one loose file given replaces (an
        explicit request; ``user``, a :class:`medassist.access.User` allowed to upload to that
        patient, is required and the replacement is audited with both versions' sizes). Without
        it, nothing is ever replaced by a loose file (see module docstring)."""
        report = IngestReport()
        t0 = time.perf_counter()
        jobs: list[tuple[Scope, Path, DocumentMeta | None, bool]] = []
        for raw in paths:
            path = Path(raw)
            try:
                jobs.extend(self._plan_jobs(path, patient_id, corpus))
            except (ScopeError, UnknownPatientError, ValueError, OSError) as exc:
                report.errors.append(IngestError(path=str(path), message=str(exc)))
        if replace is not None and jobs:
            try:
                self._check_replace(jobs, replace, user)
            except (ValueError, LookupError, PermissionError) as exc:
                report.errors.extend(IngestError(path=str(job[1]), message=str(exc)) for job in jobs)
                return report
        budget = _Budget(chars=self.settings.max_upload_chars, chunks=self.settings.max_upload_chunks,
                         pages=self.settings.max_upload_pages)
        state = IngestProgress(documents_total=len(jobs))
        pending: list[_Pending] = []
        for scope, path, meta, loose in jobs:
            state.current = path.name
            if loose and budget.exceeded:
                item = None
                report.errors.append(IngestError(path=str(path), message=(
                    f"« {path.name} » non lu : l'envoi dépasse déjà les limites de taille ; rien de cet envoi n'a été indexé.")))
            else:
                item = self._guarded(path, report, lambda s=scope, f=path, m=meta, lo=loose: self._prepare(
                    s, f, m, report, pending, loose=lo, budget=budget, replace=replace))
            if item:
                pending.append(item)
                state.chunks_total += len(item.chunks)
            state.documents_done += 1
            if progress:
                progress(state)
        if budget.exceeded:  # an upload over its limits is refused as a whole: nothing of it is indexed
            refused = [item for item in pending if item.loose]
            report.errors.extend(IngestError(path=str(item.path), message=(
                f"« {item.path.name} » non indexé : l'envoi dépasse les limites de taille (voir l'erreur ci-dessus) ; "
                "envoyez moins de fichiers à la fois.")) for item in refused)
            pending = [item for item in pending if not item.loose]
            state.chunks_total -= sum(len(item.chunks) for item in refused)
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
        if replace is not None and jobs:
            self._audit_replacements(user, "replace_document", jobs[0][0], replace, report)
        report.seconds = round(time.perf_counter() - t0, 3)
        report.embed_seconds = round(report.embed_seconds, 3)
        return report

    @staticmethod
    def _audit_replacements(user, action: str, scope: Scope, doc_id: str, report: IngestReport) -> None:
        """One audit line per replacement (or restore), both versions' sizes in the detail (never
        text or file names: they may hold patient names); a request that replaced nothing is
        audited too (an error, or "ok" when the content was already the same)."""
        from medassist import audit

        for r in report.replacements:
            audit.record(user=user, action=action, patient_id=scope.patient_id, documents=[r.doc_id], tool="ingest",
                         detail=(f"{r.previous_chars} -> {r.new_chars} caractères, {r.previous_chunks} -> "
                                 f"{r.new_chunks} passages, version précédente conservée : {r.kept_version}"))
        if not report.replacements:
            audit.record(user=user, action=action, patient_id=scope.patient_id, documents=[doc_id], tool="ingest",
                         outcome="error" if report.errors else "ok",
                         detail="échec, rien remplacé" if report.errors else "contenu identique, rien remplacé")

    def _plan_jobs(self, path: Path, patient_id: str | None, corpus: Corpus | None):
        """:meth:`_plan`'s jobs, each with whether it is a loose file (an upload)."""
        return [(scope, f, meta, self._is_loose(path, f, meta)) for scope, f, meta in self._plan(path, patient_id, corpus)]

    @staticmethod
    def _is_loose(given: Path, f: Path, meta: DocumentMeta | None) -> bool:
        """A file given by itself (or in a plain folder) with a patient id: what users upload. Files of
        a patient folder (``patient.json``) and of the procedure corpus are the administrator's."""
        if meta is not None:
            return False
        folder = f.parent
        return not ((folder / "patient.json").exists() or (folder / "index.json").exists()) or given == f

    def _check_replace(self, jobs, replace: str, user) -> None:
        """An explicit replacement: one loose file, an existing document of its scope, an allowed user."""
        if len(jobs) != 1 or jobs[0][2] is not None:
            raise ValueError("Le remplacement d'un document se fait avec un seul fichier à la fois.")
        scope = jobs[0][0]
        if user is None:
            raise PermissionError("Le remplacement d'un document exige un utilisateur identifié (audit).")
        from medassist.access import Action, authorize

        authorize(user, Action.upload_document, scope.patient_id, tool="ingest_replace")
        if self.docs.content_hash(scope.corpus, scope.patient_id, replace) is None:
            where = f"le dossier {scope.patient_id}" if scope.patient_id else "les procédures"
            raise LookupError(f"Document à remplacer introuvable dans {where} : « {replace} ».")

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

    def _infer_meta(self, scope: Scope, path: Path, text: str, stored: dict | None = None) -> DocumentMeta:
        """Metadata of an undeclared file, read from its content (:mod:`retrieval.metadata`): type,
        date (else the stored version's date, else the file's modification day), title, and the
        patient's stay containing the date. The id is the name-given one (``<patient>-<stem>``);
        :meth:`_loose_meta` decides the final id."""
        patient = self.docs.get_patient(scope.patient_id) if scope.patient_id else None
        found = infer_metadata(text, path.stem, patient.stays if patient else [],
                               patient.identity.birth_date if patient else None)
        day, stay = found.date, found.stay_id
        if day is None and stored and stored.get("date"):  # the same content uploaded again (new file date)
            day, stay = date.fromisoformat(stored["date"]), stay or stored.get("stay_id")
        day = day or date.fromtimestamp(path.stat().st_mtime)
        prefix = f"{scope.patient_id}-" if scope.patient_id else "PRO-"
        return DocumentMeta(id=prefix + _slug(path.stem), file=path.name, type=found.type, date=day,
                            title=found.title, stay_id=stay)

    def _loose_meta(self, scope: Scope, path: Path, text: str, pending: list[_Pending], replace: str | None
                    ) -> tuple[DocumentMeta | None, str | None, str | None]:
        """``(meta, notice, twin)`` of an undeclared file: its final id, a French notice when that is
        not the name-given id, or the id of the document that already holds the same text.

        Why: ids came from file names only, and an upload named ``D04.txt`` silently replaced the
        discharge report P001-D04. Now the same text (whitespace aside) under the name-given id or
        one of its ``-N`` variants is the same document (re-ingesting a folder changes nothing);
        the same text under another id is a duplicate; a new text whose name-given id is taken gets
        the next free ``-N`` id. Only an explicit ``replace`` targets an existing id."""
        base = self._infer_meta(scope, path, text)
        if replace is not None:
            return base.model_copy(update={"id": replace}), None, None
        family = re.compile(re.escape(base.id) + r"(?:-\d+)?")
        same = self._same_text(scope, text, pending)
        mine = next(((d, batch) for d, batch in same if family.fullmatch(d)), None)
        if mine is not None and not mine[1]:
            stored = self.docs.get_document(scope.corpus, scope.patient_id, mine[0])
            return self._infer_meta(scope, path, text, stored).model_copy(update={"id": mine[0]}), None, None
        if same:
            return None, None, (mine or same[0])[0]
        doc_id, n = base.id, 1
        taken = {p.meta.id for p in pending if p.scope == scope}
        while doc_id in taken or self.docs.content_hash(scope.corpus, scope.patient_id, doc_id) is not None:
            n += 1
            doc_id = f"{base.id}-{n}"
        notice = None
        if doc_id != base.id:
            notice = (f"« {path.name} » ajouté sous l'identifiant « {doc_id} » : le document « {base.id} » existe "
                      "déjà avec un autre contenu et n'a pas été remplacé.")
        return base.model_copy(update={"id": doc_id}), notice, None

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
                 pending: list[_Pending], *, loose: bool = False, budget: _Budget | None = None,
                 replace: str | None = None) -> _Pending | None:
        """Read, hash and chunk one file; None when it is unchanged or a duplicate. Limits are
        checked while parsing and chunking (per document), then against the upload's ``budget``."""
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
        limits = Limits.from_settings(self.settings)
        notice = None
        # a declared document's hash needs no parsing: an unchanged corpus is skipped unparsed
        parsed = None if declared else parse_file(path, limits)
        if not declared:
            meta, notice, twin = self._loose_meta(scope, path, parsed.text, pending, replace)
            if twin:
                report.duplicates.append(IngestDuplicate(
                    path=str(path), existing_doc_id=twin,
                    message=f"« {name} » a le même contenu que le document « {twin} » déjà présent : non ajouté (doublon)."))
                return None
        digest = _sha256(raw + meta.model_dump_json().encode() + INDEX_VERSION.encode()
                         + str(self.settings.embedding_dim).encode())
        previous = self.docs.content_hash(scope.corpus, scope.patient_id, meta.id)
        if previous == digest and self.store.count(scope, meta.id) > 0:
            report.unchanged.append(meta.id)
            return None
        parsed = parsed or parse_file(path, limits)
        chunks = self._chunks(scope, meta, parsed, digest, name)
        if loose and budget is not None:
            self._spend(budget, name, len(parsed.text), len(chunks), parsed.pages)
        prior = None
        if previous is not None:
            row = self.docs.get_document(scope.corpus, scope.patient_id, meta.id)
            prior = self._sizes(scope, row) if row else None
        return _Pending(scope=scope, path=path, meta=meta, parsed=parsed, digest=digest,
                        replaces=previous is not None, chunks=chunks, loose=loose, previous=prior, notice=notice)

    def _chunks(self, scope: Scope, meta: DocumentMeta, parsed: ParsedDocument, digest: str, name: str) -> list[Chunk]:
        """The document's chunks (section-bounded, token-bounded), at most ``max_document_chunks``."""
        head = meta.title
        cap = self.settings.max_document_chunks
        try:
            pieces = chunk_text(parsed.text, max_chunks=cap)
            pieces = bound_tokens(parsed.text, pieces, max_tokens=self.settings.chunk_max_tokens,
                                  count_tokens=lambda t: self.embedder.count_tokens(f"{head}\n{t}"), max_chunks=cap)
        except ChunkLimitError as exc:
            raise LimitError(f"« {name} » produit trop de passages à indexer : plus de {fr_int(exc.limit)} par "
                             "document ; rien n'a été indexé.") from exc
        return [
            Chunk(
                chunk_id=f"{scope.corpus.value}/{scope.patient_id or '-'}/{meta.id}/{i}", corpus=scope.corpus,
                patient_id=scope.patient_id, doc_id=meta.id, doc_type=meta.type, title=meta.title,
                date=meta.date.isoformat(), author=meta.author, stay_id=meta.stay_id, section=p.section,
                page=parsed.page_at(p.start), start=p.start, end=p.end, text=p.text, content_hash=digest,
                ocr=parsed.ocr_at(p.start, p.end),
            )
            for i, p in enumerate(pieces)
        ]

    def _spend(self, budget: _Budget, name: str, chars: int, chunks: int, pages: int) -> None:
        """Take one loose file's size from the upload's budget; LimitError (upload) when it runs out."""
        budget.chars -= chars
        budget.chunks -= chunks
        budget.pages -= pages
        over = [f"{fr_int(total)} {what}" for what, left, total in (
            ("caractères", budget.chars, self.settings.max_upload_chars),
            ("passages", budget.chunks, self.settings.max_upload_chunks),
            ("pages", budget.pages, self.settings.max_upload_pages)) if left < 0]
        if over:
            budget.exceeded = True
            raise LimitError(f"« {name} » : cet envoi dépasse la limite de {', '.join(over)} au total ; rien de cet "
                             "envoi n'a été indexé.", upload=True)

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
                if item.notice:
                    report.notices.append(item.notice)
                if item.replaces:
                    report.replacements.append(self._replacement(item))
            state.chunks_done += n
            state.current = item.path.name
        if progress:
            progress(state)

    def _sizes(self, scope: Scope, row: dict) -> tuple[int, int, int]:
        """(characters, chunks, versions kept) of a stored document row."""
        return len(row["text"]), row["chunks"], len(self.docs.list_versions(scope.corpus, scope.patient_id, row["doc_id"]))

    def _replacement(self, item: _Pending) -> IngestReplacement:
        """What a replacement changed: both versions' sizes and the kept version's number."""
        scope, doc_id = item.scope, item.meta.id
        old_chars, old_chunks, old_versions = item.previous or (0, 0, 0)
        new_chars, new_chunks = len(item.parsed.text), len(item.chunks)
        kept = self.docs.list_versions(scope.corpus, scope.patient_id, doc_id)
        version = kept[-1]["version"] if len(kept) > old_versions else None
        if version is None:  # identical content re-indexed (index version, embedding size): nothing displaced
            message = f"« {doc_id} » ré-indexé, contenu inchangé ({fr_int(new_chars)} caractères)."
        else:
            message = (f"« {doc_id} » remplacé : {fr_int(old_chars)} → {fr_int(new_chars)} caractères, "
                       f"{old_chunks} → {new_chunks} passages ; version précédente conservée (n° {version}).")
        return IngestReplacement(doc_id=doc_id, path=str(item.path), previous_chars=old_chars, new_chars=new_chars,
                                 previous_chunks=old_chunks, new_chunks=new_chunks, kept_version=version,
                                 message=message)

    def _write(self, item: _Pending, dense, texts: list[str]) -> bool:
        scope, meta, parsed = item.scope, item.meta, item.parsed
        sparse = [self.bm25.document(text) for text in texts]
        self.store.delete_document(scope, meta.id)
        self.store.upsert(scope, item.chunks, dense, sparse)
        self.docs.put_document(
            scope.corpus, scope.patient_id, meta, source_name=item.path.name, content_hash=item.digest,
            text=parsed.text, blocks=[(b.start, b.end, b.page, b.ocr) for b in parsed.blocks], pages=parsed.pages,
            chunks=len(item.chunks),
        )
        return True

    def _same_text(self, scope: Scope, text: str, pending: list[_Pending] = ()) -> list[tuple[str, bool]]:
        """``(doc_id, in_this_batch)`` of the documents of the same scope whose text equals ``text``
        (whitespace-insensitive), this batch's first.

        Why: an upload of a file already in the record under another name (a PDF re-scanned, a
        letter saved twice) would otherwise duplicate every citation in answers and drafts. Only
        loose files are checked; documents declared in ``patient.json`` keep their declared ids."""
        wanted = " ".join(text.split())
        batch = [(p.meta.id, True) for p in pending if p.scope == scope and " ".join(p.parsed.text.split()) == wanted]
        stored = [(doc_id, False) for doc_id, other in self.docs.document_texts(scope.corpus, scope.patient_id)
                  if " ".join(other.split()) == wanted]
        return batch + stored

    @staticmethod
    def _embed_text(c: Chunk) -> str:
        head = c.title + (f" — {c.section}" if c.section else "")
        return f"{head}\n{c.text}"

    # ================================================================ versions
    def versions(self, scope: Scope, doc_id: str) -> list[dict]:
        """Kept versions of a document of the scope (number, sizes, dates, reason), oldest first."""
        return self.docs.list_versions(scope.corpus, scope.patient_id, doc_id)

    def restore(self, scope: Scope, doc_id: str, version: int, *, user) -> IngestReport:
        """Bring back kept version ``version`` of ``doc_id``; the current content is kept in turn (a
        restore loses nothing either). Re-chunked and re-embedded from the stored text (the file
        may be gone); explicit and audited like a replacement, ``user`` must be allowed to upload."""
        from medassist.access import Action, authorize

        authorize(user, Action.upload_document, scope.patient_id, tool="restore_document")
        row = self.docs.get_version(scope.corpus, scope.patient_id, doc_id, version)
        if row is None:
            raise LookupError(f"Version {version} du document « {doc_id} » introuvable.")
        text = row["text"]
        parsed = ParsedDocument(text=text, pages=row["pages"], blocks=[
            Block(text=text[a:b], start=a, end=b, page=page, category="NarrativeText", ocr=bool(ocr and ocr[0]))
            for a, b, page, *ocr in json.loads(row["blocks"])])  # rows before INDEX_VERSION 5: no OCR flag
        meta = DocumentMeta(id=doc_id, file=row["source_name"], type=row["doc_type"], date=row["date"],
                            title=row["title"], author=row["author"], stay_id=row["stay_id"])
        report = IngestReport()
        current = self.docs.get_document(scope.corpus, scope.patient_id, doc_id)
        item = _Pending(scope=scope, path=Path(row["source_name"]), meta=meta, parsed=parsed,
                        digest=row["content_hash"], replaces=current is not None,
                        chunks=self._chunks(scope, meta, parsed, row["content_hash"], row["source_name"]),
                        previous=self._sizes(scope, current) if current else None)
        self._embed_and_write([item], report, IngestProgress(documents_total=1), None)
        if isinstance(self.store, EdgeStore) and (report.added or report.replaced):
            self.store.optimize()
        if current is None and report.added:  # a deleted document brought back: nothing displaced
            report.replacements.append(IngestReplacement(
                doc_id=doc_id, path=row["source_name"], previous_chars=0, new_chars=len(text), previous_chunks=0,
                new_chunks=len(item.chunks), message=f"« {doc_id} » rétabli (version {version})."))
        self._audit_replacements(user, "restore_document", scope, doc_id, report)
        return report

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
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"Le nombre de passages demandés doit être un entier au moins égal à 1 (reçu : {k!r}).")
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
