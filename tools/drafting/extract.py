"""Deterministic extraction from a patient's record: sections, bullets, sentences, medications.

Why: "extract, then generate". Every fact of a draft is first *located* in a source document and
cited with exact offsets (``doc.text[start:end] == quote``); nothing here paraphrases. The parsers
are regular expressions over the extracted text that :mod:`retrieval.parsing` stores, tolerant
to the variations of the corpus: headings alone on their line (``# Évolution``, ``CONCLUSION :``,
``MOTIF D'HOSPITALISATION:``) or inline (``Conclusion : …``), bullets ``-``/``•``/``*``, French
decimals, brand names in parentheses — and the shapes PDF and plain-text extraction produce, where
the lines of a paragraph are joined ("- APIXABAN 5 mg : … - BISOPROLOL 2,5 mg : …") and a heading
is glued at the end of the previous list ("… le matin Traitements arrêtés ou modifiés").

Example::

    >>> t = "TRAITEMENT DE SORTIE :\\n- RAMIPRIL 2,5 mg : 1 comprimé le matin\\n- LÉVOTHYROXINE (LEVOTHYROX) 88 µg : 1 cp"
    >>> doc = SourceDoc(doc_id="D1", title="CRH", doc_type="compte_rendu_hospitalisation", date=None, text=t)
    >>> [(m.key, m.dose) for m in doc.medications("Traitement de sortie")]
    [('ramipril', '2,5 mg'), ('levothyroxine', '88 µg')]
    >>> parse_medication("- INSULINE GLARGINE (LANTUS) : 24 UI le soir").dose
    '24 UI'

Limits: a treatment written as prose ("Traitement inchangé par ailleurs : APIXABAN 5 mg…") is
quoted but not parsed into medication lines; tables are read only as flattened text; sections are
those of :mod:`knowledge.sections` (a heading unknown there is not detected: its text stays in the
previous section).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date
from functools import cached_property
from typing import Any

from knowledge.drugs import drug_names
from knowledge.french import fold, fold_chars
from knowledge.sections import Section, line_spans, numbered_sections, split_sections
from medassist.schemas import Patient, Stay
from tools.drafting.models import PATIENT_JSON, DraftCitation, DraftError

_DASH = re.compile(r"^[ \t]*[-•*–▪◦][ \t]+")  # list items


# --------------------------------------------------------------------------- spans
def strip_span(text: str, s: int, e: int) -> tuple[int, int]:
    while s < e and text[s] in " \t\r\n":
        s += 1
    while e > s and text[e - 1] in " \t\r\n":
        e -= 1
    return s, e


#: Where one physical line holds several list items: text extracted from .txt and .pdf files joins
#: the lines of a paragraph ("- APIXABAN 5 mg : … - BISOPROLOL 2,5 mg : …").
_ITEM_SPLIT = re.compile(r"[ \t]+(?=[-•–▪][ \t]+[A-ZÀ-Ý«(])|(?<=[.;])[ \t]+(?=[-•–▪][ \t]+\S)")


def lines(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Logical lines of ``text[start:end]`` as stripped spans: physical lines, cut again before an
    inline list item (`` - NAME``), so joined paragraphs read like the original lines."""
    out = []
    for s, e in line_spans(text, start, end):
        pos = s
        for m in _ITEM_SPLIT.finditer(text, s, e):
            a, b = strip_span(text, pos, m.start())
            if b > a:
                out.append((a, b))
            pos = m.end()
        a, b = strip_span(text, pos, e)
        if b > a:
            out.append((a, b))
    return out


_NEXT_LABEL = re.compile(r"\s(?=[A-ZÀ-Ý][\wÀ-ÿ'’]*(?:\s[\wÀ-ÿ'’]+){0,3}\s?:\s)")


