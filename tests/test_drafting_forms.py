"""The lettre de liaison from reports written in other hands (issue #14): other heading names, drugs
in lower case or brand first, drugs stopped inside the exit list, unknown headings ending a list.

No model, no index: a synthetic record of one stay, built as ``tools.drafting`` reads it.
"""

from __future__ import annotations

from datetime import date

import pytest

from knowledge.sections import split_sections
from medassist.schemas import Patient
from tools.drafting.discharge import build_discharge
from tools.drafting.extract import Record, SourceDoc, parse_medication

PATIENT = Patient.model_validate({
    "id": "T002", "identity": {"first_name": "Marie", "last_name": "ESSAI", "sex": "F", "birth_date": "1944-05-06",
                               "ipp": "80000002"},
    "gp": {"name": "Dr Anne MÉDECIN"},
    "stays": [{"id": "S1", "unit": "Pneumologie", "entry_date": "2026-01-12", "exit_date": "2026-01-21"}],
})

#: A numbered report in another voice: « Ordonnance de sortie » holding two stopped drugs, an unknown
#: heading « 8. Ce qui a été arrêté », « 9. En attente », « 10. Organisation de la suite ».
REPORT = """Courrier de fin d'hospitalisation
Séjour en pneumologie du 12/01/26 au 21/01/26

1. Motif

Exacerbation de BPCO.

2. Antécédents et terrain

BPCO GOLD 3.

3. Traitement habituel

- alprazolam 0,25 mg : 1 cp le soir
- Amlodipine 5 mg : 1 cp le matin

7. Ordonnance de sortie

- Trimbow (béclométasone/formotérol/glycopyrronium) 87/5/9 µg : 2 inhalations matin et soir
- Amlodipine 5 mg : 1 cp le matin
- Lokelma 5 g : 1 sachet par jour
- Enoxaparine 4000 UI/j : arrêtée le jour de la sortie, la patiente n'étant plus alitée

8. Ce qui a été arrêté

- Alprazolam 0,25 mg : stoppé, en raison de l'hypercapnie

9. En attente

Dosage de l'alpha-1-antitrypsine.

10. Organisation de la suite

- Consultation avec le Dr Nathalie BRUNET le 2 mars 2026 à 9h
- Kinésithérapie respiratoire en ville 2 fois par semaine
"""


def _letter(text: str):
    doc = SourceDoc(doc_id="T002-doc01", title="Courrier de fin d'hospitalisation", doc_type="compte_rendu_hospitalisation",
                    date=date(2026, 1, 21), text=text, stay_id="S1")
    draft = build_discharge(Record(patient=PATIENT, docs=[doc]), "S1")
    return draft, {s.key: s.text for s in draft.sections}


def test_other_hands_report_fills_treatments_changes_pending_and_follow_up():
    draft, sec = _letter(REPORT)
    out = sec["traitement_sortie"]
    assert "Trimbow" in out and "Amlodipine 5 mg" in out and "Lokelma 5 g" in out  # brand first, lower case, new brand
    assert "Enoxaparine" not in out  # stopped inside the list: not part of the treatment
    changes = sec["traitements_modifies"]
    assert "Enoxaparine" in changes and "plus alitée" in changes  # its reason, from its own line
    assert "alprazolam" in changes.lower() and "hypercapnie" in changes
    assert "alpha-1-antitrypsine" in sec["resultats_attente"]
    assert "Organisation" not in sec["resultats_attente"]  # the pending list ends at the next numbered heading
    assert "Dr Nathalie BRUNET" in sec["suivi"] and "Kinésithérapie" in sec["suivi"]
    quotes = [c for s in draft.sections for c in s.citations if c.doc_id == "T002-doc01"]
    assert quotes and all(REPORT[c.start:c.end] == c.quote for c in quotes)  # every quote is exact


def test_a_taper_ending_in_stop_is_still_prescribed():
    text = REPORT.replace("- Lokelma 5 g : 1 sachet par jour",
                          "- Oxazépam 10 mg : 1 cp matin et soir 15 j, puis 1 cp le soir 15 j, puis stop")
    _, sec = _letter(text)
    assert "Oxazépam 10 mg" in sec["traitement_sortie"]


