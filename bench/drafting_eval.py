"""Evaluation of the drafting tools over every stay of every patient of the corpus.

Why: the acceptance bar of the discharge letter is "100 % of the mandatory items present or listed
as missing, 0 unverified drugs/doses". This script measures it on the whole corpus, stay by stay,
plus the validity of every citation (``text[start:end] == quote``, ``patient.json`` values equal to
their quote) and the same verification on the record summaries.

It calls the extractive builders directly (:func:`tools.drafting.discharge.build_discharge`,
:func:`tools.drafting.summary.build_summary`) followed by the verification pass — exactly what the
public tools do, minus access control and the audit trail, so that an evaluation leaves no trace
in the audit log.

Run (needs an ingested corpus: ``medassist ingest knowledge/patients knowledge/procedures``)::

    .venv/bin/python bench/drafting_eval.py            # table on stdout
    .venv/bin/python bench/drafting_eval.py --json     # the full dict

Example::

    >>> from retrieval.service import get_service                 # doctest: +SKIP
    >>> evaluate(get_service())["summary"]["coverage"]            # doctest: +SKIP
    1.0
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from datetime import date, timedelta
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from retrieval.store import Scope  # noqa: E402
from tools.drafting.discharge import MANDATORY_ITEMS, build_discharge  # noqa: E402
from tools.drafting.extract import _DOSE, load_record, patient_value  # noqa: E402
from tools.drafting.models import PATIENT_JSON, Draft  # noqa: E402
from tools.drafting.summary import build_summary  # noqa: E402
from tools.drafting.verify import unverified, verify_draft  # noqa: E402

#: Marker of the flags written by the verification pass (other flags are record discordances).
UNVERIFIED_MARK = "des sources citées"
#: Drugs appended by the "invented drug" perturbation (the first one absent from a section's quotes is used).
_INVENTED = ("AMIODARONE 200 mg", "WARFARINE 5 mg", "PREDNISONE 20 mg", "METHOTREXATE 15 mg")
_DATE = re.compile(r"\b(\d{2})/(\d{2})/(\d{4})\b")


def perturbations(section) -> dict[str, str]:
    """Altered versions of a section's text, each with one fact changed as a careless rewrite would."""
    text, quotes = section.text, " ".join(c.quote for c in section.citations)
    out = {}
    m = _DOSE.search(text)
    if m:
        num = re.match(r"[\d  ]+(?:[.,]\d+)?", m.group(0)).group(0)
        value = float(re.sub(r"[  ]", "", num).replace(",", "."))
        new = f"{value * 2:g}".replace(".", ",")
        out["dose"] = text[: m.start()] + new + text[m.start() + len(num):]
    m = _DATE.search(text)
    if m:
        d = date(int(m.group(3)), int(m.group(2)), int(m.group(1))) + timedelta(days=1)
        out["date"] = text[: m.start()] + d.strftime("%d/%m/%Y") + text[m.end():]
    drug = next((x for x in _INVENTED if x.split()[0].lower() not in quotes.lower()), None)
    if drug:
        out["drug"] = text + f" Ajout de {drug}."
    return out


def citation_errors(draft: Draft, record, service) -> list[str]:
    """Citations that do not point at their quote (should always be empty)."""
    errors = []
    texts: dict[tuple[str, str], str | None] = {}
    cits = [c for s in draft.sections for c in s.citations] + [c for r in draft.reconciliation for c in r.citations]
    for c in cits:
        if c.doc_id == PATIENT_JSON:
            try:
                ok = str(patient_value(record.patient, c.field or ""))[c.start:c.end] == c.quote
            except (KeyError, IndexError, TypeError):
                ok = False
        else:
            key = (c.corpus, c.doc_id)
            if key not in texts:
                if c.corpus == "procedures":
                    row = service.document_text(Scope.procedures(), c.doc_id)
                else:
                    row = service.document_text(Scope.patient(record.patient.id), c.doc_id)
                texts[key] = row["text"] if row else None
            text = texts[key]
            ok = text is not None and text[c.start:c.end] == c.quote
        if not ok:
            errors.append(f"{c.doc_id}[{c.start}:{c.end}]")
    return errors


