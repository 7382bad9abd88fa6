"""Person names: the declared persons of patient.json in their written variants, and the rule that
finds undeclared names after a title.

Why: a person must keep one tag across the documents of an export whatever the spelling ("Jean
DUPONT", "DUPONT J.", "M. Dupont"), and a name nobody declared must still go.

    >>> split_name("Dr Anne-Sophie LAURENT")
    (['Anne-Sophie'], ['LAURENT'])

Limits: see the package docstring (``tools.pseudonymise``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from knowledge.french import fold_chars
from tools.pseudonymise.patterns import (
    _CAP_WORD,
    _CIVILITIES,
    _INITIAL,
    _LABEL_BEFORE,
    _LO,
    _NOT_NAMES,
    _TITLE,
    _TITLE_BEFORE,
    _UP,
    _UP_WORD,
    _Cand,
    _common_word,
    _is_title_case,
    _sentence_start,
)

if TYPE_CHECKING:
    from tools.pseudonymise.context import PseudoContext

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
    # parts of compound names: « Pierre » of Jean-Pierre, « Dupont » of MARTIN-DUPONT
    for kind, names in (("last", person.last_names), ("first", person.first_names)):
        for n in names:
            parts = compound_parts(n)
            for part in parts if len(parts) > 1 else []:
                pats.append(_NamePattern(kind, re.compile(b0 + re.escape(fold_chars(part, lower=False)) + b1,
                                                          re.IGNORECASE), person))
    return pats


_PARTICLES = frozenset("le la les de du des da dos das di del van von der den ben bin el al mac".split())


def compound_parts(name: str) -> list[str]:
    """Parts of a compound name that can stand alone (particles and one-letter parts dropped).

    >>> compound_parts("Jean-Pierre"), compound_parts("LE GOFF"), compound_parts("Da Silva")
    (['Jean', 'Pierre'], ['GOFF'], ['Silva'])
    """
    parts = [p for p in re.split(r"[\s\-]+", name) if p]
    return [p for p in parts if len(p) > 2 and p.lower() not in _PARTICLES] if len(parts) > 1 else parts


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
                if orig.islower() and not cue and (_common_word(orig) or len(orig) < 3):
                    continue  # "petit", "blanc": a lower-case common word is not taken for a name
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
    b = rf"{_UP_WORD}(?:[ \t]+{_UP_WORD})?[ \t]+{_CAP_WORD}(?=[ \t]*[,;:.()\n]|\s*$)"
    c = rf"{_CAP_WORD}(?:[ \t]+{_CAP_WORD})?(?=[ \t]*[,;:.()\n]|\s*$|[ \t]+[a-zà-ÿ(])"
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
            # profession ("IDE Équipe de nuit") or a label; a common word only after a civility
            # ("Mme Blanc" is a person, "IDE Petit" is not read as one)
            if (title not in _CIVILITIES and len(words) < 2) or (
                    len(words) == 1 and _common_word(words[0]) and title not in _CIVILITIES):
                continue
        out.append(_Cand(s, e, "NOM", None, "motif", 2, words=words))
    return out



# ------------------------------------------------------------------------------------- undeclared names
#: family and social roles: the capitalised word that follows is a person (« son fils Julien »)
_FAMILY_ROLE = (r"(?:fils|fille|petit-fils|petite-fille|épouse|époux|mari|femme|conjointe?|compagnon|compagne|"
                r"concubine?|sœur|soeur|frère|frere|nièce|niece|neveu|cousine?|mère|père|gendre|belle-fille|beau-fils|"
                r"belle-sœur|beau-frère|belle-mère|beau-père|voisine?|amie?|tuteur|tutrice|curateur|curatrice|aidante?|"
                r"personne de confiance)")
#: professional roles: the next word is a person only if it looks like one (« IDE Sophie », not « IDE Équipe »)
_STAFF_ROLE = (r"(?:IDE|IBODE|IADE|AS|ASH|interne|externe|infirmière?|infirmier|aide-soignante?|kiné|"
               r"kinésithérapeute|ergothérapeute|orthophoniste|psychologue|diététicienne?|assistante? sociale?|"
               r"cadre(?: de santé)?|secrétaire|sage-femme|anesthésiste|brancardier|manipulatrice|ambulancier)")
_ROLE_BEFORE = re.compile(rf"(?<![\w-])(?P<role>{_FAMILY_ROLE}|{_STAFF_ROLE})[ \t]*[,:(]?[ \t]*$", re.IGNORECASE)
_TOKEN = rf"(?:{_INITIAL}|[{_UP}][{_UP}{_LO}'’]*(?:-[{_UP}][{_UP}{_LO}'’]*)*)"
_RUN_RE = re.compile(rf"(?<![\w'’\[@./°-]){_TOKEN}(?:[ \t]+{_TOKEN}){{0,3}}(?![\w@])")
_LOWER_AFTER_ROLE = re.compile(rf"(?<![\w-])(?:{_FAMILY_ROLE}|{_STAFF_ROLE})[ \t]*[,:(]?[ \t]*(?P<name>[{_LO}]+"
                               rf"(?:-[{_LO}]+)?)(?![\w])", re.IGNORECASE)
#: « maladie de Parkinson », « signe de Lasègue »: an eponym, not a person
_EPONYM_BEFORE = re.compile(r"(?:maladie|signe|syndrome|score|test|manœuvre|manoeuvre|échelle|classification|"
                            r"stade|critères|triade|réflexe|opération|intervention|technique|sonde|chorée|"
                            r"méthode|point|loi|type|selon|de type)s?\s+(?:de\s+|d['’]|du\s+)?$", re.IGNORECASE)


def _is_cap_name(tok: str) -> bool:
    """A capitalised or upper-case word that may be a name (not an acronym, a roman numeral, a title)."""
    return (_name_like(tok) and not re.fullmatch(_TITLE + r"\.?", tok, re.IGNORECASE)
            and not re.fullmatch(r"[IVXL]+", tok))


def _gazetteer_candidates(text: str, ctx: PseudoContext) -> list[_Cand]:
    """Undeclared names found by a first-name gazetteer, a role before them, or a surname already
    recognised in this export (propagation). Tier 2: declared names and identifiers win overlaps."""
    from tools.pseudonymise import gazetteer as gz

    out: list[_Cand] = []
    learned: set[str] = ctx.learned_surnames
    for m in _RUN_RE.finditer(text):
        toks = [(t.group(0), m.start() + t.start(), m.start() + t.end()) for t in re.finditer(r"\S+", m.group(0))]
        # drop leading titles and sentence-initial function words (« Vu », « Le », « Mme »)
        while toks and (re.fullmatch(_TITLE + r"\.?", toks[0][0], re.IGNORECASE) or toks[0][0].upper() in _NOT_NAMES
                        or (_common_word(toks[0][0]) and not toks[0][0].isupper()
                            and not (len(toks) > 1 and gz.is_first_name(toks[0][0])))):
            toks = toks[1:]
        while toks and not _is_cap_name(toks[-1][0]) and not re.fullmatch(_INITIAL, toks[-1][0]):
            toks = toks[:-1]
        # « BELKACEM Biologiste »: a Title-case word after an upper-case surname ends the name,
        # unless it is a first name (« KAHN Olivier »)
        for i in range(1, len(toks)):
            prev = toks[i - 1][0]
            if (prev.isupper() and not re.fullmatch(_INITIAL, prev) and not toks[i][0].isupper()
                    and not gz.is_first_name(toks[i][0])):
                toks = toks[:i]
                break
        if not toks or any(fold_chars(t) in gz.EPONYMS for t, _, _ in toks):
            continue
        s, e = toks[0][1], toks[-1][2]
        words = [t for t, _, _ in toks]
        if re.search(r"\d[ \t]*$", text[max(0, s - 3):s]):
            continue  # « 15 G. Évacuation » (a gauge), « 37 °C. Tirage »
        before = text[max(0, s - 40):s]
        if _EPONYM_BEFORE.search(before):
            continue
        role = _ROLE_BEFORE.search(before)
        firsts = [gz.is_first_name(w) for w in words]
        names_ok = all(_is_cap_name(w) or re.fullmatch(_INITIAL, w) for w in words)
        if not names_ok:
            continue
        single = len(words) == 1
        w0 = words[0]
        sentence_start = _sentence_start(text, s)
        if single:
            if w0.startswith("M.") or re.fullmatch(_INITIAL, w0):
                continue
            common = _common_word(w0)
            if role:
                family = re.fullmatch(_FAMILY_ROLE, role.group("role"), re.IGNORECASE)
                if common and not family and not gz.is_first_name(w0):
                    continue
                if not family and not (gz.is_first_name(w0) or gz.is_last_name(w0) or w0.isupper()):
                    continue
            elif fold_chars(w0) in learned:
                if common and sentence_start and not w0.isupper():
                    continue
            elif gz.is_first_name(w0) or gz.is_last_name(w0):
                if w0.isupper() and (len(w0) < 4 or re.match(r"[ \t]*\d", text[e:e + 4])):
                    continue  # « EVA 4/10 », « ALI »: upper-case acronyms, not a lone first name
                if common or re.search(r"(?:^|[\n:;•*]|^-|\n[ \t]*[-–]|\d\.)[ \t]*$", text[max(0, s - 6):s]):
                    continue  # line starts, list items and labels: « - Masse tissulaire », « Poids : »
                if sentence_start and not w0.isupper() and not (gz.is_first_name(w0) and _followed_by_verb(text, e)):
                    continue
            else:
                continue
        else:
            initial_start = (bool(re.fullmatch(_INITIAL, w0)) and not w0.startswith("M.") and len(words) > 1
                             and any(gz.is_last_name(w) or w.isupper() or fold_chars(w) in learned for w in words[1:]))
            if not (role or any(firsts) or initial_start
                    or any(fold_chars(w) in learned for w in words)
                    or all(gz.is_last_name(w) or w.isupper() for w in words) and any(gz.is_last_name(w) for w in words)):
                continue
            if not role and all(_common_word(w) for w in words if not re.fullmatch(_INITIAL, w)):
                continue
        out.append(_Cand(s, e, "NOM", None, "motif", 2, words=words))
        for w, f in zip(words, firsts):
            if not f and not re.fullmatch(_INITIAL, w) and len(w) > 2 and not _common_word(w):
                learned.add(fold_chars(w))
    # lower-case first names after a role: « son fils julien »
    for m in _LOWER_AFTER_ROLE.finditer(text):
        name = m.group("name")
        if gz.is_first_name(name.capitalize()) and not _common_word(name):
            out.append(_Cand(m.start("name"), m.end("name"), "NOM", None, "motif", 2, words=[name]))
    # propagation: a surname recognised anywhere in the export goes wherever it is capitalised
    if learned:
        alt = "|".join(sorted((re.escape(w) for w in learned), key=len, reverse=True))
        folded = fold_chars(text, lower=False)
        for m in re.finditer(rf"(?<![\w\[])(?:{alt})(?![\w\]])", folded, re.IGNORECASE):
            orig = text[m.start():m.end()]
            if orig[:1].isupper() and not _EPONYM_BEFORE.search(text[max(0, m.start() - 40):m.start()]):
                out.append(_Cand(m.start(), m.end(), "NOM", None, "motif", 2, words=[orig]))
    return out


def _followed_by_verb(text: str, end: int) -> bool:
    """« Claire refuse la toilette »: a capitalised word at a sentence start followed by a lower-case
    word (a verb or an apposition) is read as a first name."""
    return bool(re.match(r"[ \t]+(?:[a-zà-ÿ]+|,)", text[end:end + 20]))
