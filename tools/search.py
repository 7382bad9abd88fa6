"""Search tools: the only way agents and UI read the record, each call authorised and audited.

Every function takes the calling :class:`~medassist.access.User` first; scope (patient id) and
role are checked here, in code, before the store is queried, and the document ids returned are
written to the audit trail.

Example::

    >>> from medassist.access import User; from medassist.schemas import Role
    >>> search_record(User(username="sec", role=Role.admin), "P001", "allergies")   # doctest: +SKIP
    Traceback (most recent call last):
    medassist.access.AccessDenied: Accès refusé : le rôle « secrétariat » ne permet pas de consulter le dossier clinique.
"""

from __future__ import annotations

from medassist import audit
from medassist.access import Action, User, authorize
from medassist.schemas import SearchResult
from retrieval.service import RetrievalService, get_service
from retrieval.store import Scope


def search_record(user: User, patient_id: str, query: str, *, k: int = 5,
                  service: RetrievalService | None = None) -> SearchResult:
    """Hybrid search in one patient's record (scope = that patient only)."""
    authorize(user, Action.search_record, patient_id, tool="search_record")
    svc = service or get_service()
    result = svc.search(Scope.patient(patient_id), query, k=k)
    audit.record(user=user, action=Action.search_record.value, patient_id=patient_id,
                 documents=[h.chunk.doc_id for h in result.hits], tool="search_record")
    return result


def search_procedures(user: User, query: str, *, k: int = 5, service: RetrievalService | None = None) -> SearchResult:
    """Search the hospital procedure corpus (no patient data)."""
    authorize(user, Action.search_procedures, None, tool="search_procedures")
    svc = service or get_service()
    return svc.search(Scope.procedures(), query, k=k)


def read_document(user: User, patient_id: str, doc_id: str, *, service: RetrievalService | None = None) -> dict:
    """The full extracted text and metadata of one document of the patient (citation viewer)."""
    authorize(user, Action.read_document, patient_id, tool="read_document")
    svc = service or get_service()
    doc = svc.document_text(Scope.patient(patient_id), doc_id)
    if doc is None:
        raise LookupError(f"Document introuvable dans le dossier {patient_id} : « {doc_id} ».")
    audit.record(user=user, action=Action.read_document.value, patient_id=patient_id, documents=[doc_id],
                 tool="read_document")
    return doc


def read_procedure(user: User, doc_id: str, *, service: RetrievalService | None = None) -> dict:
    authorize(user, Action.search_procedures, None, tool="read_procedure")
    svc = service or get_service()
    doc = svc.document_text(Scope.procedures(), doc_id)
    if doc is None:
        raise LookupError(f"Procédure introuvable : « {doc_id} ».")
    return doc


__all__ = ["search_record", "search_procedures", "read_document", "read_procedure"]
