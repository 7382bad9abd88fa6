"""Writing an export: role check, audit, one text file per document and a manifest without secrets.

Why its own module: it is the only part with side effects (files, audit); the passes stay pure.
Example: ``export_pseudonymised(User(username="dim", role=Role.coder), "P001", "out/")`` (needs the
retrieval service; tests pass a fake one, see ``tests/test_pseudonymise.py``).

Limits: fails closed — nothing is written when the second pass finds a residual.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import date, datetime, timezone
from pathlib import Path

from pydantic import BaseModel, Field

from medassist import audit
from medassist.access import Action, User, authorize
from tools.pseudonymise.context import PseudoContext
from tools.pseudonymise.engine import pseudonymise_text
from tools.pseudonymise.patterns import CATEGORIES, PSEUDO_VERSION, TOOL
from tools.pseudonymise.residuals import scan_residuals


class ExportedDocument(BaseModel):
    pseudo_id: str
    file: str
    replacements: dict[str, int] = Field(default_factory=dict)


class ResidualEntry(BaseModel):
    doc: str  # pseudonymous document id
    category: str
    position: int  # character offset in the exported text


class ExportReport(BaseModel):
    """What an export did. No original value, no date offset."""

    pseudo_patient_id: str
    out_dir: str
    written: bool
    documents: list[ExportedDocument] = Field(default_factory=list)
    counts: dict[str, int] = Field(default_factory=dict)
    residuals: list[ResidualEntry] = Field(default_factory=list)
    seconds: float = 0.0

    @property
    def clean(self) -> bool:
        return not self.residuals

    def summary_fr(self) -> str:
        counts = ", ".join(f"{k} : {v}" for k, v in self.counts.items()) or "aucun"
        head = (f"Export pseudonymisé {self.pseudo_patient_id} : {len(self.documents)} document(s) "
                f"{'écrit(s) dans ' + self.out_dir if self.written else 'non écrit(s)'}. Remplacements — {counts}.")
        if self.residuals:
            cats = Counter(r.category for r in self.residuals)
            head += (f" Seconde passe : {len(self.residuals)} identifiant(s) résiduel(s) "
                     f"({', '.join(f'{k} : {v}' for k, v in sorted(cats.items()))}).")
        else:
            head += " Seconde passe : aucun identifiant résiduel."
        return head


class PseudonymisationError(RuntimeError):
    """Export refused because the second pass found identifiers; French message, report attached."""

    def __init__(self, message: str, report: ExportReport):
        super().__init__(message)
        self.report = report


DOC_TYPE_FR = {
    "lettre_adressage": "lettre d'adressage", "consultation": "consultation",
    "compte_rendu_operatoire": "compte rendu opératoire", "imagerie": "imagerie", "biologie": "biologie",
    "ordonnance": "ordonnance", "compte_rendu_hospitalisation": "compte rendu d'hospitalisation",
    "transmissions_infirmieres": "transmissions infirmières", "rcp": "RCP", "chimiotherapie": "chimiothérapie",
    "anatomopathologie": "anatomopathologie", "autre": "autre",
}


def export_pseudonymised(user: User, patient_id: str, out_dir: str | Path, *, service=None, seed: int | None = None,
                         fail_on_residual: bool = True, use_edsnlp: bool = True) -> ExportReport:
    """Write one patient's documents, pseudonymised, into ``out_dir`` (new or empty).

    Files: ``<pseudo doc id>.txt`` per document (oldest first) and ``manifest.json`` (pseudonymous
    ids, types, shifted dates, tag legend, counts, rules version — no offset, no original value).
    Authorised for coders only (:data:`Action.export_pseudonymised`), audited with the source
    document ids. With ``fail_on_residual`` (default) nothing is written when the second pass finds
    an identifier: :class:`PseudonymisationError` carries the report.

    ``seed`` makes the offset and the pseudonymous ids reproducible: tests only. Left ``None``, both
    come from :mod:`secrets` and the offset is forgotten when the function returns, so two exports
    of the same patient cannot be linked through their dates.
    """
    authorize(user, Action.export_pseudonymised, patient_id, tool=TOOL)
    t0 = time.perf_counter()
    if service is None:
        from retrieval.service import get_service

        service = get_service()
    patient = service.docs.get_patient(patient_id)
    if patient is None:
        audit.record(user=user, action=Action.export_pseudonymised.value, patient_id=patient_id, tool=TOOL,
                     outcome="error", detail="patient inconnu")
        raise LookupError(f"Patient inconnu : « {patient_id} ».")
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"Le dossier d'export « {out} » existe déjà et n'est pas vide : choisissez un dossier vide.")
    docs = sorted(service.patient_documents(patient_id), key=lambda d: (d.get("date") or "", d["doc_id"]))
    ctx = PseudoContext(patient, seed=seed)
    files: dict[str, str] = {}
    report = ExportReport(pseudo_patient_id=ctx.pseudo_patient_id, out_dir=str(out), written=False)
    manifest_docs = []
    total: Counter = Counter()
    for i, d in enumerate(docs, start=1):
        pseudo_id = f"{ctx.pseudo_patient_id}-D{i:02d}"
        ref = date.fromisoformat(d["date"]) if d.get("date") else None
        res = pseudonymise_text(d["text"] or "", patient, context=ctx, reference_date=ref, use_edsnlp=use_edsnlp)
        title = pseudonymise_text(d.get("title") or "", patient, context=ctx, reference_date=ref,
                                  use_edsnlp=False)
        author = (pseudonymise_text(d["author"], patient, context=ctx, use_edsnlp=False).text
                  if d.get("author") else None)
        fname = f"{pseudo_id}.txt"
        files[fname] = res.text
        counts = res.counts
        total.update(counts)
        report.documents.append(ExportedDocument(pseudo_id=pseudo_id, file=fname, replacements=counts))
        for r in scan_residuals(res.text, ctx, pseudo_id) + scan_residuals(title.text, ctx, pseudo_id + ":titre"):
            report.residuals.append(ResidualEntry(doc=r.doc, category=r.category, position=r.position))
        manifest_docs.append({
            "id": pseudo_id, "file": fname, "type": d.get("doc_type"),
            "type_fr": DOC_TYPE_FR.get(d.get("doc_type") or "", d.get("doc_type")),
            "date": ctx.shift(ref).isoformat() if ref else None, "title": title.text, "author": author,
            "replacements": counts,
        })
    report.counts = {k: total[k] for k in CATEGORIES if total[k]}
    doc_ids = [d["doc_id"] for d in docs]
    if report.residuals and fail_on_residual:
        report.seconds = round(time.perf_counter() - t0, 3)
        audit.record(user=user, action=Action.export_pseudonymised.value, patient_id=patient_id, documents=doc_ids,
                     tool=TOOL, outcome="error", detail=f"export bloqué : {len(report.residuals)} résidu(s)")
        raise PseudonymisationError(
            "Export refusé : la seconde passe a trouvé des identifiants résiduels. " + report.summary_fr(), report)
    manifest = {
        "format": "medassist-pseudonymised-export",
        "rules_version": PSEUDO_VERSION,
        "created": datetime.now(timezone.utc).date().isoformat(),
        "patient": ctx.pseudo_patient_id,
        "documents": manifest_docs,
        "legend": [{"tag": p.tag, "role": p.role} for p in ctx.persons],
        "tags": {"[TEL]": "téléphone", "[EMAIL]": "adresse électronique", "[ADRESSE]": "adresse postale",
                 "[VILLE]": "code postal et commune", "[HOPITAL]": "établissement de santé",
                 "[NIR]": "numéro de sécurité sociale",
                 "[IPP]": "identifiant patient", "[RPPS]": "identifiant de professionnel de santé",
                 "[ID]": "numéro de dossier ou d'examen"},
        "dates": "toutes les dates complètes sont décalées d'un même nombre de jours, propre à ce patient et "
                 "non communiqué ; les intervalles entre dates sont conservés ; les années seules sont inchangées",
        "replacements": report.counts,
        "residuals": len(report.residuals),
        "methods": "métadonnées du dossier (patient.json) + règles (edsnlp eds.dates, expressions régulières, "
                   "titres et rôles, dates en lettres, chiffres normalisés) + liste de prénoms et noms (faker fr)",
    }
    out.mkdir(parents=True, exist_ok=True)
    for fname, body in files.items():
        (out / fname).write_text(body, encoding="utf-8")
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    report.written = True
    report.seconds = round(time.perf_counter() - t0, 3)
    audit.record(user=user, action=Action.export_pseudonymised.value, patient_id=patient_id, documents=doc_ids,
                 tool=TOOL, outcome="ok",
                 detail=f"{len(docs)} document(s), {sum(total.values())} remplacement(s), "
                        f"{len(report.residuals)} résidu(s)")
    return report

