"""Domain schemas every layer speaks.

One place for the shapes that cross layer boundaries (knowledge -> retrieval -> tools -> agents -> ui)
and for the JSON printed by every ``--json`` CLI command. Pydantic models so that files on disk
(``patient.json``), tool outputs and API payloads are validated the same way.
"""

from __future__ import annotations

from datetime import date
from enum import Enum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Role(str, Enum):
    """User roles. What each may do is defined once, in :mod:`medassist.access`."""

    clinician = "clinician"
    coder = "coder"
    admin = "admin"


class User(BaseModel):
    """Who is asking: a name, one role and the patients they may see (``"*"`` = all).

    Here rather than in :mod:`medassist.access` because the audit trail records users too, and
    access writes to the audit trail: both import it from the schemas, neither from the other."""

    username: str
    role: Role
    display_name: str = ""
    patients: list[str] = Field(default_factory=lambda: ["*"])

    def sees(self, patient_id: str) -> bool:
        return "*" in self.patients or patient_id in self.patients


class Corpus(str, Enum):
    patients = "patients"
    procedures = "procedures"


# --------------------------------------------------------------------------- patient record
class Address(BaseModel):
    street: str
    postcode: str
    city: str


class Practitioner(BaseModel):
    """A doctor outside or inside the hospital (GP, referring specialist, author)."""

    name: str  # "Dr Anne Morel"
    specialty: str | None = None
    address: Address | None = None
    phone: str | None = None
    email: str | None = None
    rpps: str | None = None


class Identity(BaseModel):
    first_name: str
    last_name: str
    birth_name: str | None = None
    sex: Literal["F", "M"]
    birth_date: date
    address: Address | None = None
    phone: str | None = None
    email: str | None = None
    ipp: str  # hospital patient identifier, e.g. "IPP 80012345"
    nir: str | None = None  # fake social-security number (15 digits, synthetic)


class Allergy(BaseModel):
    substance: str
    reaction: str | None = None


class Contact(BaseModel):
    """A relative or trusted person (personne de confiance) named in the record."""

    name: str
    relation: str  # "fille", "époux", "personne de confiance"
    phone: str | None = None


class Stay(BaseModel):
    """A hospital stay (séjour). Dates are ISO in JSON; documents use dd/mm/yyyy."""

    id: str  # "S1"
    unit: str  # "Cardiologie - USIC"
    entry_date: date
    exit_date: date | None = None  # None: still in hospital
    reason: str | None = None
    referring_doctor: str | None = None


class DocumentMeta(BaseModel):
    """Metadata of one file of a patient's record, declared in patient.json."""

    id: str  # unique within the patient, e.g. "P001-D03"
    file: str  # path relative to the patient folder
    type: Literal[
        "lettre_adressage",
        "consultation",
        "compte_rendu_operatoire",
        "imagerie",
        "biologie",
        "ordonnance",
        "compte_rendu_hospitalisation",
        "transmissions_infirmieres",
        "rcp",
        "chimiotherapie",
        "anatomopathologie",
        "autre",
    ]
    date: date
    title: str
    author: str | None = None
    stay_id: str | None = None


