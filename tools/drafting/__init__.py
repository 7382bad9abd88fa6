"""Drafting tools: discharge letter, convocation and record summary, "extract, then generate".

Every draft is assembled deterministically from cited spans of the record and of the hospital
procedures; an optional language model only rewrites prose sections, and its output is kept only
when the verification pass (:mod:`tools.drafting.verify`) finds every drug, dose, date, number and
CIM-10 code of the rewrite in that section's cited quotes.

Public API::

    draft_discharge(user, patient_id, stay_id=None, *, service=None, llm=None) -> Draft
    draft_appointment(user, patient_id, request, *, now=None, service=None, llm=None) -> Draft
    draft_summary(user, patient_id, *, service=None, llm=None) -> Draft
    render_text(draft, settings=None) -> str          # Jinja2 templates of knowledge/templates
    export_docx(draft, path, settings=None) -> Path   # Word letter with the hospital letterhead
    default_llm(settings=None)                        # the configured model if it may write, else None

Example::

    >>> from medassist.access import User; from medassist.schemas import Role
    >>> d = draft_discharge(User(username="dr.fontaine", role=Role.clinician), "P001")   # doctest: +SKIP
    >>> d.items["traitement_sortie"], d.flags                                           # doctest: +SKIP
    ('present', [])

Errors: :class:`DraftError` (a ``ValueError``, French message) for a request that cannot be
honoured (no stay, unknown patient, convocation without a date or time, date in the past…);
:class:`medassist.access.AccessDenied` for a role that may not draft that document.
"""

from tools.drafting.appointment import draft_appointment, parse_request
from tools.drafting.discharge import MANDATORY_ITEMS, draft_discharge
from tools.drafting.docx_export import export_docx, render_text
from tools.drafting.models import Draft, DraftCitation, DraftError, DraftSection, ReconciliationItem
from tools.drafting.summary import draft_summary
from tools.drafting.verify import default_llm, verify_draft

__all__ = [
    "Draft", "DraftCitation", "DraftError", "DraftSection", "ReconciliationItem", "MANDATORY_ITEMS",
    "draft_discharge", "draft_appointment", "draft_summary", "parse_request", "render_text", "export_docx",
    "default_llm", "verify_draft",
]
