"""Embedding runtime choice: settings first, then what setup measured on this CPU, never emulated bf16."""

import json

import pytest

import retrieval.embedder as emb
from medassist.hardware import CpuInfo
from medassist.settings import Settings
from retrieval.embedder import ONNX_FILES, RUNTIME_FILE, EmbeddingError, Runtime, resolve_runtime

AVX2 = CpuInfo(model="AMD EPYC 7B13", arch="x86_64", cores=2, flags=["avx2", "fma", "f16c"])
AMX = CpuInfo(model="Intel Xeon", arch="x86_64", cores=2, flags=["avx2", "avx512_bf16", "amx_bf16"])


@pytest.fixture
def settings(tmp_path):
    model = tmp_path / "models" / "embeddinggemma-300m"
    model.mkdir(parents=True)
    return Settings(data_dir=tmp_path, embedding_model=str(model))


def _export(settings: Settings, record: dict | None = None) -> None:
    onnx = settings.embedding_onnx_path / ONNX_FILES["int8"]
    onnx.parent.mkdir(parents=True, exist_ok=True)
    onnx.write_bytes(b"onnx")
    if record is not None:
        (settings.embedding_onnx_path / RUNTIME_FILE).write_text(json.dumps(record))


@pytest.mark.parametrize("cpu,expected", [(AVX2, "torch-fp32"), (AMX, "torch-bf16")])
def test_without_measurement_bf16_only_on_native_hardware(settings, monkeypatch, cpu, expected):
    monkeypatch.setattr(emb, "cpu_info", lambda: cpu)
    assert resolve_runtime(settings).label == expected


def test_recorded_choice_applies_only_on_the_same_cpu(settings, monkeypatch):
    monkeypatch.setattr(emb, "cpu_info", lambda: AMX)
    _export(settings, {"cpu_fingerprint": AMX.fingerprint, "choice": "torch-bf16",
                       "agreement": {"onnx-int8": {"ok": True}}})
    assert resolve_runtime(settings).label == "torch-bf16"
    monkeypatch.setattr(emb, "cpu_info", lambda: AVX2)  # another machine: the bf16 choice does not follow
    assert resolve_runtime(settings).label == "onnx-int8"


def test_int8_is_not_used_when_its_agreement_check_failed(settings, monkeypatch):
    monkeypatch.setattr(emb, "cpu_info", lambda: AVX2)
    _export(settings, {"cpu_fingerprint": "other", "choice": "onnx-int8", "agreement": {"onnx-int8": {"ok": False}}})
    assert resolve_runtime(settings).label == "torch-fp32"


def test_recorded_choice_whose_files_are_gone_is_ignored(settings, monkeypatch):
    monkeypatch.setattr(emb, "cpu_info", lambda: AVX2)
    (settings.embedding_onnx_path).mkdir(parents=True)
    (settings.embedding_onnx_path / RUNTIME_FILE).write_text(
        json.dumps({"cpu_fingerprint": AVX2.fingerprint, "choice": "onnx-int8"}))
    assert resolve_runtime(settings).label == "torch-fp32"


def test_explicit_settings_win(settings, monkeypatch):
    monkeypatch.setattr(emb, "cpu_info", lambda: AVX2)
    _export(settings, {"cpu_fingerprint": AVX2.fingerprint, "choice": "onnx-int8"})
    assert resolve_runtime(settings.model_copy(update={"embedding_backend": "torch"})).label == "torch-fp32"
    assert resolve_runtime(settings.model_copy(update={"embedding_dtype": "int8"})).label == "onnx-int8"
    assert resolve_runtime(settings.model_copy(update={"embedding_dtype": "bf16"})).label == "torch-bf16"


def test_invalid_combination_is_a_french_error(settings):
    with pytest.raises(EmbeddingError, match="Combinaison invalide"):
        resolve_runtime(settings.model_copy(update={"embedding_backend": "onnx", "embedding_dtype": "bf16"}))


def test_settings_read_runtime_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MEDASSIST_EMBEDDING_BACKEND", "onnx")
    monkeypatch.setenv("MEDASSIST_EMBEDDING_DTYPE", "int8")
    s = Settings(data_dir=tmp_path)
    assert (s.embedding_backend, s.embedding_dtype) == ("onnx", "int8")
    assert s.embedding_onnx_path.name == "embeddinggemma-300m-onnx"


