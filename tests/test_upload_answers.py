"""A document uploaded to a record reaches the answers (issue #14, item 5).

Reported from the browser: a one-line note uploaded to P001 (« Note infirmière : patient
douloureux, EVA 6/10. ») was indexed and ranked first by the search, yet « Quelle est l'EVA du
patient ? » answered « Preuves faibles » without citing it, and « EVA 6/10 » quoted « prise de poids
de 6 kg » (matched on the bare number). Causes, each tested below on its own and then end to end:

* the composer dropped a sentence equal to its document's title as a heading, and a loose file's
  title is its first line: a one-line note had nothing left to answer with;
* evidence strength looked at the dense similarity only, which a short note never reaches even
  when BM25 ranks it first with every word of the question;
* numbers were matched without what they measure (``6/10`` against ``6 kg`` and ``10 jours``).

The end-to-end tests run the real ingestion (parsing, chunking, BM25, embedded index, document
store) of P001 and the procedures with the hashing embedder of ``test_agent`` (no model), upload
the note as a loose file, and ask in the conversation that existed before the upload and in a new
one. ``test_uploaded_note_with_embeddinggemma`` does the same on the whole corpus index with the
real embedding model (marker ``embed``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from test_agent import HashEmbedder

from agents.compose import compose_extractive
from agents.graph import build_graph
from agents.runner import AgentAnswer, run_turn
from agents.text import DATE_UNIT, quantities, same_quantity
from agents.verify import verify_answer
from medassist.access import User
from medassist.schemas import Chunk, Corpus, Role, SearchHit
from medassist.settings import get_settings

REPO = Path(__file__).resolve().parent.parent
DOCTOR = User(username="dr.martin", role=Role.clinician, display_name="Dr MARTIN")
NOTE_TEXT = "Note infirmière : patient douloureux, EVA 6/10.\n"
NOTE_ID = "P001-note_infirmiere"
WEIGHT = ("Patient de 79 ans adressé par son médecin traitant pour une dyspnée d'aggravation progressive depuis "
          "10 jours, associée à une prise de poids de 6 kg et à des œdèmes des membres inférieurs.")


def _hit(doc_id: str, title: str, text: str, score: float) -> SearchHit:
    chunk = Chunk(chunk_id=f"patients/P001/{doc_id}/0", corpus=Corpus.patients, patient_id="P001", doc_id=doc_id,
                  doc_type="autre", title=title, date="2026-12-03", start=0, end=len(text), text=text,
                  content_hash="h")
    return SearchHit(chunk=chunk, score=score)


# =============================================================================== the mechanisms
def test_quantities_keep_what_the_number_measures():
    q = quantities(WEIGHT + " EVA 6/10, FEVG 30 %, K+ 2.3 mmol/l le 23/03/2026.")
    assert {("6", "kg"), ("10", "j"), ("6", "/10"), ("30", "%"), ("2,3", "mmol"), ("23/03/2026", DATE_UNIT)} <= q
    assert not same_quantity(("6", "/10"), quantities(WEIGHT))          # a weight is not a pain score
    assert same_quantity(("6", "/10"), quantities("EVA 6 sur 10"))
    assert same_quantity(("2,3", "mmol"), quantities("K+ | 2,3 | mmol/l"))  # a bare table cell contradicts nothing
    assert same_quantity(("23", "/3"), quantities("prélevé le 23/03/2026"))  # "le 23/03" names that date


def test_one_line_document_is_its_own_answer():
    """A loose file's title is its first line: the composer must not take it for a heading."""
    note = _hit(NOTE_ID, NOTE_TEXT.strip(), NOTE_TEXT, 1.0)
    other = _hit("P001-D04", "Compte rendu d'hospitalisation", WEIGHT, 0.3)
    out = compose_extractive("Quelle est l'EVA du patient ?", [note, other], patient_id="P001")
    assert out.key_sentences and out.key_sentences[0].text == NOTE_TEXT.strip()
    assert out.citations[0].doc_id == NOTE_ID and not out.weak_evidence
    assert "Preuves faibles" not in out.answer
    # the same line without its full stop: still the only content of its passage
    bare = NOTE_TEXT.strip().rstrip(".")
    out = compose_extractive("Quelle est l'EVA du patient ?", [_hit(NOTE_ID, bare, bare, 1.0), other])
    assert out.key_sentences[0].text == bare


def test_numbers_match_only_with_the_same_unit():
    """« EVA 6/10 » must not pick « prise de poids de 6 kg … depuis 10 jours », even ranked first."""
    weight = _hit("P001-D04", "Compte rendu d'hospitalisation", WEIGHT, 1.0)
    note = _hit(NOTE_ID, "Transmissions", NOTE_TEXT, 0.5)
    out = compose_extractive("EVA 6/10", [weight, note], patient_id="P001")
    assert out.key_sentences[0].text == NOTE_TEXT.strip()
    assert all("6 kg" not in k.text for k in out.key_sentences)
    # without the note, the weight sentence is no confident answer (it was, matched on "6" and "10")
    alone = compose_extractive("EVA 6/10", [weight], patient_id="P001")
    assert alone.weak_evidence and alone.answer.startswith("Preuves faibles")
    # and a number with its unit still matches its own sentence
    out = compose_extractive("prise de poids 6 kg", [note, weight], patient_id="P001")
    assert "6 kg" in out.key_sentences[0].text


