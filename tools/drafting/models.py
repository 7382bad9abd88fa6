"""The JSON shape every draft speaks (discharge letter, convocation, record summary).

Why one model: the CLI (``--json``), the agent, the UI and the DOCX/plain-text renderers all
consume the same object, and the verification pass (:mod:`tools.drafting.verify`) works on any
draft section the same way. Required keys (``kind``, ``sections[].title/text/citations``,
``missing``, ``flags``) are fixed; extra keys (``patient_id``, ``mode``, ``reconciliation``,
``items``, ``meta``) carry what renderers and evaluations need.

Citations point into a document's extracted text (``text[start:end] == quote``). Values taken
from the structured record (``patient.json``) are cited with ``doc_id="patient.json"``, ``field``
set to the JSON path of the value (``"identity.birth_date"``, ``"stays[0].exit_date"``) and the
quote equal to the value as a string, so ``start=0`` and ``end=len(quote)``: the "document" of
such a citation is the value itself (see :func:`tools.drafting.extract.patient_value`). Text
from the user's own request (convocations) is cited as ``doc_id="demande"`` with offsets into
the request string.

Example::

    >>> c = DraftCitation(doc_id="patient.json", field="identity.ipp", quote="80014527", start=0, end=8)
    >>> s = DraftSection(key="patient", title="Patient", text="IPP 80014527", citations=[c])
    >>> Draft(kind="summary", patient_id="P001", sections=[s]).model_dump()["sections"][0]["citations"][0]["quote"]
    '80014527'
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

#: doc_id of citations that quote a value of the structured record.
PATIENT_JSON = "patient.json"
#: doc_id of citations that quote the user's free-text request (convocations).
REQUEST_DOC = "demande"


class DraftError(ValueError):
    """A draft that cannot be produced as asked; the message is French, for the user."""


class DraftCitation(BaseModel):
    model_config = ConfigDict(extra="allow")

    doc_id: str
    quote: str
    start: int
    end: int
    title: str = ""
    date: str | None = None  # ISO date of the source document
    field: str | None = None  # JSON path when doc_id == "patient.json"
    corpus: Literal["patients", "procedures", "request"] = "patients"


class DraftSection(BaseModel):
    model_config = ConfigDict(extra="allow")

    title: str
    text: str
    citations: list[DraftCitation] = Field(default_factory=list)
    key: str = ""  # stable identifier ("motif", "traitement_sortie"...)
    prose: bool = False  # eligible for a generative rewrite (lists and identity blocks stay verbatim)
    generated: bool = False  # text rewritten by the language model and verified


class ReconciliationItem(BaseModel):
    """One line of the entry-vs-discharge medication reconciliation."""

    drug: str  # display name, as written in the record
    key: str  # normalised DCI (lower case, no accents, brand names removed)
    status: Literal["new", "changed", "stopped", "unchanged"]
    entry: str | None = None  # the entry bullet, verbatim
    discharge: str | None = None  # the discharge bullet, verbatim
    entry_dose: str | None = None
    discharge_dose: str | None = None
    reason: str | None = None  # verbatim text giving the reason, when the record gives one
    citations: list[DraftCitation] = Field(default_factory=list)


class Draft(BaseModel):
    model_config = ConfigDict(extra="allow")

    kind: Literal["discharge", "appointment", "summary"]
    patient_id: str
    mode: Literal["extractive", "generative"] = "extractive"
    sections: list[DraftSection] = Field(default_factory=list)
    missing: list[str] = Field(default_factory=list)
    flags: list[str] = Field(default_factory=list)
    reconciliation: list[ReconciliationItem] = Field(default_factory=list)
    #: mandatory item -> "present" | "missing" (discharge letters: the R.1112-1-2 checklist)
    items: dict[str, str] = Field(default_factory=dict)
    #: renderer data (recipient, author, subject, stay, appointment…); never patient text that is not cited
    meta: dict[str, Any] = Field(default_factory=dict)
    stay_id: str | None = None
    created_at: datetime = Field(default_factory=datetime.now)

    def section(self, key: str) -> DraftSection | None:
        return next((s for s in self.sections if s.key == key), None)

    def documents(self) -> list[str]:
        """Ids of the patient documents cited (for the audit trail)."""
        return sorted({c.doc_id for s in self.sections for c in s.citations if c.corpus == "patients"}
                      | {c.doc_id for r in self.reconciliation for c in r.citations if c.corpus == "patients"})
