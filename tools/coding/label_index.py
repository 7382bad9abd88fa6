"""Dense search over the whole ATIH catalogue: every label embedded once, searched per clause.

Why: synonyms and exact label matching only find the wordings someone wrote down; a new phrasing
("poussée congestive", "infection du liquide d'ascite") is missed. EmbeddingGemma (the model the
retrieval already provisions, through the same :func:`retrieval.embedder.get_embedder`, so the
runtime is the one ``medassist setup`` calibrated) puts each clause of a stay and each ATIH label in
one vector space; the nearest labels become candidates that then go through the same edsnlp
qualifiers (negation, hypothesis, family, history) and ATIH precision rules as every other mention.

What is indexed (:func:`index_entries`): the long ATIH label of every code except the external
causes V–Y (26,536 codes that this tool never suggests: they need place and activity details it
does not read) and the 401 suppressed codes — 15,574 labels, parents included (a parent hit is
resolved to a child by :mod:`tools.coding.rules`) — plus every term of our synonym file
(``knowledge/data/cim10_synonyms.json``), so that a paraphrase *of a synonym* is found too. Short
labels are not embedded: they are upper-case abbreviations of the long ones ("T.M. DU RHINOPHARYNX,
SAI") and add no wording.

Storage: ``<model folder>-cim10/cim10_labels_<key>.npz`` (codes + float16 unit vectors, ≈ 25 MB),
next to the model like its ONNX export, so that every data directory using this model (tests
included) shares one index. ``key`` hashes the indexed texts (hence the catalogue and synonym
files), the embedder name (model and dimension), the model's weight hash and
:data:`INDEX_VERSION`: any change writes a new file. It is built by ``medassist setup``
(:func:`build_label_index`) or, when missing, on first use, under a file lock so that concurrent
processes build it once. With a remote embedder (``MEDASSIST_EMBEDDING_URL``) it lives in the cache
dir instead.

Example::

    >>> idx = get_label_index()                                   # doctest: +SKIP
    >>> idx.search_many(["poussée d'insuffisance cardiaque droite"], k=2)   # doctest: +SKIP
    [[('I500', 0.71), ('I50', 0.66)]]

Limits: building costs one embedding per label (16,600 texts: 10–40 minutes on two loaded cores,
a few seconds on a GPU); vectors of the torch fp32/bf16 and ONNX int8 runtimes agree to ≥ 0.98
cosine, so the key does not pin the runtime. Cosine scores are not probabilities: they are one
feature of the calibrated score (:mod:`tools.coding.calibration`). A query costs one model call
(≈ 50 ms int8 on an idle core), which is why :mod:`tools.coding.extract` only asks for the clauses
that no lexical matcher explained.

Measured on the dev data (2026-12-03, thresholds of :mod:`tools.coding.extract`, 2 loaded cores,
ONNX int8): dev syntheses DP top-1 0.973 → 0.947, recall@5 0.989 = 0.989, precision 0.939 → 0.920;
holdout recall@5 0.906 → 0.938; whole stays recall@5 0.628 → 0.634 but one forbidden code
(I26.0), and 0.9 s per synthesis / ~20 s per stay instead of 30 ms / 0.4 s. Hence **off by
default**: ``MEDASSIST_CODING_DENSE=1`` (or ``suggest_codes(label_search=index)``) turns it on.
Cosines of right and wrong hits overlap (0.60–0.73 both): the threshold alone cannot separate them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from knowledge.cim10 import Cim10Catalogue, get_catalogue

__all__ = [
    "INDEX_VERSION",
    "LabelIndex",
    "build_label_index",
    "get_label_index",
    "index_entries",
    "index_path",
    "load_index",
]

log = logging.getLogger(__name__)

#: Bump when what is embedded, or how, changes (writes a new index file).
INDEX_VERSION = "1"
_PREFIX = "cim10_labels_"


def index_entries(catalogue: Cim10Catalogue | None = None, synonyms: dict | None = None) -> list[tuple[str, str]]:
    """``(undotted code, text)`` rows to embed: long labels (no V–Y, no suppressed code), then synonyms.

    >>> rows = index_entries()
    >>> ("I500", "Insuffisance cardiaque congestive") in rows, any(c[0] in "VWXY" for c, _t in rows)
    (True, False)
    """
    cat = catalogue or get_catalogue()
    if synonyms is None:
        from .pipeline import load_synonyms

        synonyms = load_synonyms()["terms"]
    rows: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for code in cat:
        if code[0] in "VWXY":
            continue
        label = cat[code].label
        if label.startswith("***"):
            continue
        rows.append((code, label))
        seen.add((code, label.lower()))
    for code, terms in synonyms.items():
        if code not in cat:
            continue
        for t in terms:
            if (code, t.lower()) not in seen:
                seen.add((code, t.lower()))
                rows.append((code, t))
    return rows


def _model_hash(settings) -> str:
    """The weights' identity, not their path (tests and the app name the same folder differently):
    the sha256 that ``medassist setup`` verified (its ``.sha256ok`` marker), else the file size."""
    if settings.embedding_url:
        return settings.embedding_model or "remote"
    from medassist.settings import EMBEDDINGGEMMA_SHA256

    weights = settings.embedding_model_path / "model.safetensors"
    marker = weights.with_name(weights.name + ".sha256ok")
    try:
        if marker.read_text().startswith(EMBEDDINGGEMMA_SHA256):
            return EMBEDDINGGEMMA_SHA256
    except OSError:
        pass
    try:
        return f"size={weights.stat().st_size}"
    except OSError:
        return "absent"


def index_key(rows: Sequence[tuple[str, str]], embedder_name: str, model_hash: str) -> str:
    h = hashlib.sha256()
    h.update(f"{INDEX_VERSION}|{embedder_name}|{model_hash}".encode())
    for code, text in rows:
        h.update(f"{code}\t{text}\n".encode())
    return h.hexdigest()[:16]


def index_dir(settings) -> Path:
    if settings.embedding_url:
        return settings.cache_dir
    p = settings.embedding_model_path
    return p.with_name(p.name + "-cim10")


def index_path(settings, rows: Sequence[tuple[str, str]], embedder_name: str) -> Path:
    return index_dir(settings) / f"{_PREFIX}{index_key(rows, embedder_name, _model_hash(settings))}.npz"


class LabelIndex:
    """Unit vectors of catalogue texts and their codes; cosine search with one code per hit."""

    def __init__(self, codes: Sequence[str], vectors: np.ndarray, embedder=None):
        self.codes = np.asarray(codes)
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.embedder = embedder
        # rows -> distinct code ids, to keep the best row of each code
        self._uniq, self._inverse = np.unique(self.codes, return_inverse=True)

    def __len__(self) -> int:
        return len(self.codes)

    def search_vectors(self, queries: np.ndarray, k: int = 5) -> list[list[tuple[str, float]]]:
        """Best ``k`` distinct codes for each (unit) query vector, by cosine."""
        if len(queries) == 0:
            return []
        sims = np.asarray(queries, dtype=np.float32) @ self.vectors.T  # (q, rows)
        out = []
        for row in sims:
            best = np.full(len(self._uniq), -1.0, dtype=np.float32)
            np.maximum.at(best, self._inverse, row)
            top = np.argpartition(-best, min(k, len(best) - 1))[:k]
            top = top[np.argsort(-best[top])]
            out.append([(str(self._uniq[i]), round(float(best[i]), 4)) for i in top])
        return out

    def search_many(self, texts: Sequence[str], k: int = 5) -> list[list[tuple[str, float]]]:
        """Embed ``texts`` as queries (one batch) and search each."""
        if not texts:
            return []
        if self.embedder is None:
            raise RuntimeError("LabelIndex sans modèle d'embeddings : utilisez search_vectors().")
        return self.search_vectors(_embed_queries(self.embedder, list(texts)), k)

    def __call__(self, text: str) -> list[tuple[str, float]]:
        """The :data:`tools.coding.extract.LabelSearch` protocol: one text, its best codes."""
        return self.search_many([text])[0]


def _embed_queries(embedder, texts: list[str]) -> np.ndarray:
    """Query vectors for ``texts``: one batched model call for the local model (its per-text
    ``embed_query`` cache is consulted first), one call per text otherwise."""
    cache = getattr(embedder, "_embed_query_cached", None)
    model = getattr(embedder, "model", None)
    if cache is None or model is None or not hasattr(model, "encode_query"):
        return np.stack([embedder.embed_query(t) for t in texts])
    out: list[np.ndarray | None] = [None] * len(texts)
    missing = []
    for i, t in enumerate(texts):
        info = _QUERY_MEMO.get((embedder.name, t))
        if info is not None:
            out[i] = info
        else:
            missing.append(i)
    if missing:
        lock = getattr(embedder, "_lock", contextlib.nullcontext())
        with lock:
            v = model.encode_query([texts[i] for i in missing], batch_size=32, convert_to_numpy=True)
        v = embedder._post(v)
        for i, vec in zip(missing, v):
            out[i] = vec
            if len(_QUERY_MEMO) > 20_000:
                _QUERY_MEMO.clear()
            _QUERY_MEMO[(embedder.name, texts[i])] = vec
    return np.stack(out)


_QUERY_MEMO: dict[tuple[str, str], np.ndarray] = {}


@contextlib.contextmanager
def _file_lock(path: Path):
    """Exclusive lock on ``path`` (one build at a time across processes); no-op where unsupported."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX
        yield
        return
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def load_index(path: Path, embedder=None) -> LabelIndex | None:
    """The index stored at ``path`` (``None`` when absent or unreadable)."""
    loaded = _load(path) if Path(path).exists() else None
    return LabelIndex(*loaded, embedder) if loaded is not None else None


