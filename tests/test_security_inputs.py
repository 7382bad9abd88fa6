"""Input handling (issue 20, item 8): invisible characters are cleaned from every user text before
routing, and search validates its passage count. No model needed."""

from __future__ import annotations

import unicodedata
from types import SimpleNamespace

import pytest

from agents.router import route
from medassist.access import User
from medassist.schemas import Role

CLINICIAN = User(username="dr.inputs", role=Role.clinician)


class RecordingGraph:
    """Stands in for the compiled graph: records what the runner sends, holds no state."""

    def __init__(self):
        self.payloads: list[dict] = []

    def get_state(self, config):
        return SimpleNamespace(values={}, interrupts=())

    def invoke(self, payload, config, context=None):
        self.payloads.append(payload)


@pytest.mark.parametrize("message, intent", [
    ("Rédige la lettre\u200b de liaison", "draft_discharge"),
    ("Rédige\u2060 la lettre de liai\u200dson", "draft_discharge"),
    ("Résume\u202e le dossier\u202c", "draft_summary"),
    ("Ｒéｄｉｇｅ ｌａ ｌｅｔｔｒｅ ｄｅ ｌｉａｉｓｏｎ", "draft_discharge"),  # full-width letters
])
def test_run_turn_cleans_the_message_before_routing(message, intent):
    """Without the cleaning, "lettre\u200b de liaison" is not the discharge letter for the router."""
    from agents.runner import run_turn

    graph = RecordingGraph()
    run_turn(CLINICIAN, "P001", message, graph=graph, context=SimpleNamespace(notices=[]), thread_id="t-inputs")
    (payload,) = graph.payloads
    question = payload["question"]
    assert not any(unicodedata.category(ch) == "Cf" for ch in question)
    assert payload["messages"][0].content == question
    assert route(question).intent == intent


def test_zero_width_characters_defeat_the_router_unless_cleaned():
    """The reason for the cleaning: the router alone misreads the raw text."""
    from agents.text import clean_user_text

    raw = "Rédige la lettre\u200b de liaison"
    assert route(raw).intent != "draft_discharge"
    assert route(clean_user_text(raw)).intent == "draft_discharge"
