"""Shared fixtures.

* Every test runs with ``MEDASSIST_DATA_DIR`` in a temporary folder (no test touches the user's
  data), but with the models provisioned by ``medassist setup`` in the default data dir.
* ``corpus_service``: a :class:`RetrievalService` over the whole synthetic corpus
  (``knowledge/patients`` + ``knowledge/procedures``). Embedding the corpus on 2 CPU cores takes
  minutes, so the built index is cached under ``~/.cache/medassist-tests/<corpus hash>`` and copied
  into the session's temp dir; any change to the corpus or to the indexing code changes the hash.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
KNOWLEDGE = REPO / "knowledge"

# models live in the default data dir, whatever data dir a test uses
from support import GGUF, MODEL_DIR, persistent_coding_caches  # noqa: E402,F401

from medassist.settings import get_settings  # noqa: E402


def _has_embedding_model() -> bool:
    return (MODEL_DIR / "model.safetensors").exists()


def pytest_collection_modifyitems(config, items):
    from medassist.provision import llama_server_binary

    skip_embed = pytest.mark.skip(reason="modèle d'embeddings absent : lancez « medassist setup »")
    skip_llm = pytest.mark.skip(reason="llama.cpp/SmolLM2 absents : lancez « medassist setup »")
    strict = os.environ.get("MEDASSIST_REQUIRE_MODELS") == "1"  # CI: missing models fail, not skip
    has_llm = GGUF.exists() and llama_server_binary() is not None
    for item in items:
        if "embed" in item.keywords and not _has_embedding_model() and not strict:
            item.add_marker(skip_embed)
        if "llm" in item.keywords and not has_llm and not strict:
            item.add_marker(skip_llm)


@pytest.fixture(autouse=True, scope="session")
def _session_env(tmp_path_factory):
    data = tmp_path_factory.mktemp("medassist-data")
    old = {k: os.environ.get(k) for k in ("MEDASSIST_DATA_DIR", "MEDASSIST_EMBEDDING_MODEL")}
    os.environ["MEDASSIST_DATA_DIR"] = str(data)
    os.environ["MEDASSIST_EMBEDDING_MODEL"] = str(MODEL_DIR)
    for k in [k for k in os.environ if k.startswith("MEDASSIST_") and k not in old]:
        if k not in ("MEDASSIST_REQUIRE_MODELS",):
            os.environ.pop(k)
    get_settings.cache_clear()
    yield data
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def coding_caches(_session_env):
    """The coding tool's pickles (edsnlp pipeline, CIM-10 catalogue) kept between sessions: building
    them takes minutes on 2 cores (tests/support.py). Modules that code use it."""
    with persistent_coding_caches(get_settings().cache_dir, ("coding_pipeline_", "cim10_catalogue_")):
        yield


def _corpus_hash() -> str:
    """Changes when the indexed content would: corpus files, parsing, chunking, section model,
    metadata inference, or INDEX_VERSION
    (bumped by hand when the stored vectors change, e.g. BM25 settings)."""
    from retrieval.service import INDEX_VERSION

    h = hashlib.sha256(INDEX_VERSION.encode())
    files = [p for root in (KNOWLEDGE / "patients", KNOWLEDGE / "procedures") for p in sorted(root.rglob("*"))]
    files += [REPO / "retrieval" / f for f in ("parsing.py", "chunking.py", "metadata.py")]
    files += [REPO / "knowledge" / f for f in ("sections.py", "french.py", "dates.py")]
    for p in files:
        if p.is_file() and "__pycache__" not in p.parts and "_src" not in p.parts:
            h.update(str(p.relative_to(REPO)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:16]


@pytest.fixture(scope="session")
def corpus_service(_session_env):
    """Retrieval service over the whole corpus, in the session data dir (index cached across runs)."""
    if not _has_embedding_model():
        pytest.skip("modèle d'embeddings absent : lancez « medassist setup »")
    import retrieval.service as service_mod
    from retrieval.service import RetrievalService, reset_service

    settings = get_settings()
    cache = Path(os.environ.get("MEDASSIST_TEST_CACHE", Path.home() / ".cache" / "medassist-tests")) / _corpus_hash()
    from filelock import FileLock

    cache.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(cache) + ".lock"):  # several test processes may start at once
        if not (cache / "ready").exists():
            build = cache.with_name(cache.name + ".build")
            shutil.rmtree(build, ignore_errors=True)
            build.mkdir(parents=True)
            s = settings.model_copy(update={"data_dir": build})
            svc = RetrievalService(s)
            report = svc.ingest_paths([KNOWLEDGE / "patients", KNOWLEDGE / "procedures"])
            svc.close()
            assert not report.errors, report.errors
            (build / "ready").write_text("ok")
            shutil.rmtree(cache, ignore_errors=True)
            build.rename(cache)
    from medassist import audit
    from medassist.db import engine_for

    reset_service()
    engine_for(settings.effective_database_url).dispose()  # the SQLite file is replaced below:
    engine_for.cache_clear()                                # no pooled connection may survive it
    audit._ready.clear()
    shutil.rmtree(settings.data_dir / "index", ignore_errors=True)
    shutil.copytree(cache / "index", settings.data_dir / "index")
    for src in cache.glob("medassist.sqlite*"):  # with its WAL: the build engine may not have checkpointed
        shutil.copy2(src, settings.data_dir / src.name)
    reset_service()
    svc = service_mod.get_service(settings)
    yield svc
    reset_service()
