"""FHIR R4 Bundle of a structured oncology record, validated with the ``fhir.resources`` models.

Why FHIR: research warehouses and registries ingest FHIR; each resource carries its evidence in
``note`` (the quoted span, document id and offsets), so a reader can go back to the sentence.

Mapping (French Core profiles are followed where they define the element — ``Patient.gender``,
``birthDate`` with year precision, CIM-10 codes in ``Condition.code`` with the ANS terminology
URL; the oncology elements themselves are plain R4):

=========================  ==================================================================
Patient                    pseudonymous or local id, gender, birth year only
Condition                  primary cancer: CIM-10 code + ATIH label, ``bodySite`` (site and
                           laterality), ``stage`` (cTNM, pTNM, Ann Arbor/ISS/Binet), onset =
                           diagnosis date, ``abatement``: none; relapse in ``note``
Observation                histology, grade, TNM, edition, RE/RP, HER2 IHC/ISH, Ki67, PD-L1,
                           EGFR/KRAS/BRAF/BRCA, MSI, performance status, each metastatic site
Procedure                  surgery, radiotherapy, each RCP (proposal in ``note``)
MedicationStatement        chemotherapy, targeted therapy, immunotherapy, hormone therapy
=========================  ==================================================================

``fhir.resources`` 8 ships R4B (R4 with technical corrections; these resources are unchanged) and
R5: we build and validate with ``fhir.resources.R4B``.

Example::

    >>> from tools.structure.models import Finding, StructuredRecord
    >>> r = StructuredRecord(patient_id="P1", sex="F", birth_year=1968,
    ...     fields={"primary_site": Finding(field="primary_site", value="C50.4",
    ...                                     label="Tumeur maligne du quadrant supéro-externe du sein")})
    >>> b = to_bundle(r)
    >>> [e["resource"]["resourceType"] for e in b["entry"]]
    ['Patient', 'Condition']

Limits: local codes (``FIELD_SYSTEM``) name the observations — LOINC/SNOMED CT bindings are left
to the receiving warehouse; treatments are text (regimen names), not UCD/ATC codes.
"""

from __future__ import annotations

import uuid
from typing import Any

from tools.structure.models import ALL_FIELDS, Finding, StructuredRecord

CIM10_SYSTEM = "https://smt.esante.gouv.fr/terminologie-cim-10/"
FIELD_SYSTEM = "https://medassist.local/fhir/CodeSystem/oncology-field"
_NS = uuid.UUID("6f1c2a7e-3b8d-4f3e-9a51-7d2c0e4b9f10")
_OBS_FIELDS = ("histology", "grade", "ctnm", "ptnm", "tnm_edition", "stage", "er_pct", "pr_pct", "her2_ihc", "her2_ish",
               "ki67_pct", "pdl1_pct", "egfr", "kras", "braf", "brca", "msi", "performance_status")
_SYSTEMIC = ("chimiothérapie", "thérapie ciblée", "immunothérapie", "hormonothérapie")


def _uid(rec: StructuredRecord, *parts: Any) -> str:
    return "urn:uuid:" + str(uuid.uuid5(_NS, "|".join([rec.patient_id, *map(str, parts)])))


def _notes(f: Finding) -> list[dict]:
    out = []
    for c in f.citations:
        out.append({"text": f"Preuve : « {c.quote} » — document {c.doc_id}"
                            + (f" du {c.date}" if c.date else "") + f", caractères {c.start}-{c.end}."})
    return out


def _concept(field: str) -> dict:
    return {"coding": [{"system": FIELD_SYSTEM, "code": field, "display": ALL_FIELDS.get(field, field)}],
            "text": ALL_FIELDS.get(field, field)}


def _value(field: str, f: Finding) -> dict:
    if field.endswith("_pct"):
        return {"valueQuantity": {"value": int(f.value), "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"}}
    if field == "performance_status":
        return {"valueInteger": int(f.value)}
    return {"valueString": str(f.value)}