@pytest.mark.parametrize("line,key,dose", [
    ("- Kardégic (aspirine) 75 mg : 1 sachet/j au déjeuner", "kardegic", "75 mg"),
    ("- Atorvastatine 80 mg : 1 cp le soir", "atorvastatine", "80 mg"),
    ("- Amoxicilline-acide clavulanique 1 g/125 mg : 1 sachet 3 fois par jour", "amoxicilline acide clavulanique",
     "1 g/125 mg"),
    ("- Insuline lispro (Humalog) 4 à 8 UI avant chaque repas", "insuline lispro", "4 à 8 UI"),
    ("- STOP spironolactone 25 mg (hyperkaliémie sévère)", "spironolactone", "25 mg"),
    ("- Ramipril diminué de 10 à 2,5 mg/j (hyperkaliémie)", "ramipril", "2,5 mg/j"),
])
def test_medication_lines_written_by_others(line, key, dose):
    m = parse_medication(line)
    assert m is not None and (m.key, m.dose) == (key, dose)


def test_prose_is_not_a_medication_outside_a_list():
    assert parse_medication("- Substitut de sel à éviter") is None
    assert parse_medication("- Lokelma 5 g : 1 sachet") is None  # unknown word, not in a treatment list
    assert parse_medication("- Lokelma 5 g : 1 sachet", in_list=True).key == "lokelma"


def test_suites_means_the_course_before_the_conclusion_and_the_follow_up_after():
    text = "SUITES\nLever J1.\nCONCLUSIONS\nFracture opérée.\nSUITES\nRDV J45.\n"
    assert [s.name for s in split_sections(text) if s.name] == ["Évolution", "Conclusion", "Suivi"]


@pytest.mark.parametrize("heading,name", [
    ("Ordonnance de sortie", "Traitement de sortie"), ("TRAITEMENT À LA SORTIE", "Traitement de sortie"),
    ("Modifications du traitement :", "Traitements arrêtés ou modifiés"),
    ("MÉDICAMENTS ARRÊTÉS OU MODIFIÉS", "Traitements arrêtés ou modifiés"),
    ("RÉSULTATS NON ENCORE DISPONIBLES", "Résultats en attente"), ("Examens à récupérer :", "Résultats en attente"),
    ("Suites à donner :", "Suivi"), ("Suivi proposé", "Suivi"), ("Devenir", "Suivi"),
    ("Traitement Avant l'Entrée", "Traitement à l'entrée"), ("MÉDICAMENTS (3 MOIS)", "Traitement"),
    ("Synthèse Diagnostique", "Conclusion"), ("En résumé :", "Conclusion"), ("Déroulement :", "Évolution"),
])
def test_heading_names_of_other_hospitals(heading, name):
    sections = split_sections(f"{heading}\n- contenu\n")
    assert sections[-1].name == name


def test_a_letter_quoting_a_scanned_document_says_so():
    import json

    row = {"doc_id": "T002-doc01", "title": "Courrier numérisé", "doc_type": "compte_rendu_hospitalisation",
           "date": "2026-01-21", "text": REPORT, "stay_id": "S1",
           "blocks": json.dumps([[0, len(REPORT), 1, True]])}
    doc = SourceDoc.from_row(row)
    assert doc.ocr
    draft = build_discharge(Record(patient=PATIENT, docs=[doc]), "S1")
    assert any("texte reconnu par OCR, à vérifier" in f for f in draft.flags)
    row["blocks"] = json.dumps([[0, len(REPORT), 1]])  # stored before the OCR flag existed
    assert not SourceDoc.from_row(row).ocr


def test_treatment_as_a_table_and_as_a_sentence_and_changes_in_prose():
    table = REPORT.replace(
        "7. Ordonnance de sortie\n\n- Trimbow (béclométasone/formotérol/glycopyrronium) 87/5/9 µg : 2 inhalations matin et soir\n"
        "- Amlodipine 5 mg : 1 cp le matin\n- Lokelma 5 g : 1 sachet par jour\n",
        "Thérapeutique à la sortie :\n\nMédicament | Dosage | Posologie | Remarque\n"
        "Aldactone (spironolactone) | 75 mg | 2-0-0, soit 150 mg/j | dose augmentée\n")
    _, sec = _letter(table)
    assert "Aldactone (spironolactone) | 75 mg | 2-0-0, soit 150 mg/j" in sec["traitement_sortie"]  # the row, verbatim
    prose = REPORT.replace(
        "- Trimbow (béclométasone/formotérol/glycopyrronium) 87/5/9 µg : 2 inhalations matin et soir\n"
        "- Amlodipine 5 mg : 1 cp le matin\n- Lokelma 5 g : 1 sachet par jour\n",
        "À la sortie, la patiente poursuit l'amlodipine 5 mg le matin et le Zelitrex (valaciclovir) 500 mg matin et "
        "soir ; le paracétamol 1 g est autorisé en cas de douleur.\n")
    _, sec = _letter(prose)
    out = sec["traitement_sortie"]
    assert "amlodipine 5 mg le matin" in out and "Zelitrex (valaciclovir) 500 mg" in out and "paracétamol 1 g" in out


