"""Precision / recall of the pseudonymisation (tools/pseudonymise.py) on the synthetic corpus.

Why: "no identifier left" must be a number, per category, not an impression. The corpus was written
by us, so every identifier of a document is declared in its patient.json (identity, GP, contacts,
referring doctors, authors). The gold spans are generated here, independently of the tool's own
matching code, by searching each document's extracted text for:

* names — every declared first name / surname / birth name (accents and case folded), where the
  occurrence is capitalised (Title or UPPER case: lower-case "morel" inside an e-mail is not a name);
* dates — every dd/mm/yyyy date, "12 mars 2026", "mars 2026", and a dd/mm after "le / du / au / les / et";
* phones — every declared phone, whatever its separators;
* ipp/nir — the declared IPP, NIR (15 or 13 digits, with or without spaces) and the GP's RPPS;
* emails — the declared e-mails;
* addresses — the declared streets and postcodes.

Name gold spans are single words ("Anne", "MOREL") while a replacement covers a whole name ("Anne
MOREL"), so the two columns count different units for names; recall and precision are each exact.

Recall = gold spans entirely covered by replaced spans (removed from the output). Precision =
replaced spans of a category that overlap a gold span of that category. Replacements of identifiers
that patient.json does not declare (the hospital's switchboard numbers, other doctors' RPPS, the
hospital's own address) count *against* precision: they are deliberate, so precision is a floor.

Usage::

    python bench/pseudo_eval.py                # parse knowledge/patients directly (no index needed)
    python bench/pseudo_eval.py --service      # the documents as indexed by the retrieval service
    python bench/pseudo_eval.py --json

Programmatic: ``evaluate(service)`` where ``service`` has ``docs.list_patients()`` and
``patient_documents(patient_id)`` (a :class:`retrieval.service.RetrievalService`, or
:class:`FolderCorpus` below). Limits: the gold covers declared identifiers only; an undeclared name in
free text would be missed by both the tool and this measure (none is written in the corpus).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from knowledge.dates import MONTHS  # noqa: E402
from knowledge.french import fold_chars  # noqa: E402
from medassist.schemas import Patient  # noqa: E402
from tools.pseudonymise import PseudoContext, pseudonymise_text, scan_residuals  # noqa: E402

#: bench category of each tool category
BENCH_CATEGORY = {"NOM": "names", "DATE": "dates", "TEL": "phones", "IPP": "ipp/nir", "NIR": "ipp/nir",
                  "RPPS": "ipp/nir", "ID": "ipp/nir", "EMAIL": "emails", "ADRESSE": "addresses"}
BENCH_ORDER = ("names", "dates", "phones", "ipp/nir", "emails", "addresses")
#: recall targets of the issue ("Security and reliability")
TARGETS = {"names": 0.98, "dates": 0.98, "phones": 0.98}

_MONTHS = r"janvier|février|fevrier|mars|avril|mai|juin|juillet|août|aout|septembre|octobre|novembre|décembre|decembre"
_GOLD_DATES = [
    re.compile(r"(?<!\d)\d{2}/\d{2}/\d{4}(?!\d)"),
    re.compile(rf"(?<!\w)(?:1er|\d{{1,2}})\s+(?:{_MONTHS})\s+\d{{4}}(?!\d)", re.IGNORECASE),
    re.compile(rf"(?<!\w)(?:{_MONTHS})\s+\d{{4}}(?!\d)", re.IGNORECASE),
    re.compile(r"(?:\b(?:le|du|au|les|et) )(?P<d>\d{2}/\d{2})(?![/\d])"),
]


def _name_tokens(name: str) -> list[str]:
    name = re.sub(r",\s*IDE\s*$", "", name)
    toks = [t for t in re.split(r"[\s,]+", name) if t]
    return [t for t in toks if t not in ("Dr", "Pr", "IDE", "M.", "Mme") and len(t) > 1]


def gold_spans(text: str, patient: Patient) -> list[tuple[int, int, str]]:
    """Gold (start, end, bench category) spans of one document."""
    gold: list[tuple[int, int, str]] = []
    folded = fold_chars(text)
    ident = patient.identity
    names = [ident.first_name, ident.last_name, ident.birth_name, patient.gp.name,
             *[c.name for c in patient.contacts], *[s.referring_doctor for s in patient.stays],
             *[d.author for d in patient.documents]]
    tokens = {t for n in names if n for t in _name_tokens(n)}
    for tok in tokens:
        for m in re.finditer(r"(?<![\w@.])" + re.escape(fold_chars(tok)) + r"(?![\w@])", folded, re.IGNORECASE):
            if text[m.start()].isupper():
                gold.append((m.start(), m.end(), "names"))
    for rx in _GOLD_DATES:
        g = "d" if "d" in rx.groupindex else 0
        gold.extend((m.start(g), m.end(g), "dates") for m in rx.finditer(text))

    def digits_re(value: str) -> str:
        d = re.sub(r"\D", "", value)
        return r"(?<!\d)" + r"[ .\-]?".join(d) + r"(?!\d)"

    for phone in [ident.phone, patient.gp.phone, *[c.phone for c in patient.contacts]]:
        if phone:
            gold.extend((m.start(), m.end(), "phones") for m in re.finditer(digits_re(phone), text))
    ids = [ident.ipp, ident.nir, ident.nir[:13] if ident.nir else None, patient.gp.rpps]
    for value in ids:
        if value:
            gold.extend((m.start(), m.end(), "ipp/nir") for m in re.finditer(digits_re(value), text))
    for email in [ident.email, patient.gp.email]:
        if email:
            gold.extend((m.start(), m.end(), "emails") for m in re.finditer(re.escape(email), text, re.IGNORECASE))
    for addr in [ident.address, patient.gp.address]:
        if addr:
            gold.extend((m.start(), m.end(), "addresses")
                        for m in re.finditer(re.escape(fold_chars(addr.street)), folded, re.IGNORECASE))
            gold.extend((m.start(), m.end(), "addresses") for m in re.finditer(rf"(?<!\d){addr.postcode}(?!\d)", text))
    # one gold span per place (a date found by two patterns counts once; the longest is kept)
    gold.sort(key=lambda g: (g[0], -(g[1] - g[0])))
    out: list[tuple[int, int, str]] = []
    for g in gold:
        if out and g[0] >= out[-1][0] and g[1] <= out[-1][1] and g[2] == out[-1][2]:
            continue
        out.append(g)
    return out


def perturb(text: str, patient: Patient, rng: random.Random) -> tuple[str, list[tuple[int, int, str]]]:
    """Rewrite a document with the identifier variants real letters use and our corpus rarely does:
    names as "J. DUPONT", "DUPONT J.", "Jean Dupont", "Dupont Jean", "jean dupont", "DUPONT, Jean";
    phones as "0612345678", "06.12.34.56.78", "+33 6 12 34 56 78", "06-12-34-56-78"; full dates as
    "12 mars 2026", "12.03.2026", "2026-03-12". Returns the new text and the gold spans of the
    rewritten values (the rest of the gold comes from :func:`gold_spans` on the new text)."""
    edits: list[tuple[int, int, str, str]] = []
    people = [patient.identity.first_name + " " + patient.identity.last_name.upper(), patient.gp.name,
              *[c.name for c in patient.contacts], *[d.author for d in patient.documents if d.author]]
    for person in {p for p in people if p}:
        toks = _name_tokens(person)
        first = [t for t in toks if not t.isupper()]
        last = [t for t in toks if t.isupper()]
        if len(first) != 1 or len(last) != 1:
            continue
        f, l_ = first[0], last[0]
        for m in re.finditer(rf"(?<!\w)(?:{re.escape(f)} {re.escape(l_)}|{re.escape(l_)} {re.escape(f)})(?!\w)", text):
            variant = rng.choice([f"{f[0]}. {l_}", f"{l_} {f[0]}.", f"{f} {l_.title()}", f"{l_.title()} {f}",
                                  f"{f.lower()} {l_.lower()}", f"{l_}, {f}", m.group(0)])
            edits.append((m.start(), m.end(), variant, "names"))
    phones = [patient.identity.phone, patient.gp.phone, *[c.phone for c in patient.contacts]]
    for phone in {p for p in phones if p}:
        d = re.sub(r"\D", "", phone)
        for m in re.finditer(r"(?<!\d)" + r"[ .\-]?".join(d) + r"(?!\d)", text):
            pairs = [d[i:i + 2] for i in range(0, 10, 2)]
            variant = rng.choice([d, ".".join(pairs), "+33 " + d[1] + " " + " ".join(pairs[1:]), "-".join(pairs)])
            edits.append((m.start(), m.end(), variant, "phones"))
    for m in re.finditer(r"(?<!\d)(\d{2})/(\d{2})/(\d{4})(?!\d)", text):
        dd, mm, yy = m.groups()
        try:
            date(int(yy), int(mm), int(dd))
        except ValueError:
            continue
        day = "1er" if dd == "01" else str(int(dd))
        variant = rng.choice([f"{day} {MONTHS[int(mm) - 1]} {yy}", f"{dd}.{mm}.{yy}", f"{yy}-{mm}-{dd}",
                              m.group(0)])
        edits.append((m.start(), m.end(), variant, "dates"))
    edits.sort(key=lambda e: (e[0], -(e[1] - e[0])))
    out, gold, pos = [], [], 0
    for s, e, new, cat in edits:
        if s < pos:
            continue
        out.append(text[pos:s])
        start = sum(len(x) for x in out)
        out.append(new)
        gold.append((start, start + len(new), cat))
        pos = e
    out.append(text[pos:])
    return "".join(out), gold


class FolderCorpus:
    """The corpus read straight from ``knowledge/patients`` (same parser as ingestion, no index):
    the two methods :func:`evaluate` uses, shaped like :class:`retrieval.service.RetrievalService`."""

    def __init__(self, root: Path = REPO / "knowledge" / "patients"):
        from retrieval.parsing import parse_file

        self._patients: dict[str, Patient] = {}
        self._docs: dict[str, list[dict]] = {}
        for pj in sorted(root.glob("*/patient.json")):
            try:
                patient = Patient.model_validate_json(pj.read_text(encoding="utf-8"))
            except ValueError:
                continue  # a record still being written by someone else
            docs = []
            for d in patient.documents:
                path = pj.parent / d.file
                if path.exists():
                    docs.append({"doc_id": d.id, "title": d.title, "date": d.date.isoformat(), "doc_type": d.type,
                                 "author": d.author, "text": parse_file(path).text})
            self._patients[patient.id] = patient
            self._docs[patient.id] = docs
        self.docs = self  # service.docs.list_patients()

    def list_patients(self) -> list[Patient]:
        return list(self._patients.values())

    def get_patient(self, patient_id: str) -> Patient | None:
        return self._patients.get(patient_id)

    def patient_documents(self, patient_id: str) -> list[dict]:
        return self._docs[patient_id]


def evaluate(service, *, patients: list[str] | None = None, seed: int = 0, use_edsnlp: bool = True,
             variants: bool = False) -> dict:
    """Per-category gold / recalled / recall / replaced / replaced_gold / precision, plus totals.

    ``variants=True`` first rewrites each document with :func:`perturb` (seeded), to measure the
    name / phone / date variants that our clean synthetic letters rarely use."""
    stats = {c: {"gold": 0, "recalled": 0, "replaced": 0, "replaced_gold": 0} for c in BENCH_ORDER}
    n_docs = n_res = 0
    t0 = time.perf_counter()
    chosen = [p for p in service.docs.list_patients() if patients is None or p.id in patients]
    for k, patient in enumerate(chosen):
        ctx = PseudoContext(patient, seed=seed + k)
        for d in service.patient_documents(patient.id):
            text = d["text"] or ""
            extra: list[tuple[int, int, str]] = []
            if variants:
                text, extra = perturb(text, patient, random.Random(f"{seed}-{d['doc_id']}"))
            ref = date.fromisoformat(d["date"]) if d.get("date") else None
            res = pseudonymise_text(text, patient, context=ctx, reference_date=ref, use_edsnlp=use_edsnlp)
            gold = extra + [g for g in gold_spans(text, patient)
                            if not any(g[0] < e and s < g[1] for s, e, _ in extra)]
            spans = [(r.start, r.end, BENCH_CATEGORY[r.category]) for r in res.replacements
                     if r.category in BENCH_CATEGORY]  # hospitals (HOPITAL) have no gold here
            for gs, ge, gc in gold:
                stats[gc]["gold"] += 1
                covered = sum(max(0, min(ge, e) - max(gs, s)) for s, e, _ in spans)
                if covered >= ge - gs:
                    stats[gc]["recalled"] += 1
            for s, e, c in spans:
                stats[c]["replaced"] += 1
                if any(gc == c and s < ge and gs < e for gs, ge, gc in gold):
                    stats[c]["replaced_gold"] += 1
            n_res += len(scan_residuals(res.text, ctx, d["doc_id"]))
            n_docs += 1
    for s in stats.values():
        s["recall"] = round(s["recalled"] / s["gold"], 4) if s["gold"] else None
        s["precision"] = round(s["replaced_gold"] / s["replaced"], 4) if s["replaced"] else None
    return {"patients": len(chosen), "documents": n_docs, "residuals": n_res, "variants": variants,
            "seconds": round(time.perf_counter() - t0, 2), "categories": stats}


def format_table(result: dict) -> str:
    lines = [f"Pseudonymisation{' (variantes réécrites)' if result.get('variants') else ''} — "
             f"{result['patients']} patients, {result['documents']} documents, "
             f"{result['seconds']} s, résidus (seconde passe) : {result['residuals']}",
             f"{'catégorie':<11} {'or':>6} {'retirés':>8} {'rappel':>7} {'remplacés':>10} {'dont or':>8} "
             f"{'précision':>10} {'cible rappel':>13}"]
    for c in BENCH_ORDER:
        s = result["categories"][c]
        rec = f"{s['recall']:.3f}" if s["recall"] is not None else "—"
        prec = f"{s['precision']:.3f}" if s["precision"] is not None else "—"
        target = f"≥ {TARGETS[c]:.2f}" if c in TARGETS else ""
        lines.append(f"{c:<11} {s['gold']:>6} {s['recalled']:>8} {rec:>7} {s['replaced']:>10} {s['replaced_gold']:>8} "
                     f"{prec:>10} {target:>13}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Précision / rappel de la pseudonymisation sur le corpus synthétique.")
    ap.add_argument("--service", action="store_true", help="lire les documents indexés (service de recherche)")
    ap.add_argument("--patients", nargs="*", help="limiter à ces patients (ex. P001 P002)")
    ap.add_argument("--no-edsnlp", action="store_true", help="sans eds.dates (expressions régulières seules)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if args.service:
        from retrieval.service import get_service

        source = get_service()
    else:
        source = FolderCorpus()
    results = [evaluate(source, patients=args.patients, use_edsnlp=not args.no_edsnlp, variants=v)
               for v in (False, True)]
    if args.json:
        print(json.dumps({"corpus": results[0], "variants": results[1]}, ensure_ascii=False, indent=2))
    else:
        print(format_table(results[0]) + "\n\n" + format_table(results[1]))
    missed = [c for r in results for c, t in TARGETS.items()
              if r["categories"][c]["recall"] is not None and r["categories"][c]["recall"] < t]
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
