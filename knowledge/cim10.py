"""The ATIH CIM-10 FR table (PMSI edition), loaded once and queried in microseconds.

Why: every code medassist suggests must exist in the French PMSI table, be *codable* and respect
the ATIH position restrictions (a code allowed as DAS may be forbidden as DP). The table shipped in
``edsnlp`` (``edsnlp/resources/cim10.csv.gz``, 42,886 codes, columns ``code,type,ssr,psy,short,long``,
codes without dots) is that ATIH file, so we read it rather than a copy of our own; chapters, which
the file lacks, come from ``knowledge/data/cim10_chapters.json`` (22 rows written by us); the
hierarchy is derived from code prefixes.

The ``type`` column ("Type MCO/HAD" of the ATIH file). Meanings as given by the ATIH technical notice
of the *CIM-10 FR à usage PMSI* file (field "Type MCO/HAD"; the notice adds that it mirrors table
DIAG10CR of the MCO grouping function; the wording is reproduced in public FHIR terminology
definitions of the ATIH CIM-10, property ``typeMcoHad``), then what this table actually carries (counts measured on
the 42,886 rows, see ``tests/test_cim10.py``):

======  =====================================  ======  ===============================================
type    ATIH meaning                           codes   observed in the data
======  =====================================  ======  ===============================================
0       no particular restriction              13,352  specific codes of every chapter, including 718
                                                       Z codes (Z51.1 chemotherapy session, Z49.1
                                                       dialysis: allowed as DP) and dagger/asterisk
                                                       codes (G01, I32.0, H36.0, G63.2: allowed as DP
                                                       in France); 703 of them also have optional
                                                       children (F03 -> F03.+0, M81.9 -> M81.99)
1       forbidden as DP and DR, allowed            444  "sans précision" catch-alls (I51.9, E11.80,
        elsewhere                                      T14.9, 25 Z codes such as Z51.9), agents
                                                       B95–B98, resistances U82–U85, births Z37
2       forbidden as DP and DR: external       26,536  every codable V, W, X, Y code, plus T76 and
        cause of morbidity                             U12.9; hierarchical (W19 -> W19.0 -> W19.00)
3       forbidden as DP, DR and DA: non-empty   2,478  2,102 parents with children (I50, E11, E11.9),
        (sub)categories, "code père interdit"          all 401 suppressed codes (``*** SU.. ***``)
                                                       and 7 leaves ATIH forbids (C79.9, C80.9,
                                                       J98.7, O26.9, Z37.9...)
4       forbidden as DP, allowed elsewhere         76  sequelae only: every label starts with
        (DR, DAS)                                      "Séquelles" (B90–B94, E64, E68, G09, I69, O94,
                                                       T90–T98)
======  =====================================  ======  ===============================================

So: ``codable`` = type != 3; DP allowed = type 0; DR allowed = type 0 or 4; DAS allowed = 0, 1, 2, 4.
The ``ssr`` column holds four O/N flags (SSR positions FPP, MMP, AE, DA) and ``psy`` the RIM-P
restriction (0, 1 or 3); both are kept verbatim.

Example::

    >>> from knowledge.cim10 import get_catalogue, dot, undot
    >>> cat = get_catalogue()
    >>> dot("I5002"), undot("i50.02")
    ('I50.02', 'I5002')
    >>> e = cat["I50.02"]
    >>> e.dotted, e.codable, e.dp_allowed, e.chapter
    ('I50.02', True, True, 'IX')
    >>> cat.codable("I50"), cat.parent("I5002"), cat.children("I500")
    (False, 'I500', ('I5000', 'I5001', 'I5002', 'I5009'))
    >>> [h.dotted for h in cat.search("fibrillation auriculaire paroxystique", limit=1)]
    ['I48.0']

Limits: the table has no synonyms or inclusion terms (only the ATIH short and long labels), so label
search finds "insuffisance cardiaque" but not "OAP" or "ACFA"; the stemmer is a light suffix
stripper (:func:`knowledge.french.stem`), not a lemmatiser; chapters are ours (WHO ranges with ATIH
French titles) — the file has none. The table is the one pinned by ``edsnlp==0.23.0``; a later ATIH
release needs a new file.
"""

from __future__ import annotations

