"""knowledge/eval/pseudonymisation: the annotated snippets are consistent (offsets inside the text, on
word boundaries, no overlap, the surface form is what the category says), the splits are disjoint,
the files are what build.py writes, and the scorer counts a leak as a leak."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

from medassist.schemas import Patient

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "knowledge" / "eval" / "pseudonymisation"
SPLITS = ("dev", "test")


def _module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _rows(split):
    return [json.loads(line) for line in (DATA / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()]


SURFACE = {
    "TEL": re.compile(r"^[+(]?[\d][\d\s().\-]+\d$"),
    "NIR": re.compile(r"^[12][\d\s\-/clé]+\d$"),
    "IPP": re.compile(r"^\d[\d\s\-]+\d$"),
    "EMAIL": re.compile(r"(@|\(at\)|\[at\]| arobase | \(arobase\) | AT )", re.IGNORECASE),
    "DATE": re.compile(r"\d|janvier|février|mars|avril|mai|juin|juillet|août|septembre|octobre|novembre|décembre",
                       re.IGNORECASE),
}


@pytest.mark.parametrize("split", SPLITS)
def test_offsets_match_the_text(split):
    rows = _rows(split)
    assert len(rows) >= 150
    for row in rows:
        text = row["text"]
        Patient.model_validate(row["patient"])
        spans = sorted(row["spans"], key=lambda s: s["start"])
        assert spans, row["id"]
        for a, b in zip(spans, spans[1:]):
            assert a["end"] <= b["start"], (row["id"], a, b)
        for s in spans:
            assert 0 <= s["start"] < s["end"] <= len(text), (row["id"], s)
            surface = text[s["start"]:s["end"]]
            assert surface == surface.strip(), (row["id"], surface)
            # spans fall on word boundaries: no annotation cuts a word in two
            assert s["start"] == 0 or not text[s["start"] - 1].isalnum(), (row["id"], surface)
            assert s["end"] == len(text) or not text[s["end"]].isalnum(), (row["id"], surface)
            rx = SURFACE.get(s["category"])
            assert rx is None or rx.search(surface), (row["id"], s["category"], surface)
            if s["category"] == "NOM":
                assert s["kind"] in ("full", "first", "last", "part") and not re.search(r"\d", surface)


def test_splits_are_large_enough_and_disjoint():
    dev, test = _rows("dev"), _rows("test")
    assert len(dev) + len(test) >= 300
    assert not {r["text"] for r in dev} & {r["text"] for r in test}
    names = {split: {r["text"][s["start"]:s["end"]].lower() for r in rows for s in r["spans"]
                     if s["category"] in ("NOM", "HOPITAL")} for split, rows in (("dev", dev), ("test", test))}
    assert not names["dev"] & names["test"]
    cats = {s["category"] for r in test for s in r["spans"]}
    assert cats == {"NOM", "DATE", "TEL", "NIR", "IPP", "EMAIL", "ADRESSE", "HOPITAL"}


def test_files_are_what_build_writes():
    build = _module(DATA / "build.py", "pseudo_snippets_build")
    for split in SPLITS:
        assert build.build(split) == _rows(split), split


def test_scorer_counts_a_partly_replaced_span_as_a_leak():
    bench = _module(ROOT / "bench" / "pseudonymisation_eval.py", "pseudonymisation_eval")
    patient = {"id": "x", "identity": {"first_name": "Jean", "last_name": "DUPONT", "sex": "M",
                                       "birth_date": "1950-01-02", "ipp": "80000001"},
               "gp": {"name": "Dr Anne MOREL"}}
    text = "Vu avec Zoltan DUPONT et le Dr MOREL."
    row = {"id": "x", "text": text, "patient": patient, "spans": [
        {"start": 8, "end": 21, "category": "NOM", "declared": False, "kind": "full"},
        {"start": 31, "end": 36, "category": "NOM", "declared": True, "kind": "last"}]}
    r = bench.score([row], use_edsnlp=False, misses=True)
    # whatever the rules do with "Zoltan", the numbers must agree with the output
    out = r["missed"]
    assert r["categories"]["NOM"]["gold"] == 2
    assert r["categories"]["NOM"]["recalled"] == 2 - len(out)
    assert all(m["text"] != "MOREL" for m in out)  # the declared GP is replaced
    assert r["snippets_with_miss"] == (1 if out else 0) == r["silent_leaks"] + r["flagged_by_second_pass"]
    empty = dict(row, text="Rien à signaler.", spans=[])
    assert bench.score([empty], use_edsnlp=False)["char_precision"] == 1.0
    # a replacement outside every gold span lowers the character precision
    stray = dict(row, text="Vu le Dr MOREL.", spans=[])
    assert bench.score([stray], use_edsnlp=False)["char_precision"] == 0.0
