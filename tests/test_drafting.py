"""Drafting tools: discharge letter, convocation, record summary, verification, rendering.

Fast tests (parsers, verification, fake language model, rendering) need no model; the tests marked
``embed`` run the tools on the whole synthetic corpus through the ``corpus_service`` fixture.
"""

from __future__ import annotations

import importlib.util
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from docx import Document
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from medassist.access import AccessDenied, User
from medassist.schemas import Role
from medassist.settings import Settings
from retrieval.store import Scope
from tools.drafting import (
    MANDATORY_ITEMS,
    Draft,
    DraftCitation,
    DraftError,
    DraftSection,
    draft_appointment,
    draft_discharge,
    draft_summary,
    export_docx,
    parse_request,
    render_text,
)
from tools.drafting.extract import SourceDoc, parse_medication, patient_value
from tools.drafting.models import PATIENT_JSON, REQUEST_DOC
from tools.drafting.verify import rewrite_sections, unverified, verify_section

CLINICIAN = User(username="dr.test", role=Role.clinician, display_name="Dr Test")
ADMIN = User(username="sec.test", role=Role.admin, display_name="Secrétariat")
NOW = datetime(2026, 11, 1, 12, 0)
BENCH = Path(__file__).resolve().parent.parent / "bench" / "drafting_eval.py"


class ScriptedChat(BaseChatModel):
    """A chat model that answers with ``rewrite(facts)`` — facts being the text between <faits> tags."""

    rewrite: Any
    calls: list = []

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        self.calls.append(messages)
        facts = messages[-1].content.split("<faits>\n", 1)[1].rsplit("\n</faits>", 1)[0]
        title = messages[-1].content.split("\n", 1)[0].removeprefix("Rubrique : ")
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=self.rewrite(title, facts)))])


def check_citations(draft: Draft, service, request: str | None = None) -> int:
    """Assert that every citation points at its quote; return how many were checked."""
    patient = service.docs.get_patient(draft.patient_id)
    n = 0
    cits = [c for s in draft.sections for c in s.citations] + [c for r in draft.reconciliation for c in r.citations]
    for c in cits:
        if c.doc_id == PATIENT_JSON:
            assert str(patient_value(patient, c.field))[c.start:c.end] == c.quote, c
        elif c.doc_id == REQUEST_DOC:
            assert request is not None and request[c.start:c.end] == c.quote, c
        else:
            scope = Scope.procedures() if c.corpus == "procedures" else Scope.patient(draft.patient_id)
            row = service.document_text(scope, c.doc_id)
            assert row is not None, c.doc_id
            assert row["text"][c.start:c.end] == c.quote, c
        n += 1
    return n


# =========================================================================== parsers (no model)
def test_parse_medication_reads_name_dose_and_brand():
    m = parse_medication("- LÉVOTHYROXINE (LEVOTHYROX) 88 µg : 1 comprimé le matin à jeun")
    assert (m.key, m.dose, m.dose_key) == ("levothyroxine", "88 µg", "88 ug")
    assert "levothyrox" in m.aliases
    insulin = parse_medication("- INSULINE GLARGINE (LANTUS) 100 UI/ml, stylo : 24 UI le soir")
    assert insulin.dose == "24 UI"  # a concentration is not the dose
    enox = parse_medication("- ENOXAPARINE (LOVENOX) 4000 UI/0,4 ml : 1 injection pendant 35 jours après l'intervention")
    assert enox.dose == "4000 UI/0,4 ml" and enox.duration.startswith("pendant 35 jours")
    assert parse_medication("- NFS à J8 et J15") is None
    assert parse_medication("- Substitut de sel au chlorure de potassium : arrêté") is None
    assert parse_medication("- RPPS 10008765432") is None


