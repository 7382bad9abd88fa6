"""Small, dependency-free French text helpers shared by the router, the composer and the verifier.

Why a module of its own: the three deterministic parts of the agent must agree on what a "word",
a "sentence", a "number" and "the same term" are, otherwise the verifier would reject sentences
the composer itself produced.

* :func:`fold` — lower case, accents removed, ligatures split (``Œdème`` -> ``oedeme``);
* :func:`terms` — content words as light stems (stop words out, plural stripped, cut to 6 letters:
  truncation stemming is crude but measured robust for French morphology such as
  ``allergie``/``allergique`` or ``interrompu``/``interrompue``);
* :func:`sentences` — sentence/line spans with exact offsets (``text[s:e]``), lists and headings
  of clinical reports kept one item per span;
* :func:`numbers` — the numeric facts of a text (``30 %``, ``2,3``, ``23/03/2026``, ``10h30``)
  normalised so that ``2.3`` and ``2,3`` compare equal.

Example::

    >>> fold("Œdème aigu du poumon")
    'oedeme aigu du poumon'
    >>> terms("Le patient présente-t-il une allergie médicamenteuse ?")
    ['presen', 'allerg', 'medica']
    >>> [text[s:e] for text in ["Pas de fièvre. FEVG à 30 %.\\n- APIXABAN 5 mg - RAMIPRIL 5 mg"]
    ...  for s, e in sentences(text)]
    ['Pas de fièvre.', 'FEVG à 30 %.', 'APIXABAN 5 mg', 'RAMIPRIL 5 mg']
    >>> sorted(numbers("K+ 2.3 mmol/l le 23/03/2026 à 10h30"))
    ['10h30', '2,3', '23/03/2026']

Limits: the stemmer is a truncation, so distinct words sharing six letters collide
(``cardiaque``/``cardiaques`` is wanted, ``thrombose``/``thrombus`` is tolerated); the sentence
splitter does not know abbreviations ending with a dot (rare in our documents: ``Dr`` has none).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_LIGATURES = str.maketrans({"œ": "oe", "Œ": "OE", "æ": "ae", "Æ": "AE", "’": "'", "‘": "'", "ʼ": "'",
                            "\u00a0": " ", "\u202f": " ", "–": "-", "—": "-"})

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

_WORD = re.compile(r"[a-z0-9]+(?:[.,][0-9]+)?")
_NUMBER = re.compile(
    r"\b\d{1,2}/\d{1,2}/\d{2,4}\b"            # dates 23/03/2026
    r"|\b\d{1,2}\s?h\s?\d{2}\b"                 # times 10h30, 10 h 30
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


def fold(text: str) -> str:
    """Lower case, accents and ligatures removed, typographic quotes/spaces normalised."""
    text = (text or "").translate(_LIGATURES)
    text = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in text if not unicodedata.combining(ch)).lower()


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """Light French stem of one *folded* word: plural stripped, cut to 6 letters; numbers kept."""
    if word[:1].isdigit():
        return word.replace(".", ",")
    if len(word) > 3 and word[-1] in "sx":
        word = word[:-1]
    return word[:6]


def words(text: str) -> list[str]:
    """Folded word tokens, in order (numbers with decimals kept whole: ``2,3``)."""
    return _WORD.findall(fold(text))


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
    """Numeric facts of ``text``, normalised: ``2.3``→``2,3``, ``6 850``→``6850``, ``10 h 30``→``10h30``."""
    out = set()
    for m in _NUMBER.finditer(text or ""):
        tok = m.group(0)
        tok = re.sub(r"[ \u202f]", "", tok).replace(".", ",")
        if "/" in tok:
            d, mth, y = tok.split("/")
            tok = f"{int(d):02d}/{int(mth):02d}/{y}"
        out.add(tok)
    return out


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
