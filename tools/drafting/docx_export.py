"""Rendering of a draft: plain text (Jinja2 templates) and a Word letter with the hospital letterhead.

Why: the draft is data (sections + citations); the physician or the secretary needs a letter they
can correct and sign. The plain text is rendered by the templates of ``knowledge/templates``
(one per kind, editable by the hospital without touching code); the DOCX is built with python-docx:
letterhead from the settings (hospital name, address, phone), date, recipient block (GP for the
discharge letter, patient for a convocation), subject, sections, the medication reconciliation
table, a signature block, then the items to complete, the points to check and the list of sources.

Example::

    >>> from tools.drafting.models import Draft, DraftSection
    >>> from medassist.settings import Settings
    >>> d = Draft(kind="summary", patient_id="P0", sections=[DraftSection(title="Allergies", text="Aucune")])
    >>> "ALLERGIES" in render_text(d, Settings(hospital_name="CH Test"))
    True

Limits: the letter date is the stay's exit date for a discharge letter, else today; the DOCX
has no logo (none is configured in the settings).
"""

from __future__ import annotations

import io
import os
from datetime import date
from pathlib import Path

from docx import Document
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.shared import Cm, Pt, RGBColor
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from knowledge.dates import fr_date
from medassist.settings import REPO_ROOT, Settings, get_settings
from tools.drafting.extract import as_date
from tools.drafting.models import Draft

TEMPLATES_DIR = REPO_ROOT / "knowledge" / "templates"
TEMPLATES = {"discharge": "lettre_liaison_sortie.txt.j2", "appointment": "convocation.txt.j2",
             "summary": "synthese_dossier.txt.j2"}
TITLES = {"discharge": "Lettre de liaison de sortie", "appointment": "Convocation", "summary": "Synthèse du dossier"}
STATUS_FR = {"new": "introduit", "changed": "modifié", "stopped": "arrêté", "unchanged": "inchangé"}


def _env() -> Environment:
    return Environment(loader=FileSystemLoader(str(TEMPLATES_DIR)), undefined=StrictUndefined,
                       keep_trailing_newline=True, autoescape=False)


#: key and audience of the sections written for the care team only (see tools/drafting/appointment.py)
STAFF_KEY, STAFF_AUDIENCE = "note_service", "service"


def is_staff_section(sec) -> bool:
    """A section for the care team (protocol text): never printed in the letter sent out."""
    return getattr(sec, "audience", None) == STAFF_AUDIENCE or getattr(sec, "key", "") == STAFF_KEY


def letter_part(draft: Draft) -> Draft:
    """The draft as sent: without the care team's note, signed by the validating physician when one
    validated it (``meta["signed_by"]``, set at validation from the users file) rather than by the
    author of the report the letter quotes."""
    sections = [s for s in draft.sections if not is_staff_section(s)]
    meta = dict(draft.meta)
    if meta.get("signed_by") and draft.kind != "appointment":
        meta["author"] = meta["signed_by"]
    return draft.model_copy(update={"sections": sections, "meta": meta})


def letter_date(draft: Draft) -> date:
    """Discharge letters are dated on the exit day (they are due that day); other drafts today."""
    if draft.kind == "discharge":
        d = as_date(draft.meta.get("letter_date"))
        if d:
            return d
    return date.today()


def sources(draft: Draft) -> list[str]:
    """One line per cited source, in order of first citation."""
    out: dict[str, str] = {}
    for sec in draft.sections:
        for c in sec.citations:
            if c.doc_id in out:
                continue
            if c.doc_id == "patient.json":
                out[c.doc_id] = "patient.json — dossier administratif du patient"
            elif c.corpus == "request":
                out[c.doc_id] = "Demande de convocation saisie par l'utilisateur"
            else:
                when = f", {fr_date(as_date(c.date))}" if as_date(c.date) else ""
                out[c.doc_id] = f"{c.doc_id} — {c.title}{when}"
    return list(out.values())


