"""Synthèse du dossier: history, allergies, current treatment, recent events, pending items — all cited.

Why: a physician opening a record wants the state of the patient *now*, with a way to check each
line. Every section quotes the most recent document that holds it; dates and titles of those
documents are cited from their declaration in ``patient.json`` so that the verification pass can
check them too.

* Antécédents: the "Antécédents" section of the most recent document that has one.
* Allergies: ``patient.json`` plus the "Allergies" section of the most recent document.
* Traitement actuel: the most recent full treatment list (discharge list, ordonnance, "Traitement en
  cours"), then the "Modifications thérapeutiques" of later documents, quoted in date order.
* Événements récents: the conclusions of the three most recent documents that have one.
* En attente: "Résultats en attente" of the most recent document that has the section, and the
  "Suivi" of the most recent document that has one.

Example::

    >>> from medassist.access import User; from medassist.schemas import Role
    >>> d = draft_summary(User(username="dr", role=Role.clinician), "P001")      # doctest: +SKIP
    >>> [s.key for s in d.sections]                                              # doctest: +SKIP
    ['patient', 'antecedents', 'allergies', 'traitement_actuel', 'evenements_recents', 'resultats_attente', 'suivi']

Limits: "current" means "most recent in the record": a treatment changed outside the hospital is
not known; a result listed as pending may have arrived in a later document (the source date is
shown so the reader can tell).
"""

from __future__ import annotations

from knowledge.dates import fr_date
from medassist.access import Action, User, authorize
from tools.drafting.common import body_lines, doc_ref, finish
from tools.drafting.extract import Record, SourceDoc, latest_treatment, load_record, pjson
from tools.drafting.models import Draft, DraftSection

RECENT_EVENTS = 3


def _latest_with(record: Record, *names: str) -> tuple[SourceDoc, object] | None:
    for doc in reversed(record.docs):
        for sec in doc.find_sections(*names):
            if body_lines(doc, sec):
                return doc, sec
    return None


def _quoted(record: Record, found, *, key: str, title: str, prose: bool) -> DraftSection:
    doc, sec = found
    label, cits = doc_ref(record, doc)
    spans = body_lines(doc, sec)
    text = [f"Source : {label}"] + [doc.text[s:e] for s, e in spans]
    return DraftSection(key=key, title=title, prose=prose, text="\n".join(text),
                        citations=cits + [doc.cite(s, e) for s, e in spans])


def build_summary(record: Record) -> Draft:
    """The extractive summary (no access control, no audit: see :func:`draft_summary`)."""
    p = record.patient
    draft = Draft(kind="summary", patient_id=p.id)
    ident = p.identity
    born = "née" if ident.sex == "F" else "né"
    paths = ["identity.sex", "identity.last_name", "identity.first_name", "identity.birth_date", "identity.ipp"]
    civ = "Mme" if ident.sex == "F" else "M."
    draft.sections.append(DraftSection(
        key="patient", title="Patient", text=f"{civ} {ident.last_name} {ident.first_name}, {born} le "
                                             f"{fr_date(ident.birth_date)}, IPP {ident.ipp}",
        citations=[c for x in paths if (c := pjson(p, x))]))
    draft.meta["patient"] = {"name": f"{civ} {ident.last_name} {ident.first_name}", "ipp": ident.ipp,
                             "birth_date": ident.birth_date.isoformat()}
    # ------------------------------------------------------------ history
    found = _latest_with(record, "Antécédents")
    if found:
        draft.sections.append(_quoted(record, found, key="antecedents", title="Antécédents", prose=True))
    else:
        draft.missing.append("Antécédents : aucune rubrique « Antécédents » dans les documents du dossier.")
    # ------------------------------------------------------------ allergies
    parts, cits = [], []
    for k, a in enumerate(p.allergies):
        parts.append(a.substance + (f" ({a.reaction})" if a.reaction else ""))
        cits += [c for x in (f"allergies[{k}].substance", f"allergies[{k}].reaction") if (c := pjson(p, x))]
    found = _latest_with(record, "Allergies")
    if found:
        doc, sec = found
        label, dc = doc_ref(record, doc)
        spans = body_lines(doc, sec)
        parts += [f"Source : {label}"] + [doc.text[s:e] for s, e in spans]
        cits += dc + [doc.cite(s, e) for s, e in spans]
    if parts:
        draft.sections.append(DraftSection(key="allergies", title="Allergies", text="\n".join(parts), citations=cits))
    else:
        draft.missing.append("Allergies : non renseignées (ni dans le dossier administratif, ni dans les documents).")
    # ------------------------------------------------------------ current treatment
    base, later = latest_treatment(record)
    if base is None:
        draft.missing.append("Traitement actuel : aucune liste de traitements dans les documents du dossier.")
    else:
        label, cits = doc_ref(record, base.doc)
        text = [f"Dernière liste de traitements : {label}"]
        for m in base.meds:
            text.append(f"- {m.line}")
            cits.append(base.doc.cite(m.start, m.end))
        for doc, sec in later:
            spans = body_lines(doc, sec)
            if not spans:
                continue
            lab, dc = doc_ref(record, doc)
            text.append(f"Modifications ultérieures : {lab}")
            cits += dc
            for s, e in spans:
                t = doc.text[s:e]
                text.append(t if t.startswith("-") else f"- {t}")
                cits.append(doc.cite(s, e))
        draft.sections.append(DraftSection(key="traitement_actuel", title="Traitement actuel", text="\n".join(text),
                                           citations=cits))
        draft.meta["treatment_source"] = base.doc.doc_id
    # ------------------------------------------------------------ recent events
    text, cits, n = [], [], 0
    for doc in reversed(record.docs):
        secs = doc.find_sections("Conclusion") or doc.find_sections("Diagnostic")
        spans = [sp for sec in secs for sp in body_lines(doc, sec)]
        if not spans:
            continue
        label, dc = doc_ref(record, doc)
        text.append(f"{label} :")
        cits += dc
        for s, e in spans:
            text.append(doc.text[s:e])
            cits.append(doc.cite(s, e))
        n += 1
        if n >= RECENT_EVENTS:
            break
    if text:
        draft.sections.append(DraftSection(key="evenements_recents", title="Événements récents", prose=True,
                                           text="\n".join(text), citations=cits))
    else:
        draft.missing.append("Événements récents : aucune conclusion de séjour ou de consultation dans le dossier.")
    # ------------------------------------------------------------ pending items
    found = _latest_with(record, "Résultats en attente")
    if found:
        draft.sections.append(_quoted(record, found, key="resultats_attente", title="Résultats en attente", prose=True))
    else:
        draft.missing.append("Résultats en attente : aucune rubrique dans les documents du dossier.")
    found = _latest_with(record, "Suivi")
    if found:
        draft.sections.append(_quoted(record, found, key="suivi", title="Suivi prévu", prose=True))
    else:
        draft.missing.append("Suivi prévu : aucune rubrique de suivi dans les documents du dossier.")
    draft.meta["subject"] = f"Synthèse du dossier de {civ} {ident.last_name} {ident.first_name}"
    return draft


def draft_summary(user: User, patient_id: str, *, service=None, llm=None) -> Draft:
    """Record summary for ``patient_id`` (clinicians only; audited with the documents cited)."""
    authorize(user, Action.draft_summary, patient_id, tool="draft_summary")
    from retrieval.service import get_service

    svc = service or get_service()
    draft = build_summary(load_record(svc, patient_id))
    return finish(draft, user=user, action=Action.draft_summary, tool="draft_summary", llm=llm)


__all__ = ["draft_summary", "build_summary"]
