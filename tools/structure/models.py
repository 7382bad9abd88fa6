"""The JSON shape of a structured oncology record: one :class:`Finding` per field, each cited.

Why: the CLI (``--json``), the CSV cohort, the FHIR bundle, the UI table and the evaluation all read
the same object. A finding carries its value, its date, the citation(s) it comes from (document id,
verbatim quote, offsets with ``text[start:end] == quote``, the one citation shape of the drafting
tools) and a status: only ``affirmed`` findings are the patient's; ``negated``, ``hypothetical`` and
``family`` mentions are kept apart in :attr:`StructuredRecord.excluded` so a reader can see what
was set aside and why, and nothing downstream (CSV, FHIR, eval) ever reads them as the patient's.

Example::

    >>> from tools.drafting.models import DraftCitation
    >>> c = DraftCitation(doc_id="D1", quote="Ki67 : 30 %", start=0, end=11)
    >>> f = Finding(field="ki67_pct", value=30, date="2026-02-10", citations=[c])
    >>> r = StructuredRecord(patient_id="P1", fields={"ki67_pct": f})
    >>> r.value("ki67_pct"), r.value("er_pct")
    (30, None)
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tools.drafting.models import DraftCitation

Status = Literal["affirmed", "negated", "hypothetical", "family"]
STATUS_FR = {"affirmed": "affirmé", "negated": "nié", "hypothetical": "hypothétique", "family": "antécédent familial"}

#: Bump when extraction rules change (written into every output and into metrics exports).
STRUCTURE_VERSION = "onco-1.0"

#: Single-valued fields, in display order, with their French label (CSV dictionary, UI table).
SCALAR_FIELDS: dict[str, str] = {
    "primary_site": "Localisation primitive (code CIM-10)",
    "laterality": "Latéralité",
    "histology": "Type histologique",
    "grade": "Grade (SBR, Gleason, différenciation)",
    "ctnm": "Classification TNM clinique (cTNM), la plus récente",
    "ptnm": "Classification TNM pathologique (pTNM / ypTNM), la plus récente",
    "tnm_edition": "Édition de la classification TNM",
    "stage": "Stade hématologique (Ann Arbor, ISS, Binet)",
    "er_pct": "Récepteurs aux œstrogènes (%)",
    "pr_pct": "Récepteurs à la progestérone (%)",
    "her2_ihc": "HER2 en immunohistochimie (score)",
    "her2_ish": "HER2 en hybridation in situ",
    "ki67_pct": "Ki67 (%)",
    "egfr": "Statut mutationnel EGFR",
    "kras": "Statut mutationnel KRAS",
    "braf": "Statut mutationnel BRAF",
    "brca": "Statut mutationnel BRCA1/2",
    "pdl1_pct": "PD-L1 (% de cellules tumorales)",
    "msi": "Statut microsatellitaire (MSI / MSS)",
    "performance_status": "Performance status OMS/ECOG (le plus récent)",
    "diagnosis_date": "Date du diagnostic (premier compte rendu anatomopathologique)",
    "relapse_date": "Date de récidive ou de progression",
}
#: Multi-valued fields.
LIST_FIELDS: dict[str, str] = {
    "metastatic_sites": "Sites métastatiques",
    "rcp_decisions": "Décisions de RCP (date et proposition)",
    "treatments": ("Lignes de traitement (chirurgie, chimiothérapie, radiothérapie, hormonothérapie, thérapie ciblée, "
                   "immunothérapie)"),
}
ALL_FIELDS = {**SCALAR_FIELDS, **LIST_FIELDS}


class StructureError(ValueError):
    """A request that cannot be honoured (unknown profile, no document); French message."""


class Finding(BaseModel):
    model_config = ConfigDict(extra="allow")

    field: str
    value: Any
    label: str | None = None  # human label of a coded value (CIM-10 label, regimen type…)
    date: str | None = None  # ISO date the value refers to (document date unless the text states one)
    status: Status = "affirmed"
    citations: list[DraftCitation] = Field(default_factory=list)
    extra: dict[str, Any] = Field(default_factory=dict)  # start/end of a treatment line, proposal…

    @property
    def citation(self) -> DraftCitation | None:
        return self.citations[0] if self.citations else None


class StructuredRecord(BaseModel):
    model_config = ConfigDict(extra="allow")

    patient_id: str
    profile: Literal["oncology"] = "oncology"
    version: str = STRUCTURE_VERSION
    fields: dict[str, Finding] = Field(default_factory=dict)
    lists: dict[str, list[Finding]] = Field(default_factory=dict)
    excluded: list[Finding] = Field(default_factory=list)  # mentions that are not the patient's finding
    documents: list[str] = Field(default_factory=list)
    pseudonymised: bool = False
    sex: str | None = None  # "F"/"M" from patient.json (FHIR Patient.gender)
    birth_year: int | None = None
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    def value(self, name: str) -> Any:
        if name in self.lists:
            return [f.value for f in self.lists[name]]
        f = self.fields.get(name)
        return f.value if f else None

    def cited_documents(self) -> list[str]:
        """Ids of the documents cited by the patient's findings (for the audit trail)."""
        found = [f for f in self.fields.values()] + [f for v in self.lists.values() for f in v]
        return sorted({c.doc_id for f in found for c in f.citations})
