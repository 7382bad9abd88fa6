"""From a patient's record to a :class:`StructuredRecord`: qualify every mention, keep the patient's.

Why: research teams and tumour registries need one value per field with the sentence it comes from.
Selection rules, per field, only ever read mentions edsnlp qualified as *affirmed* (a relative's
cancer, a negated or hypothetical finding is listed in ``excluded`` with its status, never as a
value):

* primary site: the CIM-10 category with most affirmed mentions (pathology reports weigh 3, RCP 2,
  other documents 1), then its most specific code in the record (a breast quadrant refines C50.9);
  the label is the ATIH label of :mod:`knowledge.cim10`; laterality from the same mentions;
* histology, grade: the most specific label (lexicon rank), pathology reports first;
* receptors, HER2, Ki67, biomarkers: the latest pathology report that states them, else the latest
  document;
* cTNM / pTNM, performance status: the latest stated (a restaging replaces the first stage);
* metastatic sites: every affirmed site; RCP decisions: one per RCP document; treatment lines:
  every regimen given or started (not the RCP proposals), merged by regimen with start/end dates;
* diagnosis date: the first pathology report affirming the cancer; relapse: the first affirmed
  relapse / progression, at the date its sentence states.

Example (the dev-set folders need no index)::

    >>> rec = structure_record(load_folder("knowledge/eval/structure/patients/ONC04"))   # doctest: +SKIP
    >>> rec.value("primary_site"), rec.value("egfr"), rec.value("metastatic_sites")        # doctest: +SKIP
    ('C34.1', 'muté', ['cerveau'])

Limits: one primary cancer per patient (a second primary is reported only in ``excluded`` if it
loses the vote, and never merged); values in tables split across cells are not read; dates are the
document's unless the sentence states one.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path

from knowledge.cim10 import get_catalogue
from medassist import audit
from medassist.access import Action, User, authorize
from medassist.schemas import Patient
from tools.drafting.extract import Record, SourceDoc, load_record, strip_span
from tools.structure.models import Finding, StructuredRecord, StructureError
from tools.structure.qualify import qualify
from tools.structure.rules import Mention, find_mentions

TOOL = "structure_oncology"
PROFILES = ("oncology",)
_DOC_WEIGHT = {"anatomopathologie": 3, "rcp": 2}
_INTERNAL = ("proposal_span", "paired", "edition_span", "side_end", "laterality", "clause_checked", "mentioned")


# --------------------------------------------------------------------------- loading
def load_folder(folder: str | Path) -> Record:
    """A record read straight from a patient folder (``patient.json`` + documents), no index needed:
    the dev set and tests use it; texts are those :mod:`retrieval.parsing` extracts at ingestion."""
    from retrieval.parsing import parse_file

    folder = Path(folder)
    patient = Patient.model_validate_json((folder / "patient.json").read_text(encoding="utf-8"))
    docs = []
    for meta in patient.documents:
        text = parse_file(folder / meta.file).text
        docs.append(SourceDoc(doc_id=meta.id, title=meta.title, doc_type=meta.type, date=meta.date, text=text,
                              author=meta.author, stay_id=meta.stay_id))
    docs.sort(key=lambda d: (d.date or date.min, d.doc_id))
    return Record(patient=patient, docs=docs)


# --------------------------------------------------------------------------- findings
def _finding(m: Mention, *, value=None, label=None, when: date | None = None) -> Finding:
    cits = [m.doc.cite(m.start, m.end)] + [m.doc.cite(a, b) for a, b in m.extra_spans]
    day = when or m.day
    return Finding(field=m.field, value=m.value if value is None else value, label=label or m.label,
                   date=day.isoformat() if day else None, status=m.status, citations=cits,
                   extra={k: v for k, v in m.extra.items() if k not in _INTERNAL})


def _key_latest(m: Mention):
    return (m.doc.date or date.min, m.doc.doc_id, m.start)


def _pathology_first_latest(ms: list[Mention]) -> Mention:
    path = [m for m in ms if m.doc.doc_type == "anatomopathologie"]
    return max(path or ms, key=_key_latest)


def _best_ranked(ms: list[Mention]) -> Mention:
    return min(ms, key=lambda m: (-m.rank, -_DOC_WEIGHT.get(m.doc.doc_type, 1), m.doc.date or date.min, m.start))


def _category(code: str) -> str:
    return code.split(".")[0]


def select(record: Record, mentions: list[Mention]) -> StructuredRecord:
    """Pick the patient's findings among qualified mentions (see the module docstring)."""
    p = record.patient
    out = StructuredRecord(patient_id=p.id, documents=[d.doc_id for d in record.docs], sex=p.identity.sex,
                           birth_year=p.identity.birth_date.year)
    ok = [m for m in mentions if m.status == "affirmed"]
    by: dict[str, list[Mention]] = defaultdict(list)
    for m in ok:
        by[m.field].append(m)
    cat = get_catalogue()
    # ---------------------------------------------------------------- primary site + laterality
    sites = by.get("primary_site", [])
    chosen_cat = None
    if sites:
        votes = Counter()
        for m in sites:
            votes[_category(m.value)] += _DOC_WEIGHT.get(m.doc.doc_type, 1) + m.rank
        chosen_cat = votes.most_common(1)[0][0]
        mine = [m for m in sites if _category(m.value) == chosen_cat]
        specific = [m for m in mine if not m.value.endswith(".9")] or mine
        code_votes = Counter(m.value for m in specific)
        code = max(code_votes, key=lambda c: (code_votes[c], c))
        best = min([m for m in specific if m.value == code],
                   key=lambda m: (-_DOC_WEIGHT.get(m.doc.doc_type, 1), m.doc.date or date.min, m.start))
        extra_cits = []
        if chosen_cat == "C50" and by.get("breast_quadrant"):
            q = Counter(m.value for m in by["breast_quadrant"]).most_common(1)[0][0]
            qm = next(m for m in by["breast_quadrant"] if m.value == q)
            code = q
            extra_cits.append(qm.doc.cite(qm.start, qm.end))
        f = _finding(best, value=code, label=cat.label(code) if code in cat else best.label)
        f.citations += extra_cits
        out.fields["primary_site"] = f
        sided = [m for m in mine if m.extra.get("laterality")]
        if sided:
            side = Counter(m.extra["laterality"] for m in sided).most_common(1)[0][0]
            sm = min([m for m in sided if m.extra["laterality"] == side],
                     key=lambda m: (-_DOC_WEIGHT.get(m.doc.doc_type, 1), m.doc.date or date.min, m.start))
            lat = _finding(sm, value=side, label=None)
            lat.field, lat.label = "laterality", None
            lat.citations = [sm.doc.cite(sm.start, sm.extra["side_end"])]
            out.fields["laterality"] = lat
    # ---------------------------------------------------------------- histology, grade
    for name in ("histology", "grade"):
        if by.get(name):
            out.fields[name] = _finding(_best_ranked(by[name]))
    # ---------------------------------------------------------------- markers
    for name in ("er_pct", "pr_pct", "her2_ihc", "her2_ish", "ki67_pct", "pdl1_pct", "egfr", "kras", "braf",
                 "brca", "msi"):
        if by.get(name):
            out.fields[name] = _finding(_pathology_first_latest(by[name]))
    # ---------------------------------------------------------------- latest stated
    for name in ("ctnm", "ptnm", "performance_status", "stage"):
        if by.get(name):
            out.fields[name] = _finding(max(by[name], key=_key_latest))
    # edition: the one stated with the chosen stage, else the latest stated with any stage of the record
    staged = sorted([m for k in ("ptnm", "ctnm") for m in by.get(k, []) if m.extra.get("edition")],
                    key=lambda m: (all(out.fields[m.field].citations[0].start != m.start or
                                       out.fields[m.field].citations[0].doc_id != m.doc.doc_id for _ in [0]),
                                   tuple(-x.toordinal() if isinstance(x, date) else 0 for x in [m.doc.date or date.min])))
    if staged:
        m = staged[0]
        a, b = m.extra["edition_span"]
        out.fields["tnm_edition"] = Finding(field="tnm_edition", value=str(m.extra["edition"]),
                                            date=m.doc.date.isoformat() if m.doc.date else None,
                                            citations=[m.doc.cite(a, b)])
    # ---------------------------------------------------------------- lists
    mets: dict[str, list[Mention]] = defaultdict(list)
    for m in by.get("metastatic_sites", []):
        mets[m.value].append(m)
    out.lists["metastatic_sites"] = [
        _finding(min(ms, key=_key_latest)) for _, ms in sorted(mets.items(), key=lambda kv: min(_key_latest(m) for m in kv[1]))]
    out.lists["rcp_decisions"] = []
    rcps = [m for m in mentions if m.field == "rcp_decisions" and m.value]
    # one decision per meeting date: the RCP sheet itself first, else the first document naming it
    by_date: dict[str, Mention] = {}
    for m in sorted(rcps, key=lambda m: (bool(m.extra.get("mentioned")), _key_latest(m))):
        by_date.setdefault(m.value, m)
    for m in sorted(by_date.values(), key=lambda m: m.value):
        m.status = "affirmed"  # the meeting happened; its proposal is quoted, not qualified
        f = _finding(m)
        ps = m.extra.get("proposal_span")
        if ps:
            a, b = strip_span(m.doc.text, *ps)
            f.extra["proposal"] = m.doc.text[a:b]
        out.lists["rcp_decisions"].append(f)
    lines: dict[str, list[Mention]] = defaultdict(list)
    for m in by.get("treatments", []):
        lines[m.value].append(m)
    out.lists["treatments"] = []
    for ms in lines.values():
        starts = sorted(m.extra["start"] for m in ms if m.extra.get("start"))
        ends = sorted(m.extra["end"] for m in ms if m.extra.get("end"))
        first = min(ms, key=_key_latest)
        f = _finding(first)
        f.citations = [m.doc.cite(m.start, m.end) for m in sorted(ms, key=_key_latest)]
        f.extra.update({"start": starts[0] if starts else None, "end": ends[-1] if ends else None})
        f.date = f.extra["start"] or min(m.doc.date for m in ms if m.doc.date).isoformat()
        out.lists["treatments"].append(f)
    out.lists["treatments"].sort(key=lambda f: (f.date or "", f.value))
    # ---------------------------------------------------------------- dates
    diag = [m for m in ok if m.doc.doc_type == "anatomopathologie" and
            (m.field == "histology" or (m.field == "primary_site" and _category(m.value) == chosen_cat))]
    if diag:
        m = min(diag, key=lambda m: (m.doc.date or date.min, m.field != "histology", m.start))
        out.fields["diagnosis_date"] = _finding(m, value=m.doc.date.isoformat() if m.doc.date else None, label=None)
        out.fields["diagnosis_date"].field = "diagnosis_date"
    if by.get("relapse_date") and chosen_cat:  # a relapse of what? only once a primary cancer is found
        m = min(by["relapse_date"], key=lambda m: (m.date or m.doc.date or date.min, m.start))
        out.fields["relapse_date"] = _finding(m)
    # ---------------------------------------------------------------- set aside
    seen = set()
    for m in mentions:
        if m.status == "affirmed" or m.field == "breast_quadrant":
            continue
        k = (m.field, str(m.value), m.doc.doc_id, m.start)
        if k not in seen:
            seen.add(k)
            out.excluded.append(_finding(m))
    return out


