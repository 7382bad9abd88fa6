"""Pseudonymised export of one patient's record, for research extracts prepared by the DIM.

Why: coders (DIM) hand documents to research teams; those must not carry the patient's direct
identifiers. :func:`export_pseudonymised` writes, for every document of one patient, its extracted
text with identifiers replaced by consistent surrogates, plus a ``manifest.json`` that holds no
secret, after checking the role (only coders may export) and writing the audit trail.

What is replaced, and by what (one :class:`PseudoContext` per export, so a person keeps the same tag
in every document of the export):

=============  ==========================================  ===================================
category       detected by                                 replaced by
=============  ==========================================  ===================================
``NOM``        patient.json (patient, birth name, GP,      ``[NOM_1]`` (patient), ``[NOM_2]``…
               contacts, referring doctors, authors) in    one tag per person; titles ("Dr",
               variants "Jean DUPONT", "DUPONT Jean",      "Mme") are kept. Undeclared persons
               "J. DUPONT", "M. DUPONT", any case; plus    after a title get the next tags.
               a rule for undeclared names after a title
``DATE``       ``eds.dates`` (edsnlp) + knowledge.dates    the same date shifted by a secret
               (union), re-rendered by our parsers         per-patient offset (± 30–365 days),
                                                           same format ("09/02/2026", "12 mars
                                                           2026", "mars 2026", "2026-02-09")
``TEL``        French phone pattern (+33, separators)      ``[TEL]``
``EMAIL``      e-mail pattern                              ``[EMAIL]``
``ADRESSE``    declared streets + street/postcode rules    ``[ADRESSE]`` / ``[VILLE]``
``NIR``        13/15-digit NIR with or without spaces      ``[NIR]``
``IPP``        8-digit numbers, "IPP …" labels, metadata   ``[IPP]``
``RPPS``       11-digit RPPS numbers, "RPPS"/"ADELI"       ``[RPPS]``
``ID``         labelled numbers ("N° d'examen : H26-…")   ``[ID]``
=============  ==========================================  ===================================

edsnlp 0.23 ships ``eds.dates`` (used here) but no pseudonymisation rules: AP-HP's ``eds-pseudo``
is a separate project and is not installable offline, so the phone / e-mail / NIR / IPP / RPPS /
address / name-after-title rules are our own regexes (below).

After replacement a **second pass** (:func:`scan_residuals`) re-scans every output text for the
original metadata values (names, phones, IPP, NIR, RPPS, e-mails, streets, postcodes, exact birth
date) and for the phone / NIR / e-mail / IPP patterns. Residuals are reported by document, category
and position only, never with their value; by default the export is then refused and nothing is
written (fail closed).

Example::

    >>> from medassist.schemas import Patient
    >>> p = Patient.model_validate({"id": "P9", "identity": {"first_name": "Jean", "last_name": "DUPONT",
    ...     "sex": "M", "birth_date": "1948-03-12", "ipp": "80012345", "phone": "06 12 34 56 78"},
    ...     "gp": {"name": "Dr Anne MOREL"}})
    >>> r = pseudonymise_text("M. DUPONT Jean, né le 12/03/1948, IPP 80012345. Tél. 06 12 34 56 78. "
    ...                       "Courrier au Dr A. Morel.", p, offset_days=10, use_edsnlp=False)
    >>> r.text
    'M. [NOM_1], né le 22/03/1948, IPP [IPP]. Tél. [TEL]. Courrier au Dr [NOM_2].'

Honest limits (measured numbers: ``bench/pseudo_eval.py``):

* Undeclared persons are found only after a title or civility ("Dr", "Mme", "née"…) or a
  "Patient :" label; a bare "Jean-Pierre" with no surname and no title stays.
* A declared surname written in lower case with no title before it ("leclerc") is not replaced
  (it could be a common word: "petit", "blanc"); in upper case or Title case it is. The second pass
  does flag it (unless it is a common word), so such an export is refused rather than leaked.
* Day-month dates without a year ("le 13/02") are shifted only after a cue word (le, du, au, les,
  et, depuis…), so "EVA 4/10" stays; the year is taken from the next full date or the document's.
* Every French phone number is replaced, the hospital's own switchboard numbers included (hence the
  low phone "precision" of the bench: those numbers are not in patient.json).
* Years alone ("en 2019"), relative dates ("il y a 3 jours"), ages and durations are kept: the
  offset is under a year, so the text stays coherent to ± 1 year. Ages ≥ 90 are not aggregated.
* A city alone ("Valmont, le 09/02/2026") is kept (it is usually the hospital's city); a city
  after a postcode is replaced. Room numbers ("chambre 214") are kept.
* Pseudonymised is not anonymised: the clinical narrative can still re-identify a patient with a
  rare history; the export goes to a research team under the DIM's agreement, not to the public.
"""

from __future__ import annotations

import json
import random
import re
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field

from knowledge.dates import (
    DATE_ISO_RE, DATE_MY_RE, DATE_NUM_RE, DATE_PARTIAL_RE, DATE_RANGE_RE, DATE_TXT_RE, MONTHS, MONTHS_ABBR,
    PARTIAL_CUE_RE, WEEKDAYS, full_year, month_number,
)
from knowledge.french import fold_chars
from medassist import audit
from medassist.access import Action, User, authorize
from medassist.schemas import Patient

TOOL = "export_pseudonymised"
#: Bumped when the rules change: written in the manifest so a research team knows which rules ran.
PSEUDO_VERSION = "1"

