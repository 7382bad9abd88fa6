"""Coding a patient's stay: the authorised, audited entry point used by the CLI, the agent and the UI.

Collects the documents of the stay (the latest stay when none is named; all documents when the
stay has none), runs :func:`tools.coding.suggest_codes` on their extracted text (evidence offsets
point into those texts) and records the access in the audit trail.

Example::

    >>> from medassist.access import User; from medassist.schemas import Role
    >>> res = code_patient(User(username="dim", role=Role.coder), "P001")     # doctest: +SKIP
    >>> res.result.suggestions[0].code, res.stay_id                         # doctest: +SKIP
    ('I50.02', 'S1')
"""

from __future__ import annotations

from pydantic import BaseModel

from medassist import audit
from medassist.access import Action, User, authorize
from tools.coding.extract import suggest_codes
from tools.coding.schemas import CodingResult, SourceText


class PatientCoding(BaseModel):
    patient_id: str
    stay_id: str | None
    documents: list[dict]  # [{"doc_id", "title", "date"}] the sources that were read
    result: CodingResult


def stay_documents(service, patient_id: str, stay_id: str | None) -> tuple[list[dict], str | None]:
    """Documents of ``stay_id`` (default: the latest stay) with their extracted text."""
    patient = service.docs.get_patient(patient_id)
    docs = service.patient_documents(patient_id)
    stays = sorted(patient.stays, key=lambda s: s.entry_date) if patient else []
    if stay_id and not any(s.id == stay_id for s in stays):
        raise LookupError(f"Séjour inconnu pour le patient {patient_id} : « {stay_id} ».")
    stay = stay_id or (stays[-1].id if stays else None)
    in_stay = [d for d in docs if d.get("stay_id") == stay] if stay else []
    return (in_stay or docs), stay


def code_patient(user: User, patient_id: str, stay_id: str | None = None, *, service=None, llm=None,
                 label_search=None) -> PatientCoding:
    authorize(user, Action.code_cim10, patient_id, tool="suggest_codes")
    if service is None:
        from retrieval.service import get_service

        service = get_service()
    docs, stay = stay_documents(service, patient_id, stay_id)
    result = suggest_codes([SourceText(source=d["doc_id"], text=d["text"]) for d in docs], llm=llm,
                           label_search=label_search)
    audit.record(user=user, action=Action.code_cim10.value, patient_id=patient_id,
                 documents=[d["doc_id"] for d in docs], tool="suggest_codes")
    return PatientCoding(patient_id=patient_id, stay_id=stay,
                         documents=[{"doc_id": d["doc_id"], "title": d["title"], "date": d["date"]} for d in docs],
                         result=result)
