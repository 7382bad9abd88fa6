"""Recall per category and character precision of the pseudonymiser on annotated French snippets.

Why: ``bench/pseudo_eval.py`` measures the pseudonymiser on the synthetic corpus, where every
identifier is declared in patient.json — it cannot see what nobody declared. This scorer reads the
annotated snippets of ``knowledge/eval/pseudonymisation/`` (names of relatives, staff, neighbours,
dates in words, numbers in odd formats, obfuscated e-mails, hospitals, hamlets; protocol in
``PROTOCOL.md`` there) and measures, per split:

* recall per category — a gold span is recalled when all its letters and digits lie inside
  replaced spans (a half-replaced name is a leak; a comma left between street and postcode is not);
  names also by kind (full, first, last, part), and
  every category for declared vs undeclared values;
* character precision — replaced letters and digits inside some gold span / all replaced ones;
* silent leaks — snippets with a missed span where the fail-closed second pass
  (:func:`tools.pseudonymise.scan_residuals`) flags nothing, i.e. an export would have gone out.

Usage::

    python bench/pseudonymisation_eval.py                  # dev split
    python bench/pseudonymisation_eval.py --misses         # dev, with every missed / extra span
    python bench/pseudonymisation_eval.py --split test     # the blind split: once, rules frozen
    python bench/pseudonymisation_eval.py --json

Programmatic (for ``bench/harness.py``): ``evaluate(splits=("dev", "test"))`` returns a dict keyed by
split. Example on a hand-made row (no file needed)::

    >>> row = {"id": "x", "text": "Vu M. DUPONT.", "spans": [{"start": 6, "end": 12, "category": "NOM",
    ...        "declared": True, "kind": "last"}], "patient": {"id": "x", "identity": {"first_name": "Jean",
    ...        "last_name": "DUPONT", "sex": "M", "birth_date": "1950-01-02", "ipp": "80000001"},
    ...        "gp": {"name": "Dr Anne MOREL"}}}
    >>> r = score([row], use_edsnlp=False)
    >>> r["categories"]["NOM"]["recall"], r["char_precision"], r["silent_leaks"]
    (1.0, 1.0, 0)

Limits: the snippets are template-generated and short (see the protocol); ``--misses`` is refused
on the test split so that it stays blind.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from medassist.schemas import Patient  # noqa: E402
from tools.pseudonymise import PseudoContext, pseudonymise_text, scan_residuals  # noqa: E402

DATA = REPO / "knowledge" / "eval" / "pseudonymisation"
CATEGORIES = ("NOM", "DATE", "TEL", "NIR", "IPP", "EMAIL", "ADRESSE", "HOPITAL")
#: issue 20 acceptance: blind recall on these categories, character precision overall
TARGET_RECALL = {c: 0.95 for c in ("NOM", "DATE", "TEL", "NIR", "IPP", "EMAIL", "ADRESSE")}
TARGET_PRECISION = 0.9
OFFSET_DAYS = 37


def load(split: str) -> list[dict]:
    """Rows of one split (``dev`` or ``test``)."""
    with open(DATA / f"{split}.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def score(rows: list[dict], *, use_edsnlp: bool = True, misses: bool = False) -> dict:
    """Score the pseudonymiser on ``rows``; ``misses`` adds the missed and extra spans (dev only)."""
    t0 = time.perf_counter()
    gold_n: dict[str, int] = defaultdict(int)
    hit_n: dict[str, int] = defaultdict(int)
    by_key_n: dict[str, int] = defaultdict(int)
    by_key_hit: dict[str, int] = defaultdict(int)
    replaced_chars = inside_chars = 0
    silent = flagged = 0
    missed_list, extra_list = [], []
    for row in rows:
        text = row["text"]
        patient = Patient.model_validate(row["patient"])
        ctx = PseudoContext(patient, offset_days=OFFSET_DAYS)
        res = pseudonymise_text(text, patient, context=ctx, use_edsnlp=use_edsnlp)
        covered = [False] * len(text)
        for r in res.replacements:
            for i in range(r.start, r.end):
                covered[i] = True
        in_gold = [False] * len(text)
        row_missed = []
        for s in row["spans"]:
            cat = s["category"]
            for i in range(s["start"], s["end"]):
                in_gold[i] = True
            ok = all(covered[i] for i in range(s["start"], s["end"]) if text[i].isalnum())
            gold_n[cat] += 1
            hit_n[cat] += ok
            keys = [f"{cat}/{'declared' if s['declared'] else 'undeclared'}"]
            if s.get("kind"):
                keys.append(f"{cat}/{s['kind']}")
            for k in keys:
                by_key_n[k] += 1
                by_key_hit[k] += ok
            if not ok:
                row_missed.append(s)
        for r in res.replacements:
            chars = [i for i in range(r.start, r.end) if text[i].isalnum()]
            replaced_chars += len(chars)
            inside = sum(in_gold[i] for i in chars)
            inside_chars += inside
            if misses and inside < len(chars):
                extra_list.append({"id": row["id"], "category": r.category, "text": text[r.start:r.end]})
        if row_missed:
            residuals = scan_residuals(res.text, ctx, row["id"])
            if residuals:
                flagged += 1
            else:
                silent += 1
            if misses:
                missed_list += [{"id": row["id"], "category": s["category"], "kind": s.get("kind"),
                                 "declared": s["declared"], "text": text[s["start"]:s["end"]],
                                 "flagged": bool(residuals), "output": res.text} for s in row_missed]
    cats = {c: {"gold": gold_n[c], "recalled": hit_n[c], "recall": _ratio(hit_n[c], gold_n[c])}
            for c in CATEGORIES if gold_n[c]}
    total_gold, total_hit = sum(gold_n.values()), sum(hit_n.values())
    out = {
        "snippets": len(rows),
        "spans": total_gold,
        "recall": _ratio(total_hit, total_gold),
        "char_precision": _ratio(inside_chars, replaced_chars) if replaced_chars else 1.0,
        "categories": cats,
        "breakdown": {k: {"gold": by_key_n[k], "recall": _ratio(by_key_hit[k], by_key_n[k])}
                      for k in sorted(by_key_n)},
        "snippets_with_miss": silent + flagged,
        "flagged_by_second_pass": flagged,
        "silent_leaks": silent,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    if misses:
        out["missed"], out["extra"] = missed_list, extra_list
    return out


def meets_targets(result: dict) -> dict[str, bool]:
    """Which acceptance targets of issue 20 a split's result meets."""
    ok = {f"recall.{c}": (result["categories"].get(c, {}).get("recall") or 0.0) >= t
          for c, t in TARGET_RECALL.items()}
    ok["char_precision"] = result["char_precision"] >= TARGET_PRECISION
    return ok


