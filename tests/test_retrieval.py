"""Retrieval: idempotent ingestion, replacement, deletion, isolation, citations, both store backends."""

import json
from pathlib import Path

import pytest

from medassist.access import AccessDenied, User
from medassist.schemas import Corpus, Role
from medassist.settings import get_settings
from retrieval.service import RetrievalService, UnknownPatientError, fuse
from retrieval.store import ClientStore, Scope, ScopeError

pytestmark = pytest.mark.embed


def _patient(pid: str, last: str, docs: dict[str, str], folder: Path) -> Path:
    d = folder / pid
    d.mkdir(parents=True)
    meta = {
        "id": pid,
        "identity": {"first_name": "Test", "last_name": last, "sex": "F", "birth_date": "1950-01-01", "ipp": pid[1:] * 2},
        "gp": {"name": "Dr Généraliste"},
        "documents": [
            {"id": f"{pid}-{name.split('.')[0]}", "file": name, "type": "consultation", "date": "2026-01-0%d" % (i + 1),
             "title": f"Consultation {i + 1}"}
            for i, name in enumerate(docs)
        ],
    }
    (d / "patient.json").write_text(json.dumps(meta, ensure_ascii=False))
    for name, text in docs.items():
        (d / name).write_text(text, encoding="utf-8")
    return d


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    root = tmp_path_factory.mktemp("mini")
    a = _patient("PA01", "ALPHA", {
        "d1.txt": "CONCLUSION :\n\nFibrillation auriculaire paroxystique. Introduction d'APIXABAN 5 mg matin et soir.",
        "d2.md": "# Allergies\n\nAllergie à la pénicilline (urticaire).\n\n# Suivi\n\nConsultation de cardiologie dans 3 mois.",
    }, root / "patients")
    b = _patient("PB02", "BRAVO", {
        "d1.txt": "CONCLUSION :\n\nPneumopathie communautaire traitée par AMOXICILLINE 1 g trois fois par jour.",
        "d2.md": "# Allergies\n\nAucune allergie connue.\n\n# Suivi\n\nRadiographie thoracique de contrôle à 6 semaines.",
    }, root / "patients")
    settings = get_settings().model_copy(update={"data_dir": root / "data"})
    svc = RetrievalService(settings)
    yield svc, root, a, b
    svc.close()


def test_ingest_is_idempotent(mini):
    svc, root, a, b = mini
    first = svc.ingest_paths([root / "patients"])
    assert not first.errors and sorted(first.added) == ["PA01-d1", "PA01-d2", "PB02-d1", "PB02-d2"]
    again = svc.ingest_paths([root / "patients"])
    assert again.added == [] and again.replaced == [] and len(again.unchanged) == 4
    assert svc.store.count(Scope.patient("PA01")) == first.chunks - svc.store.count(Scope.patient("PB02"))


def test_changed_file_replaces_its_chunks(mini):
    svc, root, a, b = mini
    f = a / "d1.txt"
    old = f.read_text()
    f.write_text(old.replace("APIXABAN 5 mg", "RIVAROXABAN 20 mg"), encoding="utf-8")
    try:
        rep = svc.ingest_paths([a])
        assert rep.replaced == ["PA01-d1"]
        doc = svc.document_text(Scope.patient("PA01"), "PA01-d1")
        assert "RIVAROXABAN" in doc["text"] and "APIXABAN" not in doc["text"]
        hits = svc.search_patient("PA01", "anticoagulant apixaban", k=10).hits
        assert all("APIXABAN" not in h.chunk.text for h in hits)
    finally:
        f.write_text(old, encoding="utf-8")
        svc.ingest_paths([a])


def test_citation_offsets_point_at_quoted_text(mini):
    svc, *_ = mini
    res = svc.search_patient("PA01", "Quel anticoagulant a été introduit ?", k=3)
    assert res.hits and res.hits[0].chunk.doc_id == "PA01-d1"
    for h in res.hits:
        cit = h.citation()
        doc = svc.document_text(Scope.patient("PA01"), cit.doc_id)
        assert doc["text"][cit.start:cit.end] == cit.quote


