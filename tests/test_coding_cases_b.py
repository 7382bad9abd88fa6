"""Consistency of coding set B (issue 15, item 4): new syntheses and whole-stay patient cases.

Why: the set is a train / dev / test split written from ``knowledge/eval/coding_b/PROTOCOL.md``
before the coding system was run on it; its worth rests on the gold being well formed. These
tests check the data only — they never run the coding system:

* every gold and forbidden code exists in the ATIH CIM-10 FR table shipped in edsnlp, gold codes
  are codable (type != 3), the DP is allowed as DP (type 0), DAS are allowed as DA;
* no forbidden code is also gold, no code is repeated;
* every case carries the split of the seeded draw (``splits.json`` == the rule recomputed), with
  the intended 40 / 30 / 30 proportions, every specialty present in every split of the syntheses;
* every code has an ``evidence`` phrase found verbatim in the synthesis or the named document;
* every patient case's documents exist, are declared in a valid ``patient.json``, belong to the
  scored stay, and the ids / identities cannot collide with the corpus;
* the phrasing targets of the protocol (traits) are met.
"""

from __future__ import annotations

import collections
import csv
import gzip
import json
import re
from pathlib import Path

import pytest

from knowledge.cim10 import source_path, undot
from knowledge.eval.coding_b.loader import (
    PATIENTS,
    ROOT,
    SPLITS,
    STAYS,
    SYNTHESES,
    draw_split,
    load_stays,
    load_syntheses,
    patient_dirs,
)
from medassist.schemas import Patient

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "knowledge" / "patients"

#: specialty blocks of the syntheses, fixed in the protocol before writing
BLOCKS = [
    (1, 16, "cardiologie"), (17, 30, "pneumologie"), (31, 42, "néphrologie"), (43, 56, "gériatrie"),
    (57, 69, "chirurgie digestive"), (70, 82, "orthopédie"), (83, 96, "oncologie"),
    (97, 110, "neurologie"), (111, 122, "endocrinologie"), (123, 136, "infectiologie"),
    (137, 148, "psychiatrie"), (149, 160, "gastro-entérologie"),
]
TRAITS = {"phrases", "telegraphique", "abreviations", "negation", "hypothese", "atcd_familial", "atcd_seul",
          "symptome_explique", "chronique_pris_en_charge", "chronique_mentionne", "subdivision"}
_CODE = re.compile(r"^[A-Z][0-9]{2}(\.[0-9+]{1,3})?$")


@pytest.fixture(scope="module")
def atih() -> dict[str, str]:
    """ATIH code (without dot) -> "Type MCO/HAD" (0..4), read from the file knowledge.cim10 reads."""
    with gzip.open(source_path(), "rt", encoding="utf-8") as fh:
        return {r["code"]: r["type"] for r in csv.DictReader(fh)}


@pytest.fixture(scope="module")
def syntheses() -> list[dict]:
    return load_syntheses()


@pytest.fixture(scope="module")
def stays() -> list[dict]:
    return load_stays()


def _all_cases(syntheses, stays):
    return [(c["id"], c) for c in syntheses] + [(g["patient"], g) for g in stays]


# --------------------------------------------------------------------------- schema
def test_counts_and_schema(syntheses, stays):
    assert len(syntheses) >= 150 and len(stays) >= 30
    assert [c["id"] for c in syntheses] == [f"B{i:03d}" for i in range(1, 161)]
    assert [g["patient"] for g in stays] == [f"C{i}" for i in range(101, 131)]
    for c in syntheses:
        assert set(c) == {"id", "split", "specialty", "text", "dp", "das", "forbidden", "traits", "evidence"}, c["id"]
        assert len(c["text"]) >= 80 and isinstance(c["das"], list) and isinstance(c["forbidden"], list)
    for g in stays:
        assert set(g) == {"patient", "stay", "split", "specialty", "dp", "das", "forbidden", "traits", "evidence"}
        assert g["stay"] == "S1"


def test_syntheses_readable_by_the_bench_loader():
    """bench/coding_eval.py reads the file as it reads coding.jsonl, one split at a time."""
    from bench.coding_eval import load_cases

    assert {s: len(load_cases(SYNTHESES, s)) for s in SPLITS} == {"train": 64, "dev": 48, "test": 48}


