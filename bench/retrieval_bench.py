"""Retrieval quality and speed.

* :func:`evaluate_retrieval` — recall@1/3/5 and MRR of the expected source document on the dev QA
  sets (patients and procedures), for dense, BM25, hybrid RRF and hybrid weighted fusion, side by
  side; plus "fact@3": an expected fact appears in the top-3 passages.
* :func:`scale_latency` — query latency p50/p95 at 1k/10k/100k chunks for qdrant-edge vs
  qdrant-client local mode in one run (synthetic filler chunks: random unit vectors and French
  BM25 vectors of random clinical words; every query is patient-filtered like production).
* :func:`ingest_throughput` — chunks/s and the share of ingestion time spent in the embedder.

Run: ``python -m bench.retrieval_bench`` (or ``medassist bench`` / ``medassist eval --suite retrieval``).
Limits: latency numbers depend on machine load; compare backends by their ratio in one run.
"""

from __future__ import annotations

import json
import random
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from knowledge.french import fold
from medassist.schemas import Chunk, Corpus
from retrieval.service import RetrievalService
from retrieval.store import ClientStore, EdgeStore, FrenchBm25, Scope

KNOWLEDGE = Path(__file__).resolve().parent.parent / "knowledge"
MODES = {
    "dense": dict(mode="dense"),
    "bm25": dict(mode="bm25"),
    "hybrid_rrf": dict(mode="hybrid", fusion="rrf"),
    "hybrid_weighted": dict(mode="hybrid", fusion="weighted"),
}


def load_cases(cases_dir: Path | None = None) -> list[dict]:
    """QA cases: ``<dir>/qa/*.jsonl`` (patients) and ``<dir>/qa_procedures.jsonl``; or any folder of
    JSONL files with {"patient"?, "question", "expect_any", "expect_doc"?}."""
    root = Path(cases_dir) if cases_dir else KNOWLEDGE / "eval"
    files = sorted(root.glob("qa/*.jsonl")) + sorted(root.glob("*.jsonl"))
    cases = []
    for f in files:
        if f.name.startswith("coding"):
            continue
        for line in f.read_text(encoding="utf-8").splitlines():
            if line.strip():
                c = json.loads(line)
                if "question" in c:
                    cases.append(c)
    return cases


def evaluate_retrieval(service: RetrievalService, cases: list[dict] | None = None, k_max: int = 5) -> dict:
    cases = cases if cases is not None else load_cases()
    out: dict = {"n": len(cases), "modes": {}, "cases": []}
    per_case: dict[str, dict] = {c.get("id", str(i)): {"id": c.get("id", str(i))} for i, c in enumerate(cases)}
    for name, kw in MODES.items():
        ranks, facts, lat = [], [], []
        for i, c in enumerate(cases):
            scope = Scope.patient(c["patient"]) if c.get("patient") else Scope.procedures()
            t = time.perf_counter()
            res = service.search(scope, c["question"], k=k_max, **kw)
            lat.append(time.perf_counter() - t)
            docs = [h.chunk.doc_id for h in res.hits]
            rank = docs.index(c["expect_doc"]) + 1 if c.get("expect_doc") in docs else None
            ranks.append(rank)
            top3 = fold(" ".join(h.chunk.text for h in res.hits[:3]))
            fact = any(fold(f) in top3 for f in c["expect_any"])
            facts.append(fact)
            per_case[c.get("id", str(i))][name] = {"rank": rank, "fact@3": fact}
        n = max(len(cases), 1)
        out["modes"][name] = {
            "recall@1": round(sum(r == 1 for r in ranks) / n, 3),
            "recall@3": round(sum(r is not None and r <= 3 for r in ranks) / n, 3),
            "recall@5": round(sum(r is not None and r <= 5 for r in ranks) / n, 3),
            "mrr": round(sum(1 / r for r in ranks if r) / n, 3),
            "fact@3": round(sum(facts) / n, 3),
            "latency_ms_p50": round(statistics.median(lat) * 1000, 1) if lat else None,
        }
    out["cases"] = list(per_case.values())
    return out


