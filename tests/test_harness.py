"""The evaluation harness: report files, plots, custom case folders, README section rewrite."""

import json

import pytest

from bench.harness import README_END, README_START, run_eval, split_cases, update_readme

pytestmark = pytest.mark.usefixtures("coding_caches")  # the eval codes stays


def test_split_cases_reads_any_folder(tmp_path):
    qa = {"patient": "P001", "question": "Allergies ?", "expect_any": ["pénicilline"]}
    (tmp_path / "qa.jsonl").write_text(json.dumps(qa) + "\n")
    coding = {"text": "Pneumopathie.", "dp": "J18.9", "das": [], "forbidden": []}
    (tmp_path / "coding.jsonl").write_text(json.dumps(coding) + "\n")
    cases = split_cases(tmp_path)
    assert len(cases["qa"]) == 1 and cases["patients"] == []
    assert json.loads(cases["coding"].read_text())["dp"] == "J18.9"


@pytest.mark.embed
def test_run_eval_writes_report_and_readme(corpus_service, tmp_path):
    report = run_eval(["retrieval", "drafting"], report_dir=tmp_path / "rep", quick=True)
    assert (tmp_path / "rep" / "report.json").exists() and (tmp_path / "rep" / "retrieval_recall.png").exists()
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "recall@3" in md and "lettre de liaison" in md
    assert report["suites"]["retrieval"]["modes"]["hybrid_weighted"]["recall@5"] >= 0.9
    assert "sous-ensemble rapide" in md
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{README_START}\nold\n{README_END}\ntail\n")
    update_readme(readme, report)
    text = readme.read_text()
    assert "old" not in text and "hybrid_weighted" in text and text.endswith("tail\n")


def test_bench_backends_and_caps(tmp_path):
    """Backends by name, a capped backend is reported as not measured, a server needs a URL,
    and a prefixed client store never touches the production collection names."""
    import numpy as np
    from typer.testing import CliRunner

    from bench.retrieval_bench import _open_store, scale_latency
    from medassist.schemas import Chunk, Corpus
    from retrieval.store import ClientStore, Scope
    from ui.cli import app

    rows = scale_latency([300], dim=32, queries=5, backends=("qdrant-edge", "qdrant-client-local"),
                         max_chunks={"qdrant-client-local": 100})
    edge, client = rows
    assert edge["backend"] == "qdrant-edge" and edge["queries"] == 5 and edge["hybrid_p95_ms"] > 0
    assert client["backend"] == "qdrant-client-local" and "non mesuré" in client["skipped"]
    with pytest.raises(ValueError, match="MEDASSIST_QDRANT_URL"):
        _open_store("qdrant-server", tmp_path, 32, None, None)

    runner = CliRunner()
    bad = runner.invoke(app, ["bench", "--backends", "edge,milvus"])
    assert bad.exit_code == 1 and "Moteur inconnu : milvus" in bad.output
    no_url = runner.invoke(app, ["bench", "--backends", "server"])
    assert no_url.exit_code == 1 and "MEDASSIST_QDRANT_URL" in no_url.output

    store = ClientStore(8, path=tmp_path / "q", prefix="bench_x_")
    chunk = Chunk(chunk_id="c/1", corpus=Corpus.patients, patient_id="F1", doc_id="F1-D1", doc_type="autre",
                  title="t", date="2026-01-01", start=0, end=4, text="test", content_hash="h")
    store.upsert(Scope.patient("F1"), [chunk], np.ones((1, 8), np.float32), [([1], [1.0])])
    assert store.client.collection_exists("bench_x_patients") and not store.client.collection_exists("patients")
    assert store.count(Scope.patient("F1")) == 1
    store.drop()
    assert not store.client.collection_exists("bench_x_patients")
    store.close()


@pytest.mark.embed
def test_quick_eval_is_the_ci_gate(corpus_service, tmp_path):
    """``medassist eval --quick --check``: every suite on its fixed subset, judged against
    bench/floors.json (the CI's regression gate on quality, not on speed)."""
    from typer.testing import CliRunner

    from bench.harness import FLOORS, check_floors
    from ui.cli import app

    res = CliRunner().invoke(app, ["eval", "--quick", "--check", "--report", str(tmp_path / "q"), "--json"])
    payload = json.loads(res.stdout)  # stderr holds the libraries' warnings
    assert res.exit_code == 0, payload["floor_failures"]
    assert payload["quick"] and payload["floor_failures"] == []
    assert set(payload["suites"]) == {"retrieval", "coding", "qa", "drafting", "security", "robustness", "structure"}
    assert payload["suites"]["retrieval"]["n"] < 100 and payload["suites"]["coding"]["stays"]["n"] == 6
    rob = payload["suites"]["robustness"]  # 2 styles × 2 patients, reported, not gated (blind set)
    assert list(rob["styles"]) == ["txt_lines", "pdf"] and rob["styles"]["pdf"]["patients"] == ["P001", "P002"]
    assert (tmp_path / "q" / "report.md").exists()
    # the gate does fail: the same report with a leak and a missing metric
    broken = json.loads(json.dumps(payload))
    broken["suites"]["security"]["cross_patient_leaks"] = 1
    del broken["suites"]["qa"]["extractive"]["accuracy"]
    failures = check_floors(broken, FLOORS)
    assert any("cross_patient_leaks = 1 > 0" in f for f in failures)
    assert any("accuracy : valeur absente" in f for f in failures)
    refused = CliRunner().invoke(app, ["eval", "--quick", "--suite", "coding", "--update-readme"])
    assert refused.exit_code == 1 and "évaluation complète" in refused.output


@pytest.mark.embed
@pytest.mark.llm
def test_agent_latency_rows_per_backend(corpus_service, tmp_path):
    """Extractive turns, the embedded llama.cpp stream, and a configured remote model that is down:
    every backend gets a row, the one that cannot run says why (in French)."""
    from support import GGUF  # provisioned in the default data dir

    from bench.harness import _bench_agent
    from medassist.settings import get_settings

    # the turns use the session's service; these settings only name the LLM backends and their models
    settings = get_settings().model_copy(update={"data_dir": tmp_path, "llm_base_url": "http://127.0.0.1:9/v1",
                                                 "llm_model": "qwen2.5-7b-instruct", "llm_max_retries": 0})
    settings.models_dir.mkdir(parents=True)
    (settings.models_dir / GGUF.name).symlink_to(GGUF)
    rows = {r["backend"]: r for r in _bench_agent(settings)["rows"]}
    assert rows["extractive (no LLM)"]["turn_ms_mean"] > 0
    local = rows["llama.cpp SmolLM2-135M (protocol only)"]
    assert local["ttft_ms"] > 0 and local["turn_ms_mean"] >= local["ttft_ms"] and local["turn_ratio_vs_extractive"] > 0
    remote = rows["remote qwen2.5-7b-instruct (generative turn)"]
    assert "skipped" in remote and remote["skipped"]
