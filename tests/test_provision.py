"""Provisioning installs what the configuration uses: llama.cpp only when asked for."""

import pytest

import medassist.provision as prov
from medassist.settings import Settings


@pytest.fixture
def calls(monkeypatch):
    seen = []
    monkeypatch.setattr(prov, "provision_embedding_model", lambda s, p: seen.append("embeddings"))
    monkeypatch.setattr(prov, "provision_onnx_export", lambda s, p: seen.append("onnx"))
    monkeypatch.setattr(prov, "provision_llm", lambda s, p: seen.append("llm"))
    return seen


@pytest.mark.parametrize("url,llm,expected", [
    ("", None, ["embeddings", "onnx"]),             # make run: the extractive default never uses llama.cpp
    ("local", None, ["embeddings", "onnx", "llm"]),  # MEDASSIST_LLM_BASE_URL=local
    ("http://vllm:8000/v1", None, ["embeddings", "onnx"]),
    ("", True, ["embeddings", "onnx", "llm"]),      # make test: setup --llm
])
def test_setup_builds_llama_cpp_only_when_used(tmp_path, calls, url, llm, expected):
    prov.setup_all(Settings(data_dir=tmp_path, llm_base_url=url), llm=llm, progress=lambda m: None)
    assert calls == expected


def test_makefile_run_and_test_targets():
    """`make run` provisions without --llm; `make test` with it (the README's two commands)."""
    from pathlib import Path

    make = (Path(__file__).resolve().parent.parent / "Makefile").read_text()
    assert "\tMEDASSIST_REQUIRE_MODELS=1" in make.split("test: setup-test", 1)[1].split("\n\n", 1)[0]
    assert "$(BIN)/medassist setup\n" in make.split("\nsetup: install", 1)[1]
    assert "$(BIN)/medassist setup --llm" in make.split("\nsetup-test: install", 1)[1]
