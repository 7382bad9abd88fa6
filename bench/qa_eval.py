"""Dev-set QA evaluation of the agent (extractive by default).

For every case of ``knowledge/eval/qa/*.jsonl`` (``{"id", "patient", "question", "expect_any",
"expect_doc"}``) the full agent graph is run (understand → retrieve → compose → verify → finalize,
in-memory checkpointer, one thread per case, a clinician seeing every patient) and scored:

* ``fact``: one of ``expect_any`` (case- and accent-insensitive, blanks normalised) is in the
  answer **or** in one of its first three cited passages;
* ``doc``: ``expect_doc`` is among the cited documents;
* a case passes when both hold. Also reported: the fact inside the answer text itself
  (``fact_in_answer``) and the expected document as first citation (``doc_at_1``).

Usage::

    python -m bench.qa_eval                       # default settings' index
    python -m bench.qa_eval --data-dir DIR        # another data dir (e.g. the test index cache)
    python -m bench.qa_eval --cases knowledge/eval/qa_procedures.jsonl --patient P001

Example::

    >>> normalise("FEVG  estimée à 30 %")
    'fevg estimee a 30 %'

Limits: the expected strings are short facts, so a long cited passage that happens to contain one
counts as a hit even if the highlighted sentence is another; ``fact_in_answer`` is the stricter view.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CASES = REPO / "knowledge" / "eval" / "qa"


def normalise(text: str) -> str:
    from knowledge.french import fold

    return fold(text)


def load_cases(cases_dir: Path | str | None = None) -> list[dict[str, Any]]:
    """Cases from a folder of ``*.jsonl`` files or from one ``.jsonl`` file."""
    path = Path(cases_dir) if cases_dir else DEFAULT_CASES
    files = sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
    cases = []
    for f in files:
        for line in f.read_text(encoding="utf-8").splitlines():
            if line.strip():
                cases.append(json.loads(line))
    return cases


def score_case(case: dict[str, Any], answer) -> dict[str, Any]:
    expected = [normalise(e) for e in case["expect_any"]]
    ans = normalise(answer.answer)
    top3 = " ".join(normalise(c.quote) for c in answer.citations[:3])
    docs = [c.doc_id for c in answer.citations]
    fact_in_answer = any(e in ans for e in expected)
    fact = fact_in_answer or any(e in top3 for e in expected)
    doc = case["expect_doc"] in docs
    return {"id": case["id"], "patient": case.get("patient"), "ok": fact and doc, "fact": fact,
            "fact_in_answer": fact_in_answer, "doc": doc, "doc_at_1": bool(docs) and docs[0] == case["expect_doc"],
            "cited": docs, "expect_doc": case["expect_doc"], "question": case["question"],
            "intent": answer.intent, "weak": answer.weak_evidence}


def evaluate(service, cases_dir: Path | str | None = None, mode: str = "extractive", *, llm=None,
             patient: str | None = None, k: int = 8, expand_documents: int = 3, progress=None,
             every: int = 1) -> dict[str, Any]:
    """Run every case (or every ``every``-th, a fixed subset) through the agent and score it.

    ``mode="generative"`` needs ``llm`` (a chat model). ``patient`` overrides the case's patient
    (procedure questions carry none).
    """
    from langgraph.checkpoint.memory import InMemorySaver

    from agents.graph import build_graph
    from agents.runner import run_turn
    from medassist.access import User
    from medassist.schemas import Role

    user = User(username="bench.qa", role=Role.clinician, patients=["*"])
    graph = build_graph(checkpointer=InMemorySaver())
    rows = []
    t0 = time.perf_counter()
    for i, case in enumerate(load_cases(cases_dir)[::every]):
        pid = patient or case.get("patient") or "P001"
        opts: dict[str, Any] = {"mode": mode, "k": k, "service": service, "expand_documents": expand_documents}
        if mode == "generative":
            opts.update(llm=llm)
        ans = run_turn(user, pid, case["question"], graph=graph, thread_id=f"qa:{case['id']}", **opts)
        row = score_case(case, ans)
        rows.append(row)
        if progress:
            progress(i, row)
    n = len(rows) or 1
    by_patient: dict[str, dict[str, int]] = {}
    for r in rows:
        p = by_patient.setdefault(r["patient"] or "-", {"cases": 0, "ok": 0, "fact_in_answer": 0, "doc_at_1": 0})
        p["cases"] += 1
        p["ok"] += r["ok"]
        p["fact_in_answer"] += r["fact_in_answer"]
        p["doc_at_1"] += r["doc_at_1"]
    return {
        "mode": mode, "cases": len(rows), "accuracy": sum(r["ok"] for r in rows) / n,
        "fact": sum(r["fact"] for r in rows) / n, "fact_in_answer": sum(r["fact_in_answer"] for r in rows) / n,
        "doc": sum(r["doc"] for r in rows) / n, "doc_at_1": sum(r["doc_at_1"] for r in rows) / n,
        "seconds": round(time.perf_counter() - t0, 1), "by_patient": by_patient,
        "failures": [r for r in rows if not r["ok"]], "rows": rows,
    }


def print_table(report: dict[str, Any], out=sys.stdout) -> None:
    print(f"{'patient':<8} {'cas':>4} {'réussis':>8} {'fait/réponse':>13} {'doc@1':>6}", file=out)
    for pid, p in sorted(report["by_patient"].items()):
        print(f"{pid:<8} {p['cases']:>4} {p['ok'] / p['cases']:>8.0%} {p['fact_in_answer'] / p['cases']:>13.0%} "
              f"{p['doc_at_1'] / p['cases']:>6.0%}", file=out)
    print(f"{'TOTAL':<8} {report['cases']:>4} {report['accuracy']:>8.1%} {report['fact_in_answer']:>13.1%} "
          f"{report['doc_at_1']:>6.1%}   (fait : {report['fact']:.1%}, document cité : {report['doc']:.1%}, "
          f"mode {report['mode']}, {report['seconds']} s)", file=out)
    for r in report["failures"]:
        why = ("fait" if not r["fact"] else "") + (" document" if not r["doc"] else "")
        print(f"  ÉCHEC {r['id']} ({why.strip()}) : {r['question']} → cités {r['cited'][:4]}, attendu "
              f"{r['expect_doc']}", file=out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Évaluation QA de l'agent (jeu de développement).")
    ap.add_argument("--cases", default=None, help="dossier de *.jsonl ou fichier .jsonl")
    ap.add_argument("--data-dir", default=None, help="dossier de données contenant l'index")
    ap.add_argument("--patient", default=None, help="patient imposé (questions sur les procédures)")
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--json", action="store_true", help="rapport JSON complet")
    args = ap.parse_args(argv)

    import os

    from medassist.settings import get_settings
    from retrieval.service import RetrievalService

    if args.data_dir:  # another index (and its audit trail), same embedding model
        os.environ.setdefault("MEDASSIST_EMBEDDING_MODEL", str(get_settings().embedding_model_path))
        os.environ["MEDASSIST_DATA_DIR"] = str(Path(args.data_dir).resolve())
        get_settings.cache_clear()
    settings = get_settings()
    service = RetrievalService(settings)
    try:
        report = evaluate(service, args.cases, patient=args.patient, k=args.k)
    finally:
        service.close()
    if args.json:
        print(json.dumps({k: v for k, v in report.items() if k != "rows"}, ensure_ascii=False, indent=2))
    else:
        print_table(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
