"""Metadata of a document nobody declared: type, date, title and stay, read from its content.

Why: uploads, loose files and folders without a ``documents`` list in ``patient.json`` carry no
metadata, yet the drafting tools select the documents of a stay and the discharge letter needs the
hospital report among them. Reading them from the text makes such documents count exactly like
declared ones.

* **type** — the first lines (letterhead, title) are matched against French document kinds
  (« compte rendu d'hospitalisation », « CRO », « ordonnance », « résultats d'analyses »…); the
  title line wins over the body, and the most specific kind wins over generic words.
* **date** — a date after a cue of the document's own date (« le », « fait le », « sortie le »,
  « validé le », « Valmont, le ») in the first lines, else the first date that is neither a birth
  date nor an admission date; a hospital report is dated by its discharge date when it states one
  (« sortie le », « du … au … », « 5 → 9 octobre »), a lab report without such a cue by its latest
  sample (cumulative tables). A birth date is recognised by its cue (« né(e)
  le », « DDN ») and, when the patient is known, by being the patient's birth date: identity lines
  of lab and operative reports often write it bare (« LAURENT Yvonne - 05/03/1938 - IPP … »).
* **stay** — the stay of ``patient.json`` whose dates contain the document's date (a report
  written up to :data:`STAY_GRACE_DAYS` days after discharge still belongs to it).

Example::

    >>> from datetime import date
    >>> from medassist.schemas import Stay
    >>> text = "CHU de Valmont\\nCOMPTE RENDU D'HOSPITALISATION\\nHospitalisé du 09/02/2026 au 18/02/2026"
    >>> m = infer_metadata(text, "doc02.txt", [Stay(id="S1", unit="Cardio", entry_date=date(2026, 2, 9),
    ...                                              exit_date=date(2026, 2, 18))])
    >>> m.type, m.date.isoformat(), m.stay_id, m.title
    ('compte_rendu_hospitalisation', '2026-02-18', 'S1', "COMPTE RENDU D'HOSPITALISATION")
    >>> infer_title("Note infirmière : patient douloureux, EVA 6/10.")
    'Note infirmière'

Limits: rules, not a classifier: a document whose first lines name no kind is « autre »; a letter
that quotes several dates in its header may be dated by the wrong one; without any date the file's
modification day is used and no stay is assigned.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from knowledge.dates import find_dates
from knowledge.french import fold
from medassist.schemas import Stay

#: How many characters of the beginning of a document are read for its type, title and date.
HEAD_CHARS = 700
#: A document dated up to this many days after a stay's exit (letters typed later) still belongs to it.
STAY_GRACE_DAYS = 7

#: Document kinds, most specific first: (type, folded patterns). Patterns are matched on folded text.
KINDS: list[tuple[str, tuple[str, ...]]] = [
    ("compte_rendu_operatoire", (r"compte[- ]rendu operatoire", r"\bcro\b", r"protocole operatoire",
                                 r"compte[- ]rendu d'intervention", r"\bcoronarographie", r"\bangioplastie",
                                 r"\bcatheterisme", r"compte[- ]rendu d'acte", r"\bcr operatoire")),
    ("anatomopathologie", (r"anatomo[- ]?path", r"\banapath", r"examen histologique", r"cytologi")),
    ("rcp", (r"reunion de concertation", r"\brcp\b")),
    ("chimiotherapie", (r"chimiotherapie", r"\bcure\b.*\bc\d", r"hopital de jour d'oncologie")),
    ("compte_rendu_hospitalisation", (r"compte[- ]rendu d'hospitalisation", r"\bcrh\b", r"lettre de sortie",
                                      r"compte[- ]rendu de sortie", r"lettre de liaison", r"hospitalis[ea]\w* du\b",
                                      r"sejour du\b", r"synthese d'hospitalisation", r"fin d'hospitalisation",
                                      r"compte[- ]rendu de sejour", r"courrier de sortie", r"resume de sejour",
                                      r"\bsejour\s*:")),
    ("ordonnance", (r"\bordonnance\b", r"prescription medicale de sortie")),
    ("biologie", (r"resultats? d'analyses", r"laboratoire", r"biologie medicale", r"\bbilan biologique",
                  r"hemogramme", r"biochimie")),
    ("imagerie", (r"\bscanner\b", r"\btdm\b", r"\birm\b", r"radiographie", r"echographie", r"imagerie",
                  r"angioscanner", r"\bscintigraphie", r"\bpet[- ]?scan")),
    ("transmissions_infirmieres", (r"transmissions?", r"\binfirmier(?:e|s|es)?\b", r"\bide\b", r"soins infirmiers",
                                   r"dossier de soins")),
    ("lettre_adressage", (r"lettre d'adressage", r"je vous adresse", r"merci de recevoir", r"cher confrere",
                          r"chere consoeur")),
    ("consultation", (r"\bconsultation\b", r"compte[- ]rendu de consultation")),
]
_KIND_RES = [(kind, [re.compile(p) for p in pats]) for kind, pats in KINDS]

#: Cues before a date that is the document's own date; "sortie" cues date hospital reports.
_OWN_DATE_CUE = re.compile(r"(?:\ble|fait le|date|edite le|valide le|redige le|, le|preleve le|prelevement|realise le)"
                           r"\s*:?\s*$")
#: « Valmont, 10/09/26 » at the start of a line: the place and date of a letter or a prescription
_PLACE_CUE = re.compile(r"^\s*[A-ZÀ-Ý][\w'’ -]{1,30},\s*(?:le\s*)?$")
_EXIT_CUE = re.compile(r"(?:sortie|(?<!jusqu')\bau|→|->)\s*(?:le|du)?\s*:?\s*$")  # not « jusqu'au 4/11 »
_BIRTH_CUE = re.compile(r"(?:\bne|\bnee|\bne\(e\)|naissance|\bddn)\b[^\n\d]{0,25}$")
#: the admission date is not the date of a nursing note or a report written during the stay
_ENTRY_CUE = re.compile(r"(?:entree|admission|admise?|arrivee)\s*(?:le|du)?\s*:?\s*$")


@dataclass(frozen=True)
class InferredMetadata:
    type: str
    date: date | None
    title: str
    stay_id: str | None


def infer_type(head: str, title: str) -> str:
    """The document kind named in the title line, else in the head of the document, else « autre »."""
    for text in (fold(title), fold(head)):
        for kind, pats in _KIND_RES:
            if any(p.search(text) for p in pats):
                return kind
    return "autre"


def infer_title(head: str) -> str:
    """The line naming the document's kind (« COMPTE RENDU OPÉRATOIRE »), else the first line."""
    lines = [ln.strip(" #*-•\t") for ln in head.splitlines() if ln.strip(" #*-•\t")]
    for ln in lines[:12]:
        if len(ln) <= 120 and _names_kind(ln):
            label, sep, _ = ln.partition(" : ")
            # « Note infirmière : patient douloureux… »: the label is the title, the rest is content
            return label if sep and _names_kind(label) else ln[:120]
    return (lines[0] if lines else "")[:120]


