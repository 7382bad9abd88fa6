"""Structured oncology data (tools/structure): traps, citations, CSV, FHIR, roles, audit, CLI, eval.

Records are read straight from the dev-set folders (``load_folder``): no embedding index. The
edsnlp pipeline (no ``eds.cim10``) is built once per process, about 20 s on two cores.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from medassist import audit
from medassist.access import AccessDenied
from medassist.schemas import Role, User
from tools.drafting.extract import SourceDoc
from tools.structure import load_folder, structure_patient, structure_record, to_bundle, validate_bundle, write_cohort
from tools.structure.qualify import qualify
from tools.structure.rules import find_mentions

DEV = Path(__file__).resolve().parent.parent / "knowledge" / "eval" / "structure"
IDS = sorted(p.name for p in (DEV / "patients").iterdir() if (p / "patient.json").exists())


@pytest.fixture(scope="module")
def dev():
    out = {}
    for pid in IDS:
        record = load_folder(DEV / "patients" / pid)
        out[pid] = (record, structure_record(record))
    return out


class FolderService:
    """The reads of the retrieval service the tools use, over the dev-set folders."""

    def __init__(self, ids):
        self.records = {pid: load_folder(DEV / "patients" / pid) for pid in ids}
        self.docs = self

    def get_patient(self, pid):
        r = self.records.get(pid)
        return r.patient if r else None

    def list_patients(self):
        return [r.patient for r in self.records.values()]

    def patient_documents(self, pid):
        return [{"doc_id": d.doc_id, "title": d.title, "doc_type": d.doc_type, "date": d.date.isoformat(),
                 "text": d.text, "author": d.author, "stay_id": d.stay_id} for d in self.records[pid].docs]


# --------------------------------------------------------------------------- rules on short texts
def _mentions(text: str, doc_type: str = "consultation"):
    d = SourceDoc(doc_id="X-D1", title="Document", doc_type=doc_type, date=None, text=text)
    return {(m.field, str(m.value), m.status) for m in qualify(d, find_mentions(d))}


def test_rules_read_values_and_qualify_them_on_unseen_phrasings():
    got = _mentions("Antécédents familiaux : père : cancer de la prostate.\nPas de mutation BRAF V600E. "
                    "Statut ypT1c N0 (0/12). État général : PS 2. Absence de lésion secondaire hépatique.\n"
                    "Suspicion de métastases pulmonaires.")
    assert ("primary_site", "C61", "family") in got
    assert ("braf", "non muté", "affirmed") in got
    assert ("ptnm", "ypT1cN0", "affirmed") in got
    assert ("performance_status", "2", "affirmed") in got
    assert ("metastatic_sites", "foie", "negated") in got
    assert ("metastatic_sites", "poumon", "hypothetical") in got
    assert not [m for m in _mentions("Maladie rénale chronique stade 3b, en progression.") if m[0] == "relapse_date"]


# --------------------------------------------------------------------------- dev set behaviour
def test_family_negated_and_hypothetical_findings_are_never_the_patients(dev):
    r = dev["ONC01"][1]
    assert r.value("primary_site") == "C50.4" and r.value("laterality") == "gauche"
    assert ("primary_site", "C56", "family") in {(f.field, f.value, f.status) for f in r.excluded}
    assert r.value("brca") is None and r.value("metastatic_sites") == []
    r2 = dev["ONC02"][1]
    assert r2.value("brca") is None  # the sister's BRCA2 mutation
    assert {f.status for f in r2.excluded if f.field == "brca"} == {"family", "hypothetical"}
    r4 = dev["ONC04"][1]
    assert r4.value("metastatic_sites") == ["cerveau"]  # « pas de métastase hépatique », surrénale « non exclue »
    assert r4.value("egfr") == "muté" and r4.value("kras") == "non muté"
    assert dev["ONC05"][1].value("egfr") == "non muté"  # « absence de mutation EGFR » is a value
    r12 = dev["ONC12"][1]
    assert "péritoine" not in r12.value("metastatic_sites")
    assert not any("FOLFOX" in t for t in r12.value("treatments"))  # an RCP proposal is not a treatment line


def test_restaging_keeps_the_latest_stage_and_dates_follow_the_text(dev):
    r = dev["ONC03"][1]
    assert r.value("ctnm") == "cT3N1M1" and r.fields["ctnm"].date == "2026-05-26"
    assert r.value("metastatic_sites") == ["os"]
    r6 = dev["ONC06"][1]
    assert r6.value("relapse_date") == "2026-09-14" and r6.value("diagnosis_date") == "2025-11-12"
    folfox = next(f for f in r6.lists["treatments"] if f.value == "chimiothérapie:FOLFOX")
    assert (folfox.extra["start"], folfox.extra["end"]) == ("2025-12-08", "2026-05-25")


def test_every_citation_quotes_its_document_at_the_given_offsets(dev):
    n = 0
    for record, rec in dev.values():
        texts = {d.doc_id: d.text for d in record.docs}
        found = list(rec.fields.values()) + [f for v in rec.lists.values() for f in v] + rec.excluded
        for f in found:
            assert f.citations, (rec.patient_id, f.field)
            for c in f.citations:
                assert texts[c.doc_id][c.start:c.end] == c.quote, (rec.patient_id, f.field, c.quote)
                n += 1
    assert n >= 150


def test_eval_scores_of_the_dev_set_meet_the_acceptance_bounds(dev):
    from bench.structure_eval import load_gold, predicted, prf, score_case

    totals = {"tp": 0, "fp": 0, "fn": 0}
    forbidden = 0
    for g in load_gold(DEV):
        s = score_case(g, predicted(dev[g["patient"]][1]))
        for c in s["counts"].values():
            for k in totals:
                totals[k] += c[k]
        forbidden += len(s["forbidden_reported"])
    assert prf(**totals)["f1"] >= 0.9
    assert forbidden == 0


# --------------------------------------------------------------------------- outputs
def test_csv_cohort_and_its_dictionary(dev, tmp_path):
    data, dico = write_cohort([rec for _, rec in dev.values()], tmp_path / "cohorte.csv")
    rows = list(csv.DictReader(data.open(encoding="utf-8"), delimiter=";"))
    assert len(rows) == len(IDS)
    by = {r["patient_id"]: r for r in rows}
    assert by["ONC04"]["egfr"] == "muté" and by["ONC04"]["egfr_date"] == "2026-01-15"
    assert by["ONC03"]["metastatic_sites"] == "os" and by["ONC01"]["er_pct"] == "90"
    described = {r["colonne"]: r["description"] for r in csv.DictReader(dico.open(encoding="utf-8"), delimiter=";")}
    assert set(described) == set(rows[0]) and all(described.values())


def test_fhir_bundles_validate_and_carry_their_evidence(dev):
    for _, rec in dev.values():
        bundle = to_bundle(rec)
        validate_bundle(bundle)
        kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
        assert kinds[0] == "Patient" and "Condition" in kinds
        for e in bundle["entry"][1:]:
            assert any(n["text"].startswith("Preuve") for n in e["resource"].get("note", [])), e["resource"]["resourceType"]
    cond = next(e["resource"] for e in to_bundle(dev["ONC03"][1])["entry"] if e["resource"]["resourceType"] == "Condition")
    assert cond["code"]["coding"][0]["code"] == "C50.2" and "gauche" in cond["bodySite"][0]["text"]
    assert any("cT3N1M1" in s["summary"]["text"] for s in cond["stage"])
    kinds = [e["resource"]["resourceType"] for e in to_bundle(dev["ONC03"][1])["entry"]]
    assert "MedicationStatement" in kinds and "Procedure" in kinds


# --------------------------------------------------------------------------- roles, audit, pseudonymisation
def test_roles_scope_and_audit():
    svc = FolderService(["ONC04"])
    with pytest.raises(AccessDenied):
        structure_patient(User(username="sec.onco", role=Role.admin), "ONC04", service=svc)
    with pytest.raises(AccessDenied):
        structure_patient(User(username="dr.autre", role=Role.clinician, patients=["P001"]), "ONC04", service=svc)
    with pytest.raises(AccessDenied):  # research extracts go through the DIM
        structure_patient(User(username="dr.onco", role=Role.clinician), "ONC04", service=svc, pseudonymise=True)
    rec = structure_patient(User(username="dr.onco", role=Role.clinician), "ONC04", service=svc)
    assert rec.value("primary_site") == "C34.1"
    assert audit.query(username="sec.onco")[0]["outcome"] == "denied"
    ok = audit.query(username="dr.onco")
    assert [e["outcome"] for e in ok] == ["ok", "denied"]
    assert "ONC04-D01" in ok[0]["documents"] and "C34" not in json.dumps(ok)  # ids only, no value


def test_pseudonymised_output_keeps_no_identity_and_shifts_dates():
    svc = FolderService(["ONC01"])
    coder = User(username="dim.onco", role=Role.coder)
    plain = structure_patient(coder, "ONC01", service=svc)
    rec = structure_patient(coder, "ONC01", service=svc, pseudonymise=True, seed=7)
    text = json.dumps(rec.model_dump(mode="json"), ensure_ascii=False)
    assert rec.patient_id.startswith("PSN-") and rec.pseudonymised and rec.excluded == []
    for secret in ("BERTIN", "Nathalie", "81010234", "1968-05-12", "12/05/1968", "ONC01", "2026-02-10", "2026-02-17"):
        assert secret not in text, secret
    assert rec.value("ctnm") == plain.value("ctnm") and rec.value("er_pct") == 90
    from datetime import date

    d0, r0 = date.fromisoformat(plain.value("diagnosis_date")), date.fromisoformat(plain.value("rcp_decisions")[0])
    d1, r1 = date.fromisoformat(rec.value("diagnosis_date")), date.fromisoformat(rec.value("rcp_decisions")[0])
    assert d1 != d0 and (r1 - d1) == (r0 - d0)  # shifted, intervals kept
    validate_bundle(to_bundle(rec))


# --------------------------------------------------------------------------- command line
def test_cli_structure_json_csv_and_fhir(tmp_path, monkeypatch):
    import retrieval.service as service_mod
    from ui.cli import app

    svc = FolderService(["ONC04", "ONC10"])
    monkeypatch.setattr(service_mod, "get_service", lambda *a, **k: svc)
    runner = CliRunner()
    res = runner.invoke(app, ["structure", "--patient", "ONC04", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["fields"]["egfr"]["value"] == "muté" and data["fields"]["egfr"]["citations"][0]["doc_id"] == "ONC04-D01"
    res = runner.invoke(app, ["structure", "--all", "--csv", str(tmp_path / "c.csv"), "--fhir", str(tmp_path / "b.json")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "c.csv").exists() and (tmp_path / "c.dictionnaire.csv").exists()
    for pid in ("ONC04", "ONC10"):
        validate_bundle(json.loads((tmp_path / f"b_{pid}.json").read_text(encoding="utf-8")))
    res = runner.invoke(app, ["structure"])
    assert res.exit_code == 1 and "--patient" in res.output
    res = runner.invoke(app, ["structure", "--patient", "ONC04", "--profile", "cardiologie"])
    assert res.exit_code == 1 and "Profil inconnu" in res.output


def test_doctests_of_the_structuring_modules():
    import doctest

    import bench.metrics_export
    import bench.structure_eval
    import knowledge.oncology
    import tools.structure.cohort
    import tools.structure.fhir
    import tools.structure.models
    import tools.structure.qualify
    import tools.structure.rules

    for mod in (knowledge.oncology, tools.structure.rules, tools.structure.qualify, tools.structure.models,
                tools.structure.cohort, tools.structure.fhir, bench.structure_eval, bench.metrics_export):
        res = doctest.testmod(mod)
        assert res.failed == 0 and res.attempted > 0, mod.__name__


@pytest.mark.embed
def test_end_to_end_on_the_indexed_corpus(corpus_service):
    """The indexed demo corpus (PDF/DOCX/HTML of P010): the same fields, cited into the stored texts."""
    coder = User(username="dim.e2e", role=Role.coder)
    rec = structure_patient(coder, "P010", service=corpus_service)
    assert rec.value("primary_site") == "C34.1" and rec.value("ctnm") == "cT2aN2M1b"
    assert rec.value("metastatic_sites") == ["surrénale"] and rec.value("kras") == "muté"
    stored = {r["doc_id"]: r["text"] for r in corpus_service.patient_documents("P010")}
    for f in list(rec.fields.values()) + [x for v in rec.lists.values() for x in v]:
        for c in f.citations:
            assert stored[c.doc_id][c.start:c.end] == c.quote
    validate_bundle(to_bundle(rec))
