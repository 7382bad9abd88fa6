"""Kill the UI server in the middle of a conversation, restart it: nothing is lost.

A clinician gets a cited answer, then asks for the CIM-10 coding of the stay, and the server is
killed (SIGKILL) while that job runs: a fresh server loads the coding pipeline first, seconds in
which the job is certainly unfinished (checked before the kill). A new server on the same data dir
must then show the first exchange again ("Reprise du dossier"), nothing of the killed job, run the
coding job again and answer a new question in the same agent thread (vector index, documents
database, conversation history and agent checkpoints all survive the crash).
"""

from __future__ import annotations

import re

import pytest
from e2e_support import UiServer, copy_ui_data
from test_ui_browser import TURN_TIMEOUT_MS, click_action, login, send, shot, wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.embed]

Q1 = "Quel est le traitement anticoagulant de sortie ?"
Q3 = "Le patient a-t-il des allergies ?"


def _open_leclerc(browser, url: str):
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="fr-FR")
    page = context.new_page()
    login(page, url, "dr.martin", "martin-demo")
    page.get_by_text("Choisissez un patient").wait_for(timeout=60_000)
    wait_idle(page)
    send(page, "leclerc")
    page.locator("#patient-banner").wait_for(timeout=60_000)
    wait_idle(page)
    return context, page


def test_kill_mid_conversation_then_restart(ui_source_dir, browser, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    copy_ui_data(ui_source_dir, data)
    for name in ("e2e-restart-1.log", "e2e-restart-2.log"):
        (UiServer.artifacts / name).unlink(missing_ok=True)

    first = UiServer(data, "e2e-restart-1.log")
    try:
        context, page = _open_leclerc(browser, first.url)
        send(page, Q1)
        page.get_by_text(re.compile(r"^Sources")).last.wait_for(timeout=TURN_TIMEOUT_MS)
        wait_idle(page)
        assert re.search(r"apixaban", page.locator('[data-step-type="assistant_message"]').last.inner_text(), re.I)
        click_action(page, "Suggérer les codes CIM-10")
        page.locator("#stop-button").wait_for(state="attached", timeout=30_000)  # the job is running
        assert page.get_by_text("Propositions de codage CIM-10").count() == 0, "le travail a fini avant l'arrêt"
    finally:
        first.kill()
    context.close()

    second = UiServer(data, "e2e-restart-2.log")
    try:
        context, page = _open_leclerc(browser, second.url)
        page.get_by_text("Reprise du dossier").wait_for(timeout=60_000)
        wait_idle(page)
        assert page.get_by_text(Q1).count() >= 1
        assert page.get_by_text("Propositions de codage CIM-10").count() == 0  # nothing half-written
        shot(page, "13-reprise-apres-arret-brutal")
        click_action(page, "Suggérer les codes CIM-10")
        page.get_by_text("Propositions de codage CIM-10").last.wait_for(timeout=TURN_TIMEOUT_MS)
        wait_idle(page)
        send(page, Q3)
        page.get_by_text(re.compile(r"^Sources")).last.wait_for(timeout=TURN_TIMEOUT_MS)
        wait_idle(page)
        answer = page.locator('[data-step-type="assistant_message"]').last.inner_text()
        assert re.search(r"p[ée]nicilline", answer, re.I), answer[:500]
        context.close()
    finally:
        second.stop()
