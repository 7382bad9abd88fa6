"""Embedding runtimes side by side on this CPU: ingestion of the demo corpus, query latency, search
latency and retrieval quality, each runtime against the fp32 PyTorch reference in the same run.

Why: the runtime a machine uses (:func:`retrieval.embedder.resolve_runtime`) is chosen by a short
self-check at setup; this bench is the full measurement behind that choice, and the gate for the
int8 model: its dev-QA recall must stay within 1 point of fp32 (:data:`MAX_RECALL_LOSS`), or
``calibrate`` would be wrong to prefer it. Every row says on which CPU it was measured.

Run: ``medassist bench --only embedding`` (part of ``medassist bench``). About 2 minutes per runtime
on a 2-core Xeon with AMX; several times that on a 2-core AVX2 machine for the fp32 reference.

Limits: timings depend on the machine's load (read the ratios, measured in one run); quality is
the dev QA set's (254 questions), which the hybrid fusion weights were tuned on.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench.retrieval_bench import KNOWLEDGE, _pct, evaluate_retrieval, load_cases
from medassist.hardware import cpu_info
from medassist.settings import Settings
from retrieval.embedder import LocalEmbedder, Runtime, candidate_runtimes, resolve_runtime
from retrieval.parsing import parse_file
from retrieval.service import RetrievalService
from retrieval.store import Scope

#: The largest recall@k loss (absolute) accepted from a faster runtime against fp32.
MAX_RECALL_LOSS = 0.01


def _warm_parsers() -> None:
    """Load the parsers' libraries once (first DOCX/HTML parse loads spaCy: 15–25 s), so every
    runtime's ingestion measures the same steady state."""
    for suffix in (".docx", ".html", ".pdf"):
        f = next((p for p in (KNOWLEDGE / "patients").rglob(f"*{suffix}") if "_src" not in p.parts), None)
        if f:
            parse_file(f)


def _measure(settings: Settings, runtime: Runtime, folders: list[Path], questions: list[dict]) -> dict:
    emb = LocalEmbedder(settings.embedding_model_path, dim=settings.embedding_dim,
                        batch_size=settings.embedding_batch_size, runtime=runtime,
                        onnx_path=settings.embedding_onnx_path)
    emb.embed_documents(["préchauffage du modèle"])
    with tempfile.TemporaryDirectory() as tmp:
        s = settings.model_copy(update={"data_dir": Path(tmp), "qdrant_url": "", "database_url": ""})
        svc = RetrievalService(s, embedder=emb)
        try:
            rep = svc.ingest_paths(folders)
            q_lat, s_lat = [], []
            emb._embed_query_cached.cache_clear()
            for c in questions:
                t = time.perf_counter()
                emb.embed_query(c["question"])
                q_lat.append(time.perf_counter() - t)
            emb._embed_query_cached.cache_clear()  # the search pays its own query embedding
            for c in questions:
                scope = Scope.patient(c["patient"]) if c.get("patient") else Scope.procedures()
                t = time.perf_counter()
                svc.search(scope, c["question"], k=5)
                s_lat.append(time.perf_counter() - t)
            quality = evaluate_retrieval(svc)["modes"]["hybrid_weighted"]
        finally:
            svc.close()
    return {
        "runtime": runtime.label, "documents": len(rep.added), "chunks": rep.chunks,
        "ingest_s": rep.seconds, "chunks_per_s": round(rep.chunks / rep.seconds, 2) if rep.seconds else None,
        "embed_share": round(rep.embed_seconds / rep.seconds, 3) if rep.seconds else None,
        "query_embed_ms_p50": round(_pct(q_lat, 50), 1), "query_embed_ms_p95": round(_pct(q_lat, 95), 1),
        "hybrid_search_ms_p50": round(_pct(s_lat, 50), 1), "hybrid_search_ms_p95": round(_pct(s_lat, 95), 1),
        "recall@1": quality["recall@1"], "recall@3": quality["recall@3"], "recall@5": quality["recall@5"],
        "mrr": quality["mrr"],
    }


def compare_runtimes(settings: Settings, runtimes: list[Runtime] | None = None, queries: int = 60) -> dict:
    """Every runtime usable here (or ``runtimes``), measured one after the other in one process."""
    runtimes = runtimes or candidate_runtimes(settings)
    folders = [KNOWLEDGE / "patients", KNOWLEDGE / "procedures"]
    questions = load_cases()[:queries]
    _warm_parsers()
    rows = [_measure(settings, rt, folders, questions) for rt in runtimes]
    base = rows[0]
    for r in rows[1:]:
        r["ingest_speedup_vs_fp32"] = round(r["chunks_per_s"] / max(base["chunks_per_s"], 1e-9), 2)
        r["query_p95_ratio_vs_fp32"] = round(r["query_embed_ms_p95"] / max(base["query_embed_ms_p95"], 1e-9), 2)
        loss = max(base[k] - r[k] for k in ("recall@1", "recall@3", "recall@5"))
        r["recall_within_1pt"] = loss <= MAX_RECALL_LOSS + 1e-9
    cpu = cpu_info()
    return {"cpu": cpu.summary, "native_bf16": cpu.native_bf16, "chosen": resolve_runtime(settings).label,
            "rows": rows}


def embedding_lines(e: dict) -> list[str]:
    lines = [f"**Embedding runtimes** on {e['cpu']} (native bf16: {'yes' if e['native_bf16'] else 'no'}); "
             f"demo corpus ({e['rows'][0]['documents']} documents, {e['rows'][0]['chunks']} chunks), "
             f"dev QA recall with hybrid search; used here: `{e['chosen']}`:", "",
             "| runtime | ingest chunks/s | × fp32 | model share | query embed p50 / p95 ms | hybrid search p50 / p95 ms "
             "| recall@1 / @3 / @5 |", "|---|---|---|---|---|---|---|"]
    for r in e["rows"]:
        lines.append(f"| {r['runtime']} | {r['chunks_per_s']} | {r.get('ingest_speedup_vs_fp32', 1.0)} | "
                     f"{round(100 * (r['embed_share'] or 0))} % | {r['query_embed_ms_p50']} / {r['query_embed_ms_p95']} | "
                     f"{r['hybrid_search_ms_p50']} / {r['hybrid_search_ms_p95']} | "
                     f"{r['recall@1']} / {r['recall@3']} / {r['recall@5']} |")
    return lines + [""]
