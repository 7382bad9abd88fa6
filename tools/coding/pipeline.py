"""The edsnlp pipeline behind CIM-10 coding: built once, pickled, reloaded in a few seconds.

Why: candidate diagnoses must come with exact character offsets *and* with edsnlp's clinical
qualifiers (negation, hypothesis, family, history), so that "pas d'embolie pulmonaire" or
"mère : cancer du sein" are never suggested. Building ``eds.cim10`` (257,000 patterns from the
ATIH labels and codes) takes about a minute on two cores, so the built pipeline is pickled under
``get_settings().cache_dir`` keyed by the edsnlp version, our synonym file and this module's
:data:`PIPELINE_VERSION`; unpickling takes ~3 s.

Stages (run by :func:`run_pipeline`, which lets a caller insert spans before the qualifiers):

1. ``eds.sentences``, ``eds.normalizer`` (NORM = lower case, no accents);
2. ``eds.sections`` for titles on their own line, plus :func:`inline_sections` for the
   "Motif : ... Conclusion : ..." style of stay syntheses (eds.sections needs a line break);
3. ``eds.cim10`` (exact matching of ATIH labels on NORM) into ``doc.spans["cim10"]``;
4. ``eds.terminology`` with our synonyms (``knowledge/data/cim10_synonyms.json``): words and a few
   regular expressions on NORM into ``"syn"``, case-sensitive abbreviations (FA, HTA, IRC...) into ``"abbr"``, rule modifiers
   (insulin, diabetic complications, chemotherapy) into ``"mod"``;
5. caller hook (lexical / dense label matches into ``"lex"``);
6. ``eds.negation``, ``eds.hypothesis``, ``eds.family``, ``eds.history`` over all those groups,
   with a few French cues added to edsnlp's lists (``éliminé``, ``non retenu``, ``évoqué``...).

Example::

    >>> from tools.coding.pipeline import get_pipeline, run_pipeline
    >>> doc = run_pipeline(get_pipeline(), "Pas d'embolie pulmonaire. HTA.")
    >>> sorted({(s.text, s._.negation) for s in doc.spans["candidates"]})
    [('HTA', False), ('embolie pulmonaire', True)]

Limits: ``eds.cim10``'s fuzzy mode (simstring) was left out: it keeps its database in a temporary
folder (fragile once pickled) and is much slower; paraphrases are covered by our synonyms and the
stemmed label search of :mod:`tools.coding.extract` instead. Qualifier rules are edsnlp's: a
negation cue scopes to the next termination (comma, "et", "mais"...), so long enumerations after
one "pas de" can be partly missed.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
from collections.abc import Callable
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from spacy.tokens import Doc

from knowledge.sections import split_sections
from medassist.pickle_cache import cached

#: Bump when the pipeline layout changes (invalidates the pickled pipeline).
PIPELINE_VERSION = 8

#: Span groups holding diagnosis candidates / rule modifiers.
CANDIDATE_GROUPS = ("cim10", "syn", "abbr", "lex")
MODIFIER_GROUP = "mod"
QUALIFIED_GROUPS = (*CANDIDATE_GROUPS, MODIFIER_GROUP)
#: The one group the qualifiers read: all of the above, de-duplicated and sorted by position.
#: (edsnlp qualifiers consume their cues in span order: with several unsorted groups, spans of a
#: later group silently lose their negation/family flags — observed with edsnlp 0.23.0.)
MERGED_GROUP = "candidates"

# Extra French cues, added to edsnlp's default lists (edsnlp conjugates the verbs itself).
_EXTRA_NEGATION_FOLLOWING = [
    "éliminé", "éliminée", "éliminés", "éliminées", "écarté", "écartée", "écartés", "écartées",
    "non retenu", "non retenue", "non retenus", "non retenues", "infirmé", "infirmée",
    "exclu", "exclue", "normal", "normale", "normaux", "normales",
]
_EXTRA_NEGATION_PRECEDING = ["pas d'argument pour", "absence d'argument pour", "sans argument pour"]
# "Facteurs de risque : HTA" is not a hypothesis (edsnlp's cue "risque" would make it one).
_EXTRA_HYPOTHESIS_PSEUDO = ["facteurs de risque", "facteur de risque", "facteurs de risques", "facteurs de risque cardio-vasculaire", "facteurs de risque cardiovasculaire"]
_EXTRA_HYPOTHESIS_PRECEDING = ["suspicion de", "suspicion d'", "évocation de", "crainte de", "à éliminer",
                               # screening names what is looked for, not what was found
                               "dépistage du", "dépistage de", "dépistage d'", "dépistage des"]
_EXTRA_HYPOTHESIS_FOLLOWING = [
    "évoqué", "évoquée", "évoqués", "évoquées", "suspecté", "suspectée", "suspectés", "suspectées",
    "à éliminer", "à confirmer", "à discuter", "à évoquer", "non exclu", "non exclue", "?",
]

#: Our section names (:mod:`knowledge.sections`) -> the labels of eds.sections, which eds.family and
#: the coding rules read ("motif", "antécédents familiaux"…). Other sections only close the previous one.
EDS_SECTION_LABELS: dict[str, str] = {
    "Motif d'hospitalisation": "motif",
    "Motif de consultation": "motif",
    "Motif": "motif",
    "Antécédents": "antécédents",
    "Antécédents familiaux": "antécédents familiaux",
    "Facteurs de risque": "facteurs de risques",
    "Mode de vie": "habitus",
    "Histoire de la maladie": "histoire de la maladie",
    "Examen clinique": "examens",
    "Examens complémentaires": "examens complémentaires",
    "Biologie": "examens complémentaires",
    "Imagerie": "examens complémentaires",
    "Évolution": "evolution",
    "Conclusion": "conclusion",
    "Diagnostic": "diagnostic",
    "Traitement à l'entrée": "traitements entrée",
    "Traitement en cours": "traitements entrée",
    "Traitement de sortie": "traitements sortie",
}


def inline_sections(text: str) -> list[tuple[str, int, int, int]]:
    """Sections of a one-paragraph synthesis: ``(label, title_start, body_start, end)`` in characters,
    labels of eds.sections (see :func:`knowledge.sections.split_sections`, paragraph style).

    >>> [(s[0]) for s in inline_sections("Motif : dyspnée. ATCD : HTA. Au total : OAP.")]
    ['motif', 'antécédents', 'conclusion']
    """
    return [(EDS_SECTION_LABELS[sec.name], sec.heading_start, sec.start, sec.end)
            for sec in split_sections(text, style="paragraph") if sec.name in EDS_SECTION_LABELS]


def _add_inline_sections(doc: Doc) -> Doc:
    """Fill ``doc.spans["sections"]`` from inline titles when eds.sections found none."""
    if doc.spans.get("sections"):
        return doc
    doc.user_data["medassist_inline_sections"] = True
    sections, titles = [], []
    for label, start, body, end in inline_sections(doc.text):
        title = doc.char_span(start, body, alignment_mode="expand", label=label)
        sec = doc.char_span(start, end, alignment_mode="expand", label=label)
        if title is None or sec is None:
            continue
        sec._.section_title = title
        sections.append(sec)
        titles.append(title)
    doc.spans["sections"] = sections
    doc.spans["section_titles"] = titles
    return doc


# --------------------------------------------------------------------------- synonyms
def synonyms_path() -> Path:
    return Path(str(resources.files("knowledge.data") / "cim10_synonyms.json"))


def load_synonyms() -> dict[str, Any]:
    """Our terminology file: ``terms`` (NORM), ``abbreviations`` (case-sensitive), ``modifiers``."""
    data = json.loads(synonyms_path().read_text(encoding="utf-8"))
    return {k: {c: list(v) for c, v in data.get(k, {}).items() if v} for k in ("terms", "abbreviations", "modifiers", "regex")}


# --------------------------------------------------------------------------- build / cache
def _qualifier_kwargs() -> dict[str, dict[str, Any]]:
    from edsnlp.pipes.qualifiers.hypothesis import patterns as hyp
    from edsnlp.pipes.qualifiers.negation import patterns as neg

    getter = [MERGED_GROUP]
    return {
        "negation": dict(
            span_getter=getter,
            following=list(dict.fromkeys(neg.following + _EXTRA_NEGATION_FOLLOWING)),
            preceding=list(dict.fromkeys(neg.preceding + _EXTRA_NEGATION_PRECEDING)),
        ),
        "hypothesis": dict(
            span_getter=getter,
            pseudo=list(dict.fromkeys(hyp.pseudo + _EXTRA_HYPOTHESIS_PSEUDO)),
            preceding=list(dict.fromkeys(hyp.preceding + _EXTRA_HYPOTHESIS_PRECEDING)),
            following=list(dict.fromkeys(hyp.following + _EXTRA_HYPOTHESIS_FOLLOWING)),
        ),
        "family": dict(span_getter=getter, use_sections=True),
        "history": dict(span_getter=getter, use_sections=False),
    }


def build_pipeline():
    """Assemble the pipeline from scratch (about a minute: eds.cim10 tokenises every ATIH label)."""
    import edsnlp
    import edsnlp.pipes as eds

    syn = load_synonyms()
    with contextlib.redirect_stderr(io.StringIO()):  # edsnlp's tqdm bars (42,886 ATIH codes)
        nlp = edsnlp.blank("eds")
        nlp.add_pipe(eds.sentences())
        nlp.add_pipe(eds.normalizer())
        nlp.add_pipe(eds.sections())
        nlp.add_pipe(eds.cim10(span_setter={"cim10": True}))
        nlp.add_pipe(
            eds.terminology(
                name="syn", label="syn", terms=syn["terms"], regex=syn["regex"], attr="NORM", span_setter={"syn": True}
            )
        )
        nlp.add_pipe(
            eds.terminology(
                name="abbr", label="abbr", terms=syn["abbreviations"], attr="TEXT", span_setter={"abbr": True}
            )
        )
        nlp.add_pipe(
            eds.terminology(name="mod", label="mod", terms=syn["modifiers"], attr="NORM", span_setter={"mod": True})
        )
        q = _qualifier_kwargs()
        nlp.add_pipe(eds.negation(**q["negation"]))
        nlp.add_pipe(eds.hypothesis(**q["hypothesis"]))
        nlp.add_pipe(eds.family(**q["family"]))
        nlp.add_pipe(eds.history(**q["history"]))
    return nlp


def _cache_key() -> str:
    import edsnlp

    h = hashlib.sha256()
    h.update(str(PIPELINE_VERSION).encode())
    h.update(edsnlp.__version__.encode())
    h.update(synonyms_path().read_bytes())
    h.update(json.dumps(_qualifier_kwargs(), sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def load_pipeline(*, cache_dir: Path | None = None, use_cache: bool = True):
    """The pipeline from the pickle cache, or built (and cached) when absent or stale."""
    if cache_dir is None:
        from medassist.settings import get_settings

        cache_dir = get_settings().cache_dir
    return cached(Path(cache_dir) / f"coding_pipeline_{_cache_key()}.pkl", build_pipeline, use_cache=use_cache)


@lru_cache(maxsize=1)
def get_pipeline():
    """Process-wide pipeline (see :func:`load_pipeline`)."""
    return load_pipeline()


_QUALIFIERS = ("negation", "hypothesis", "family", "history")


def merge_candidates(doc: Doc) -> None:
    """Fill ``doc.spans["candidates"]``: every candidate/modifier span once, sorted by position."""
    seen, merged = set(), []
    for g in QUALIFIED_GROUPS:
        for s in doc.spans.get(g, []):
            key = (s.start, s.end, s.label_, s.kb_id_)
            if key not in seen:
                seen.add(key)
                merged.append(s)
    merged.sort(key=lambda s: (s.start, s.end))
    doc.spans[MERGED_GROUP] = merged


def run_pipeline(nlp, text: str, before_qualifiers: Callable[[Doc], None] | None = None) -> Doc:
    """Run the pipes in order; inline sections are added after eds.sections; the hook runs before
    the first qualifier (it may add spans to ``doc.spans["lex"]``), then all candidate groups are
    merged into ``doc.spans["candidates"]``, the group the qualifiers annotate."""
    doc = nlp.make_doc(text)
    doc.spans["lex"] = []
    hooked = False
    for name, pipe in nlp.pipeline:
        if name in _QUALIFIERS and not hooked:
            hooked = True
            if before_qualifiers is not None:
                before_qualifiers(doc)
            merge_candidates(doc)
        doc = pipe(doc)
        if name == "sections":
            _add_inline_sections(doc)
    return doc