import bisect
import csv
import gzip
import hashlib
import io
import json
import math
import re
from collections import defaultdict
from dataclasses import dataclass
from enum import IntEnum
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Iterator

from pydantic import BaseModel, ConfigDict

from knowledge.french import stem, tokens
from medassist.pickle_cache import cached

__all__ = [
    "AtihType",
    "Chapter",
    "Cim10Catalogue",
    "Cim10Entry",
    "SearchHit",
    "dot",
    "get_catalogue",
    "says_unspecified",
    "source_path",
    "stems",
    "undot",
]

#: Bump when the pickled state layout or the stemmer changes (invalidates caches).
_FORMAT_VERSION = 6


# --------------------------------------------------------------------------- ATIH type semantics
class AtihType(IntEnum):
    """ATIH "Type MCO/HAD" values (see the module docstring for source and observed codes)."""

    NO_RESTRICTION = 0  # pas de restriction particulière
    NOT_DP_DR = 1  # interdit en DP et DR, autorisé ailleurs
    EXTERNAL_CAUSE = 2  # interdit en DP et DR : cause externe de morbidité
    NOT_CODABLE = 3  # interdit en DP, DR et DA : catégorie non vide ou code père, code supprimé
    NOT_DP = 4  # interdit en DP, autorisé ailleurs (séquelles)


_DP_TYPES = frozenset({AtihType.NO_RESTRICTION})
_DR_TYPES = frozenset({AtihType.NO_RESTRICTION, AtihType.NOT_DP})
_DA_TYPES = frozenset({AtihType.NO_RESTRICTION, AtihType.NOT_DP_DR, AtihType.EXTERNAL_CAUSE, AtihType.NOT_DP})

_CODE_RE = re.compile(r"^[A-Z][0-9]{2}[0-9+]*$")


# --------------------------------------------------------------------------- code formatting
def undot(code: str) -> str:
    """``"i50.02 "`` -> ``"I5002"``: the ATIH file's own form (no dot, upper case).

    >>> undot("E11.90"), undot("T10.+0"), undot("I10")
    ('E1190', 'T10+0', 'I10')
    """
    return code.strip().upper().replace(".", "").replace(" ", "")


def dot(code: str) -> str:
    """``"I5002"`` -> ``"I50.02"``: the dot goes after the 3-character category.

    >>> dot("I5002"), dot("I10"), dot("T10+0"), dot("E11.90")
    ('I50.02', 'I10', 'T10.+0', 'E11.90')
    """
    c = undot(code)
    return c if len(c) <= 3 else f"{c[:3]}.{c[3:]}"


# --------------------------------------------------------------------------- French text helpers
#: Function words removed from queries and labels before matching.
STOPWORDS = frozenset(
    """a au aux avec ce ces d de des du en et l la le les leur leurs ou par pour sa se ses son sur
    un une dans chez y qui que dont est sont ete etre""".split()
)


def stems(text: str) -> list[str]:
    """Stems of the content words of ``text`` (stop words dropped, order kept).

    >>> stems("Diabète de type 2, insulinotraité")
    ['diabet', 'typ', '2', 'insulinotra']
    """
    return [stem(t) for t in tokens(text) if t not in STOPWORDS]


_PARENS_RE = re.compile(r"\([^()]*\)")

#: Label stems that say "unspecified"/"other": ignored when measuring how much of a label a query covers.
_GENERIC_STEMS = frozenset(
    stem(w)
    for w in """autres autre precise precises precisee precisees precision sai classes classees ailleurs
    non sans siege sieges niveau forme formes due dus dues lie lies liee liees cours""".split()
)


# --------------------------------------------------------------------------- models
class Chapter(BaseModel):
    """One of the 22 CIM-10 chapters (roman numeral, inclusive 3-character range, French title)."""

    model_config = ConfigDict(frozen=True)

    numeral: str
    start: str
    end: str
    title: str

    @property
    def roman(self) -> str:
        """Alias of :attr:`numeral`."""
        return self.numeral

    def contains(self, code: str) -> bool:
        return self.start <= undot(code)[:3] <= self.end


