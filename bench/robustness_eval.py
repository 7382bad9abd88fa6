"""Format-robustness evaluation: the robustness sets scored per style, side by side.

Why: every other figure of the README is measured on one house style of documents. These sets (see
their ``PROTOCOL.md``) state the same facts of 8 stays in other words, other date formats, without
declared metadata, and render them as plain text, Markdown, DOCX, ``<div>`` HTML, PDF and scanned
PDF. Scoring every style the same way, side by side, shows what depends on the form of the record.

Three sets (:data:`SETS`), scored with the same rules and reported side by side:

* **A** — ``knowledge/eval/robustness`` (P001-P008): scored blind once on 2026-12-03, then used to
  fix the system, so it is a **dev** set since that day (label "A (dev depuis le 2026-12-03)");
* **B** — ``knowledge/eval/robustness_b`` (P009-P016): written the same day by other "authors" as
  the **test** split ("B (test, aveugle)"); its first scoring is the reported blind figure;
* **C** — ``knowledge/eval/robustness_c`` (P001-P008 again, in a third voice): written on
  2026-12-03, before the fixes made on set B's results were measured, as the new **test** split
  ("C (test, aveugle)"); its first scoring is the reported blind figure.

``--quick`` (the CI gate) scores set A only, on :data:`QUICK_STYLES` × :data:`QUICK_PATIENTS`: the
gate must never consume a test set (B, C). ``MEDASSIST_ROBUSTNESS_SETS=A`` (or ``A,B``, ``C``…)
restricts a full run (``medassist eval --suite robustness``, ``make results``) to some sets, e.g.
``A,B`` while set C waits for its one blind scoring; ``python -m bench.robustness_eval --sets C``
does the same here.

For each set and style, ``styles/<style>`` is ingested into its **own temporary data dir** (the patient
ids are the dev ids: never into the dev index), reusing one embedder object so the model loads
once; then, per patient (stay ``S1``):

* **metadata** — the stored type, date and stay of every loose file (``svc.patient_documents``)
  against the gold ``documents`` (every gold document belongs to the gold stay); a file that was
  not ingested counts as wrong on all three;
* **drafting** — the lettre de liaison, exactly as :mod:`bench.drafting_eval` builds it
  (``verify_draft(build_discharge(load_record(svc, P), stay))``), then per gold item, after
  :func:`knowledge.french.fold` on both sides:

  - *drug*: its name or an alias is in the ``traitement_sortie`` section and its dose is there too
    (blanks removed, ``,`` = ``.``, not preceded by a digit or a decimal point: ``5 mg`` is not
    found in ``2,5 mg``) — the protocol's rule; ``same_line`` (name and dose in one line, or in
    the name's line and the next one: a wrapped PDF line) is also reported;
  - *stopped/changed*: the name is in a line of ``traitements_modifies`` or in a reconciliation
    item with the gold status; it counts when the gold reason is in the same line (or in that
    item's reason); ``name`` alone is reported too;
  - *follow-up*: a **fair match** — one line of the ``suivi`` section holds at least
    :data:`FOLLOW_UP_SHARE` (60 %) of the item's content words (folded ``\\w+`` tokens, French
    function words out, numbers kept: ``Dr Claire FONTAINE, 23 mars 2026 à 10h30`` needs 5 of
    ``dr claire fontaine 23 mars 2026 10h30`` in one line); ``strict`` (the whole folded string in
    the section, the protocol's strict rule) is reported too;
  - *pending*: the folded name is in the ``resultats_attente`` section; where the gold has none
    (P007: "Néant"), a section that lists something without a "néant/aucun" word is a **false
    positive** (counted apart, not in the coverage);

  coverage = items found / gold items, over the four categories (micro), plus each category, and
  the unverified drugs/doses/dates flagged by the verifier (as ``bench/drafting_eval.py``) and
  the discharge-list lines that name no gold drug (e.g. the entry treatment copied by mistake);
* **QA** — the gold questions through :func:`bench.qa_eval.evaluate` (extractive mode): a case
  passes when an expected fact is in the answer or its first three citations and the expected
  document (``<PATIENT>-docNN``) is cited;
* **coding** — patient-mode coding of the stay as ``bench/harness.py::_coding_stays``: DP top-1,
  recall@5 of DP + DAS (and recall at any rank), forbidden codes suggested (exact code).

Styles are compared by their gaps in points (best − worst) over the full styles (8 patients
each), within each set; ``scan`` holds 2 patients and is compared with ``pdf`` on the same 2
patients. The issue's
acceptance: the letter fills ≥ 90 % of the items in every style, no style more than 5 points below
the best; QA and coding likewise within 5 points.

Run::

    .venv/bin/python -m bench.robustness_eval --report reports/robustness      # sets A, B and C
    .venv/bin/python -m bench.robustness_eval --sets C --report reports/robustness-c-blind
    medassist eval --suite robustness --report DIR           # every set, inside the harness report

Example (the matching rules, no model)::

    >>> drug_found({"name": "apixaban", "dose": "5 mg", "aliases": ["Eliquis"]},
    ...            "- ELIQUIS 5 mg : 1 cp x 2/j\\n- BISOPROLOL 2,5 mg")
    True
    >>> drug_found({"name": "bisoprolol", "dose": "5 mg"}, "- BISOPROLOL 2,5 mg")
    False
    >>> follow_up_found("Dr Claire FONTAINE, 23 mars 2026 à 10h30",
    ...                 "- RDV : Dr C. FONTAINE le 23 mars 2026 à 10h30, CHU")
    True

Limits: 8 patients (one patient is 12.5 points of a per-patient rate); the fair follow-up match
can accept a line that names the right person and date with another act, and cannot see an item
split over two lines; typing and dating are judged on the stored values only (the title is not
scored); QA and coding reuse the dev scorers, tuned on the dev set.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from knowledge.french import fold  # noqa: E402

ROBUSTNESS = REPO / "knowledge" / "eval" / "robustness"
ROBUSTNESS_B = REPO / "knowledge" / "eval" / "robustness_b"
ROBUSTNESS_C = REPO / "knowledge" / "eval" / "robustness_c"
#: the sets, in report order: folder, label (French, shown in reports), role
SETS = {
    "A": {"root": ROBUSTNESS, "label": "A (dev depuis le 2026-12-03)", "role": "dev"},
    "B": {"root": ROBUSTNESS_B, "label": "B (test, aveugle)", "role": "test"},
    "C": {"root": ROBUSTNESS_C, "label": "C (test, aveugle)", "role": "test"},
}
#: the only set ``--quick`` (the CI gate) scores
QUICK_SET = "A"
#: environment variable restricting a full run to some sets (``A``, ``B``, ``C``, ``A,B``…)
SETS_ENV = "MEDASSIST_ROBUSTNESS_SETS"
STYLES = ("txt_lines", "markdown", "docx", "html", "pdf", "scan")
#: styles holding every patient of the gold (``scan`` holds two): the gaps are computed over these
FULL_STYLES = ("txt_lines", "markdown", "docx", "html", "pdf")
#: ``--quick`` (CI): two styles × two patients of set A
QUICK_STYLES, QUICK_PATIENTS = ("txt_lines", "pdf"), ("P001", "P002")
#: share of a follow-up item's content words that one line of the draft must hold
FOLLOW_UP_SHARE = 0.6
#: acceptance of the issue: minimum letter coverage per style, maximum gap to the best style (points)
MIN_COVERAGE, MAX_GAP_POINTS = 0.90, 5.0
#: French function words left out of a follow-up item's content words
STOP_WORDS = frozenset(
    "a au aux avec ce ces chez d dans de des du en et l la le les ou par pour sa se ses son sur un une y".split())
#: rate metrics compared across styles: (label, section, key)
GAP_METRICS = (
    ("metadata type", "metadata", "type"), ("metadata date", "metadata", "date"),
    ("metadata stay", "metadata", "stay"), ("drafting coverage", "drafting", "coverage"),
    ("drafting drugs", "drafting", "drugs"), ("drafting stopped", "drafting", "stopped"),
    ("drafting follow-up", "drafting", "follow_up"), ("drafting pending", "drafting", "pending"),
    ("QA (fact + source)", "qa", "accuracy"), ("coding DP top-1", "coding", "dp_top1"),
    ("coding recall@5", "coding", "recall@5"),
)
#: the metrics the issue's acceptance judges (gap ≤ MAX_GAP_POINTS)
ACCEPTANCE_METRICS = ("drafting coverage", "QA (fact + source)", "coding DP top-1", "coding recall@5")
#: the letter's sections the drafting items are looked for in
SCORED_SECTIONS = ("traitement_sortie", "traitements_modifies", "suivi", "resultats_attente")
_NONE_WORDS = re.compile(r"\b(?:neant|aucun|aucune|pas de)\b")


# =========================================================================== gold
def load_gold(path: Path | str | None = None) -> list[dict]:
    path = Path(path) if path else ROBUSTNESS / "gold.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def style_patients(style: str, root: Path | None = None) -> list[str]:
    folder = (root or ROBUSTNESS) / "styles" / style
    return sorted(p.name for p in folder.iterdir() if (p / "patient.json").exists()) if folder.is_dir() else []


# =========================================================================== matching rules
def _lines(text: str) -> list[str]:
    return [fold(x) for x in (text or "").splitlines() if x.strip()]


def dose_key(text: str) -> str:
    """Folded, blanks removed, decimal comma = point: ``"2,5 mg"`` -> ``"2.5mg"``."""
    return re.sub(r"\s+", "", fold(text)).replace(",", ".")


def _has_dose(dose: str, text: str) -> bool:
    key = dose_key(dose)
    return bool(key) and re.search(rf"(?<![\d.]){re.escape(key)}", dose_key(text)) is not None


def _names(item: dict) -> list[str]:
    return [fold(n) for n in [item["name"], *item.get("aliases", [])] if n]


def drug_found(drug: dict, section_text: str) -> bool:
    """The protocol's rule: a name (or alias) and the dose are both in the discharge-list section."""
    text = fold(section_text)
    return any(n in text for n in _names(drug)) and _has_dose(drug["dose"], section_text)


