"""Browser end-to-end fixtures: the real UI server over the corpus index, and Chromium.

* ``ui_data_dir`` / ``ui_server``: ``ui.launch.start_ui`` in a subprocess on a free port, with its own data dir
  holding a *copy* of the session's corpus index (the embedded index allows one process per
  folder, and the in-process ``corpus_service`` stays usable by the other tests). Extractive mode,
  SQLite persistence, demo users. The coding tool's pickles (edsnlp pipeline, CIM-10 catalogue)
  are shared through the test cache (built once, about a minute). Server log: ``test-artifacts/e2e-server.log``.
* ``browser``: Debian's ``/usr/bin/chromium`` driven by Playwright (no ``playwright install``).

Screenshots go to ``test-artifacts/`` (ignored by git).
"""

from __future__ import annotations

import os
import shutil
import socket
import time
import urllib.request
from pathlib import Path

import pytest

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


@pytest.fixture(scope="session")
def ui_data_dir(request, tmp_path_factory) -> Path:
    """A data dir with a copy of the corpus index and documents (for the UI process).

    ``MEDASSIST_E2E_DATA_DIR`` names an already indexed data dir to copy instead of the session's
    corpus index (quick runs while developing the UI)."""
    from medassist.settings import get_settings

    if DEV_DATA_DIR:
        src = Path(DEV_DATA_DIR)
    else:
        request.getfixturevalue("corpus_service")
        src = get_settings().data_dir
    dst = tmp_path_factory.mktemp("ui-data")
    shutil.copytree(src / "index", dst / "index")
    for f in src.glob("medassist.sqlite*"):
        shutil.copy2(f, dst / f.name)
    (dst / "cache").mkdir(exist_ok=True)
    default_cache = Path.home() / ".local" / "share" / "medassist" / "cache"
    for folder in (PIPELINE_CACHE, default_cache):
        for pkl in folder.glob("*.pkl") if folder.exists() else []:
            if not (dst / "cache" / pkl.name).exists():
                shutil.copy2(pkl, dst / "cache" / pkl.name)
    return dst


@pytest.fixture(scope="session")
def ui_server(ui_data_dir):
    """Base URL of the running UI (stopped at the end of the session)."""
    from medassist.settings import Settings, get_settings
    from ui.launch import start_ui

    MODEL_DIR = get_settings().embedding_model_path  # the session points it at the provisioned model

    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / "e2e-server.log"
    port = _free_port()
    env = {"MEDASSIST_DATA_DIR": str(ui_data_dir), "MEDASSIST_EMBEDDING_MODEL": str(MODEL_DIR),
           "MEDASSIST_LLM_BASE_URL": "", "MEDASSIST_DATABASE_URL": "", "MEDASSIST_QDRANT_URL": "",
           "MEDASSIST_EMBEDDING_URL": ""}
    settings = Settings(data_dir=ui_data_dir, embedding_model=str(MODEL_DIR), llm_base_url="", database_url="",
                        qdrant_url="", embedding_url="")
    saved = os.environ.get("CHAINLIT_AUTH_SECRET")
    os.environ.pop("CHAINLIT_AUTH_SECRET", None)  # the launcher generates the secret in the data dir
    log = log_path.open("w", encoding="utf-8")
    try:
        proc = start_ui("127.0.0.1", port, settings=settings, echo=lambda m: log.write(m + "\n"),
                        env=env, stdout=log, stderr=log)
    finally:
        if saved is not None:
            os.environ["CHAINLIT_AUTH_SECRET"] = saved
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_http(url + "/", proc, STARTUP_TIMEOUT_S, log_path)
        _wait_http(url + "/project/translations?language=fr-FR", proc, 30, log_path)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except Exception:
            proc.kill()
            proc.wait()
        log.close()
        # keep the coding pipeline built by the server for the next runs
        PIPELINE_CACHE.mkdir(parents=True, exist_ok=True)
        for pkl in (ui_data_dir / "cache").glob("*.pkl"):
            if not (PIPELINE_CACHE / pkl.name).exists():
                shutil.copy2(pkl, PIPELINE_CACHE / pkl.name)


@pytest.fixture(scope="module")
def browser():
    """Chromium for one test module. Module scope, not session: Playwright's sync API keeps an
    event loop in the main thread while it runs, which would break later tests calling asyncio.run."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium absent ({CHROMIUM})")
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On a failed browser test, keep a screenshot of the page (test-artifacts/ui-echec-*.png)."""
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        pages = [item.funcargs.get("clinician")]
        opener = item.funcargs.get("user_page")
        for context in getattr(opener, "contexts", []):
            pages += context.pages
        ARTIFACTS.mkdir(exist_ok=True)
        for i, page in enumerate(p for p in pages if p is not None):
            try:
                page.screenshot(path=str(ARTIFACTS / f"ui-echec-{item.name}-{i}.png"))
            except Exception:  # the page may be gone; the failure itself is what matters
                pass