def test_sections_survive_joined_lines_of_pdf_and_txt_extraction():
    # what retrieval.parsing gives for a PDF: list items joined on one line, next heading glued at the end
    text = ("Traitement de sortie\n\n- APIXABAN (ELIQUIS) 5 mg : 1 comprimé matin et soir - BISOPROLOL 2,5 mg : "
            "1 comprimé le matin Traitements arrêtés ou modifiés\n\n- RAMIPRIL 5 mg : arrêté (insuffisance rénale "
            "aiguë)\n\nCONCLUSION : Décompensation cardiaque. Dispositif implanté : aucun.")
    doc = SourceDoc(doc_id="D", title="CRH", doc_type="compte_rendu_hospitalisation", date=None, text=text)
    assert [s.name for s in doc.sections if s.name] == ["Traitement de sortie", "Traitements arrêtés ou modifiés",
                                                       "Conclusion"]
    out = doc.medications("Traitement de sortie")
    assert [(m.key, m.dose) for m in out] == [("apixaban", "5 mg"), ("bisoprolol", "2,5 mg")]
    assert all(text[m.start:m.end] == m.line for m in out)
    assert out[1].line == "BISOPROLOL 2,5 mg : 1 comprimé le matin"
    stopped = doc.medications("Traitements arrêtés ou modifiés")
    assert [m.key for m in stopped] == ["ramipril"]


def _synthetic_record():
    from medassist.schemas import Patient
    from tools.drafting.extract import Record

    patient = Patient.model_validate({
        "id": "T001", "identity": {"first_name": "Jean", "last_name": "TEST", "sex": "M", "birth_date": "1950-01-02",
                                   "ipp": "80000001"},
        "gp": {"name": "Dr Anne MÉDECIN"},
        "stays": [{"id": "S1", "unit": "Médecine", "entry_date": "2026-03-01", "exit_date": "2026-03-05"}],
        "documents": [
            {"id": "T001-D1", "file": "crh.txt", "type": "compte_rendu_hospitalisation", "date": "2026-03-05",
             "title": "CRH", "author": "Dr Paul AUTEUR", "stay_id": "S1"},
            {"id": "T001-D2", "file": "ordo.txt", "type": "ordonnance", "date": "2026-03-05", "title": "Ordonnance",
             "stay_id": "S1"}],
    })
    crh = ("Séjour du 01/03/2026 au 06/03/2026\nMotif d'hospitalisation : Malaise.\n\nTraitement à l'entrée\n"
           "- FUROSÉMIDE 40 mg : 1 comprimé le matin\n- OMÉPRAZOLE 20 mg : 1 gélule le soir\n\n"
           "Traitement de sortie\n- FUROSÉMIDE 80 mg : 1 comprimé le matin\n\nConclusion\nMalaise vagal.")
    ordo = "Ordonnance\n- FUROSÉMIDE 40 mg : 1 comprimé le matin\n- POTASSIUM (DIFFU-K) 600 mg : 1 gélule le soir"
    docs = [SourceDoc(doc_id="T001-D1", title="CRH", doc_type="compte_rendu_hospitalisation", date=date(2026, 3, 5),
                      text=crh, author="Dr Paul AUTEUR", stay_id="S1"),
            SourceDoc(doc_id="T001-D2", title="Ordonnance", doc_type="ordonnance", date=date(2026, 3, 5), text=ordo,
                      stay_id="S1")]
    return Record(patient=patient, docs=docs)


def test_discharge_of_a_synthetic_record_flags_discordances_and_lists_missing_items():
    from tools.drafting.discharge import build_discharge

    d = build_discharge(_synthetic_record())
    # no reason anywhere for the dose change and the stop: listed as missing, never invented
    rec = {r.key: r for r in d.reconciliation}
    assert rec["furosemide"].status == "changed" and rec["furosemide"].reason is None
    assert rec["omeprazole"].status == "stopped"
    assert "Motif de l'arrêt de OMÉPRAZOLE : non retrouvé dans le dossier." in d.missing
    assert "Motif de la modification de FUROSÉMIDE : non retrouvé dans le dossier." in d.missing
    assert d.items["resultats_attente"] == "missing" and d.items["medecin_adresseur"] == "missing"
    # the CRH and the ordonnance disagree: both discordances are flagged; so are the stay dates
    assert any("Discordance de dose pour FUROSÉMIDE" in f for f in d.flags)
    assert any("POTASSIUM (DIFFU-K) 600 mg" in f for f in d.flags)
    assert any(f.startswith("Discordance de dates") for f in d.flags)
    assert d.meta["author"] == "Dr Paul AUTEUR" and d.section("redacteur").citations[0].quote == "Dr Paul AUTEUR"


# =========================================================================== verification (no model)
def test_verification_accepts_rewritten_forms_of_the_same_facts():
    quotes = ["- RAMIPRIL 2,5 mg : 1 comprimé le matin", "1946-06-14", "Consultation le 12/05/2026 à 11h00",
              "ENOXAPARINE 4000 UI/j du 05/04 au 09/04/2026", "Code I50.0"]
    text = ("Ramipril 2.5 mg le matin ; né le 14 juin 1946 ; consultation le 12 mai 2026 à 11h00 ; "
            "enoxaparine du 05/04 au 09/04/2026 ; I500")
    assert unverified(text, quotes) == []


