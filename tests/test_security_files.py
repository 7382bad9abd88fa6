"""Private files (issue 20, item 3): umask 077 for the processes medassist starts, data dir 0700,
SQLite databases 0600, Word letters never left in the shared /tmp. No model needed."""

from __future__ import annotations

import os
import stat
import zipfile
from io import BytesIO

import pytest

from medassist.settings import PRIVATE_UMASK, Settings, private_umask


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask():
    """A permissive umask during the test (what a shell usually gives), restored afterwards."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_data_dir_is_private_and_sqlite_files_are_0600(tmp_path, loose_umask):
    settings = Settings(data_dir=tmp_path / "data", database_url="")
    settings.ensure_dirs()
    assert _mode(settings.data_dir) == 0o700 and _mode(settings.tmp_dir) == 0o700
    assert settings.sqlite_files
    for f in settings.sqlite_files:
        assert f.exists() and _mode(f) == 0o600, f
    # SQLite accepts the empty file as an empty database, and its journal takes the file's mode
    import sqlite3

    con = sqlite3.connect(settings.sqlite_path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE t (x)")
    con.commit()
    wal = settings.sqlite_path.with_name(settings.sqlite_path.name + "-wal")
    assert wal.exists() and _mode(wal) == 0o600
    con.close()


def test_existing_wide_data_dir_is_tightened(tmp_path, loose_umask):
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    (data / "medassist.sqlite").write_bytes(b"")
    (data / "medassist.sqlite").chmod(0o644)
    Settings(data_dir=data, database_url="").ensure_dirs()
    assert _mode(data) == 0o700 and _mode(data / "medassist.sqlite") == 0o600


def test_no_sqlite_file_created_with_a_server_database(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", database_url="postgresql://u:p@localhost/db")
    settings.ensure_dirs()
    assert not list(settings.data_dir.glob("*.sqlite"))


def test_private_umask_applies_to_new_files(tmp_path, loose_umask):
    old = private_umask()
    try:
        assert old == 0o022
        f = tmp_path / "secret.txt"
        f.write_text("x")
        (tmp_path / "d").mkdir()
        assert _mode(f) == 0o600 and _mode(tmp_path / "d") == 0o700
    finally:
        os.umask(old)


def test_ui_launcher_starts_the_server_with_the_private_umask(tmp_path, monkeypatch, loose_umask):
    from ui import launch

    seen = {}

    def fake_popen(cmd, **kwargs):
        current = os.umask(0)  # read the umask the child would inherit
        os.umask(current)
        seen["umask"] = current
        seen["cwd"] = kwargs.get("cwd")
        return object()

    settings = Settings(data_dir=tmp_path / "data", database_url="")
    monkeypatch.setattr(launch, "prepare", lambda s, echo=print: {})
    monkeypatch.setattr(launch.subprocess, "Popen", fake_popen)
    launch.start_ui(settings=settings, port=8123, echo=lambda *a: None)
    assert seen["umask"] == PRIVATE_UMASK
    assert seen["cwd"] == settings.data_dir / "ui" and _mode(settings.data_dir / "ui") == 0o700


def _draft():
    from tools.drafting.models import Draft, DraftSection

    return Draft(kind="summary", patient_id="P0", sections=[DraftSection(title="Allergies", text="Aucune")])


def test_docx_is_built_in_memory_and_written_private(tmp_path, loose_umask):
    from tools.drafting.docx_export import docx_bytes, export_docx

    data = docx_bytes(_draft(), Settings(hospital_name="CH Test"))
    with zipfile.ZipFile(BytesIO(data)) as zf:
        assert "CH Test" in zf.read("word/document.xml").decode()
    out = export_docx(_draft(), tmp_path / "lettre.docx", Settings(hospital_name="CH Test"))
    assert _mode(out) == 0o600 and out.read_bytes()[:2] == b"PK"


def test_ui_exports_the_letter_without_a_temporary_file():
    """The UI hands Chainlit the letter's bytes: no ``/tmp/medassist-docx-*`` folder is made."""
    import ast
    from pathlib import Path

    source = (Path(__file__).resolve().parent.parent / "ui" / "app.py").read_text(encoding="utf-8")
    fn = next(n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.AsyncFunctionDef) and n.name == "_export_docx")
    body = ast.unparse(fn)
    assert "mkdtemp" not in body and "content=content" in body and "path=" not in body