def structure_record(record: Record, profile: str = "oncology") -> StructuredRecord:
    """The structured record (no access control, no audit: see :func:`structure_patient`)."""
    if profile not in PROFILES:
        raise StructureError(f"Profil inconnu : « {profile} » (profils disponibles : {', '.join(PROFILES)}).")
    if not record.docs:
        raise StructureError(f"Le dossier {record.patient.id} ne contient aucun document.")
    mentions: list[Mention] = []
    for doc in record.docs:
        mentions += qualify(doc, find_mentions(doc))
    return select(record, mentions)


def is_oncology(patient: Patient) -> bool:
    """An oncology / haematology patient: declared specialty, or an RCP / chemotherapy document."""
    spec = " ".join(patient.specialties).lower()
    return ("onco" in spec or "hémato" in spec or "hemato" in spec
            or any(d.type in ("rcp", "chimiotherapie") for d in patient.documents))


def structure_patient(user: User, patient_id: str, profile: str = "oncology", *, service=None,
                      pseudonymise: bool = False, seed: int | None = None) -> StructuredRecord:
    """Structured oncology data of one patient from the indexed record.

    Reading needs ``Action.search_record`` (clinicians and DIM coders, within their patient scope);
    ``pseudonymise=True`` (research extract) needs ``Action.export_pseudonymised`` (coders only),
    like :func:`tools.pseudonymise.export_pseudonymised`. Audited with the documents cited, never
    with values. Example::

        >>> structure_patient(User(username="dim", role=Role.coder, patients=["*"]), "P009")  # doctest: +SKIP
    """
    action = Action.export_pseudonymised if pseudonymise else Action.search_record
    authorize(user, Action.search_record, patient_id, tool=TOOL)
    authorize(user, action, patient_id, tool=TOOL)
    if service is None:
        from retrieval.service import get_service

        service = get_service()
    try:
        record = load_record(service, patient_id)
        rec = structure_record(record, profile)
        if pseudonymise:
            from tools.structure.cohort import pseudonymise_record

            cited = rec.cited_documents()
            rec = pseudonymise_record(rec, record, seed=seed)
    except Exception as exc:
        audit.record(user=user, action=action.value, patient_id=patient_id, tool=TOOL,
                     outcome="error", detail=type(exc).__name__)
        raise
    audit.record(user=user, action=action.value, patient_id=patient_id,
                 documents=cited if pseudonymise else rec.cited_documents(), tool=TOOL, outcome="ok",
                 detail=f"profil {profile}{' pseudonymisé' if pseudonymise else ''} : {len(rec.fields)} champ(s), "
                        f"{sum(len(v) for v in rec.lists.values())} élément(s) de liste")
    return rec


def structure_cohort(user: User, profile: str = "oncology", *, service=None, pseudonymise: bool = False,
                     patients: list[str] | None = None) -> list[StructuredRecord]:
    """Every oncology patient the user may see (or the listed ones), each checked and audited."""
    if service is None:
        from retrieval.service import get_service

        service = get_service()
    ids = patients or [p.id for p in service.docs.list_patients() if user.sees(p.id) and is_oncology(p)]
    return [structure_patient(user, pid, profile, service=service, pseudonymise=pseudonymise) for pid in ids]


def dump(rec: StructuredRecord) -> str:
    return json.dumps(rec.model_dump(mode="json"), ensure_ascii=False, indent=2)