def render_text(draft: Draft, settings: Settings | None = None) -> str:
    """The plain-text letter, rendered by the kind's Jinja2 template."""
    settings = settings or get_settings()
    draft = letter_part(draft)
    tpl = _env().get_template(TEMPLATES[draft.kind])
    text = tpl.render(draft=draft, settings=settings, letter_date=f"Le {fr_date(letter_date(draft), long=True)}",
                      sources=sources(draft))
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.strip() + "\n"


# --------------------------------------------------------------------------- DOCX
def _para(doc, text: str = "", *, bold: bool = False, size: float | None = None, align=None, italic: bool = False,
          color: RGBColor | None = None, space_after: float = 2):
    p = doc.add_paragraph()
    run = p.add_run(text)
    run.bold, run.italic = bold, italic
    if size:
        run.font.size = Pt(size)
    if color is not None:
        run.font.color.rgb = color
    if align is not None:
        p.alignment = align
    p.paragraph_format.space_after = Pt(space_after)
    return p


def export_docx(draft: Draft, path: str | Path, settings: Settings | None = None) -> Path:
    """Write the draft as a Word letter with the hospital letterhead; returns the path. The file is
    created private to the user (0600) whatever the process umask: it names the patient."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = docx_bytes(draft, settings)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(path, 0o600)  # an existing file keeps its mode on O_TRUNC
    return path


def docx_bytes(draft: Draft, settings: Settings | None = None) -> bytes:
    """The Word letter as bytes, written nowhere.

    Why: the UI hands the letter to Chainlit, which copies it into the session's private files;
    a temporary copy on disk (it used to be ``/tmp/medassist-docx-*``, never removed and readable
    by other local users) is one more place a patient letter could leak from."""
    settings = settings or get_settings()
    draft = letter_part(draft)
    doc = _new_document()
    # letterhead: hospital on the left, date on the right
    _letterhead(doc, draft, settings)
    _body(doc, draft, settings)
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def staff_note_bytes(draft: Draft, settings: Settings | None = None) -> bytes | None:
    """The note for the care team (protocol text left out of the patient's letter), as a Word file;
    ``None`` when the draft has none."""
    settings = settings or get_settings()
    staff = [s for s in draft.sections if is_staff_section(s)]
    if not staff:
        return None
    note = draft.model_copy(update={"sections": staff})
    doc = _new_document()
    _letterhead(doc, note, settings)
    doc.add_heading("Note pour le service — ne pas remettre au patient", level=1)
    appt = draft.meta.get("appointment") or {}
    recipient = draft.meta.get("recipient") or []
    if draft.meta.get("subject"):
        _para(doc, f"{draft.meta['subject']}" + (f" — {recipient[0]}" if recipient else ""), bold=True)
    if appt.get("datetime"):
        _para(doc, f"Rendez-vous du {fr_date(as_date(appt['datetime'][:10]), long=True)}", space_after=8)
    for sec in staff:
        for line in sec.text.splitlines():
            if line.strip():
                _para(doc, line, space_after=1)
    doc.add_heading("Sources", level=2)
    for src in sources(note):
        _para(doc, f"• {src}", size=9, space_after=0)
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def _new_document():
    doc = Document()
    for s in doc.sections:
        s.top_margin, s.bottom_margin, s.left_margin, s.right_margin = Cm(1.8), Cm(1.8), Cm(2.0), Cm(2.0)
    doc.styles["Normal"].font.name = "Calibri"
    doc.styles["Normal"].font.size = Pt(10.5)
    return doc


def _letterhead(doc, draft: Draft, settings: Settings) -> None:
    head = doc.add_table(rows=1, cols=2)
    head.alignment = WD_TABLE_ALIGNMENT.CENTER
    left, right = head.rows[0].cells
    left.paragraphs[0].add_run(settings.hospital_name).bold = True
    left.add_paragraph(settings.hospital_address)
    left.add_paragraph(f"Tél. {settings.hospital_phone}")
    if draft.meta.get("unit"):
        left.add_paragraph(str(draft.meta["unit"]))
    rp = right.paragraphs[0]
    rp.add_run(f"Le {fr_date(letter_date(draft), long=True)}")
    rp.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    _para(doc)


def _body(doc, draft: Draft, settings: Settings) -> None:
    # recipient block
    recipient = draft.meta.get("recipient") or []
    if recipient and draft.kind in ("discharge", "appointment"):
        label = "À l'attention de" if draft.kind == "discharge" else None
        if label:
            _para(doc, label, italic=True, align=WD_ALIGN_PARAGRAPH.RIGHT, space_after=0)
        for i, line in enumerate(recipient):
            _para(doc, str(line), bold=i == 0, align=WD_ALIGN_PARAGRAPH.RIGHT, space_after=0)
        if draft.meta.get("copy_to"):
            _para(doc, "Copie : " + ", ".join(draft.meta["copy_to"]), italic=True, align=WD_ALIGN_PARAGRAPH.RIGHT)
        _para(doc)
    doc.add_heading(TITLES[draft.kind], level=1)
    if draft.meta.get("subject"):
        _para(doc, f"Objet : {draft.meta['subject']}", bold=True, space_after=8)
    if draft.kind == "discharge":
        _para(doc, "Cher confrère, chère consœur,", space_after=6)
    elif draft.kind == "appointment":
        _para(doc, "Madame, Monsieur,", space_after=2)
        _para(doc, "Nous vous prions de bien vouloir vous présenter au rendez-vous décrit ci-dessous.", space_after=6)
    for sec in draft.sections:
        doc.add_heading(sec.title, level=2)
        for line in sec.text.splitlines():
            if line.strip():
                _para(doc, line, space_after=1)
    if draft.reconciliation:
        doc.add_heading("Conciliation médicamenteuse (entrée / sortie)", level=2)
        table = doc.add_table(rows=1, cols=4)
        table.style = "Table Grid"
        for cell, title in zip(table.rows[0].cells, ("Médicament", "Entrée", "Sortie", "Statut")):
            cell.paragraphs[0].add_run(title).bold = True
        for r in draft.reconciliation:
            row = table.add_row().cells
            row[0].text = r.drug
            row[1].text = r.entry_dose or ("—" if r.entry is None else "oui")
            row[2].text = r.discharge_dose or ("—" if r.discharge is None else "oui")
            row[3].text = STATUS_FR[r.status]
    if draft.kind == "appointment":
        _para(doc)
        _para(doc, "Merci de vous munir d'une pièce d'identité, de votre carte Vitale et de vos ordonnances en cours.")
        _para(doc, f"En cas d'empêchement, prévenez le secrétariat au {settings.hospital_phone} dès que possible.")
    # signature block
    _para(doc)
    if draft.kind == "discharge":
        _para(doc, "Confraternellement,", space_after=6)
        signer = draft.meta.get("author") or "Médecin signataire : à compléter"
    elif draft.kind == "appointment":
        signer = "Le secrétariat"
    else:
        signer = draft.meta.get("author") or ""
    if signer:
        _para(doc, str(signer), bold=True, align=WD_ALIGN_PARAGRAPH.RIGHT, space_after=0)
        if draft.meta.get("unit"):
            _para(doc, str(draft.meta["unit"]), align=WD_ALIGN_PARAGRAPH.RIGHT, space_after=0)
        _para(doc, settings.hospital_name, align=WD_ALIGN_PARAGRAPH.RIGHT)
    # before signing
    orange = RGBColor(0xB3, 0x4D, 0x00)
    if draft.missing:
        doc.add_heading("À compléter avant envoi", level=2)
        for m in draft.missing:
            _para(doc, f"• {m}", color=orange, space_after=1)
    if draft.flags:
        doc.add_heading("Points à vérifier", level=2)
        for f in draft.flags:
            _para(doc, f"• {f}", color=orange, space_after=1)
    doc.add_heading("Sources", level=2)
    for s in sources(draft):
        _para(doc, f"• {s}", size=9, space_after=0)
    mode = "reformulé par un modèle de langage puis vérifié" if draft.mode == "generative" else "extractif"
    _para(doc)
    _para(doc, f"Brouillon {mode} préparé par MedAssist à partir du dossier : à relire, compléter et signer par un "
               "professionnel habilité.", italic=True, size=8.5)
