"""The oncology structuring dev set (knowledge/eval/structure): complete, traceable, with its traps.

No model and no index: these checks read the folders and ``gold.jsonl`` only.
"""

from __future__ import annotations

import json
from pathlib import Path

from medassist.schemas import Patient
from retrieval.parsing import parse_file

DEV = Path(__file__).resolve().parent.parent / "knowledge" / "eval" / "structure"
GOLD = [json.loads(x) for x in (DEV / "gold.jsonl").read_text(encoding="utf-8").splitlines() if x.strip()]


def _texts(pid: str) -> dict[str, str]:
    folder = DEV / "patients" / pid
    p = Patient.model_validate_json((folder / "patient.json").read_text(encoding="utf-8"))
    return {d.id: parse_file(folder / d.file).text for d in p.documents}


def test_protocol_was_written_and_names_the_scoring():
    text = (DEV / "PROTOCOL.md").read_text(encoding="utf-8")
    for needle in ("forbidden", "precision", "F1", "affirmed", "restaging"):
        assert needle.lower() in text.lower()


def test_at_least_twelve_patients_covering_the_five_cancer_families():
    assert len(GOLD) >= 12
    cats = {g["fields"]["primary_site"]["value"].split(".")[0] for g in GOLD}
    assert {"C50", "C34", "C61", "C20"} <= cats  # breast, lung, prostate, rectum
    assert cats & {"C18", "C20"} and cats & {"C81", "C82", "C83", "C90", "C91", "C92"}  # colorectal, haematology
    for g in GOLD:
        p = Patient.model_validate_json((DEV / "patients" / g["patient"] / "patient.json").read_text(encoding="utf-8"))
        assert 2 <= len(p.documents) <= 4, g["patient"]


def test_every_gold_value_has_verbatim_evidence_in_the_named_document():
    for g in GOLD:
        texts = _texts(g["patient"])
        for name, f in g["fields"].items():
            assert f["doc"] in texts, (g["patient"], name)
            assert f["evidence"] in texts[f["doc"]], (g["patient"], name, f["evidence"])


def test_the_traps_of_the_protocol_are_present():
    whys = " ".join(fb["why"] for g in GOLD for fb in g["forbidden"])
    for kind in ("family", "negated", "hypothetical", "restaging"):
        assert kind in whys, kind
    # the restaging case: its first RCP states another cTNM than the gold (the latest)
    texts = _texts("ONC03")
    assert "cT3N1M0" in texts["ONC03-D02"] and GOLD[2]["fields"]["ctnm"]["value"] == "cT3N1M1"


def test_corpus_gold_evidence_is_verbatim_in_the_corpus_documents():
    corpus = [json.loads(x) for x in (DEV / "corpus" / "gold.jsonl").read_text(encoding="utf-8").splitlines() if x.strip()]
    assert {g["patient"] for g in corpus} == {"P009", "P010", "P011", "P012"}
    for g in corpus:
        folder = (DEV / "corpus" / g["folder"]).resolve()
        p = Patient.model_validate_json((folder / "patient.json").read_text(encoding="utf-8"))
        texts = {d.id: parse_file(folder / d.file).text for d in p.documents}
        for name, f in g["fields"].items():
            assert f["evidence"] in texts[f["doc"]], (g["patient"], name)
