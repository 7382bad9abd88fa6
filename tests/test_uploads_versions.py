"""No silent overwrite (issue 20, item 1): unique ids for uploads, explicit and audited replacement,
kept and restorable versions, idempotent re-ingest of a patient folder. Runs without any model
(a hashing embedder stands in for EmbeddingGemma)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from medassist import audit
from medassist.access import AccessDenied, User
from medassist.schemas import Corpus, Role
from medassist.settings import get_settings
from retrieval.service import RetrievalService
from retrieval.store import Scope

CLINICIAN = User(username="dr.versions", role=Role.clinician)
CODER = User(username="dim.versions", role=Role.coder)
DISCHARGE = ("COMPTE RENDU D'HOSPITALISATION\n\nMotif : décompensation cardiaque.\n\n"
             "TRAITEMENT DE SORTIE :\n\n- APIXABAN 5 mg matin et soir\n- BISOPROLOL 2,5 mg le matin\n\n"
             "CONCLUSION :\n\nInsuffisance cardiaque à FEVG altérée, fibrillation auriculaire.")
NOTE = "Note IDE du 03/03/2026 : patiente calme, douleur EVA 2/10."


class TinyEmbedder:
    """Deterministic bag-of-words vectors: enough to index and search without a model."""

    dim = 64

    def _one(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        for w in text.lower().split():
            v[int(hashlib.md5(w.encode()).hexdigest(), 16) % self.dim] += 1.0
        n = float(np.linalg.norm(v))
        return v / n if n else v

    def embed_documents(self, texts):
        return np.stack([self._one(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    def embed_query(self, text):
        return self._one(text)

    def count_tokens(self, text):
        return len(text.split())


def _patient_folder(root: Path) -> Path:
    folder = root / "PV01"
    folder.mkdir(parents=True)
    meta = {
        "id": "PV01",
        "identity": {"first_name": "Test", "last_name": "VERSION", "sex": "F", "birth_date": "1950-01-01",
                     "ipp": "900001"},
        "gp": {"name": "Dr Généraliste"},
        "documents": [{"id": "PV01-D04", "file": "crh.txt", "type": "compte_rendu_hospitalisation",
                       "date": "2026-02-18", "title": "Compte rendu d'hospitalisation"}],
    }
    (folder / "patient.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    (folder / "crh.txt").write_text(DISCHARGE, encoding="utf-8")
    (folder / "courrier.txt").write_text("Courrier du Dr Martin : rendez-vous de contrôle dans trois mois.",
                                         encoding="utf-8")  # undeclared: a loose file of the folder
    return folder


@pytest.fixture()
def svc(tmp_path):
    settings = get_settings().model_copy(update={"data_dir": tmp_path / "data", "embedding_dim": TinyEmbedder.dim})
    service = RetrievalService(settings, embedder=TinyEmbedder())
    folder = _patient_folder(tmp_path / "patients")
    report = service.ingest_paths([folder])
    assert not report.errors and sorted(report.added) == ["PV01-D04", "PV01-courrier"], report
    yield service, folder
    service.close()


def _text(svc, doc_id):
    return svc.document_text(Scope.patient("PV01"), doc_id)["text"]


def test_upload_named_like_a_document_gets_a_new_id_and_replaces_nothing(svc, tmp_path):
    service, _ = svc
    upload = tmp_path / "up" / "D04.txt"
    upload.parent.mkdir()
    upload.write_text(NOTE, encoding="utf-8")
    report = service.ingest_paths([upload], patient_id="PV01")
    assert report.added == ["PV01-D04-2"] and not report.replaced and not report.errors
    assert len(report.notices) == 1 and "PV01-D04-2" in report.notices[0] and "« PV01-D04 » existe" in report.notices[0]
    assert _text(service, "PV01-D04") == DISCHARGE  # the discharge report is intact
    assert NOTE in _text(service, "PV01-D04-2")
    # the same file again (a new copy, new modification date): the same document, nothing added
    time_shifted = tmp_path / "up2" / "D04.txt"
    time_shifted.parent.mkdir()
    shutil.copyfile(upload, time_shifted)
    os.utime(time_shifted, (1_600_000_000, 1_600_000_000))
    again = service.ingest_paths([time_shifted], patient_id="PV01")
    assert again.unchanged == ["PV01-D04-2"] and not again.added and not again.replaced and not again.notices
    # another new content under the same name: the next free id
    upload.write_text(NOTE.replace("2/10", "5/10"), encoding="utf-8")
    third = service.ingest_paths([upload], patient_id="PV01")
    assert third.added == ["PV01-D04-3"] and not third.replaced


def test_reingesting_the_patient_folder_is_idempotent(svc):
    service, folder = svc
    n_docs = len(service.docs.list_documents(Corpus.patients, "PV01"))
    report = service.ingest_paths([folder])
    assert sorted(report.unchanged) == ["PV01-D04", "PV01-courrier"] and not report.added and not report.replaced
    assert len(service.docs.list_documents(Corpus.patients, "PV01")) == n_docs


def test_explicit_replacement_is_audited_and_restorable(svc, tmp_path):
    service, _ = svc
    upload = tmp_path / "D04.txt"
    upload.write_text(NOTE, encoding="utf-8")
    report = service.ingest_paths([upload], patient_id="PV01", replace="PV01-D04", user=CLINICIAN)
    assert report.replaced == ["PV01-D04"] and not report.errors
    (r,) = report.replacements
    assert (r.previous_chars, r.new_chars) == (len(DISCHARGE), len(_text(service, "PV01-D04")))
    assert r.kept_version == 1 and "version précédente conservée" in r.message
    line = next(a for a in audit.query(username=CLINICIAN.username) if a["action"] == "replace_document")
    assert line["documents"] == ["PV01-D04"] and line["patient_id"] == "PV01"
    assert f"{len(DISCHARGE)} -> {r.new_chars} caractères" in line["detail"]
    assert all(h.chunk.doc_id != "PV01-D04" or "APIXABAN" not in h.chunk.text
               for h in service.search_patient("PV01", "APIXABAN traitement de sortie", k=10).hits)
    (kept,) = service.versions(Scope.patient("PV01"), "PV01-D04")
    assert kept["version"] == 1 and kept["chars"] == len(DISCHARGE) and kept["reason"] == "replaced"
    # restore: the discharge report is back, searchable; the note it displaced is kept in turn
    back = service.restore(Scope.patient("PV01"), "PV01-D04", 1, user=CLINICIAN)
    assert back.replaced == ["PV01-D04"] and _text(service, "PV01-D04") == DISCHARGE
    hits = service.search_patient("PV01", "APIXABAN traitement de sortie", k=3).hits
    assert hits[0].chunk.doc_id == "PV01-D04" and "APIXABAN" in hits[0].chunk.text
    assert [v["version"] for v in service.versions(Scope.patient("PV01"), "PV01-D04")] == [1, 2]
    assert any(a["action"] == "restore_document" for a in audit.query(username=CLINICIAN.username))


def test_replacement_needs_an_allowed_user_and_an_existing_target(svc, tmp_path):
    service, _ = svc
    upload = tmp_path / "D04.txt"
    upload.write_text(NOTE, encoding="utf-8")
    for kwargs, words in (({"replace": "PV01-D04"}, "utilisateur identifié"),
                          ({"replace": "PV01-D04", "user": CODER}, "Accès refusé"),
                          ({"replace": "PV01-D99", "user": CLINICIAN}, "introuvable")):
        report = service.ingest_paths([upload], patient_id="PV01", **kwargs)
        assert not report.replaced and not report.added and words in report.errors[0].message, (kwargs, report)
    assert _text(service, "PV01-D04") == DISCHARGE
    other = tmp_path / "autre.txt"
    other.write_text("Autre note.", encoding="utf-8")
    two = service.ingest_paths([upload, other], patient_id="PV01", replace="PV01-D04", user=CLINICIAN)
    assert not two.replaced and "un seul fichier" in two.errors[0].message
    with pytest.raises(AccessDenied):
        service.restore(Scope.patient("PV01"), "PV01-D04", 1, user=CODER)


def test_deleted_document_is_kept_and_can_be_restored(svc):
    service, _ = svc
    scope = Scope.patient("PV01")
    assert service.delete_document(scope, "PV01-courrier")
    assert service.document_text(scope, "PV01-courrier") is None
    (kept,) = service.versions(scope, "PV01-courrier")
    assert kept["reason"] == "deleted"
    report = service.restore(scope, "PV01-courrier", kept["version"], user=CLINICIAN)
    assert report.added == ["PV01-courrier"] and "rendez-vous de contrôle" in _text(service, "PV01-courrier")
    assert service.store.count(scope, "PV01-courrier") > 0
    with pytest.raises(LookupError):
        service.restore(scope, "PV01-courrier", 99, user=CLINICIAN)


def test_changed_declared_document_keeps_its_previous_version(svc):
    """A document declared in patient.json keeps its id when its file changes (an update of that
    document); the previous text is kept as a version."""
    service, folder = svc
    (folder / "crh.txt").write_text(DISCHARGE.replace("APIXABAN 5 mg", "RIVAROXABAN 20 mg"), encoding="utf-8")
    report = service.ingest_paths([folder])
    assert report.replaced == ["PV01-D04"] and report.replacements[0].kept_version == 1
    assert service.docs.get_version(Corpus.patients, "PV01", "PV01-D04", 1)["text"] == DISCHARGE


@pytest.mark.parametrize("k", [0, -5, 2.5, True])
def test_search_k_must_be_a_positive_integer(svc, k):
    service, _ = svc
    with pytest.raises(ValueError, match="au moins égal à 1"):
        service.search_patient("PV01", "traitement de sortie", k=k)
    assert len(service.search_patient("PV01", "traitement de sortie", k=1).hits) == 1


def test_cli_adds_replaces_on_request_lists_and_restores_versions(tmp_path, monkeypatch):
    """The same through ``medassist ingest --replace`` and ``medassist versions [--restore N]``."""
    from typer.testing import CliRunner

    import ui.cli as cli

    settings = get_settings().model_copy(update={"data_dir": tmp_path / "data", "embedding_dim": TinyEmbedder.dim})
    monkeypatch.setattr(cli, "_service", lambda: RetrievalService(settings, embedder=TinyEmbedder()))
    monkeypatch.setattr(cli, "resolve_user", lambda username, role: CLINICIAN)
    run = CliRunner().invoke
    folder = _patient_folder(tmp_path / "patients")
    assert run(cli.app, ["ingest", str(folder), "--json"]).exit_code == 0
    upload = tmp_path / "up" / "D04.txt"
    upload.parent.mkdir()
    upload.write_text(NOTE, encoding="utf-8")

    res = run(cli.app, ["ingest", str(upload), "--patient", "PV01"])
    assert res.exit_code == 0 and "PV01-D04-2" in res.output and "1 ajouté(s), 0 remplacé(s)" in res.output

    res = run(cli.app, ["ingest", str(upload), "--patient", "PV01", "--replace", "PV01-D04", "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["replaced"] == ["PV01-D04"] and report["replacements"][0]["kept_version"] == 1

    res = run(cli.app, ["versions", "PV01-D04", "--patient", "PV01", "--json"])
    rows = json.loads(res.stdout)
    assert [r["version"] for r in rows] == [1] and rows[0]["chars"] == len(DISCHARGE)

    res = run(cli.app, ["versions", "PV01-D04", "--patient", "PV01", "--restore", "1"])
    assert res.exit_code == 0 and "↻" in res.output
    service = RetrievalService(settings, embedder=TinyEmbedder())
    try:
        assert _text(service, "PV01-D04") == DISCHARGE  # back, and the replaced note kept in turn
        assert len(service.versions(Scope.patient("PV01"), "PV01-D04")) == 2
    finally:
        service.close()
    res = run(cli.app, ["versions", "PV01-D04", "--patient", "PV01", "--restore", "9"])
    assert res.exit_code == 1 and "introuvable" in res.output
