"""Metadata of undeclared documents: type from the title, the document's own date, stay by date."""

from datetime import date

import pytest

from medassist.schemas import Stay
from retrieval.metadata import infer_metadata, stay_for

STAYS = [Stay(id="S1", unit="Cardiologie", entry_date=date(2026, 2, 9), exit_date=date(2026, 2, 18)),
         Stay(id="S2", unit="Cardiologie", entry_date=date(2026, 5, 2), exit_date=None)]


@pytest.mark.parametrize("text,kind", [
    ("Service de chirurgie digestive\nCOMPTE RENDU OPÉRATOIRE\nIntervention du 05/04/2026", "compte_rendu_operatoire"),
    ("CHU — Laboratoire de biologie médicale\nRésultats d'analyses\nPrélevé le 09.02.26", "biologie"),
    ("Ordonnance de sortie\nFait le 18/02/2026\n- apixaban 5 mg", "ordonnance"),
    ("Cher confrère,\nJe vous adresse M. X pour dyspnée.", "lettre_adressage"),
    ("Note infirmière : patient douloureux, EVA 6/10.", "transmissions_infirmieres"),
    ("SCANNER THORACIQUE INJECTÉ\nRéalisé le 10/02/2026", "imagerie"),
    ("Quelques mots sans type.", "autre"),
    # other authors' names for the same kinds
    ("Pneumologie\nCourrier de fin d'hospitalisation\nCher confrère, voici le résumé", "compte_rendu_hospitalisation"),
    ("Néphrologie\nCompte-rendu de séjour\nSéjour : 5 → 9 octobre 2026", "compte_rendu_hospitalisation"),
    ("Salle de cathétérisme\nCoronarographie et angioplastie en urgence", "compte_rendu_operatoire"),
    ("Cardiologie\nFiche de liaison infirmière (sortie)\nOrdonnance de bilan remise", "transmissions_infirmieres"),
    ("Bloc\nCR OPÉRATOIRE : POSE DE PAC\nMotif : avant chimiothérapie néoadjuvante", "compte_rendu_operatoire"),
])
def test_type_from_the_first_lines(text, kind):
    assert infer_metadata(text, "doc", STAYS).type == kind


def test_birth_date_is_not_the_document_date():
    m = infer_metadata("Patient né le 14/06/1946\nConsultation du 23/03/2026", "doc", STAYS)
    assert m.date == date(2026, 3, 23) and m.type == "consultation"


def test_bare_birth_date_of_an_identity_line_is_not_the_document_date():
    """Lab and operative reports write the birth date without a cue; the patient's is never chosen."""
    text = "CRO\nBENALI Karim, 17/08/1979, IPP 80042298\nIntervention du 05.04.26 - Opérateur : Dr MASSON"
    assert infer_metadata(text, "doc", STAYS).date == date(1979, 8, 17)  # unknown patient: first date
    assert infer_metadata(text, "doc", STAYS, birth_date=date(1979, 8, 17)).date == date(2026, 4, 5)
    text = "CRH\nPatiente : LAURENT Yvonne, née COLIN le 05/03/1938\nNFS du 14/09/2026"
    assert infer_metadata(text, "doc", STAYS).date == date(2026, 9, 14)  # cue several words before


def test_report_dated_by_the_end_of_an_arrow_range_and_notes_not_by_admission():
    text = "Compte rendu d'hospitalisation\nDates : 07/02/2026 → 16/02/2026, sortie en SMR"
    assert infer_metadata(text, "doc", STAYS).date == date(2026, 2, 16)
    text = "Transmissions ciblées\nMme X, entrée le 20/07/26 en soins libres\n21/07/26 - nuit : RAS"
    assert infer_metadata(text, "doc", STAYS).date == date(2026, 7, 21)


def test_a_treatment_end_date_is_not_the_discharge():
    text = ("COMPTE RENDU D'HOSPITALISATION\nValmont, le 12 octobre 2025\nséjour du 06/10 au 12/10/2025\n"
            "- Lovenox 4000 UI : 1 injection SC/j jusqu'au 4/11/25\n")
    assert infer_metadata(text, "doc", STAYS).date == date(2025, 10, 12)


def test_place_and_date_line_and_dates_without_a_year():
    text = "Ordonnance de sortie\nM. X - 73,5 kg\nValmont, 10/02/26\n- Lasilix 40 mg jusqu'au 15/02, biologie le 15/02/2026"
    assert infer_metadata(text, "doc", STAYS).date == date(2026, 2, 10)
    text = "UNV\nTRANSMISSIONS DE NUIT\nNuit du 12 au 13/02\nRAS"
    m = infer_metadata(text, "doc", STAYS)
    assert (m.date, m.stay_id) == (date(2026, 2, 13), "S1")  # the year of the stay it falls in


def test_cumulative_lab_report_is_dated_by_its_latest_sample():
    text = "Laboratoire\nNFS :\nDate | Hb\n07/09/2026 | 11,8\n09/09/2026 | 7,4\n14/09/2026 | 9,8\n"
    assert infer_metadata(text, "doc", STAYS).date == date(2026, 9, 14)


def test_hospital_report_is_dated_by_its_discharge_and_assigned_to_its_stay():
    text = "Compte rendu d'hospitalisation\nEntrée le 9 février 2026, sortie le 18 février 2026.\n"
    m = infer_metadata(text, "doc", STAYS)
    assert (m.date, m.stay_id) == (date(2026, 2, 18), "S1")


@pytest.mark.parametrize("day,stay", [
    (date(2026, 2, 9), "S1"), (date(2026, 2, 25), "S1"),  # typed a week after discharge: still S1
    (date(2026, 3, 30), None), (date(2026, 6, 1), "S2"),  # S2 is ongoing (no exit date)
    (None, None),
])
def test_stay_by_date(day, stay):
    assert stay_for(day, STAYS) == stay


def test_no_date_at_all():
    assert infer_metadata("Transmissions : RAS.", "doc", STAYS).date is None
