"""The CLI: every sub-command answers --help in French; data commands print one JSON document."""

import json

import pytest
from typer.testing import CliRunner

from ui.cli import app

runner = CliRunner()

COMMANDS = ["setup", "ingest", "search", "ask", "code", "draft", "eval", "bench", "ui", "llm", "audit", "export"]


def test_top_level_help_lists_commands():
    res = runner.invoke(app, ["--help"])
    assert res.exit_code == 0
    for cmd in COMMANDS:
        assert cmd in res.output


@pytest.mark.parametrize("cmd", COMMANDS)
def test_each_command_has_help(cmd):
    res = runner.invoke(app, [cmd, "--help"])
    assert res.exit_code == 0, res.output
    assert "Usage" in res.output


def test_llm_serve_help():
    res = runner.invoke(app, ["llm", "serve", "--help"])
    assert res.exit_code == 0 and "llama.cpp" in res.output


def test_llm_check_json_in_extractive_mode(monkeypatch):
    from medassist.settings import get_settings

    monkeypatch.setenv("MEDASSIST_LLM_BASE_URL", "")
    get_settings.cache_clear()
    res = runner.invoke(app, ["llm", "check", "--json"])
    get_settings.cache_clear()
    assert res.exit_code == 0
    data = json.loads(res.stdout)
    assert data["ok"] is True and "extractif" in data["message"]


def test_search_without_patient_is_a_french_error():
    res = runner.invoke(app, ["search", "allergies"])
    assert res.exit_code == 1
    assert "sans identifiant de patient" in res.output
