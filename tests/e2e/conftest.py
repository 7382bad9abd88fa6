"""Browser end-to-end fixtures: the real UI server over the corpus index, and Chromium.

* ``ui_data_dir`` / ``ui_server``: :class:`UiServer` (``ui.launch.start_ui`` in a subprocess on a free port),
  with its own data dir holding a *copy* of the session's corpus index (the embedded index allows one process per
  folder, and the in-process ``corpus_service`` stays usable by the other tests). Extractive mode,
  SQLite persistence, demo users. The coding tool's pickles (edsnlp pipeline, CIM-10 catalogue)
  are shared through the test cache (built once, about a minute). Server log: ``test-artifacts/e2e-server.log``.
* ``browser``: Debian's ``/usr/bin/chromium`` driven by Playwright (no ``playwright install``).
* ``test_ui_restart.py`` starts (and SIGKILLs) servers of its own on another copy; ``test_logs.py``
  then scans every server log of the session for patient text (ordered last, marker ``log_scan``).

Screenshots go to ``test-artifacts/`` (ignored by git).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from e2e_support import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, DEV_DATA_DIR, PIPELINE_CACHE, UiServer, copy_ui_data


@pytest.fixture(scope="session")
def ui_source_dir(request) -> Path:
    """The indexed data dir the UI servers copy: the session's corpus index, or
    ``MEDASSIST_E2E_DATA_DIR`` (an already indexed data dir, for quick runs while developing the UI)."""
    from medassist.settings import get_settings

    if DEV_DATA_DIR:
        return Path(DEV_DATA_DIR)
    request.getfixturevalue("corpus_service")
    return get_settings().data_dir


@pytest.fixture(scope="session")
def ui_data_dir(ui_source_dir, tmp_path_factory) -> Path:
    """A data dir with a copy of the corpus index and documents (for the UI process)."""
    dst = tmp_path_factory.mktemp("ui-data")
    copy_ui_data(ui_source_dir, dst)
    return dst


@pytest.fixture(scope="session")
def ui_server(ui_data_dir):
    """Base URL of the running UI (stopped at the end of the session). Log: ``test-artifacts/e2e-server.log``."""
    (ARTIFACTS / "e2e-server.log").unlink(missing_ok=True)
    server = UiServer(ui_data_dir, "e2e-server.log")
    try:
        yield server.url
    finally:
        server.stop()
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


def pytest_collection_modifyitems(config, items):
    """The log scan reads what the other browser tests made the servers write: it runs last."""
    last = [item for item in items if item.get_closest_marker("log_scan")]
    if last:
        items[:] = [item for item in items if item not in last] + last
