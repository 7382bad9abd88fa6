"""Metrics-only exports: no patient string leaves a site, small cells are suppressed, and pooling two
sites' exports reproduces the figures computed on the union of their cases.

The dev set of the structure suite is split into two "sites" (temporary case folders); each site is
evaluated on its own, exported, then pooled (no index needed; about a minute on two cores).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from bench.metrics_export import aggregate, export_metrics, write_aggregate
from bench.structure_eval import evaluate, load_gold
from medassist.schemas import Patient

DEV = Path(__file__).resolve().parent.parent / "knowledge" / "eval" / "structure"


def _site(tmp: Path, name: str, gold: list[dict]) -> Path:
    d = tmp / name
    (d / "patients").mkdir(parents=True)
    for g in gold:
        shutil.copytree(DEV / "patients" / g["patient"], d / "patients" / g["patient"])
    (d / "gold.jsonl").write_text("\n".join(json.dumps(g, ensure_ascii=False) for g in gold) + "\n", encoding="utf-8")
    return d


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sites")
    gold = load_gold(DEV)
    a, b = _site(tmp, "a", gold[:6]), _site(tmp, "b", gold[6:])
    reports = {}
    for name, d in (("CH A", a), ("CHU B", b)):
        reports[name] = {"suites": {"structure": evaluate(d)}}
    union = evaluate(DEV)
    return reports, union, tmp


def _patient_strings() -> set[str]:
    """Every string of the patient records that an export must not contain."""
    out: set[str] = set()

    vocabulary = ("type", "specialty", "specialties")  # controlled values of the schema (« rcp »), not patient data

    def walk(v):
        if isinstance(v, dict):
            for k, x in v.items():
                if k not in vocabulary:
                    walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
        elif isinstance(v, str) and len(v) >= 3:
            out.add(v)

    for folder in sorted((DEV / "patients").iterdir()):
        raw = json.loads((folder / "patient.json").read_text(encoding="utf-8"))
        walk(raw)
        p = Patient.model_validate(raw)
        for d in p.documents:
            text = (folder / d.file).read_text(encoding="utf-8")
            out.update(line.strip() for line in text.splitlines() if len(line.strip()) >= 8)
            # names, identifiers, dates: capitalised words, numbers of 5+ digits, dates as written
            out.update(w for w in re.findall(r"\b[A-ZÀ-Ý][A-ZÀ-Ý'-]{3,}\b", text))
            out.update(re.findall(r"\d{2}/\d{2}/\d{4}|\b\d{5,}\b", text))
            out.add(d.date.isoformat())
    for g in load_gold(DEV):
        out.update(f["evidence"] for f in g["fields"].values())
    return {s for s in out if s.strip()}


def test_export_holds_no_patient_string(sites, tmp_path):
    reports, _, _ = sites
    strings = _patient_strings()
    assert len(strings) > 300
    for site, rep in reports.items():
        text = json.dumps(export_metrics(rep, site=site), ensure_ascii=False)
        hits = sorted(s for s in strings if s in text)
        assert hits == [], hits[:5]
        assert "errors" not in text and "patient" not in text.lower()


def test_small_cells_are_suppressed_with_their_rates(sites):
    reports, _, _ = sites
    e = export_metrics(reports["CH A"], site="CH A")["suites"]["structure"]
    raw = reports["CH A"]["suites"]["structure"]["fields"]
    for name, row in e["fields"].items():
        for k in ("tp", "fp", "fn"):
            assert row[k] == (None if 0 < raw[name][k] < 5 else raw[name][k])
        if name in e["suppressed"]:
            assert row["precision"] is None and row["f1"] is None
    assert e["suppressed"]  # six cases per site: some fields have fewer than 5
    assert e["n_cases"] == 6 and e["forbidden_reported"] == 0


def test_pooling_two_sites_reproduces_the_union(sites, tmp_path):
    reports, union, _ = sites
    files = []
    for site, rep in reports.items():
        f = tmp_path / f"{site}.json"
        f.write_text(json.dumps(export_metrics(rep, site=site), ensure_ascii=False), encoding="utf-8")
        files.append(f)
    agg = write_aggregate(files, tmp_path / "agg")
    assert all(Path(p).exists() for p in agg["files"])
    o = agg["overall"]
    u = union["micro"]
    assert (o["micro"]["tp"], o["micro"]["fp"], o["micro"]["fn"]) == (u["tp"], u["fp"], u["fn"])
    assert o["micro"]["f1"] == u["f1"] and o["n_cases"] == union["n"]
    pooled_fields = [n for n in o["fields"] if n not in o["left_out"]]
    assert pooled_fields  # some fields are pooled from both sites
    for n in pooled_fields:
        for k in ("tp", "fp", "fn", "precision", "recall", "f1"):
            assert o["fields"][n][k] == union["fields"][n][k], (n, k)
    with pytest.raises(ValueError):
        aggregate([json.loads(files[0].read_text()), json.loads(files[0].read_text())])  # same site twice


def test_cli_eval_aggregate(sites, tmp_path):
    from typer.testing import CliRunner

    from ui.cli import app

    reports, _, _ = sites
    files = []
    for site, rep in reports.items():
        f = tmp_path / f"{site.replace(' ', '_')}.json"
        f.write_text(json.dumps(export_metrics(rep, site=site), ensure_ascii=False), encoding="utf-8")
        files.append(str(f))
    res = CliRunner().invoke(app, ["eval", "aggregate", *files, "--report", str(tmp_path / "out"), "--json"])
    assert res.exit_code == 0, res.output
    agg = json.loads(res.stdout)
    assert [s["site"] for s in agg["sites"]] == ["CH A", "CHU B"]
    assert (tmp_path / "out" / "aggregate.md").read_text(encoding="utf-8").startswith("# medassist")
    res = CliRunner().invoke(app, ["eval", "aggregate"])
    assert res.exit_code == 1 and "export" in res.output