#: Categories, in the order they are reported.
CATEGORIES = ("NOM", "DATE", "TEL", "EMAIL", "ADRESSE", "NIR", "IPP", "RPPS", "ID")

# Common French words that are also frequent surnames / first names: a bare Title-case occurrence at
# the start of a sentence is then not taken for a name ("Petit épanchement pleural."; "le Vidal" is
# the drug compendium). spaCy's French stop words are added at run time (_stop_words).
_COMMON_WORDS = frozenset("""
petit petite blanc blanche roche rose noir brun brune grand grande gros fort franc vert rouge roux
claire marine boucher meunier berger chevalier marchand baron bon bonne bel belle doux prince roi
page porte pierre fontaine riviere bois vidal
""".split())

# Upper-case words that are never names (acronyms seen in clinical letters).
_NOT_NAMES = frozenset("""
CHU CH CHR CHRU APHP AP HP SAMU SMUR SMR SSR USIC USI REA UHCD SAU IDE IBODE IADE AS ASH DIM RCP CRH
IPP NIR RPPS ADELI INS TEL FAX OBJET PATIENT PATIENTE MEDECIN NOM PRENOM HTA AVC IDM FA BPCO IRM TDM
ECG EEG TEP DR PR MME MLLE MR SERVICE COPIE PAGE
""".split())

_TITLE = (r"(?:Dr|Dre|Docteur|Pr|Professeur|M|Mr|MM|Mme|Mmes|Mlle|Madame|Monsieur|Mademoiselle|Me|IDE|"
          r"IBODE|IADE|Interne|née?|épouse|époux|veuve|ép)")
_CIVILITIES = frozenset({"Dr", "Dre", "Docteur", "Pr", "Professeur", "M", "Mr", "MM", "Mme", "Mmes", "Mlle", "Madame",
                         "Monsieur", "Mademoiselle", "Me"})
_TITLE_BEFORE = re.compile(r"(?<![\w'’])" + _TITLE + r"\.?\s+$", re.IGNORECASE)
_LABEL_BEFORE = re.compile(r"(?:Patiente?|Nom(?: de naissance| d['’]usage| de jeune fille)?|Prénoms?|"
                           r"Identité)\s*:\s*$", re.IGNORECASE)

_UP = "A-ZÀ-ÖØ-Þ"
_LO = "a-zß-öø-ÿ"
_CAP_WORD = rf"[{_UP}][{_LO}]+(?:-[{_UP}][{_LO}]+)*"
_UP_WORD = rf"[{_UP}]{{2,}}(?:[-'’][{_UP}]{{2,}})*"
_INITIAL = rf"[{_UP}]\.(?:-?[{_UP}]\.)?"

# ------------------------------------------------------------------------------------- patterns
PHONE_RE = re.compile(r"(?<![\d+])(?:(?:\+|00)\s?33\s?(?:\(0\)\s?)?[1-9]|0[1-9])(?:[\s.\-]?\d{2}){4}(?!\d)")
EMAIL_RE = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
NIR_RE = re.compile(r"(?<![\d])[12]\s?\d{2}\s?(?:0[1-9]|1[0-2]|[2-9]\d)\s?(?:\d{2}|2[AB])\s?\d{3}\s?\d{3}"
                    r"(?:\s?\d{2})?(?!\d)")
IPP_RE = re.compile(r"(?<![\d/.,-])\d{8}(?![\d/,]|\.\d)")
IPP_LABEL_RE = re.compile(r"\bIPP\s*(?:n°|:)?\s*([A-Z]{0,3}\d{5,12})\b")
RPPS_RE = re.compile(r"(?<![\d/.,-])1\d{10}(?![\d/,]|\.\d)")
RPPS_LABEL_RE = re.compile(r"\b(?:RPPS|ADELI)\s*(?:n°|:)?\s*(\d{9,11})\b")
ID_LABEL_RE = re.compile(
    r"\b(?:N°|n°|No|Numéro|numéro)\s*(?:d['’]\s?|de\s+|du\s+)?(?:examen|dossier|séjour|prélèvement|demande|"
    r"venue|admission|patient|NDA|IEP|INS)\b[^:\n]{0,15}:\s*([A-Za-z0-9][A-Za-z0-9./-]{3,19})")
_STREET_TYPES = (r"(?:rue|avenue|av\.|allée|allées|impasse|place|chemin|route|boulevard|bd|quai|square|cours|"
                 r"passage|sentier|voie|résidence|lotissement|lieu-dit|hameau|rond-point|cité|parvis|villa)")
_STREET_LINK = r"(?:(?:des|du|de|la|les|le|en|sur|sous|aux|au|et)\s+|[lLdD]['’]|\d{1,4}(?:e|er)?(?:\s|(?=[,.;)]|$)))"
_STREET_NAME = rf"(?:(?:{_CAP_WORD}|{_UP_WORD})(?:\s|(?=[,.;)]|$)))"
_POSTCODE = r"(?:0[1-9]|[1-8]\d|9[0-8])\d{3}"
_CITY = (rf"(?:(?:Le|La|Les)\s+|L['’])?[{_UP}][{_LO}'’]+(?:-[{_UP}{_LO}][{_LO}'’]*)*"
         rf"(?:\s+Cedex(?:\s+\d+)?)?")
