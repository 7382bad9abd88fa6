"""Deployment secrets: docker-compose.yml has no default password, and .env.example says what to set.

Docker is not available here: the compose file is checked as text and YAML (the ``${VAR:?msg}``
form makes ``docker compose`` refuse to start while the variable is unset or empty).
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
SECRETS = ("POSTGRES_PASSWORD", "VLLM_API_KEY", "QDRANT_API_KEY", "CHAINLIT_AUTH_SECRET")


def test_compose_has_no_default_secret():
    assert "change-me" not in COMPOSE
    for name in SECRETS:
        uses = re.findall(r"\$\{" + name + r"(:?[-?=+])?([^}]*)\}", COMPOSE)
        assert uses, name
        for op, _ in uses:
            assert op == ":?", f"{name} doit être exigé (${{{name}:?message}}), pas {op or 'sans contrôle'}"


def test_compose_still_parses_and_passes_the_session_settings():
    env = yaml.safe_load(COMPOSE)["services"]["app"]["environment"]
    assert "FORWARDED_ALLOW_IPS" in env
    assert "MEDASSIST_SESSION_TTL_HOURS" in env and "MEDASSIST_COOKIE_SECURE" in env


def test_env_example_documents_the_required_secrets_empty():
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    for name in SECRETS:
        match = re.search(rf"^{name}=(.*)$", text, re.MULTILINE)
        assert match, name
        assert match.group(1) == "", f"{name} : pas de valeur d'exemple qu'on pourrait garder"
    for name in ("MEDASSIST_SESSION_TTL_HOURS=12", "MEDASSIST_LOGIN_MAX_FAILURES=5", "FORWARDED_ALLOW_IPS="):
        assert name in text
