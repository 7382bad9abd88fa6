"""The evaluation harness: report files, plots, custom case folders, README section rewrite."""

import json
from pathlib import Path

import pytest

from bench.harness import README_END, README_START, run_eval, split_cases, update_readme


def test_split_cases_reads_any_folder(tmp_path):
    (tmp_path / "qa.jsonl").write_text(json.dumps({"patient": "P001", "question": "Allergies ?", "expect_any": ["pénicilline"]}) + "\n")
    (tmp_path / "coding.jsonl").write_text(json.dumps({"text": "Pneumopathie.", "dp": "J18.9", "das": [], "forbidden": []}) + "\n")
    cases = split_cases(tmp_path)
    assert len(cases["qa"]) == 1 and cases["patients"] == []
    assert json.loads(cases["coding"].read_text())["dp"] == "J18.9"


@pytest.mark.embed
def test_run_eval_writes_report_and_readme(corpus_service, tmp_path):
    report = run_eval(["retrieval", "drafting"], report_dir=tmp_path / "rep")
    assert (tmp_path / "rep" / "report.json").exists() and (tmp_path / "rep" / "retrieval_recall.png").exists()
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "recall@3" in md and "lettre de liaison" in md
    assert report["suites"]["retrieval"]["modes"]["hybrid_weighted"]["recall@3"] >= 0.9
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{README_START}\nold\n{README_END}\ntail\n")
    update_readme(readme, report)
    text = readme.read_text()
    assert "old" not in text and "hybrid_weighted" in text and text.endswith("tail\n")
