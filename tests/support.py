"""Paths of the models provisioned by ``medassist setup`` in the default data dir.

Computed at import (collection time), before the session fixture points ``MEDASSIST_DATA_DIR`` at
a temporary folder. A plain module, not ``conftest``: ``from conftest import …`` is ambiguous once
``tests/e2e/conftest.py`` has been imported.
"""

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from medassist.settings import Settings

_DEFAULT = Settings()
MODEL_DIR = _DEFAULT.embedding_model_path
GGUF = _DEFAULT.models_dir / "SmolLM2-135M-Instruct.Q4_1.gguf"


#: The session's data dir is temporary; building eds.cim10 and the catalogue takes minutes on 2
#: cores, so their pickles are kept between sessions (file names carry their hash).
PERSISTENT_CODING = Path.home() / ".cache" / "medassist-tests" / "coding"


@contextmanager
def persistent_coding_caches(cache: Path, prefixes: tuple[str, ...]) -> Iterator[None]:
    """Copy kept pickles into ``cache`` before, keep only the newest of each ``prefix`` after."""
    cache.mkdir(parents=True, exist_ok=True)
    PERSISTENT_CODING.mkdir(parents=True, exist_ok=True)
    for f in PERSISTENT_CODING.glob("*.pkl"):
        if not (cache / f.name).exists():
            shutil.copy2(f, cache / f.name)
    yield
    for prefix in prefixes:
        files = sorted(cache.glob(prefix + "*.pkl"), key=lambda f: f.stat().st_mtime)
        if not files:
            continue
        newest = files[-1]
        for old in PERSISTENT_CODING.glob(prefix + "*.pkl"):
            if old.name != newest.name:
                old.unlink()
        if not (PERSISTENT_CODING / newest.name).exists():
            shutil.copy2(newest, PERSISTENT_CODING / newest.name)
