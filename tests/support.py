"""Paths of the models provisioned by ``medassist setup`` in the default data dir.

Computed at import (collection time), before the session fixture points ``MEDASSIST_DATA_DIR`` at
a temporary folder. A plain module, not ``conftest``: ``from conftest import …`` is ambiguous once
``tests/e2e/conftest.py`` has been imported.
"""

from medassist.settings import Settings

_DEFAULT = Settings()
MODEL_DIR = _DEFAULT.embedding_model_path
GGUF = _DEFAULT.models_dir / "SmolLM2-135M-Instruct.Q4_1.gguf"
