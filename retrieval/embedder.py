"""Embeddings behind one small interface, two backends chosen by settings.

* :class:`LocalEmbedder` — EmbeddingGemma-300M through sentence-transformers (768-d, cosine),
  with the model's own query/document prompts (``encode_query`` / ``encode_document``), bf16
  weights on CPU (measured faster than fp32 here, same recall), Matryoshka truncation to
  ``embedding_dim`` (512/256/128) when set lower than 768.
* :class:`OpenAIEmbedder` — any OpenAI-compatible ``/v1/embeddings`` endpoint (vLLM, TEI…) for
  production; it sends the same EmbeddingGemma prompts as text prefixes so both backends produce
  compatible vectors when they serve the same model.

Example::

    >>> from medassist.settings import Settings
    >>> e = get_embedder(Settings())            # doctest: +SKIP
    >>> len(e.embed_query("Quel anticoagulant ?"))  # doctest: +SKIP
    768

Limits: the local model needs ``medassist setup`` first (1.1 GB); first load ≈ 3–7 s.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Protocol

import numpy as np

from medassist.settings import Settings

#: EmbeddingGemma prompts (from its config_sentence_transformers.json), reused by the HTTP backend.
QUERY_PROMPT = "task: search result | query: "
DOCUMENT_PROMPT = "title: none | text: "


class EmbeddingError(RuntimeError):
    """Embedding backend unavailable; French message."""


class Embedder(Protocol):
    dim: int
    name: str

    def embed_documents(self, texts: list[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


def _normalise(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.clip(n, 1e-12, None)


class LocalEmbedder:
    """EmbeddingGemma (or any sentence-transformers folder) on CPU."""

    def __init__(self, model_path, dim: int = 768, batch_size: int = 16, bf16: bool = True):
        import torch
        from sentence_transformers import SentenceTransformer

        from pathlib import Path

        path = Path(model_path)
        if not (path / "model.safetensors").exists() and not (path / "pytorch_model.bin").exists():
            raise EmbeddingError(
                f"Modèle d'embeddings absent ({path}) : lancez « medassist setup » pour l'installer."
            )
        kwargs = {"torch_dtype": torch.bfloat16} if bf16 else {}
        self.model = SentenceTransformer(
            str(path), device="cpu", trust_remote_code=False, model_kwargs=kwargs, local_files_only=True
        )
        native = self.model.get_embedding_dimension() or dim
        self.dim = min(dim, native)
        self.batch_size = batch_size
        self.name = f"local:{path.name}:{self.dim}"
        self._lock = threading.Lock()  # torch CPU inference is not re-entrant-safe across UI threads

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


@lru_cache(maxsize=4)
def _cached_local(path: str, dim: int, batch: int) -> LocalEmbedder:
    return LocalEmbedder(path, dim=dim, batch_size=batch)


def get_embedder(settings: Settings) -> Embedder:
    """The embedder the settings name (local model loaded once per process)."""
    if settings.embedding_url:
        return OpenAIEmbedder(settings.embedding_url, settings.embedding_model or "embeddinggemma-300m",
                              api_key=settings.llm_api_key, dim=settings.embedding_dim)
    return _cached_local(str(settings.embedding_model_path), settings.embedding_dim, settings.embedding_batch_size)