def drug_same_line(drug: dict, section_text: str) -> bool:
    """Stricter: the dose is in the line naming the drug, or in the next one (a wrapped line)."""
    lines = (section_text or "").splitlines()
    names = _names(drug)
    for i, line in enumerate(lines):
        if any(n in fold(line) for n in names) and _has_dose(drug["dose"], " ".join(lines[i:i + 2])):
            return True
    return False


def stopped_found(item: dict, section_text: str, reconciliation: list[dict] | None = None) -> dict[str, bool]:
    """``name``: the drug is in a line of the modified-treatments section or in a reconciliation
    item with the gold status; ``reason``: the gold reason is in that line (or item's reason)."""
    names, reason = _names(item), fold(item.get("reason", ""))
    name_hit = reason_hit = False
    for line in _lines(section_text):
        if any(n in line for n in names):
            name_hit = True
            reason_hit = reason_hit or (bool(reason) and reason in line)
    for r in reconciliation or []:
        label = fold(" ".join(str(r.get(k) or "") for k in ("drug", "key", "entry", "discharge")))
        if r.get("status") == item.get("change") and any(n in label for n in names):
            name_hit = True
            reason_hit = reason_hit or (bool(reason) and reason in fold(r.get("reason") or ""))
    return {"name": name_hit, "reason": name_hit and reason_hit}