def to_bundle(rec: StructuredRecord) -> dict:
    """The Bundle as a JSON-ready dict (type ``collection``), validated by :func:`validate_bundle` in tests."""
    pat_url = _uid(rec, "Patient")
    ref = {"reference": pat_url}
    entries: list[dict] = []
    patient: dict[str, Any] = {"resourceType": "Patient", "id": rec.patient_id,
                               "identifier": [{"system": "https://medassist.local/fhir/patient-id"
                                               + ("/pseudonyme" if rec.pseudonymised else ""), "value": rec.patient_id}]}
    if rec.sex in ("F", "M"):
        patient["gender"] = "female" if rec.sex == "F" else "male"
    if rec.birth_year:
        patient["birthDate"] = str(rec.birth_year)
    entries.append({"fullUrl": pat_url, "resource": patient})
    site = rec.fields.get("primary_site")
    if site:
        cond: dict[str, Any] = {
            "resourceType": "Condition",
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                           "code": "recurrence" if "relapse_date" in rec.fields else "active"}]},
            "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                                               "code": "confirmed"}]},
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category",
                                      "code": "problem-list-item"}], "text": "Cancer primitif"}],
            "code": {"coding": [{"system": CIM10_SYSTEM, "code": str(site.value), "display": site.label or str(site.value)}],
                     "text": site.label or str(site.value)},
            "subject": ref, "note": _notes(site)}
        body = site.label or str(site.value)
        lat = rec.fields.get("laterality")
        if lat:
            body += f", {lat.value}"
            cond["note"] += _notes(lat)
        cond["bodySite"] = [{"text": body}]
        stages = []
        for k, kind in (("ctnm", "clinique (cTNM)"), ("ptnm", "pathologique (pTNM)"), ("stage", "hématologique")):
            f = rec.fields.get(k)
            if f:
                ed = rec.fields.get("tnm_edition")
                suffix = f" — TNM {ed.value}e édition" if ed and k != "stage" else ""
                stages.append({"summary": {"text": f"{f.value}{suffix}"}, "type": {"text": f"Stade {kind}"}})
        if stages:
            cond["stage"] = stages
        diag = rec.fields.get("diagnosis_date")
        if diag and diag.value:
            cond["onsetDateTime"] = str(diag.value)
        rel = rec.fields.get("relapse_date")
        if rel and rel.value:
            cond["note"] += [{"text": f"Récidive / progression le {rel.value}."}] + _notes(rel)
        entries.append({"fullUrl": _uid(rec, "Condition"), "resource": cond})
    cond_ref = {"reference": _uid(rec, "Condition")} if site else None
    for field in _OBS_FIELDS:
        f = rec.fields.get(field)
        if not f or f.value is None:
            continue
        obs: dict[str, Any] = {"resourceType": "Observation", "status": "final", "code": _concept(field),
                               "subject": ref, **_value(field, f), "note": _notes(f)}
        if f.date:
            obs["effectiveDateTime"] = f.date
        if cond_ref:
            obs["focus"] = [cond_ref]
        entries.append({"fullUrl": _uid(rec, "Observation", field), "resource": obs})
    for f in rec.lists.get("metastatic_sites", []):
        obs = {"resourceType": "Observation", "status": "final", "code": _concept("metastatic_sites"), "subject": ref,
               "valueCodeableConcept": {"text": str(f.value)}, "bodySite": {"text": str(f.value)}, "note": _notes(f)}
        if f.date:
            obs["effectiveDateTime"] = f.date
        entries.append({"fullUrl": _uid(rec, "Observation", "metastasis", f.value), "resource": obs})
    for f in rec.lists.get("rcp_decisions", []):
        proc = {"resourceType": "Procedure", "status": "completed", "subject": ref,
                "code": {"text": "Réunion de concertation pluridisciplinaire (RCP)"},
                "note": ([{"text": f"Proposition : {f.extra['proposal']}"}] if f.extra.get("proposal") else []) + _notes(f)}
        if f.value:
            proc["performedDateTime"] = str(f.value)
        entries.append({"fullUrl": _uid(rec, "RCP", f.value), "resource": proc})
    for f in rec.lists.get("treatments", []):
        kind, key = f.extra.get("type", ""), f.extra.get("key", str(f.value))
        start, end = f.extra.get("start"), f.extra.get("end")
        period = {k: v for k, v in (("start", start), ("end", end)) if v}
        if kind in _SYSTEMIC:
            res: dict[str, Any] = {"resourceType": "MedicationStatement", "status": "completed" if end else "active",
                                   "medicationCodeableConcept": {"text": key},
                                   "category": {"text": kind}, "subject": ref, "note": _notes(f)}
            if period:
                res["effectivePeriod"] = period
            if cond_ref:
                res["reasonReference"] = [cond_ref]
        else:
            res = {"resourceType": "Procedure", "status": "completed" if (kind == "chirurgie" or end) else "in-progress",
                   "category": {"text": kind}, "code": {"text": key}, "subject": ref, "note": _notes(f)}
            if period:
                res["performedPeriod"] = period
            if cond_ref:
                res["reasonReference"] = [cond_ref]
        entries.append({"fullUrl": _uid(rec, "Treatment", f.value), "resource": res})
    return {"resourceType": "Bundle", "id": str(uuid.uuid5(_NS, rec.patient_id + "|bundle")), "type": "collection",
            "timestamp": rec.created_at.isoformat(), "entry": entries}


def validate_bundle(bundle: dict):
    """Parse the bundle and every resource with the ``fhir.resources`` R4B models (raises on error)."""
    from fhir.resources.R4B import get_fhir_model_class

    model = get_fhir_model_class("Bundle").model_validate(bundle)
    for e in bundle.get("entry", []):
        get_fhir_model_class(e["resource"]["resourceType"]).model_validate(e["resource"])
    return model
