"""The web UI in a real browser (Chromium headless), against the real server and corpus index.

One clinician session walks through the jobs in order (login refused then accepted, patient
picker, cited answer, citation viewer, CIM-10 coding with a decision, discharge letter edited,
validated and downloaded as DOCX); a second user, limited to two patients, is refused another
patient's record. Screenshots: ``test-artifacts/ui-*.png``.
"""

from __future__ import annotations

import re
import uuid
import zipfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.embed]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
TURN_TIMEOUT_MS = 180_000  # one agent turn on a loaded 2-core machine (coding loads edsnlp)


# --------------------------------------------------------------------------- helpers
def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"ui-{name}.png"))


def login(page, url: str, username: str, password: str) -> None:
    page.goto(url + "/")
    page.fill("#email", username)
    page.fill("#password", password)
    page.click("button[type=submit]")


def wait_idle(page, timeout: int = TURN_TIMEOUT_MS) -> None:
    """The running task is over when the stop button is gone."""
    page.wait_for_timeout(300)
    page.locator("#stop-button").wait_for(state="detached", timeout=timeout)


def send(page, text: str) -> None:
    page.locator("#chat-input").fill(text)
    submit = page.locator("#chat-submit")
    page.wait_for_function("() => { const b = document.querySelector('#chat-submit'); return b && !b.disabled; }",
                           timeout=30_000)
    submit.click()


def messages(page):
    return page.locator('[data-step-type="assistant_message"]')


def last_message(page):
    return messages(page).last


def button_labels(message) -> list[str]:
    """Labelled buttons of a message (the icon-only copy and feedback buttons are left out)."""
    return [t.strip() for t in message.get_by_role("button").all_inner_texts() if t.strip()]


def click_action(page, label: str, timeout: int = 60_000) -> None:
    """Click the newest action button of that label in the conversation (not the thread list)."""
    button = messages(page).get_by_role("button", name=label).last
    button.wait_for(timeout=timeout)
    button.click()


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def clinician(ui_server, browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="fr-FR", accept_downloads=True)
    page = context.new_page()
    yield page
    context.close()


# --------------------------------------------------------------------------- clinician walk-through
def test_login_wrong_password_is_refused(clinician, ui_server):
    login(clinician, ui_server, "dr.martin", "mauvais-mot-de-passe")
    clinician.get_by_text("Identifiant ou mot de passe incorrect.").wait_for(timeout=30_000)
    assert clinician.locator("#chat-input").count() == 0
    shot(clinician, "01-connexion-refusee")


def test_login_then_patient_picker(clinician, ui_server):
    login(clinician, ui_server, "dr.martin", "martin-demo")
    clinician.get_by_text("Choisissez un patient").wait_for(timeout=60_000)
    assert clinician.get_by_text("Bonjour Dr Paul Martin").count() == 1
    # the demo clinician sees every patient of the corpus: buttons for the first ones
    assert "LECLERC Bernard · P001" in button_labels(last_message(clinician))
    wait_idle(clinician)
    shot(clinician, "02-accueil")


def test_search_and_open_patient(clinician):
    send(clinician, "leclerc")
    banner = clinician.locator("#patient-banner")
    banner.wait_for(timeout=60_000)
    assert "LECLERC Bernard · P001" in banner.inner_text()
    clinician.get_by_role("button", name="Suggérer les codes CIM-10").wait_for(timeout=30_000)
    assert clinician.get_by_role("button", name="Préparer la lettre de liaison").count() == 1
    wait_idle(clinician)
    shot(clinician, "03-patient")


def test_question_gets_a_cited_answer(clinician):
    send(clinician, "Quel est le traitement anticoagulant de sortie ?")
    clinician.get_by_text(re.compile(r"^Sources")).last.wait_for(timeout=TURN_TIMEOUT_MS)
    wait_idle(clinician)
    answer = last_message(clinician)
    text = answer.inner_text()
    assert "[1]" in text and re.search(r"apixaban", text, re.I)
    assert "Mode extractif" in text
    # the agent's steps are shown
    assert clinician.get_by_text("Recherche des passages").count() >= 1
    shot(clinician, "04-reponse-citee")


def test_open_a_citation(clinician):
    answer = last_message(clinician)
    answer.get_by_role("link", name="[1]").first.click()
    title = clinician.locator("#side-view-title")
    title.wait_for(timeout=30_000)
    assert title.inner_text().strip() == "[1]"
    panel = clinician.locator("#side-view-content")
    text = panel.inner_text()
    assert re.search(r"P001-D0\d", text)  # document id in the source header
    assert panel.locator("strong, .font-bold").count() >= 2  # title + highlighted span
    shot(clinician, "05-citation")