# --------------------------------------------------------------------------- scale
_WORDS = ("patient fièvre toux dyspnée insuffisance cardiaque rénale créatinine kaliémie apixaban furosémide "
          "bisoprolol metformine insuline chimiothérapie cycle neutropénie transfusion scanner IRM biopsie "
          "conclusion évolution traitement sortie allergie pénicilline iode antécédents HTA diabète BPCO "
          "fracture prothèse hanche colectomie sigmoïde adénocarcinome lymphome pneumopathie embolie").split()


def _filler(n: int, dim: int, patients: int, seed: int = 7):
    rng = np.random.default_rng(seed)
    rnd = random.Random(seed)
    bm25 = FrenchBm25()
    vecs = rng.standard_normal((n, dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    chunks, sparse = [], []
    for i in range(n):
        pid = f"F{i % patients:05d}"
        text = " ".join(rnd.choice(_WORDS) for _ in range(40))
        chunks.append(Chunk(chunk_id=f"fill/{pid}/{i}", corpus=Corpus.patients, patient_id=pid, doc_id=f"{pid}-D{i}",
                            doc_type="autre", title="filler", date="2026-01-01", start=0, end=len(text), text=text,
                            content_hash="x"))
        sparse.append(bm25.document(text))
    return chunks, vecs, sparse


def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] * 1000


#: short names accepted by ``medassist bench --backends`` → row labels
BACKENDS = {"edge": "qdrant-edge", "client": "qdrant-client-local", "server": "qdrant-server"}


def _open_store(backend: str, tmp: Path, dim: int, url: str | None, api_key: str | None):
    if backend == "qdrant-edge":
        return EdgeStore(tmp, dim)
    if backend == "qdrant-client-local":
        return ClientStore(dim, path=tmp / "q")
    if not url:
        raise ValueError("Le moteur qdrant-server demande une URL (MEDASSIST_QDRANT_URL).")
    import uuid

    return ClientStore(dim, url=url, api_key=api_key, prefix=f"medassist_bench_{uuid.uuid4().hex[:8]}_")


def scale_latency(scales=(1_000, 10_000, 100_000), dim: int = 768, queries: int = 100, patients: int = 500,
                  client_max_queries: int = 30, backends=("qdrant-edge", "qdrant-client-local"), *,
                  url: str | None = None, api_key: str | None = None,
                  max_chunks: dict[str, int] | None = None) -> list[dict]:
    """Upsert + patient-filtered dense/sparse query latency for each backend at each scale.

    ``backends``: row labels of :data:`BACKENDS`; ``qdrant-server`` needs ``url`` and writes into
    collections of its own (``medassist_bench_<random>_…``), dropped afterwards. ``max_chunks``
    caps a backend's scale (e.g. ``{"qdrant-client-local": 10_000}``): the skipped cells are
    returned as rows with ``"skipped"`` so that a report says what was not measured.
    qdrant-client local mode scans every point for every query, so it runs ``client_max_queries``
    queries at most.
    """
    rows = []
    bm25 = FrenchBm25()
    rng = np.random.default_rng(1)
    max_chunks = max_chunks or {}
    for n in scales:
        chunks, vecs, sparse = _filler(n, dim, patients)
        for backend in backends:
            if n > max_chunks.get(backend, n):
                rows.append({"chunks": n, "backend": backend,
                             "skipped": f"non mesuré au-delà de {max_chunks[backend]:,} fragments"})
                continue
            with tempfile.TemporaryDirectory() as tmp:
                store = _open_store(backend, Path(tmp), dim, url, api_key)
                try:
                    t = time.perf_counter()
                    by_patient: dict[str, list[int]] = {}
                    for i, c in enumerate(chunks):
                        by_patient.setdefault(c.patient_id, []).append(i)
                    for pid, idx in by_patient.items():
                        store.upsert(Scope.patient(pid), [chunks[i] for i in idx], vecs[idx], [sparse[i] for i in idx])
                    if isinstance(store, EdgeStore):
                        store.optimize()
                    upsert_s = time.perf_counter() - t
                    nq = min(queries, client_max_queries) if backend == "qdrant-client-local" else queries
                    dense_lat, hybrid_lat = [], []
                    for qi in range(nq):
                        pid = f"F{qi % patients:05d}"
                        qv = rng.standard_normal(dim).astype(np.float32)
                        qv /= np.linalg.norm(qv)
                        qs = bm25.query(" ".join(random.Random(qi).choice(_WORDS) for _ in range(4)))
                        t = time.perf_counter()
                        store.dense_search(Scope.patient(pid), qv, 30)
                        dense_lat.append(time.perf_counter() - t)
                        t = time.perf_counter()
                        store.dense_search(Scope.patient(pid), qv, 30)
                        store.sparse_search(Scope.patient(pid), qs, 30)
                        hybrid_lat.append(time.perf_counter() - t)
                finally:
                    if isinstance(store, ClientStore) and store.name == "qdrant-server":
                        store.drop()
                    store.close()
            rows.append({
                "chunks": n, "backend": backend, "upsert_s": round(upsert_s, 2), "queries": nq,
                "dense_p50_ms": round(_pct(dense_lat, 50), 2), "dense_p95_ms": round(_pct(dense_lat, 95), 2),
                "hybrid_p50_ms": round(_pct(hybrid_lat, 50), 2), "hybrid_p95_ms": round(_pct(hybrid_lat, 95), 2),
            })
    # ratios to qdrant-edge per scale (the embedded default is the reference)
    for n in scales:
        e = next((r for r in rows if r["chunks"] == n and r["backend"] == "qdrant-edge" and "skipped" not in r), None)
        for r in rows:
            if e is None or r is e or r["chunks"] != n or "skipped" in r:
                continue
            r["hybrid_p95_ratio_vs_edge"] = round(r["hybrid_p95_ms"] / max(e["hybrid_p95_ms"], 1e-6), 1)
            r["upsert_ratio_vs_edge"] = round(r["upsert_s"] / max(e["upsert_s"], 1e-6), 1)
    return rows


def _ingest_once(service: RetrievalService, folder: Path) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        settings = service.settings.model_copy(update={"data_dir": Path(tmp)})
        svc = RetrievalService(settings, embedder=service.embedder)
        rep = svc.ingest_paths([folder])
        svc.close()
    return {
        "documents": len(rep.added), "chunks": rep.chunks, "seconds": rep.seconds,
        "chunks_per_s": round(rep.chunks / rep.seconds, 2) if rep.seconds else None,
        "embed_share": round(rep.embed_seconds / rep.seconds, 3) if rep.seconds else None,
    }


def ingest_throughput(service: RetrievalService, folder: Path | None = None) -> dict:
    """Ingest one patient folder twice, each time into a fresh temporary index.

    The top-level keys are the second run (steady state: embedding dominates); ``first_run`` is
    the first one in the process, which also loads the parsers' libraries (unstructured, PDF and
    DOCX readers): what the first upload after a server start costs."""
    folder = folder or KNOWLEDGE / "patients" / "P001"
    first = _ingest_once(service, folder)
    return {**_ingest_once(service, folder), "first_run": first}


def main() -> None:  # pragma: no cover - manual run
    from medassist.settings import get_settings
    from retrieval.service import get_service

    svc = get_service(get_settings())
    res = evaluate_retrieval(svc)
    print(f"{'mode':<18}{'r@1':>7}{'r@3':>7}{'r@5':>7}{'MRR':>7}{'fact@3':>8}")
    for name, m in res["modes"].items():
        print(f"{name:<18}{m['recall@1']:>7}{m['recall@3']:>7}{m['recall@5']:>7}{m['mrr']:>7}{m['fact@3']:>8}")


if __name__ == "__main__":  # pragma: no cover
    main()