STREET_RE = re.compile(
    # at least one capitalised word: "2 cours de chimiothérapie", "1 voie d'abord" are not addresses
    rf"(?<![\w/.,])\d{{1,4}}(?:\s?(?:bis|ter))?,?\s+{_STREET_TYPES}\s+{_STREET_LINK}*{_STREET_NAME}"
    rf"(?:{_STREET_LINK}|{_STREET_NAME}){{0,7}}"
    rf"(?:(?:,\s*|\s*-\s+|\s*){_POSTCODE}\s+{_CITY})?")
POSTCODE_CITY_RE = re.compile(rf"(?<![\w\-/.]){_POSTCODE}\s+{_CITY}")


def _digits(s: str) -> str:
    return re.sub(r"\D", "", s)


def _flex_digits(digits: str) -> str:
    """Regex for a digit string whatever the separators between its digits ("0621457893" matches
    "06 21 45 78 93", "06.21.45.78.93")."""
    return r"(?<!\d)" + r"[\s.\-]?".join(re.escape(d) for d in digits) + r"(?!\d)"


def _phone_variants(phone: str) -> list[str]:
    d = _digits(phone)
    out = [d]
    if d.startswith("0") and len(d) == 10:
        out.append("33" + d[1:])
    elif d.startswith("33") and len(d) == 11:
        out.append("0" + d[2:])
    return out


# ------------------------------------------------------------------------------------- persons
@dataclass
class Person:
    """A person to pseudonymise: declared in patient.json, or found by the title rule."""

    tag: str
    role: str  # French, written in the manifest legend ("patient", "médecin traitant"…)
    first_names: list[str] = field(default_factory=list)
    last_names: list[str] = field(default_factory=list)
    declared: bool = True


def split_name(name: str) -> tuple[list[str], list[str]]:
    """("Dr Anne-Sophie LAURENT") -> (["Anne-Sophie"], ["LAURENT"]); upper-case words are surnames;
    without any, the last word is. Titles and a trailing ", IDE" are dropped."""
    name = re.sub(r",\s*(?:IDE|infirmi[eè]re?|interne|sage-femme|AS)\s*$", "", name.strip(), flags=re.IGNORECASE)
    words = [w for w in re.split(r"\s+", name) if w]
    while words and re.fullmatch(_TITLE + r"\.?", words[0], flags=re.IGNORECASE):
        words = words[1:]
    if not words:
        return [], []
    upper = [w for w in words if len(w) > 1 and w.isupper()]
    if upper:
        lasts, firsts, cur = [], [], []
        for w in words:
            if len(w) > 1 and w.isupper():
                cur.append(w)
            else:
                if cur:
                    lasts.append(" ".join(cur))
                    cur = []
                firsts.append(w)
        if cur:
            lasts.append(" ".join(cur))
        return [" ".join(firsts)] if firsts else [], lasts
    return ([" ".join(words[:-1])] if len(words) > 1 else []), [words[-1]]


def _word_alt(value: str) -> str:
    """Regex of a name whatever its separators ('Anne-Sophie' ~ 'Anne Sophie', 'LE GOFF' ~ 'LE-GOFF')."""
    parts = [re.escape(fold_chars(p, lower=False)) for p in re.split(r"[\s\-]+", value) if p]
    return r"[\s\-]+".join(parts)


def _initials_alt(first: str) -> str:
    """'Anne-Sophie' -> regex of 'A.-S.', 'A.S.', 'AS' and 'A.' (the first initial alone)."""
    parts = [p for p in re.split(r"[\s\-]+", first) if p]
    full = r"\s?-?\s?".join(re.escape(fold_chars(p[0], lower=False)) + r"\.?" for p in parts)
    return full if len(parts) == 1 else rf"(?:{full}|{re.escape(fold_chars(parts[0][0], lower=False))}\.?)"


@dataclass
class _NamePattern:
    kind: str  # full | initial | last | first
    regex: re.Pattern
    person: Person


def _person_patterns(person: Person) -> list[_NamePattern]:
    pats: list[_NamePattern] = []
    lasts = [_word_alt(n) for n in person.last_names if n]
    firsts = [_word_alt(n) for n in person.first_names if n]
    inits = [_initials_alt(n) for n in person.first_names if n]
    b0, b1 = r"(?<![\w@.])", r"(?![\w@]|\.\w)"
    for L in lasts:
        for F in firsts:
            for p in (rf"{F}\s+{L}", rf"{L}\s*,?\s+{F}"):
                pats.append(_NamePattern("full", re.compile(b0 + p + b1, re.IGNORECASE), person))
        for Ini in inits:
            pats.append(_NamePattern("initial", re.compile(rf"{b0}({Ini})\s*{L}{b1}", re.IGNORECASE), person))
            pats.append(_NamePattern("initial", re.compile(rf"{b0}{L}\s+({Ini.replace(r'.?', r'.')}){b1}",
                                                           re.IGNORECASE), person))
        pats.append(_NamePattern("last", re.compile(b0 + L + b1, re.IGNORECASE), person))
    for F in firsts:
        pats.append(_NamePattern("first", re.compile(b0 + F + b1, re.IGNORECASE), person))
    return pats


def _is_title_case(s: str) -> bool:
    return s[:1].isupper() and not (len(s) > 1 and s.isupper())


def _sentence_start(text: str, start: int) -> bool:
    before = text[max(0, start - 4):start].rstrip(" \t")
    return not before or before[-1] in ".!?\n"