def test_verification_flags_invented_dose_date_drug_number_and_code():
    quotes = ["- RAMIPRIL 2,5 mg : 1 comprimé le matin", "Consultation le 12/05/2026 à 11h00"]
    found = unverified("Ramipril 5 mg, bisoprolol, contrôle le 13/05/2026 à 11h30 pendant 14 jours, code I10", quotes)
    kinds = {(k, w) for k, w in found}
    assert ("quantité", "5 mg") in kinds
    assert ("médicament", "bisoprolol") in kinds
    assert ("date", "13/05/2026") in kinds
    assert ("heure", "11h30") in kinds
    assert ("nombre", "14") in kinds
    assert ("code CIM-10", "I10") in kinds
    sec = DraftSection(title="Traitement", text="APIXABAN 10 mg", citations=[
        DraftCitation(doc_id="D", quote="APIXABAN 5 mg", start=0, end=13)])
    assert verify_section(sec) == ["« Traitement » : quantité « 10 mg » absente des sources citées."]


def test_generative_rewrite_with_invented_dose_is_flagged_and_falls_back():
    q = "Hyperkaliémie sévère à 6,9 mmol/l ; arrêt de la SPIRONOLACTONE 25 mg."
    cit = DraftCitation(doc_id="D", quote=q, start=0, end=len(q))
    draft = Draft(kind="summary", patient_id="P0", sections=[
        DraftSection(key="a", title="Synthèse", text=q, citations=[cit], prose=True),
        DraftSection(key="b", title="Évolution", text=q, citations=[cit], prose=True),
        DraftSection(key="c", title="Traitement", text=q, citations=[cit], prose=False),
    ])

    def rewrite(title, facts):
        if title == "Synthèse":
            return "Hyperkaliémie sévère (6,9 mmol/l) ayant conduit à arrêter la spironolactone 25 mg."
        return "Arrêt de la spironolactone 50 mg, relais par BISOPROLOL."

    llm = ScriptedChat(rewrite=rewrite)
    rewrite_sections(draft, llm)
    assert len(llm.calls) == 2  # the list section is never sent to the model
    assert "le texte placé entre les balises <faits>" in llm.calls[0][0].content
    a, b, c = draft.sections
    assert a.generated and a.text.startswith("Hyperkaliémie sévère (6,9 mmol/l) ayant conduit")
    assert not b.generated and b.text == q  # fallback to the extractive text
    assert draft.mode == "generative"
    assert any("« Évolution »" in f and "50 mg" in f and "texte extractif conservé" in f for f in draft.flags)


# =========================================================================== convocation request (no model)
def test_parse_request_reads_exam_date_time_and_practitioner():
    r = parse_request("Scanner thoraco-abdomino-pelvien avec injection le 12 décembre 2026 à 9h30 avec le Dr Martin",
                      now=NOW)
    assert r.exam == "Scanner thoraco-abdomino-pelvien avec injection"
    assert r.when == datetime(2026, 12, 12, 9, 30)
    assert r.practitioner == "Dr Martin" and r.category.key == "scanner" and r.iodinated
    assert r.request[r.date_span[0]:r.date_span[1]] == "12 décembre 2026"
    assert not parse_request("IRM cérébrale le 12/12/2026 à 14h15", now=NOW).iodinated
    u = parse_request("Uroscanner le 15/12/2026 à 10:00 avec le Dr Roussel, service d'imagerie, bâtiment C, 2e étage",
                      now=NOW)
    assert (u.exam, u.place, u.when.hour, u.iodinated) == ("Uroscanner", "service d'imagerie, bâtiment C, 2e étage",
                                                           10, True)


@pytest.mark.parametrize("request_text, message", [
    ("Scanner thoracique avec injection le 12/12/2026", "Heure du rendez-vous absente"),
    ("Scanner thoracique avec injection à 9h30", "Date du rendez-vous absente"),
    ("Scanner thoracique le 12/10/2026 à 9h30", "dans le passé"),
    ("Scanner thoracique le 31/02/2027 à 9h30", "Date invalide"),
    ("Scanner thoracique le 12 décembre à 9h30", "Précisez l'année"),
    ("Scanner thoracique demain à 9h30", "Date relative"),
    ("le 12/12/2026 à 9h30", "Type d'examen"),
])
def test_appointment_request_refused_with_french_error(request_text, message):
    with pytest.raises(DraftError, match=message):
        draft_appointment(ADMIN, "P002", request_text, now=NOW)