def test_isolation_on_every_search_path(mini):
    svc, *_ = mini
    from tools.search import read_document, search_record

    for mode in ("hybrid", "dense", "bm25"):
        res = svc.search_patient("PA01", "pneumopathie amoxicilline radiographie", k=10, mode=mode)
        assert all(h.chunk.patient_id == "PA01" for h in res.hits), mode
    emb = svc.embedder.embed_query("amoxicilline")
    assert all(c.patient_id == "PA01" for c, _ in svc.store.dense_search(Scope.patient("PA01"), emb, 50))
    hits = svc.store.sparse_search(Scope.patient("PA01"), svc.bm25.query("amoxicilline"), 50)
    assert all(c.patient_id == "PA01" for c, _ in hits)
    with pytest.raises(ScopeError):
        Scope(Corpus.patients, None)
    with pytest.raises(ScopeError):
        Scope.patient("")
    with pytest.raises(UnknownPatientError):
        svc.search_patient("PZ99", "allergie")
    assert svc.document_text(Scope.patient("PA01"), "PB02-d1") is None
    only_a = User(username="dr.a", role=Role.clinician, patients=["PA01"])
    with pytest.raises(AccessDenied):
        search_record(only_a, "PB02", "allergie", service=svc)
    with pytest.raises(AccessDenied):
        read_document(only_a, "PB02", "PB02-d1", service=svc)
    with pytest.raises(AccessDenied):
        search_record(User(username="sec", role=Role.admin), "PA01", "allergie", service=svc)
    assert search_record(only_a, "PA01", "allergie", service=svc).hits


def test_bad_file_in_batch_does_not_stop_it(mini, tmp_path):
    svc, root, a, b = mini
    bad = tmp_path / "casse.pdf"
    bad.write_bytes(b"%PDF-1.4 garbage")
    good = tmp_path / "note.txt"
    good.write_text("Note IDE : patiente calme, constantes stables.", encoding="utf-8")
    rep = svc.ingest_paths([bad, good], patient_id="PA01")
    assert [e.path for e in rep.errors] == [str(bad)] and "corrompu" in rep.errors[0].message
    assert rep.added == ["PA01-note"]
    assert svc.delete_document(Scope.patient("PA01"), "PA01-note")
    assert svc.store.count(Scope.patient("PA01"), "PA01-note") == 0
    unknown = svc.ingest_paths([good], patient_id="PZ99")
    assert "inconnu" in unknown.errors[0].message


def test_oversize_file_is_refused(mini, tmp_path):
    svc, *_ = mini
    big = tmp_path / "gros.txt"
    big.write_text("x " * 600_000)
    small_limit = svc.settings.model_copy(update={"max_upload_mb": 1.0})
    svc.settings, old = small_limit, svc.settings
    try:
        rep = svc.ingest_paths([big], patient_id="PA01")
    finally:
        svc.settings = old
    assert "taille maximale" in rep.errors[0].message


def test_crash_between_delete_and_upsert_heals_on_next_ingest(mini, monkeypatch):
    svc, root, a, b = mini
    f = b / "d1.txt"
    old = f.read_text()
    f.write_text(old + "\n\nÉVOLUTION :\n\nApyrexie à J3.", encoding="utf-8")

    def boom(*args, **kwargs):
        raise RuntimeError("simulated crash")

    try:
        with monkeypatch.context() as m:
            m.setattr(svc.store, "upsert", boom)
            rep = svc.ingest_paths([b])
            assert rep.errors and "PB02-d1" not in rep.replaced
        healed = svc.ingest_paths([b])
        assert healed.replaced == ["PB02-d1"] and not healed.errors
        assert svc.store.count(Scope.patient("PB02"), "PB02-d1") > 0
    finally:
        f.write_text(old, encoding="utf-8")
        svc.ingest_paths([b])


def test_delete_patient(mini, tmp_path):
    svc, root, a, b = mini
    c = _patient("PC03", "CHARLIE", {"d1.txt": "CONCLUSION :\n\nEntorse de cheville."}, tmp_path)
    svc.ingest_paths([c])
    assert svc.store.count(Scope.patient("PC03")) > 0
    svc.delete_patient("PC03")
    assert svc.store.count(Scope.patient("PC03")) == 0
    with pytest.raises(UnknownPatientError):
        svc.search_patient("PC03", "entorse")