@lru_cache(maxsize=1)
def _stop_words() -> frozenset[str]:
    try:
        from spacy.lang.fr.stop_words import STOP_WORDS
    except ImportError:  # spaCy comes with edsnlp; without it only our own list applies
        return _COMMON_WORDS
    return frozenset(STOP_WORDS) | _COMMON_WORDS


def _common_word(word: str) -> bool:
    w = word.lower()
    return w in _stop_words() or fold_chars(w, lower=False) in _stop_words()


# ------------------------------------------------------------------------------------- context
class PseudoContext:
    """Everything that must stay consistent across the documents of one export: the person tags,
    the secret date offset and the pseudonymous patient id.

    The offset lives only in this object (not in ``repr``, the manifest, the report or the audit):
    with ``seed=None`` it is drawn from :mod:`secrets` and is lost when the export ends.
    """

    def __init__(self, patient: Patient, *, offset_days: int | None = None, seed: int | None = None):
        rng: random.Random = random.Random(seed) if seed is not None else secrets.SystemRandom()
        if offset_days is None:
            offset_days = rng.choice((-1, 1)) * rng.randint(30, 365)
        self._offset = timedelta(days=int(offset_days))
        self.pseudo_patient_id = "PSN-" + "".join(rng.choice("0123456789ABCDEF") for _ in range(8))
        self.patient = patient
        self.persons: list[Person] = []
        self._declare_persons(patient)
        self._patterns = [p for person in self.persons for p in _person_patterns(person)]
        self._unknown: dict[str, Person] = {}

    def __repr__(self) -> str:  # never the offset
        return f"PseudoContext(pseudo_patient_id={self.pseudo_patient_id!r}, persons={len(self.persons)})"

    # ---------------------------------------------------------------- persons
    def _declare_persons(self, p: Patient) -> None:
        seen: dict[tuple, Person] = {}

        def add(name: str | None, role: str, extra_last: list[str] | None = None) -> None:
            if not name:
                return
            firsts, lasts = split_name(name)
            lasts = lasts + [x for x in (extra_last or []) if x]
            if not lasts and not firsts:
                return
            key = (tuple(fold_chars(x) for x in firsts), tuple(fold_chars(x) for x in lasts))
            if key in seen:
                return
            person = Person(tag=f"[NOM_{len(self.persons) + 1}]", role=role, first_names=firsts, last_names=lasts)
            seen[key] = person
            self.persons.append(person)

        ident = p.identity
        add(f"{ident.first_name} {ident.last_name.upper()}", "patient",
            [ident.birth_name] if ident.birth_name else None)
        add(p.gp.name, "médecin traitant")
        for c in p.contacts:
            add(c.name, f"proche ({c.relation})")
        for s in p.stays:
            add(s.referring_doctor, "médecin adresseur")
        for d in p.documents:
            add(d.author, "professionnel de santé (auteur)")

    def person_for(self, words: list[str]) -> Person:
        """The person a title-rule name belongs to: a declared person when its surname matches and
        its first name (if any) is compatible, else a new undeclared person (next tag)."""
        fw = [fold_chars(w).strip(".") for w in words]
        for person in self.persons:
            lasts = {fold_chars(x) for n in person.last_names for x in re.split(r"[\s\-]+", n)}
            firsts = {fold_chars(x) for n in person.first_names for x in re.split(r"[\s\-]+", n)}
            if not lasts & set(fw):
                continue
            rest = [w for w in fw if w not in lasts]
            if all(w in firsts or (len(w) == 1 and any(f.startswith(w) for f in firsts)) for w in rest):
                return person
        surname = [w for w, o in zip(fw, words) if o.isupper() and len(o) > 1] or fw[-1:]
        key = " ".join(surname)
        if key not in self._unknown:
            person = Person(tag=f"[NOM_{len(self.persons) + 1}]", role="personne non déclarée", declared=False)
            self._unknown[key] = person
            self.persons.append(person)
        return self._unknown[key]

    # ---------------------------------------------------------------- dates
    def shift(self, d: date) -> date:
        return d + self._offset

    # ---------------------------------------------------------------- metadata values
    def phones(self) -> list[str]:
        p = self.patient
        return [x for x in [p.identity.phone, p.gp.phone, *[c.phone for c in p.contacts]] if x]

    def emails(self) -> list[str]:
        return [x for x in [self.patient.identity.email, self.patient.gp.email] if x]

    def streets(self) -> list[str]:
        return [a.street for a in (self.patient.identity.address, self.patient.gp.address) if a and a.street]

    def postcodes(self) -> list[str]:
        return [a.postcode for a in (self.patient.identity.address, self.patient.gp.address) if a and a.postcode]

    def numbers(self) -> list[tuple[str, str]]:
        """(category, digits) of the declared IPP, NIR (with and without its key) and RPPS."""
        i = self.patient.identity
        out = [("IPP", _digits(i.ipp))]
        if i.nir:
            out.append(("NIR", _digits(i.nir)))
            if len(_digits(i.nir)) == 15:
                out.append(("NIR", _digits(i.nir)[:13]))
        if self.patient.gp.rpps:
            out.append(("RPPS", _digits(self.patient.gp.rpps)))
        return [(c, d) for c, d in out if len(d) >= 5]


# ------------------------------------------------------------------------------------- spans
@dataclass(frozen=True)
class Replacement:
    """One replaced span of the *original* text (offsets), its category and what replaced it.
    The original value is not kept."""

    start: int
    end: int
    category: str
    replacement: str
    source: str  # "métadonnées", "motif", "eds.dates"


