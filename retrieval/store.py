"""Vector store: one interface, two Qdrant backends, patient scope enforced by construction.

* :class:`EdgeStore` — Qdrant's Rust engine in-process (``qdrant-edge-py``), the embedded default:
  one shard folder per collection under ``<data_dir>/index``.
* :class:`ClientStore` — ``qdrant-client`` to a Qdrant server (docker-compose), or its local
  ``path=`` mode (used by the benchmark as a side-by-side peer).

Both hold the same two collections (``patients``, ``procedures``) with the same payload schema
(:class:`medassist.schemas.Chunk`), a dense vector ``dense`` (cosine) and a sparse French BM25 vector
``bm25`` with Qdrant's IDF modifier. Sparse vectors are computed client-side with Qdrant's own
French BM25 (``qdrant_edge.Bm25``: French stop words + Snowball stemmer + accent folding), so both
backends index exactly the same thing.

Isolation: every read or write takes a :class:`Scope`. A patient scope cannot be built without a
patient id, and the store turns it into a mandatory ``patient_id`` filter (a tenant-key payload
index) on every query, scroll, count and delete. There is no method without a scope.

Example::

    >>> Scope.patient("P001").corpus.value
    'patients'
    >>> Scope(corpus=Corpus.patients, patient_id=None)
    Traceback (most recent call last):
    ...
    retrieval.store.ScopeError: Recherche dans un dossier patient impossible sans identifiant de patient.

Limits: the embedded engine allows one process per index folder (a second process gets a clear
French "index verrouillé" error).
"""

from __future__ import annotations

import json
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from medassist.schemas import Chunk, Corpus

SparseVec = tuple[list[int], list[float]]
_NS = uuid.UUID("6f1d3c1e-9a51-4a55-9a0e-6d6b0c1f6a21")


class ScopeError(PermissionError):
    pass


class StoreError(RuntimeError):
    """Store unavailable or inconsistent; French message."""


@dataclass(frozen=True)
class Scope:
    corpus: Corpus
    patient_id: str | None = None

    def __post_init__(self):
        if self.corpus == Corpus.patients and not self.patient_id:
            raise ScopeError("Recherche dans un dossier patient impossible sans identifiant de patient.")
        if self.corpus == Corpus.procedures and self.patient_id:
            raise ScopeError("Le corpus des procédures n'est rattaché à aucun patient.")

    @classmethod
    def patient(cls, patient_id: str) -> Scope:
        return cls(Corpus.patients, patient_id)

    @classmethod
    def procedures(cls) -> Scope:
        return cls(Corpus.procedures, None)

    @property
    def collection(self) -> str:
        return self.corpus.value

    def allows(self, chunk: Chunk) -> bool:
        return chunk.corpus == self.corpus and (self.corpus == Corpus.procedures or chunk.patient_id == self.patient_id)


def point_id(chunk_id: str) -> str:
    return str(uuid.uuid5(_NS, chunk_id))


class VectorStore(Protocol):
    """What retrieval needs from a vector database; every call is scoped."""

    name: str

    def upsert(self, scope: Scope, chunks: list[Chunk], dense: np.ndarray, sparse: list[SparseVec]) -> None: ...

    def delete_document(self, scope: Scope, doc_id: str) -> None: ...

    def delete_scope(self, scope: Scope) -> None: ...

    def dense_search(self, scope: Scope, vector: np.ndarray, limit: int) -> list[tuple[Chunk, float]]: ...

    def sparse_search(self, scope: Scope, vector: SparseVec, limit: int) -> list[tuple[Chunk, float]]: ...

    def count(self, scope: Scope, doc_id: str | None = None) -> int: ...

    def close(self) -> None: ...


def _check(scope: Scope, chunks: list[Chunk]) -> None:
    for c in chunks:
        if not scope.allows(c):
            raise ScopeError("Écriture refusée : un fragment n'appartient pas au dossier visé.")


def _chunk_from_payload(payload: dict) -> Chunk:
    return Chunk.model_validate(payload)


