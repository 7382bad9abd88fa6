"""Structured, cited oncology data for research: JSON, CSV cohort + data dictionary, FHIR R4 Bundle.

Why: a research team or a tumour registry needs fields (primary site, histology, TNM, receptors,
biomarkers, metastases, RCP decisions, treatment lines, dates), each traceable to the sentence it
comes from. Extraction is deterministic: rules over accent-folded text (:mod:`.rules`, vocabulary
in :mod:`knowledge.oncology`), edsnlp for TNM and for the qualifiers (:mod:`.qualify`), and
selection rules that only ever keep *affirmed* findings (:mod:`.extract`): a mother's ovarian cancer,
« pas de métastase hépatique » or « métastase non exclue » are listed apart, never as values.

Public API::

    structure_patient(user, patient_id, "oncology", *, service=None, pseudonymise=False) -> StructuredRecord
    structure_cohort(user, "oncology", *, service=None, pseudonymise=False) -> list[StructuredRecord]
    structure_record(record) -> StructuredRecord          # no access control (tests, evaluation)
    load_folder(path) -> Record                           # a patient folder, without the index
    write_cohort(records, "cohorte.csv") -> (csv, dictionary)
    to_bundle(rec) -> dict ; validate_bundle(bundle)      # FHIR R4(B), fhir.resources models

Example::

    >>> rec = structure_record(load_folder("knowledge/eval/structure/patients/ONC02"))     # doctest: +SKIP
    >>> rec.value("ptnm"), rec.value("brca")  # the sister's BRCA2 mutation is not the patient's  # doctest: +SKIP
    ('pT1cN0', None)

Roles: reading needs ``search_record`` (clinicians, DIM coders); ``pseudonymise=True`` needs
``export_pseudonymised`` (coders only). Every call is audited with the cited document ids.
Limits: one primary cancer per patient; French rules tuned on a 12-patient dev set
(``knowledge/eval/structure``); no language model is used yet (free-text fields are quoted).
"""

from tools.structure.cohort import PseudonymisedOutputError, cohort_row, pseudonymise_record, write_cohort
from tools.structure.extract import is_oncology, load_folder, structure_cohort, structure_patient, structure_record
from tools.structure.fhir import to_bundle, validate_bundle
from tools.structure.models import (
    ALL_FIELDS,
    LIST_FIELDS,
    SCALAR_FIELDS,
    STRUCTURE_VERSION,
    Finding,
    StructuredRecord,
    StructureError,
)

__all__ = [
    "ALL_FIELDS",
    "LIST_FIELDS",
    "SCALAR_FIELDS",
    "STRUCTURE_VERSION",
    "Finding",
    "PseudonymisedOutputError",
    "StructureError",
    "StructuredRecord",
    "cohort_row",
    "is_oncology",
    "load_folder",
    "pseudonymise_record",
    "structure_cohort",
    "structure_patient",
    "structure_record",
    "to_bundle",
    "validate_bundle",
    "write_cohort",
]