class Cim10Entry(BaseModel):
    """One row of the ATIH table, with the derived hierarchy and position rules."""

    model_config = ConfigDict(frozen=True)

    code: str  # undotted, as in the ATIH file: "I5002"
    dotted: str  # "I50.02"
    label: str  # ATIH long label
    short_label: str  # ATIH short label (upper case, abbreviated)
    type: int  # ATIH Type MCO/HAD (see AtihType)
    ssr: str  # 4 O/N flags: SSR positions FPP, MMP, AE, DA
    psy: str  # RIM-P restriction
    chapter: str  # roman numeral
    parent: str | None  # undotted parent code (longest existing prefix), None for categories

    @property
    def codable(self) -> bool:
        """False for ATIH type 3 (parent categories, suppressed codes)."""
        return self.type != AtihType.NOT_CODABLE

    @property
    def dp_allowed(self) -> bool:
        return self.type in _DP_TYPES

    @property
    def dr_allowed(self) -> bool:
        return self.type in _DR_TYPES

    @property
    def das_allowed(self) -> bool:
        return self.type in _DA_TYPES

    @property
    def suppressed(self) -> bool:
        """Codes removed by ATIH keep a row labelled ``*** SU.. ***`` (type 3)."""
        return self.label.startswith("***")


class SearchHit(BaseModel):
    """A label-search result; ``score`` combines the two coverages (see :meth:`Cim10Catalogue.search`)."""

    code: str
    dotted: str
    label: str
    codable: bool
    score: float
    query_coverage: float  # idf-weighted share of the query's words found in the label
    label_coverage: float  # idf-weighted share of the label's specific words found in the query


# --------------------------------------------------------------------------- catalogue
def source_path() -> Path:
    """Path of the ATIH table shipped with edsnlp."""
    return Path(str(resources.files("edsnlp") / "resources" / "cim10.csv.gz"))


def _chapters_path() -> Path:
    return Path(str(resources.files("knowledge.data") / "cim10_chapters.json"))


@dataclass
class _State:
    """Plain-data state: what the pickle cache stores (loads in tens of milliseconds)."""

    rows: dict[str, tuple[int, str, str, str, str]]  # code -> (type, ssr, psy, short, long)
    parent: dict[str, str]
    children: dict[str, tuple[str, ...]]
    chapters: list[dict]
    chapter_of_category: dict[str, int]
    label_stems: dict[str, tuple[str, ...]]
    specific: dict[str, tuple[str, ...]]  # label stems outside parentheses, minus generic words
    postings: dict[str, tuple[str, ...]]
    idf: dict[str, float]


