"""Access control: the role × action matrix, in one place, enforced in code.

Tools call :func:`authorize` before touching patient data; the prompt never decides. A denial is
raised as :class:`AccessDenied` (French message for the user) and written to the audit trail.

=====================  =========  =====  =====  ==============================================
action                 clinician  coder  admin  why
=====================  =========  =====  =====  ==============================================
search_record          yes        yes    no     clinical notes: care team and DIM coders only
read_document          yes        yes    no     idem (citation viewer)
code_cim10             yes        yes    no     coding reads the clinical record
draft_discharge        yes        no     no     a medical letter, signed by a physician
draft_summary          yes        no     no     clinical synthesis
draft_appointment      yes        no     yes    secretaries convene patients; the tool reads
                                                only identity, GP and allergies (preparation),
                                                and the latest treatment list for metformin
                                                when the exam uses iodinated contrast
search_procedures      yes        yes    yes    hospital procedures are not patient data
upload_document        yes        no     no     adds to the clinical record
export_pseudonymised   no         yes    no     research extracts go through the DIM
=====================  =========  =====  =====  ==============================================

Patient scope: a user sees only the patients listed for them (``"*"`` = all patients of the
establishment, e.g. DIM coders). Break-glass access is out of scope.

Example::

    >>> u = User(username="dr.martin", role=Role.clinician, patients=["P001"])
    >>> authorize(u, Action.search_record, "P001", audit=False)
    >>> authorize(u, Action.search_record, "P002", audit=False)
    Traceback (most recent call last):
    ...
    medassist.access.AccessDenied: Accès refusé : le patient P002 ne fait pas partie de vos patients.
"""

from __future__ import annotations

from enum import Enum

from medassist import audit as audit_trail
from medassist.schemas import Role, User  # User lives in the schemas (audit records it too); kept importable here


class Action(str, Enum):
    search_record = "search_record"
    read_document = "read_document"
    code_cim10 = "code_cim10"
    draft_discharge = "draft_discharge"
    draft_summary = "draft_summary"
    draft_appointment = "draft_appointment"
    search_procedures = "search_procedures"
    upload_document = "upload_document"
    export_pseudonymised = "export_pseudonymised"


MATRIX: dict[Role, frozenset[Action]] = {
    Role.clinician: frozenset({
        Action.search_record, Action.read_document, Action.code_cim10, Action.draft_discharge,
        Action.draft_summary, Action.draft_appointment, Action.search_procedures, Action.upload_document,
    }),
    Role.coder: frozenset({
        Action.search_record, Action.read_document, Action.code_cim10, Action.search_procedures,
        Action.export_pseudonymised,
    }),
    Role.admin: frozenset({Action.draft_appointment, Action.search_procedures}),
}

ACTION_LABELS_FR: dict[Action, str] = {
    Action.search_record: "consulter le dossier clinique",
    Action.read_document: "lire un document du dossier",
    Action.code_cim10: "proposer un codage CIM-10",
    Action.draft_discharge: "rédiger la lettre de liaison",
    Action.draft_summary: "résumer le dossier",
    Action.draft_appointment: "rédiger une convocation",
    Action.search_procedures: "consulter les procédures",
    Action.upload_document: "ajouter un document au dossier",
    Action.export_pseudonymised: "exporter un dossier pseudonymisé",
}

ROLE_LABELS_FR = {Role.clinician: "médecin", Role.coder: "codeur (DIM)", Role.admin: "secrétariat"}


class AccessDenied(PermissionError):
    """Refusal with a French message for the user."""


def allowed(user: User, action: Action) -> bool:
    return action in MATRIX.get(user.role, frozenset())


def authorize(user: User, action: Action, patient_id: str | None = None, *, audit: bool = True,
              tool: str | None = None) -> None:
    """Raise :class:`AccessDenied` unless ``user`` may do ``action`` on ``patient_id``.

    Denials are audited (who, role, action, patient, tool) — the caller audits successes with the
    documents actually returned.
    """
    reason = None
    if not allowed(user, action):
        reason = (f"Accès refusé : le rôle « {ROLE_LABELS_FR[user.role]} » ne permet pas de "
                  f"{ACTION_LABELS_FR[action]}.")
    elif patient_id is not None and not user.sees(patient_id):
        reason = f"Accès refusé : le patient {patient_id} ne fait pas partie de vos patients."
    if reason is None:
        return
    if audit:
        audit_trail.record(user=user, action=action.value, patient_id=patient_id, tool=tool, outcome="denied")
    raise AccessDenied(reason)
