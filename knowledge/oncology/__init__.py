"""Oncology vocabulary shared by the structuring tools: sites, histologies, regimens, metastatic sites.

Why a data file (``lexicon.json``): a DIM coder or an oncologist can extend the vocabulary without
touching code, and every layer (extraction, FHIR mapping, data dictionary) reads the same list.
Patterns are regular expressions on :func:`knowledge.french.fold_chars` text (lower case, accents
removed one character for one, so match offsets are offsets in the original text).

Example::

    >>> lex = lexicon()
    >>> [s["code"] for s in lex["sites"] if s["label"] == "côlon sigmoïde"]
    ['C18.7']
    >>> regimen("FOLFOX")["type"]
    'chimiothérapie'

Limits: the lists cover the cancers of the dev set and the most frequent French regimens; an
unlisted regimen or site is not extracted (it is never guessed).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

LEXICON = Path(__file__).with_name("lexicon.json")


@lru_cache(maxsize=1)
def lexicon() -> dict:
    return json.loads(LEXICON.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def compiled() -> dict[str, list[tuple[dict, re.Pattern]]]:
    """Every list of the lexicon with its compiled pattern (case-insensitive unless flagged)."""
    lex = lexicon()
    out = {}
    for key in ("sites", "breast_quadrants", "haematology", "histology", "metastatic_sites", "regimens"):
        out[key] = [(e, re.compile(e["pattern"], 0 if e.get("case_sensitive") else re.IGNORECASE)) for e in lex[key]]
    return out


def regimen(key: str) -> dict | None:
    return next((r for r in lexicon()["regimens"] if r["key"] == key), None)


__all__ = ["LEXICON", "compiled", "lexicon", "regimen"]