@pytest.mark.parametrize("heading,name", [
    ("Traitement Proposé au Domicile", "Traitement de sortie"), ("Traitement au Long Cours", "Traitement à l'entrée"),
    ("ANTIBIOTIQUES ARRÊTÉS", "Traitements arrêtés ou modifiés"), ("Bilan à récupérer :", "Résultats en attente"),
    ("RÉSULTATS NON RENDUS", "Résultats en attente"), ("CONSULTATIONS ET CONTRÔLES", "Suivi"),
    ("Raison de la Venue", "Motif d'hospitalisation"), ("Ordonnance habituelle", "Traitement à l'entrée"),
])
def test_headings_named_in_other_words(heading, name):
    assert split_sections(f"{heading}\n\n- contenu\n")[-1].name == name


def test_a_short_line_alone_names_a_section_only_with_its_key_words():
    text = "Évolution\n\nRAS.\n\nTraitement proposé au domicile\n\n- amlodipine 5 mg\n\nRetour à domicile\n\nFin."
    names = [s.name for s in split_sections(text)]
    assert names == ["Évolution", "Traitement de sortie"]  # « Retour à domicile » stays inside the list section
    text = "CONCLUSION\n\nOAP.\n\nDiagnostics associés :\n\n- HTA\n"
    assert [s.name for s in split_sections(text)] == ["Conclusion"]  # a sub-list of the conclusion, not a new section


def test_a_letter_as_questions_and_a_table_of_rubrics():
    """Set C's forms: headings as questions, a treatment split by status, a « Rubrique | Contenu » table."""
    text = ("Pourquoi Ce Séjour ?\nDyspnée.\n\nQuels Traitements à la Maison ?\n\nNouveaux Médicaments\n"
            "• digoxine 0,125 mg : 1 le matin\n\nMédicaments Inchangés\n• bisoprolol 2,5 mg : 1 le matin\n\n"
            "Médicaments Arrêtés\n• ramipril 5 mg : arrêté pour insuffisance rénale aiguë\n\nEt Ensuite ?\n"
            "Consultation avec le Dr FONTAINE le 23 mars 2026.\n")
    names = [s.name for s in split_sections(text) if s.name]
    assert names == ["Motif d'hospitalisation", "Traitement de sortie", "Traitement de sortie", "Traitement de sortie",
                     "Traitements arrêtés ou modifiés", "Suivi"]
    _, sec = _letter(text)
    assert "digoxine 0,125 mg" in sec["traitement_sortie"] and "bisoprolol 2,5 mg" in sec["traitement_sortie"]
    assert "ramipril" in sec["traitements_modifies"] and "Dr FONTAINE" in sec["suivi"]
    table = ("Rubrique | Contenu\nMotif | hyperkaliémie\nEn attente | PTH et sérologies\n"
             "Rendez-vous | diététicienne le 20 octobre\nRendez-vous | Dr GUÉRIN le 16 novembre\n")
    got = [(s.name, table[s.start:s.end].strip()) for s in split_sections(table) if s.name]
    assert got[0] == ("Motif", "hyperkaliémie") and got[1] == ("Résultats en attente", "PTH et sérologies")
    assert got[2][0] == "Suivi" and "diététicienne" in got[2][1] and "GUÉRIN" in got[2][1]  # rows of one rubric, one section


def test_pending_results_said_in_the_conclusion():
    text = REPORT.replace("9. En attente\n\nDosage de l'alpha-1-antitrypsine.\n\n", "").replace(
        "2. Antécédents et terrain", "4. Au total\n\nExacerbation de BPCO, en attente du dosage de l'alpha-1-antitrypsine.\n\n"
        "2. Antécédents et terrain")
    _, sec = _letter(text)
    assert "en attente du dosage de l'alpha-1-antitrypsine" in sec["resultats_attente"]
