"""Settings precedence: explicit arguments > environment > .env file > defaults."""

from pathlib import Path

from medassist.settings import Settings


def test_defaults_are_embedded_and_extractive(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no .env here
    for k in ("MEDASSIST_LLM_BASE_URL", "MEDASSIST_QDRANT_URL", "MEDASSIST_DATABASE_URL", "MEDASSIST_EMBEDDING_URL"):
        monkeypatch.delenv(k, raising=False)
    s = Settings()
    assert s.llm_mode == "extractive" and s.llm_effective_url == ""
    assert s.qdrant_url == "" and s.embedding_url == ""
    assert s.effective_database_url == f"sqlite:///{s.data_dir / 'medassist.sqlite'}"
    assert s.embedding_dim == 768


def test_precedence_env_over_dotenv_over_default(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    Path(".env").write_text("MEDASSIST_LLM_MODEL=from-dotenv\nMEDASSIST_EMBEDDING_DIM=256\n")
    monkeypatch.delenv("MEDASSIST_LLM_MODEL", raising=False)
    monkeypatch.delenv("MEDASSIST_EMBEDDING_DIM", raising=False)
    assert Settings().llm_model == "from-dotenv"
    assert Settings().embedding_dim == 256
    monkeypatch.setenv("MEDASSIST_LLM_MODEL", "from-env")
    assert Settings().llm_model == "from-env"
    assert Settings(llm_model="explicit").llm_model == "explicit"


def test_llm_modes(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    local = Settings(llm_base_url="local", llm_local_port=9999)
    assert local.llm_mode == "local" and local.llm_effective_url == "http://127.0.0.1:9999/v1"
    remote = Settings(llm_base_url=" http://vllm:8000/v1 ")
    assert remote.llm_mode == "remote" and remote.llm_effective_url == "http://vllm:8000/v1"


def test_data_dir_derives_paths(tmp_path):
    s = Settings(data_dir=tmp_path, embedding_model="")
    assert s.models_dir == tmp_path / "models" and s.index_dir == tmp_path / "index"
    assert s.embedding_model_path == tmp_path / "models" / "embeddinggemma-300m"
    s.ensure_dirs()
    assert s.cache_dir.is_dir()