@dataclass
class PseudoResult:
    text: str
    replacements: list[Replacement]

    @property
    def counts(self) -> dict[str, int]:
        c = Counter(r.category for r in self.replacements)
        return {k: c[k] for k in CATEGORIES if c[k]}


@dataclass
class _Cand:
    start: int
    end: int
    category: str
    replacement: str | None  # None: computed later (names)
    source: str
    tier: int  # 0 identifiers & addresses, 1 declared names & dates, 2 rule names
    person: Person | None = None
    words: list[str] | None = None


def _name_like(token: str) -> bool:
    t = token.strip(".,;:()")
    if not t or t.upper() in _NOT_NAMES:
        return False
    if t.isupper() and len(t) > 1:
        return bool(re.search(r"[AEIOUYÀ-ÖØ-Þ]", fold_chars(t, lower=False).upper()))
    return bool(re.fullmatch(_CAP_WORD, t))


def _adjacent_tokens(text: str, start: int, end: int) -> tuple[str, str]:
    before = re.search(r"(\S+) $", text[max(0, start - 40):start])
    after = re.match(r" (\S+)", text[end:end + 40])
    return (before.group(1) if before else ""), (after.group(1) if after else "")


def _name_candidates(text: str, folded: str, ctx: PseudoContext) -> list[_Cand]:
    out: list[_Cand] = []
    known_tokens = {fold_chars(x) for p in ctx.persons for n in p.first_names + p.last_names
                    for x in re.split(r"[\s\-]+", n)}
    for pat in ctx._patterns:
        for m in pat.regex.finditer(folded):
            s, e = m.start(), m.end()
            orig = text[s:e]
            tier = 1
            if pat.kind == "initial":
                ini = text[m.start(1):m.end(1)]
                if not ini[:1].isupper() or ini[:1] == "À":  # "À MOREL" is a preposition
                    continue
                if ini in ("M.", "M") and m.start(1) == s and not _TITLE_BEFORE.search(text[max(0, s - 16):s]):
                    continue  # "M. DUPONT" is Monsieur, not Marie; "Dr M. DUPONT", "Mme M. DUPONT" are initials
            elif pat.kind in ("last", "first"):
                cue = bool(_TITLE_BEFORE.search(text[max(0, s - 16):s]) or _LABEL_BEFORE.search(text[max(0, s - 30):s]))
                if orig.islower() and not cue:
                    continue  # "petit", "blanc": lower case without a title is not taken for a name
                if pat.kind == "first" and orig.islower():
                    continue
                if _is_title_case(orig) and not cue and _sentence_start(text, s) and _common_word(orig):
                    continue
                # an adjacent unknown name word ("Jean-Pierre LECLERC" when only Bernard LECLERC is
                # declared): let the title rule take the whole name if it can
                b, a = _adjacent_tokens(text, s, e)
                if any(_name_like(t) and fold_chars(t.strip(".,;:()")) not in known_tokens for t in (b, a)):
                    tier = 2
            out.append(_Cand(s, e, "NOM", pat.person.tag, "métadonnées", tier, person=pat.person))
    # rule: undeclared names after a title or a "Patient :" label
    # names never cross a line break; "l'IDE. Prochaine cure" is an article + noun, not a title
    a = rf"(?:(?:{_CAP_WORD}|{_INITIAL})[ \t]+){{0,2}}{_UP_WORD}(?:[ \t]+{_UP_WORD})?"
    b = rf"{_UP_WORD}(?:[ \t]+{_UP_WORD})?[ \t]+{_CAP_WORD}(?=[ \t]*[,;.()\n]|\s*$)"
    c = rf"{_CAP_WORD}(?:[ \t]+{_CAP_WORD})?(?=[ \t]*[,;.()\n]|\s*$|[ \t]+[a-zà-ÿ(])"
    rule = re.compile(rf"(?<![\w'’])(?:{_TITLE}\.?|Patiente?[ \t]*:|Nom[ \t]*:)[ \t]+"
                      rf"(?!{_TITLE}\.?[ \t])(?P<name>{b}|{a}|{c})")
    for m in rule.finditer(text):
        s = m.start("name")
        spans = [(w.group(0), s + w.end()) for w in re.finditer(r"\S+", m.group("name"))]
        # drop acronyms and vowel-less tokens at the end ("Dr MOREL RPPS")
        while spans and not _name_like(spans[-1][0]):
            spans.pop()
        words = [w for w, _ in spans]
        if not words or not all(_name_like(w) or re.fullmatch(_INITIAL, w) for w in words):
            continue
        e = spans[-1][1]
        title = m.group(0).split()[0].rstrip(".:")
        if not any(w.isupper() and len(w) > 1 for w in words):
            # Title-case words only ("Mme Garnier"): after a civility or a doctor's title, not after a
            # profession ("IDE Équipe de nuit") or a label, and not a common word ("M. Petit" is kept)
            if (title not in _CIVILITIES and len(words) < 2) or (len(words) == 1 and _common_word(words[0])):
                continue
        out.append(_Cand(s, e, "NOM", None, "motif", 2, words=words))
    return out