# =========================================================================== qdrant-edge
class EdgeStore:
    """Embedded Qdrant engine (qdrant-edge-py)."""

    def __init__(self, index_dir: Path, dim: int):
        import qdrant_edge as q

        self.q = q
        self.dim = dim
        self.index_dir = Path(index_dir)
        self.name = "qdrant-edge"
        self._shards: dict[str, object] = {}

    def _shard(self, collection: str):
        if collection in self._shards:
            return self._shards[collection]
        q = self.q
        path = self.index_dir / collection
        meta = self.index_dir / f"{collection}.meta.json"
        try:
            if meta.exists():
                dim = json.loads(meta.read_text())["dim"]
                if dim != self.dim:
                    raise StoreError(
                        f"L'index « {collection} » a été construit en dimension {dim} "
                        f"(réglage actuel : {self.dim}) : supprimez-le et réindexez (« medassist ingest »)."
                    )
                shard = q.EdgeShard.load(str(path))
            else:
                shutil.rmtree(path, ignore_errors=True)  # a folder without meta is a crashed creation
                path.mkdir(parents=True, exist_ok=True)
                cfg = q.EdgeConfig(
                    vectors={"dense": q.EdgeVectorParams(size=self.dim, distance=q.Distance.Cosine)},
                    sparse_vectors={"bm25": q.EdgeSparseVectorParams(modifier=q.Modifier.Idf)},
                )
                shard = q.EdgeShard.create(str(path), cfg)
                shard.update(q.UpdateOperation.create_field_index("patient_id", q.KeywordIndexParams(is_tenant=True)))
                shard.update(q.UpdateOperation.create_field_index("doc_id", q.PayloadSchemaType.Keyword))
                shard.update(q.UpdateOperation.create_field_index("corpus", q.PayloadSchemaType.Keyword))
                shard.flush()
                meta.write_text(json.dumps({"dim": self.dim}))
        except StoreError:
            raise
        except Exception as exc:
            msg = str(exc).lower()
            if "lock" in msg or "resource temporarily unavailable" in msg or "already" in msg:
                raise StoreError(
                    f"L'index « {collection} » est verrouillé par un autre processus medassist "
                    "(interface ou commande en cours) : réessayez quand il est terminé."
                ) from exc
            raise StoreError(f"Index « {collection} » illisible ({type(exc).__name__}).") from exc
        self._shards[collection] = shard
        return shard

    def _filter(self, scope: Scope, doc_id: str | None = None):
        q = self.q
        must = [q.FieldCondition(key="corpus", match=q.MatchValue(scope.corpus.value))]
        if scope.corpus == Corpus.patients:
            must.append(q.FieldCondition(key="patient_id", match=q.MatchValue(scope.patient_id)))
        if doc_id is not None:
            must.append(q.FieldCondition(key="doc_id", match=q.MatchValue(doc_id)))
        return q.Filter(must=must)

    def upsert(self, scope, chunks, dense, sparse):
        _check(scope, chunks)
        if not chunks:
            return
        q = self.q
        points = [
            q.Point(
                id=point_id(c.chunk_id),
                vector={"dense": dense[i].tolist(), "bm25": q.SparseVector(indices=sparse[i][0], values=sparse[i][1])},
                payload=c.model_dump(mode="json"),
            )
            for i, c in enumerate(chunks)
        ]
        shard = self._shard(scope.collection)
        for i in range(0, len(points), 256):
            shard.update(q.UpdateOperation.upsert_points(points[i : i + 256]))
        shard.flush()

    def delete_document(self, scope, doc_id):
        shard = self._shard(scope.collection)
        shard.update(self.q.UpdateOperation.delete_points_by_filter(self._filter(scope, doc_id)))
        shard.flush()

    def delete_scope(self, scope):
        shard = self._shard(scope.collection)
        shard.update(self.q.UpdateOperation.delete_points_by_filter(self._filter(scope)))
        shard.flush()

    def _query(self, scope, query, limit):
        q = self.q
        res = self._shard(scope.collection).query(
            q.QueryRequest(limit=limit, query=query, filter=self._filter(scope), with_payload=True)
        )
        out = [(_chunk_from_payload(p.payload), float(p.score)) for p in res]
        return [(c, s) for c, s in out if scope.allows(c)]  # defence in depth

    def dense_search(self, scope, vector, limit):
        return self._query(scope, self.q.Query.Nearest(np.asarray(vector, dtype=np.float32).tolist(), using="dense"), limit)

    def sparse_search(self, scope, vector, limit):
        if not vector[0]:
            return []
        sv = self.q.SparseVector(indices=vector[0], values=vector[1])
        return self._query(scope, self.q.Query.Nearest(sv, using="bm25"), limit)

    def count(self, scope, doc_id=None):
        return self._shard(scope.collection).count(self.q.CountRequest(exact=True, filter=self._filter(scope, doc_id)))

    def optimize(self) -> None:
        for shard in self._shards.values():
            shard.optimize()

    def close(self):
        for shard in self._shards.values():
            try:
                shard.flush()
                shard.close()
            except Exception:  # closing twice or after a failed open is harmless
                pass
        self._shards.clear()