def test_feedback_is_recorded(clinician, ui_data_dir):
    answer = last_message(clinician)
    answer.locator("button:has(svg.lucide-thumbs-up)").click()
    clinician.get_by_placeholder("Votre avis...").fill("Réponse utile, sources exactes.")
    clinician.get_by_role("button", name="Envoyer le commentaire").click()
    from medassist.settings import Settings
    from ui import store

    rows = []
    for _ in range(50):
        rows = store.feedback_of_user("dr.martin", settings=Settings(data_dir=ui_data_dir))
        if rows:
            break
        clinician.wait_for_timeout(200)
    assert [(r["username"], r["value"], r["comment"]) for r in rows] == [
        ("dr.martin", 1, "Réponse utile, sources exactes.")]


def test_cim10_coding_and_decision(clinician, ui_data_dir):
    click_action(clinician, "Suggérer les codes CIM-10")
    clinician.get_by_text("Propositions de codage CIM-10").last.wait_for(timeout=TURN_TIMEOUT_MS)
    wait_idle(clinician)
    table = clinician.locator("table").last
    header = table.locator("th").all_inner_texts()
    assert header[:5] == ["Code", "Libellé", "Rôle", "Score", "Preuves"]
    first_code = table.locator("tbody tr").first.locator("td").first.inner_text().strip()
    assert re.fullmatch(r"[A-Z]\d{2}(\.\d{1,2})?", first_code), first_code
    shot(clinician, "06-codage")
    clinician.get_by_role("button", name="Accepter").first.click()
    clinician.get_by_text(re.compile(rf"{re.escape(first_code)}.*accepté")).wait_for(timeout=30_000)
    from medassist.settings import Settings
    from ui import store

    decisions = store.coding_decisions_for("P001", settings=Settings(data_dir=ui_data_dir))
    assert [(d["code"], d["decision"], d["username"]) for d in decisions] == [(first_code, "accepted", "dr.martin")]


def test_discharge_letter_edit_validate_download(clinician, tmp_path):
    click_action(clinician, "Préparer la lettre de liaison")
    clinician.get_by_text("Lettre de liaison — brouillon à relire").last.wait_for(timeout=TURN_TIMEOUT_MS)
    wait_idle(clinician)
    draft_text = last_message(clinician).inner_text()
    assert "Sources" in draft_text and "[1]" in draft_text
    shot(clinician, "07-brouillon")
    # edit one section
    click_action(clinician, "Modifier une section")
    clinician.get_by_text("Quelle section voulez-vous modifier ?").last.wait_for(timeout=30_000)
    section_buttons = last_message(clinician).get_by_role("button").filter(has_text=re.compile(r"\S"))
    section_buttons.first.wait_for(timeout=30_000)
    section_title = section_buttons.first.inner_text().strip()
    section_buttons.first.click()
    clinician.get_by_text("Saisissez le nouveau texte de la section").last.wait_for(timeout=90_000)
    send(clinician, "Texte relu et complété par le Dr Martin.")
    clinician.get_by_text(f"Section « {section_title} » modifiée").wait_for(timeout=60_000)
    wait_idle(clinician)
    assert "(modifiée)" in last_message(clinician).inner_text()
    # validate, then download the Word file
    click_action(clinician, "Valider et exporter (DOCX)")
    link = clinician.get_by_role("link", name=re.compile(r"lettre_de_liaison_P001\.docx"))
    link.last.wait_for(timeout=TURN_TIMEOUT_MS)
    wait_idle(clinician)
    assert "Brouillon modifié puis validé" in last_message(clinician).inner_text()
    last_message(clinician).scroll_into_view_if_needed()
    clinician.mouse.wheel(0, 5000)
    clinician.wait_for_timeout(300)
    shot(clinician, "08-lettre-validee")
    with clinician.expect_download(timeout=60_000) as dl:
        link.last.click()
    path = tmp_path / "lettre.docx"
    dl.value.save_as(path)
    with zipfile.ZipFile(path) as z:
        xml = z.read("word/document.xml").decode("utf-8")
    assert "Texte relu et complété par le Dr Martin." in xml


