"""LLM client factory and the embedded llama.cpp server (real HTTP round-trips)."""

import json
import socket

import pytest
from pydantic import BaseModel

from medassist.llm import LocalLlamaServer, chat_model, check_health, is_capable
from medassist.settings import Settings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_extractive_mode_has_no_model():
    s = Settings(llm_base_url="")
    assert chat_model(s) is None
    assert check_health(s).ok
    assert not is_capable(s)


def test_unreachable_server_is_reported_in_french():
    s = Settings(llm_base_url=f"http://127.0.0.1:{_free_port()}/v1")
    health = check_health(s, timeout=1.0)
    assert not health.ok
    assert "injoignable" in health.message


def test_capability_rules():
    assert not is_capable(Settings(llm_base_url="local"))  # SmolLM2 proves the wiring only
    assert not is_capable(Settings(llm_base_url="http://x/v1", llm_model="SmolLM2-135M"))
    assert is_capable(Settings(llm_base_url="http://x/v1", llm_model="qwen2.5-7b-instruct"))


class Triage(BaseModel):
    urgence: bool
    motif: str


@pytest.mark.llm
def test_embedded_llama_server_json_schema_round_trip(tmp_path):
    from support import GGUF  # models provisioned in the default data dir

    s = Settings(data_dir=tmp_path, llm_base_url="local", llm_local_port=_free_port(), llm_max_tokens=120)
    s.models_dir.mkdir(parents=True)
    (s.models_dir / GGUF.name).symlink_to(GGUF)
    with LocalLlamaServer(s):
        health = check_health(s)
        assert health.ok and "smollm2" in health.models
        model = chat_model(s)
        assert model.openai_api_base == "http://127.0.0.1:%d/v1" % s.llm_local_port
        # structured output through the OpenAI json_schema protocol: valid JSON of the schema
        raw = model.bind(
            response_format={"type": "json_schema",
                             "json_schema": {"name": "Triage", "schema": Triage.model_json_schema(), "strict": True}}
        ).invoke("Patient de 70 ans, douleur thoracique depuis 1 heure. Urgence ?")
        parsed = Triage.model_validate(json.loads(raw.content))
        assert isinstance(parsed.urgence, bool)
        typed = model.with_structured_output(Triage, method="json_schema").invoke("Fièvre à 39 °C. Urgence ?")
        assert isinstance(typed, Triage)
