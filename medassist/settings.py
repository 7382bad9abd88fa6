"""Settings: the one place where backends are chosen.

Every backend switch is a URL or a path read from the environment (prefix ``MEDASSIST_``) or a
``.env`` file, so the embedded default and the hospital deployment run the same code:

========================  ==================================  ======================================
setting                   empty (default)                     set
========================  ==================================  ======================================
``llm_base_url``          extractive mode (no LLM)            any OpenAI-compatible server (vLLM);
                                                              ``local`` = embedded llama.cpp server
``embedding_url``         local sentence-transformers model   OpenAI-compatible ``/v1/embeddings``
``qdrant_url``            embedded qdrant-edge (data dir)     Qdrant server (qdrant-client)
``database_url``          SQLite files under the data dir     PostgreSQL (checkpoints, audit, chat)
========================  ==================================  ======================================

Precedence (pydantic-settings): explicit keyword arguments > environment > ``.env`` > defaults.

Example::

    >>> from medassist.settings import Settings
    >>> Settings(llm_base_url="").llm_mode
    'extractive'
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from platformdirs import user_data_dir
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent

#: sha256 of the assembled EmbeddingGemma-300M ``model.safetensors`` (see ENVIRONMENT.md).
EMBEDDINGGEMMA_SHA256 = "cbf5a78393b6a033e0b8a63a57549964f7ed5c6fbeb4ba0694214f36123f2fd2"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="MEDASSIST_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # ------------------------------------------------------------------ storage
    data_dir: Path = Field(
        default_factory=lambda: Path(user_data_dir("medassist", appauthor=False)),
        description="Models, embedded index, SQLite databases, caches.",
    )
    # ------------------------------------------------------------------ LLM
    llm_base_url: str = Field(
        default="",
        description="OpenAI-compatible base URL (…/v1). Empty: extractive mode. 'local': embedded llama.cpp.",
    )
    llm_model: str = Field(default="", description="Model name sent to the server (vLLM: served model name).")
    llm_api_key: str = Field(default="EMPTY", description="API key for the LLM server (vLLM accepts any).")
    llm_timeout_s: float = 60.0
    llm_max_retries: int = 2
    llm_max_tokens: int = 768  # bounded: a small model can otherwise generate until the timeout
    llm_local_port: int = 8766
    llm_local_threads: int = 1  # measured: 2 threads on 2 cores collapse under load
    # ------------------------------------------------------------------ embeddings
    embedding_url: str = Field(default="", description="OpenAI-compatible /v1 base URL; empty = local model.")
    embedding_model: str = Field(default="", description="Local model folder, or model name for the URL backend.")
    embedding_dim: int = Field(default=768, description="Vector size; < 768 uses Matryoshka truncation (512, 256, 128).")
    embedding_batch_size: int = 16
    embedding_backend: Literal["auto", "torch", "onnx"] = Field(
        default="auto", description="Local model runtime; auto = the one `medassist setup` measured fastest here.")
    embedding_dtype: Literal["auto", "fp32", "bf16", "int8"] = Field(
        default="auto", description="Local model precision (bf16: torch on CPUs with native bf16; int8: onnx).")
    chunk_max_tokens: int = Field(default=256, description="Upper bound of a chunk's length in model tokens.")
    # ------------------------------------------------------------------ stores
    qdrant_url: str = Field(default="", description="Qdrant server URL; empty = embedded qdrant-edge.")
    qdrant_api_key: str = ""
    database_url: str = Field(default="", description="PostgreSQL URL; empty = SQLite under the data dir.")
    # ------------------------------------------------------------------ limits & behaviour
    max_upload_mb: float = 20.0
    # Extracted size, checked while a file is read (a 150 KB DOCX once expanded to 24.75 M characters
    # and 32,787 chunks: 1 GB of RAM and hours of embedding). Per document, and per upload (the
    # loose files of one ingest call or one UI drop, counted together).
    max_document_chars: int = Field(default=2_000_000, ge=1, description="Characters extracted from one document.")
    max_document_chunks: int = Field(default=5_000, ge=1, description="Chunks (passages) of one document.")
    max_document_pages: int = Field(default=500, ge=1, description="Pages of one document (PDF, TIFF frames).")
    max_upload_chars: int = Field(default=4_000_000, ge=1, description="Characters of the files of one upload.")
    max_upload_chunks: int = Field(default=10_000, ge=1, description="Chunks of the files of one upload.")
    max_upload_pages: int = Field(default=1_000, ge=1, description="Pages of the files of one upload.")
    max_unzipped_mb: float = Field(default=50.0, gt=0, description="DOCX: declared uncompressed size of its parts.")
    max_zip_ratio: float = Field(default=200.0, gt=1, description="DOCX: expansion ratio of a part over 1 MB.")
    max_question_chars: int = 2000
    weak_evidence_threshold: float = 0.35
    # ------------------------------------------------------------------ letterhead (DOCX export)
    hospital_name: str = "Centre Hospitalier Universitaire de Valmont"
    hospital_address: str = "1 avenue de la République, 99000 Valmont"
    hospital_phone: str = "01 23 45 67 89"
    # ------------------------------------------------------------------ UI
    users_file: Path | None = Field(default=None, description="YAML users file; default: <data_dir>/users.yaml")
    ui_port: int = 8000
    # sessions and logins (medassist.sessions): token lifetime, Secure cookie, login throttling
    session_ttl_hours: float = Field(default=12.0, gt=0, description="Lifetime of a UI login (token and session).")
    cookie_secure: Literal["auto", "always"] = Field(
        default="auto", description="auto = Secure cookie when the request came over HTTPS (X-Forwarded-Proto).")
    login_max_failures: int = Field(default=5, ge=1, description="Failed logins per account within the window.")
    login_max_failures_per_address: int = Field(default=20, ge=1, description="Failed logins per client address.")
    login_window_minutes: float = Field(default=5.0, gt=0)

    @field_validator("users_file", mode="before")
    @classmethod
    def _empty_path(cls, v):
        return None if isinstance(v, str) and not v.strip() else v

    @field_validator("llm_base_url", "embedding_url", "qdrant_url", "database_url")
    @classmethod
    def _strip(cls, v: str) -> str:
        return v.strip()

    # ------------------------------------------------------------------ derived paths
    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    @property
    def embedding_model_path(self) -> Path:
        return Path(self.embedding_model) if self.embedding_model else self.models_dir / "embeddinggemma-300m"

    @property
    def embedding_onnx_path(self) -> Path:
        """ONNX export of the local model (fp32 and int8), made by ``medassist setup``."""
        return self.embedding_model_path.with_name(self.embedding_model_path.name + "-onnx")

    @property
    def llm_mode(self) -> Literal["extractive", "local", "remote"]:
        if not self.llm_base_url:
            return "extractive"
        return "local" if self.llm_base_url == "local" else "remote"

    @property
    def llm_effective_url(self) -> str:
        """The /v1 base URL to call ("" in extractive mode)."""
        if self.llm_mode == "local":
            return f"http://127.0.0.1:{self.llm_local_port}/v1"
        return self.llm_base_url

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "medassist.sqlite"

    @property
    def effective_database_url(self) -> str:
        """SQLAlchemy-style URL of the relational database (audit, users, feedback)."""
        return self.database_url or f"sqlite:///{self.sqlite_path}"

    @property
    def tmp_dir(self) -> Path:
        """Short-lived files holding patient data (staged uploads): inside the private data dir,
        never in the shared ``/tmp``."""
        return self.data_dir / "tmp"

    @property
    def sqlite_files(self) -> list[Path]:
        """The SQLite databases kept under the data dir when no PostgreSQL URL is set."""
        if self.database_url:
            return []
        return [self.sqlite_path, self.data_dir / "agent_checkpoints.sqlite", self.data_dir / "ui_chainlit.sqlite"]

    def ensure_dirs(self) -> None:
        """Create the data dir and its folders private to the user (0700), and the SQLite files 0600.

        Why: the data dir holds patient documents, their index, conversations and the audit trail;
        any local user could read them with the default 0755/0644. The data dir itself is tightened
        when it exists with wider rights; an empty file is a valid empty SQLite database, so the
        databases are created here with mode 0600 before SQLite opens them (SQLite gives its
        ``-wal``/``-shm`` files the database file's mode)."""
        for d in (self.data_dir, self.models_dir, self.cache_dir, self.index_dir, self.tmp_dir):
            d.mkdir(mode=0o700, parents=True, exist_ok=True)
        _tighten(self.data_dir, 0o700)
        _tighten(self.tmp_dir, 0o700)
        for f in self.sqlite_files:
            if not f.exists():
                try:
                    os.close(os.open(f, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
                except FileExistsError:  # another process created it meanwhile
                    pass
            for part in (f, f.with_name(f.name + "-wal"), f.with_name(f.name + "-shm")):
                if part.exists():
                    _tighten(part, 0o600)


#: umask of every medassist process: files 0600, folders 0700 (no group or other access)
PRIVATE_UMASK = 0o077


def private_umask() -> int:
    """Make every file this process (and its children) creates private to the user; returns the
    previous umask.

    Why: besides our own files, libraries write patient data where we do not choose the mode
    (Chainlit's session files ``.files/<session>/``, SQLite's journals, exports): with the usual
    umask 022 they were readable by any local user. Called by the command-line entry point and by
    the UI launcher before it starts the Chainlit server (a child inherits the umask).

    >>> old = private_umask(); private_umask() == PRIVATE_UMASK; _ = os.umask(old)
    True
    """
    return os.umask(PRIVATE_UMASK)


def _tighten(path: Path, mode: int) -> None:
    """Drop group/other rights of a path we own (a data dir given by the admin may be shared)."""
    try:
        if path.stat().st_mode & 0o077:
            path.chmod(mode)
    except PermissionError:  # not ours: leave it, the admin chose it
        pass


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings (tests call ``get_settings.cache_clear()`` after changing env)."""
    return Settings()
