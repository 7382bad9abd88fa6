"""Ingestion embeds across documents in groups, reports progress, and bounds chunks in model tokens."""

import shutil
from pathlib import Path

import pytest
from test_agent import HashEmbedder

import retrieval.service as service_mod
from medassist.schemas import IngestProgress
from medassist.settings import get_settings
from retrieval.service import RetrievalService
from retrieval.store import Scope

P001 = Path(__file__).resolve().parent.parent / "knowledge" / "patients" / "P001"


class CountingEmbedder(HashEmbedder):
    """Records the size of every embedding call; one model token per word."""

    def __init__(self):
        self.calls: list[int] = []

    def embed_documents(self, texts):
        self.calls.append(len(texts))
        return super().embed_documents(texts)


@pytest.fixture
def service(tmp_path, monkeypatch):
    monkeypatch.setattr(service_mod, "EMBED_GROUP", 16)
    settings = get_settings().model_copy(update={"data_dir": tmp_path / "data", "embedding_dim": HashEmbedder.dim,
                                                 "chunk_max_tokens": 60})
    emb = CountingEmbedder()
    svc = RetrievalService(settings, embedder=emb)
    yield svc, emb
    svc.close()


def test_chunks_are_embedded_in_groups_across_documents(service, tmp_path):
    svc, emb = service
    folder = tmp_path / "P001"
    shutil.copytree(P001, folder, ignore=shutil.ignore_patterns("_src"))
    seen: list[IngestProgress] = []
    report = svc.ingest_paths([folder], progress=lambda p: seen.append(p.model_copy()))
    assert not report.errors and len(report.added) == 6
    assert sum(emb.calls) == report.chunks
    assert len(emb.calls) < len(report.added)  # fewer calls than documents: groups span documents
    assert all(n >= 16 for n in emb.calls[:-1])
    # progress: documents first, then chunks, never backwards, ending complete with a rate
    docs = [p.documents_done for p in seen]
    chunks = [p.chunks_done for p in seen]
    assert docs == sorted(docs) and chunks == sorted(chunks)
    assert seen[-1].documents_done == seen[-1].documents_total == 6
    assert seen[-1].chunks_done == seen[-1].chunks_total == report.chunks
    assert seen[-1].rate and "fragments/s" in seen[-1].message


def test_every_chunk_fits_the_token_bound_with_exact_offsets(service, tmp_path):
    svc, emb = service
    folder = tmp_path / "P001"
    shutil.copytree(P001, folder, ignore=shutil.ignore_patterns("_src"))
    svc.ingest_paths([folder])
    seen = 0
    for doc in svc.patient_documents("P001"):
        text = svc.document_text(Scope.patient("P001"), doc["doc_id"])["text"]
        for hit in svc.search_patient("P001", doc["title"], k=100, mode="bm25").hits:
            c = hit.chunk
            if c.doc_id == doc["doc_id"]:
                seen += 1
                assert text[c.start:c.end] == c.text
                assert emb.count_tokens(f"{c.title}\n{c.text}") <= 60
    assert seen > 10


def test_an_embedding_failure_is_reported_per_document_and_loses_nothing(service, tmp_path):
    svc, emb = service
    folder = tmp_path / "P001"
    shutil.copytree(P001, folder, ignore=shutil.ignore_patterns("_src"))

    def down(texts):
        raise RuntimeError("backend down")

    emb.embed_documents = down
    report = svc.ingest_paths([folder])
    assert report.added == [] and len(report.errors) == 6
    assert all("non indexé" in e.message for e in report.errors)
    assert svc.patient_documents("P001") == []  # no document row without its chunks



def test_cli_progress_on_a_log_prints_lines_with_rate_and_time_left(capsys):
    """Not a terminal (CI, `make run > log`): plain lines on stderr, the last one always printed."""
    from ui.cli import _ingest_progress

    with _ingest_progress(every_s=3600) as update:
        update(IngestProgress(documents_done=1, documents_total=4))
        update(IngestProgress(documents_done=4, documents_total=4, chunks_done=30, chunks_total=60, embed_seconds=5))
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0] == "Indexation : 1/4 documents"
    assert err[-1] == "Indexation : 4/4 documents, 30/60 fragments, 6.0 fragments/s, reste ≈ 5 s"