def content_words(text: str) -> list[str]:
    """Folded word tokens without French function words; numbers kept (``25``, ``10h30``)."""
    return [w for w in re.findall(r"\w+", fold(text)) if w not in STOP_WORDS and (len(w) > 1 or w.isdigit())]


def follow_up_found(item: str, section_text: str, share: float = FOLLOW_UP_SHARE) -> bool:
    """Fair match: one line holds at least ``share`` of the item's content words."""
    wanted = set(content_words(item))
    if not wanted:
        return False
    return any(len(wanted & set(content_words(line))) >= share * len(wanted) for line in (section_text or "").splitlines())


def follow_up_strict(item: str, section_text: str) -> bool:
    return fold(item) in fold(section_text)


def pending_found(item: str, section_text: str) -> bool:
    return fold(item) in fold(section_text)


def pending_false_positive(section_text: str | None) -> bool:
    """Where nothing is pending: a filled section that says neither "néant" nor "aucun"."""
    return bool(section_text and section_text.strip()) and not _NONE_WORDS.search(fold(section_text))


def score_draft(gold: dict, sections: dict[str, str], reconciliation: list[dict] | None = None) -> dict:
    """Per-item hits of one letter: ``sections`` maps a section key to its text."""
    d = gold["discharge"]
    out_sec, mod_sec = sections.get("traitement_sortie", ""), sections.get("traitements_modifies", "")
    follow, pend = sections.get("suivi", ""), sections.get("resultats_attente", "")
    drugs = [{"name": g["name"], "dose": g["dose"], "found": drug_found(g, out_sec),
              "same_line": drug_same_line(g, out_sec)} for g in d["drugs"]]
    stopped = []
    for g in d["stopped"]:
        hit = stopped_found(g, mod_sec, reconciliation)
        stopped.append({"name": g["name"], "change": g.get("change"), "reason": g.get("reason"),
                        "name_found": hit["name"], "found": hit["reason"]})
    follow_up = [{"item": g, "found": follow_up_found(g, follow), "strict": follow_up_strict(g, follow)}
                 for g in d["follow_up"]]
    pending = [{"item": g, "found": pending_found(g, pend)} for g in d["pending"]]
    gold_names = [n for g in d["drugs"] for n in _names(g)] + [fold(g["name"]).split("/")[0] for g in d["drugs"]]
    extra = [line.strip() for line in out_sec.splitlines()
             if line.strip().startswith("-") and not any(n in fold(line) for n in gold_names)]
    return {"drugs": drugs, "stopped": stopped, "follow_up": follow_up, "pending": pending,
            "pending_false_positive": not d["pending"] and pending_false_positive(pend),
            "extra_drug_lines": extra}


def score_metadata(gold: dict, rows: list[dict]) -> list[dict]:
    """Stored type/date/stay of each gold document (``rows``: ``svc.patient_documents``)."""
    pid = gold["patient"]
    by_id = {r.get("doc_id"): r for r in rows}
    by_stem = {Path(r.get("source_name") or "").stem: r for r in rows}
    out = []
    for g in gold["documents"]:
        r = by_id.get(f"{pid}-{g['file']}") or by_stem.get(g["file"])
        date = str(r["date"])[:10] if r and r.get("date") else None
        out.append({"file": g["file"], "type_gold": g["type"], "type": r.get("doc_type") if r else None,
                    "date_gold": g["date"], "date": date, "stay_gold": gold["stay"],
                    "stay": r.get("stay_id") if r else None, "ingested": r is not None,
                    "type_ok": bool(r) and r.get("doc_type") == g["type"], "date_ok": date == g["date"],
                    "stay_ok": bool(r) and r.get("stay_id") == gold["stay"]})
    return out