def labelled(text: str, label: str, start: int = 0, end: int | None = None) -> tuple[int, int] | None:
    """Span of the value after ``label :`` (regex, case-insensitive), up to the end of the line or the
    next "Label :" on the same line — header lines of joined paragraphs hold several labels."""
    end = len(text) if end is None else end
    m = re.compile(rf"(?:^|(?<=\s)|(?<=\*))(?:{label})\s*(?:\*\*)?\s*:\s*(?:\*\*)?\s*", re.I | re.M).search(text, start, end)
    if not m:
        return None
    stop = text.find("\n", m.end(), end)
    stop = end if stop < 0 else stop
    nxt = _NEXT_LABEL.search(text, m.end(), stop)
    s, e = strip_span(text, m.end(), nxt.start() if nxt else stop)
    return (s, e) if e > s else None


def bullets(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """List items of a span, without their bullet mark."""
    out = []
    for s, e in lines(text, start, end):
        m = _DASH.match(text[s:e])
        if m:
            out.append(strip_span(text, s + m.end(), e))
    return out


_SENT_END = re.compile(r"(?<=[.!?;])\s+(?=[A-ZÀ-Ý0-9«(-])")


def sentences(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Sentences of a span (lines first, then sentence punctuation), bullet marks removed."""
    out = []
    for s, e in lines(text, start, end):
        m = _DASH.match(text[s:e])
        if m:
            s = s + m.end()
        pos = s
        for sm in _SENT_END.finditer(text, s, e):
            a, b = _undash(text, *strip_span(text, pos, sm.start()))
            if b > a:
                out.append((a, b))
            pos = sm.end()
        a, b = _undash(text, *strip_span(text, pos, e))
        if b > a:
            out.append((a, b))
    return out


def _undash(text: str, s: int, e: int) -> tuple[int, int]:
    m = _DASH.match(text, s, e)
    return (s + (m.end() - s), e) if m else (s, e)


# --------------------------------------------------------------------------- medications
_NUM = r"(?:\d{1,3}(?:[  ]\d{3})+|\d+)(?:[.,]\d+)?"
DOSE_UNIT = (r"(?:mg/m²|mg/m2|mg/kg|µg/kg|μg/kg|UI/kg|mg|µg|μg|mcg|microgrammes?|milligrammes?|ng|g|"
             r"UI(?:\s*anti-?Xa)?|U|ml|mL|%)")
_DOSE = re.compile(rf"(?<![\w,./])(?:(?<!de ){_NUM}\s+à\s+{_NUM}|{_NUM}(?:\s*/\s*{_NUM}){{0,3}})\s*{DOSE_UNIT}"
                   rf"(?:\s*/\s*(?:{_NUM}\s*{DOSE_UNIT}|(?:{_NUM}\s*)?(?:ml|mL|j|jour|24\s*h|h|g)))?(?![\w²])")
_DURATION = re.compile(
    r"(?:pendant|durant|sur)\s+(?:encore\s+)?\d+\s*(?:à\s*\d+\s*)?(?:jours?|semaines?|mois|ans?|heures?|h)\b[^,;)]*"
    r"|jusqu'(?:au|à)\s+[^,;)]+"
    r"|\d+\s*(?:jours?|semaines?|mois)\s+(?:au total|de traitement)"
    r"|au long cours|à vie|à poursuivre[^,;]*|arrêt progressif[^,;]*"
    r"|(?:le|les)\s+\d{2}/\d{2}(?:/\d{4})?(?:\s+et\s+\d{2}/\d{2}/\d{4})?"
    r"|(?:1|une|un)\s+(?:seule\s+)?(?:injection|prise)\s+(?:unique|le\s+\d{2}/\d{2}/\d{4})"
    r"|avant chaque cure|pendant la chimioth[ée]rapie|pendant toute la dur[ée]e[^,;]*",
    re.I,
)
#: Capitalised first words of list items that are not drugs (identifiers, lab tests, headings).
_NOT_DRUG_WORDS = frozenset({"rpps", "adeli", "finess", "ipp", "nir", "ins", "tel", "fax", "nfs", "crp", "tsh", "inr",
                             "ecbu", "ecg", "irm", "tdm", "tep", "scanner", "echographie", "radiographie", "bilan",
                             "consultation", "rendez-vous", "rdv", "note", "attention", "important", "allergie",
                             "allergies", "patient", "patiente", "poids", "taille", "date"})
#: An action written before the drug in a change list: « STOP spironolactone », « Arrêt du ramipril ».
_ACTION_LEAD = re.compile(r"^(?:STOP|Stop|stop|Arr[êe]t(?:\s+(?:du|des|de\s+la|de\s+l['’]|de|d['’]))?|"
                          r"Ajout(?:\s+(?:du|des|de\s+la|de\s+l['’]|de|d['’]))?|"
                          r"Introduction(?:\s+(?:du|des|de\s+la|de\s+l['’]|de|d['’]))?)\s*(?=[A-Za-zÀ-ÿ])")
#: Where a drug's name ends in a change line: « Ramipril diminué de 10 à 2,5 mg/j », « Lantus augmentée… ».
_NAME_END = re.compile(r"\s(?=(?:diminu|augment|major|r[ée]duit|arr[êe]t[ée]|stopp|remplac|pass[ée]|introdu|d[ée]but|"
                       r"suspendu|interromp|poursuivi|ajout|nouvea|inchang|relai|relay)\w*\b)", re.I)
_MERGED_PROSE = re.compile(r"(?<=[a-zà-ÿ0-9)\]]) (?=(?!(?:Dr|Pr|Mme|M)\b)[A-ZÀ-Ý][a-zà-ÿ'’]+\b)")


@dataclass(frozen=True)
class Medication:
    """One medication line: ``- NAME [(BRAND)] [dose] : posology``."""

    name: str  # as written, without dose
    key: str  # normalised DCI
    aliases: frozenset[str]
    dose: str | None  # as written ("2,5 mg", "24 UI")
    posology: str
    duration: str | None
    line: str  # the whole item, verbatim
    start: int = 0  # offsets of ``line`` in the source text (0 when parsed from a bare string)
    end: int = 0

    @property
    def dose_key(self) -> str | None:
        return dose_key(self.dose) if self.dose else None

    def same_drug(self, other: Medication) -> bool:
        return bool(self.aliases & other.aliases)


_FREQ_WORDS = re.compile(r"\b(?:matin|midi|soir|coucher|nuit|jour|semaine|mois|heures?|si)\b")


def posology_key(posology: str) -> tuple:
    """Comparable core of a posology: numbers and timing words of its first clause.

    "2 comprimés le matin (80 mg/j)" -> (('2',), ('matin',)); "1 à 2 bouffées si dyspnée, maximum 8…"
    and "1 à 2 bouffées si dyspnée" compare equal (a precision added after a comma is not a change).
    """
    first = re.split(r"[,;(]", fold(posology), maxsplit=1)[0]
    nums = tuple(n.replace(",", ".") for n in re.findall(r"\d+(?:[.,]\d+)?", first))
    return nums, tuple(_FREQ_WORDS.findall(first))


def dose_key(dose: str) -> str:
    """Comparable form of a dose: "2,5 mg" -> "2.5 mg", "88 µg/j" -> "88 ug"."""
    d = fold(dose).replace(",", ".")
    d = re.sub(r"\s*/\s*(?:j|jour|24 ?h)$", "", d)
    d = re.sub(r"(?<=\d)\s+(?=\d{3}\b)", "", d)  # 1 050 -> 1050
    d = re.sub(r"^([\d.]+)\s*", r"\1 ", d)
    d = d.replace("mcg", "ug").replace("microgrammes", "ug").replace("microgramme", "ug")
    d = d.replace("milligrammes", "mg").replace("milligramme", "mg").replace("m2", "m²")
    return re.sub(r"\s+", " ", d).strip()


def drug_key(name: str) -> tuple[str, frozenset[str]]:
    """(normalised DCI, every alias) for a written drug name such as "FER (sulfate ferreux, TARDYFERON)"."""
    inside = re.findall(r"\(([^)]*)\)", name)
    outside = re.sub(r"\([^)]*\)", " ", name)
    key = re.sub(r"[^a-z0-9/ ]", " ", fold(outside).replace("-", " "))
    key = re.sub(r"\s+", " ", key).strip()
    aliases = {key} if key else set()
    for group in inside:
        for alias in group.split(","):
            a = re.sub(r"\s+", " ", re.sub(r"[^a-z0-9/ ]", " ", fold(alias).replace("-", " "))).strip()
            if len(a) >= 3:
                aliases.add(a)
    return key, frozenset(aliases)


def parse_medication(item: str, start: int = 0, *, in_list: bool = False) -> Medication | None:
    """Parse one list item; None when it does not look like a medication line.

    A medication line starts with a drug name in capitals (``RAMIPRIL``, ``ACIDE FOLIQUE``) or with
    a word of the ATC lexicon (:func:`knowledge.drugs.drug_names`: ``Atorvastatine``, ``kardégic``)
    — which keeps out "Substitut de sel…" or "NFS à J8" — and optionally has a dose and a posology
    after the first colon. ``in_list``: the item belongs to a treatment list (« Traitement de
    sortie »), where any name of four letters or more followed by a dose is a drug (« Lokelma 5 g »,
    a brand too recent for the lexicon).
    """
    m = _DASH.match(item)
    body = item[m.end():] if m else item
    offset = start + (m.end() if m else 0)
    body_stripped = body.strip()
    first_dose = _DOSE.search(body_stripped)
    cut = next((c for c in _MERGED_PROSE.finditer(body_stripped) if first_dose and c.start() > first_dose.end()), None)
    if cut:  # "… 1 comprimé le soir Le patient utilise…": the next sentence of a joined paragraph (after
        # the dose: « Bactrim Forte (…) 160 mg », « Spiolto Respimat 2,5 µg » are names in two words)
        body_stripped = body_stripped[: cut.start()].rstrip()
    if not body_stripped:
        return None
    lead = len(body) - len(body.lstrip())
    action = _ACTION_LEAD.match(body_stripped)
    if action:  # « STOP spironolactone 25 mg (hyperkaliémie) »: the drug follows the action
        rest = body_stripped[action.end():]
        if rest and re.match(r"[A-Za-zÀ-ÿ]{4,}", rest) and (fold(rest.split()[0]) in drug_names()
                                                           or rest.split()[0].isupper()):
            lead += action.end()
            body_stripped = rest
    head, sep, posology = body_stripped.partition(" : ")
    if not sep:
        head, sep, posology = body_stripped.partition(": ")
    first = re.match(r"[A-Za-zÀ-ÿ'’-]+", head)
    if not first:
        return None
    word = first.group(0)
    if fold(word) in _NOT_DRUG_WORDS:
        return None
    dm = _DOSE.search(head)
    is_caps = word.upper() == word and sum(ch.isalpha() for ch in word) >= 3
    # other authors write « Atorvastatine 80 mg », « kardégic (aspirine) 75 mg »: a word of the ATC
    # lexicon counts like capitals
    known = fold(word) in drug_names() or fold(word.split("-")[0]) in drug_names()  # « Amoxicilline-acide … »
    listed = in_list and dm is not None and sum(ch.isalpha() for ch in word) >= 4
    if not (is_caps or known or listed) or (sum(ch.isalpha() for ch in word) < 4 and not dm):
        return None
    name = head[: dm.start()].strip(" ,") if dm else head.strip()
    dose = dm.group(0).strip() if dm else None
    verb = _NAME_END.search(name)
    if verb and verb.start() > 0:  # « Ramipril diminué de 10 à » -> « Ramipril »; the change stays in the line
        name = name[: verb.start()].strip(" ,")
        if not posology:
            posology = head[verb.start():].strip()
    if dose is not None and re.search(r"/\s*m[lL]$", dose) and _DOSE.search(posology):
        dose = None  # "100 UI/ml" is a concentration: the dose is in the posology ("24 UI le soir")
    if dose is None:
        pm = _DOSE.search(posology)
        dose = pm.group(0).strip() if pm else None
    key, aliases = drug_key(name)
    if not key:
        return None
    dur = _DURATION.search(posology)
    s = offset + lead
    return Medication(name=name, key=key, aliases=aliases, dose=dose, posology=posology.strip(),
                      duration=dur.group(0).strip(" .") if dur else None, line=body_stripped,
                      start=s, end=s + len(body_stripped))


# --------------------------------------------------------------------------- dates
def as_date(v: Any) -> date | None:
    if v is None or isinstance(v, date):
        return v
    try:
        return date.fromisoformat(str(v)[:10])
    except ValueError:
        return None


# --------------------------------------------------------------------------- documents and record
def _any_ocr(blocks_json: str | None) -> bool:
    """Whether the stored blocks (``[[start, end, page, ocr], …]``) say a block was OCR'd."""
    import json

    try:
        return any(len(b) > 3 and b[3] for b in json.loads(blocks_json or "[]"))
    except (TypeError, ValueError):
        return False


@dataclass
class SourceDoc:
    """One document of the record with its extracted text (what citations point into)."""

    doc_id: str
    title: str
    doc_type: str
    date: date | None
    text: str
    author: str | None = None
    stay_id: str | None = None
    corpus: str = "patients"
    ocr: bool = False  # read by OCR from a scan (a recognition error is possible in what is quoted)
    _sections: list[Section] | None = field(default=None, repr=False)

    @classmethod
    def from_row(cls, row: dict, corpus: str = "patients") -> SourceDoc:
        return cls(doc_id=row["doc_id"], title=row.get("title") or "", doc_type=row.get("doc_type") or "autre",
                   date=as_date(row.get("date")), text=row.get("text") or "", author=row.get("author"),
                   stay_id=row.get("stay_id"), corpus=corpus, ocr=_any_ocr(row.get("blocks")))

    @property
    def sections(self) -> list[Section]:
        if self._sections is None:
            self._sections = (numbered_sections(self.text) if self.corpus == "procedures"
                              else split_sections(self.text))
        return self._sections

    @property
    def is_crh(self) -> bool:
        return self.doc_type == "compte_rendu_hospitalisation" or "compte rendu d'hospitalisation" in fold(self.title)

    def find_sections(self, *names: str) -> list[Section]:
        return [s for s in self.sections if s.name in names]

    def cite(self, start: int, end: int) -> DraftCitation:
        start, end = strip_span(self.text, start, end)
        return DraftCitation(doc_id=self.doc_id, quote=self.text[start:end], start=start, end=end, title=self.title,
                             date=self.date.isoformat() if self.date else None,
                             corpus="procedures" if self.corpus == "procedures" else "patients")

    def body(self, sec: Section) -> tuple[int, int]:
        return strip_span(self.text, sec.start, sec.end)

    def medications(self, *names: str) -> list[Medication]:
        """Medication lines of the named sections (all list items of the document when no name)."""
        spans = [self.body(s) for s in self.find_sections(*names)] if names else [(0, len(self.text))]
        out = []
        for a, b in spans:
            for s, e in bullets(self.text, a, b):
                med = parse_medication(self.text[s:e], s)
                if med:
                    out.append(med)
        return out

    def find(self, needle: str, start: int = 0, end: int | None = None) -> tuple[int, int] | None:
        """Span of ``needle`` in the text, accent- and case-insensitively (same length mapping)."""
        end = len(self.text) if end is None else end
        i = self.text.find(needle, start, end)
        if i >= 0:
            return i, i + len(needle)
        hay, nd = fold_chars(self.text[start:end]), fold_chars(needle)
        i = hay.find(nd)
        return (start + i, start + i + len(needle)) if i >= 0 and nd else None


def patient_value(patient: Patient, path: str) -> Any:
    """The value at a JSON path of ``patient.json`` ("stays[0].exit_date", "gp.address.city")."""
    cur: Any = patient.model_dump(mode="json")
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        cur = cur[int(part[1:-1])] if part.startswith("[") else cur[part]
    return cur


def pjson(patient: Patient, path: str) -> DraftCitation | None:
    """Citation of one ``patient.json`` value (None when the value is empty)."""
    v = patient_value(patient, path)
    if v in (None, "", [], {}):
        return None
    q = str(v)
    return DraftCitation(doc_id=PATIENT_JSON, field=path, quote=q, start=0, end=len(q),
                         title="Dossier administratif (patient.json)")


@dataclass
class Record:
    """A patient's structured record and documents, oldest first."""

    patient: Patient
    docs: list[SourceDoc]

    @cached_property
    def by_id(self) -> dict[str, SourceDoc]:
        return {d.doc_id: d for d in self.docs}

    def stay(self, stay_id: str | None) -> tuple[int, Stay]:
        stays = self.patient.stays
        if not stays:
            raise DraftError(f"Le dossier {self.patient.id} ne comporte aucun séjour hospitalier.")
        if stay_id:
            for i, s in enumerate(stays):
                if s.id == stay_id:
                    return i, s
            known = ", ".join(s.id for s in stays)
            raise DraftError(f"Séjour « {stay_id} » introuvable dans le dossier {self.patient.id} (séjours : {known}).")
        # latest finished stay; a stay still in progress only when none is finished
        done = [(i, s) for i, s in enumerate(stays) if s.exit_date]
        pool = done or list(enumerate(stays))
        return max(pool, key=lambda t: (t[1].exit_date or t[1].entry_date, t[1].entry_date))

    def stay_docs(self, stay: Stay) -> list[SourceDoc]:
        """Documents declared for the stay, plus undeclared ones dated within it."""
        out = []
        for d in self.docs:
            if d.stay_id == stay.id:
                out.append(d)
            elif d.stay_id is None and d.date and stay.exit_date and stay.entry_date <= d.date <= stay.exit_date \
                    and d.doc_type not in ("consultation", "lettre_adressage"):
                out.append(d)
        return out

    def cite(self, path: str) -> DraftCitation | None:
        return pjson(self.patient, path)


def load_record(service, patient_id: str) -> Record:
    """The record as the retrieval service stores it (texts are the ones citations point into)."""
    from retrieval.service import UnknownPatientError

    patient = service.docs.get_patient(patient_id)
    if patient is None:
        raise DraftError(f"Patient inconnu : « {patient_id} ».")
    try:
        rows = service.patient_documents(patient_id)
    except UnknownPatientError as exc:
        raise DraftError(f"Patient inconnu : « {patient_id} ».") from exc
    docs = [SourceDoc.from_row(r) for r in rows]
    docs.sort(key=lambda d: (d.date or date.min, d.doc_id))
    return Record(patient=patient, docs=docs)


# --------------------------------------------------------------------------- treatment lists
#: Where a treatment written as a sentence passes from one drug to the next.
_CLAUSE_SPLIT = re.compile(r"\s*;\s*|,\s+(?=(?:et\s+)?(?:le|la|les|l['’]|du|de la)\s)|\s+et\s+(?=(?:le|la|les|l['’])\s?)"
                           r"|(?<=[.!?])\s+")
_DRUG_WORD = re.compile(r"[A-Za-zÀ-ÿ][\w-]{3,}")


def prose_medications(text: str, start: int, end: int) -> list[Medication]:
    """Medications of a treatment written as prose: each clause (« ; », « et le », « , la … »)
    holding a lexicon drug and a dose gives one medication, quoted from the drug's name to the
    clause's end. Offsets stay exact."""
    out, pos = [], start
    bounds = [(m.start(), m.end()) for m in _CLAUSE_SPLIT.finditer(text, start, end)] + [(end, end)]
    for a, b in bounds:
        clause_start, clause_end = pos, a
        pos = b
        for w in _DRUG_WORD.finditer(text, clause_start, clause_end):
            if fold(w.group(0)) in drug_names():
                s, e = strip_span(text, w.start(), clause_end)
                m = parse_medication(text[s:e].rstrip(" ."), s, in_list=True)
                if m is not None and m.dose:
                    out.append(m)
                break
    return out


def table_medications(text: str, start: int, end: int) -> list[Medication]:
    """Medications of a table kept by extraction as `` | ``-separated rows (« Aldactone
    (spironolactone) | 75 mg | 2-0-0, soit 150 mg/j | dose augmentée »): the first cell is the
    name, the next the dose, the rest the posology; the header row has no dose and is skipped.
    Quotes stay exact: the row is parsed with its separators blanked, then cited as written."""
    out = []
    for s, e in lines(text, start, end):
        row = text[s:e]
        if row.count(" | ") < 1 or _DASH.match(row):
            continue
        first = row.find(" | ")
        rest = row[first + 3:].replace(" | ", " : ", 1)
        parsed = parse_medication(row[:first] + "   " + rest, s, in_list=True)
        if parsed is not None and parsed.dose:
            out.append(replace(parsed, line=row, start=s, end=e))
    return out



#: Sections that hold a full treatment list, best first.
TREATMENT_LIST_SECTIONS = ("Traitement de sortie", "Traitement en cours", "Traitement", "Consignes de sortie",
                           "Prescription")
CHANGE_SECTIONS = ("Modifications thérapeutiques", "Traitements arrêtés ou modifiés")


@dataclass
class TreatmentList:
    doc: SourceDoc
    section: Section | None
    meds: list[Medication]
    #: lines of the list that say the drug is stopped (« Alprazolam 0,25 mg : stoppé, en raison de… »):
    #: not part of the treatment, reported as stopped with their own words as the reason
    stopped: list[Medication] = field(default_factory=list)


#: A list item whose drug is stopped, not prescribed (« arrêtée le jour de la sortie », « STOP »).
_STOPPED_ITEM = re.compile(r"\b(?:stoppee?s?|arretee?s?|suspendue?s?|interrompue?s?|stop)\b")
_RESUMED = re.compile(r"\b(?:reprise?s?|reprendre|repris)\b")


def is_stopped_item(med: Medication) -> bool:
    """The line says the drug is stopped at discharge (and not resumed)."""
    n = fold(med.posology or med.line)
    first = re.split(r"[,;(]|\bpuis\b", n, maxsplit=1)[0]  # « 1 cp le soir 15 j, puis stop » is a taper
    return bool(_STOPPED_ITEM.search(first)) and not _RESUMED.search(n)


def treatment_list(doc: SourceDoc, names: tuple[str, ...] = TREATMENT_LIST_SECTIONS, *,
                   whole_prescription: bool = True) -> TreatmentList | None:
    """The medication list a document holds in the named sections; for an ordonnance (when
    ``whole_prescription``), every medication line of the document."""
    for name in names:
        # a treatment split by status (« Nouveaux médicaments », « Médicaments inchangés »…) is
        # several sections of the same name: together they are the list
        meds, first = [], None
        for sec in doc.find_sections(name):
            a, b = doc.body(sec)
            found = [m for s, e in bullets(doc.text, a, b) if (m := parse_medication(doc.text[s:e], s, in_list=True))]
            found += table_medications(doc.text, a, b)
            if not any(not is_stopped_item(m) for m in found):
                # « À la sortie, la patiente poursuit l'amlodipine 5 mg le matin et le … »
                found += prose_medications(doc.text, a, b)
            if found and first is None:
                first = sec
            meds += found
        kept = [m for m in meds if not is_stopped_item(m)]
        if kept:
            return TreatmentList(doc, first, kept, [m for m in meds if is_stopped_item(m)])
    if whole_prescription and doc.doc_type == "ordonnance":
        meds = doc.medications()
        if meds:
            return TreatmentList(doc, None, meds)
    return None


def latest_treatment(record: Record) -> tuple[TreatmentList | None, list[tuple[SourceDoc, Section]]]:
    """The latest full treatment list and the later "modifications" sections (newest last)."""
    base = None
    for doc in reversed(record.docs):
        base = treatment_list(doc)
        if base:
            break
    later: list[tuple[SourceDoc, Section]] = []
    if base:
        for doc in record.docs:
            if doc is base.doc or (doc.date and base.doc.date and doc.date < base.doc.date):
                continue
            if base.doc.date and doc.date == base.doc.date and doc.doc_id <= base.doc.doc_id:
                continue
            later += [(doc, s) for s in doc.find_sections("Modifications thérapeutiques")]
    return base, later