def test_qdrant_client_backend_same_behaviour(mini, tmp_path):
    svc, root, a, b = mini
    settings = svc.settings.model_copy(update={"data_dir": tmp_path / "client"})
    store = ClientStore(settings.embedding_dim, path=tmp_path / "qdrant-local")
    other = RetrievalService(settings, embedder=svc.embedder, store=store)
    try:
        rep = other.ingest_paths([root / "patients"])
        assert len(rep.added) == 4
        res = other.search_patient("PA01", "Quel anticoagulant a été introduit ?", k=3)
        assert res.hits[0].chunk.doc_id == "PA01-d1"
        assert all(h.chunk.patient_id == "PA01" for h in other.search_patient("PA01", "amoxicilline", k=10).hits)
        assert other.ingest_paths([root / "patients"]).added == []
    finally:
        other.close()


def test_weak_evidence_flag(mini):
    svc, *_ = mini
    res = svc.search_patient("PA01", "résultat de la coloscopie de dépistage", k=3)
    assert res.weak_evidence and res.warning
    strong = svc.search_patient("PA01", "allergie à la pénicilline", k=3)
    assert not strong.weak_evidence


def test_fusion_modes_are_pure_and_ranked(mini):
    svc, *_ = mini
    scope = Scope.patient("PA01")
    dense = svc.store.dense_search(scope, svc.embedder.embed_query("pénicilline"), 5)
    sparse = svc.store.sparse_search(scope, svc.bm25.query("pénicilline"), 5)
    for mode in ("rrf", "weighted"):
        hits = fuse(dense, sparse, mode)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        assert "pénicilline" in hits[0].chunk.text


def test_search_input_validation(mini):
    svc, *_ = mini
    with pytest.raises(ValueError, match="vide"):
        svc.search_patient("PA01", "   ")
    with pytest.raises(ValueError, match="dépasse"):
        svc.search_patient("PA01", "x" * 5000)


def test_duplicate_upload_is_reported_not_indexed(mini, tmp_path):
    """The same content uploaded again (same name: unchanged; other name: duplicate; same name
    with new content: a new document, never a silent replacement) never doubles the record's passages."""
    svc, root, a, b = mini
    note = tmp_path / "cr_consultation.txt"
    note.write_text("Consultation du 02/03/2026.\n\nPatiente revue, tolérance correcte de l'apixaban.", encoding="utf-8")
    first = svc.ingest_paths([note], patient_id="PA01")
    assert first.added == ["PA01-cr_consultation"]
    chunks = svc.store.count(Scope.patient("PA01"))
    n_docs = len(svc.docs.list_documents(Corpus.patients, "PA01"))
    try:
        same = svc.ingest_paths([note], patient_id="PA01")
        assert same.unchanged == ["PA01-cr_consultation"] and not same.added
        renamed = tmp_path / "copie scan.txt"
        renamed.write_text("Consultation du 02/03/2026.\n\n  Patiente revue,   tolérance correcte de l'apixaban.\n",
                           encoding="utf-8")
        twin = svc.ingest_paths([renamed], patient_id="PA01")
        assert not twin.added and not twin.errors
        assert [d.existing_doc_id for d in twin.duplicates] == ["PA01-cr_consultation"]
        assert "doublon" in twin.duplicates[0].message and "copie scan.txt" in twin.duplicates[0].message
        # the other patient may hold the same text: duplicates are looked up in the patient's own record only
        other = svc.ingest_paths([renamed], patient_id="PB02")
        assert other.added == ["PB02-copie-scan"] and not other.duplicates
        svc.delete_document(Scope.patient("PB02"), "PB02-copie-scan")
        assert svc.store.count(Scope.patient("PA01")) == chunks
        assert len(svc.docs.list_documents(Corpus.patients, "PA01")) == n_docs
        note.write_text("Consultation du 02/03/2026.\n\nPatiente revue, apixaban arrêté (saignement).", encoding="utf-8")
        newer = svc.ingest_paths([note], patient_id="PA01")
        assert newer.added == ["PA01-cr_consultation-2"] and not newer.replaced and newer.notices
    finally:
        svc.delete_document(Scope.patient("PA01"), "PA01-cr_consultation")
        svc.delete_document(Scope.patient("PA01"), "PA01-cr_consultation-2")