def score_coding(gold: dict, suggestions: list[tuple[str, str]]) -> dict:
    """``suggestions``: (code, role) in rank order; the rules of ``harness._coding_stays``."""
    c = gold["coding"]
    codes = [code for code, _ in suggestions]
    dp = next((code for code, role in suggestions if role == "DP"), None)
    want = [c["dp"], *c.get("das", [])]
    return {"dp_gold": c["dp"], "dp": dp, "dp_ok": dp == c["dp"], "codes": codes,
            "recall5": sum(x in codes[:5] for x in want) / len(want),
            "recall_all": sum(x in codes for x in want) / len(want),
            "missed": [x for x in want if x not in codes[:5]],
            "forbidden": [x for x in c.get("forbidden", []) if x in codes]}


# =========================================================================== aggregation
def _rate(hits: int, n: int) -> float | None:
    return round(hits / n, 4) if n else None


def summarise(patients: list[dict]) -> dict:
    """Rates of one style over its per-patient rows (or a subset of them)."""
    docs = [d for p in patients for d in p.get("metadata", [])]
    meta = {"n": len(docs), "type": _rate(sum(d["type_ok"] for d in docs), len(docs)),
            "date": _rate(sum(d["date_ok"] for d in docs), len(docs)),
            "stay": _rate(sum(d["stay_ok"] for d in docs), len(docs)),
            "not_ingested": sum(not d["ingested"] for d in docs)}
    drafts = [p["drafting"] for p in patients if p.get("drafting")]
    cats = {k: [x for dr in drafts for x in dr[k]] for k in ("drugs", "stopped", "follow_up", "pending")}
    found = {k: sum(x["found"] for x in v) for k, v in cats.items()}
    total = sum(len(v) for v in cats.values())
    drafting = {"items": total, "found": sum(found.values()), "coverage": _rate(sum(found.values()), total),
                **{k: _rate(found[k], len(v)) for k, v in cats.items()},
                **{f"n_{k}": len(v) for k, v in cats.items()},
                "drugs_same_line": _rate(sum(x["same_line"] for x in cats["drugs"]), len(cats["drugs"])),
                "stopped_name": _rate(sum(x["name_found"] for x in cats["stopped"]), len(cats["stopped"])),
                "follow_up_strict": _rate(sum(x["strict"] for x in cats["follow_up"]), len(cats["follow_up"])),
                "pending_false_positive": sum(dr["pending_false_positive"] for dr in drafts),
                "extra_drug_lines": sum(len(dr["extra_drug_lines"]) for dr in drafts),
                "unverified_flags": sum(len(dr.get("unverified_flags", [])) for dr in drafts),
                "errors": sum(bool(dr.get("error")) for dr in drafts)}
    qa = [r for p in patients for r in p.get("qa", [])]
    qa_sum = {"cases": len(qa), **{k: _rate(sum(r[k] for r in qa), len(qa))
                                   for k in ("ok", "fact", "fact_in_answer", "doc")}}
    qa_sum["accuracy"] = qa_sum.pop("ok")
    cod = [p["coding"] for p in patients if p.get("coding")]
    n = len(cod)
    coding = {"n": n, "dp_top1": _rate(sum(c["dp_ok"] for c in cod), n),
              "recall@5": round(sum(c["recall5"] for c in cod) / n, 4) if n else None,
              "recall_all": round(sum(c["recall_all"] for c in cod) / n, 4) if n else None,
              "forbidden_suggested": sum(len(c["forbidden"]) for c in cod),
              "errors": sum(bool(c.get("error")) for c in cod)}
    return {"patients": len(patients), "metadata": meta, "drafting": drafting, "qa": qa_sum, "coding": coding}


def style_gaps(summaries: dict[str, dict], metrics=GAP_METRICS) -> dict[str, dict]:
    """Best and worst style of each rate metric, and the gap in points (100 × (best − worst))."""
    out = {}
    for label, section, key in metrics:
        vals = {s: v[section][key] for s, v in summaries.items() if v.get(section, {}).get(key) is not None}
        if not vals:
            continue
        best, worst = max(vals, key=vals.get), min(vals, key=vals.get)
        out[label] = {"best": best, "best_value": vals[best], "worst": worst, "worst_value": vals[worst],
                      "gap_points": round(100 * (vals[best] - vals[worst]), 1)}
    return out


def acceptance(summaries: dict[str, dict], gaps: dict[str, dict]) -> dict:
    """The issue's bar: coverage ≥ 90 % in every style; the judged metrics within 5 points."""
    cov = {s: v["drafting"]["coverage"] for s, v in summaries.items()}
    checks = {"coverage_min": {"threshold": MIN_COVERAGE, "per_style": cov,
                               "ok": all(c is not None and c >= MIN_COVERAGE for c in cov.values())}}
    for label in ACCEPTANCE_METRICS:
        if label in gaps:
            checks[label] = {"gap_points": gaps[label]["gap_points"], "ok": gaps[label]["gap_points"] <= MAX_GAP_POINTS}
    checks["all_ok"] = all(c["ok"] for c in checks.values())
    return checks