def _metadata_candidates(text: str, folded: str, ctx: PseudoContext) -> list[_Cand]:
    out: list[_Cand] = []
    for phone in ctx.phones():
        for v in _phone_variants(phone):
            for m in re.finditer(_flex_digits(v), text):
                out.append(_Cand(m.start(), m.end(), "TEL", "[TEL]", "métadonnées", 0))
    for cat, digits in ctx.numbers():
        for m in re.finditer(_flex_digits(digits), text):
            out.append(_Cand(m.start(), m.end(), cat, f"[{cat}]", "métadonnées", 0))
    for email in ctx.emails():
        for m in re.finditer(re.escape(email), text, re.IGNORECASE):
            out.append(_Cand(m.start(), m.end(), "EMAIL", "[EMAIL]", "métadonnées", 0))
    for street in ctx.streets():
        pat = r"(?<!\w)" + r"\s*,?\s+".join(re.escape(fold_chars(w, lower=False)) for w in street.split()) + r"(?!\w)"
        for m in re.finditer(pat, folded, re.IGNORECASE):
            out.append(_Cand(m.start(), m.end(), "ADRESSE", "[ADRESSE]", "métadonnées", 0))
    for pc in ctx.postcodes():
        for m in re.finditer(rf"(?<![\w\-/.]){pc}(?!\d)(?:\s+{_CITY})?", text):
            out.append(_Cand(m.start(), m.end(), "ADRESSE", "[VILLE]", "métadonnées", 0))
    return out


def _pattern_candidates(text: str) -> list[_Cand]:
    out: list[_Cand] = []

    def add(regex: re.Pattern, cat: str, repl: str, group: int = 0) -> None:
        for m in regex.finditer(text):
            out.append(_Cand(m.start(group), m.end(group), cat, repl, "motif", 0))

    add(EMAIL_RE, "EMAIL", "[EMAIL]")
    add(PHONE_RE, "TEL", "[TEL]")
    add(NIR_RE, "NIR", "[NIR]")
    add(IPP_LABEL_RE, "IPP", "[IPP]", 1)
    add(IPP_RE, "IPP", "[IPP]")
    add(RPPS_LABEL_RE, "RPPS", "[RPPS]", 1)
    add(RPPS_RE, "RPPS", "[RPPS]")
    for m in ID_LABEL_RE.finditer(text):
        value = m.group(1).rstrip("./-")
        if len(_digits(value)) >= 3:
            out.append(_Cand(m.start(1), m.start(1) + len(value), "ID", "[ID]", "motif", 0))
    for m in STREET_RE.finditer(text):
        e = m.end()
        while e > m.start() and text[e - 1] in " ,-":
            e -= 1
        out.append(_Cand(m.start(), e, "ADRESSE", "[ADRESSE]", "motif", 0))
    add(POSTCODE_CITY_RE, "ADRESSE", "[VILLE]")
    return out