def evaluate(service, patients: list[str] | None = None) -> dict:
    """Discharge letters for every stay and summaries for every patient (or of ``patients``)."""
    t0 = time.perf_counter()
    stays, summaries = [], []
    detected = {"dose": [0, 0], "date": [0, 0], "drug": [0, 0]}  # kind -> [caught, tried]
    for patient in service.docs.list_patients():
        if patients is not None and patient.id not in patients:
            continue
        record = load_record(service, patient.id)
        if patient.stays:
            for stay in patient.stays:
                draft = verify_draft(build_discharge(record, stay.id))
                for sec in draft.sections:  # how often would the verifier catch a careless rewrite?
                    if not sec.prose:
                        continue
                    for kind, altered in perturbations(sec).items():
                        detected[kind][1] += 1
                        detected[kind][0] += bool(unverified(altered, [c.quote for c in sec.citations]))
                not_verified = [f for f in draft.flags if UNVERIFIED_MARK in f]
                present = [k for k, _ in MANDATORY_ITEMS if draft.items.get(k) == "present"]
                missing = [k for k, _ in MANDATORY_ITEMS if draft.items.get(k) == "missing"]
                # a "present" item must have a cited section, a "missing" one a message
                sections = {s.key: s for s in draft.sections}
                bad_present = [k for k in present if k not in sections or not sections[k].citations]
                stays.append({
                    "patient_id": patient.id, "stay_id": stay.id, "present": len(present), "missing": len(missing),
                    "accounted": len(present) + len(missing) - len(bad_present), "items": dict(draft.items),
                    "missing_items": missing, "unverified_flags": not_verified,
                    "other_flags": [f for f in draft.flags if UNVERIFIED_MARK not in f],
                    "reconciliation": {s: sum(r.status == s for r in draft.reconciliation)
                                       for s in ("new", "changed", "stopped", "unchanged")},
                    "citations": sum(len(s.citations) for s in draft.sections),
                    "citation_errors": citation_errors(draft, record, service),
                })
        summary = verify_draft(build_summary(record))
        summaries.append({
            "patient_id": patient.id, "sections": [s.key for s in summary.sections], "missing": summary.missing,
            "unverified_flags": [f for f in summary.flags if UNVERIFIED_MARK in f],
            "citation_errors": citation_errors(summary, record, service),
        })
    n_items = len(MANDATORY_ITEMS) * len(stays)
    accounted = sum(s["accounted"] for s in stays)
    return {
        "summary": {
            "stays": len(stays),
            "patients_with_stays": len({s["patient_id"] for s in stays}),
            "mandatory_items": n_items,
            "coverage": round(accounted / n_items, 4) if n_items else None,
            "present_rate": round(sum(s["present"] for s in stays) / n_items, 4) if n_items else None,
            "unverified_flags": sum(len(s["unverified_flags"]) for s in stays),
            "record_discordance_flags": sum(len(s["other_flags"]) for s in stays),
            "citation_errors": sum(len(s["citation_errors"]) for s in stays),
            "summaries": len(summaries),
            "summary_unverified_flags": sum(len(s["unverified_flags"]) for s in summaries),
            "summary_citation_errors": sum(len(s["citation_errors"]) for s in summaries),
            "verifier_detection": {k: {"caught": c, "tried": n, "rate": round(c / n, 4) if n else None}
                                   for k, (c, n) in detected.items()},
            "seconds": round(time.perf_counter() - t0, 2),
        },
        "stays": stays,
        "summaries": summaries,
    }


def print_table(result: dict) -> None:
    short = {"patient": "pat", "medecin_traitant": "MT", "medecin_adresseur": "adr", "redacteur": "réd",
             "dates": "dat", "motif": "mot", "synthese": "syn", "evenements_indesirables": "EI", "bmr": "BMR",
             "produits_sanguins": "PSL", "dispositifs": "DMI", "traitement_sortie": "TtS",
             "traitements_modifies": "TtM", "resultats_attente": "att", "suivi": "sui"}
    keys = [k for k, _ in MANDATORY_ITEMS]
    head = (f"{'patient':8}{'séjour':7}" + "".join(f"{short[k]:>4}" for k in keys)
            + f"{'prés.':>6}{'manq.':>6}{'non vér.':>9}{'cit.':>6}")
    print(head)
    print("-" * len(head))
    for s in result["stays"]:
        marks = "".join(f"{('✓' if s['items'].get(k) == 'present' else '·'):>4}" for k in keys)
        print(f"{s['patient_id']:8}{s['stay_id']:7}{marks}{s['present']:>6}{s['missing']:>6}"
              f"{len(s['unverified_flags']):>9}{s['citations']:>6}")
    sm = result["summary"]
    print("-" * len(head))
    print("✓ rubrique remplie depuis le dossier (citée) ; · rubrique listée comme manquante")
    print(f"Séjours : {sm['stays']} ({sm['patients_with_stays']} patients) ; rubriques obligatoires : {sm['mandatory_items']}")
    print(f"Couverture (présente ou signalée manquante) : {sm['coverage']:.1%} ; remplies : {sm['present_rate']:.1%}")
    print(f"Éléments non vérifiés (médicaments, doses, dates…) : {sm['unverified_flags']} ; "
          f"discordances signalées dans le dossier : {sm['record_discordance_flags']}")
    print(f"Citations invalides : {sm['citation_errors']} ; synthèses : {sm['summaries']} "
          f"(non vérifiés : {sm['summary_unverified_flags']}, citations invalides : {sm['summary_citation_errors']})")
    det = ", ".join(f"{k} {v['caught']}/{v['tried']}" for k, v in sm["verifier_detection"].items())
    print(f"Vérificateur, faits altérés détectés dans les rubriques rédigées (dose ×2, date +1 j, médicament ajouté) : {det}")
    print(f"Durée : {sm['seconds']} s")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Évaluation des brouillons (lettre de liaison, synthèse) sur tout le corpus.")
    ap.add_argument("--json", action="store_true", help="imprimer le résultat complet en JSON")
    args = ap.parse_args(argv)
    from retrieval.service import get_service

    svc = get_service()
    if not svc.docs.list_patients():
        print("Aucun patient indexé : lancez d'abord « medassist ingest knowledge/patients knowledge/procedures ».",
              file=sys.stderr)
        return 2
    result = evaluate(svc)
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        print_table(result)
    ok = result["summary"]["coverage"] == 1.0 and result["summary"]["unverified_flags"] == 0 \
        and result["summary"]["citation_errors"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