# =========================================================================== running
def _draft_sections(draft) -> tuple[dict[str, str], list[dict]]:
    sections = {s.key: s.text for s in draft.sections}
    rec = [r.model_dump() for r in draft.reconciliation]
    return sections, rec


def score_patient(svc, gold: dict, user) -> dict:
    """Metadata, letter and coding of one patient of an ingested style (QA is run per style)."""
    from bench.drafting_eval import UNVERIFIED_MARK
    from tools.coding.patient import code_patient
    from tools.drafting.discharge import build_discharge
    from tools.drafting.extract import load_record
    from tools.drafting.verify import verify_draft

    pid, stay = gold["patient"], gold["stay"]
    try:
        rows = svc.patient_documents(pid)
    except Exception:  # patient not ingested
        rows = []
    row: dict[str, Any] = {"patient": pid, "stay": stay, "metadata": score_metadata(gold, rows)}
    try:
        draft = verify_draft(build_discharge(load_record(svc, pid), stay))
        sections, rec = _draft_sections(draft)
        row["drafting"] = {**score_draft(gold, sections, rec),
                           "unverified_flags": [f for f in draft.flags if UNVERIFIED_MARK in f],
                           "missing": list(draft.missing),
                           # the evidence the items were scored on (for error analysis)
                           "sections": {k: sections.get(k) for k in SCORED_SECTIONS},
                           "reconciliation": [{k: r.get(k) for k in ("drug", "status", "reason")} for r in rec]}
    except Exception as exc:  # a letter that cannot be built scores zero on every item
        row["drafting"] = {**score_draft(gold, {}, []), "unverified_flags": [],
                           "error": f"{type(exc).__name__}: {exc}"}
    try:
        res = code_patient(user, pid, stay, service=svc).result
        row["coding"] = score_coding(gold, [(s.code, s.role) for s in res.suggestions])
    except Exception as exc:
        row["coding"] = {**score_coding(gold, []), "error": f"{type(exc).__name__}: {exc}"}
    return row


def _qa_rows(svc, golds: list[dict]) -> list[dict]:
    from bench.qa_eval import evaluate

    cases = [{**q, "patient": g["patient"]} for g in golds for q in g.get("qa", [])]
    if not cases:
        return []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "qa.jsonl"
        path.write_text("\n".join(json.dumps(c, ensure_ascii=False) for c in cases), encoding="utf-8")
        return evaluate(svc, path, mode="extractive")["rows"]


def evaluate_style(style: str, settings, embedder, golds: list[dict], *, root: Path | None = None,
                   patients: list[str] | None = None, progress=None) -> dict:
    """Ingest one style into a temporary data dir and score its patients."""
    from medassist.access import User
    from medassist.schemas import Role
    from retrieval.service import RetrievalService

    root = root or ROBUSTNESS
    present = style_patients(style, root)
    wanted = [p for p in present if patients is None or p in patients]
    golds = [g for g in golds if g["patient"] in wanted]
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        svc = RetrievalService(settings.model_copy(update={"data_dir": Path(tmp)}), embedder=embedder)
        try:
            rep = svc.ingest_paths([root / "styles" / style / p for p in wanted])
            ingest = {"documents": len(rep.added), "chunks": rep.chunks, "seconds": rep.seconds,
                      "errors": [f"{Path(e.path).parent.name}/{Path(e.path).name}: {e.message}" for e in rep.errors],
                      "duplicates": [d.message for d in rep.duplicates]}
            if progress:
                progress(f"{style}: {ingest['documents']} documents, {ingest['chunks']} chunks, "
                         f"{len(ingest['errors'])} errors, {rep.seconds} s")
            user = User(username="bench.robustness", role=Role.coder)
            rows = [score_patient(svc, g, user) for g in golds]
            qa = _qa_rows(svc, golds)
        finally:
            svc.close()
    for r in rows:
        r["qa"] = [q for q in qa if q.get("patient") == r["patient"]]
    n_files = sum(len(g["documents"]) for g in golds)
    supported = not (ingest["documents"] == 0 and n_files)
    out = {"style": style, "patients": [r["patient"] for r in rows], "ingest": ingest,
           "supported": supported, "summary": summarise(rows), "rows": rows,
           "seconds": round(time.perf_counter() - t0, 1)}
    if not supported:
        out["not_supported"] = "aucun document lisible dans ce style (OCR absent ?) : " + "; ".join(ingest["errors"][:3])
    return out


def code_version() -> dict:
    """The commit and the uncommitted changes of the system code the run scored (the protocol
    scores each system version once)."""
    import hashlib
    import subprocess

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.SubprocessError):
            return ""

    paths = ["agents", "knowledge", "retrieval", "tools", "medassist"]
    h = hashlib.sha256(git("diff", "HEAD", "--", *paths).encode())
    untracked = sorted(git("ls-files", "--others", "--exclude-standard", "--", *paths).split("\n"))
    for name in filter(None, untracked):  # new modules are part of the system too
        try:
            h.update(name.encode() + (REPO / name).read_bytes())
        except OSError:
            pass
    dirty = [x for x in git("status", "--short", "--", *paths).splitlines() if x.strip()]
    return {"commit": git("rev-parse", "HEAD").strip() or None, "dirty_files": len(dirty),
            "changes_sha256": h.hexdigest()[:16] if dirty else None}


