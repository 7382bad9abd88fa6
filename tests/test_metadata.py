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
])
def test_type_from_the_first_lines(text, kind):
    assert infer_metadata(text, "doc", STAYS).type == kind


def test_birth_date_is_not_the_document_date():
    m = infer_metadata("Patient né le 14/06/1946\nConsultation du 23/03/2026", "doc", STAYS)
    assert m.date == date(2026, 3, 23) and m.type == "consultation"


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
