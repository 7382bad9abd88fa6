"""Restart safety: a process killed in the middle of an ingest leaves a consistent index."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from medassist.schemas import Corpus
from medassist.settings import get_settings
from retrieval.service import RetrievalService
from retrieval.store import Scope

pytestmark = pytest.mark.embed
PATIENTS = Path(__file__).resolve().parent.parent / "knowledge" / "patients"


#: enough patients for more than one embedding group (``retrieval.service.EMBED_GROUP`` chunks): the
#: first group's documents are committed while the next group is still embedding, whatever the CPU
PATIENT_IDS = ("P009", "P010", "P011", "P012", "P013", "P014")


def _ingest_cmd(folders: list[Path]) -> list[str]:
    return [sys.executable, "-m", "ui.cli", "ingest", *map(str, folders), "--json"]


def _consistent(svc: RetrievalService, patient_id: str) -> tuple[int, int]:
    docs = svc.docs.list_documents(Corpus.patients, patient_id)
    scope = Scope.patient(patient_id)
    for d in docs:
        assert svc.store.count(scope, d["doc_id"]) == d["chunks"], d["doc_id"]
    return len(docs), svc.store.count(scope)


def test_kill_mid_ingest_then_restart(tmp_path):
    env = dict(os.environ, MEDASSIST_DATA_DIR=str(tmp_path / "data"))
    folders = [PATIENTS / pid for pid in PATIENT_IDS]
    proc = subprocess.Popen(_ingest_cmd(folders), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    db = tmp_path / "data" / "medassist.sqlite"
    deadline = time.time() + 240
    # wait until at least one document is committed, then kill hard in the middle of the batch
    while time.time() < deadline and proc.poll() is None:
        if db.exists():
            import sqlite3

            try:
                n = sqlite3.connect(db).execute("select count(*) from documents").fetchone()[0]
            except sqlite3.Error:
                n = 0
            if n >= 1:
                break
        time.sleep(0.2)
    assert proc.poll() is None, "the ingest finished before it could be interrupted"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)

    done = subprocess.run(_ingest_cmd(folders), env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    settings = get_settings().model_copy(update={"data_dir": tmp_path / "data"})
    svc = RetrievalService(settings)
    try:
        for pid in PATIENT_IDS:
            n_docs, n_chunks = _consistent(svc, pid)
            assert n_docs == len(svc.docs.get_patient(pid).documents)
            total = sum(d["chunks"] for d in svc.docs.list_documents(Corpus.patients, pid))
            assert n_chunks == total  # no orphan chunk of the interrupted document
    finally:
        svc.close()