def chosen_sets(sets: list[str] | None = None, *, quick: bool = False) -> list[str]:
    """The sets a run scores: ``quick`` -> set A only (the CI gate never scores a test set); else
    ``sets``, else :data:`SETS_ENV`, else every set.

    >>> chosen_sets(quick=True), chosen_sets(["b"])
    (['A'], ['B'])
    """
    import os

    if quick:
        return [QUICK_SET]
    wanted = sets or [x for x in os.environ.get(SETS_ENV, "").replace(" ", "").split(",") if x] or list(SETS)
    wanted = [x.upper() for x in wanted]
    unknown = [x for x in wanted if x not in SETS]
    if unknown:
        raise ValueError(f"jeu de robustesse inconnu : {', '.join(unknown)} (choix : {', '.join(SETS)})")
    return [k for k in SETS if k in wanted]


def evaluate_set(root: Path, settings, embedder, *, styles: list[str], patients: list[str] | None = None,
                 progress=None) -> dict:
    """Every given style of one set folder: per-style results, gaps and acceptance (:func:`compare`)."""
    golds = load_gold(root / "gold.jsonl")
    results = {s: evaluate_style(s, settings, embedder, golds, root=root, patients=patients, progress=progress)
               for s in styles}
    return compare(results)


def evaluate(settings=None, embedder=None, *, styles: list[str] | None = None, quick: bool = False,
             root: Path | None = None, sets: list[str] | None = None, progress=None) -> dict:
    """Score the sets side by side (``quick``: set A on :data:`QUICK_STYLES` × :data:`QUICK_PATIENTS`).

    Returns ``{"sets": {"A": {label, role, root, styles, gaps, acceptance, scan_vs_pdf?}, "B": …},
    "styles": …}`` where the top-level ``styles`` repeats the first set's per-style summaries
    (patients, supported, summary; no per-patient rows) for readers written before set B (the CI
    gate, earlier reports). ``root`` scores one other folder laid out like a set, alone, and returns
    that single set's :func:`compare` result as before."""
    from medassist.settings import get_settings

    settings = settings or get_settings()
    if embedder is None:
        from retrieval.embedder import get_embedder

        embedder = get_embedder(settings)
    styles = list(styles or (QUICK_STYLES if quick else STYLES))
    patients = list(QUICK_PATIENTS) if quick else None
    version = code_version()  # before the run: other edits may land while it runs
    t0 = time.perf_counter()
    if root is not None:
        single = evaluate_set(Path(root), settings, embedder, styles=styles, patients=patients, progress=progress)
        return {**single, "quick": quick, "code": version, "seconds": round(time.perf_counter() - t0, 1)}
    out_sets = {}
    for key in chosen_sets(sets, quick=quick):
        spec = SETS[key]
        say = (lambda m, k=key: progress(f"[{k}] {m}")) if progress else None
        t_set = time.perf_counter()
        res = evaluate_set(spec["root"], settings, embedder, styles=styles, patients=patients, progress=say)
        out_sets[key] = {"set": key, "label": spec["label"], "role": spec["role"],
                         "root": str(Path(spec["root"]).relative_to(REPO)), **res,
                         "seconds": round(time.perf_counter() - t_set, 1)}
    first = next(iter(out_sets.values()))
    compat = {s: {k: r.get(k) for k in ("style", "patients", "supported", "summary", "not_supported") if k in r}
              for s, r in first["styles"].items()}
    return {"sets": out_sets, "styles": compat, "quick": quick, "code": version,
            "seconds": round(time.perf_counter() - t0, 1)}


def compare(results: dict[str, dict]) -> dict:
    """Gaps over the full styles that were run, scan vs pdf on the scan's patients, acceptance."""
    full = {s: r["summary"] for s, r in results.items() if s in FULL_STYLES and r["supported"]}
    gaps = style_gaps(full)
    out: dict[str, Any] = {"styles": results, "gaps": gaps, "acceptance": acceptance(full, gaps) if full else {}}
    scan, pdf = results.get("scan"), results.get("pdf")
    if scan and pdf and scan["supported"]:
        same = [r for r in pdf["rows"] if r["patient"] in scan["patients"]]
        pair = {"pdf": summarise(same), "scan": scan["summary"]}
        out["scan_vs_pdf"] = {"patients": scan["patients"], "pdf": pair["pdf"], "gaps": style_gaps(pair)}
    return out


# =========================================================================== report
def _pct(v) -> str:
    return "—" if v is None else f"{100 * v:.1f}"


