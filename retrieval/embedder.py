"""Embeddings behind one small interface, two backends chosen by settings.

* :class:`LocalEmbedder` — EmbeddingGemma-300M through sentence-transformers (768-d, cosine),
  with the model's own query/document prompts (``encode_query`` / ``encode_document``) and
  Matryoshka truncation to ``embedding_dim`` (512/256/128) when set lower than 768. It runs on one
  of three runtimes (:class:`Runtime`), all through sentence-transformers' own backends:

  ============  ==========================================================================
  torch-fp32    the reference; always available
  torch-bf16    only where the CPU has native bf16 (AMX or AVX512-BF16): elsewhere bf16 is
                emulated and was measured 7× *slower* than fp32 (AMD EPYC, AVX2: 1.0 vs 7.7 texts/s)
  onnx-int8     ONNX Runtime, weight matrices quantised to int8 per channel (``backend="onnx"``),
                exported locally from the hash-checked weights by ``medassist setup``
  ============  ==========================================================================

  ``medassist setup`` times each candidate on this CPU, checks that its vectors agree with the
  fp32 reference (:func:`calibrate`), and records the fastest agreeing one with the CPU's
  fingerprint; ``auto`` settings then use it (:func:`resolve_runtime`). Vectors of the three
  runtimes agree to ≥ 0.98 cosine, so an index built with one is searched with another.
* :class:`OpenAIEmbedder` — any OpenAI-compatible ``/v1/embeddings`` endpoint (vLLM, TEI…) for
  production; it sends the same EmbeddingGemma prompts as text prefixes so both backends produce
  compatible vectors when they serve the same model.

Example::

    >>> from medassist.settings import Settings
    >>> e = get_embedder(Settings())            # doctest: +SKIP
    >>> len(e.embed_query("Quel anticoagulant ?"))  # doctest: +SKIP
    768
    >>> Runtime(backend="onnx", dtype="int8").label
    'onnx-int8'

Limits: the local model needs ``medassist setup`` first (1.1 GB, plus 1.5 GB for the ONNX export);
first load ≈ 3–7 s. int8 quality is checked on probe texts at setup and on the dev QA set by
``medassist bench`` (recall side by side), not on every machine's own documents.
"""

from __future__ import annotations

import json
import os
import threading
import time
from functools import lru_cache
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
from pydantic import BaseModel

from medassist.hardware import cpu_info
from medassist.provision import ONNX_FILES
from medassist.settings import Settings

#: EmbeddingGemma prompts (from its config_sentence_transformers.json), reused by the HTTP backend.
QUERY_PROMPT = "task: search result | query: "
DOCUMENT_PROMPT = "title: none | text: "
RUNTIME_FILE = "runtime.json"
#: Minimum cosine with the fp32 reference for a runtime to be chosen (probe texts, at setup).
AGREEMENT_MIN_COSINE = 0.98


class EmbeddingError(RuntimeError):
    """Embedding backend unavailable; French message."""


