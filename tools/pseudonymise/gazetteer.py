"""Gazetteer of first names and surnames, for names nobody declared.

Why: patient.json declares the patient, the GP and a few relatives; notes also name neighbours,
nurses, interns, children. A title (« Dr », « Mme ») or a role (« fils », « voisine », « IDE »)
catches many of them (:mod:`.names`); a gazetteer catches « Olivier Kahn » with no title: a known
first name followed by a capitalised word is a person.

Source: the French-speaking person lists of ``faker`` (MIT, pure Python, installs offline from the
package cache; ``fr_FR``, ``fr_BE``, ``fr_CH``, ``fr_CA``, ``fr_DZ`` first names and surnames, plus the
surnames of ``pt_PT`` and ``vi_VN``, frequent in France) — about 1,500 first names and 1,400 surnames.
Nothing is downloaded at run time. Without faker the sets are empty and only the rules apply
(:func:`available` says which). ``names-dataset`` (PyPI) was considered: 55 MB of pickles to load at
each export, and pickles execute code: not kept.

Words that are also common French words (spaCy's stop words and the short list of
``patterns._COMMON_WORDS``) and clinical eponyms (« Parkinson », « Babinski ») are removed.

    >>> is_first_name("Olivier"), is_first_name("OLIVIER"), is_first_name("parkinson")
    (True, True, False)

Limits: a list is never complete (rare and foreign names are missing: the rules and the
propagation of a recognised surname through the document cover part of them); first names that
are common words (« Rose », « Pierre ») count as names only where the context says so.
"""

from __future__ import annotations

import importlib
from functools import lru_cache

from knowledge.french import fold_chars
from tools.pseudonymise.patterns import _COMMON_WORDS, _NOT_NAMES, _stop_words

_FIRST_LOCALES = ("fr_FR", "fr_BE", "fr_CH", "fr_CA", "fr_DZ")
_LAST_LOCALES = ("fr_FR", "fr_BE", "fr_CH", "fr_CA", "fr_DZ", "pt_PT", "vi_VN")

#: Eponyms and capitalised clinical words that person lists may contain: never taken for a name alone.
EPONYMS = frozenset(fold_chars(w) for w in """
Parkinson Alzheimer Babinski Lasègue Kernig Brudzinski Ménière Raynaud Horton Crohn Basedow Hashimoto Charcot
Cushing Addison Paget Hodgkin Kaposi Guillain Barré Murphy Apgar Child Pugh Gleason Breslow Folstein Karnofsky
Norton Braden Fagerström Wells Glasgow Holter Doppler Seldinger Foley Bricker Hartmann Whipple Nissen Lichtenstein
Katz Lawton Zarit Tinetti Korotkoff Starling Down Turner Marfan Wilson Willebrand Gilbert Bell Lyme Quincke
Trendelenburg Valsalva Lugol Dakin Bétadine Vidal Doliprane Kardegic Lovenox Duphalac Spasfon Tramadol Lasilix
Januvia Levothyrox Seresta Xanax Stilnox Coumadine Previscan Eliquis Xarelto Pradaxa Augmentin Rocephine
Arbor Ann Noël Pâques Toussaint Pentecôte Ascension France Europe Paris Normandie Bretagne
""".split())


@lru_cache(maxsize=1)
def _lists() -> tuple[frozenset[str], frozenset[str], bool]:
    try:
        importlib.import_module("faker")
    except ImportError:
        return frozenset(), frozenset(), False
    firsts: set[str] = set()
    lasts: set[str] = set()
    for loc in set(_FIRST_LOCALES) | set(_LAST_LOCALES):
        try:
            provider = importlib.import_module(f"faker.providers.person.{loc}").Provider
        except ImportError:
            continue
        if loc in _FIRST_LOCALES:
            for attr in ("first_names_male", "first_names_female", "first_names"):
                value = getattr(provider, attr, None)
                if isinstance(value, (list, tuple)):
                    firsts.update(value)
                elif isinstance(value, dict):  # weighted lists
                    firsts.update(value)
        if loc in _LAST_LOCALES:
            value = getattr(provider, "last_names", ())
            lasts.update(value if isinstance(value, (list, tuple, dict)) else ())
    stop = _stop_words() - _COMMON_WORDS  # « Blanc », « Marchand » stay: the context decides

    def keep(words: set[str]) -> frozenset[str]:
        out = set()
        for w in words:
            f = fold_chars(w.strip())
            if len(f) < 3 or f in stop or f in EPONYMS or f.upper() in _NOT_NAMES or not f.replace("-", "").replace(
                    " ", "").replace("'", "").isalpha():
                continue
            out.add(f)
        return frozenset(out)

    return keep(firsts), keep(lasts), True


def first_names() -> frozenset[str]:
    """Folded first names (« jean-pierre », « helene »)."""
    return _lists()[0]


def last_names() -> frozenset[str]:
    """Folded surnames (« lefebvre », « da silva »)."""
    return _lists()[1]


def is_first_name(word: str) -> bool:
    """A capitalised or upper-case word that is a known first name (each part of « Jean-Pierre »)."""
    if not word[:1].isupper():
        return False
    f = fold_chars(word)
    if f in first_names():
        return True
    parts = [p for p in f.split("-") if p]
    return len(parts) > 1 and all(p in first_names() for p in parts)


def is_last_name(word: str) -> bool:
    """A capitalised or upper-case word that is a known surname."""
    return word[:1].isupper() and fold_chars(word) in last_names()


def available() -> bool:
    """Whether the faker lists could be loaded (else only the rules run)."""
    return _lists()[2]
