"""LLM access: one factory for every OpenAI-compatible server, and the embedded llama.cpp server.

Production runs vLLM (docker-compose); locally the embedded llama.cpp server with SmolLM2 exercises
the same OpenAI protocol (tool calls, ``json_schema`` structured output). Which one is used is a
setting (:attr:`Settings.llm_base_url`); nothing else in the code knows the difference.

Example::

    >>> from medassist.settings import Settings
    >>> chat_model(Settings(llm_base_url="")) is None   # extractive mode: no model at all
    True

Limits: SmolLM2-135M proves the wiring only; it never writes a user's answer (the agent keeps
extractive mode unless a capable model is configured, see :func:`is_capable`).
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from medassist.provision import CHAT_TEMPLATE, llama_server_binary, smollm2_path
from medassist.settings import Settings

#: Models we know to be too small to write clinical French; they only exercise the protocol.
WIRING_ONLY_MODELS = ("smollm2", "SmolLM2")


@dataclass(frozen=True)
class LlmHealth:
    ok: bool
    message: str  # French, shown to users and operators
    models: tuple[str, ...] = ()


def check_health(settings: Settings, timeout: float = 3.0) -> LlmHealth:
    """Ask the configured server for its model list; say clearly, in French, what is wrong."""
    if settings.llm_mode == "extractive":
        return LlmHealth(True, "Aucun modèle de langage configuré : mode extractif.")
    url = settings.llm_effective_url.rstrip("/") + "/models"
    try:
        r = httpx.get(url, timeout=timeout, headers={"Authorization": f"Bearer {settings.llm_api_key}"})
        r.raise_for_status()
        models = tuple(m.get("id", "") for m in r.json().get("data", []))
    except httpx.ConnectError:
        return LlmHealth(False, f"Le serveur de modèle de langage est injoignable ({settings.llm_effective_url}).")
    except httpx.HTTPStatusError as exc:
        if exc.response.status_code in (401, 403):
            return LlmHealth(False, "Le serveur de modèle de langage refuse la clé d'API (MEDASSIST_LLM_API_KEY).")
        return LlmHealth(False, f"Le serveur de modèle de langage répond en erreur (HTTP {exc.response.status_code}).")
    except httpx.TimeoutException:
        return LlmHealth(False, f"Le serveur de modèle de langage ne répond pas à temps ({settings.llm_effective_url}).")
    except (httpx.HTTPError, ValueError) as exc:
        return LlmHealth(False, f"Réponse invalide du serveur de modèle de langage : {type(exc).__name__}.")
    return LlmHealth(True, f"Serveur de modèle de langage disponible ({', '.join(models) or 'modèle inconnu'}).", models)


def served_model_name(settings: Settings) -> str:
    if settings.llm_model:
        return settings.llm_model
    return "smollm2" if settings.llm_mode == "local" else "default"


def is_capable(settings: Settings) -> bool:
    """A model may write users' answers only when configured and not a wiring-only model."""
    if settings.llm_mode == "extractive":
        return False
    name = served_model_name(settings)
    return settings.llm_mode == "remote" and not any(w.lower() in name.lower() for w in WIRING_ONLY_MODELS)


def chat_model(settings: Settings, *, temperature: float = 0.0, streaming: bool = False, **kwargs):
    """A LangChain ``ChatOpenAI`` for whichever OpenAI-compatible server the settings name.

    Returns ``None`` in extractive mode. Timeouts and retries come from settings so that a server
    that is down fails fast and the caller can fall back to extractive mode.
    """
    if settings.llm_mode == "extractive":
        return None
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        base_url=settings.llm_effective_url,
        api_key=settings.llm_api_key or "EMPTY",
        model=served_model_name(settings),
        temperature=temperature,
        timeout=settings.llm_timeout_s,
        max_retries=settings.llm_max_retries,
        streaming=streaming,
        **({"max_tokens": settings.llm_max_tokens} | kwargs),
    )


# --------------------------------------------------------------------------- embedded llama.cpp
class LlmServerError(RuntimeError):
    pass


def llama_server_command(settings: Settings, model: Path | None = None) -> list[str]:
    binary = llama_server_binary()
    if binary is None:
        raise LlmServerError("Serveur llama.cpp absent : lancez d'abord « medassist setup ».")
    model = model or smollm2_path(settings)
    if not model.exists():
        raise LlmServerError(f"Modèle GGUF absent ({model}) : lancez d'abord « medassist setup ».")
    return [
        str(binary),
        "-m", str(model),
        "--host", "127.0.0.1",
        "--port", str(settings.llm_local_port),
        "-t", str(settings.llm_local_threads),  # 1 thread: 2 threads on 2 cores collapse under load
        "-c", "4096",
        "--alias", "smollm2",
        "--jinja",
        "--chat-template-file", str(CHAT_TEMPLATE),
        "--no-webui",
    ]


class LocalLlamaServer:
    """Start/stop the embedded llama.cpp server; a context manager for tests and the CLI."""

    def __init__(self, settings: Settings, log_path: Path | None = None):
        self.settings = settings
        self.log_path = log_path or settings.data_dir / "llama-server.log"
        self.proc: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.llm_local_port}/v1"

    def start(self, timeout: float = 60.0) -> LocalLlamaServer:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(llama_server_command(self.settings), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        health = self.base_url.removesuffix("/v1") + "/health"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise LlmServerError(f"Le serveur llama.cpp s'est arrêté au démarrage (voir {self.log_path}).")
            try:
                if httpx.get(health, timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        self.stop()
        raise LlmServerError("Le serveur llama.cpp n'a pas démarré à temps.")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc = None

    def __enter__(self) -> LocalLlamaServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