class Embedder(Protocol):
    dim: int
    name: str

    def embed_documents(self, texts: list[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...

    def count_tokens(self, text: str) -> int: ...


class Runtime(BaseModel, frozen=True):
    """How the local model runs: sentence-transformers backend and numeric precision."""

    backend: Literal["torch", "onnx"] = "torch"
    dtype: Literal["fp32", "bf16", "int8"] = "fp32"

    @property
    def label(self) -> str:
        return f"{self.backend}-{self.dtype}"

    @classmethod
    def parse(cls, label: str) -> Runtime:
        backend, _, dtype = label.partition("-")
        return cls(backend=backend, dtype=dtype)


def _normalise(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.clip(n, 1e-12, None)


class LocalEmbedder:
    """EmbeddingGemma (or any sentence-transformers folder) on CPU, on one :class:`Runtime`."""

    def __init__(self, model_path, dim: int = 768, batch_size: int = 16, runtime: Runtime | None = None,
                 onnx_path: Path | None = None):
        from sentence_transformers import SentenceTransformer

        runtime = runtime or Runtime()
        path = Path(model_path)
        if not (path / "model.safetensors").exists() and not (path / "pytorch_model.bin").exists():
            raise EmbeddingError(
                f"Modèle d'embeddings absent ({path}) : lancez « medassist setup » pour l'installer."
            )
        if runtime.backend == "onnx":
            if runtime.dtype not in ONNX_FILES:
                raise EmbeddingError(f"Précision « {runtime.dtype} » indisponible avec ONNX (fp32 ou int8).")
            onnx_path = Path(onnx_path or path.with_name(path.name + "-onnx"))
            if not (onnx_path / ONNX_FILES[runtime.dtype]).exists():
                raise EmbeddingError(
                    f"Export ONNX absent ({onnx_path / ONNX_FILES[runtime.dtype]}) : lancez « medassist setup »."
                )
            self.model = SentenceTransformer(
                str(onnx_path), device="cpu", backend="onnx", trust_remote_code=False, local_files_only=True,
                model_kwargs={"file_name": ONNX_FILES[runtime.dtype], "provider": "CPUExecutionProvider"},
            )
        else:
            import torch

            if runtime.dtype == "int8":
                raise EmbeddingError("La précision int8 passe par ONNX (MEDASSIST_EMBEDDING_BACKEND=onnx).")
            kwargs = {"dtype": torch.bfloat16} if runtime.dtype == "bf16" else {}
            self.model = SentenceTransformer(
                str(path), device="cpu", trust_remote_code=False, model_kwargs=kwargs, local_files_only=True
            )
        native = self.model.get_embedding_dimension() or dim
        self.dim = min(dim, native)
        self.batch_size = batch_size
        self.runtime = runtime
        self.name = f"local:{path.name}:{self.dim}"
        self._lock = threading.Lock()  # CPU inference is not re-entrant-safe across UI threads

    def _post(self, v: np.ndarray) -> np.ndarray:
        v = np.asarray(v, dtype=np.float32)
        if v.shape[-1] > self.dim:  # Matryoshka: keep the first dims, re-normalise
            v = v[..., : self.dim]
        return _normalise(v)

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            v = self.model.encode_document(texts, batch_size=self.batch_size, convert_to_numpy=True)
        return self._post(v)

    def embed_query(self, text: str) -> np.ndarray:
        return self._embed_query_cached(text).copy()

    @lru_cache(maxsize=2048)  # noqa: B019 - one embedder per process; follow-ups and evals repeat queries
    def _embed_query_cached(self, text: str) -> np.ndarray:
        with self._lock:
            v = self.model.encode_query([text], convert_to_numpy=True)
        return self._post(v)[0]

    def count_tokens(self, text: str) -> int:
        """Model tokens of ``text`` as a document (prompt included): what the model really reads."""
        return len(self.model.tokenizer(DOCUMENT_PROMPT + text, add_special_tokens=True)["input_ids"])


class OpenAIEmbedder:
    """OpenAI-compatible ``/v1/embeddings`` endpoint (production: vLLM or TEI next to the app)."""

    def __init__(self, base_url: str, model: str, api_key: str = "EMPTY", dim: int = 768, timeout: float = 30.0):
        import httpx

        self.client = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout,
                                   headers={"Authorization": f"Bearer {api_key}"})
        self.model = model
        self.dim = dim
        self.name = f"openai:{model}:{dim}"

    def _embed(self, inputs: list[str]) -> np.ndarray:
        import httpx

        try:
            r = self.client.post("/embeddings", json={"model": self.model, "input": inputs})
            r.raise_for_status()
            data = sorted(r.json()["data"], key=lambda d: d["index"])
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            raise EmbeddingError(f"Le serveur d'embeddings est indisponible ({type(exc).__name__}).") from exc
        v = np.asarray([d["embedding"] for d in data], dtype=np.float32)
        if v.shape[-1] > self.dim:
            v = v[..., : self.dim]
        return _normalise(v)

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        out = [self._embed([DOCUMENT_PROMPT + t for t in texts[i : i + 64]]) for i in range(0, len(texts), 64)]
        return np.concatenate(out) if out else np.zeros((0, self.dim), dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self._embed([QUERY_PROMPT + text])[0]

    @staticmethod
    def count_tokens(text: str) -> int:
        """Upper estimate (no tokenizer here): French clinical text averages ≈ 4 characters a
        token with Gemma's tokenizer; 3 keeps the chunk bound on the safe side."""
        return (len(DOCUMENT_PROMPT) + len(text)) // 3 + 2


# --------------------------------------------------------------------------- runtime choice
def _runtime_record(settings: Settings) -> dict:
    try:
        return json.loads((settings.embedding_onnx_path / RUNTIME_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _available(settings: Settings, runtime: Runtime) -> bool:
    return runtime.backend == "torch" or (settings.embedding_onnx_path / ONNX_FILES[runtime.dtype]).exists()


def resolve_runtime(settings: Settings) -> Runtime:
    """The runtime the settings ask for; ``auto`` reads what ``medassist setup`` measured on this CPU.

    Order: explicit settings; else the choice recorded by :func:`calibrate` when it was made on a CPU
    with the same fingerprint; else (machine changed, setup not re-run) int8 ONNX when its agreement
    check passed, bf16 torch on CPUs with native bf16, fp32 torch otherwise.

    >>> s = Settings(embedding_backend="torch", embedding_dtype="fp32")
    >>> resolve_runtime(s).label
    'torch-fp32'
    """
    backend, dtype = settings.embedding_backend, settings.embedding_dtype
    cpu = cpu_info()
    if backend != "auto" or dtype != "auto":
        if backend == "auto":
            backend = "onnx" if dtype == "int8" else "torch"
        if dtype == "auto":
            dtype = "int8" if backend == "onnx" else ("bf16" if cpu.native_bf16 else "fp32")
        if (backend, dtype) not in {("torch", "fp32"), ("torch", "bf16"), ("onnx", "fp32"), ("onnx", "int8")}:
            raise EmbeddingError(f"Combinaison invalide : moteur « {backend} » avec la précision « {dtype} ».")
        return Runtime(backend=backend, dtype=dtype)
    record = _runtime_record(settings)
    if record.get("cpu_fingerprint") == cpu.fingerprint and record.get("choice"):
        chosen = Runtime.parse(record["choice"])
        if _available(settings, chosen):
            return chosen
    int8 = Runtime(backend="onnx", dtype="int8")
    if record.get("agreement", {}).get(int8.label, {}).get("ok") and _available(settings, int8):
        return int8
    return Runtime(dtype="bf16" if cpu.native_bf16 else "fp32")


#: Probe texts for the setup self-check: French clinical sentences of chunk-like length.
_PROBE_DOCS = [
    "Motif d'hospitalisation : dyspnée d'effort NYHA III et œdèmes des membres inférieurs. "
    "Fibrillation atriale rapide à 140/min, NT-proBNP 6 850 pg/ml, FEVG estimée à 30 % à l'échographie.",
    "Traitement de sortie : apixaban 5 mg deux fois par jour, furosémide 80 mg le matin, bisoprolol 2,5 mg, "
    "spironolactone 25 mg. Ramipril arrêté pour insuffisance rénale aiguë (créatinine 168 µmol/l).",
    "Cholécystectomie par cœlioscopie avec cholangiographie peropératoire le 05/04/2026, sans latex : "
    "pas de calcul de la voie biliaire principale. Suites simples, reprise alimentaire à J1.",
    "Kaliémie à 2,3 mmol/l à l'admission sous hydrochlorothiazide, arrêté ; supplémentation potassique "
    "intraveineuse puis orale. Pas de fracture sur les radiographies du bassin et de la hanche.",
    "Allergie aux produits de contraste iodés : prémédication par méthylprednisolone et hydroxyzine avant "
    "l'angioscanner thoracique, qui ne montre pas d'embolie pulmonaire.",
    "Note infirmière : patient douloureux, EVA 6/10 à la mobilisation, paracétamol 1 g administré à 14 h, "
    "réévaluation à 15 h : EVA 3/10. Pansement propre et sec.",
    "Résultats en attente à la sortie : ferritinémie et coefficient de saturation de la transferrine, "
    "à transmettre au médecin traitant. Consultation de cardiologie dans un mois avec ETT de contrôle.",
    "Compte rendu opératoire : prothèse intermédiaire de hanche gauche cimentée, tige fémorale taille 3, "
    "pour fracture sous-capitale du col fémoral Garden IV. Transfusion de deux CGR au deuxième jour.",
]
#: Chunk-length probes (≈ 450 characters, the demo corpus' mean chunk): speed depends on length, and
#: a runtime that wins on short texts can lose on real chunks (measured: ONNX int8 beats fp32 on
#: queries by 2× but not on 450-character batches).
_PROBE_DOCS = [a + " " + b for a, b in zip(_PROBE_DOCS, _PROBE_DOCS[1:] + _PROBE_DOCS[:1])] * 2
_PROBE_QUERIES = ["Quelle fraction d'éjection ?", "Quel anticoagulant à la sortie ?", "Calcul du cholédoque ?",
                  "Kaliémie à l'entrée", "Pourquoi une prémédication ?", "Quelle est l'EVA du patient ?",
                  "Quels résultats sont en attente ?", "Taille de la tige fémorale"]


def _time_batch(emb: LocalEmbedder) -> tuple[float, np.ndarray]:
    t = time.perf_counter()
    docs = emb.embed_documents(_PROBE_DOCS)
    return len(_PROBE_DOCS) / (time.perf_counter() - t), docs


def _time_queries(emb: LocalEmbedder) -> tuple[list[float], np.ndarray]:
    lat, vectors = [], []
    for q in _PROBE_QUERIES:  # uncached: each query is embedded (and timed) once
        t = time.perf_counter()
        vectors.append(emb._embed_query_cached.__wrapped__(emb, q))
        lat.append(time.perf_counter() - t)
    return lat, np.stack(vectors)


#: Rounds of the self-check: runtimes are timed in turn, round after round, and each keeps its best
#: round, so that a burst of load from another process hits all of them, not the one measured then.
CALIBRATION_ROUNDS = 3


def _load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:  # not available on this platform
        return None


def candidate_runtimes(settings: Settings) -> list[Runtime]:
    """The runtimes worth measuring here, fp32 reference first: bf16 only with native bf16, int8
    only once exported."""
    out = [Runtime()]
    if cpu_info().native_bf16:
        out.append(Runtime(dtype="bf16"))
    if (settings.embedding_onnx_path / ONNX_FILES["int8"]).exists():
        out.append(Runtime(backend="onnx", dtype="int8"))
    return out


def calibrate(settings: Settings, progress=print) -> dict:
    """Time every runtime this CPU can use on probe texts, check each against the fp32 reference,
    record the fastest agreeing one in ``<onnx dir>/runtime.json`` and return the record.

    Agreement: every probe vector has cosine ≥ :data:`AGREEMENT_MIN_COSINE` with the fp32 one and
    every probe query finds the same best passage. bf16 is tried only on CPUs with native bf16."""
    cpu = cpu_info()
    candidates = candidate_runtimes(settings)
    record: dict = {"cpu": cpu.summary, "cpu_fingerprint": cpu.fingerprint, "native_bf16": cpu.native_bf16,
                    "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "load_average_start": _load_average(),
                    "rounds": CALIBRATION_ROUNDS, "speed": {}, "agreement": {}}
    embedders = {}
    for rt in candidates:
        emb = LocalEmbedder(settings.embedding_model_path, dim=settings.embedding_dim,
                            batch_size=settings.embedding_batch_size, runtime=rt,
                            onnx_path=settings.embedding_onnx_path)
        emb.embed_documents(_PROBE_DOCS[:2])  # warm-up: first calls allocate and pick kernels
        embedders[rt.label] = emb
    best: dict[str, float] = {}
    vectors: dict[str, np.ndarray] = {}
    latencies: dict[str, list[float]] = {label: [] for label in embedders}
    for _ in range(CALIBRATION_ROUNDS):  # interleaved: each runtime keeps its best round
        for label, emb in embedders.items():
            rate, vectors[label] = _time_batch(emb)
            best[label] = max(best.get(label, 0.0), rate)
            lat, queries = _time_queries(emb)
            latencies[label].append(sorted(lat)[len(lat) // 2])
            vectors[label + "/q"] = queries
    ref = candidates[0].label
    for rt in candidates:
        label = rt.label
        docs, queries = vectors[label], vectors[label + "/q"]
        m = {"texts_per_s": round(best[label], 2), "query_ms_p50": round(min(latencies[label]) * 1000, 1)}
        record["speed"][label] = m
        cos = float(np.min(np.sum(docs * vectors[ref], axis=1)))
        same_best = bool(np.array_equal(np.argmax(queries @ docs.T, axis=1),
                                        np.argmax(vectors[ref + "/q"] @ vectors[ref].T, axis=1)))
        record["agreement"][label] = {"min_cosine": round(cos, 4), "same_best_passage": same_best,
                                      "ok": cos >= AGREEMENT_MIN_COSINE and same_best}
        progress(f"Embeddings {label} : {m['texts_per_s']} textes/s, requête {m['query_ms_p50']} ms, "
                 f"accord avec fp32 {cos:.3f}{'' if record['agreement'][label]['ok'] else ' (refusé)'}")
    embedders.clear()
    record["load_average_end"] = _load_average()
    loads = [x for x in (record["load_average_start"], record["load_average_end"]) if x is not None]
    record["loaded"] = bool(loads) and max(loads) > cpu.cores
    if record["loaded"]:
        progress(f"Attention : mesure faite sur une machine chargée (charge {max(loads):g} pour {cpu.cores} cœurs) ; "
                 "relancez « medassist setup » au calme pour un choix fiable.")
    ok = [label for label, a in record["agreement"].items() if a["ok"]]
    record["choice"] = max(ok, key=lambda label: record["speed"][label]["texts_per_s"])
    path = settings.embedding_onnx_path / RUNTIME_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, ensure_ascii=False, indent=1), encoding="utf-8")
    _cached_local.cache_clear()
    progress(f"Embeddings : moteur retenu {record['choice']} sur {cpu.model}.")
    return record


@lru_cache(maxsize=4)
def _cached_local(path: str, dim: int, batch: int, runtime: Runtime, onnx_path: str) -> LocalEmbedder:
    return LocalEmbedder(path, dim=dim, batch_size=batch, runtime=runtime, onnx_path=Path(onnx_path))


def get_embedder(settings: Settings) -> Embedder:
    """The embedder the settings name (local model loaded once per process)."""
    if settings.embedding_url:
        return OpenAIEmbedder(settings.embedding_url, settings.embedding_model or "embeddinggemma-300m",
                              api_key=settings.llm_api_key, dim=settings.embedding_dim)
    return _cached_local(str(settings.embedding_model_path), settings.embedding_dim, settings.embedding_batch_size,
                         resolve_runtime(settings), str(settings.embedding_onnx_path))