def test_admin_is_refused_discharge_and_summary_and_coder_the_convocation():
    with pytest.raises(AccessDenied, match="rédiger la lettre de liaison"):
        draft_discharge(ADMIN, "P001")
    with pytest.raises(AccessDenied, match="résumer le dossier"):
        draft_summary(ADMIN, "P001")
    with pytest.raises(AccessDenied, match="rédiger une convocation"):
        draft_appointment(User(username="dim", role=Role.coder), "P001", "IRM le 12/12/2026 à 9h", now=NOW)
    with pytest.raises(AccessDenied, match="ne fait pas partie de vos patients"):
        draft_discharge(User(username="dr.x", role=Role.clinician, patients=["P002"]), "P001")


def test_render_text_and_docx_of_a_small_draft(tmp_path):
    d = Draft(kind="appointment", patient_id="P0", sections=[DraftSection(key="rendez_vous", title="Rendez-vous",
                                                                          text="Objet : IRM cérébrale")],
              missing=["Lieu précis : à compléter."], meta={"recipient": ["M. DUPONT Jean", "1 rue A", "75000 Paris"],
                                                            "subject": "Convocation — IRM cérébrale"})
    settings = Settings(hospital_name="CH de Test", hospital_address="2 rue B, 99000 Test", hospital_phone="01 02 03 04 05")
    text = render_text(d, settings)
    assert text.startswith("CH de Test\n2 rue B, 99000 Test\nTél. 01 02 03 04 05")
    assert "M. DUPONT Jean" in text and "RENDEZ-VOUS\nObjet : IRM cérébrale" in text
    assert "À COMPLÉTER AVANT ENVOI\n- Lieu précis : à compléter." in text
    path = export_docx(d, tmp_path / "c.docx", settings)
    doc = Document(str(path))
    assert doc.tables[0].rows[0].cells[0].paragraphs[0].text == "CH de Test"
    paras = [p.text for p in doc.paragraphs]
    assert "M. DUPONT Jean" in paras and "Objet : IRM cérébrale" in paras and "Le secrétariat" in paras


# =========================================================================== on the corpus (embedding model)
@pytest.fixture
def corpus(corpus_service):
    """``corpus_service``, with the audit table re-created if the fixture replaced the session database.

    The fixture copies the cached index database over the session's one; when an earlier test of the
    session already wrote to the audit trail (denials above), :mod:`medassist.audit` believes its
    table exists in a file that no longer has it.
    """
    from medassist import audit

    audit._ready.clear()
    return corpus_service


def _stays(service):
    return [(p.id, s.id) for p in service.docs.list_patients() for s in p.stays]


@pytest.mark.embed
def test_discharge_letters_of_every_stay_are_complete_cited_and_verified(corpus):
    """Acceptance: every mandatory item present (cited) or listed as missing; 0 unverified facts."""
    stays = _stays(corpus)
    assert len(stays) >= 10
    for pid, sid in stays:
        d = draft_discharge(CLINICIAN, pid, sid, service=corpus)
        assert d.kind == "discharge" and d.mode == "extractive" and d.stay_id == sid
        for key, label in MANDATORY_ITEMS:
            status = d.items.get(key)
            assert status in ("present", "missing"), (pid, sid, key)
            if status == "present":
                assert d.section(key) is not None and d.section(key).citations, (pid, sid, key)
            else:
                assert any(m.startswith(label) for m in d.missing), (pid, sid, key)
        assert not [f for f in d.flags if "des sources citées" in f], (pid, sid, d.flags)
        assert check_citations(d, corpus) > 10
        dumped = d.model_dump(mode="json")
        assert set(dumped) >= {"kind", "sections", "missing", "flags"}
        assert set(dumped["sections"][0]) >= {"title", "text", "citations"}
        assert set(dumped["sections"][0]["citations"][0]) >= {"doc_id", "quote", "start", "end"}