def _names_kind(line: str) -> bool:
    folded = fold(line)
    return any(p.search(folded) for _, pats in _KIND_RES for p in pats)


def infer_date(text: str, kind: str, birth_date: date | None = None, stays: list[Stay] | None = None) -> date | None:
    """The document's own date (see module docstring); ``birth_date`` is never chosen. A date
    written without its year (« le 19 juin », « 13/06 ») takes the year of the stay it falls in."""
    def cue(m, pattern: re.Pattern, width: int = 30) -> bool:
        return bool(pattern.search(fold(text[max(0, m.start - width):m.start])))

    def found(chunk: str) -> list[tuple]:
        out = []
        for m in find_dates(chunk):
            d = m.date or _in_a_stay(m, stays or [])
            if d is not None and d != birth_date and not cue(m, _BIRTH_CUE):
                out.append((m, d))
        return out

    head = found(text[:HEAD_CHARS])
    if kind == "compte_rendu_hospitalisation":
        exits = [d for m, d in found(text[:3 * HEAD_CHARS]) if cue(m, _EXIT_CUE, 20)]
        if exits:
            return max(exits)
    def placed(m) -> bool:
        return bool(_PLACE_CUE.match(text[text.rfind("\n", 0, m.start) + 1:m.start]))

    own = [d for m, d in head if (cue(m, _OWN_DATE_CUE, 20) or placed(m)) and not cue(m, _ENTRY_CUE, 20)]
    if own:
        return own[0]
    if kind == "biologie" and head:  # a cumulative report is dated by its latest sample
        return max(d for _, d in head)
    rest = sorted(head, key=lambda md: cue(md[0], _ENTRY_CUE, 20))  # admission dates last, order kept otherwise
    if rest:
        return rest[0][1]
    body = found(text)
    return body[0][1] if body else None


def _in_a_stay(m, stays: list[Stay]) -> date | None:
    """A day and month without a year, completed with the year of the stay whose dates contain it."""
    if m.day is None or m.year is not None:
        return None
    for s in stays:
        for year in {s.entry_date.year, (s.exit_date or s.entry_date).year}:
            try:
                d = date(year, m.month, m.day)
            except ValueError:
                continue
            if stay_for(d, [s]):
                return d
    return None


def stay_for(day: date | None, stays: list[Stay]) -> str | None:
    """The stay whose dates contain ``day`` (exit + :data:`STAY_GRACE_DAYS`); the latest if several."""
    if day is None:
        return None
    hits = [s for s in stays
            if s.entry_date <= day and (s.exit_date is None or (day - s.exit_date).days <= STAY_GRACE_DAYS)]
    return max(hits, key=lambda s: s.entry_date).id if hits else None


def infer_metadata(text: str, file_name: str, stays: list[Stay], birth_date: date | None = None) -> InferredMetadata:
    """Type, date, title and stay of an undeclared document (``file_name`` is the title of last resort;
    ``birth_date``, the patient's, is never taken for the document's date)."""
    head = text[:HEAD_CHARS]
    title = infer_title(head) or file_name
    kind = infer_type(head, title)
    day = infer_date(text, kind, birth_date, stays)
    return InferredMetadata(type=kind, date=day, title=title, stay_id=stay_for(day, stays))