class Patient(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str  # "P001"
    identity: Identity
    gp: Practitioner
    allergies: list[Allergy] = Field(default_factory=list)
    contacts: list[Contact] = Field(default_factory=list)
    stays: list[Stay] = Field(default_factory=list)
    documents: list[DocumentMeta] = Field(default_factory=list)
    specialties: list[str] = Field(default_factory=list)

    @property
    def display_name(self) -> str:
        return f"{self.identity.last_name.upper()} {self.identity.first_name}"


# --------------------------------------------------------------------------- retrieval
class Citation(BaseModel):
    """A span of a source document's extracted text. ``text[start:end] == quote``."""

    doc_id: str
    title: str = ""
    date: str | None = None  # ISO date of the document
    page: int | None = None
    quote: str
    start: int
    end: int
    score: float | None = None
    patient_id: str | None = None
    corpus: Corpus = Corpus.patients


class Chunk(BaseModel):
    """One indexed piece of a document, with its place in the document's extracted text."""

    chunk_id: str
    corpus: Corpus
    patient_id: str | None
    doc_id: str
    doc_type: str
    title: str
    date: str | None
    author: str | None = None
    stay_id: str | None = None
    section: str | None = None
    page: int | None = None
    start: int
    end: int
    text: str
    content_hash: str
    #: the passage was read by OCR from a scan: shown to users as « texte reconnu par OCR, à vérifier »
    ocr: bool = False


class SearchHit(BaseModel):
    chunk: Chunk
    score: float
    dense_score: float | None = None
    sparse_score: float | None = None

    def citation(self) -> Citation:
        c = self.chunk
        return Citation(
            doc_id=c.doc_id, title=c.title, date=c.date, page=c.page, quote=c.text, start=c.start,
            end=c.end, score=round(self.score, 4), patient_id=c.patient_id, corpus=c.corpus,
        )


class SearchResult(BaseModel):
    query: str
    corpus: Corpus
    patient_id: str | None
    hits: list[SearchHit]
    weak_evidence: bool
    warning: str | None = None


class IngestError(BaseModel):
    path: str
    message: str  # French


class IngestDuplicate(BaseModel):
    """A new file whose text is already in the record under another document id (not indexed)."""

    path: str
    existing_doc_id: str
    message: str  # French


class IngestProgress(BaseModel):
    """Where an ingestion stands: documents read, chunks embedded, rate and time left.

    >>> IngestProgress(documents_done=3, documents_total=10, chunks_done=40, chunks_total=100,
    ...                embed_seconds=8.0).message
    'Indexation : 3/10 documents, 40/100 fragments, 5.0 fragments/s, reste ≈ 12 s'
    """

    documents_done: int = 0
    documents_total: int = 0
    chunks_done: int = 0
    chunks_total: int = 0
    embed_seconds: float = 0.0
    current: str = ""

    @property
    def rate(self) -> float | None:
        """Chunks embedded per second so far (None before the first batch)."""
        return self.chunks_done / self.embed_seconds if self.chunks_done and self.embed_seconds > 0 else None

    @property
    def eta_seconds(self) -> float | None:
        return (self.chunks_total - self.chunks_done) / self.rate if self.rate else None

    @property
    def message(self) -> str:
        parts = [f"{self.documents_done}/{self.documents_total} documents"]
        if self.chunks_total:
            parts.append(f"{self.chunks_done}/{self.chunks_total} fragments")
        if self.rate:
            eta = self.eta_seconds or 0.0
            left = f"{eta:.0f} s" if eta < 90 else f"{eta / 60:.0f} min"
            parts += [f"{self.rate:.1f} fragments/s", f"reste ≈ {left}"]
        return "Indexation : " + ", ".join(parts)


class IngestReplacement(BaseModel):
    """A document replaced on explicit request (or restored): both versions' sizes, and the
    version number under which the previous one is kept (restorable)."""

    doc_id: str
    path: str
    previous_chars: int
    new_chars: int
    previous_chunks: int
    new_chunks: int
    kept_version: int | None = None
    message: str  # French


class IngestReport(BaseModel):
    added: list[str] = Field(default_factory=list)  # doc ids
    replaced: list[str] = Field(default_factory=list)
    replacements: list[IngestReplacement] = Field(default_factory=list)
    #: French notes on files added under another id than their name gives (no silent overwrite)
    notices: list[str] = Field(default_factory=list)
    unchanged: list[str] = Field(default_factory=list)
    duplicates: list[IngestDuplicate] = Field(default_factory=list)
    errors: list[IngestError] = Field(default_factory=list)
    chunks: int = 0
    seconds: float = 0.0
    embed_seconds: float = 0.0