@pytest.mark.embed
def test_trap_stopped_drug_keeps_its_reason_and_dose_change_is_reconciled(corpus):
    d = draft_discharge(CLINICIAN, "P006", service=corpus)
    rec = {r.key: r for r in d.reconciliation}
    spiro = rec["spironolactone"]
    assert spiro.status == "stopped" and "hyperkaliémie" in spiro.reason.lower()
    assert spiro.discharge is None and spiro.entry_dose == "25 mg"
    ramipril = rec["ramipril"]
    assert ramipril.status == "changed" and (ramipril.entry_dose, ramipril.discharge_dose) == ("10 mg", "2,5 mg")
    assert rec["metformine"].status == "stopped" and "DFG" in rec["metformine"].reason
    assert rec["amlodipine"].status == "new" and rec["furosemide"].status == "unchanged"
    text = d.section("traitements_modifies").text
    assert "RAMIPRIL : modifié (10 mg → 2,5 mg)" in text and "SPIRONOLACTONE : arrêté (25 mg)" in text
    assert not any("SPIRONOLACTONE" in m for m in d.missing)  # the reason was found, nothing to complete
    # a µg dose change in another record
    levo = {r.key: r for r in draft_discharge(CLINICIAN, "P009", service=corpus).reconciliation}["levothyroxine"]
    assert (levo.status, levo.entry_dose, levo.discharge_dose) == ("changed", "75 µg", "88 µg")


@pytest.mark.embed
def test_trap_pending_result_and_safety_items(corpus):
    d = draft_discharge(CLINICIAN, "P004", service=corpus)
    pending = d.section("resultats_attente")
    assert "anatomopathologique" in pending.text and pending.citations[0].doc_id == "P004-D04"
    assert d.items["bmr"] == "missing"  # nothing in the record: listed, never invented
    p005 = draft_discharge(CLINICIAN, "P005", service=corpus)
    assert all(p005.items[k] == "present" for k in ("bmr", "produits_sanguins", "dispositifs"))
    assert "BLSE" in p005.section("bmr").text and "CGR" in p005.section("produits_sanguins").text
    assert "prothèse" in p005.section("dispositifs").text


@pytest.mark.embed
def test_trap_allergy_in_letter_and_day_hospital_stay_without_report(corpus):
    d = draft_discharge(CLINICIAN, "P008", service=corpus)
    allergies = d.section("allergies")
    assert "Amoxicilline" in allergies.text
    assert any(c.doc_id == PATIENT_JSON and c.field == "allergies[0].substance" for c in allergies.citations)
    day = draft_discharge(CLINICIAN, "P010", "S2", service=corpus)  # chemotherapy session, no CRH
    assert day.items["synthese"] == "missing" and day.section("synthese") is None
    assert day.items["traitement_sortie"] == "present"  # from the session report's discharge instructions
    assert any(m.startswith("Traitement à l'entrée") for m in day.missing)


@pytest.mark.embed
def test_discharge_generative_mode_falls_back_on_invented_dose(corpus):
    def rewrite(title, facts):
        return facts + " Ajout de BISOPROLOL 5 mg." if title == "Synthèse du séjour" else facts

    llm = ScriptedChat(rewrite=rewrite)
    extractive = draft_discharge(CLINICIAN, "P006", service=corpus)
    d = draft_discharge(CLINICIAN, "P006", service=corpus, llm=llm)
    assert d.section("synthese").text == extractive.section("synthese").text
    assert not d.section("synthese").generated
    assert any("Synthèse du séjour" in f and "BISOPROLOL" in f and "texte extractif conservé" in f for f in d.flags)
    assert d.section("motif").generated and d.mode == "generative"
    assert not d.section("traitement_sortie").generated  # lists are never rewritten


