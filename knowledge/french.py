"""French text normalisation, written once: accent folding, a light stemmer, word tokens.

Why a module of its own: the chunker, the coding rules, the drafting parsers, the pseudonymiser,
the agent's router/composer/verifier and the UI's patient search all compare French words written
with or without accents, with typographic or straight apostrophes, in capitals or not. When each
layer folds in its own way, the verifier rejects words the composer produced and a heading is
found by one tool and missed by another. Everything here is pure and dependency-free.

* :func:`fold` — comparison key of a text: ligatures split (``Œdème`` -> ``oedeme``), accents
  removed, lower case, typographic apostrophes/quotes -> ``'``, dashes -> ``-``, ``µ`` -> ``u``,
  whitespace runs collapsed to one space and the ends stripped. The length may change: take
  offsets on the original text, or use :func:`fold_chars`;
* :func:`fold_chars` — the same idea one character for one character (``len(fold_chars(t)) ==
  len(t)``), so that a match found in the folded text is at the same offsets in the original;
  ``lower=False`` keeps the case (the pseudonymiser matches names case-sensitively);
* :func:`stem` — a light French suffix stripper on folded tokens;
* :func:`tokens` / :func:`words` / :func:`stems` — folded word tokens (numbers kept), with or
  without stemming.

Example::

    >>> fold("  Œdème  aigu du poumon – l’HTA ")
    "oedeme aigu du poumon - l'hta"
    >>> fold_chars("Élise l’aînée"), fold_chars("Élise", lower=False)
    ("elise l'ainee", 'Elise')
    >>> [stem(w) for w in ("pulmonaires", "rénaux", "hypertensive", "hypertension", "allergique")]
    ['pulmon', 'ren', 'hypertens', 'hypertens', 'allerg']
    >>> words("K+ 2.3 mmol/l, Diabète de type 2")
    ['k', '2.3', 'mmol', 'l', 'diabete', 'de', 'type', '2']
    >>> stems("Insuffisances cardiaques aiguës")
    ['insuffis', 'cardi', 'aigu']

Limits: :func:`stem` is a suffix stripper, not a lemmatiser: it conflates some distinct words
(``hépatite``/``hépatique`` -> ``hepat``) and leaves irregular forms apart (``œil``/``yeux``);
:func:`fold_chars` cannot split ligatures (``œ`` stays ``œ``, one character for one); folding
removes every combining mark, so it suits French (and Latin-script) text only.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

__all__ = ["APOSTROPHES", "fold", "fold_chars", "stem", "stems", "tokens", "words"]

#: Characters read as a straight apostrophe (typographic apostrophes, quotes, accents used as such).
APOSTROPHES = "’‘ʼ`´"

# one character -> one character: shared by fold (before NFKD) and fold_chars (length kept)
_SAME_LENGTH = {**{c: "'" for c in APOSTROPHES}, "\u00a0": " ", "\u202f": " ", "\u2009": " ", "–": "-",
                "—": "-", "‑": "-", "µ": "u", "μ": "u"}
_CHAR_TABLE = str.maketrans(_SAME_LENGTH)
_FOLD_TABLE = str.maketrans({**_SAME_LENGTH, "œ": "oe", "Œ": "oe", "æ": "ae", "Æ": "ae", "ß": "ss"})
_SPACES = re.compile(r"\s+")


def fold(text: str) -> str:
    """Comparison key: no accents or ligatures, lower case, straight apostrophes, single spaces.

    >>> fold("Traitement À L’ENTRÉE\\n:"), fold("Cœur"), fold(None)
    ("traitement a l'entree :", 'coeur', '')
    """
    text = (text or "").translate(_FOLD_TABLE)
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    return _SPACES.sub(" ", text).strip()


@lru_cache(maxsize=4096)
def _fold_char(ch: str, lower: bool) -> str:
    base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
    out = base if len(base) == 1 else ch
    if lower:
        low = out.lower()
        out = low if len(low) == 1 else out
    return out


def fold_chars(text: str, *, lower: bool = True) -> str:
    """Accents removed one character for one (offsets preserved); lower case unless ``lower=False``.

    Characters that do not fold to one character (ligatures ``œ``, ``ﬁ``) are kept as they are.

    >>> t = "Sœur d’Élise"
    >>> f = fold_chars(t)
    >>> f, len(f) == len(t), t[f.index("elise"):][:5]
    ("sœur d'elise", True, 'Élise')
    """
    text = (text or "").translate(_CHAR_TABLE)
    if text.isascii():
        return text.lower() if lower else text
    return "".join(_fold_char(ch, lower) for ch in text)


# --------------------------------------------------------------------------- tokens
_TOKEN_RE = re.compile(r"[0-9a-z]+")
_WORD_RE = re.compile(r"[a-z0-9]+(?:[.,][0-9]+)?")
_NUMBER_RE = re.compile(r"\d+(?:[.,]\d+)?")


def tokens(text: str) -> list[str]:
    """Folded alphanumeric tokens, in order: ``"Diabète de type 2"`` -> ``['diabete', 'de', 'type', '2']``."""
    return _TOKEN_RE.findall(fold(text))


def words(text: str) -> list[str]:
    """Folded word tokens, in order, decimal numbers kept whole (``2,3``, ``2.3``)."""
    return _WORD_RE.findall(fold(text))


# --------------------------------------------------------------------------- stemming
# Suffixes stripped by :func:`stem`, longest first; the stem keeps at least 3 characters.
_SUFFIXES = tuple(
    sorted(
        """issements issement atrices ateurs ations ation atrice ateur ements ement ivement
        iennes ienne iens ien ieuses ieuse ieux euses euse eux iques ique aques aque ismes isme
        istes iste ites ite aires aire elles elle els el ales ale al ances ance ants ant antes ante
        ences ence ents ent ions ion ives ive ifs if ees ee es e er ie ies""".split(),
        key=len,
        reverse=True,
    )
)


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A light French suffix stripper (plural, adjective and noun endings) on one word.

    The word is folded first. Numbers are kept, with a decimal comma (``2.3`` -> ``2,3``), so
    that ``2.3`` and ``2,3`` meet. Enough to make "pulmonaire(s)", "rénal/rénale/rénaux",
    "hypertension/hypertensive", "diabète/diabétique", "allergie/allergique" meet.

    >>> stem("bulleux") == stem("bulleuse"), stem("2.3"), stem("interrompue") == stem("interrompu")
    (True, '2,3', True)
    """
    t = fold(word)
    if _NUMBER_RE.fullmatch(t):
        return t.replace(".", ",")
    if len(t) <= 3:
        return t
    if t.endswith("aux") and len(t) > 5:
        t = t[:-3] + "al"
    elif t[-1] in "sx" and len(t) > 4 and not t.endswith("eux"):  # "bulleux": a suffix below, not a plural
        t = t[:-1]
    for suf in _SUFFIXES:
        if t.endswith(suf) and len(t) - len(suf) >= 3:
            return t[: -len(suf)]
    return t


def stems(text: str, stop_words: frozenset[str] | set[str] = frozenset()) -> list[str]:
    """Stems of the words of ``text`` in order, folded ``stop_words`` left out."""
    return [stem(w) for w in words(text) if w not in stop_words]
