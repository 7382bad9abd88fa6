"""Deterministic CIM-10 suggestion from cited spans: extract, qualify, resolve, rank.

Why: "extract, then generate". Every suggested code is assembled from spans of the stay's own
documents — never from a model's memory — so that each code comes with quotes whose offsets are
exact (``text[start:end] == quote``), and so that a negated, hypothetical or family finding can be
refused by rule rather than hoped away. An optional LLM may then only re-rank/verify among these
candidates (:mod:`tools.coding.verify`).

How a stay is coded (:func:`suggest_codes`):

1. **Candidates** per document, from :mod:`tools.coding.pipeline`: ATIH labels (``eds.cim10``),
   our synonyms and case-sensitive abbreviations, and two paraphrase finders run on each clause —
   a stemmed "all label words present" matcher over the 42,886 ATIH labels
   (:meth:`~knowledge.cim10.Cim10Catalogue.labels_within`, with a few French equivalences such as
   cancer → tumeur maligne) and a dense search over the whole catalogue
   (:mod:`tools.coding.label_index`, EmbeddingGemma), asked only for the clauses whose words the
   other matchers left unexplained, its hits kept above a cosine threshold (higher when the label
   shares no word with the clause) and trimmed so that negation cues stay outside them. Abnormal
   measured values (kaliémie 2.1 mmol/L...) are candidates too, and chemotherapy wording with a
   session cue ("cure C3", "HDJ") makes a Z51.1 candidate.
2. **Qualifiers** (edsnlp): negated, hypothetical and family mentions are *never* suggested; they
   are listed in ``excluded`` with the reason. Antecedents (``eds.history`` cue or an
   "Antécédents :" sentence) are kept as DAS, with a lower score, only for chronic conditions
   (diabetes, HTA, AF, COPD, CKD, dementia... see :data:`CHRONIC_PREFIXES`); a past acute event
   ("ATCD d'infarctus en 2012", a cancer "en rémission") is excluded as "antécédent".
3. **Resolution** to a codable code with :mod:`tools.coding.rules` (FEVG → I50.0x, insulin → E11.x0,
   IMC → E66.0x, kaliémie → E87.6x...), with a French warning when a detail is missing; an
   unspecified code is absorbed by a specific one of the same category, E14 by E10/E11, I64 by
   I60–I63, a pneumopathy by influenza (→ J10.0/J11.0); symptoms explained by a retained
   diagnosis (dyspnée with heart failure, fièvre with an infection) are dropped (ATIH rule).
4. **DP vs DAS** (ATIH guide méthodologique MCO): DP-eligible codes (ATIH type 0) are ranked for
   DP by where they are written — "Conclusion"/"Au total"/"Diagnostic" first (the DP is determined
   at discharge), then the "Motif" sentence, after "hospitalisé pour"/"admis pour", the first
   sentence when there are no sections — plus a strong preference for session codes (Z51.1
   chemotherapy, Z49.1 dialysis; not when the stay is a complication "à J10 de la C3") and against
   symptoms (R codes) whose cause is a retained diagnosis; an antecedent alone is never the DP and
   a past acute event is not coded.
5. **Scores**: calibrated probabilities (:mod:`tools.coding.calibration`); DAS are listed by
   probability, those under the threshold flagged ``to_review`` (« à vérifier »), never hidden;
   each suggestion says its ATIH restriction and, in one French sentence, why it is DP or DAS.

Example::

    >>> from tools.coding import SourceText, suggest_codes
    >>> text = ("Motif : décompensation cardiaque globale. FEVG à 35 %. ACFA. "
    ...         "Pas d'embolie pulmonaire.")
    >>> r = suggest_codes([SourceText(source="text", text=text)])
    >>> [(s.code, s.role) for s in r.suggestions]
    [('I50.02', 'DP'), ('I48.9', 'DAS')]
    >>> [e.code for e in r.excluded]
    ['I26.9']

Limits: rule-based; wording outside our synonyms, the ATIH labels and the stemmed matcher is
missed unless a dense ``label_search`` is plugged in, and rare specialities need rules we do not
have (histology, organism, episode of care...). DP choice is positional and can be wrong when a
synthesis leads with a comorbidity. No CCAM, no external-cause (V–Y) codes, no DR (the cancer of
a chemotherapy session is returned as DAS). Measured with ``bench/coding_eval.py`` on 90 short
syntheses written for this project, not on real hospital data: the rules were tuned on the 75
"dev" cases; on 15 cases written afterwards and evaluated once, blind, DP top-1 was 0.33 and
code recall@5 0.65 (category recall 0.82) — expect that order of quality on unseen wording.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from spacy.tokens import Doc, Span

from knowledge.cim10 import STOPWORDS, Cim10Catalogue, dot, get_catalogue, says_unspecified, undot
from knowledge.french import fold, fold_chars, stem

from .calibration import get_calibrator
from .pipeline import CANDIDATE_GROUPS, MODIFIER_GROUP, get_pipeline, run_pipeline
from .rules import Measure, Resolution, StayContext, extract_measures, measure_diagnoses, resolve
from .schemas import CodeSuggestion, CodingResult, Evidence, ExcludedMention, SourceText

__all__ = ["CHRONIC_PREFIXES", "LabelSearch", "suggest_codes"]

#: ``label_search(text) -> [(code, score), ...]`` — e.g. a dense retriever over ATIH labels.
LabelSearch = Callable[[str], list[tuple[str, float]]]

# Confidence of a mention by how it was found.
_CONF = {"syn": 0.9, "abbr": 0.88, "cim10": 0.8, "session": 0.9, "measure": 0.85, "lex": 0.75, "dense": 0.55}
_ORIGIN_FR = {
    "syn": "synonyme medassist",
    "abbr": "abréviation",
    "cim10": "libellé ATIH (eds.cim10)",
    "session": "séance (chimiothérapie)",
    "measure": "valeur mesurée",
    "lex": "libellé ATIH (mots racinisés)",
    "dense": "recherche sémantique sur les libellés",
}

#: Categories treated as chronic: an antecedent mention of them is still a comorbidity (DAS).
CHRONIC_PREFIXES = tuple(
    """E10 E11 E13 E14 E66 E78 E03 E05 E04 E21 E43 E44 E46 E55 E83 D50 D51 D52 D53 D61 D63 D64 D69 B18 B20 B21 B22 B23 B24
    I10 I11 I12 I13 I15 I20 I25 I27 I34 I35 I36 I37 I42 I44 I45 I47 I48 I49 I50 I65 I67 I70 I71 I73 I83 I87
    J44 J45 J47 J84 J961 G47 G20 G30 G31 G35 G40 G43 G62 G80 G82 F00 F01 F02 F03 F06 F10 F11 F12 F13 F17 F19 F20 F25 F31 F32 F33 F41 F60 F70 F71 F72 F79
    N18 N40 N31 K21 K50 K51 K58 K70 K74 K86 K44 K57 M05 M06 M10 M15 M16 M17 M19 M32 M35 M45 M47 M48 M81 L40 L89 H25 H35 H40 H90 Z92 Z93 Z94 Z95 Z96 Z99 R32 R26 R296""".split()
)

#: symptom prefix -> prefixes of diagnoses that explain it (the symptom is then not coded).
_INTEGRAL_SYMPTOMS: dict[str, tuple[str, ...]] = {
    "R05": ("J", "U07", "I50", "C34", "C780", "C782"),
    "R060": ("I50", "I26", "J", "U07", "I21", "I35", "I48", "D50", "D62", "D64", "C34", "C780", "C782", "E66"),
    "R07": ("I20", "I21", "I24", "I26", "I30", "I71", "J93", "J18", "S22"),
    "R10": ("K", "N10", "N13", "N20", "N23", "A09", "A04", "C18", "C25", "C16", "C20"),
    "R11": ("K", "A09", "A04", "E10", "E11", "E14", "C16", "C25"),
    "R50": ("A", "B", "J", "N10", "N39", "N30", "N41", "K35", "K57", "K80", "K81", "K83", "K85", "I33", "L03", "G00",
            "G03", "D70", "U07", "T81", "T84", "T85"),
    "R53": ("C", "E43", "E44", "E46", "D5", "D6", "E87", "E05", "E83", "E16", "I44", "I48", "I49", "I50", "I95",
            "R000", "R001", "F32", "A", "J"),
    "R63": ("E43", "E44", "E46", "C", "F50", "E10", "E11", "E14", "E23"),
    "R35": ("E10", "E11", "E14", "E23", "E835"),
    "R00": ("I44", "I45", "I47", "I48", "I49", "E05"),
    "R60": ("N00", "N01", "N03", "N04", "N05", "N18", "I50", "I87", "I80", "K70", "K74", "E43", "E44", "E46", "E87"),
    "R41": ("E835", "E87", "E16", "T42", "T50", "F10", "F05"),
    "R451": ("R41", "F05", "F03", "G30"),
    "R51": ("G", "I6", "C71", "C79"),
    "R55": ("I44", "I45", "I47", "I49", "I26", "I35"),
    "R56": ("F1031", "F104", "G40", "G41"),
    "K92": ("K25", "K26", "K27", "K28", "K29", "I85", "K57", "K55", "K62", "C16", "C18", "C20"),
    "N23": ("N20", "N132"),
    "K625": ("K57", "K55", "K51", "K50", "C18", "C20", "C21", "I84", "K60", "K64"),
    "R31": ("C61", "C64", "C65", "C66", "C67", "N02", "N10", "N20", "N21", "N30", "N39", "N40"),
}
# Cross-category absorption: the key's code goes into a retained code of one of these categories.
_ABSORBED_BY: dict[str, tuple[str, ...]] = {
    "E14": ("E10", "E11", "E13"),
    "K746": ("K703", "K717", "K743", "K744", "K745"),
    "I64": ("I60", "I61", "I62", "I63"),
    "J18": ("J10", "J11", "J12", "J13", "J14", "J15", "J16", "J69", "U07"),
    "J15": ("J13", "J69", "J10", "J11"),
    "I24": ("I21", "I20"),
    "I20": ("I21",),
    "I25": ("I21",),
    "A49": ("A40", "A41", "A46", "N10", "N39", "I33", "G00", "L03"),
    "F03": ("G30", "F01"),
    "I95": ("R57",),
    "D64": ("D50", "D62", "D61", "D63"),
    "N30": ("N10", "N39"),
    "L03": ("A46",),
    "J90": ("C782", "J91"),
    "S73": ("T84",),
    "F29": ("F20", "F21", "F22", "F23", "F25", "F28", "F30", "F31", "F32"),
    "F30": ("F31",),
    "F32": ("F31",),
    "B95": ("A40", "A41", "G00", "J13", "J15"),
    "B96": ("A40", "A41", "G00", "J15", "A04"),
}
#: Symptoms kept as DAS whose place in the text (motif...) also counts for the disease explaining them.
_SHARED_POSITION: dict[str, tuple[str, ...]] = {
    "R57": ("A40", "A41", "I21", "I26", "I50", "T78", "K92", "K25", "K26", "D62"),
    "R296": ("G20", "G30", "F03", "F01", "I63", "I61", "I64", "S72", "S32", "S42", "S52", "E87", "E86", "E16", "N39", "J18", "I95"),
    "R41": ("N39", "N10", "J18", "J69", "A41", "E87", "E83", "E86", "E16", "F10", "G30", "F03", "I6", "S06", "T42", "T43"),
    "R18": ("K70", "K71", "K74", "K76", "C22", "C48", "C56", "C78", "I50", "I81", "K65"),
    "R29": ("E87", "E86", "I63", "I61", "G20", "S72"),
    "R47": ("I63", "I61", "I64", "G45"),
}
_BLEEDING_SOURCES = ("K55", "K25", "K26", "K27", "K28", "K92", "K625", "C18", "C20", "N92", "N93", "I85")
_TREATED = re.compile(r"^[^.;]{0,60}?\b(?:traitee?s? par|traitement par|prise? en charge par|operee? par|drainee? par|geree? par)\b")
_INFLUENZA_WITH_PNEUMONIA = {"J101": "J100", "J111": "J110"}
_SESSION_CODES = frozenset({"Z511", "Z491", "Z5101"})

_DP_CUE = re.compile(
    r"\b(?:hospitalise|hospitalisee|admis|admise|adresse|adressee|transfere|transferee|pris en charge|prise en charge|"
    r"venue?|consulte|hospitalisation|entre|entree)\b[^.;]{0,40}?\bpour\b"
)
#: "J10 de la C3", "à J8 de sa cure": days after a cure (ATIH: the complication is the DP, not Z51.1).
_AFTER_CURE = re.compile(r"\bj\s?(?:[2-9]|[1-9]\d)\s+(?:de|d'|du|apres|post)\b")
_SESSION_CUE = re.compile(r"\b(?:cure|seance|cycle|c\d{1,2}|j1|hopital de jour|hdj|ambulatoire)\b")
_CODE_LIKE = re.compile(r"^[^\W\d_]\s*\d[\d.\s+]*$")
_CLAUSE_BREAK = {",", ";", ":", "(", ")", ".", "!", "?", "[", "]", "—"}
# Word equivalences added to a clause before matching ATIH labels (words, stemmed at import).
_EQUIVALENT_WORDS: dict[str, str] = {
    "cancer": "tumeur maligne",
    "carcinome": "tumeur maligne",
    "adénocarcinome": "tumeur maligne",
    "néoplasie": "tumeur maligne",
    "néoplasique": "tumeur maligne",
    "néo": "tumeur maligne",
    "métastase": "tumeur maligne secondaire",
    "métastatique": "tumeur maligne secondaire",
    "pleural": "plèvre",
    "rénal": "rein",
    "rein": "rénal",
    "pulmonaire": "poumon bronches",
    "poumon": "pulmonaire",
    "hépatique": "foie",
    "colique": "côlon",
    "colon": "colique",
    "fémoral": "fémur",
    "vésical": "vessie",
    "gastrique": "estomac",
    "cérébral": "cerveau",
    "cardiaque": "cœur",
    "thoracique": "thorax",
    "mammaire": "sein",
    "sigmoïdien": "côlon sigmoïde",
    "bronchique": "poumon",
    "tibial": "tibia",
    "huméral": "humérus",
    "radial": "radius",
    "vertébral": "vertèbre",
    "costal": "côte",
    "claviculaire": "clavicule",
    "rotulien": "rotule",
    "malléolaire": "malléole",
    "rachidien": "rachis",
    "urétéral": "uretère",
    "vésiculaire": "vésicule",
    "pancréatique": "pancréas",
    "prostatique": "prostate",
    "ovarien": "ovaire",
    "utérin": "utérus",
    "cutané": "peau",
    "thyroïdien": "thyroïde",
    "palustre": "paludisme",
    "iatrogène": "médicaments",
    "médicamenteux": "médicaments",
}
_EQUIVALENT_STEMS: dict[str, tuple[str, ...]] = {}
for _w, _eq in _EQUIVALENT_WORDS.items():
    _EQUIVALENT_STEMS.setdefault(stem(fold(_w)), tuple(stem(fold(x)) for x in _eq.split() if fold(x) not in STOPWORDS))


# --------------------------------------------------------------------------- internal records
@dataclass
class _Mention:
    raw: str
    kind: str
    source: str
    start: int
    end: int
    quote: str
    sentence: str
    order: int = 0  # position of the mention in the stay (source index, then character)
    #: places that weigh for the DP: flag ("motif", "conclusion", "cue", "first") -> place key
    places: dict = field(default_factory=dict)
    treated: bool = False  # "X traitée par ...", "X, traitement par ..."
    history: bool = False
    excluded_reason: str | None = None
    dense_score: float = 0.0  # cosine of the dense hit (0 when found by another matcher)

    @property
    def conf(self) -> float:
        return _CONF[self.kind]

    def evidence(self) -> Evidence:
        return Evidence(source=self.source, quote=self.quote, start=self.start, end=self.end)


@dataclass
class _Candidate:
    code: str
    mentions: list[_Mention] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra_evidence: list[tuple[str, int, int, str]] = field(default_factory=list)
    dp_score: float = 0.0
    das_score: float = 0.0
    #: mentions of symptoms this diagnosis explains (their position counts for the DP, not as evidence)
    inherited: list[_Mention] = field(default_factory=list)
    #: a symptom kept as DAS whose cause is a retained diagnosis (ATIH: never the DP then)
    explained: bool = False

    @property
    def category(self) -> str:
        return self.code[:3]

    @property
    def history_only(self) -> bool:
        return all(m.history for m in self.mentions)

    def absorb(self, other: _Candidate) -> None:
        self.mentions.extend(other.mentions)
        self.inherited.extend(other.inherited)
        self.extra_evidence.extend(other.extra_evidence)
        for r in other.rules:
            if r not in self.rules:
                self.rules.append(r)


# --------------------------------------------------------------------------- per-document analysis
def _clauses(sent: Span) -> list[list]:
    out, cur = [], []
    for tok in sent:
        if tok.text in _CLAUSE_BREAK or tok.is_space:
            if cur:
                out.append(cur)
            cur = []
        else:
            cur.append(tok)
    if cur:
        out.append(cur)
    return out


def _token_stem(tok) -> str | None:
    t = fold(tok.text)
    if not t.isalpha() or t in STOPWORDS or len(t) < 2:
        return None
    return stem(t)


def _token_words(tok) -> set[str]:
    """The stem of a token plus its equivalences (cancer -> tumeur, malign...)."""
    s = _token_stem(tok)
    if s is None:
        return set()
    return {s, *_EQUIVALENT_STEMS.get(s, ())}


def _min_window(tokens: list, spec: set[str]) -> tuple[int, int] | None:
    """Smallest token window covering every stem of ``spec`` (stems may come from equivalences)."""
    hits = [(t.i, _token_words(t) & spec) for t in tokens]
    hits = [(i, w) for i, w in hits if w]
    best = None
    for a in range(len(hits)):
        seen: set[str] = set()
        for b in range(a, len(hits)):
            seen |= hits[b][1]
            if seen >= spec:
                span = (hits[a][0], hits[b][0] + 1)
                if best is None or span[1] - span[0] < best[1] - best[0]:
                    best = span
                break
    return best


#: Dense hits: cosine needed to become a candidate, and the higher cosine that a hit sharing no
#: word with its clause needs (a paraphrase with no common word is accepted only when very close).
DENSE_MIN_SCORE = 0.6
DENSE_MIN_SCORE_NO_SHARED_WORD = 0.7
#: Nearest codes kept per clause (after thresholds).
DENSE_PER_CLAUSE = 1
#: In documents with section titles (whole stays), the sections where diagnoses are stated: dense
#: search skips biology, examinations, treatments and family history (noise, and a model call each).
DENSE_MAX_UNTITLED_CHARS = 1500
DENSE_SECTIONS = frozenset({"motif", "conclusion", "diagnostic", "evolution", "histoire de la maladie", "antécédents"})


def _dense_queries(doc: Doc, existing: list[Span]) -> list[tuple[int, int, str]]:
    """Clauses worth a dense query: ``(start token, end token, text)``.

    A clause is queried when most of its content words lie outside every mention the lexical
    matchers found: the catalogue-wide search is there for what they could not explain, and each
    query costs a model call."""
    covered = set()
    for e in existing:
        covered.update(range(e.start, e.end))
    secs = [] if doc.user_data.get("medassist_inline_sections") else [
        (s.start, s.end) for s in doc.spans.get("sections", []) if s.label_ in DENSE_SECTIONS]
    titled = bool(doc.spans.get("sections")) and not doc.user_data.get("medassist_inline_sections")
    if not titled and not doc.user_data.get("medassist_inline_sections") and len(doc.text) > DENSE_MAX_UNTITLED_CHARS:
        return []  # a long document without sections (nursing notes, lab tables): noise and latency
    out = []
    for sent in doc.sents:
        if titled and not any(a <= sent.start < b for a, b in secs):
            continue
        for clause in _clauses(sent):
            content = [t for t in clause if _token_stem(t)]
            if not content:
                continue
            free = [t for t in content if t.i not in covered]
            if not free or len(free) * 2 < len(content):
                continue
            a, b = clause[0].i, clause[-1].i + 1
            text = doc[a:b].text.strip()
            if len(text) >= 4 and not _CODE_LIKE.match(text):
                out.append((a, b, text))
    return out


def _paraphrase_hook(catalogue: Cim10Catalogue, label_search: LabelSearch | None, min_dense: float):
    """Spans for label paraphrases (stemmed label matcher) and dense hits, added to "lex".

    Dense cosines are kept in ``doc.user_data["medassist_dense"]`` ({(start, end, code): score})
    for the calibrated score."""

    def hook(doc: Doc) -> None:
        existing = [s for g in CANDIDATE_GROUPS for s in doc.spans.get(g, [])]
        new: list[Span] = []
        for sent in doc.sents:
            for clause in _clauses(sent):
                words: set[str] = set()
                for tok in clause:
                    words |= _token_words(tok)
                if len(words) < 2:
                    continue
                kept: list[tuple[str, set[str]]] = []
                for code in catalogue.labels_within(words):
                    if code[0] in "VWXY":
                        continue  # external causes need place/activity details we do not read
                    spec = set(catalogue.specific_stems(code))
                    if any(spec <= k for _c, k in kept):
                        continue  # a more specific label already covers these words
                    kept.append((code, spec))
                for code, spec in kept:
                    if sum(1 for t in clause if _token_words(t) & spec) < 2:
                        continue  # one word alone ("adénocarcinome" -> tumeur maligne): too weak
                    win = _min_window(clause, spec)
                    if win is None or win[1] - win[0] > 2 * len(spec) + 3:
                        continue  # words too scattered to be one mention
                    a, b = win
                    if any(e.start <= a and b <= e.end for e in existing):
                        continue  # inside one mention already found: nothing new
                    new.append(Span(doc, a, b, label="lex", kb_id=code))
        if label_search is not None:
            new.extend(_dense_spans(doc, existing + new, catalogue, label_search, min_dense))
        doc.spans["lex"] = list(doc.spans.get("lex", [])) + new

    return hook


#: Words trimmed off the ends of a whole-clause dense span, so that the qualifiers see the negation
#: or hypothesis cue *outside* the mention ("Pas d'[infection du liquide d'ascite]").
_LEADING_CUES = frozenset("pas sans absence aucun aucune ni non jamais suspicion possible probable hypothese "
                          "de d du des l la le les un une".split())
_TRAILING_CUES = frozenset("evoque evoquee evoques evoquees suspecte suspectee elimine eliminee ecarte ecartee "
                           "exclu exclue infirme infirmee non retenu retenue probable possible".split())


def _trim_cues(doc: Doc, a: int, b: int) -> tuple[int, int]:
    def word(t) -> str:
        return fold_chars(t.text).strip("'’")

    while b > a + 1 and (doc[b - 1].is_punct or word(doc[b - 1]) in _TRAILING_CUES):
        b -= 1
    while a < b - 1 and (doc[a].is_punct or word(doc[a]) in _LEADING_CUES):
        a += 1
    return a, b


def _dense_spans(doc: Doc, existing: list[Span], catalogue: Cim10Catalogue, label_search: LabelSearch,
                 min_dense: float) -> list[Span]:
    queries = _dense_queries(doc, existing)
    if not queries:
        return []
    texts = [q[2] for q in queries]
    many = getattr(label_search, "search_many", None)
    results = many(texts, k=5) if many is not None else [label_search(t) for t in texts]
    scores: dict = doc.user_data.setdefault("medassist_dense", {})
    out: list[Span] = []
    for (a, b, _text), hits in zip(queries, results):
        clause = doc[a:b]
        kept = 0
        for code, score in hits:
            key = undot(code)
            if score < min_dense or key not in catalogue or key[0] in "VWXY":
                continue
            spec = set(catalogue.specific_stems(key)) or set(catalogue.label_stems(key))
            toks = [t for t in clause if _token_words(t) & spec]
            if not toks and score < max(min_dense, DENSE_MIN_SCORE_NO_SHARED_WORD):
                continue
            if toks:
                sa, sb = min(t.i for t in toks), max(t.i for t in toks) + 1
            else:
                sa, sb = _trim_cues(doc, a, b)
            if len(key) > 4:
                # ATIH 5th-character subdivisions (E87.10/E87.18, I50.01/I50.02...) depend on a detail
                # the precision rules read (kaliémie, FEVG...): the dense hit names the subcategory
                key = key[:4]
            out.append(Span(doc, sa, sb, label="dense", kb_id=key))
            scores[(doc[sa].idx, doc[sb - 1].idx + len(doc[sb - 1]), key)] = float(score)
            kept += 1
            if kept >= DENSE_PER_CLAUSE:
                break
    return out


def _sections(doc: Doc) -> tuple[list[tuple[str, int, int]], bool]:
    """(label, start_char, end_char) of each section; second value: inline (one-paragraph) style."""
    secs = [(s.label_, s.start_char, s.end_char) for s in doc.spans.get("sections", [])]
    return secs, bool(doc.user_data.get("medassist_inline_sections"))


def _lex_refines(outer: Span, inner: Span, catalogue: Cim10Catalogue) -> bool:
    """A paraphrase span may replace a mention it contains only if it refines it: same category,
    or its label accounts for every word of the inner mention ("méningite à pneumocoque" -> G00.1
    may replace "méningite"; "douleur ... aiguë" -> R52.0 may not replace "douleur abdominale")."""
    if outer.kb_id_[:3] == inner.kb_id_[:3]:
        return True
    spec = set(catalogue.specific_stems(outer.kb_id_))
    return all(_token_words(t) & spec for t in inner if _token_stem(t))


def _resolve_overlaps(spans: list[Span], catalogue: Cim10Catalogue) -> list[Span]:
    """Keep the longest of nested spans (a synonym wins a tie); partial overlaps are both kept.

    Dense hits neither hide nor are hidden by other mentions (their span is often the whole
    clause): one is dropped only when an overlapping mention already names the same code."""
    prio = {"syn": 0, "abbr": 1, "cim10": 2, "lex": 3}
    paraphrase = {"lex"}
    dense = [s for s in spans if s.label_ == "dense"]
    spans = [s for s in spans if s.label_ != "dense"]
    order = sorted(spans, key=lambda s: (-(s.end_char - s.start_char), prio.get(s.label_, 9), s.start))
    kept: list[Span] = []
    for s in order:
        if any(k.start_char <= s.start_char and s.end_char <= k.end_char for k in kept):
            continue
        if s.label_ in paraphrase:
            inner = [o for o in spans if o.label_ not in paraphrase and s.start_char <= o.start_char and o.end_char <= s.end_char]
            if any(not _lex_refines(s, o, catalogue) for o in inner):
                continue
        kept.append(s)
    for d in dense:
        if any(k.kb_id_ == d.kb_id_ and k.start_char < d.end_char and d.start_char < k.end_char for k in kept):
            continue
        kept.append(d)
    return sorted(kept, key=lambda s: s.start)


_HISTORY_CUE = re.compile(r"\b(?:atcds?|antecedents?)\b")


def _analyse(
    src: SourceText,
    index: int,
    nlp,
    catalogue: Cim10Catalogue,
    label_search: LabelSearch | None,
    min_dense: float,
) -> tuple[list[_Mention], dict[str, list[tuple[str, int, int, str]]], list[Measure]]:
    doc = run_pipeline(nlp, src.text, _paraphrase_hook(catalogue, label_search, min_dense))
    text = src.text
    sents = list(doc.sents)
    sent_of_char: list[int] = [0] * (len(text) + 1)
    for i, s in enumerate(sents):
        for c in range(s.start_char, min(s.end_char + 1, len(text) + 1)):
            sent_of_char[c] = i
    secs, inline = _sections(doc)
    has_motif = any(lbl == "motif" for lbl, _a, _b in secs)

    def section_at(char: int) -> tuple[str | None, int]:
        for lbl, a, b in secs:
            if a <= char < b:
                return lbl, a
        return None, -1

    def context(start: int) -> dict:
        si = sent_of_char[start]
        sent = sents[si] if sents else None
        sentence = sent.text if sent is not None else text
        s_start = sent.start_char if sent is not None else 0
        label, sec_start = section_at(start)
        title_sentence = sec_start >= 0 and sent_of_char[sec_start] == si
        folded = fold_chars(sentence)
        rel = start - s_start
        cue = _DP_CUE.search(folded)
        after_cue = bool(cue) and rel >= cue.end()
        hist = [h for h in _HISTORY_CUE.finditer(folded) if h.end() <= rel]
        history_inline = bool(hist) and not (cue and hist[-1].end() <= cue.start() < rel)
        return dict(
            sentence=sentence,
            sent_index=si,
            motif=label == "motif" and title_sentence,
            conclusion=label in ("conclusion", "diagnostic"),
            first=si == 0 and not has_motif and (cue is None or after_cue),
            cue=after_cue,
            history=(label == "antécédents" and (title_sentence or not inline)) or history_inline,
            family=label == "antécédents familiaux" and (title_sentence or not inline),
        )

    def make(raw: str, kind: str, a: int, b: int, quote: str, ctx: dict) -> _Mention:
        key = (src.source, ctx["sent_index"])
        places = {}
        if ctx["motif"]:
            places["motif"] = key
        if ctx["conclusion"]:
            places["conclusion"] = (src.source, "conclusion")
        if ctx["first"]:
            places["first"] = key
        if ctx["cue"]:
            places["cue"] = key
        after = fold_chars(text[b : text.find(".", b) if text.find(".", b) > 0 else len(text)])
        return _Mention(raw=raw, kind=kind, source=src.source, start=a, end=b, quote=quote, sentence=ctx["sentence"],
                        order=index * 10_000_000 + a, places=places, treated=bool(_TREATED.search(after)),
                        history=ctx["history"])

    mentions: list[_Mention] = []
    modifiers: dict[str, list[tuple[str, int, int, str]]] = {}
    diag_spans = []
    dense_scores = doc.user_data.get("medassist_dense", {})
    for s in doc.spans.get("candidates", []):
        if s.label_ == MODIFIER_GROUP:
            if not (s._.negation or s._.hypothesis or s._.family):
                modifiers.setdefault(s.kb_id_, []).append((src.source, s.start_char, s.end_char, s.text))
            continue
        if s.label_ == "cim10" and _CODE_LIKE.match(s.text):
            continue  # "à 35" read as code A35 by eds.cim10's code patterns
        if not s.kb_id_ or s.kb_id_ not in catalogue:
            continue
        diag_spans.append(s)
    for s in _resolve_overlaps(diag_spans, catalogue):
        ctx = context(s.start_char)
        m = make(s.kb_id_, s.label_ if s.label_ in _CONF else "lex", s.start_char, s.end_char, text[s.start_char : s.end_char], ctx)
        if s._.negation:
            m.excluded_reason = "négation"
        elif s._.hypothesis:
            m.excluded_reason = "hypothèse"
        elif s._.family or ctx["family"]:
            m.excluded_reason = "antécédent familial"
        m.history = m.history or bool(s._.history)
        if s.label_ == "dense":
            m.dense_score = dense_scores.get((s.start_char, s.end_char, s.kb_id_), 0.0)
        mentions.append(m)

    for m in mentions:
        if m.raw.startswith("Z511") and m.excluded_reason is None and _AFTER_CURE.search(fold_chars(m.sentence)):
            m.excluded_reason = "cure antérieure (complication à distance, pas une séance)"
    measures = extract_measures(text, src.source)
    for raw, meas, _word in measure_diagnoses(measures):
        mentions.append(make(raw, "measure", meas.start, meas.end, meas.quote, context(meas.start)))
    for _src, a, b, quote in modifiers.get("MOD_CHEMO", []):
        ctx = context(a)
        folded_sentence = fold_chars(ctx["sentence"])
        if _AFTER_CURE.search(folded_sentence):
            continue  # "neutropénie fébrile à J10 de la C3": a complication after a cure, not a session
        if _SESSION_CUE.search(folded_sentence) and (ctx["motif"] or ctx["first"] or ctx["cue"]):
            mentions.append(make("Z511", "session", a, b, quote, ctx))

    return mentions, modifiers, measures


# --------------------------------------------------------------------------- stay-level assembly
def _is_chronic(code: str) -> bool:
    return code.startswith(CHRONIC_PREFIXES)


def _is_unspecified(cand: _Candidate, catalogue: Cim10Catalogue) -> bool:
    return bool(cand.missing) or says_unspecified(catalogue[cand.code].label) or cand.code[3:4] == "9"


def _merge(cands: dict[str, _Candidate], catalogue: Cim10Catalogue) -> None:
    """Unspecified codes absorbed by specific siblings; cross-category absorptions (E14 -> E11...)."""
    by_cat: dict[str, list[_Candidate]] = {}
    for c in cands.values():
        by_cat.setdefault(c.category, []).append(c)
    for group in by_cat.values():
        if len(group) < 2:
            continue
        specific = [c for c in group if not _is_unspecified(c, catalogue)]
        if not specific:
            continue
        target = max(specific, key=lambda c: (max(m.conf for m in c.mentions), len(c.mentions)))
        for c in group:
            if c is not target and _is_unspecified(c, catalogue):
                target.absorb(c)
                del cands[c.code]
    for code in list(cands):
        c = cands.get(code)
        if c is None:
            continue
        for key, targets in _ABSORBED_BY.items():
            if not code.startswith(key):
                continue
            into = [t for t in cands.values() if t is not c and t.code.startswith(targets)]
            if not into:
                continue
            # the first listed target category wins (e.g. a psychotic disorder before a mood one)
            target = min(into, key=lambda t: next(i for i, p in enumerate(targets) if t.code.startswith(p)))
            target.absorb(c)
            del cands[code]
            new, why = _combined_code(key, c, target)
            if new is not None and new != target.code and catalogue.codable(new):
                del cands[target.code]
                target.code = new
                target.rules.append(why)
                cands[new] = target
            break
    _pneumonia_with_organism(cands)
    if "D509" in cands and any(k.startswith(_BLEEDING_SOURCES) for k in cands):
        c = cands.pop("D509")  # iron deficiency with a bleeding lesion = chronic blood loss
        c.code = "D500"
        c.rules.append("anémie ferriprive avec lésion hémorragique → D50.0")
        cands.setdefault("D500", c)
    calculus = any(k.startswith(("N20", "N21")) for k in cands)
    if "N133" in cands and calculus:  # hydronephrosis + stone = obstruction by a calculus
        c = cands.pop("N133")
        c.code = "N132"
        c.rules.append("hydronéphrose avec calcul des voies urinaires → N13.2")
        cands.setdefault("N132", c)


#: organism (agent code prefix) -> pneumonia code when both are named in one sentence
_PNEUMONIA_BY_ORGANISM = (
    ("B953", "J13", "pneumocoque"),
    ("B961", "J150", "Klebsiella pneumoniae"),
    ("B965", "J151", "Pseudomonas"),
    ("B956", "J152", "staphylocoque"),
    ("B957", "J152", "staphylocoque"),
    ("B958", "J152", "staphylocoque"),
    ("B963", "J14", "Haemophilus influenzae"),
    ("B962", "J155", "Escherichia coli"),
    ("B960", "J157", "Mycoplasma pneumoniae"),
)


def _pneumonia_with_organism(cands: dict[str, _Candidate]) -> None:
    """A pneumopathy (J18) and an organism (B95–B96) in the same sentence: the organism-specific
    pneumonia code (J13–J15), the agent code being absorbed (ICD combination)."""
    pneumonias = [c for c in cands.values() if c.code.startswith(("J18", "J159"))]
    for pn in pneumonias:
        sentences = {(m.source, m.sentence) for m in pn.mentions}
        for agent, code, word in _PNEUMONIA_BY_ORGANISM:
            org = cands.get(agent)
            if org is None or not sentences & {(m.source, m.sentence) for m in org.mentions}:
                continue
            del cands[pn.code]
            del cands[agent]
            pn.code = code
            pn.absorb(org)
            pn.rules.append(f"pneumopathie à {word} → {dot(code)}")
            if code in cands:
                cands[code].absorb(pn)
            else:
                cands[code] = pn
            break


def _combined_code(key: str, absorbed: _Candidate, target: _Candidate) -> tuple[str | None, str]:
    """ICD combination codes created when one candidate is absorbed by another."""
    if key in ("J18", "J15") and target.code in _INFLUENZA_WITH_PNEUMONIA:
        new = _INFLUENZA_WITH_PNEUMONIA[target.code]
        return new, f"grippe avec pneumopathie → {dot(new)}"
    if key in ("F30", "F32") and target.code.startswith("F31"):
        words = " ".join(fold_chars(m.sentence) for m in absorbed.mentions)
        psychotic = bool(re.search(r"(?<!sans )(?<!pas de )symptomes psychotiques|delirant|hallucin", words))
        if key == "F30":
            new = "F312" if psychotic else "F311"
            return new, f"trouble bipolaire, épisode maniaque actuel → {dot(new)}"
        severe = "sever" in words
        new = "F315" if psychotic else ("F314" if severe else "F313")
        return new, f"trouble bipolaire, épisode dépressif actuel → {dot(new)}"
    return None, ""


def _nearest(symptom: _Candidate, explainers: list[_Candidate]) -> _Candidate:
    """The explaining diagnosis named closest after the symptom (else closest before)."""
    s0 = min(m.order for m in symptom.mentions)

    def key(c: _Candidate) -> tuple[int, int]:
        orders = [m.order for m in c.mentions]
        after = [o - s0 for o in orders if o >= s0]
        return (0, min(after)) if after else (1, min(s0 - o for o in orders))

    return min(explainers, key=key)


def _drop_integral_symptoms(cands: dict[str, _Candidate]) -> list[_Candidate]:
    """Drop symptoms explained by a retained diagnosis; the explaining diagnosis named nearest
    inherits the symptom's place ("Motif : dyspnée" makes the heart failure explaining it the DP).
    A few symptoms that are still coded (shock, falls, confusion...) only share their place."""
    dropped = []
    for code in list(cands):
        for sym, explainers in _INTEGRAL_SYMPTOMS.items():
            if not code.startswith(sym):
                continue
            by = [c for c in cands.values() if c.code != code and not c.code.startswith(sym) and c.code.startswith(explainers)]
            if by:
                symptom = cands.pop(code)
                dropped.append(symptom)
                heirs = [c for c in by if not c.code.startswith("R")]
                if heirs:
                    _nearest(symptom, heirs).inherited.extend(symptom.mentions)
            break
    for code, c in cands.items():
        for sym, explainers in _SHARED_POSITION.items():
            if code.startswith(sym):
                by = [o for o in cands.values() if o is not c and o.code.startswith(explainers)]
                if by:
                    _nearest(c, by).inherited.extend(c.mentions)
                    c.explained = True
                break
    return dropped


_DP_WEIGHTS = {"motif": (0.3, 0.1), "conclusion": (0.4, 0.15), "cue": (0.3, 0.1), "first": (0.2, 0.05)}


def _position_levels(cands: dict[str, _Candidate]) -> dict[str, dict[str, int]]:
    """For each candidate and place flag: 2 if it is the first retained diagnosis named in that
    place (its own or an inherited symptom mention), 1 if named there later, absent otherwise."""
    places: dict[tuple, list[tuple[int, int, str]]] = {}
    for c in cands.values():
        for own, ms in ((1, c.mentions), (0, c.inherited)):  # an heir outranks the symptom it explains
            for m in ms:
                for flag, key in m.places.items():
                    places.setdefault((flag, key), []).append((m.order, own, c.code))
    levels: dict[str, dict[str, int]] = {code: {} for code in cands}
    for (flag, _key), items in places.items():
        items.sort()
        first_code = items[0][2]
        for _order, _own, code in items:
            lvl = 2 if code == first_code else 1
            levels[code][flag] = max(levels[code].get(flag, 0), lvl)
    return levels


def _position_bonus(level: dict[str, int]) -> float:
    bonus = 0.0
    for name, (primary, secondary) in _DP_WEIGHTS.items():
        lv = level.get(name, 0)
        bonus += primary if lv == 2 else secondary if lv == 1 else 0.0
    return bonus


def _score(c: _Candidate, level: dict[str, int], acute_positioned: bool, order_rank: int | None) -> None:
    best = max(m.conf for m in c.mentions)
    n_places = len({(m.source, m.sentence) for m in c.mentions})
    das = best + 0.04 * min(n_places - 1, 3)
    if c.history_only:
        das *= 0.8
    if c.code.startswith("R"):
        das *= 0.85
    c.das_score = round(min(das, 0.97), 4)
    bonus = _position_bonus(level)
    if order_rank is not None and order_rank < 3:
        bonus += (0.1, 0.07, 0.04)[order_rank]  # syntheses name the main problem early
    if any(m.treated for m in c.mentions):
        bonus += 0.15
    if c.code in _SESSION_CODES:
        bonus += 0.8
    if c.code.startswith("R") and acute_positioned:
        bonus -= 0.35
    if c.explained:
        bonus -= 0.5  # ATIH: a symptom whose cause is known is not the DP
    if c.code.startswith("Z") and c.code not in _SESSION_CODES:
        bonus -= 0.5
    if _is_chronic(c.code):
        bonus -= 0.15
    if c.history_only:
        bonus -= 0.6
    c.dp_score = round(c.das_score + bonus, 4)


_RESTRICTIONS = {
    0: "sans restriction (DP, DR ou DAS)",
    1: "interdit en DP et en DR, autorisé en DAS",
    2: "cause externe : interdit en DP et en DR, autorisé en DAS",
    3: "code père ou supprimé : non codable",
    4: "interdit en DP, autorisé en DR et en DAS",
}


def atih_restriction(atih_type: int) -> str:
    """The ATIH "Type MCO/HAD" restriction of a code, in French (see :mod:`knowledge.cim10`).

    >>> atih_restriction(1)
    'interdit en DP et en DR, autorisé en DAS'
    """
    return _RESTRICTIONS.get(int(atih_type), f"type ATIH {atih_type}")


def _features(c: _Candidate, is_dp: bool, rank: int, level: dict[str, int], n_sources: int) -> list[float]:
    """The calibration features of :data:`tools.coding.calibration.FEATURES`, in that order."""
    import math

    n_sent = len({(m.source, m.sentence) for m in c.mentions})
    return [
        float(is_dp),
        max(m.conf for m in c.mentions),
        float(all(m.kind == "dense" for m in c.mentions)),
        max((m.dense_score for m in c.mentions), default=0.0),
        math.log(n_sent),
        float(c.history_only),
        float(c.code.startswith("R")),
        float(c.code.startswith("Z")),
        _position_bonus(level),
        float(rank),
        float(bool(c.missing)),
        float(bool(c.rules)),
        math.log(max(n_sources, 1)),
    ]


def _raw_score(c: _Candidate, is_dp: bool) -> float:
    """The uncalibrated score (before a calibration is fitted)."""
    if is_dp:
        return min(1.0, 0.5 + 0.5 * min(1.0, max(0.0, c.dp_score - 0.5)))
    return c.das_score


def _reason(c: _Candidate, is_dp: bool, level: dict[str, int]) -> str:
    """One French sentence: why this code is the DP, or a DAS (ATIH guide méthodologique MCO)."""
    if is_dp:
        if c.code in _SESSION_CODES:
            return "DP : la venue est une séance (chimiothérapie, dialyse), motif de l'hospitalisation."
        inherited = bool(c.inherited) and not any(m.places for m in c.mentions)
        if level.get("conclusion"):
            why = "diagnostic retenu dans la conclusion ou le diagnostic de sortie"
        elif level.get("motif"):
            why = "problème du motif d'hospitalisation"
        elif level.get("cue"):
            why = "problème pour lequel le patient a été admis (« hospitalisé pour »)"
        else:
            why = "premier diagnostic éligible au DP nommé dans le séjour"
        tail = ", qui explique le symptôme d'entrée" if inherited else ""
        return f"DP : {why}{tail} (problème ayant motivé l'admission, déterminé à la sortie)."
    if c.history_only:
        return ("DAS : pathologie chronique citée en antécédent, à coder seulement si elle a été prise en "
                "charge ou a alourdi la prise en charge pendant le séjour.")
    if all(m.kind == "dense" for m in c.mentions):
        return "DAS : libellé CIM-10 proche du texte trouvé par la recherche sur tout le catalogue, à confirmer."
    if any(m.treated for m in c.mentions):
        return "DAS : affection associée prise en charge pendant le séjour."
    if c.code.startswith("R"):
        return "DAS : symptôme sans diagnostic retenu qui l'explique."
    if _position_bonus(level) >= 0.2:
        return "DAS : problème du motif ou de la conclusion, mais code non autorisé en DP ou moins probable comme DP."
    return "DAS : affection associée mentionnée pendant le séjour (comorbidité ou complication)."


def _evidence_of(c: _Candidate, texts: dict[str, str]) -> list[Evidence]:
    seen, out = set(), []
    items = [(m.source, m.start, m.end, m.quote) for m in c.mentions] + list(c.extra_evidence)
    for src, a, b, q in items:
        if (src, a, b) in seen or texts.get(src, "")[a:b] != q:
            continue
        seen.add((src, a, b))
        out.append(Evidence(source=src, quote=q, start=a, end=b))
    return out


def suggest_codes(
    sources: Sequence[SourceText],
    *,
    llm=None,
    top_k: int = 10,
    label_search: LabelSearch | None | bool = None,
    label_search_min_score: float | None = None,
    calibrated: bool = True,
) -> CodingResult:
    """CIM-10 suggestions (DP first, then DAS) for one stay, each with exact quotes.

    ``sources``: the stay's documents (``SourceText(source=id, text=...)``). ``llm``: optional
    LangChain chat model used only to verify/re-rank the candidates (:func:`tools.coding.verify.verify_with_llm`).
    ``label_search``: ``None`` (default) uses the catalogue-wide dense index
    (:func:`tools.coding.label_index.get_label_index`) when it is enabled (``MEDASSIST_CODING_DENSE=1``)
    and an embedding model is provisioned;
    ``False`` disables dense search; a callable ``text -> [(code, score)]`` (or an object with
    ``search_many(texts, k)``) replaces it. It is asked only for the clauses the lexical matchers
    did not explain; hits under ``label_search_min_score`` (default :data:`DENSE_MIN_SCORE`) are
    ignored. ``calibrated``: scores are
    calibrated probabilities (:mod:`tools.coding.calibration`) when a fitted calibration exists.
    """
    result, _rows = suggest_with_features(sources, llm=llm, top_k=top_k, label_search=label_search,
                             label_search_min_score=label_search_min_score, calibrated=calibrated)
    return result


def _default_label_search(label_search):
    if label_search is False:
        return None
    if label_search is not None and label_search is not True:
        return label_search
    from .label_index import get_label_index

    return get_label_index()


def suggest_with_features(
    sources: Sequence[SourceText],
    *,
    llm=None,
    top_k: int = 10,
    label_search=None,
    label_search_min_score: float | None = None,
    calibrated: bool = True,
) -> tuple[CodingResult, list[list[float]]]:
    """:func:`suggest_codes`, plus the calibration feature row of each suggestion (in order)."""
    label_search = _default_label_search(label_search)
    if label_search_min_score is None:
        label_search_min_score = DENSE_MIN_SCORE
    catalogue = get_catalogue()
    nlp = get_pipeline()
    texts = {s.source: s.text for s in sources}
    warnings: list[str] = []
    all_mentions: list[_Mention] = []
    ctx = StayContext()
    for index, src in enumerate(sources):
        if not src.text.strip():
            continue
        mentions, modifiers, measures = _analyse(src, index, nlp, catalogue, label_search, label_search_min_score)
        all_mentions.extend(mentions)
        for k, v in modifiers.items():
            ctx.modifiers.setdefault(k, []).extend(v)
        ctx.measures.extend(measures)
        ctx.folded += fold_chars(src.text) + "\n"

    cands: dict[str, _Candidate] = {}
    refused: list[tuple[str, _Mention]] = []
    res_cache: dict[tuple[str, str], Resolution] = {}
    for m in all_mentions:
        key = (m.raw, m.sentence)
        res = res_cache.get(key)
        if res is None:
            res = res_cache[key] = resolve(m.raw, ctx, sentence=m.sentence, catalogue=catalogue)
        if res.code is None:
            if m.excluded_reason is None and res.missing_detail and res.missing_detail not in warnings:
                warnings.append(res.missing_detail)
            continue
        if m.excluded_reason is not None:
            refused.append((res.code, m))
            continue
        c = cands.setdefault(res.code, _Candidate(code=res.code))
        c.mentions.append(m)
        if res.rule and res.rule not in c.rules:
            c.rules.append(res.rule)
        if res.missing_detail and res.missing_detail not in c.missing:
            c.missing.append(res.missing_detail)
        c.extra_evidence.extend(e for e in res.evidence if e not in c.extra_evidence)

    excluded: list[ExcludedMention] = []
    # History: chronic conditions stay (DAS, lower score), past acute events go.
    for code in list(cands):
        c = cands[code]
        if c.history_only and not _is_chronic(code):
            for m in c.mentions:
                refused.append((code, dataclasses.replace(m, excluded_reason="antécédent (épisode passé)")))
            del cands[code]

    _merge(cands, catalogue)
    for c in _drop_integral_symptoms(cands):
        for m in c.mentions:
            refused.append((c.code, dataclasses.replace(m, excluded_reason="symptôme expliqué par un diagnostic retenu")))

    retained_codes = set(cands)
    seen_ex = set()
    for code, m in refused:
        if code in retained_codes or (code, m.source, m.start) in seen_ex:
            continue
        seen_ex.add((code, m.source, m.start))
        excluded.append(
            ExcludedMention(code=dot(code), label=catalogue[code].label, reason=m.excluded_reason or "", evidence=m.evidence())
        )

    levels = _position_levels(cands)
    acute_positioned = any(
        _position_bonus(levels[c.code]) >= 0.2 and not c.code.startswith(("R", "Z")) and not _is_chronic(c.code)
        for c in cands.values()
    )
    first_seen = sorted(
        (min(m.order for m in c.mentions if not m.history), c.code)
        for c in cands.values()
        if any(not m.history for m in c.mentions)
    )
    ranks = {code: i for i, (_o, code) in enumerate(first_seen)}
    for c in cands.values():
        _score(c, levels[c.code], acute_positioned, ranks.get(c.code))

    ordered = sorted(cands.values(), key=lambda c: (-c.dp_score, -c.das_score, c.code))
    dp: _Candidate | None = None
    for c in ordered:
        if catalogue.dp_allowed(c.code) and not c.history_only and not all(m.kind == "dense" for m in c.mentions):
            dp = c  # a code only the dense search proposed is never the DP: it is « à vérifier »
            break
        if dp is None and _position_bonus(levels[c.code]) >= 0.2 and not catalogue.dp_allowed(c.code):
            warnings.append(
                f"{dot(c.code)} non autorisé en diagnostic principal (type ATIH {catalogue[c.code].type}) : proposé en DAS"
            )
    if dp is None and cands:
        warnings.append("Aucun diagnostic principal éligible identifié : vérifier le motif d'hospitalisation.")
    if not cands:
        warnings.append("Aucun diagnostic codable retrouvé dans les documents fournis.")

    das = sorted((c for c in cands.values() if c is not dp), key=lambda c: (-c.das_score, c.code))
    chosen = ([dp] if dp else []) + das
    calibrator = get_calibrator() if calibrated else None
    rows: list[list[float]] = []
    probs: list[float] = []
    for rank, c in enumerate(chosen):
        x = _features(c, c is dp, rank, levels[c.code], sum(1 for t in texts.values() if t.strip()))
        rows.append(x)
        probs.append(calibrator.probability(x) if calibrator is not None and calibrator.fitted else _raw_score(c, c is dp))
    if calibrator is not None and calibrator.fitted and len(chosen) > 1:
        # DAS in order of calibrated probability (the DP stays first: its choice is the ATIH rule's)
        start = 1 if dp is not None else 0
        order = sorted(range(start, len(chosen)), key=lambda i: (-probs[i], chosen[i].code))
        idx = list(range(start)) + order
        chosen, rows, probs = [chosen[i] for i in idx], [rows[i] for i in idx], [probs[i] for i in idx]
    threshold = calibrator.threshold if calibrator is not None and calibrator.fitted else 0.0
    keep = max(top_k, 1)
    chosen, rows, probs = chosen[:keep], rows[:keep], probs[:keep]
    suggestions: list[CodeSuggestion] = []
    for c, p in zip(chosen, probs):
        entry = catalogue[c.code]
        is_dp = c is dp
        suggestions.append(
            CodeSuggestion(
                code=entry.dotted,
                label=entry.label,
                role="DP" if is_dp else "DAS",
                score=round(p, 3),
                evidence=_evidence_of(c, texts),
                chapter=entry.chapter,
                atih_type=entry.type,
                rule="; ".join(c.rules) or None,
                missing_detail="; ".join(c.missing) or None,
                origins=list(dict.fromkeys(_ORIGIN_FR[m.kind] for m in c.mentions)),
                history=c.history_only,
                to_review=p < threshold,
                atih_restriction=atih_restriction(entry.type),
                reason=_reason(c, is_dp, levels[c.code]),
            )
        )
        for w in c.missing:
            if w not in warnings:
                warnings.append(w)
    result = CodingResult(suggestions=suggestions, warnings=warnings, excluded=excluded)
    if llm is not None:
        from .verify import verify_with_llm

        result = verify_with_llm(result, list(sources), llm)
    return result, rows