# ------------------------------------------------------------------------------------- dates
def _same_case(model: str, word: str) -> str:
    if model.isupper() and len(model) > 1:
        return word.upper()
    if model[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


def _pad(n: int, model: str) -> str:
    """Numeric dates keep their width ("16/02" -> "01/04", "9/2" -> "1/4")."""
    return f"{n:0{len(model)}d}" if len(model) > 1 else str(n)


def _pad_text(n: int, model: str) -> str:
    """Textual dates keep a leading zero only if they had one ("03 mars" vs "12 mars" -> "3 avril")."""
    return f"{n:02d}" if model.startswith("0") else str(n)


def _render_textual(m: re.Match, new: date) -> str:
    weekday, day, month, year = m.group(1), m.group(2), m.group(3), m.group(4)
    parts = []
    if weekday:
        parts.append(_same_case(weekday, WEEKDAYS[new.weekday()]))
    if new.day == 1:  # French writes the first of the month "1er" ("premier" when spelt out)
        parts.append(_same_case(day, "premier") if day.lower() == "premier" else "1er")
    else:
        parts.append(_pad_text(new.day, day) if day.isdigit() else str(new.day))
    abbreviated = month.endswith(".") or (len(month) <= 4
                                          and fold_chars(month) not in ("mars", "mai", "juin", "aout"))
    names = MONTHS_ABBR if abbreviated else MONTHS
    parts.append(_same_case(month, names[new.month - 1]))
    if year:
        parts.append(str(new.year))
    return " ".join(parts)


@dataclass
class _DateHit:
    start: int
    end: int
    replacement: str | None  # None: not a date we can shift (kept as is)


def _parse_date_at(text: str, start: int, end: int, ctx: PseudoContext, year_hint) -> _DateHit | None:
    """Find a shiftable date inside text[start:end] and render it shifted, same format."""
    chunk = text[start:end]
    m = DATE_RANGE_RE.search(chunk)
    if m:
        d1, d2, sep, mo, y = m.groups()
        try:
            a, b = ctx.shift(date(int(y), int(mo), int(d1))), ctx.shift(date(int(y), int(mo), int(d2)))
        except ValueError:
            return None
        if (a.year, a.month) == (b.year, b.month):
            out = f"{_pad(a.day, d1)}-{_pad(b.day, d2)}{sep}{_pad(a.month, mo)}{sep}{a.year}"
        else:
            out = (f"{_pad(a.day, d1)}{sep}{_pad(a.month, mo)}{sep}{a.year}-"
                   f"{_pad(b.day, d2)}{sep}{_pad(b.month, mo)}{sep}{b.year}")
        return _DateHit(start + m.start(), start + m.end(), out)
    m = DATE_NUM_RE.search(chunk)
    if m:
        d, sep, mo, y = m.group(1), m.group(2), m.group(3), m.group(4)
        year = full_year(y)
        try:
            old = date(year, int(mo), int(d))
        except ValueError:
            return None
        new = ctx.shift(old)
        ny = str(new.year) if len(y) == 4 else f"{new.year % 100:02d}"
        return _DateHit(start + m.start(), start + m.end(), f"{_pad(new.day, d)}{sep}{_pad(new.month, mo)}{sep}{ny}")
    m = DATE_ISO_RE.search(chunk)
    if m:
        try:
            old = date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            return None
        return _DateHit(start + m.start(), start + m.end(), ctx.shift(old).isoformat())
    m = DATE_TXT_RE.search(chunk)
    if m:
        month = month_number(m.group(3))
        day = 1 if not m.group(2).isdigit() else int(m.group(2))
        year = int(m.group(4)) if m.group(4) else year_hint(start + m.start())
        if month is None:
            return None
        try:
            old = date(year, month, day)
        except ValueError:
            return None
        return _DateHit(start + m.start(), start + m.end(), _render_textual(m, ctx.shift(old)))
    m = DATE_MY_RE.search(chunk)
    if m:
        month = month_number(m.group(1))
        if month is None:
            return None
        new = ctx.shift(date(int(m.group(2)), month, 15))
        names = MONTHS_ABBR if m.group(1).endswith(".") else MONTHS
        rendered = f"{_same_case(m.group(1), names[new.month - 1])} {new.year}"
        return _DateHit(start + m.start(), start + m.end(), rendered)
    m = DATE_PARTIAL_RE.search(chunk)
    if m:
        abs_start = start + m.start()
        if not PARTIAL_CUE_RE.search(text[max(0, abs_start - 16):abs_start]):
            return None
        d, sep, mo = m.group(1), m.group(2), m.group(3)
        try:
            old = date(year_hint(abs_start), int(mo), int(d))
        except ValueError:
            return None
        new = ctx.shift(old)
        return _DateHit(abs_start, start + m.end(), f"{_pad(new.day, d)}{sep}{_pad(new.month, mo)}")
    return None


@lru_cache(maxsize=1)
def _dates_pipeline():
    import edsnlp
    import edsnlp.pipes as eds

    nlp = edsnlp.blank("eds")
    nlp.add_pipe(eds.dates())
    return nlp


def _eds_date_spans(text: str) -> list[tuple[int, int]]:
    """Absolute dates with at least a month found by edsnlp's ``eds.dates``."""
    doc = _dates_pipeline()(text)
    out = []
    for s in doc.spans.get("dates", []):
        d = s._.date
        if getattr(d, "mode", None) is not None and getattr(d.mode, "value", "") != "absolute":
            continue
        if getattr(d, "month", None) is None:
            continue  # years alone are kept (see module docstring)
        out.append((s.start_char, s.end_char))
    return out


def _date_candidates(text: str, ctx: PseudoContext, reference_date: date | None, use_edsnlp: bool) -> list[_Cand]:
    full_years = [(m.start(), int(m.group(4))) for m in DATE_NUM_RE.finditer(text) if len(m.group(4)) == 4]

    def year_hint(pos: int) -> int:
        nxt = [y for s, y in full_years if pos < s <= pos + 40]
        if nxt:
            return nxt[0]
        if reference_date:
            return reference_date.year
        prev = [y for s, y in full_years if s < pos]
        return prev[-1] if prev else date.today().year

    out: list[_Cand] = []
    seen: set[tuple[int, int]] = set()
    regions: list[tuple[int, int, str]] = []
    if use_edsnlp:
        regions += [(s, e, "eds.dates") for s, e in _eds_date_spans(text)]
    # our regexes run too (safety net); day-months need a cue word either way (_parse_date_at)
    for rx in (DATE_RANGE_RE, DATE_NUM_RE, DATE_ISO_RE, DATE_TXT_RE, DATE_MY_RE, DATE_PARTIAL_RE):
        regions += [(m.start(), m.end(), "motif") for m in rx.finditer(text)]
    for s, e, source in regions:
        hit = _parse_date_at(text, s, e, ctx, year_hint)
        if hit is None or hit.replacement is None or (hit.start, hit.end) in seen:
            continue
        seen.add((hit.start, hit.end))
        out.append(_Cand(hit.start, hit.end, "DATE", hit.replacement, source, 1))
    return out


# ------------------------------------------------------------------------------------- main
def _resolve(cands: list[_Cand]) -> list[_Cand]:
    """Non-overlapping spans: lower tier first (identifiers, then declared names and dates, then
    rule names), then the longest."""
    chosen: list[_Cand] = []
    taken: list[tuple[int, int]] = []
    for c in sorted(cands, key=lambda c: (c.tier, -(c.end - c.start), c.start)):
        if c.end <= c.start:
            continue
        if any(c.start < e and s < c.end for s, e in taken):
            continue
        chosen.append(c)
        taken.append((c.start, c.end))
    return sorted(chosen, key=lambda c: c.start)


def pseudonymise_text(text: str, patient: Patient, *, context: PseudoContext | None = None,
                      offset_days: int | None = None, seed: int | None = None,
                      reference_date: date | None = None, use_edsnlp: bool = True) -> PseudoResult:
    """Replace the identifiers of ``text`` (one document of ``patient``); pure apart from the
    person registry of ``context`` (undeclared names get the next tag).

    ``reference_date`` (the document's date) gives the year of a day-month date ("le 13/02");
    ``use_edsnlp=False`` uses only our regexes (no model build, for quick calls).
    """
    ctx = context or PseudoContext(patient, offset_days=offset_days, seed=seed)
    folded = fold_chars(text, lower=False)
    cands = (_metadata_candidates(text, folded, ctx) + _pattern_candidates(text)
             + _name_candidates(text, folded, ctx) + _date_candidates(text, ctx, reference_date, use_edsnlp))
    chosen = _resolve(cands)
    parts: list[str] = []
    reps: list[Replacement] = []
    pos = 0
    for c in chosen:
        repl = c.replacement
        if c.category == "NOM" and repl is None:
            repl = ctx.person_for(c.words or text[c.start:c.end].split()).tag
        parts.append(text[pos:c.start])
        parts.append(repl)
        reps.append(Replacement(c.start, c.end, c.category, repl, c.source))
        pos = c.end
    parts.append(text[pos:])
    return PseudoResult("".join(parts), reps)


# ------------------------------------------------------------------------------------- residuals
@dataclass(frozen=True)
class Residual:
    """An identifier still present after pseudonymisation: where, what kind — never its value."""

    doc: str
    category: str
    position: int


def _date_forms(d: date) -> list[str]:
    return [f"{d.day:02d}/{d.month:02d}/{d.year}", f"{d.day}/{d.month}/{d.year}", d.isoformat(),
            f"{d.day:02d}.{d.month:02d}.{d.year}", f"{d.day:02d}-{d.month:02d}-{d.year}",
            f"{'1er' if d.day == 1 else d.day} {MONTHS[d.month - 1]} {d.year}"]


def scan_residuals(text: str, ctx: PseudoContext, doc: str = "") -> list[Residual]:
    """Second pass over an *output* text: original metadata values and identifier patterns left.

    Stricter than the first pass (it accepts false alarms): every upper-case or Title-case
    occurrence of a declared first name or surname, a lower-case one of a surname that is not a
    common French word, every declared phone / IPP / NIR / RPPS / e-mail / street / postcode, the
    exact birth date in its usual forms, and any phone, NIR, 8-digit or e-mail pattern.
    """
    found: set[tuple[str, int]] = set()
    folded = fold_chars(text, lower=False)
    for person in ctx.persons:
        if not person.declared:
            continue
        for kind, names in (("last", person.last_names), ("first", person.first_names)):
            for n in names:
                for m in re.finditer(r"(?<![\w\[])" + _word_alt(n) + r"(?![\w\]])", folded, re.IGNORECASE):
                    orig = text[m.start():m.end()]
                    cue = bool(_TITLE_BEFORE.search(text[max(0, m.start() - 16):m.start()]))
                    if orig.islower() and not cue and (kind == "first" or _common_word(orig)):
                        continue
                    if _is_title_case(orig) and not cue and _sentence_start(text, m.start()) and _common_word(orig):
                        continue  # "Petit épanchement." (same ambiguity rule as the first pass)
                    found.add(("NOM", m.start()))
    for phone in ctx.phones():
        for v in _phone_variants(phone):
            found.update(("TEL", m.start()) for m in re.finditer(_flex_digits(v), text))
    for cat, digits in ctx.numbers():
        found.update((cat, m.start()) for m in re.finditer(_flex_digits(digits), text))
    for email in ctx.emails():
        found.update(("EMAIL", m.start()) for m in re.finditer(re.escape(email), text, re.IGNORECASE))
    for street in ctx.streets():
        pat = r"(?<!\w)" + r"\s*,?\s+".join(re.escape(fold_chars(w, lower=False)) for w in street.split()) + r"(?!\w)"
        found.update(("ADRESSE", m.start()) for m in re.finditer(pat, folded, re.IGNORECASE))
    for pc in ctx.postcodes():
        found.update(("ADRESSE", m.start()) for m in re.finditer(rf"(?<!\d){pc}(?!\d)", text))
    for form in _date_forms(ctx.patient.identity.birth_date):
        found.update(("DATE", m.start()) for m in re.finditer(r"(?<!\d)" + re.escape(form) + r"(?!\d)", text,
                                                               re.IGNORECASE))
    for rx, cat in ((PHONE_RE, "TEL"), (NIR_RE, "NIR"), (EMAIL_RE, "EMAIL"), (IPP_RE, "IPP")):
        found.update((cat, m.start()) for m in rx.finditer(text))
    return [Residual(doc, c, p) for c, p in sorted(found, key=lambda x: (x[1], x[0]))]


# ------------------------------------------------------------------------------------- export
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
                 "[VILLE]": "code postal et commune", "[NIR]": "numéro de sécurité sociale",
                 "[IPP]": "identifiant patient", "[RPPS]": "identifiant de professionnel de santé",
                 "[ID]": "numéro de dossier ou d'examen"},
        "dates": "toutes les dates complètes sont décalées d'un même nombre de jours, propre à ce patient et "
                 "non communiqué ; les intervalles entre dates sont conservés ; les années seules sont inchangées",
        "replacements": report.counts,
        "residuals": len(report.residuals),
        "methods": "métadonnées du dossier (patient.json) + règles (edsnlp eds.dates, expressions régulières)",
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


__all__ = [
    "CATEGORIES", "ExportReport", "ExportedDocument", "PseudoContext", "PseudoResult", "PseudonymisationError",
    "Replacement", "Residual", "ResidualEntry", "export_pseudonymised", "pseudonymise_text", "scan_residuals",
    "split_name",
]
