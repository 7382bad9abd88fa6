"""CSV cohort (one row per patient, value + date columns), its data dictionary, and pseudonymisation.

Why: a research team or a tumour registry loads a flat table; each column must be described (the
dictionary) and the table must not carry the patient's identity. :func:`pseudonymise_record` uses
the export machinery of :mod:`tools.pseudonymise` (one :class:`PseudoContext` per patient: the
pseudonymous id ``PSN-…``, the secret per-patient date shift, identifiers replaced in quotes) and
refuses (fails closed) when the second pass still finds an identifier in a quote.

Example::

    >>> from tools.structure.models import Finding, StructuredRecord
    >>> r = StructuredRecord(patient_id="P1", fields={"ki67_pct": Finding(field="ki67_pct", value=30, date="2026-02-10")})
    >>> row = cohort_row(r)
    >>> row["patient_id"], row["ki67_pct"], row["ki67_pct_date"], row["er_pct"]
    ('P1', '30', '2026-02-10', '')

Limits: the CSV holds values and dates only — citations are in the JSON and FHIR outputs; list
fields are joined with `` | `` in one cell; the separator is ``;`` (French spreadsheet default).
"""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

from tools.drafting.extract import Record
from tools.structure.models import LIST_FIELDS, SCALAR_FIELDS, STRUCTURE_VERSION, StructuredRecord

SEP = ";"

#: column -> (French description, type / format). Written next to the CSV as the data dictionary.
COLUMNS: dict[str, tuple[str, str]] = {"patient_id": (
    "Identifiant du patient (pseudonyme PSN-… quand l'export est pseudonymisé)", "texte")}
_TYPES = {"er_pct": "entier 0–100", "pr_pct": "entier 0–100", "ki67_pct": "entier 0–100", "pdl1_pct": "entier 0–100",
          "performance_status": "entier 0–4", "primary_site": "code CIM-10 (ATIH), pointé",
          "laterality": "gauche | droite", "her2_ihc": "0 | 1+ | 2+ | 3+", "her2_ish": "amplifié | non amplifié",
          "egfr": "muté | non muté", "kras": "muté | non muté", "braf": "muté | non muté", "brca": "muté | non muté",
          "msi": "MSI | MSS", "ctnm": "TNM normalisé sans espaces (cT2N1M0)", "ptnm": "TNM normalisé (pT1cN0, ypT2N0)",
          "tnm_edition": "entier (8 = UICC/AJCC 8e édition)", "diagnosis_date": "date AAAA-MM-JJ",
          "relapse_date": "date AAAA-MM-JJ"}
for _name, _label in SCALAR_FIELDS.items():
    COLUMNS[_name] = (_label, _TYPES.get(_name, "texte"))
    if _name == "primary_site":
        COLUMNS["primary_site_label"] = ("Libellé CIM-10 (ATIH) de la localisation primitive", "texte")
    if _name not in ("diagnosis_date", "relapse_date"):
        COLUMNS[f"{_name}_date"] = (f"Date de l'information « {_label} » (date du document source, ou date énoncée "
                                    "dans la phrase citée)", "date AAAA-MM-JJ")
COLUMNS["metastatic_sites"] = (LIST_FIELDS["metastatic_sites"] + ", affirmés uniquement",
                               "liste séparée par « | » (os, foie, poumon, cerveau, plèvre, surrénale, péritoine, "
                               "ganglions à distance)")
COLUMNS["metastatic_sites_date"] = ("Date de la première mention affirmée d'un site métastatique", "date AAAA-MM-JJ")
COLUMNS["rcp_dates"] = ("Dates des réunions de concertation pluridisciplinaire", "liste de dates séparées par « | »")
COLUMNS["rcp_count"] = ("Nombre de RCP dans le dossier", "entier")
COLUMNS["treatments"] = ("Lignes de traitement données ou débutées (type:traitement [début→fin]) ; les propositions "
                         "de RCP non réalisées n'y figurent pas", "liste séparée par « | »")
COLUMNS["treatments_count"] = ("Nombre de lignes de traitement", "entier")
COLUMNS["structure_version"] = ("Version des règles d'extraction", "texte")


