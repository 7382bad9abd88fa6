"""Evaluate CIM-10 coding on the annotated stays of ``knowledge/eval/coding.jsonl``.

Why: the coding tool is rule-and-terminology based; every change must be measured against gold
codes and, above all, against the traps (negated, hypothetical, family-history findings) that must
never be suggested. Two systems are compared:

* ``medassist`` — :func:`tools.coding.suggest_codes` (qualifiers, synonyms, ATIH rules, DP ranking);
* ``edsnlp_baseline`` — edsnlp's ``eds.cim10`` matcher alone: every matched code, no qualifier
  filtering, ordered by first occurrence, DP = first. (Read from the ``cim10`` span group of our
  cached pipeline, which runs the same component on the same normalised text, so that the ~1 min
  build of eds.cim10 is not paid twice.)

Metrics (gold = DP + DAS of each case):

* ``dp_top1``: the first suggestion is the gold DP;
* ``recall@5`` (micro): share of gold codes among the first 5 suggestions; ``recall@5_macro``
  averages per case; ``category_recall@5``: same on 3-character categories;
* ``precision``: share of suggested codes (all of them, up to ``top_k``) that are gold codes;
* ``forbidden_suggested``: number of forbidden codes suggested at any rank — exact code, or same
  category when no gold code shares that category;
* ``latency_ms_mean`` / ``latency_ms_p95`` per case (after warm-up);
* ``n`` cases, and ``cases``: one row per case (``id``, ``split``, ``dp_gold``, ``dp_pred``, ``got``,
  ``gold``, ``forbidden_hits``, ``latency_ms``) for plots and error analysis.

Example::

    $ .venv/bin/python bench/coding_eval.py            # side-by-side table, all cases and splits
    >>> from bench.coding_eval import evaluate
    >>> evaluate("knowledge/eval/coding.jsonl", system="medassist", split="dev")["dp_top1"]  # doctest: +SKIP

Limits: 75 short syntheses written for this project (``split`` = ``dev`` used while tuning,
``holdout`` = every 5th case, not inspected while tuning); one annotator; no external-cause codes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from knowledge.cim10 import dot  # noqa: E402

DEFAULT_CASES = REPO / "knowledge" / "eval" / "coding.jsonl"
SYSTEMS = ("medassist", "edsnlp_baseline")


def load_cases(path: str | Path, split: str | None = None) -> list[dict]:
    cases = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    if split is not None:
        cases = [c for c in cases if c.get("split", "dev") == split]
    return cases


def _medassist(text: str, top_k: int) -> list[str]:
    return [c for c, _p in _medassist_scored(text, top_k)]


def _medassist_scored(text: str, top_k: int) -> list[tuple[str, float]]:
    from tools.coding import SourceText, suggest_codes

    return [(s.code, s.score) for s in suggest_codes([SourceText(source="text", text=text)], top_k=top_k).suggestions]


def _baseline(text: str, top_k: int) -> list[str]:
    from tools.coding.pipeline import get_pipeline, run_pipeline

    doc = run_pipeline(get_pipeline(), text)
    spans = sorted(doc.spans.get("cim10", []), key=lambda s: (s.start, s.end))
    out: list[str] = []
    for s in spans:
        code = dot(s.kb_id_)
        if code not in out:
            out.append(code)
    return out[:top_k]


def _forbidden_hits(case: dict, suggested: list[str]) -> list[str]:
    gold_cats = {c[:3] for c in [case["dp"], *case["das"]]}
    hits = []
    for f in case.get("forbidden", []):
        if f in suggested or (f[:3] not in gold_cats and any(s[:3] == f[:3] for s in suggested)):
            hits.append(f)
    return hits


def evaluate(
    cases_path: str | Path = DEFAULT_CASES,
    system: str = "medassist",
    *,
    split: str | None = None,
    top_k: int = 10,
) -> dict:
    """Metrics of ``system`` on the cases of ``cases_path`` (optionally one ``split``)."""
    if system not in SYSTEMS:
        raise ValueError(f"Système inconnu : {system!r} (attendu : {', '.join(SYSTEMS)})")
    run = _medassist_scored if system == "medassist" else (lambda t, k: [(c, None) for c in _baseline(t, k)])
    cases = load_cases(cases_path, split)
    if not cases:
        raise ValueError(f"Aucun cas dans {cases_path} (split={split!r})")
    run("Patient hospitalisé pour une pneumopathie.", top_k)  # warm-up: pipeline and catalogue loads
    dp_ok = gold_n = hit5 = cat_n = cat_hit5 = sugg_n = sugg_ok = 0
    forbidden = 0
    per_case_recall: list[float] = []
    latencies: list[float] = []
    rows = []
    scored: list[tuple[float, int]] = []
    for case in cases:
        t0 = time.perf_counter()
        pairs = run(case["text"], top_k)
        latencies.append((time.perf_counter() - t0) * 1000)
        got = [c for c, _p in pairs]
        gold = [case["dp"], *case["das"]]
        scored.extend((p, int(c in gold)) for c, p in pairs if p is not None)
        top5 = got[:5]
        dp_ok += bool(got) and got[0] == case["dp"]
        hits = [g for g in gold if g in top5]
        gold_n += len(gold)
        hit5 += len(hits)
        per_case_recall.append(len(hits) / len(gold))
        gcats = {g[:3] for g in gold}
        cat_n += len(gcats)
        cat_hit5 += len(gcats & {c[:3] for c in top5})
        sugg_n += len(got)
        sugg_ok += sum(1 for c in got if c in gold)
        fh = _forbidden_hits(case, got)
        forbidden += len(fh)
        rows.append({"id": case["id"], "split": case.get("split", "dev"), "dp_gold": case["dp"],
                     "dp_pred": got[0] if got else None, "got": got, "gold": gold, "forbidden_hits": fh,
                     "latency_ms": round(latencies[-1], 2)})
    n = len(cases)
    return {
        "system": system,
        "split": split or "all",
        "n": n,
        "dp_top1": round(dp_ok / n, 4),
        "recall@5": round(hit5 / gold_n, 4),
        "recall@5_macro": round(statistics.mean(per_case_recall), 4),
        "category_recall@5": round(cat_hit5 / cat_n, 4),
        "precision": round(sugg_ok / sugg_n, 4) if sugg_n else 0.0,
        "forbidden_suggested": forbidden,
        "latency_ms_mean": round(statistics.mean(latencies), 2),
        "latency_ms_p95": round(sorted(latencies)[max(0, int(round(0.95 * n)) - 1)], 2),
        "calibration": _reliability(scored) if scored else None,
        "cases": rows,
    }


def _reliability(pairs: list[tuple[float, int]]) -> dict:
    from tools.coding.calibration import reliability

    return reliability(pairs)


# --------------------------------------------------------------------------- patient mode
PATIENTS = REPO / "knowledge" / "patients"
STAYS = REPO / "knowledge" / "eval" / "coding_stays"


def stay_sources(patient: str, stay: str | None) -> list:
    """The documents of a stay as the retrieval service stores them (``parse_file`` text), without
    an index: those of ``stay``, or all the patient's documents when none belongs to it (as
    :func:`tools.coding.patient.stay_documents`)."""
    from retrieval.parsing import parse_file
    from tools.coding import SourceText

    meta = json.loads((PATIENTS / patient / "patient.json").read_text(encoding="utf-8"))
    docs = meta.get("documents", [])
    in_stay = [d for d in docs if d.get("stay_id") == stay] if stay else []
    return [SourceText(source=d["id"], text=parse_file(PATIENTS / patient / d["file"]).text) for d in (in_stay or docs)]


def evaluate_stays(limit: int | None = None) -> dict:
    """Patient mode offline: each gold stay of ``knowledge/eval/coding_stays`` coded from its
    documents; same metrics as ``bench.harness._coding_stays`` plus calibration."""
    from tools.coding import suggest_codes

    gold_stays = [json.loads(line) for f in sorted(STAYS.glob("*.jsonl"))
                  for line in f.read_text(encoding="utf-8").splitlines() if line.strip()][:limit]
    sources = {(g["patient"], g["stay"]): stay_sources(g["patient"], g["stay"]) for g in gold_stays}
    suggest_codes(sources[(gold_stays[0]["patient"], gold_stays[0]["stay"])])  # warm-up
    rows, lat, scored = [], [], []
    for g in gold_stays:
        t = time.perf_counter()
        res = suggest_codes(sources[(g["patient"], g["stay"])])
        lat.append(time.perf_counter() - t)
        codes = res.codes()
        scored.extend((s.score, int(s.code in (g["dp"], *g.get("das", [])))) for s in res.suggestions)
        rows.append({**stay_row(g, codes, res.dp.code if res.dp else None), "got": codes})
    return {**stay_summary(rows, lat), "calibration": _reliability(scored)}


def stay_row(gold: dict, codes: list[str], dp: str | None) -> dict:
    """One gold stay scored (patient mode): DP, recall of DP + DAS at 5 and overall, forbidden codes."""
    expected = [gold["dp"], *gold.get("das", [])]
    return {"patient": gold["patient"], "stay": gold["stay"], "dp_gold": gold["dp"], "dp": dp, "gold": expected,
            "recall5": sum(c in codes[:5] for c in expected) / len(expected),
            "recall_all": sum(c in codes for c in expected) / len(expected),
            "forbidden": [c for c in gold.get("forbidden", []) if c in codes]}


def stay_summary(rows: list[dict], latencies_s: list[float]) -> dict:
    """Rates over scored stays (:func:`stay_row`), the same for the harness and this module."""
    n = max(len(rows), 1)
    return {"n": len(rows), "dp_top1": round(sum(r["dp"] == r["dp_gold"] for r in rows) / n, 3),
            "recall@5": round(sum(r["recall5"] for r in rows) / n, 3),
            "recall_all": round(sum(r["recall_all"] for r in rows) / n, 3),
            "forbidden_suggested": sum(len(r["forbidden"]) for r in rows),
            "latency_ms_mean": round(statistics.mean(latencies_s) * 1000, 1) if latencies_s else None, "cases": rows}


# --------------------------------------------------------------------------- calibration fit
def fit_calibration(cases_path: str | Path = DEFAULT_CASES, split: str = "dev", *, save: bool = True,
                    stays: bool = True) -> dict:
    """Fit :mod:`tools.coding.calibration` on ``split`` and, with ``stays``, on the dev gold stays
    (label: the suggested code is a gold code) and write ``tools/coding/calibration.json``; returns
    the fitted coefficients and the Brier score of the raw and calibrated scores on that data."""
    from tools.coding import SourceText
    from tools.coding.calibration import FEATURES, fit, reliability
    from tools.coding.extract import suggest_with_features

    X, y, raw = [], [], []
    units = [([SourceText(source="text", text=c["text"])], {c["dp"], *c["das"]}) for c in load_cases(cases_path, split)]
    n_cases = len(units)
    if stays:
        for f in sorted(STAYS.glob("*.jsonl")):
            for line in f.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    g = json.loads(line)
                    units.append((stay_sources(g["patient"], g["stay"]), {g["dp"], *g.get("das", [])}))
    for sources, gold in units:
        res, rows = suggest_with_features(sources, top_k=50, calibrated=False)
        for s, x in zip(res.suggestions, rows):
            X.append(x)
            y.append(int(s.code in gold))
            raw.append(s.score)
    cal = fit(X, y)
    cal.meta = {"split": split, "cases_file": Path(cases_path).name, "cases": n_cases, "stays": len(units) - n_cases,
                "n_suggestions": len(y),
                "positives": sum(y), "fitted_at": time.strftime("%Y-%m-%d")}
    if save:
        cal.save()
        from tools.coding.calibration import get_calibrator

        get_calibrator.cache_clear()
    probs = [cal.probability(x) for x in X]
    return {"coef": dict(zip(FEATURES, [round(c, 3) for c in cal.coef])), "intercept": round(cal.intercept, 3),
            "n": len(y), "raw": reliability(list(zip(raw, y))), "calibrated": reliability(list(zip(probs, y)))}


def _table(results: list[dict]) -> str:
    keys = ["dp_top1", "recall@5", "recall@5_macro", "category_recall@5", "precision",
            "forbidden_suggested", "latency_ms_mean", "latency_ms_p95"]
    head = ["métrique"] + [f"{r['system']} ({r['split']}, n={r['n']})" for r in results]
    widths = [max(len(head[0]), *(len(k) for k in keys))] + [len(h) for h in head[1:]]
    lines = [" | ".join(h.ljust(w) for h, w in zip(head, widths)), "-+-".join("-" * w for w in widths)]
    for k in keys:
        cells = [k.ljust(widths[0])] + [str(r[k]).rjust(w) for r, w in zip(results, widths[1:])]
        lines.append(" | ".join(cells))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Évaluation du codage CIM-10 (medassist vs edsnlp seul).")
    ap.add_argument("cases", nargs="?", default=str(DEFAULT_CASES))
    ap.add_argument("--split", choices=["dev", "holdout"], default=None)
    ap.add_argument("--json", action="store_true", help="JSON instead of a table")
    ap.add_argument("--fit-calibration", action="store_true", help="fit tools/coding/calibration.json on dev")
    ap.add_argument("--stays", action="store_true", help="patient mode (knowledge/eval/coding_stays) too")
    args = ap.parse_args(argv)
    if args.fit_calibration:
        print(json.dumps(fit_calibration(args.cases), ensure_ascii=False, indent=1))
        return 0
    splits = [args.split] if args.split else [None, "dev", "holdout"]
    results = [evaluate(args.cases, system=s, split=sp) for sp in splits for s in SYSTEMS]
    if args.json:
        print(json.dumps([{k: v for k, v in r.items() if k != "cases"} for r in results], ensure_ascii=False, indent=2))
    else:
        for i in range(0, len(results), 2):
            print(_table(results[i : i + 2]))
            cal = results[i].get("calibration")
            if cal:
                print(f"Calibration ({results[i]['split']}) : Brier {cal['brier']} sur {cal['n']} suggestions")
                for b in cal["table"]:
                    print(f"  p {b['bin']:<12} n={b['n']:<4} p moyen {b['mean_p']:<6} observé {b['observed']}")
            print()
    if args.stays:
        st = evaluate_stays()
        print(json.dumps({k: v for k, v in st.items() if k != "cases"}, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