def test_runtime_label_round_trip():
    assert Runtime.parse("onnx-int8") == Runtime(backend="onnx", dtype="int8")


def test_calibrate_keeps_the_fastest_runtime_that_agrees(settings, monkeypatch):
    """Selection logic of the setup self-check, with scripted measurements (no model)."""
    import numpy as np

    monkeypatch.setattr(emb, "cpu_info", lambda: AMX)
    _export(settings)
    rng = np.random.default_rng(0)
    docs = rng.standard_normal((4, 8)).astype(np.float32)
    docs /= np.linalg.norm(docs, axis=1, keepdims=True)
    drift = docs + 0.5 * rng.standard_normal(docs.shape).astype(np.float32)  # a runtime that disagrees
    drift /= np.linalg.norm(drift, axis=1, keepdims=True)
    script = {"torch-fp32": (2.0, docs), "torch-bf16": (9.0, drift), "onnx-int8": (6.0, docs)}

    class Fake:
        def __init__(self, *a, runtime, **k):
            self.runtime = runtime

        def embed_documents(self, texts):  # warm-up
            return script[self.runtime.label][1][: len(texts)]

    rounds = {"n": 0}

    def batch(e):
        rate, vectors = script[e.runtime.label]
        rounds["n"] += 1
        burst = rounds["n"] == 4  # another process takes the CPU during one measurement of fp32
        return (rate / 10 if burst else rate), vectors

    monkeypatch.setattr(emb, "LocalEmbedder", Fake)
    monkeypatch.setattr(emb, "_time_batch", batch)
    monkeypatch.setattr(emb, "_time_queries", lambda e: ([0.001] * 4, script[e.runtime.label][1]))
    monkeypatch.setattr(emb.os, "getloadavg", lambda: (0.4, 0.4, 0.4))
    lines = []
    record = emb.calibrate(settings, progress=lines.append)
    assert record["choice"] == "onnx-int8"  # bf16 is faster but refused: its vectors drift from fp32
    assert not record["agreement"]["torch-bf16"]["ok"] and record["agreement"]["onnx-int8"]["ok"]
    assert record["speed"]["torch-fp32"]["texts_per_s"] == 2.0  # its best round, not the one under the burst
    assert record["loaded"] is False and record["rounds"] == emb.CALIBRATION_ROUNDS
    assert resolve_runtime(settings).label == "onnx-int8"
    assert any("refusé" in line for line in lines) and "onnx-int8" in lines[-1]
    # measured on a busy machine: said, and recorded
    monkeypatch.setattr(emb.os, "getloadavg", lambda: (7.5, 6.0, 5.0))
    lines.clear()
    record = emb.calibrate(settings, progress=lines.append)
    assert record["loaded"] is True and any("machine chargée" in line for line in lines)


@pytest.mark.embed
def test_int8_export_agrees_with_fp32_on_probe_texts():
    """The gate `medassist setup` applies, on the real export (built by setup; CI requires it)."""
    import os

    import numpy as np

    from medassist.settings import get_settings
    from retrieval.embedder import _PROBE_DOCS, _PROBE_QUERIES, AGREEMENT_MIN_COSINE, LocalEmbedder

    s = get_settings()
    if not (s.embedding_onnx_path / ONNX_FILES["int8"]).exists():
        if os.environ.get("MEDASSIST_REQUIRE_MODELS") == "1":
            pytest.fail("export ONNX absent : lancez « medassist setup »")
        pytest.skip("export ONNX absent : lancez « medassist setup »")
    out = {}
    for rt in (Runtime(), Runtime(backend="onnx", dtype="int8")):
        e = LocalEmbedder(s.embedding_model_path, runtime=rt, onnx_path=s.embedding_onnx_path)
        out[rt.label] = (e.embed_documents(_PROBE_DOCS[:8]), np.stack([e.embed_query(q) for q in _PROBE_QUERIES]))
        assert e.count_tokens("Fibrillation auriculaire") > 3
    (d0, q0), (d1, q1) = out["torch-fp32"], out["onnx-int8"]
    assert np.min(np.sum(d0 * d1, axis=1)) >= AGREEMENT_MIN_COSINE
    assert np.min(np.sum(q0 * q1, axis=1)) >= AGREEMENT_MIN_COSINE
    assert (np.argmax(q0 @ d0.T, axis=1) == np.argmax(q1 @ d1.T, axis=1)).all()