# =========================================================================== qdrant-client
class ClientStore:
    """Qdrant server (``url``) or qdrant-client local mode (``path``), same collections/payloads."""

    def __init__(self, dim: int, url: str | None = None, path: Path | None = None, api_key: str | None = None,
                 prefix: str = ""):
        """``prefix`` names the collections ``<prefix>patients`` / ``<prefix>procedures``: a benchmark
        or a test on a shared server never touches the production collections."""
        from qdrant_client import QdrantClient, models

        self.m = models
        self.dim = dim
        self.prefix = prefix
        try:
            self.client = QdrantClient(url=url, api_key=api_key or None, timeout=10) if url else QdrantClient(path=str(path))
        except Exception as exc:
            raise StoreError(f"Connexion impossible au serveur Qdrant ({type(exc).__name__}).") from exc
        self.name = "qdrant-server" if url else "qdrant-client-local"
        self._ready: set[str] = set()

    def _name(self, scope: Scope) -> str:
        return self.prefix + scope.collection

    def drop(self) -> None:
        """Delete this store's collections (benchmark clean-up on a shared server)."""
        for name in (self.prefix + c.value for c in Corpus):
            if self.client.collection_exists(name):
                self.client.delete_collection(name)
        self._ready.clear()

    def _ensure(self, collection: str) -> None:
        if collection in self._ready:
            return
        m = self.m
        try:
            if not self.client.collection_exists(collection):
                self.client.create_collection(
                    collection,
                    vectors_config={"dense": m.VectorParams(size=self.dim, distance=m.Distance.COSINE)},
                    sparse_vectors_config={"bm25": m.SparseVectorParams(modifier=m.Modifier.IDF)},
                )
                if self.name == "qdrant-client-local":  # local mode ignores payload indexes (warns)
                    self._ready.add(collection)
                    return
                self.client.create_payload_index(
                    collection, "patient_id", m.KeywordIndexParams(type=m.KeywordIndexType.KEYWORD, is_tenant=True)
                )
                self.client.create_payload_index(collection, "doc_id", m.PayloadSchemaType.KEYWORD)
                self.client.create_payload_index(collection, "corpus", m.PayloadSchemaType.KEYWORD)
        except Exception as exc:
            raise StoreError(f"Serveur Qdrant indisponible ({type(exc).__name__}).") from exc
        self._ready.add(collection)

    def _filter(self, scope: Scope, doc_id: str | None = None):
        m = self.m
        must = [m.FieldCondition(key="corpus", match=m.MatchValue(value=scope.corpus.value))]
        if scope.corpus == Corpus.patients:
            must.append(m.FieldCondition(key="patient_id", match=m.MatchValue(value=scope.patient_id)))
        if doc_id is not None:
            must.append(m.FieldCondition(key="doc_id", match=m.MatchValue(value=doc_id)))
        return m.Filter(must=must)

    def upsert(self, scope, chunks, dense, sparse):
        _check(scope, chunks)
        if not chunks:
            return
        self._ensure(self._name(scope))
        m = self.m
        points = [
            m.PointStruct(
                id=point_id(c.chunk_id),
                vector={"dense": dense[i].tolist(), "bm25": m.SparseVector(indices=sparse[i][0], values=sparse[i][1])},
                payload=c.model_dump(mode="json"),
            )
            for i, c in enumerate(chunks)
        ]
        for i in range(0, len(points), 256):
            self.client.upsert(self._name(scope), points[i : i + 256], wait=True)

    def delete_document(self, scope, doc_id):
        self._ensure(self._name(scope))
        self.client.delete(self._name(scope), points_selector=self.m.FilterSelector(filter=self._filter(scope, doc_id)),
                           wait=True)

    def delete_scope(self, scope):
        self._ensure(self._name(scope))
        self.client.delete(self._name(scope), points_selector=self.m.FilterSelector(filter=self._filter(scope)), wait=True)

    def _query(self, scope, query, using, limit):
        self._ensure(self._name(scope))
        res = self.client.query_points(
            self._name(scope), query=query, using=using, query_filter=self._filter(scope), limit=limit, with_payload=True
        ).points
        out = [(_chunk_from_payload(p.payload), float(p.score)) for p in res]
        return [(c, s) for c, s in out if scope.allows(c)]

    def dense_search(self, scope, vector, limit):
        return self._query(scope, np.asarray(vector, dtype=np.float32).tolist(), "dense", limit)

    def sparse_search(self, scope, vector, limit):
        if not vector[0]:
            return []
        return self._query(scope, self.m.SparseVector(indices=vector[0], values=vector[1]), "bm25", limit)

    def count(self, scope, doc_id=None):
        self._ensure(self._name(scope))
        return self.client.count(self._name(scope), count_filter=self._filter(scope, doc_id), exact=True).count

    def close(self):
        self.client.close()


# =========================================================================== BM25
def french_stopwords() -> set[str]:
    """spaCy's French stop words, with and without accents, plus question words.

    Qdrant folds accents *before* removing stop words, so its own French list misses "été" (→
    "ete") and the folded "à" (→ "a") survives and matches every "à" in the corpus; we add the
    folded forms. One-letter tokens are dropped by ``min_token_len``.
    """
    from spacy.lang.fr.stop_words import STOP_WORDS

    from knowledge.french import fold

    # a typographic apostrophe is dropped ("qu’" -> "qu"), not straightened, as this list always did
    folded = {fold(w.replace("’", "")) for w in STOP_WORDS}
    return set(STOP_WORDS) | folded | {"quel", "quelle", "quels", "quelles"}


class FrenchBm25:
    """Qdrant's BM25 with French stop words, Snowball stemming and accent folding."""

    def __init__(self, avg_len: float = 120.0):
        import qdrant_edge as q

        stop = q.StopwordsSet(languages={q.Language.French}, custom=french_stopwords())
        self.model = q.Bm25(q.Bm25Config(language="french", ascii_folding=True, avg_len=avg_len,
                                         min_token_len=2, stopwords=stop))

    def document(self, text: str) -> SparseVec:
        v = self.model.embed_document(text)
        return list(v.indices), list(v.values)

    def query(self, text: str) -> SparseVec:
        v = self.model.embed_query(text)
        return list(v.indices), list(v.values)