# --------------------------------------------------------------------------- codes
def test_every_code_exists_in_the_atih_table(syntheses, stays, atih):
    for cid, c in _all_cases(syntheses, stays):
        for code in [c["dp"], *c["das"], *c["forbidden"]]:
            assert _CODE.match(code), (cid, code)
            assert undot(code) in atih, f"{cid}: {code} absent de la table ATIH"


def test_gold_codes_are_codable_in_their_position(syntheses, stays, atih):
    for cid, c in _all_cases(syntheses, stays):
        assert atih[undot(c["dp"])] == "0", f"{cid}: DP {c['dp']} non autorisé en DP"
        for code in c["das"]:
            assert atih[undot(code)] in {"0", "1", "2", "4"}, f"{cid}: DAS {code} non codable"
        for code in c["forbidden"]:
            assert atih[undot(code)] != "3", f"{cid}: code interdit {code} non codable (catégorie père)"


def test_no_forbidden_code_is_gold_and_no_repeats(syntheses, stays):
    for cid, c in _all_cases(syntheses, stays):
        gold = [c["dp"], *c["das"]]
        assert not set(c["forbidden"]) & set(gold), cid
        assert len(set(gold)) == len(gold) and len(set(c["forbidden"])) == len(c["forbidden"]), cid


def test_no_external_cause_codes_in_gold(syntheses, stays):
    for cid, c in _all_cases(syntheses, stays):
        assert not [g for g in [c["dp"], *c["das"]] if g[0] in "VWXY"], cid


# --------------------------------------------------------------------------- evidence
def test_every_synthesis_code_has_verbatim_evidence(syntheses):
    for c in syntheses:
        codes = [c["dp"], *c["das"], *c["forbidden"]]
        assert set(c["evidence"]) == set(codes), c["id"]
        for code, phrase in c["evidence"].items():
            assert phrase and phrase in c["text"], f"{c['id']} {code}: « {phrase} » absent du texte"


def test_every_stay_code_has_verbatim_evidence_in_a_declared_document(stays):
    for g in stays:
        codes = [g["dp"], *g["das"], *g["forbidden"]]
        assert set(g["evidence"]) == set(codes), g["patient"]
        for code, ev in g["evidence"].items():
            text = (PATIENTS / g["patient"] / ev["file"]).read_text(encoding="utf-8")
            assert ev["quote"] and ev["quote"] in text, f"{g['patient']} {code}: « {ev['quote']} »"
        # the DP is supported by the hospital report, the document a coder reads first
        dp_file = g["evidence"][g["dp"]]["file"]
        assert dp_file.startswith("crh_") or dp_file.startswith("anapath_"), (g["patient"], dp_file)


# --------------------------------------------------------------------------- splits
def test_splits_follow_the_seeded_draw(syntheses, stays):
    drawn = draw_split()
    assert json.loads((ROOT / "splits.json").read_text(encoding="utf-8")) == drawn
    for cid, c in _all_cases(syntheses, stays):
        assert c["split"] == drawn[cid], cid


def test_split_proportions(syntheses, stays):
    for cases, expected in ((syntheses, {"train": 64, "dev": 48, "test": 48}), (stays, {"train": 12, "dev": 9, "test": 9})):
        counts = collections.Counter(c["split"] for c in cases)
        assert dict(counts) == expected
        for split, share in (("train", 0.4), ("dev", 0.3), ("test", 0.3)):
            assert abs(counts[split] / len(cases) - share) <= 0.02


def test_specialty_mix(syntheses, stays):
    for c in syntheses:
        n = int(c["id"][1:])
        assert c["specialty"] == next(s for a, b, s in BLOCKS if a <= n <= b), c["id"]
    per_split = collections.defaultdict(set)
    for c in syntheses:
        per_split[c["split"]].add(c["specialty"])
    specialties = {s for *_, s in BLOCKS}
    assert all(per_split[s] == specialties for s in SPLITS), {s: specialties - per_split[s] for s in SPLITS}
    assert {g["specialty"] for g in stays} == specialties


