"""docker-compose.yml stays valid and wired to the settings module (we cannot run Docker here)."""

from pathlib import Path

import yaml

from medassist.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def _compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_services_volumes_healthchecks():
    c = _compose()
    assert {"vllm", "embeddings", "qdrant", "postgres", "app"} <= set(c["services"])
    for name, svc in c["services"].items():
        assert "healthcheck" in svc, name
        assert svc["healthcheck"]["test"], name
    for svc in c["services"].values():
        for vol in svc.get("volumes", []):
            src = vol.split(":")[0]
            if not src.startswith((".", "/")):
                assert src in c["volumes"], src
    deps = c["services"]["app"]["depends_on"]
    assert all(d["condition"] == "service_healthy" for d in deps.values())


def test_vllm_serves_tools_and_openai_api():
    cmd = " ".join(_compose()["services"]["vllm"]["command"])
    assert "--enable-auto-tool-choice" in cmd and "--tool-call-parser=" in cmd
    assert "--served-model-name" in cmd


def test_app_env_matches_settings_fields():
    env = _compose()["services"]["app"]["environment"]
    fields = set(Settings.model_fields)
    for key in env:
        if key.startswith("MEDASSIST_"):
            assert key.removeprefix("MEDASSIST_").lower() in fields, key
    assert env["MEDASSIST_QDRANT_URL"].startswith("http://qdrant:")
    assert env["MEDASSIST_LLM_BASE_URL"].startswith("http://vllm:")
    assert env["MEDASSIST_DATABASE_URL"].startswith("postgresql://")
    assert env["MEDASSIST_EMBEDDING_URL"].startswith("http://embeddings:")


def test_env_example_documents_every_setting():
    text = (ROOT / ".env.example").read_text()
    for name in Settings.model_fields:
        assert f"MEDASSIST_{name.upper()}" in text or name.startswith("llm_local") or name in (
            "weak_evidence_threshold", "embedding_batch_size", "llm_max_tokens"), name