@pytest.mark.embed
def test_convocation_contrast_ct_with_iodine_allergy(corpus):
    request = "Scanner thoraco-abdomino-pelvien avec injection le 12/12/2026 à 9h30 avec le Dr Martin"
    d = draft_appointment(ADMIN, "P002", request, now=NOW, service=corpus)
    assert d.kind == "appointment" and d.meta["appointment"]["iodinated_contrast"]
    rdv = d.section("rendez_vous")
    assert "samedi 12 décembre 2026 à 9h30" in rdv.text and "Dr Martin" in rdv.text
    prep = d.section("preparation")
    assert prep.citations and all(c.corpus == "procedures" for c in prep.citations)
    assert d.meta["procedure"]["title"].startswith("Préparation à un scanner")
    pre = d.section("precautions")
    assert "Produits de contraste iodés" in pre.text
    assert any(c.doc_id == PATIENT_JSON for c in pre.citations)
    # the premedication protocol and the renal thresholds are for the team, not in the patient's letter
    note = d.section("note_service")
    assert note is not None and "prémédication" in note.text and "radiologue" in note.text
    assert all(c.corpus == "procedures" for c in note.citations)
    assert "radiologue" not in pre.text + prep.text and "DFG" not in prep.text and "DFG" not in render_text(d)
    assert any("radiologue" in f for f in d.flags)
    assert "Traitement par metformine" not in pre.text  # no metformin in this record
    assert not [f for f in d.flags if "des sources citées" in f]
    check_citations(d, corpus, request)
    assert "Objet : Convocation — Scanner" in render_text(d)


@pytest.mark.embed
def test_convocation_metformin_only_when_still_taken(corpus):
    req = "Uroscanner le 15/12/2026 à 10h00"
    on_metformin = draft_appointment(ADMIN, "P008", req, now=NOW, service=corpus)
    pre = on_metformin.section("precautions")
    assert pre is not None and "Traitement par metformine" in pre.text and "METFORMINE" in pre.text
    note = on_metformin.section("note_service")  # the procedure's conduct goes to the team's note
    assert note is not None and any(c.corpus == "procedures" and "metformine" in c.quote.lower()
                                    for c in note.citations)
    assert "48 heures" not in pre.text and "DFG" not in pre.text
    stopped = draft_appointment(ADMIN, "P006", req, now=NOW, service=corpus)  # metformin stopped at discharge
    assert "Traitement par metformine" not in (stopped.section("precautions").text if stopped.section("precautions") else "")
    irm = draft_appointment(ADMIN, "P008", "IRM cérébrale le 15/12/2026 à 10h00", now=NOW, service=corpus)
    assert irm.section("precautions") is None or "metformine" not in irm.section("precautions").text.lower()


@pytest.mark.embed
def test_summary_is_cited_and_current_treatment_includes_later_changes(corpus):
    d = draft_summary(CLINICIAN, "P001", service=corpus)
    assert [s.key for s in d.sections] == ["patient", "antecedents", "allergies", "traitement_actuel",
                                           "evenements_recents", "resultats_attente", "suivi"]
    ttt = d.section("traitement_actuel").text
    assert "APIXABAN" in ttt and "SACUBITRIL/VALSARTAN" in ttt  # ordonnance + later consultation change
    assert "Pénicilline" in d.section("allergies").text
    assert not d.flags
    check_citations(d, corpus)


@pytest.mark.embed
def test_docx_export_of_a_discharge_letter(corpus, tmp_path):
    d = draft_discharge(CLINICIAN, "P001", service=corpus)
    settings = Settings(hospital_name="CHU de Valmont", hospital_address="1 avenue de la République",
                        hospital_phone="01 23 45 67 89")
    doc = Document(str(export_docx(d, tmp_path / "lettre.docx", settings)))
    assert doc.tables[0].rows[0].cells[0].paragraphs[0].text == "CHU de Valmont"
    paras = [p.text for p in doc.paragraphs]
    assert "Dr Anne MOREL" in paras  # recipient block: the GP
    assert "Dr Claire FONTAINE" in paras  # signature: the author of the stay report
    assert "Objet : Lettre de liaison — séjour du 09/02/2026 au 18/02/2026 " \
           "(Cardiologie - Hospitalisation conventionnelle)" in paras
    recon = doc.tables[1]
    assert [c.text for c in recon.rows[0].cells] == ["Médicament", "Entrée", "Sortie", "Statut"]
    assert any(r.cells[0].text == "RAMIPRIL" and r.cells[3].text == "arrêté" for r in recon.rows)
    assert "RAMIPRIL : arrêté" in render_text(d, settings)


@pytest.mark.embed
def test_drafting_bench_meets_the_acceptance_bar(corpus):
    spec = importlib.util.spec_from_file_location("drafting_eval", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    result = bench.evaluate(corpus)
    s = result["summary"]
    assert s["coverage"] == 1.0 and s["unverified_flags"] == 0 and s["citation_errors"] == 0
    assert s["summary_unverified_flags"] == 0 and s["summary_citation_errors"] == 0
    assert s["stays"] == len(result["stays"]) >= 10