def cohort_row(rec: StructuredRecord) -> dict[str, str]:
    row = {c: "" for c in COLUMNS}
    row["patient_id"] = rec.patient_id
    for name, f in rec.fields.items():
        if name not in SCALAR_FIELDS:
            continue
        row[name] = "" if f.value is None else str(f.value)
        if f"{name}_date" in row:
            row[f"{name}_date"] = f.date or ""
        if name == "primary_site":
            row["primary_site_label"] = f.label or ""
    mets = rec.lists.get("metastatic_sites", [])
    row["metastatic_sites"] = " | ".join(str(f.value) for f in mets)
    row["metastatic_sites_date"] = min((f.date for f in mets if f.date), default="")
    rcps = rec.lists.get("rcp_decisions", [])
    row["rcp_dates"] = " | ".join(str(f.value) for f in rcps if f.value)
    row["rcp_count"] = str(len(rcps))
    tl = rec.lists.get("treatments", [])
    row["treatments"] = " | ".join(
        f"{f.value} [{f.extra.get('start') or '?'}→{f.extra.get('end') or ''}]" for f in tl)
    row["treatments_count"] = str(len(tl))
    row["structure_version"] = rec.version
    return row


def write_cohort(records: list[StructuredRecord], path: str | Path) -> tuple[Path, Path]:
    """Write the cohort CSV and its dictionary (``<name>.dictionnaire.csv``); returns both paths."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(COLUMNS), delimiter=SEP)
        w.writeheader()
        for rec in records:
            w.writerow(cohort_row(rec))
    dico = path.with_name(path.stem + ".dictionnaire.csv")
    with dico.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, delimiter=SEP)
        w.writerow(["colonne", "description", "type", "version"])
        for col, (desc, typ) in COLUMNS.items():
            w.writerow([col, desc, typ, STRUCTURE_VERSION])
    return path, dico


# --------------------------------------------------------------------------- pseudonymisation
class PseudonymisedOutputError(RuntimeError):
    """The second pass found an identifier in a quote: nothing is returned (French message)."""


def pseudonymise_record(rec: StructuredRecord, record: Record, *, seed: int | None = None) -> StructuredRecord:
    """A copy of ``rec`` for research: pseudonymous patient and document ids, every date shifted
    by the patient's secret offset, identifiers replaced in quotes and titles (the rules of
    :mod:`tools.pseudonymise`), citation offsets re-based on the pseudonymised quote (the
    original text is not shipped); the set-aside mentions (``excluded``) are dropped. ``seed``: tests
    only (see :func:`export_pseudonymised`)."""
    from tools.pseudonymise.context import PseudoContext
    from tools.pseudonymise.engine import pseudonymise_text
    from tools.pseudonymise.residuals import scan_residuals

    ctx = PseudoContext(record.patient, seed=seed)
    doc_ids = {d.doc_id: f"{ctx.pseudo_patient_id}-D{i:02d}" for i, d in enumerate(record.docs, start=1)}
    dates = {d.doc_id: d.date for d in record.docs}
    out = rec.model_copy(deep=True)
    residuals = 0

    def shift(v: str | None) -> str | None:
        if not v:
            return v
        try:
            return ctx.shift(date.fromisoformat(v)).isoformat()
        except ValueError:
            return v

    def fix(f) -> None:
        nonlocal residuals
        f.date = shift(f.date)
        if f.field in ("diagnosis_date", "relapse_date", "rcp_decisions"):
            f.value = shift(f.value)
        for k in ("start", "end"):
            if f.extra.get(k):
                f.extra[k] = shift(f.extra[k])
        if f.extra.get("proposal"):
            f.extra["proposal"] = pseudonymise_text(f.extra["proposal"], record.patient, context=ctx,
                                                    use_edsnlp=False).text
            residuals += len(scan_residuals(f.extra["proposal"], ctx, "proposal"))
        for c in f.citations:
            ref = dates.get(c.doc_id)
            q = pseudonymise_text(c.quote, record.patient, context=ctx, reference_date=ref, use_edsnlp=False).text
            residuals += len(scan_residuals(q, ctx, c.doc_id))
            c.quote, c.start, c.end = q, 0, len(q)
            c.doc_id = doc_ids.get(c.doc_id, c.doc_id)
            c.title = pseudonymise_text(c.title or "", record.patient, context=ctx, use_edsnlp=False).text
            c.date = shift(c.date)

    for f in out.fields.values():
        fix(f)
    for v in out.lists.values():
        for f in v:
            fix(f)
    out.excluded = []  # set-aside mentions (a relative's cancer…) are not shipped to research
    if residuals:
        raise PseudonymisedOutputError(
            f"Sortie pseudonymisée refusée : la seconde passe a trouvé {residuals} identifiant(s) résiduel(s) "
            "dans les citations.")
    out.patient_id = ctx.pseudo_patient_id
    out.documents = [doc_ids[d] for d in rec.documents if d in doc_ids]
    out.pseudonymised = True
    return out
