"""Support of the browser tests: copy an indexed data dir, start and kill a real UI server.

A plain module, not ``conftest``: ``from conftest import …`` is ambiguous between ``tests/`` and
``tests/e2e/``.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = os.environ.get("MEDASSIST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
#: pickles of the coding tool (edsnlp pipeline, CIM-10 catalogue), shared with tests/test_coding.py
PIPELINE_CACHE = Path.home() / ".cache" / "medassist-tests" / "coding"
#: read at import: the session fixture of tests/conftest.py clears MEDASSIST_* variables
DEV_DATA_DIR = os.environ.get("MEDASSIST_E2E_DATA_DIR")
STARTUP_TIMEOUT_S = float(os.environ.get("MEDASSIST_E2E_STARTUP_S", "300"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"le serveur de l'interface s'est arrêté (code {proc.returncode}) :\n"
                               + log.read_text(encoding="utf-8", errors="replace")[-3000:])
        try:
            with urllib.request.urlopen(url, timeout=3) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(1)
    raise TimeoutError(f"l'interface n'a pas répondu en {timeout:.0f} s :\n"
                       + log.read_text(encoding="utf-8", errors="replace")[-3000:])


def copy_ui_data(src: Path, dst: Path) -> None:
    """Copy an indexed data dir (vector index, documents database, coding pickles) for a UI server."""
    import sqlite3

    shutil.copytree(src / "index", dst / "index")
    for f in src.glob("medassist.sqlite"):  # the backup API: a consistent copy even of a database in use
        with sqlite3.connect(f) as a, sqlite3.connect(dst / f.name) as b:
            a.backup(b)
    (dst / "cache").mkdir(exist_ok=True)
    default_cache = Path.home() / ".local" / "share" / "medassist" / "cache"
    for folder in (PIPELINE_CACHE, default_cache):
        for pkl in folder.glob("*.pkl") if folder.exists() else []:
            if not (dst / "cache" / pkl.name).exists():
                shutil.copy2(pkl, dst / "cache" / pkl.name)


class UiServer:
    """``ui.launch.start_ui`` in a subprocess on a free port, its output in ``test-artifacts/<log_name>``."""

    artifacts = ARTIFACTS

    def __init__(self, data_dir: Path, log_name: str):
        from medassist.settings import Settings, get_settings
        from ui.launch import start_ui

        model_dir = get_settings().embedding_model_path  # the session points it at the provisioned model
        ARTIFACTS.mkdir(exist_ok=True)
        self.data_dir, self.log_path = data_dir, ARTIFACTS / log_name
        port = _free_port()
        env = {"MEDASSIST_DATA_DIR": str(data_dir), "MEDASSIST_EMBEDDING_MODEL": str(model_dir),
               "MEDASSIST_LLM_BASE_URL": "", "MEDASSIST_DATABASE_URL": "", "MEDASSIST_QDRANT_URL": "",
               "MEDASSIST_EMBEDDING_URL": "", "PYTHONUNBUFFERED": "1"}  # the log scan reads every line
        settings = Settings(data_dir=data_dir, embedding_model=str(model_dir), llm_base_url="", database_url="",
                            qdrant_url="", embedding_url="")
        saved = os.environ.get("CHAINLIT_AUTH_SECRET")
        os.environ.pop("CHAINLIT_AUTH_SECRET", None)  # the launcher generates the secret in the data dir
        self.log = self.log_path.open("a", encoding="utf-8")
        try:
            self.proc = start_ui("127.0.0.1", port, settings=settings, echo=lambda m: self.log.write(m + "\n"),
                                 env=env, stdout=self.log, stderr=self.log)
        finally:
            if saved is not None:
                os.environ["CHAINLIT_AUTH_SECRET"] = saved
        self.url = f"http://127.0.0.1:{port}"
        try:
            _wait_http(self.url + "/", self.proc, STARTUP_TIMEOUT_S, self.log_path)
            _wait_http(self.url + "/project/translations?language=fr-FR", self.proc, 30, self.log_path)
        except BaseException:
            self.stop()
            raise

    def kill(self) -> None:
        """SIGKILL: what a crash, the OOM killer or a power cut does to the server."""
        self.proc.kill()
        self.proc.wait(timeout=30)
        self.log.close()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except Exception:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