def test_phrasing_targets_of_the_protocol(syntheses):
    n = len(syntheses)
    counts = collections.Counter(t for c in syntheses for t in c["traits"])
    assert set(counts) <= TRAITS
    assert counts["phrases"] >= 0.4 * n and counts["telegraphique"] >= 0.3 * n
    assert counts["abreviations"] >= 0.5 * n and counts["negation"] >= 0.4 * n
    assert counts["hypothese"] >= 20 and counts["atcd_familial"] >= 15 and counts["atcd_seul"] >= 20
    assert counts["symptome_explique"] >= 15 and counts["chronique_pris_en_charge"] >= 30
    assert counts["chronique_mentionne"] >= 10 and counts["subdivision"] >= 30
    for c in syntheses:  # each case is either narrative or terse, never both, never neither
        assert ("phrases" in c["traits"]) != ("telegraphique" in c["traits"]), c["id"]
        if {"atcd_familial", "atcd_seul", "hypothese"} & set(c["traits"]):
            assert c["forbidden"], c["id"]


# --------------------------------------------------------------------------- patient cases
def test_patient_folders_are_valid_and_fully_declared(stays):
    assert sorted(p.name for p in PATIENTS.iterdir()) == [g["patient"] for g in stays]
    for folder, g in zip(patient_dirs(), stays):
        p = Patient.model_validate_json((folder / "patient.json").read_text(encoding="utf-8"))
        assert p.id == folder.name == g["patient"]
        stay = next(s for s in p.stays if s.id == g["stay"])
        declared = {d.file for d in p.documents}
        on_disk = {f.name for f in folder.iterdir() if f.name != "patient.json"}
        assert declared == on_disk, folder.name
        assert 2 <= len(p.documents) <= 3, folder.name
        assert len({d.id for d in p.documents}) == len(p.documents)
        assert any(d.type == "compte_rendu_hospitalisation" for d in p.documents), folder.name
        for d in p.documents:
            assert d.id.startswith(f"{p.id}-D") and d.stay_id == stay.id
            assert stay.entry_date <= d.date <= stay.exit_date, (folder.name, d.file)
            text = (folder / d.file).read_text(encoding="utf-8")
            assert p.identity.last_name in text and len(text) > 200, (folder.name, d.file)


def test_patient_ids_and_identities_cannot_collide_with_the_corpus(stays):
    corpus = [json.loads((d / "patient.json").read_text(encoding="utf-8")) for d in sorted(CORPUS.iterdir())
              if (d / "patient.json").exists()]
    corpus_ids = {c["id"] for c in corpus}
    corpus_names = {(c["identity"]["last_name"].upper(), c["identity"]["first_name"]) for c in corpus}
    corpus_ipp = {c["identity"]["ipp"] for c in corpus}
    seen_ipp, seen_nir = set(), set()
    for folder in patient_dirs():
        p = json.loads((folder / "patient.json").read_text(encoding="utf-8"))
        ident = p["identity"]
        assert p["id"] not in corpus_ids and not p["id"].startswith("P")
        assert (ident["last_name"].upper(), ident["first_name"]) not in corpus_names
        assert ident["ipp"] not in corpus_ipp and ident["ipp"] not in seen_ipp
        nir = ident["nir"]
        assert len(nir) == 15 and nir.isdigit() and nir not in seen_nir
        assert 97 - int(nir[:13]) % 97 == int(nir[13:]), folder.name  # valid control key
        assert nir[0] == ("1" if ident["sex"] == "M" else "2") and nir[1:3] == ident["birth_date"][2:4]
        seen_ipp.add(ident["ipp"])
        seen_nir.add(nir)


def test_stays_file_is_not_picked_up_as_synthesis_cases():
    """``medassist eval --cases knowledge/eval/coding_b`` (bench.harness.split_cases) takes the
    JSONL rows with ``text`` and ``dp`` as syntheses: the stay gold rows have no ``text``."""
    rows = [json.loads(line) for line in STAYS.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert not [r for r in rows if "text" in r]


def test_syntheses_are_new_wording_not_copies_of_the_dev_set(syntheses):
    """At most 2 shared 7-word sequences with any synthesis of knowledge/eval/coding.jsonl
    (generic clinical phrases such as « pas de trouble du rythme » only)."""
    def grams(text: str, n: int = 7) -> set[tuple[str, ...]]:
        words = re.findall(r"\w+", text.lower())
        return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}

    dev = REPO / "knowledge" / "eval" / "coding.jsonl"
    seen = set().union(*(grams(json.loads(line)["text"]) for line in dev.read_text(encoding="utf-8").splitlines()
                         if line.strip()))
    assert not [(c["id"], len(grams(c["text"]) & seen)) for c in syntheses if len(grams(c["text"]) & seen) > 2]
