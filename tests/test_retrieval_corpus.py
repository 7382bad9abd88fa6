"""Retrieval on the whole synthetic corpus: dev-set recall and cross-patient isolation."""

import pytest

from bench.retrieval_bench import evaluate_retrieval, load_cases
from medassist.schemas import Patient
from retrieval.store import Scope

pytestmark = pytest.mark.embed


def test_dev_qa_hybrid_recall_at_3(corpus_service):
    res = evaluate_retrieval(corpus_service, load_cases())
    hybrid = res["modes"]["hybrid_weighted"]  # the default fusion (retrieval.service.DEFAULT_FUSION)
    assert res["n"] >= 80
    assert hybrid["recall@3"] >= 0.9, res["modes"]
    assert hybrid["recall@3"] >= res["modes"]["bm25"]["recall@3"]


def test_no_query_ever_crosses_patients(corpus_service):
    patients: list[Patient] = corpus_service.docs.list_patients()
    assert len(patients) >= 15
    for p in patients:
        other = next(o for o in patients if o.id != p.id)
        # ask for the *other* patient's name and own words: results stay in p's record
        q = f"{other.identity.last_name} {other.identity.first_name} traitement allergie"
        for mode in ("hybrid", "dense", "bm25"):
            hits = corpus_service.search(Scope.patient(p.id), q, k=10, mode=mode).hits
            assert all(h.chunk.patient_id == p.id for h in hits)
