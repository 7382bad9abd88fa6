"""No patient text in the application logs, after the whole browser suite has run.

The UI servers of this session (``test-artifacts/e2e-*.log``: the walk-through server and the
restart test's two servers) wrote everything the application and its libraries log while the
browser tests asked questions, coded, drafted, uploaded and crashed. Each log is scanned for the
corpus' identities (names in both orders, NIR, IPP, phone numbers, street addresses, birth dates)
and for every sentence of the patients' documents as indexed by the server (uploads included).

Ordered last by ``tests/e2e/conftest.py`` (marker ``log_scan``).
"""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path

import pytest

from medassist.schemas import Patient

pytestmark = [pytest.mark.browser, pytest.mark.embed, pytest.mark.log_scan]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SESSION_START = time.time()


def _norm(s: str) -> str:
    return " ".join(s.lower().split())


def _identity_markers(p: Patient) -> list[re.Pattern]:
    i = p.identity
    names = [f"{i.first_name} {i.last_name}", f"{i.last_name} {i.first_name}"]
    pats = [re.compile(re.escape(n), re.I) for n in names]
    for ident in (i.nir, i.ipp):
        if ident:
            pats.append(re.compile(rf"(?<!\d){re.escape(ident)}(?!\d)"))
    if i.phone:
        digits = re.sub(r"\D", "", i.phone)
        pats.append(re.compile(r"(?<!\d)" + r"[\s.-]?".join(digits) + r"(?!\d)"))
    if i.birth_date:
        d = i.birth_date
        pats.append(re.compile(re.escape(f"{d.day:02d}/{d.month:02d}/{d.year}")))
    if i.address and i.address.street:
        pats.append(re.compile(re.escape(i.address.street), re.I))
    return pats


def _sentences(text: str) -> set[str]:
    """Document fragments long enough to be the record's own words (not a generic heading)."""
    out = set()
    for line in text.splitlines():
        for piece in re.split(r"(?<=[.;:!?])\s+", line):
            piece = _norm(piece)
            if len(piece) >= 30:
                out.add(piece)
    return out


def test_no_patient_text_in_server_logs(ui_data_dir):
    db = sqlite3.connect(ui_data_dir / "medassist.sqlite")
    try:
        patients = [Patient.model_validate_json(r[0]) for r in db.execute("select data from patients")]
        texts = [r[0] for r in db.execute("select text from documents where corpus = 'patients'")]
        activity = db.execute("select count(*) from audit_log where username like 'dr.%'").fetchone()[0]
    finally:
        db.close()
    if activity < 5:
        pytest.skip("aucun test de navigateur n'a tourné dans cette session : rien à inspecter")
    logs = [f for f in sorted(ARTIFACTS.glob("e2e-*.log")) if f.stat().st_mtime >= SESSION_START]
    assert logs, "aucun journal de serveur dans test-artifacts/"
    identity = [pat for p in patients for pat in _identity_markers(p)]
    sentences = set().union(*(_sentences(t) for t in texts))
    assert len(patients) >= 10 and len(sentences) >= 200
    for log in logs:
        raw = log.read_text(encoding="utf-8", errors="replace")
        assert raw.strip(), f"{log.name} est vide"
        found = [pat.pattern for pat in identity if pat.search(raw)]
        assert not found, f"{log.name} contient des identifiants de patients : {found[:5]}"
        flat = _norm(raw)
        leaked = [s for s in sentences if s in flat]
        assert not leaked, f"{log.name} contient du texte de dossiers : {leaked[:3]}"