def _load(path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            return z["codes"], z["vectors"].astype(np.float32)
    except (OSError, ValueError, KeyError):
        return None


def build_label_index(settings=None, *, embedder=None, progress: Callable[[str], None] = print,
                      batch_size: int = 64, rows: Sequence[tuple[str, str]] | None = None,
                      directory: Path | None = None) -> Path:
    """Embed every row of :func:`index_entries` (or ``rows``) and write the index in
    :func:`index_dir` (or ``directory``); a no-op when that index is already there.

    Resumable: finished batches are kept in ``<index>.partial/`` and reused after an interruption.
    Texts are embedded shortest first so that batches carry little padding."""
    from medassist.settings import get_settings
    from retrieval.embedder import get_embedder

    settings = settings or get_settings()
    embedder = embedder or get_embedder(settings)
    rows = list(rows) if rows is not None else index_entries()
    path = index_path(settings, rows, embedder.name)
    if directory is not None:
        path = Path(directory) / path.name
    if path.exists() and _load(path) is not None:
        progress(f"Index CIM-10 : déjà présent ({path}).")
        return path
    with _file_lock(path.with_suffix(".lock")):
        if path.exists() and _load(path) is not None:  # built by another process meanwhile
            return path
        order = sorted(range(len(rows)), key=lambda i: len(rows[i][1]))
        partial = path.with_suffix(".partial")
        partial.mkdir(parents=True, exist_ok=True)
        vectors = np.zeros((len(rows), embedder.dim), dtype=np.float16)
        n_batches = (len(order) + batch_size - 1) // batch_size
        t0 = time.perf_counter()
        done = 0
        for b in range(n_batches):
            idx = order[b * batch_size : (b + 1) * batch_size]
            chunk = partial / f"{b:05d}.npy"
            v = None
            if chunk.exists():
                with contextlib.suppress(OSError, ValueError):
                    v = np.load(chunk, allow_pickle=False)
                    if v.shape != (len(idx), embedder.dim):
                        v = None
            if v is None:
                v = embedder.embed_documents([rows[i][1] for i in idx]).astype(np.float16)
                np.save(chunk, v, allow_pickle=False)
                done += len(idx)
            vectors[idx] = v
            if b % 20 == 0 or b == n_batches - 1:
                rate = done / max(time.perf_counter() - t0, 1e-6)
                progress(f"Index CIM-10 : {min((b + 1) * batch_size, len(rows))}/{len(rows)} libellés "
                         f"({rate:.1f}/s)")
        codes = np.asarray([c for c, _t in rows])
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
        os.close(fd)
        with open(tmp, "wb") as fh:
            np.savez(fh, codes=codes, vectors=vectors)
        os.replace(tmp, path)
        runtime = getattr(getattr(embedder, "runtime", None), "label", None)
        meta = {"rows": len(rows), "embedder": embedder.name, "runtime": runtime,
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "index_version": INDEX_VERSION}
        path.with_suffix(".json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        for f in sorted(partial.glob("*.npy")):
            f.unlink()
        partial.rmdir()
        for stale in path.parent.glob(f"{_PREFIX}*.npz"):
            if stale != path:
                stale.unlink(missing_ok=True)
        progress(f"Index CIM-10 : {len(rows)} libellés indexés ({path}).")
    return path


_CACHE: dict[tuple, LabelIndex | None] = {}
_CACHE_LOCK = threading.Lock()
_BUILDING: set[Path] = set()


def get_label_index(settings=None, *, build_if_missing: bool = True, wait: bool = False) -> LabelIndex | None:
    """The process-wide index for the configured embedder, or ``None`` when there is none yet
    (coding then runs on its lexical matchers alone).

    ``None`` also when no embedding model is provisioned, and unless ``MEDASSIST_CODING_DENSE=1``
    (off by default: on the dev data it did not pay for its latency, see the module Limits). A missing
    index is built lazily: in a background thread (``wait=False``: the first stays are coded
    without it rather than blocked for minutes; the build is resumable, so a process that exits
    early leaves its finished batches to the next one), or before returning (``wait=True``).
    Another process already building it (file lock held) is left to finish."""
    from medassist.settings import get_settings

    settings = settings or get_settings()
    if os.environ.get("MEDASSIST_CODING_DENSE", "0") != "1":
        return None
    key = (str(settings.embedding_model_path), settings.embedding_url, settings.embedding_dim)
    with _CACHE_LOCK:
        idx = _CACHE.get(key)
        if idx is not None:
            return idx
        idx = _open(settings, build_if_missing, wait)
        if idx is not None:
            _CACHE[key] = idx
        return idx


def _lock_is_free(lock: Path) -> bool:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX
        return True
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        fcntl.flock(fh, fcntl.LOCK_UN)
        return True


def _open(settings, build_if_missing: bool, wait: bool) -> LabelIndex | None:
    from retrieval.embedder import EmbeddingError, get_embedder

    if not settings.embedding_url and not (settings.embedding_model_path / "model.safetensors").exists():
        return None
    rows = index_entries()
    try:
        embedder = get_embedder(settings)
    except (EmbeddingError, OSError, ImportError) as exc:
        log.warning("Index CIM-10 indisponible : %s", exc)
        return None
    path = index_path(settings, rows, embedder.name)
    loaded = _load(path) if path.exists() else None
    if loaded is None:
        if not build_if_missing:
            return None
        if wait:
            build_label_index(settings, embedder=embedder, progress=log.info)
            loaded = _load(path)
        elif path not in _BUILDING and _lock_is_free(path.with_suffix(".lock")):
            _BUILDING.add(path)
            log.warning("Index CIM-10 absent : construction en arrière-plan (une seule fois, plusieurs minutes)…")

            def run() -> None:
                try:
                    build_label_index(settings, embedder=embedder, progress=log.info)
                except Exception as exc:  # noqa: BLE001 - the tool keeps working without it
                    log.warning("Construction de l'index CIM-10 interrompue : %s", exc)
                finally:
                    _BUILDING.discard(path)

            threading.Thread(target=run, name="cim10-label-index", daemon=True).start()
        if loaded is None:
            return None
    codes, vectors = loaded
    return LabelIndex(codes, vectors, embedder)


def clear_cache() -> None:
    """Forget the process-wide index (tests, settings change)."""
    with _CACHE_LOCK:
        _CACHE.clear()
