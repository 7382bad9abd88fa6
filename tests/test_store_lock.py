"""A second process on the same embedded index gets a clear French error, not a traceback."""

import subprocess
import sys

from typer.testing import CliRunner

HOLD = """
import sys, time
from pathlib import Path
from retrieval.store import EdgeStore, Scope
s = EdgeStore(Path(sys.argv[1]), 8)
s.count(Scope.procedures())
print("ready", flush=True)
time.sleep(3600)  # until killed: the CLI may take minutes to load its model before it opens the index
"""


def test_locked_index_gives_french_error(tmp_path, monkeypatch):
    from medassist.settings import get_settings
    from ui.cli import app

    index = tmp_path / "data" / "index"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(index)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        from retrieval.store import EdgeStore, Scope, StoreError

        store = EdgeStore(index, 8)
        try:
            store.count(Scope.procedures())
            raise AssertionError("the second opener should have been refused")
        except StoreError as exc:
            assert "verrouillé" in str(exc)
        # and through the CLI: French message, exit code 1, no traceback
        monkeypatch.setenv("MEDASSIST_DATA_DIR", str(tmp_path / "data"))
        monkeypatch.setenv("MEDASSIST_EMBEDDING_DIM", "8")
        get_settings.cache_clear()
        res = CliRunner().invoke(app, ["search", "--corpus", "procedures", "jeûne"])
        get_settings.cache_clear()
        assert res.exit_code == 1, res.output
        assert "verrouillé" in res.output and "Traceback" not in res.output
    finally:
        holder.kill()
        holder.wait()