def test_verifier_flags_a_number_cited_with_another_unit():
    passages = {1: WEIGHT, 2: NOTE_TEXT}
    v = verify_answer("L'EVA est à 6/10 [1]. L'EVA est à 6/10 [2]. Il a pris 6 kg en 10 jours [1].", passages)
    reasons = [c.reason for c in v.checks]
    assert reasons[0] and "6/10" in reasons[0] and "unité" in reasons[0]
    assert reasons[1] is None and reasons[2] is None


# =============================================================================== end to end, no model
@pytest.fixture(scope="module")
def upload_service(tmp_path_factory):
    """P001 and the procedures really ingested (hashing embedder); the note is uploaded by the tests."""
    from retrieval.service import RetrievalService

    data = tmp_path_factory.mktemp("upload-index")
    settings = get_settings().model_copy(update={"data_dir": data, "embedding_dim": HashEmbedder.dim})
    svc = RetrievalService(settings, embedder=HashEmbedder())
    report = svc.ingest_paths([REPO / "knowledge" / "patients" / "P001", REPO / "knowledge" / "procedures"])
    assert not report.errors, report.errors
    yield svc
    svc.close()


def upload_note(svc, folder: Path) -> str:
    """The note as the UI and ``medassist ingest --patient P001`` add it: a loose file of the record."""
    note = folder / "note_infirmiere.txt"
    note.write_text(NOTE_TEXT, encoding="utf-8")
    report = svc.ingest_paths([note], patient_id="P001")
    assert not report.errors and report.added == [NOTE_ID], report
    return NOTE_ID


def assert_answers_from_note(eva: AgentAnswer, score: AgentAnswer, doc_id: str) -> None:
    # « Quelle est l'EVA du patient ? »: the note, cited first, quoted with its value, no weak evidence
    assert eva.citations and eva.citations[0].doc_id == doc_id, [c.doc_id for c in eva.citations]
    assert "6/10" in eva.answer
    assert "Preuves faibles" not in eva.answer and not eva.weak_evidence
    assert not any(f.startswith("Preuves faibles") for f in eva.flags)
    # « EVA 6/10 »: the note again; no quoted sentence picked on the bare numbers (« 6 kg »)
    assert score.citations and score.citations[0].doc_id == doc_id
    assert all("6 kg" not in h.quote for c in score.citations for h in c.highlights)
    assert "6 kg" not in score.answer
    assert "Preuves faibles" not in score.answer


def test_uploaded_note_reaches_answers_in_same_and_new_conversation(upload_service, tmp_path, monkeypatch):
    svc = upload_service
    graph = build_graph(checkpointer=InMemorySaver())

    def ask(thread: str, question: str) -> AgentAnswer:
        return run_turn(DOCTOR, "P001", question, graph=graph, service=svc, mode="extractive", thread_id=thread)

    before = ask("conv-1", "Quelle est l'EVA du patient ?")  # the conversation exists before the upload
    assert NOTE_ID not in [c.doc_id for c in before.citations]
    doc_id = upload_note(svc, tmp_path)

    # the search step: ranked first, and clear evidence even when its dense similarity is under the
    # threshold (a one-line note with EmbeddingGemma: 0.36 for « EVA »): the fused ranking decides
    res = svc.search_patient("P001", "Quelle est l'EVA du patient ?", k=8)
    assert res.hits[0].chunk.doc_id == doc_id and not res.weak_evidence
    with monkeypatch.context() as m:
        m.setattr(svc, "settings", svc.settings.model_copy(update={"weak_evidence_threshold": 0.9}))
        res = svc.search_patient("P001", "Quelle est l'EVA du patient ?", k=8)
        assert res.hits[0].dense_score < svc.settings.weak_evidence_threshold
        assert not res.weak_evidence and res.warning is None
        absent = svc.search_patient("P001", "résultat de la coloscopie de dépistage", k=8)
        assert absent.weak_evidence and absent.warning  # some of its words only: still weak

    # the same conversation (retrieval is per turn: nothing cached hides the new document) ...
    assert_answers_from_note(ask("conv-1", "Quelle est l'EVA du patient ?"), ask("conv-1", "EVA 6/10"), doc_id)
    # ... and a new one
    assert_answers_from_note(ask("conv-2", "Quelle est l'EVA du patient ?"), ask("conv-2", "EVA 6/10"), doc_id)


# =============================================================================== end to end, EmbeddingGemma
@pytest.mark.embed
def test_uploaded_note_with_embeddinggemma(corpus_service, tmp_path):
    """The reported set-up: whole corpus index, real embedding model, note uploaded to P001.

    The note is removed afterwards: the corpus service is shared by the session's other tests."""
    from retrieval.store import Scope

    svc = corpus_service
    graph = build_graph(checkpointer=InMemorySaver())
    thread = f"{DOCTOR.username}:P001:{os.urandom(4).hex()}"
    try:
        doc_id = upload_note(svc, tmp_path)
        for t in (thread, thread + "-new"):
            eva = run_turn(DOCTOR, "P001", "Quelle est l'EVA du patient ?", graph=graph, service=svc,
                           mode="extractive", thread_id=t)
            score = run_turn(DOCTOR, "P001", "EVA 6/10", graph=graph, service=svc, mode="extractive", thread_id=t)
            assert_answers_from_note(eva, score, doc_id)
    finally:
        svc.delete_document(Scope.patient("P001"), NOTE_ID)