def _set_table_lines(result: dict) -> list[str]:
    """One set: the per-style Markdown table, the gaps and the acceptance (percentages)."""
    lines = ["| style | patients | type | date | stay | letter items | drugs | stopped | follow-up | pending | "
             "unverified | QA (fact + source) | QA fact in answer | DP top-1 | recall@5 | forbidden |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for style, r in result["styles"].items():
        if not r["supported"]:
            lines.append(f"| {style} | {len(r['patients'])} | not supported: {r.get('not_supported', '')} |"
                         + " |" * 13)
            continue
        s = r["summary"]
        m, d, q, c = s["metadata"], s["drafting"], s["qa"], s["coding"]
        lines.append(
            f"| {style} | {s['patients']} | {_pct(m['type'])} | {_pct(m['date'])} | {_pct(m['stay'])} | "
            f"{_pct(d['coverage'])} ({d['found']}/{d['items']}) | {_pct(d['drugs'])} | {_pct(d['stopped'])} | "
            f"{_pct(d['follow_up'])} | {_pct(d['pending'])} | {d['unverified_flags']} | {_pct(q['accuracy'])} "
            f"({q['cases']}) | {_pct(q['fact_in_answer'])} | {_pct(c['dp_top1'])} | {_pct(c['recall@5'])} | "
            f"{c['forbidden_suggested']} |")
    lines.append("")
    if result.get("gaps"):
        lines += ["Worst style vs best style (full styles, points):", "",
                  "| metric | best | worst | gap (points) |", "|---|---|---|---|"]
        for label, g in result["gaps"].items():
            lines.append(f"| {label} | {g['best']} {_pct(g['best_value'])} | {g['worst']} {_pct(g['worst_value'])} | "
                         f"{g['gap_points']} |")
        lines.append("")
    acc = result.get("acceptance") or {}
    if acc:
        parts = [f"letter items ≥ {_pct(MIN_COVERAGE)} % in every style: {'yes' if acc['coverage_min']['ok'] else 'no'}"]
        parts += [f"{k} gap ≤ {MAX_GAP_POINTS:g} points: {'yes' if v['ok'] else 'no'} ({v['gap_points']})"
                  for k, v in acc.items() if k not in ("coverage_min", "all_ok")]
        lines += ["Acceptance (issue 14): " + "; ".join(parts) + f". Overall: {'met' if acc['all_ok'] else 'not met'}.", ""]
    sv = result.get("scan_vs_pdf")
    if sv:
        g = sv["gaps"]
        keys = [k for k in ("drafting coverage", "QA (fact + source)", "coding DP top-1", "coding recall@5") if k in g]
        lines += [f"Scan vs pdf on the same patients ({', '.join(sv['patients'])}): " + "; ".join(
            f"{k} pdf {_pct(sv['pdf'][s][m])} / scan "
            f"{_pct(result['styles']['scan']['summary'][s][m])}"
            for k, s, m in GAP_METRICS if k in keys) + ".", ""]
    return lines


def _set_detail_lines(result: dict) -> list[str]:
    """One set, per style: the items the letter missed, failed QA cases, coding misses, metadata errors."""
    out = []
    for style, r in result["styles"].items():
        out += [f"### {style}", "", f"Ingestion: {r['ingest']['documents']} documents, {r['ingest']['chunks']} chunks, "
                f"{r['ingest']['seconds']} s; errors: {'; '.join(r['ingest']['errors']) or 'none'}; "
                f"style total {r['seconds']} s.", ""]
        for p in r["rows"]:
            bad_meta = [f"{d['file']} ({d['type']}/{d['date']}/{d['stay']} ≠ {d['type_gold']}/{d['date_gold']}/"
                        f"{d['stay_gold']})" for d in p["metadata"] if not (d["type_ok"] and d["date_ok"] and d["stay_ok"])]
            dr = p["drafting"]
            miss = ([f"drug {x['name']} {x['dose']}" for x in dr["drugs"] if not x["found"]]
                    + [f"stopped {x['name']}" + (" (reason)" if x["name_found"] else "") for x in dr["stopped"] if not x["found"]]
                    + [f"follow-up « {x['item']} »" for x in dr["follow_up"] if not x["found"]]
                    + [f"pending {x['item']}" for x in dr["pending"] if not x["found"]])
            extra = (["pending false positive"] if dr["pending_false_positive"] else []) + \
                [f"extra line « {x} »" for x in dr["extra_drug_lines"]] + (
                [f"error {dr['error']}"] if dr.get("error") else [])
            qa = [f"{q['id']} ({'fact' if not q['fact'] else ''}{' doc' if not q['doc'] else ''})".replace("( ", "(")
                  for q in p["qa"] if not q["ok"]]
            c = p["coding"]
            cod = f"DP {c['dp']} (gold {c['dp_gold']}), missed@5 {c['missed']}, forbidden {c['forbidden']}" + (
                f", error {c['error']}" if c.get("error") else "")
            out.append(f"- **{p['patient']}** — metadata: {', '.join(bad_meta) or 'ok'}; letter misses: "
                       f"{', '.join(miss) or 'none'}{'; ' + ', '.join(extra) if extra else ''}; "
                       f"unverified: {len(dr['unverified_flags'])}; QA failed: {', '.join(qa) or 'none'}; coding: {cod}.")
        out.append("")
    return out


#: the columns of the side-by-side table: (label, section, key)
SIDE_BY_SIDE = (("letter items", "drafting", "coverage"), ("QA (fact + source)", "qa", "accuracy"),
                ("DP top-1", "coding", "dp_top1"), ("recall@5", "coding", "recall@5"), ("type", "metadata", "type"),
                ("date", "metadata", "date"))


def side_by_side_lines(result: dict) -> list[str]:
    """One row per style, for each metric one column per set (%): the sets side by side."""
    sets = result.get("sets") or {}
    if not sets:
        return []
    keys = list(sets)
    styles = [s for s in STYLES if any(s in r["styles"] for r in sets.values())]
    head = "| style | " + " | ".join(f"{label} {k}" for label, _, _ in SIDE_BY_SIDE for k in keys) + " |"
    legend = "; ".join(f"{k} = {r['label']}" for k, r in sets.items())
    lines = [f"Sets side by side ({legend}), %:", "", head, "|---|" + "---|" * (len(SIDE_BY_SIDE) * len(keys))]
    for style in styles:
        cells = []
        for _, section, key in SIDE_BY_SIDE:
            for k in keys:
                r = sets[k]["styles"].get(style)
                if r is None:
                    cells.append("")
                elif not r["supported"]:
                    cells.append("n/s")
                else:
                    n = r["summary"]["patients"]
                    cells.append(f"{_pct(r['summary'][section][key])}" + (f" ({n} p.)" if style == "scan" else ""))
        lines.append(f"| {style} | " + " | ".join(cells) + " |")
    return lines + [""]


def table_lines(result: dict) -> list[str]:
    """Per-style tables, gaps and acceptance: of each set (with the side-by-side table first) for
    a multi-set result, of the one set for a :func:`compare` result."""
    if "sets" not in result:
        return _set_table_lines(result)
    lines = side_by_side_lines(result)
    for r in result["sets"].values():
        lines += [f"**Set {r['label']}** — `{r['root']}`:", ""] + _set_table_lines(r)
    return lines


def detail_lines(result: dict) -> list[str]:
    """Per set and style: misses, failed QA cases, coding misses, metadata errors."""
    if "sets" not in result:
        return _set_detail_lines(result)
    out = []
    for r in result["sets"].values():
        out += [f"### Set {r['label']}", ""] + [x.replace("### ", "#### ", 1) if x.startswith("### ") else x
                                                 for x in _set_detail_lines(r)]
    return out


def markdown(result: dict, *, title: str = "# medassist — format robustness", meta: list[str] = ()) -> str:
    head = [title, "", *meta,
            "Rates in %; letter items = discharge drugs (name + dose), stopped/changed drugs (name + reason), "
            "follow-up (≥ 60 % of the item's content words in one line of « Suivi »), pending results; "
            "unverified = drugs/doses/dates flagged by the verifier; QA = extractive agent, fact in answer or "
            "top-3 citations with the expected document; coding = patient mode on the gold stay. "
            "Rules: `bench/robustness_eval.py`; sets and protocols: `knowledge/eval/robustness/PROTOCOL.md` (A, dev), "
            "`knowledge/eval/robustness_b/PROTOCOL.md` (B), `knowledge/eval/robustness_c/PROTOCOL.md` (C, test: its "
            "first scoring is the blind figure, log it there).", ""]
    return "\n".join(head + table_lines(result) + ["## Details", ""] + detail_lines(result)) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Robustesse au format : jeux A, B et C notés style par style, côte à côte.")
    ap.add_argument("--styles", default=None, help="styles, ex. txt_lines,pdf (défaut : tous)")
    ap.add_argument("--quick", action="store_true", help="jeu A seulement, 2 styles × 2 patients (CI)")
    ap.add_argument("--sets", default=None, help="jeux notés, ex. C ou A,B (défaut : tous, ou $MEDASSIST_ROBUSTNESS_SETS)")
    ap.add_argument("--report", default=None, help="dossier où écrire report.md et report.json")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    from datetime import datetime, timezone

    styles = [s.strip() for s in args.styles.split(",")] if args.styles else None
    if styles and (unknown := [s for s in styles if s not in STYLES]):
        ap.error(f"style inconnu : {', '.join(unknown)} (choix : {', '.join(STYLES)})")
    sets = [x.strip() for x in args.sets.split(",") if x.strip()] if args.sets else None
    try:
        chosen_sets(sets, quick=args.quick)
    except ValueError as exc:
        ap.error(str(exc))
    if sets and args.quick:
        ap.error("--quick note le jeu A seulement (porte de la CI) : sans --sets")
    result = evaluate(styles=styles, quick=args.quick, sets=sets,
                      progress=lambda m: print(m, file=sys.stderr, flush=True))
    result["generated_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    md = markdown(result, meta=[f"Generated {result['generated_at']}; {result['seconds']} s"
                                f"{'; quick subset' if args.quick else ''}.", ""])
    if args.report:
        out = Path(args.report)
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(result, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
        (out / "report.md").write_text(md, encoding="utf-8")
    print(json.dumps(result, ensure_ascii=False, indent=1, default=str) if args.json else md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
