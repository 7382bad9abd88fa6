"""What the user reads, without a browser or models (issue 17): the mode stated once, warnings as
bullets, French everywhere (page language, Chainlit's hard-coded English strings), the
convocation's subject and the letter/staff-note split, the signature of the validating physician."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import pytest

from agents.nodes import is_mode_notice, mode_line
from agents.prompts import MODE_LINES
from medassist.settings import REPO_ROOT, Settings
from ui import render

NO_MODEL = "Aucun modèle de langage n'est configuré : réponse en mode extractif."


# =============================================================================== mode line
def test_mode_is_stated_once_with_its_reason():
    line = mode_line("extractive", [NO_MODEL])
    assert line.lower().count("mode extractif") == 1, line
    assert "aucun modèle de langage n'est configuré" in line and line.startswith("Mode extractif")
    badge = mode_line("extractive", [NO_MODEL], base=render.mode_badge("extractive"))
    assert badge.lower().count("mode extractif") == 1 and "\n" not in badge
    # a notice that is not about the mode stays out of the line; without a reason, the line alone
    assert mode_line("extractive", ["Le brouillon qui attendait votre validation a été abandonné."]) == \
        MODE_LINES["extractive"]
    down = mode_line("extractive", ["Le serveur de modèle de langage n'a pas répondu (ReadTimeout) : mode extractif."])
    assert down.lower().count("mode extractif") == 1 and "le serveur de modèle de langage n'a pas répondu" in down


def test_mode_notices_are_recognised():
    assert is_mode_notice(NO_MODEL)
    assert is_mode_notice("Configuration de test : le modèle local de raccordement exécute la chaîne générative.")
    assert not is_mode_notice("Votre rôle ne donne pas accès au dossier clinique : recherche dans les procédures.")


def test_split_answer_drops_the_single_mode_line_of_finalize():
    line = mode_line("extractive", [NO_MODEL])
    answer = "D'après le dossier :\n- « FEVG 30 % » [1]\n\n" + line
    assert render.split_answer(answer, notices=[NO_MODEL], mode_line=line) == "D'après le dossier :\n- « FEVG 30 % » [1]"


# =============================================================================== warnings
def test_validation_warnings_are_one_bullet_each():
    block = render.warning_block("À vérifier", [
        "Informations manquantes : Lieu précis : absent de la demande ; Nom du médecin : absent de la demande",
        "Allergie aux produits de contraste iodés : convocation à valider par le radiologue avant envoi.",
    ])
    lines = block.split("\n")
    assert lines[0] == "⚠ **À vérifier**" and lines[1] == ""  # a blank line: the list is not glued to the title
    assert "- Informations manquantes :" in lines
    assert "  - Lieu précis : absent de la demande" in lines and "  - Nom du médecin : absent de la demande" in lines
    assert sum(1 for ln in lines if ln.startswith("- ")) == 2
    assert render.warning_block("À vérifier", []) == ""


def test_draft_markdown_lists_missing_items_and_flags_as_bullets():
    md, _ = render.draft_markdown({"kind": "appointment", "sections": [], "missing": ["Lieu : à compléter", "Médecin"],
                                   "flags": ["Dose à vérifier"]})
    assert "⚠ **Éléments manquants** (à compléter avant envoi)\n\n- Lieu : à compléter\n- Médecin" in md
    assert "⚠ **À vérifier**\n\n- Dose à vérifier" in md


# =============================================================================== French page
def test_page_is_declared_french():
    import chainlit.server as server

    html = server.get_html_template("")
    assert '<html lang="en">' in html  # what Chainlit ships
    assert '<html lang="fr">' in render.french_page(html) and 'lang="en"' not in render.french_page(html)


def test_translation_file_has_french_upload_limits(tmp_path):
    from ui.launch import write_translation

    data = json.loads(write_translation(tmp_path).read_text(encoding="utf-8"))
    assert data["chat"]["fileUpload"]["sizeLimit"] == "Taille maximale par fichier :"
    assert data["chat"]["messages"]["status"]["used"] == "Étape :"


def test_config_loads_the_french_strings_script():
    import tomllib

    config = tomllib.loads((REPO_ROOT / ".chainlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["UI"]["custom_js"] == "/public/medassist.js"
    assert config["UI"]["language"] == "fr-FR"
    assert (REPO_ROOT / "public" / "medassist.js").is_file()


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js absent")
@pytest.mark.parametrize("english,french", [
    ("File type must be one of application/pdf, application/vnd.openxmlformats-officedocument.wordprocessingml."
     "document, text/plain, text/markdown, text/html",
     "Type de fichier non accepté : formats autorisés PDF, DOCX, TXT, Markdown, HTML."),
    ("File type must be application/pdf", "Type de fichier non accepté : formats autorisés PDF."),
    ("File is larger than 20 MB", "Fichier trop volumineux : 20 Mo au maximum."),
    ("Too many files", "Trop de fichiers : déposez-en moins à la fois."),
    ("Toggle Sidebar", "Afficher ou masquer l'historique"),
    ("20mb", "20 Mo"),
    ("Bonjour", None),
])
def test_hard_coded_english_strings_get_french(english, french):
    script = (f"const t = require({json.dumps(str(REPO_ROOT / 'public' / 'medassist.js'))}).translate;"
              f"process.stdout.write(JSON.stringify(t({json.dumps(english)})));")
    out = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=30, check=True).stdout
    assert json.loads(out) == french


# =============================================================================== letters
def test_convocation_subject_is_the_exam_not_the_request():
    from tools.drafting.appointment import parse_request, subject

    now = datetime(2026, 11, 1)
    for request, expected in [
        ("Rédige une convocation : scanner injecté le 12/12/2026 à 9h30", "Convocation — Scanner injecté"),
        ("Convocation : IRM cérébrale le 12/12/2026 à 9h30", "Convocation — IRM cérébrale"),
        ("Rédige une convocation : Convocation pour une IRM cardiaque le 12/05/2027 à 9h30, service d'imagerie",
         "Convocation — IRM cardiaque"),
        ("Prépare une convocation pour une consultation de cardiologie le 12/12/2026 à 10h00",
         "Convocation — Consultation de cardiologie"),
    ]:
        req = parse_request(request, now=now)
        assert subject(req) == expected, request
        assert "rédige" not in req.exam.lower() and "convocation" not in req.exam.lower()


def _appointment_draft():
    from tools.drafting.models import Draft, DraftCitation, DraftSection

    return Draft(kind="appointment", patient_id="P0", meta={
        "recipient": ["M. DUPONT Jean"], "subject": "Convocation — Scanner injecté",
        "appointment": {"datetime": "2026-12-12T09:30:00"}}, sections=[
        DraftSection(key="rendez_vous", title="Rendez-vous", text="Objet : Scanner injecté"),
        DraftSection(key="preparation", title="Préparation", text="Jeûne non obligatoire."),
        DraftSection(key="note_service", title="Note pour le service (ne pas remettre au patient)",
                     text="DFG < 30 : le radiologue valide personnellement l'indication.", audience="service",
                     citations=[DraftCitation(doc_id="PRO-EXA-002", quote="DFG < 30", start=0, end=8,
                                              corpus="procedures", title="Préparation à un scanner")]),
    ])


def _docx_text(data: bytes) -> str:
    from docx import Document

    doc = Document(io.BytesIO(data))
    cells = [c.text for t in doc.tables for r in t.rows for c in r.cells]
    return "\n".join([p.text for p in doc.paragraphs] + cells)


def test_patient_letter_leaves_the_staff_note_out():
    from tools.drafting.docx_export import docx_bytes, render_text, staff_note_bytes
    from tools.drafting.models import Draft

    settings = Settings(hospital_name="CH de Test")
    d = _appointment_draft()
    assert "radiologue" not in render_text(d, settings) and "Jeûne non obligatoire." in render_text(d, settings)
    letter = _docx_text(docx_bytes(d, settings))
    assert "radiologue" not in letter and "DFG" not in letter and "Objet : Convocation — Scanner injecté" in letter
    note = _docx_text(staff_note_bytes(d, settings))
    assert "DFG < 30 : le radiologue valide personnellement l'indication." in note
    assert "ne pas remettre au patient" in note and "Jeûne" not in note
    # the section's audience survives the round trip through the UI (JSON) and back
    again = Draft.model_validate(json.loads(d.model_dump_json()))
    assert "radiologue" not in _docx_text(docx_bytes(again, settings))
    assert staff_note_bytes(Draft(kind="appointment", patient_id="P0"), settings) is None


def test_discharge_letter_signed_by_the_validating_physician():
    from tools.drafting.docx_export import docx_bytes, render_text
    from tools.drafting.models import Draft, DraftSection

    d = Draft(kind="discharge", patient_id="P0", sections=[DraftSection(key="motif", title="Motif", text="Dyspnée")],
              meta={"author": "Dr Claire FONTAINE", "signed_by": "Dr Paul MARTIN"})
    settings = Settings(hospital_name="CH de Test")
    text = render_text(d, settings)
    assert "Dr Paul MARTIN" in text and "Dr Claire FONTAINE" not in text
    paras = _docx_text(docx_bytes(d, settings)).split("\n")
    sign = paras.index("Confraternellement,")
    assert "Dr Paul MARTIN" in paras[sign:sign + 3] and "Dr Claire FONTAINE" not in paras
    unsigned = Draft(kind="discharge", patient_id="P0", meta={"author": "Dr Claire FONTAINE"})
    assert "Dr Claire FONTAINE" in render_text(unsigned, settings)


def test_router_small_talk_and_named_people():
    from agents.router import is_small_talk, named_people

    assert all(is_small_talk(m) for m in ("Bonjour", "???", "bonjour !", "Merci", "aide", "Que sais-tu faire ?"))
    assert not any(is_small_talk(m) for m in ("Bonjour, quelle est la kaliémie ?", "FEVG ?", "P003",
                                               "Comment va-t-il ?"))
    assert named_people("Quelle est la kaliémie de Mme Dupont ?") == ["Mme Dupont"]
    assert named_people("Que dit M. Leclerc Bernard de sa dyspnée ?") == ["M. Leclerc Bernard"]
    assert named_people("Avis du Dr Martin ?") == []


def test_public_script_is_tracked_by_git_rules():
    out = subprocess.run(["git", "check-ignore", "-q", "public/medassist.js"], cwd=REPO_ROOT)
    assert out.returncode == 1  # not ignored: the script ships with the repository
    assert Path(REPO_ROOT / "public" / "medassist.js").read_text(encoding="utf-8").count("Toggle Sidebar") >= 1


def test_history_entries_name_patient_day_and_first_question():
    assert render.thread_title("LECLERC Bernard · P001", "03/12/2026") == "LECLERC Bernard · P001 · 03/12/2026"
    long = render.thread_title("ROUX Martine · P002", "01/12/2026", "Quelle est " + "la " * 40 + "FEVG ?")
    assert long.startswith("ROUX Martine · P002 · 01/12/2026 · Quelle est") and long.endswith("…")
    assert len(long.split(" · ")[-1]) <= 60


def test_undecided_codes_come_back_after_a_reload():
    from datetime import datetime as dt

    first = {"at": dt(2026, 12, 1, 9), "payload": {"kind": "coding", "suggestions": [{"code": "I10"}]}}
    last = {"at": dt(2026, 12, 2, 9), "payload": {"kind": "coding", "suggestions": [
        {"code": "I50.0", "label": "Insuffisance cardiaque", "role": "DP"}, {"code": "N17.9", "role": "DAS"},
        {"code": "E87.6", "role": "DAS"}]}}
    answer = {"at": dt(2026, 12, 2, 10), "payload": {"kind": "answer"}}
    decisions = [{"at": dt(2026, 12, 1, 10), "code": "N17.9", "decision": "accepted"},  # about the older coding
                 {"at": dt(2026, 12, 2, 11), "code": "I50.0", "decision": "accepted"}]
    assert [s["code"] for s in render.undecided_codes([first, last, answer], decisions)] == ["N17.9", "E87.6"]
    assert render.undecided_codes([answer], decisions) == []
