r"""Identifier patterns shared by every pass: phones, e-mails, NIR, IPP, RPPS, labelled ids, streets,
postcodes, plus the small word lists and helpers that tell a name from a common word.

Why one module: the first pass (:mod:`.engine`) and the fail-closed second pass (:mod:`.residuals`)
must test the *same* patterns, else a format the first pass misses is also missed by the check.

    >>> [m.group(0) for m in PHONE_RE.finditer("Tél. (0)6-12-34-56-78 ou 07 98 765 430, TA 13/8")]
    ['(0)6-12-34-56-78', '07 98 765 430']
    >>> bool(re.search(_phone_regex("06 12 34 56 78"), "joignable au +33 6 12 34 56 78"))
    True
    >>> EMAIL_OBF_RE.search("écrire à olivier.kahn(at)laposte.net").group(0)
    'olivier.kahn(at)laposte.net'
    >>> HOSPITAL_RE.search("transféré au centre hospitalier de Dieppe le 3/2").group(0)
    'centre hospitalier de Dieppe'

Digits are normalised before matching declared numbers: a declared phone, NIR or IPP is found
whatever its separators, prefixes (``+33``, ``0033``, ``(0)``) or the NIR key's spelling (« clé 72 »,
« / 72 »). Undeclared phones are found in any grouping of ten digits starting with 0 (or a +33 prefix).

Limits: regexes only; what they cannot see (a phone written in words, a hospital named without its
kind — « à Charles-Nicolle ») is not found.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from knowledge.french import fold_chars

if TYPE_CHECKING:
    from tools.pseudonymise.context import PseudoContext
    from tools.pseudonymise.names import Person

TOOL = "export_pseudonymised"
#: Bumped when the rules change: written in the manifest so a research team knows which rules ran.
PSEUDO_VERSION = "2"

#: Categories, in the order they are reported.
CATEGORIES = ("NOM", "DATE", "TEL", "EMAIL", "ADRESSE", "HOPITAL", "NIR", "IPP", "RPPS", "ID")

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
ECG EEG TEP DR PR MME MLLE MR SERVICE COPIE PAGE EHPAD USLD SSR
EVA ENS GIR MMS MMSE MOCA ASA IMC FC FR SAT CRP NFS VS BNP INR TP TCA PA PAS PAD DFG HB ETT ETO EFR
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
_PHONE_PREFIX = r"(?:(?:\+|00)\s?33\s?(?:\(0\)\s?)?|\(0\)\s?|0)"
#: ten digits starting with 0 (or +33 / 0033 / (0) and nine digits), any grouping: « 07 98 765 430 »
PHONE_RE = re.compile(rf"(?<![\d+\w]){_PHONE_PREFIX}[1-9](?:[\s.\-]?\d){{8}}(?![\d])")
EMAIL_RE = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_AT = r"(?:\s*(?:\(at\)|\[at\]|\{at\}|\(arobase\)|\[arobase\]|@)\s*|\s+(?:at|AT|arobase|ARROBASE|arrobase)\s+)"
_DOT = r"(?:\.|\s*\[(?:dot|point)\]\s*|\s*\((?:dot|point)\)\s*|\s+(?:dot|point|DOT|POINT)\s+)"
_TLD = r"(?:fr|com|net|org|eu|be|ch|lu|ca|info|io|de|uk|re|gouv|biz|me)"
#: obfuscated e-mails: « olivier.kahn(at)laposte.net », « o.kahn [at] free [dot] fr », « x arobase y.fr »
EMAIL_OBF_RE = re.compile(rf"(?<![\w.+-])[\w.+-]*[A-Za-z][\w.+-]*{_AT}[\w-]+(?:{_DOT}[\w-]+)*{_DOT}{_TLD}(?![\w])",
                          re.IGNORECASE)
_NS = r"[\s.\-]?"  # one optional separator between groups of a number
#: the key may be written « clé 72 », « / 72 », « (72) »
_NIR_KEY = r"(?:\s?(?:cl[ée]\s?:?\s?|/\s?|-\s?|\(\s?)?\d{2}\)?)"
NIR_RE = re.compile(rf"(?<![\d])[12]{_NS}\d{{2}}{_NS}(?:0[1-9]|1[0-2]|[2-9]\d){_NS}(?:\d{{2}}|2[AB]){_NS}\d{{3}}{_NS}\d{{3}}"
                    rf"{_NIR_KEY}?(?!\d)")
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
_CITY = (rf"(?:(?:Le|La|Les|LE|LA|LES)\s+|L['’])?(?:[{_UP}][{_LO}'’]+(?:-[{_UP}{_LO}][{_LO}'’]*)*"
         rf"|[{_UP}]{{2,}}(?:-[{_UP}]+)*(?![{_LO}]))"
         rf"(?:\s+Cedex(?:\s+\d+)?)?")
STREET_RE = re.compile(
    # at least one capitalised word: "2 cours de chimiothérapie", "1 voie d'abord" are not addresses
    rf"(?<![\w/.,])\d{{1,4}}(?:\s?(?:bis|ter))?,?\s+{_STREET_TYPES}\s+{_STREET_LINK}*{_STREET_NAME}"
    rf"(?:{_STREET_LINK}|{_STREET_NAME}){{0,7}}"
    rf"(?:(?:,\s*|\s*-\s+|\s*){_POSTCODE}\s+{_CITY})?")
POSTCODE_CITY_RE = re.compile(rf"(?<![\w\-/.]){_POSTCODE}\s+{_CITY}")
_PLACE_WORD = rf"(?:(?:Saint|Sainte|St|Ste)-)?(?:{_CAP_WORD}|{_UP_WORD})"
_PLACE_LINK = r"(?:(?:de|du|des|de la|la|le|les|aux|au|sur|en|lès|l['’]|d['’])[ \t]*)"
_PLACE_NAME = (rf"(?:(?:Le|La|Les|L['’])[ \t]*)?{_PLACE_WORD}"
               rf"(?:[ \t]+{_PLACE_LINK}?{_PLACE_WORD}|-{_PLACE_WORD}){{0,4}}")
#: lieux-dits and hamlets: « lieu-dit La Basse Cour », « hameau du Mesnil », « La Ferme des Noës »
HAMLET_RE = re.compile(
    rf"(?<![\w'’])(?:(?:[Ll]ieu[-\s]?dit|[Hh]ameau|[Ll]ieudit|[Ff]erme|[Mm]oulin|[Dd]omaine|[Mm]anoir)"
    rf"\s+(?:{_PLACE_LINK})?|(?:La|Le)\s+(?=Ferme\b|Moulin\b|Bout\b)){_PLACE_NAME}")
#: a commune of residence after a residence verb: « vit seul à Beuzeville », « domicilié au Havre »
RESIDENCE_CITY_RE = re.compile(
    rf"(?:\b(?i:vit|vivent|habite|habitent|réside|résident|demeure|demeurant|domicilié|domiciliée|domicile|installée?s?"
    rf"|originaire|née?|natif|native|domicile)\b[^.;\n]{{0,60}}?\b(?:à|au|aux|en)\s+)(?P<city>{_CITY})(?![\w])")
#: a street followed by a city without postcode: « 12 rue des Lilas, Rouen »
STREET_CITY_RE = re.compile(rf"(?<=[\w.)]),\s*(?P<city>{_CITY})(?![\w])")
_HOSP_KIND = (r"(?:CHU|CHRU|CHR|CHI|CHS|CHG|GHU|GH|CH|AP-HP|APHP|HIA|EHPAD|Ehpad|USLD|SSR|"
              r"[Cc]entre\s+[Hh]ospitalier(?:\s+(?:[Uu]niversitaire|[Rr]égional|[Ii]ntercommunal|[Ss]pécialisé|"
              r"[Gg]énéral|[Dd]épartemental))?|[Gg]roupe\s+[Hh]ospitalier|[Hh][ôo]pital|[Pp]olyclinique|[Cc]linique|"
              r"[Mm]aison\s+de\s+(?:[Rr]etraite|[Ss]anté|[Rr]epos)|[Cc]entre\s+de\s+(?:[Rr]ééducation|[Rr]éadaptation|"
              r"[Ss]oins\s+de\s+[Ss]uite|[Dd]ialyse|[Ll]utte\s+[Cc]ontre\s+le\s+[Cc]ancer)|[Ii]nstitut)")
_HOSP_ADJ = r"(?:\s+(?:privée?|[Pp]rivée?|universitaire|régional|général|local|militaire|psychiatrique|gériatrique))?"
#: hospitals, clinics, EHPAD named after their kind: « CHU de Rouen », « Clinique Saint-Hilaire »,
#: « EHPAD Les Tilleuls », « Hôpital privé de l'Estuaire »
HOSPITAL_RE = re.compile(rf"(?<![\w])(?:(?=[A-ZÀ-Þ]){_HOSP_KIND}{_HOSP_ADJ}[ \t]+(?:{_PLACE_LINK}){{0,2}}"
                         rf"|{_HOSP_KIND}{_HOSP_ADJ}[ \t]+(?:{_PLACE_LINK}){{1,2}}|{_HOSP_KIND}{_HOSP_ADJ}[ \t]+(?=Saint|Sainte))"
                         rf"{_PLACE_NAME}")


def _digits(s: str) -> str:
    return re.sub(r"\D", "", s)


def _flex_digits(digits: str) -> str:
    """Regex for a digit string whatever the separators between its digits ("0621457893" matches
    "06 21 45 78 93", "06.21.45.78.93")."""
    return r"(?<!\d)" + r"[\s.\-/]{0,2}".join(re.escape(d) for d in digits) + r"(?!\d)"


def _phone_regex(phone: str) -> str:
    """Regex of a declared phone whatever its prefix (0, +33, 0033, (0)) and separators."""
    d = _digits(phone)
    national = d[2:] if d.startswith("33") and len(d) == 11 else d[1:] if d.startswith("0") and len(d) == 10 else ""
    if not national:
        return _flex_digits(d)
    return rf"(?<![\d\w]){_PHONE_PREFIX}?" + _flex_digits(national)[len(r"(?<!\d)"):]


def _number_regex(cat: str, digits: str) -> str:
    """Regex of a declared number (IPP, NIR, RPPS) whatever its separators; a 13-digit NIR also takes
    its key, however written."""
    if cat == "NIR" and len(digits) == 13:
        return _flex_digits(digits)[:-len(r"(?!\d)")] + rf"(?:{_NIR_KEY})?(?!\d)"
    return _flex_digits(digits)


def _email_regex(email: str) -> str:
    """Regex of a declared e-mail, plain or obfuscated (« x(at)y.fr », « x arobase y point fr »)."""
    local, _, domain = email.partition("@")
    if not domain:
        return re.escape(email)
    return (r"(?<![\w.+-])" + re.escape(local) + _AT + _DOT.join(re.escape(p) for p in domain.split("."))
            + r"(?![\w])")


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


def _metadata_candidates(text: str, folded: str, ctx: PseudoContext) -> list[_Cand]:
    out: list[_Cand] = []
    for phone in ctx.phones():
        for m in re.finditer(_phone_regex(phone), text):
            out.append(_Cand(m.start(), m.end(), "TEL", "[TEL]", "métadonnées", 0))
    for cat, digits in ctx.numbers():
        for m in re.finditer(_number_regex(cat, digits), text):
            out.append(_Cand(m.start(), m.end(), cat, f"[{cat}]", "métadonnées", 0))
    for email in ctx.emails():
        for m in re.finditer(_email_regex(email), text, re.IGNORECASE):
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
    add(EMAIL_OBF_RE, "EMAIL", "[EMAIL]")
    for rx in (STREET_RE, HAMLET_RE):
        for m in rx.finditer(text):
            e = m.end()
            while e > m.start() and text[e - 1] in " ,-":
                e -= 1
            out.append(_Cand(m.start(), e, "ADRESSE", "[ADRESSE]", "motif", 0))
            city = STREET_CITY_RE.match(text, e)  # « 12 rue des Lilas, Rouen »: the city goes too
            if city and not _not_a_place(city.group("city")):
                out.append(_Cand(city.start("city"), city.end("city"), "ADRESSE", "[VILLE]", "motif", 0))
    add(POSTCODE_CITY_RE, "ADRESSE", "[VILLE]")
    for m in RESIDENCE_CITY_RE.finditer(text):
        if not _not_a_place(m.group("city")):
            out.append(_Cand(m.start("city"), m.end("city"), "ADRESSE", "[VILLE]", "motif", 0))
    add(HOSPITAL_RE, "HOPITAL", "[HOPITAL]")
    return out


def _not_a_place(word: str) -> bool:
    """« vit en EHPAD », « né à Noël »: acronyms and common words are not communes."""
    first = word.split()[0].strip("'’")
    return first.upper() in _NOT_NAMES or _common_word(first)

