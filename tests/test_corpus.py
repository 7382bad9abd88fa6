"""The synthetic corpus is valid: schemas, parseable documents, facts where the dev sets say."""

import json
from pathlib import Path

import pytest

from knowledge.french import fold
from medassist.schemas import Patient
from retrieval.parsing import parse_file

ROOT = Path(__file__).resolve().parent.parent / "knowledge"
PATIENT_DIRS = sorted(p for p in (ROOT / "patients").iterdir() if (p / "patient.json").exists())


@pytest.fixture(scope="module")
def patients() -> dict[str, tuple[Path, Patient]]:
    out = {}
    for d in PATIENT_DIRS:
        p = Patient.model_validate_json((d / "patient.json").read_text(encoding="utf-8"))
        out[p.id] = (d, p)
    return out


@pytest.fixture(scope="module")
def texts(patients) -> dict[str, str]:
    """Extracted text of every declared document, by document id (parsed as ingestion does)."""
    return {m.id: parse_file(d / m.file).text for d, p in patients.values() for m in p.documents}


def test_corpus_size_and_coverage(patients):
    assert len(patients) >= 15
    docs = [m for _, p in patients.values() for m in p.documents]
    assert len(docs) >= 60
    suffixes = {Path(m.file).suffix for m in docs}
    assert {".txt", ".md", ".html", ".docx", ".pdf"} <= suffixes
    onco = [p for _, p in patients.values() if any("onco" in s.lower() or "hémato" in s.lower() for s in p.specialties)]
    assert len(onco) >= 4


def test_every_document_is_declared_parses_and_belongs(patients, texts):
    for d, p in patients.values():
        ids = [m.id for m in p.documents]
        assert len(ids) == len(set(ids)), p.id
        for m in p.documents:
            assert (d / m.file).exists(), f"{p.id}: {m.file}"
            assert len(texts[m.id]) > 200, m.id
            if m.stay_id:
                assert m.stay_id in {s.id for s in p.stays}, m.id


def test_each_stay_has_a_hospital_report(patients):
    """Every stay has its report; a day-hospital chemotherapy session is reported by its session note."""
    reports = {"compte_rendu_hospitalisation", "chimiotherapie"}
    for _, p in patients.values():
        for stay in p.stays:
            assert any(m.type in reports and m.stay_id == stay.id for m in p.documents), (p.id, stay.id)


def test_qa_facts_appear_in_named_source(texts):
    cases = [json.loads(line) for f in sorted((ROOT / "eval" / "qa").glob("*.jsonl"))
             for line in f.read_text().splitlines() if line.strip()]
    assert len(cases) >= 80
    for c in cases:
        src = fold(texts[c["expect_doc"]])
        assert any(fold(f) in src for f in c["expect_any"]), c["id"]


def test_procedure_qa_facts_appear_in_named_procedure():
    index = {e["id"]: e for e in json.loads((ROOT / "procedures" / "index.json").read_text())}
    assert len(index) >= 25
    cases = [json.loads(line) for line in (ROOT / "eval" / "qa_procedures.jsonl").read_text().splitlines() if line.strip()]
    for c in cases:
        text = fold(parse_file(ROOT / "procedures" / index[c["expect_doc"]]["file"]).text)
        assert any(fold(f) in text for f in c["expect_any"]), c["id"]


def test_gold_codes_exist_and_are_codable():
    from knowledge.cim10 import get_catalogue

    cat = get_catalogue()
    files = list((ROOT / "eval" / "coding_stays").glob("*.jsonl")) + [ROOT / "eval" / "coding.jsonl"]
    n = 0
    for f in files:
        for line in f.read_text().splitlines():
            if not line.strip():
                continue
            case = json.loads(line)
            for code in [case["dp"], *case.get("das", [])]:
                assert cat.codable(code), (f.name, code)
                n += 1
            for code in case.get("forbidden", []):
                assert cat.get(code) is not None, (f.name, code)
    assert n >= 100


def test_injection_document_is_in_the_corpus(texts):
    inj = json.loads((ROOT / "eval" / "injection_docs.json").read_text())
    for doc_id in inj["documents"]:
        assert any(fold(ph) in fold(texts[doc_id]) for ph in inj["phrases"])