def test_switching_patient_then_back_replays_the_exchanges(clinician):
    click_action(clinician, "Changer de patient")
    clinician.get_by_text("Choisissez un patient").last.wait_for(timeout=30_000)
    click_action(clinician, "ROUX Martine · P002")
    clinician.locator("#patient-banner", has_text="ROUX Martine · P002").wait_for(timeout=60_000)
    wait_idle(clinician)
    # a new conversation: the previous patient's messages are gone from the screen
    assert clinician.get_by_text("Propositions de codage CIM-10").count() == 0
    click_action(clinician, "Changer de patient")
    clinician.get_by_text("Choisissez un patient").last.wait_for(timeout=30_000)
    click_action(clinician, "LECLERC Bernard · P001")
    clinician.get_by_text("Reprise du dossier").wait_for(timeout=60_000)
    wait_idle(clinician)
    assert clinician.get_by_text("Quel est le traitement anticoagulant de sortie ?").count() >= 1
    assert "LECLERC Bernard · P001" in clinician.locator("#patient-banner").inner_text()
    shot(clinician, "09-reprise-du-dossier")


# --------------------------------------------------------------------------- other users
@pytest.fixture
def user_page(ui_server, browser):
    """``user_page(username, password)``: a logged-in page of a fresh browser context."""
    contexts = []

    def open_page(username: str, password: str):
        context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="fr-FR")
        contexts.append(context)
        page = context.new_page()
        login(page, ui_server, username, password)
        page.get_by_text("Choisissez un patient").wait_for(timeout=60_000)
        wait_idle(page)
        return page

    open_page.contexts = contexts  # for the failure screenshot (conftest)
    yield open_page
    for context in contexts:
        context.close()


def test_user_limited_to_some_patients_is_refused_another_and_can_upload(user_page, tmp_path):
    page = user_page("dr.petit", "petit-demo")
    assert button_labels(last_message(page)) == ["LECLERC Bernard · P001", "ROUX Martine · P002"]
    send(page, "P005")
    page.get_by_text("Accès refusé : le patient P005 ne fait pas partie de vos patients.").wait_for(timeout=60_000)
    assert page.locator("#patient-banner").count() == 0
    wait_idle(page)
    shot(page, "10-acces-refuse")
    # a document added to an authorised patient's record is indexed (after a coding request in the
    # same server process: the parser must survive edsnlp being loaded)
    send(page, "P001")
    page.locator("#patient-banner").wait_for(timeout=60_000)
    wait_idle(page)
    note = tmp_path / f"note_kine_{uuid.uuid4().hex[:6]}.txt"  # a new document at every run
    note.write_text("Note de kinésithérapie du 20/02/2026\nMarche avec déambulateur sur 30 mètres.\n",
                    encoding="utf-8")
    click_action(page, "Ajouter un document")
    page.get_by_text("Déposez le document à ajouter").last.wait_for(timeout=30_000)
    # the drop zone of the request (the composer has its own file input)
    last_message(page).locator("input[type=file]").set_input_files(str(note))
    page.get_by_text(f"Ajouté au dossier : P001-{note.stem}").wait_for(timeout=TURN_TIMEOUT_MS)
    wait_idle(page)
    shot(page, "11-document-ajoute")
    # the same content again under another name: reported as a duplicate, not indexed twice
    copy = tmp_path / f"copie-{note.stem}.txt"
    copy.write_bytes(note.read_bytes())
    click_action(page, "Ajouter un document")
    page.get_by_text("Déposez le document à ajouter").last.wait_for(timeout=30_000)
    last_message(page).locator("input[type=file]").set_input_files(str(copy))
    page.get_by_text(re.compile(r"Doublon ignoré.*non ajouté \(doublon\)")).wait_for(timeout=TURN_TIMEOUT_MS)
    wait_idle(page)


def test_secretary_sees_only_the_appointment_job(user_page):
    page = user_page("sec.durand", "durand-demo")
    send(page, "roux")
    page.locator("#patient-banner").wait_for(timeout=60_000)
    wait_idle(page)
    assert button_labels(last_message(page)) == ["Rédiger une convocation", "Changer de patient"]
    # the record is out of reach: the agent says so and only searches the hospital procedures
    send(page, "Quel est le traitement de sortie ?")
    page.get_by_text(re.compile(r"Votre rôle ne donne pas accès au dossier clinique")).last.wait_for(
        timeout=TURN_TIMEOUT_MS)
    wait_idle(page)
    shot(page, "12-secretariat")
