"""edsnlp pass: TNM mentions (``eds.tnm``) and the qualifiers (negation, hypothesis, family).

Why edsnlp: the repository's coding tool already trusts its French qualifiers (with our added cues,
:func:`tools.coding.pipeline._qualifier_kwargs`), so « pas de métastase hépatique », « métastase
non exclue » and « mère : cancer de l'ovaire » are read the same way everywhere. The pipeline here
has no ``eds.cim10`` (the slow pipe), so it builds in a few seconds and is kept per process.

Example::

    >>> from tools.drafting.extract import SourceDoc
    >>> from tools.structure.rules import find_mentions
    >>> d = SourceDoc(doc_id="D1", title="RCP", doc_type="rcp", date=None,
    ...               text="Pas de métastase hépatique. Mère : cancer de l'ovaire. Stade cT2N1M0.")
    >>> sorted((m.field, m.value, m.status) for m in qualify(d, find_mentions(d)))
    [('ctnm', 'cT2N1M0', 'affirmed'), ('metastatic_sites', 'foie', 'negated'), ('primary_site', 'C56', 'family')]

Limits: edsnlp's negation scope ends at the next comma or conjunction, so « pas de métastase
hépatique, pulmonaire ou osseuse » negates the first site only; our metastasis rule stops at the
comma too, so later sites of such an enumeration are simply not read (never read as affirmed).
"""

from __future__ import annotations

import contextlib
import io
import re
from functools import lru_cache

from tools.drafting.extract import SourceDoc
from tools.structure.rules import Mention, sentence

GROUP = "candidates"  # the span group the qualifier kwargs of tools.coding.pipeline read
_QUALIFIERS = ("negation", "hypothesis", "family")


@lru_cache(maxsize=1)
def pipeline():
    """sentences, normalizer, sections (eds.family reads « antécédents familiaux »), tnm, qualifiers."""
    import edsnlp
    import edsnlp.pipes as eds

    from tools.coding.pipeline import _qualifier_kwargs

    try:  # edsnlp logs through loguru (its dependency): its "still in Beta" warning would reach the CLI's stderr
        from loguru import logger
    except ImportError:  # pragma: no cover
        logger = None
    q = _qualifier_kwargs()
    if logger:
        logger.disable("edsnlp.pipes.misc.sections")
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            nlp = edsnlp.blank("eds")
            nlp.add_pipe(eds.sentences())
            nlp.add_pipe(eds.normalizer())
            nlp.add_pipe(eds.sections())
            nlp.add_pipe(eds.tnm())
            nlp.add_pipe(eds.negation(**q["negation"]))
            nlp.add_pipe(eds.hypothesis(**q["hypothesis"]))
            nlp.add_pipe(eds.family(**q["family"]))
    finally:
        if logger:
            logger.enable("edsnlp.pipes.misc.sections")
    return nlp


def _tnm_value(text: str) -> tuple[str, str] | None:
    """(kind, normalised TNM) of an ``eds.tnm`` span: ``pT2N1a(1/14)M0`` -> ('ptnm', 'pT2N1aM0')."""
    v = re.sub(r"\([^)]*\)", "", text)
    v = re.sub(r"\s+", "", v)
    m = re.match(r"^(y?[cpr]?|a)T([0-4][a-d]?|is|x)(N[0-3x][a-c]?)?(M[01x][a-d]?)?", v, re.IGNORECASE)
    if not m or not m.group(3):
        return None  # a T alone (« tumeur T3 ») is an imaging description, not a stage
    prefix = m.group(1).lower()
    kind = "ptnm" if "p" in prefix else "ctnm"
    n, mm = m.group(3), m.group(4) or ""
    norm = f"{prefix}T{m.group(2)}N{n[1:].lower()}" + (f"M{mm[1:].lower()}" if mm else "")
    return kind, norm


#: A family cue earlier in the same sentence (« sœur : cancer du sein à 45 ans, porteuse d'une mutation
#: BRCA2 »): edsnlp's family scope stops at the comma, the sentence is still about the sister.
_FAMILY_LEAD = re.compile(r"(?:^|\s)(?:familiaux|antécédents familiaux|mère|père|sœur|soeur|frère|fille|fils|tante|oncle|"
                          r"grand-mère|grand-père|cousine?|nièce|neveu)\s*:", re.IGNORECASE)
_EDITION = re.compile(r"(\d)\s*(?:e|eme|ème|è|ᵉ)\s*[ée]dition|(?:tnm|uicc|ajcc)\s*(\d)\b", re.IGNORECASE)


def qualify(doc: SourceDoc, mentions: list[Mention]) -> list[Mention]:
    """Add the TNM mentions of ``doc`` and set every mention's status (family > negated > hypothetical)."""
    nlp = pipeline()
    d = nlp.make_doc(doc.text)
    spans, owners = [], []
    for name, pipe in nlp.pipeline:
        if name in _QUALIFIERS and not spans:
            for s in d.spans.get("tnm", []):
                tv = _tnm_value(s.text)
                if tv:
                    a, b = sentence(doc.text, s.start_char)
                    ed = _EDITION.search(doc.text, a, b)
                    mm = Mention(tv[0], tv[1], doc, s.start_char, s.end_char,
                                 extra={"edition": (ed.group(1) or ed.group(2)) if ed else None,
                                        "edition_span": ed.span() if ed else None})
                    mentions.append(mm)
            for mm in mentions:
                sp = d.char_span(mm.start, mm.end, alignment_mode="expand")
                if sp is not None:
                    spans.append(sp)
                    owners.append(mm)
            # sorted by position: edsnlp's qualifiers consume their cues in span order
            order = sorted(range(len(spans)), key=lambda i: (spans[i].start, spans[i].end))
            spans, owners = [spans[i] for i in order], [owners[i] for i in order]
            d.spans[GROUP] = spans
        d = pipe(d)
    family_at = [sp.start_char for sp in spans if sp._.family]
    for sp, mm in zip(spans, owners):
        a, _ = sentence(doc.text, mm.start)
        if sp._.family or any(a <= f < mm.start for f in family_at) or _FAMILY_LEAD.search(doc.text[a:mm.start]):
            mm.status = "family"
        elif sp._.negation and not mm.value_negation:
            mm.status = "negated"
        elif sp._.hypothesis and mm.status == "affirmed" and not mm.extra.get("clause_checked"):
            # biomarker results have their own clause-level "pending test" rule (rules._PENDING): a
            # « Recherche de mutation BRCA : mutation BRCA2 pathogène » states a result after the colon
            mm.status = "hypothetical"
    return mentions
