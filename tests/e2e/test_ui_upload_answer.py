"""A note uploaded in the UI is cited by the next answer, in that conversation and in another user's
(issue #14, item 5: the reported browser session, replayed).

The clinician opens P001, asks « Quelle est l'EVA du patient ? » (nothing in the record answers),
uploads « Note infirmière : patient douloureux, EVA 6/10. » through « Ajouter un document », asks
again: the answer quotes the note, cites it and carries no « Preuves faibles » warning. Another
clinician's conversation on P001 then asks « EVA 6/10 »: the note again, never « prise de poids de
6 kg ». Screenshots: ``test-artifacts/ui-upload-*.png``.
"""

from __future__ import annotations

import re

import pytest
from test_ui_browser import TURN_TIMEOUT_MS, click_action, last_message, login, send, shot, wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.embed]

NOTE_TEXT = "Note infirmière : patient douloureux, EVA 6/10.\n"
NOTE_ID = "P001-note_infirmiere"


def _page(browser, url: str, username: str, password: str):
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="fr-FR")
    page = context.new_page()
    login(page, url, username, password)
    page.get_by_text("Choisissez un patient").wait_for(timeout=60_000)
    wait_idle(page)
    send(page, "P001")
    page.locator("#patient-banner").wait_for(timeout=TURN_TIMEOUT_MS)
    wait_idle(page)
    return context, page


def _ask(page, question: str) -> str:
    before = page.get_by_text(re.compile(r"^Sources")).count()
    send(page, question)
    page.wait_for_function(
        "n => [...document.querySelectorAll('[data-step-type=\"assistant_message\"]')]"
        ".filter(e => /(^|\\n)Sources/.test(e.innerText)).length > n", arg=before, timeout=TURN_TIMEOUT_MS)
    wait_idle(page)
    return last_message(page).inner_text()


def test_uploaded_note_is_cited_by_the_next_answers(ui_server, browser, tmp_path):
    context, page = _page(browser, ui_server, "dr.martin", "martin-demo")
    other = None
    try:
        first = _ask(page, "Quelle est l'EVA du patient ?")
        assert NOTE_ID not in first
        note = tmp_path / "note_infirmiere.txt"
        note.write_text(NOTE_TEXT, encoding="utf-8")
        click_action(page, "Ajouter un document")
        page.get_by_text("Déposez le document à ajouter").last.wait_for(timeout=30_000)
        last_message(page).locator("input[type=file]").set_input_files(str(note))
        page.get_by_text(f"Ajouté au dossier : {NOTE_ID}").wait_for(timeout=TURN_TIMEOUT_MS)
        wait_idle(page)

        # the same conversation: the next answer quotes and cites the note, with no weak-evidence warning
        text = _ask(page, "Quelle est l'EVA du patient ?")
        shot(page, "upload-1-reponse-note")
        assert "6/10" in text and NOTE_ID in text, text
        assert "Preuves faibles" not in text

        # another clinician's conversation on the same patient
        other, page2 = _page(browser, ui_server, "dr.petit", "petit-demo")
        text = _ask(page2, "EVA 6/10")
        shot(page2, "upload-2-autre-conversation")
        assert "6/10" in text and NOTE_ID in text, text
        assert "6 kg" not in text.split("Sources")[0] and "Preuves faibles" not in text
    finally:
        context.close()
        if other is not None:
            other.close()
