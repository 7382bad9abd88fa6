"""Sentence, number and term helpers shared by the router, the composer and the verifier.

Why a module of its own: the three deterministic parts of the agent must agree on what a
"sentence", a "number" and "the same term" are, otherwise the verifier would reject sentences
the composer itself produced. Folding and stemming are :mod:`knowledge.french`'s, dates
:mod:`knowledge.dates`'s, as everywhere else.

* :func:`terms` — content words as light stems (stop words out, :func:`knowledge.french.stem`:
  ``allergie``/``allergique`` or ``interrompu``/``interrompue`` meet);
* :func:`sentences` — sentence/line spans with exact offsets (``text[s:e]``), lists and headings
  of clinical reports kept one item per span;
* :func:`numbers` — the numeric facts of a text (``30 %``, ``2,3``, ``23/03/2026``, ``10h30``)
  normalised so that ``2.3`` and ``2,3`` compare equal.

Example::

    >>> terms("Le patient présente-t-il une allergie médicamenteuse ?")
    ['present', 'allerg', 'medicament']
    >>> [text[s:e] for text in ["Pas de fièvre. FEVG à 30 %.\\n- APIXABAN 5 mg - RAMIPRIL 5 mg"]
    ...  for s, e in sentences(text)]
    ['Pas de fièvre.', 'FEVG à 30 %.', 'APIXABAN 5 mg', 'RAMIPRIL 5 mg']
    >>> sorted(numbers("K+ 2.3 mmol/l le 23/03/2026 à 10h30"))
    ['10h30', '2,3', '23/03/2026']

Limits: the stemmer strips suffixes, it does not lemmatise (``médicament``/``médicamenteuse``
stay apart); the sentence splitter does not know abbreviations ending with a dot (rare in our
documents: ``Dr`` has none).
"""

from __future__ import annotations

import re
import unicodedata

from knowledge.dates import DATE_NUM_RE
from knowledge.french import fold, stem, words

#: French function words and question words that carry no content for matching.
STOP_WORDS = frozenset("""
a à ai aie ait as au aux avaient avait avant avec avez avoir avons ayant c ca ça ce ceci cela celle celles celui
ces cet cette ceux chez comme comment d dans de des doit doivent du elle elles en entre est et etaient etait ete
etre eu eux fait faut il ils j je l la le les leur leurs lors lui m ma mais me meme mes moi mon n ne ni nos notre
nous on ont ou où par pas pendant peut plus pour pourquoi qu quand que quel quelle quelles quels qui quoi s sa sans
se ses si son sont sous sur t ta te tes toi ton tous tout toute toutes tu un une vos votre vous y a-t-il
combien quelle quel existe existait existe-t-il y-a-t-il ete etes sera seront serait aurait avaient etaient
été était étaient lequel laquelle lesquels lesquelles dont ainsi aussi alors donc or car puis
patient patiente patients patientes malade
""".split())
# "car", "pour", "sans", "pas" are stop words for *matching*; the composer looks for causal and
# negation cues separately (see agents.compose).

_NUMBER = re.compile(
    r"\b\d{1,2}\s?h\s?\d{2}\b"                  # times 10h30, 10 h 30
    r"|\b\d+(?:[ \u202f]\d{3})*(?:[.,]\d+)?"   # numbers 6 850, 2,3, 30
)
_SENT_END = re.compile(
    r"(?<=[.!?])\s+(?=[«\"(A-ZÀ-ÖØ-Ý0-9-])"   # sentence end
    r"|(?<=[;:])\s+(?=-\s)"                     # inline list after "Clé : - a ; - b"
    r"|(?<=\s;)\s+"                             # French " ; " between clauses / list items
    r"|\s(?=-\s+[A-ZÀ-ÖØ-Ý0-9])"               # inline bullet "… soir - BISOPROLOL 2,5 mg" (PDF lists)
)
_BULLET = re.compile(r"^[\s\-*•·>#|]+")


def clean_user_text(text: str) -> str:
    """What a user typed, made safe to route and search: NFKC (full-width letters, ligatures →
    plain), invisible format characters removed (zero-width spaces/joiners, bidi overrides), so
    that "Quel\u200b est" reads as "Quel est" and a hidden right-to-left override cannot
    disguise text. Visible content is unchanged."""
    text = unicodedata.normalize("NFKC", text or "")
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")


def terms(text: str, *, keep_stop: bool = False) -> list[str]:
    """Content stems of ``text`` in order (stop words out unless ``keep_stop``)."""
    out = []
    for w in words(text):
        if not keep_stop and (w in STOP_WORDS or (len(w) < 2 and not w.isdigit())):
            continue
        out.append(stem(w))
    return out


def bigrams(seq: list[str]) -> set[tuple[str, str]]:
    return set(zip(seq, seq[1:]))


def numbers(text: str) -> set[str]:
    """Numeric facts of ``text``, normalised: ``2.3``→``2,3``, ``6 850``→``6850``, ``10 h 30``→``10h30``,
    dates (:data:`knowledge.dates.DATE_NUM_RE`) as ``dd/mm/yy[yy]``."""
    text = text or ""
    out = {f"{int(d):02d}/{int(mth):02d}/{y}" for d, _sep, mth, y in DATE_NUM_RE.findall(text)}  # 23.03.26 -> 23/03/26
    for m in _NUMBER.finditer(DATE_NUM_RE.sub(lambda m: " " * len(m.group(0)), text)):
        out.add(re.sub(r"[ \u202f]", "", m.group(0)).replace(".", ","))
    return out