def _build_state(csv_bytes: bytes, chapters: list[dict]) -> _State:
    rows: dict[str, tuple[int, str, str, str, str]] = {}
    with gzip.open(io.BytesIO(csv_bytes), "rt", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            code = r["code"].strip().upper()
            if not _CODE_RE.match(code):
                raise ValueError(f"Code CIM-10 inattendu dans la table ATIH : {code!r}")
            rows[code] = (int(r["type"]), r["ssr"], r["psy"], r["short"].strip(), r["long"].strip())

    parent: dict[str, str] = {}
    kids: dict[str, list[str]] = defaultdict(list)
    for code in rows:
        for cut in range(len(code) - 1, 2, -1):
            if code[:cut] in rows:
                parent[code] = code[:cut]
                kids[code[:cut]].append(code)
                break

    chapter_of_category: dict[str, int] = {}
    for code in rows:
        cat = code[:3]
        if cat in chapter_of_category:
            continue
        hits = [i for i, ch in enumerate(chapters) if ch["start"] <= cat <= ch["end"]]
        if len(hits) != 1:
            raise ValueError(f"Catégorie {cat} : {len(hits)} chapitres correspondants")
        chapter_of_category[cat] = hits[0]

    label_stems: dict[str, tuple[str, ...]] = {}
    specific: dict[str, tuple[str, ...]] = {}
    post: dict[str, list[str]] = defaultdict(list)
    for code, (_t, _s, _p, _short, long) in rows.items():
        st = tuple(dict.fromkeys(stems(long)))
        label_stems[code] = st
        core = [x for x in dict.fromkeys(stems(_PARENS_RE.sub(" ", long))) if x not in _GENERIC_STEMS]
        specific[code] = tuple(core) or tuple(x for x in st if x not in _GENERIC_STEMS)
        for s in st:
            post[s].append(code)
    n = len(rows)
    idf = {s: math.log(1 + n / len(codes)) for s, codes in post.items()}
    return _State(
        rows=rows,
        parent=parent,
        children={k: tuple(sorted(v)) for k, v in kids.items()},
        chapters=chapters,
        chapter_of_category=chapter_of_category,
        label_stems=label_stems,
        specific=specific,
        postings={s: tuple(c) for s, c in post.items()},
        idf=idf,
    )


class Cim10Catalogue:
    """In-memory ATIH CIM-10 FR table: lookup, hierarchy, chapters, position rules, label search.

    Build it with :func:`get_catalogue` (cached in the process and on disk); the constructor takes
    the plain state so tests can build small catalogues.
    """

    def __init__(self, state: _State, *, source_hash: str = ""):
        self._s = state
        self._rows = state.rows
        self._entries: dict[str, Cim10Entry] = {}
        self._chapters = [Chapter(**c) for c in state.chapters]
        self._sorted_stems = sorted(state.postings)
        self._max_idf_value = max(state.idf.values(), default=1.0)
        self.source_hash = source_hash

    # ----------------------------------------------------------------- lookup
    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and (code in self._rows or undot(code) in self._rows)

    def __getitem__(self, code: str) -> Cim10Entry:
        entry = self.get(code)
        if entry is None:
            raise KeyError(f"Code CIM-10 inconnu : {code}")
        return entry

    def get(self, code: str) -> Cim10Entry | None:
        """Entry for a dotted or undotted code, ``None`` if absent (memoised: < 1 µs once seen)."""
        entry = self._entries.get(code)
        if entry is not None:
            return entry
        key = undot(code)
        entry = self._entries.get(key)
        if entry is None:
            row = self._rows.get(key)
            if row is None:
                return None
            t, ssr, psy, short, long = row
            entry = Cim10Entry.model_construct(
                code=key,
                dotted=dot(key),
                label=long,
                short_label=short,
                type=t,
                ssr=ssr,
                psy=psy,
                chapter=self._chapters[self._s.chapter_of_category[key[:3]]].numeral,
                parent=self._s.parent.get(key),
            )
            self._entries[key] = entry
        self._entries[code] = entry
        return entry

    def label(self, code: str) -> str:
        return self[code].label

    def type_of(self, code: str) -> AtihType:
        return AtihType(self[code].type)

    def codable(self, code: str) -> bool:
        """Exists and is not ATIH type 3 (parent category or suppressed code)."""
        row = self._rows.get(code) or self._rows.get(undot(code))
        return row is not None and row[0] != AtihType.NOT_CODABLE

    def dp_allowed(self, code: str) -> bool:
        """Codable and allowed as diagnostic principal (ATIH type 0)."""
        row = self._rows.get(undot(code))
        return row is not None and row[0] in _DP_TYPES

    def das_allowed(self, code: str) -> bool:
        row = self._rows.get(undot(code))
        return row is not None and row[0] in _DA_TYPES

    # ----------------------------------------------------------------- hierarchy
    def parent(self, code: str) -> str | None:
        """Undotted parent (the longest shorter code present in the table)."""
        return self._s.parent.get(undot(code))

    def children(self, code: str) -> tuple[str, ...]:
        """Undotted direct children, sorted."""
        return self._s.children.get(undot(code), ())

    def ancestors(self, code: str) -> list[str]:
        out, cur = [], self.parent(code)
        while cur is not None:
            out.append(cur)
            cur = self.parent(cur)
        return out

    def descendants(self, code: str) -> list[str]:
        out: list[str] = []
        stack = list(reversed(self.children(code)))
        while stack:
            c = stack.pop()
            out.append(c)
            stack.extend(reversed(self.children(c)))
        return out

    def codable_descendants(self, code: str) -> list[str]:
        return [c for c in self.descendants(code) if self.codable(c)]

    def unspecified_child(self, code: str) -> str | None:
        """Walk down from a non-codable code to its codable "unspecified" leaf.

        At each level prefer a child ending in ``9`` whose label says "sans précision"/"non
        précisé"/"SAI", then any child ending in ``9`` (the WHO slot for "unspecified"), then any
        child whose label says so; stop at the first codable code. ``None`` when no such path exists
        (e.g. ``I21``'s leaves differ by care episode, not by precision).

        >>> get_catalogue().unspecified_child("E11")
        'E1198'
        """
        cur = undot(code)
        if cur not in self._rows:
            return None
        while not self.codable(cur):
            kids = [k for k in self.children(cur) if not self[k].suppressed]
            if not kids:
                return None
            pick = (
                next((k for k in kids if k.endswith("9") and says_unspecified(self._rows[k][4])), None)
                or next((k for k in kids if k.endswith("9")), None)
                or next((k for k in kids if says_unspecified(self._rows[k][4])), None)
            )
            if pick is None:
                return None
            cur = pick
        return cur

    # ----------------------------------------------------------------- chapters
    @property
    def chapters(self) -> list[Chapter]:
        return list(self._chapters)

    def chapter(self, code: str) -> Chapter:
        """Chapter of a code (``KeyError`` for a category outside the table)."""
        cat = undot(code)[:3]
        idx = self._s.chapter_of_category.get(cat)
        if idx is None:
            hits = [c for c in self._chapters if c.contains(cat)]
            if not hits:
                raise KeyError(f"Aucun chapitre CIM-10 pour {code}")
            return hits[0]
        return self._chapters[idx]

    # ----------------------------------------------------------------- search
    def label_stems(self, code: str) -> tuple[str, ...]:
        return self._s.label_stems.get(undot(code), ())

    def idf(self, stem_: str) -> float:
        return self._s.idf.get(stem_, 0.0)

    def specific_stems(self, code: str) -> tuple[str, ...]:
        """Label stems of ``code`` that a mention must contain: words in parentheses (ATIH's
        optional modifiers, "Sténose (de la valvule) aortique (non rhumatismale)") and
        "unspecified"-type words (autres, précisé, SAI...) left out."""
        return self._s.specific.get(undot(code), ())

    def labels_within(self, words: set[str], *, min_specific: int = 2, max_postings: int = 4000) -> list[str]:
        """Codes whose label's specific stems are *all* in ``words`` (a set of stems), most specific first.

        The order-insensitive, stemmed counterpart of exact label matching: "col fémoral
        fracturé" contains every specific stem of no label, but "fracture du col du fémur
        déplacée" contains those of S72.0. Suppressed codes are skipped; only labels with at
        least ``min_specific`` specific stems qualify (single words are left to exact matching).

        >>> get_catalogue().labels_within({"fractur", "col", "femur", "deplac"})[:1]
        ['S720']
        """
        seen: set[str] = set()
        out: list[tuple[int, bool, str]] = []
        for w in words:
            post = self._s.postings.get(w, ())
            if len(post) > max_postings:
                continue
            for code in post:
                if code in seen:
                    continue
                seen.add(code)
                spec = self.specific_stems(code)
                if len(spec) < min_specific or self._rows[code][4].startswith("***"):
                    continue
                if all(x in words for x in spec):
                    row = self._rows[code]
                    out.append((len(spec), row[0] == AtihType.NOT_CODABLE, row[4].startswith("Autre"), code))
        # most specific first; then codable, then "X, sans précision" before "Autres X"
        out.sort(key=lambda t: (-t[0], t[1], t[2], len(t[3]), t[3]))
        return [c for _n, _nc, _a, c in out]

    def _expand(self, st: str) -> list[str]:
        """A query stem, or, when it is not indexed, the indexed stems it prefixes ("insuf" -> "insuffis")."""
        if st in self._s.postings:
            return [st]
        out: list[str] = []
        if len(st) < 4:
            return out
        i = bisect.bisect_left(self._sorted_stems, st)
        while i < len(self._sorted_stems) and self._sorted_stems[i].startswith(st) and len(out) < 20:
            if self._sorted_stems[i] != st:
                out.append(self._sorted_stems[i])
            i += 1
        return out

    def search(
        self,
        query: str,
        *,
        limit: int = 10,
        codable_only: bool = False,
        chapter: str | None = None,
        min_score: float = 0.0,
    ) -> list[SearchHit]:
        """Accent-insensitive, stemmed token search over ATIH long labels, best first.

        Score in [0, 1] = 0.6 x (idf-weighted share of the query matched) + 0.4 x (share of the
        label's specific words matched), so "insuffisance cardiaque" ranks *Insuffisance cardiaque,
        sans précision* above longer labels. A query stem absent from the index matches the stems
        it prefixes ("insuf" -> "insuffis"; at least 4 letters). Ties: codable first, then the WHO
        "unspecified" slot (code ending in 9), then shorter code.

        >>> [h.dotted for h in get_catalogue().search("embolie pulmonaire", limit=2)]
        ['I26', 'I26.9']
        """
        q = list(dict.fromkeys(s for s in stems(query) if s))
        if not q:
            return []
        groups = [(s, self._expand(s)) for s in q]
        q_total = sum(max((self.idf(x) for x in ex), default=self._max_idf()) for _s, ex in groups)
        matched: dict[str, float] = defaultdict(float)
        for _s, ex in groups:
            best_for_code: dict[str, float] = {}
            for x in ex:
                w = self.idf(x)
                for code in self._s.postings.get(x, ()):
                    if w > best_for_code.get(code, 0.0):
                        best_for_code[code] = w
            for code, w in best_for_code.items():
                matched[code] += w
        hits: list[tuple[float, int, int, str]] = []
        for code, m in matched.items():
            row = self._rows[code]
            if codable_only and row[0] == AtihType.NOT_CODABLE:
                continue
            if row[4].startswith("***"):
                continue
            if chapter is not None and self.chapter(code).numeral != chapter:
                continue
            specific = [s for s in self._s.label_stems[code] if s not in _GENERIC_STEMS]
            l_total = sum(self.idf(s) for s in specific) or 1.0
            l_matched = sum(self.idf(s) for s in specific if any(s in ex for _q, ex in groups))
            q_cov = min(1.0, m / q_total)
            l_cov = min(1.0, l_matched / l_total)
            score = 0.6 * q_cov + 0.4 * l_cov
            if score >= min_score:
                hits.append((score, row[0] == AtihType.NOT_CODABLE, len(code), code, q_cov, l_cov))
        hits.sort(key=lambda h: (-h[0], h[1], not h[3].endswith("9"), h[2], h[3]))
        return [
            SearchHit(
                code=c,
                dotted=dot(c),
                label=self._rows[c][4],
                codable=self._rows[c][0] != AtihType.NOT_CODABLE,
                score=round(s, 4),
                query_coverage=round(qc, 4),
                label_coverage=round(lc, 4),
            )
            for s, _nc, _l, c, qc, lc in hits[:limit]
        ]

    def _max_idf(self) -> float:
        return self._max_idf_value


_UNSPEC_RE = re.compile(r"sans pr[ée]cision|non pr[ée]cis[ée]e?s?|\bSAI\b", re.IGNORECASE)


def says_unspecified(label: str) -> bool:
    """True for ATIH labels such as "…, sans précision", "… non précisé(e)", "… SAI"."""
    return bool(_UNSPEC_RE.search(label))


# --------------------------------------------------------------------------- loading & cache
def _cache_dir() -> Path:
    from medassist.settings import get_settings

    return get_settings().cache_dir


def load_catalogue(*, cache_dir: Path | None = None, use_cache: bool = True) -> Cim10Catalogue:
    """Read the ATIH table (or its pickle, keyed by the source file's sha256 and our format version).

    The first call parses the CSV and builds the search index (~1–2 s); later processes unpickle
    the state (well under a second). A corrupt or stale cache file is rebuilt silently.
    """
    src = source_path().read_bytes()
    chapters_raw = _chapters_path().read_bytes()
    digest = hashlib.sha256(src + chapters_raw + str(_FORMAT_VERSION).encode()).hexdigest()[:16]
    cache_file = (cache_dir or _cache_dir()) / f"cim10_catalogue_{digest}.pkl"
    state = cached(cache_file, lambda: _build_state(src, json.loads(chapters_raw)["chapters"]), use_cache=use_cache,
                   valid=lambda obj: isinstance(obj, _State))
    return Cim10Catalogue(state, source_hash=digest)


@lru_cache(maxsize=1)
def get_catalogue() -> Cim10Catalogue:
    """The process-wide catalogue (loaded once; see :func:`load_catalogue`)."""
    return load_catalogue()