def evaluate(splits: tuple[str, ...] = ("dev",), *, use_edsnlp: bool = True) -> dict:
    """Entry point for the bench harness: one result per split, with its target check."""
    out = {}
    for split in splits:
        result = score(load(split), use_edsnlp=use_edsnlp)
        result["targets_met"] = meets_targets(result)
        out[split] = result
    return out


def _print(split: str, r: dict) -> None:
    print(f"== {split}: {r['snippets']} extraits, {r['spans']} empans, rappel global {r['recall']}, "
          f"précision caractères {r['char_precision']}, fuites silencieuses {r['silent_leaks']} "
          f"(extraits avec oubli : {r['snippets_with_miss']}), {r['seconds']} s")
    for c, s in r["categories"].items():
        print(f"   {c:<8} rappel {s['recall']}  ({s['recalled']}/{s['gold']})")
    for k, s in r["breakdown"].items():
        print(f"     {k:<22} {s['recall']}  (n={s['gold']})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Rappel / précision de la pseudonymisation sur les extraits annotés.")
    ap.add_argument("--split", choices=("dev", "test"), default="dev")
    ap.add_argument("--misses", action="store_true", help="liste les oublis et les remplacements en trop (dev seulement)")
    ap.add_argument("--no-edsnlp", action="store_true", help="sans eds.dates (plus rapide)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if args.misses and args.split == "test":
        ap.error("--misses est refusé sur le jeu test (il doit rester aveugle)")
    r = score(load(args.split), use_edsnlp=not args.no_edsnlp, misses=args.misses)
    r["targets_met"] = meets_targets(r)
    if args.json:
        print(json.dumps(r, ensure_ascii=False, indent=1))
        return 0
    _print(args.split, r)
    if args.misses:
        for m in r["missed"]:
            print(f"   OUBLI {m['id']} {m['category']}/{m['kind'] or ''}{'' if m['declared'] else ' (non déclaré)'}: "
                  f"« {m['text']} »{' [signalé]' if m['flagged'] else ''}")
        for m in r["extra"]:
            print(f"   EN TROP {m['id']} {m['category']}: « {m['text']} »")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