# A number read with what qualifies it: a date, a time, a score or ratio ("6/10", "6 sur 10"),
# or the unit / word that follows it ("6 kg", "30 %", "10 jours"). Matched on folded text.
_QUANTITY = re.compile(
    r"(?<![\w,.])(?P<d>\d{1,2})/(?P<m>\d{1,2})/(?P<y>\d{4}|\d{2})(?![\w/])"        # date 23/03/2026
    r"|(?<![\w,.])(?P<th>\d{1,2}) ?h ?(?P<tm>\d{2})(?!\w)"                            # time 10h30
    r"|(?<![\w,./])(?P<num>\d+(?:[ \u202f]\d{3})*(?:[.,]\d+)?)"                       # value 6, 2,3, 6 850
    r"(?: ?(?:/|sur ) ?(?P<den>\d+)(?!\w|[,./]\d)"                                    # score 6/10, 6 sur 10
    r"| ?/? ?(?P<unit>%|°c?|[a-z]+))?"                                                 # unit or word after it
)
#: the "units" of dates and times: no word or score can take these forms
DATE_UNIT, TIME_UNIT = "/date", "/time"
_UNIT_ALIASES = {"jour": "j", "heure": "h", "comprime": "cp", "cpr": "cp", "semaine": "sem", "minute": "min",
                 "seconde": "s", "annee": "an", "ans": "an", "mois": "mois", "°": "°c"}


def _unit(word: str) -> str:
    if not word.isalpha():
        return _UNIT_ALIASES.get(word, word)  # %, °c
    if word in STOP_WORDS or (len(word) == 1 and word not in "hjglms"):
        return ""  # "entre 6 et 8", "6 x 2": a function word qualifies nothing
    if word not in _UNIT_ALIASES and len(word) > 3 and word[-1] in "sx":
        word = word[:-1]
    return _UNIT_ALIASES.get(word, word)


def quantity_spans(folded: str) -> list[tuple[int, int, tuple[str, str]]]:
    """``(start, end, (value, unit))`` of every number of an already :func:`fold`-ed text; ``unit``
    is :data:`DATE_UNIT`, :data:`TIME_UNIT`, ``"/10"`` (score or ratio), a unit or word (``"kg"``, ``"%"``,
    ``"j"``), or empty when nothing qualifies the number."""
    out = []
    for m in _QUANTITY.finditer(folded):
        if m.group("d"):
            q = (f"{int(m.group('d')):02d}/{int(m.group('m')):02d}/{m.group('y')}", DATE_UNIT)
        elif m.group("th"):
            q = (f"{int(m.group('th'))}h{m.group('tm')}", TIME_UNIT)
        else:
            value = re.sub(r"[ \u202f]", "", m.group("num")).replace(".", ",")
            if m.group("den"):
                q = (str(int(value)) if value.isdigit() else value, f"/{int(m.group('den'))}")
            else:
                q = (value, _unit(m.group("unit") or ""))
        out.append((m.start(), m.end(), q))
    return out


def quantities(text: str) -> set[tuple[str, str]]:
    """Numbers of ``text`` with what they measure: ``(value, unit)`` pairs (see :func:`quantity_spans`).

    Why: matching bare numbers lets "EVA 6/10" match "prise de poids de 6 kg … depuis 10 jours".
    A date also reads as its day/month ratio, so "le 23/03" matches "23/03/2026".

    >>> sorted(quantities("EVA 6/10, poids +6 kg depuis 10 jours ; FEVG 30 % le 23/03/2026 à 10h30"))
    [('10', 'j'), ('10h30', '/time'), ('23', '/3'), ('23/03/2026', '/date'), ('30', '%'), ('6', '/10'), ('6', 'kg')]
    """
    out: set[tuple[str, str]] = set()
    for _, _, (value, unit) in quantity_spans(fold(text)):
        out.add((value, unit))
        if unit == DATE_UNIT:
            d, mth, _ = value.split("/")
            out.add((str(int(d)), f"/{int(mth)}"))
    return out


def same_quantity(wanted: tuple[str, str], found: set[tuple[str, str]]) -> bool:
    """``wanted`` is among ``found``: same value, and the same unit unless one side has none
    (a table cell "2,3" does not contradict "2,3 mmol/l"; "6 kg" does contradict "6/10")."""
    value, unit = wanted
    return any(v == value and (not unit or not u or u == unit) for v, u in found)


def sentences(text: str, offset: int = 0) -> list[tuple[int, int]]:
    """Spans ``(start, end)`` of sentences / list items / lines in ``text`` (+ ``offset``).

    Lines are split first (reports are line-oriented: lists, "Clé : valeur"), then each line at
    sentence ends. Leading bullets and surrounding blanks are excluded from the spans.
    """
    spans: list[tuple[int, int]] = []
    pos = 0
    for line in text.split("\n"):
        line_start = pos
        pos += len(line) + 1
        if not line.strip():
            continue
        cuts = [0] + [m.end() for m in _SENT_END.finditer(line)] + [len(line)]
        for a, b in zip(cuts, cuts[1:]):
            seg = line[a:b]
            lead = _BULLET.match(seg)
            a2 = a + (lead.end() if lead else 0)
            b2 = b - (len(seg) - len(seg.rstrip()))
            if b2 > a2 and re.search(r"\w", line[a2:b2]):
                spans.append((offset + line_start + a2, offset + line_start + b2))
    return spans


def excerpt(text: str, limit: int = 300) -> str:
    """``text`` on one line, cut at a word boundary to ``limit`` characters."""
    one = re.sub(r"\s+", " ", text).strip()
    if len(one) <= limit:
        return one
    cut = one.rfind(" ", 0, limit)
    return one[: cut if cut > limit // 2 else limit].rstrip(" ,;:") + " …"
