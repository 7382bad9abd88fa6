"""Deterministic oncology rules: every mention of a field in one document, with exact offsets.

Why rules first: a tumour registry needs values it can trace to a sentence; each regular expression
here runs on :func:`knowledge.french.fold_chars` text (same length as the original), so a match's
offsets are the citation's offsets. TNM comes from edsnlp's ``eds.tnm`` pipe (see
:mod:`tools.structure.qualify`); the qualifiers (negation, hypothesis, family) are edsnlp's too.
Rules here only *find* mentions; :mod:`tools.structure.extract` decides which one is the patient's.

Example::

    >>> from tools.drafting.extract import SourceDoc
    >>> d = SourceDoc(doc_id="D1", title="ACP", doc_type="anatomopathologie", date=None,
    ...               text="CONCLUSION:\\nRécepteurs aux œstrogènes : 90 %. Ki67 : 30 %. HER2 : score 3+.")
    >>> sorted((m.field, m.value) for m in find_mentions(d))
    [('er_pct', 90), ('her2_ihc', '3+'), ('ki67_pct', 30)]

Limits: a value written in a table cell away from its label, or in words (« quatre-vingt-dix pour
cent »), is not read; the treatment rules read a line as given when it has a start / completion cue
or a past date, or comes from a chemotherapy session, an operative report or a pathology request —
a plan written as prose outside an RCP proposal section may be read as given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from knowledge.dates import find_dates
from knowledge.french import fold_chars
from knowledge.oncology import compiled, lexicon
from tools.drafting.extract import SourceDoc


@dataclass
class Mention:
    """One occurrence of a field's value in a document (before qualification)."""

    field: str
    value: Any
    doc: SourceDoc
    start: int
    end: int
    label: str | None = None
    date: date | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: the negation is part of the value (« absence de mutation KRAS » = KRAS non muté): ignore the negation flag
    value_negation: bool = False
    rank: int = 0  # preference among mentions of the same field (higher first)
    status: str = "affirmed"
    extra_spans: list[tuple[int, int]] = field(default_factory=list)  # further citations (quadrant…)

    @property
    def day(self) -> date | None:
        return self.date or self.doc.date


# --------------------------------------------------------------------------- text helpers
_SENT_STOP = re.compile(r"\n|(?<=[.!?])\s+(?=[A-Za-zÀ-ÿ0-9«])")  # folded text has no capitals


def sentence(text: str, pos: int, end: int | None = None) -> tuple[int, int]:
    """The line/sentence around ``pos`` (a heading line is its own sentence)."""
    end = pos if end is None else end
    s = 0
    for m in _SENT_STOP.finditer(text, 0, pos):
        s = m.end()
    m = _SENT_STOP.search(text, end)
    return s, (m.start() if m else len(text))


def clause_start(text: str, pos: int) -> int:
    """Start of the clause holding ``pos``: after the last ``:`` ``;`` or sentence end before it."""
    s, _ = sentence(text, pos)
    cut = max(text.rfind(":", s, pos), text.rfind(";", s, pos))
    return cut + 1 if cut >= 0 else s


def _dates_in(text: str, s: int, e: int) -> list:
    return [(s + d.start, d) for d in find_dates(text[s:e]) if d.date]


_PROPOSAL = re.compile(r"^[ \t#*]*(?:proposition|decision|avis)(?: th[ée]rapeutique)?(?: de la rcp| rcp)?[ \t*]*:?[ \t]*$",
                       re.IGNORECASE | re.MULTILINE)
_HEADING = re.compile(r"^[ \t#*]*[A-ZÀ-Ý][A-ZÀ-Ý' \-]{3,}[ \t*]*:?[ \t]*$", re.MULTILINE)


def proposal_spans(doc: SourceDoc) -> list[tuple[int, int]]:
    """Spans of the « Proposition de la RCP / Décision » sections of a document (a plan, not a fact)."""
    t = fold_chars(doc.text)
    out = []
    for m in _PROPOSAL.finditer(t):
        nxt = _HEADING.search(doc.text, m.end())
        out.append((m.end(), nxt.start() if nxt else len(doc.text)))
    return out


def in_spans(pos: int, spans: list[tuple[int, int]]) -> bool:
    return any(a <= pos < b for a, b in spans)


# --------------------------------------------------------------------------- site, histology, grade
_CANCER = re.compile(rf"\b(?:{lexicon()['cancer_words']})s?\b", re.IGNORECASE)
_SIDE = re.compile(r"\b(gauche|droite?)\b")
_METAS_BEFORE = re.compile(r"(?:metastas\w*|secondaires?|metastatique)\s*$")


def site_mentions(doc: SourceDoc, t: str) -> list[Mention]:
    out = []
    lex = compiled()
    for cm in _CANCER.finditer(t):
        _, e = sentence(t, cm.start())
        window_end = min(e, cm.end() + 110)
        found = []
        for entry, rx in lex["sites"]:
            m = rx.search(t, cm.end(), window_end)
            if m:
                found.append((m.start(), entry, m))
        if not found:
            continue
        found.sort(key=lambda x: x[0])
        first_cat = found[0][1]["code"].split(".")[0]
        same = [x for x in found if x[1]["code"].split(".")[0] == first_cat and x[0] - found[0][0] <= 40]
        _, entry, m = next((x for x in same if not x[1]["code"].endswith(".9")), same[0])
        first = found[0][2]
        between = t[cm.end():first.start()]
        if _METAS_BEFORE.search(between) or re.search(r"[;:]", between):
            continue
        end = max(m.end(), first.end())
        while end < len(t) and t[end].isalpha():
            end += 1
        side, side_end = None, None
        if entry.get("paired"):
            sm = _SIDE.search(t, first.start(), min(e, end + 30))
            if sm:
                side, side_end = ("gauche" if sm.group(1) == "gauche" else "droite"), sm.end()
        out.append(Mention("primary_site", entry["code"], doc, cm.start(), end, label=entry["label"],
                           extra={"laterality": side, "side_end": side_end, "paired": bool(entry.get("paired"))}))
    for entry, rx in lex["haematology"]:
        for m in rx.finditer(t):
            out.append(Mention("primary_site", entry["code"], doc, m.start(), m.end(), label=entry["label"], rank=1))
    return out


def quadrant_mentions(doc: SourceDoc, t: str) -> list[Mention]:
    out = []
    for entry, rx in compiled()["breast_quadrants"]:
        for m in rx.finditer(t):
            s, e = sentence(t, m.start())
            if re.search(r"\bsein\b|mammaire", t[s:e]):
                out.append(Mention("breast_quadrant", entry["code"], doc, m.start(), m.end()))
    return out


def histology_mentions(doc: SourceDoc, t: str) -> list[Mention]:
    out, taken = [], []
    for entry, rx in sorted(compiled()["histology"], key=lambda x: -x[0]["rank"]):
        for m in rx.finditer(t):
            if any(a <= m.start() < b for a, b in taken):
                continue
            taken.append(m.span())
            out.append(Mention("histology", entry["label"], doc, m.start(), m.end(), rank=entry["rank"]))
    return out


_ROMAN = {"1": "I", "2": "II", "3": "III", "i": "I", "ii": "II", "iii": "III"}
_SBR = re.compile(r"\b(?:grade\s+)?(?:sbr|elston(?:[- ]ellis)?|ee)\s*(?:modifie\s*)?:?\s*(iii|ii|i|[123])\b")
_GLEASON = re.compile(r"gleason\s*(?:de\s*)?(?:(\d{1,2})\s*\(\s*([1-5])\s*\+\s*([1-5])\s*\)"
                      r"|([1-5])\s*\+\s*([1-5])(?:\s*=\s*(\d{1,2}))?)")
_DIFF = re.compile(r"\b(bien|moyennement|peu|in)\s?differencie(?:e|s|es)?\b")


def grade_mentions(doc: SourceDoc, t: str) -> list[Mention]:
    out = []
    for m in _SBR.finditer(t):
        out.append(Mention("grade", f"SBR {_ROMAN[m.group(1)]}", doc, m.start(), m.end(), rank=2))
    for m in _GLEASON.finditer(t):
        if m.group(2):
            a, b = int(m.group(2)), int(m.group(3))
        else:
            a, b = int(m.group(4)), int(m.group(5))
        out.append(Mention("grade", f"Gleason {a}+{b}={a + b}", doc, m.start(), m.end(), rank=2))
    for m in _DIFF.finditer(t):
        word = {"in": "indifférencié"}.get(m.group(1), f"{m.group(1)} différencié")
        if m.group(1) == "moyennement":
            word = "moyennement différencié"
        out.append(Mention("grade", word, doc, m.start(), m.end(), rank=1))
    return out


# --------------------------------------------------------------------------- receptors, biomarkers
_PCT = r"\s*(?:\([^)]*\)\s*)?(?:=|:)?\s*(?:positifs?\s*(?:a|à)\s*)?(\d{1,3})\s*%"
_ER = re.compile(r"(?:recepteurs?\s+(?:aux\s+|a\s+l'|des\s+)?(?:oe|œ)strog[eè]nes?|\bre\b|\bro\b|\ber\b)" + _PCT)
_PR = re.compile(r"(?:recepteurs?\s+(?:a\s+la\s+|de\s+la\s+)?progesterone|\brp\b|\bpr\b)" + _PCT)
_KI67 = re.compile(r"\bki[- ]?67\b[^%\n]{0,25}?(\d{1,3})\s*%")
_PDL1 = re.compile(r"\bpd-?l1\b[^%\n.]{0,40}?(\d{1,3})\s*%")
_HER2_IHC = re.compile(r"\b(?:her2|her-2|c-?erbb-?2)\b\s*(?:\(ihc\)\s*)?:?\s*(?:score\s*)?([0-3])\s*(\+)?(?!\s*%)")
_HER2_ISH = re.compile(r"(absence\s+d'amplification|non\s+amplifie|pas\s+d'amplification|amplification|amplifie)"
                       r"(?:\s+du\s+gene)?\s*(?:de\s+)?(?:her2|her-2)|\bher2\b\s+(non\s+amplifie|amplifie)")
_MUT_NEG = re.compile(r"(?:absence\s+de|pas\s+de|sans)\s+(?:mutation|alteration)s?\s+(?:activatrice\s+)?"
                      r"(?:de\s+l'|du\s+(?:gene\s+)?|de\s+)?"
                      r"(egfr|kras|braf|brca[12]?)|\b(egfr|kras|braf|brca[12]?)\s+(?:sauvage|non\s+mute)")
_MUT_POS = re.compile(r"mutation\s+(?:activatrice\s+|pathogene\s+|germinale\s+|somatique\s+)?(?:de\s+l'|du\s+(?:gene\s+)?|de\s+)?"
                      r"(egfr|kras|braf|brca[12]?)|\b(egfr|kras|braf|brca[12]?)\s+(?:mute|muee)\b")
_PENDING = re.compile(r"recherche\s+d[eu']|a\s+prevoir|en\s+cours|demandee?|n'a\s+pas\s+(?:encore\s+)?ete|"
                      r"non\s+realisee?|en\s+attente|a\s+realiser")
_MSI = re.compile(r"\b(msi(?:-h)?|dmmr|instabilite\s+microsatellitaire|mss|pmmr|stabilite\s+microsatellitaire)\b")


def _gene(g: str) -> str:
    return "brca" if g.startswith("brca") else g


def marker_mentions(doc: SourceDoc, t: str) -> list[Mention]:
    out: list[Mention] = []
    for rx, name in ((_ER, "er_pct"), (_PR, "pr_pct"), (_KI67, "ki67_pct"), (_PDL1, "pdl1_pct")):
        for m in rx.finditer(t):
            v = int(m.group(1))
            if v <= 100:
                out.append(Mention(name, v, doc, m.start(), m.end()))
    for m in _HER2_IHC.finditer(t):
        v = m.group(1) + ("+" if m.group(1) != "0" else "")
        out.append(Mention("her2_ihc", v, doc, m.start(), m.end()))
    for m in _HER2_ISH.finditer(t):
        word = (m.group(1) or m.group(2)).replace("  ", " ")
        v = "non amplifié" if re.match(r"absence|non|pas", word) else "amplifié"
        out.append(Mention("her2_ish", v, doc, m.start(), m.end(), value_negation=v == "non amplifié"))
    neg_spans = []
    for m in _MUT_NEG.finditer(t):
        g = _gene(m.group(1) or m.group(2))
        neg_spans.append(m.span())
        out.append(Mention(g, "non muté", doc, m.start(), m.end(), value_negation=True))
    for m in _MUT_POS.finditer(t):
        if any(a <= m.start() < b or a < m.end() <= b for a, b in neg_spans):
            continue
        g = _gene(m.group(1) or m.group(2))
        mm = Mention(g, "muté", doc, m.start(), m.end(), extra={"clause_checked": True})
        if _PENDING.search(t, clause_start(t, m.start()), m.start()) or \
                _PENDING.search(t[m.end():sentence(t, m.start())[1]]):
            mm.status = "hypothetical"  # a test asked for or pending is not a result
            mm.extra["reason"] = "examen demandé ou en attente"
        out.append(mm)
    for m in _MSI.finditer(t):
        w = m.group(1)
        v = "MSS" if w in ("mss", "pmmr") or w.startswith("stabilite") else "MSI"
        out.append(Mention("msi", v, doc, m.start(), m.end()))
    return out


# --------------------------------------------------------------------------- stage, PS, metastases
_ANN_ARBOR = re.compile(r"(?:ann[- ]arbor\s*(?::\s*)?(?:stade\s*)?(iv|iii|ii|i|[1-4])\s*([ab])?\b"
                        r"|stade\s+(iv|iii|ii|i)\s*([ab])?\s+(?:d'|de\s+l'|selon\s+)?ann[- ]arbor)")
_ISS = re.compile(r"\b(r-?iss|iss)\s*(?:stade\s*)?(iii|ii|i|[1-3])\b|stade\s+(iii|ii|i)\s+(?:de\s+l'|selon\s+l')?(r-?iss|iss)\b")
_BINET = re.compile(r"\bstade\s+([abc])\s+de\s+binet|\bbinet\s+([abc])\b")
_ROM4 = {"1": "I", "2": "II", "3": "III", "4": "IV"}
_PS = re.compile(r"(?:\bps\b|performance\s+status|indice\s+de\s+performance|etat\s+general)"
                 r"\s*(?:\(?(?:oms|ecog|who)\)?)?\s*(?:=|:|a|de)?\s*([0-4])\b"
                 r"|\b(?:oms|ecog)\s*(?:=|:)?\s*([0-4])\b(?!\s*(?:mm|cm|%|g|mg|ml))")


def stage_mentions(doc: SourceDoc, t: str) -> list[Mention]:
    out = []
    for m in _ANN_ARBOR.finditer(t):
        n = (m.group(1) or m.group(3))
        n = _ROM4.get(n, n.upper())
        ab = (m.group(2) or m.group(4) or "").upper()
        out.append(Mention("stage", f"Ann Arbor {n}{ab}", doc, m.start(), m.end()))
    for m in _ISS.finditer(t):
        kind = (m.group(1) or m.group(4)).upper().replace("R-ISS", "R-ISS").replace("RISS", "R-ISS")
        n = (m.group(2) or m.group(3))
        out.append(Mention("stage", f"{kind} {_ROM4.get(n, n.upper())}", doc, m.start(), m.end()))
    for m in _BINET.finditer(t):
        out.append(Mention("stage", f"Binet {(m.group(1) or m.group(2)).upper()}", doc, m.start(), m.end()))
    for m in _PS.finditer(t):
        v = int(m.group(1) or m.group(2))
        out.append(Mention("performance_status", v, doc, m.start(), m.end()))
    return out


_META_WORD = re.compile(r"\b(?:metastases?|metastatiques?|lesions?\s+secondaires?|localisations?\s+secondaires?|"
                        r"carcinose|atteinte\s+secondaire)\b")


_OF_PRIMARY = re.compile(rf"\s*(?:d'une?|de\s+l'|du|de\s+la|des)\s*(?:{lexicon()['cancer_words']})", re.IGNORECASE)


def metastasis_mentions(doc: SourceDoc, t: str) -> list[Mention]:
    out = []
    for m in _META_WORD.finditer(t):
        if _OF_PRIMARY.match(t, m.end()):
            continue  # « métastases de l'adénocarcinome pulmonaire »: the adjective names the primary
        _, e = sentence(t, m.start())
        tail_end = min(e, m.end() + 40)
        # the site word follows the cue, before a comma or a conjunction (« métastases osseuses multiples »)
        tail = t[m.end():tail_end]
        stop = re.search(r"[,;:(]|\bet\b|\bni\b|\bou\b|\bavec\b", tail)
        tail = tail[:stop.start()] if stop else tail
        if m.group(0).startswith("carcinose") and not re.search(r"peritone", tail):
            tail = tail + " peritoneale"  # « carcinose » alone is peritoneal
        for entry, rx in compiled()["metastatic_sites"]:
            sm = rx.search(tail)
            if sm:
                if entry["site"] == "ganglions à distance" or "ganglionnaire" not in tail[:sm.start()]:
                    out.append(Mention("metastatic_sites", entry["site"], doc, m.start(),
                                       m.end() + min(len(tail), sm.end())))
                break
    return out


# --------------------------------------------------------------------------- RCP, treatments, relapse
_RCP_DATE = re.compile(r"date\s+(?:de\s+la\s+)?(?:rcp|reunion)\s*:?\s*", re.IGNORECASE)


_RCP_HELD = re.compile(r"\brcp\b[^.;:\n]{0,40}?\b(?:du|le)\s+(?=\d)")


def rcp_mentions(doc: SourceDoc, t: str) -> list[Mention]:
    """One decision per RCP document (date of the meeting, proposal quoted); in other documents, a
    past RCP named with its date (« décidée en RCP digestive le 22/10/2025 »)."""
    if doc.doc_type != "rcp" and not re.search(r"concertation pluridisciplinaire|\brcp\b", fold_chars(doc.title)):
        out = []
        for m in _RCP_HELD.finditer(t):
            ds = _dates_in(doc.text, m.end(), min(len(t), m.end() + 12))
            if ds and (doc.date is None or ds[0][1].date <= doc.date):
                pos, d = ds[0]
                out.append(Mention("rcp_decisions", d.date.isoformat(), doc, m.start(), pos + len(d.text), date=d.date,
                                   extra={"mentioned": True}))
        return out
    when, span = doc.date, None
    m = _RCP_DATE.search(t)
    if m:
        ds = _dates_in(doc.text, m.end(), min(len(t), m.end() + 30))
        if ds:
            pos, d = ds[0]
            when, span = d.date, (m.start(), pos + len(d.text))
    props = proposal_spans(doc)
    if not props and span is None:
        return []
    ps, pe = props[0] if props else span
    mm = Mention("rcp_decisions", when.isoformat() if when else None, doc, ps, pe, date=when)
    mm.extra["proposal_span"] = props[0] if props else None
    if span:
        mm.extra_spans.append(span)
    return [mm]


_GIVEN = re.compile(r"\b(?:debut\w*|realise\w*|administre\w*|instaure\w*|initie\w*|introdu\w*|termine\w*|"
                    r"recu|traite\w*|opere\w*|poursuite|sous\s+|depuis|en\s+cours|protocole)\b")


#: a plan, not a fact (future tense, planned date, proposal)
_PLAN = re.compile(r"\b(?:a discuter|a prevoir|envisage\w*|propos\w*|discut\w*|suivra|suivront|sera|seront|a venir|"
                   r"prevue?s?\s+(?:le|pour|a|en)|programmee?s?\s+(?:le|pour|a|en))\b")
#: a decision reported outside a session or operative report (« la RCP a retenu une chimiothérapie… »)
_DECIDED = re.compile(r"\b(?:retenue?s?|decidee?s?|indication)\b")


def treatment_mentions(doc: SourceDoc, t: str) -> list[Mention]:
    props = proposal_spans(doc)
    out, taken = [], []
    for entry, rx in compiled()["regimens"]:
        hay = doc.text if entry.get("case_sensitive") else t
        for m in rx.finditer(hay):
            if in_spans(m.start(), props) or any(a <= m.start() < b for a, b in taken):
                continue
            s, e = sentence(t, m.start())
            sent = t[s:e]
            dates = _dates_in(doc.text, s, e)
            past = [d for _, d in dates if doc.date is None or d.date <= doc.date]
            given = (doc.doc_type in ("chimiotherapie", "compte_rendu_operatoire") and
                     (entry["type"] != "chirurgie" or doc.doc_type == "compte_rendu_operatoire"))
            given = given or bool(_GIVEN.search(sent)) or bool(past)
            if doc.doc_type == "anatomopathologie" and re.match(r"\s*prelevement", sent):
                given = True  # the specimen: « Prélèvement : pièce de sigmoïdectomie du 04/11/2025 »
            if doc.doc_type == "anatomopathologie" and not re.match(r"\s*prelevement", sent):
                continue  # a pathology report names procedures it did not see given
            if not given or _PLAN.search(sent) or (doc.doc_type not in ("chimiotherapie", "compte_rendu_operatoire")
                                                   and _DECIDED.search(sent)):
                continue
            taken.append(m.span())
            start = end = None
            stop = re.search(r"\b(?:apres|puis|avant|suivie?)\b", t[m.end():e])
            limit = min(e, m.end() + 80, m.end() + stop.start() if stop else e)
            after = [(pos, d) for pos, d in dates if m.end() <= pos < limit]
            for pos, d in (after or dates):
                before = t[max(s, pos - 25):pos]
                if re.search(r"\bau\s*$|termine\w*\s+le\s*$|jusqu'au\s*$", before):
                    end = d.date
                elif start is None and end is None:
                    start = d.date
            if doc.doc_type == "chimiotherapie":
                # « Chimiothérapie débutée le 08/12/2025, terminée le 25/05/2026 » in the session report
                for ds, de in _doc_sentences(t):
                    st = t[ds:de]
                    if re.search(r"\bdebut\w*", st) and not rx.search(hay[ds:de]):
                        for pos, d in _dates_in(doc.text, ds, de):
                            if re.search(r"debut\w*\s+le\s*$", t[max(ds, pos - 20):pos]):
                                start = start if start and start < d.date else d.date
                    if re.search(r"\btermine\w*\s+le\b", st):
                        for pos, d in _dates_in(doc.text, ds, de):
                            if re.search(r"termine\w*\s+le\s*$", t[max(ds, pos - 20):pos]):
                                end = d.date
            if start is None and doc.doc_type in ("chimiotherapie", "compte_rendu_operatoire"):
                start = doc.date  # the session / the operation is the document's day
            out.append(Mention("treatments", f"{entry['type']}:{entry['key']}", doc, m.start(), m.end(),
                               label=entry["key"], date=start,
                               extra={"type": entry["type"], "key": entry["key"],
                                      "start": start.isoformat() if start else None,
                                      "end": end.isoformat() if end else None}))
    return out


def _doc_sentences(t: str) -> list[tuple[int, int]]:
    out, pos = [], 0
    for m in _SENT_STOP.finditer(t):
        out.append((pos, m.start()))
        pos = m.end()
    out.append((pos, len(t)))
    return out


_RELAPSE = re.compile(r"\b(recidive\w*|rechute\w*|progression|reprise\s+evolutive)\b")


def relapse_mentions(doc: SourceDoc, t: str) -> list[Mention]:
    props = proposal_spans(doc)
    out = []
    for m in _RELAPSE.finditer(t):
        before = t[max(0, m.start() - 20):m.start()]
        if in_spans(m.start(), props) or re.search(r"jusqu'a\s*(?:la\s*)?$|sans\s*$|survie\s+sans\s*$", before):
            continue
        s, e = sentence(t, m.start())
        if not (_CANCER.search(t, s, e) or _META_WORD.search(t, s, e) or doc.doc_type in ("rcp", "chimiotherapie")):
            continue  # « maladie rénale chronique en progression » is not a cancer relapse
        ds = [d for _, d in _dates_in(doc.text, s, e)]
        when = ds[0].date if ds else doc.date
        out.append(Mention("relapse_date", when.isoformat() if when else None, doc, m.start(), m.end(), date=when))
    return out


def find_mentions(doc: SourceDoc) -> list[Mention]:
    """Every rule-based mention of the document (unqualified; TNM is added by the qualifier pass)."""
    t = fold_chars(doc.text)
    out: list[Mention] = []
    for fn in (site_mentions, quadrant_mentions, histology_mentions, grade_mentions, marker_mentions,
               stage_mentions, metastasis_mentions, rcp_mentions, treatment_mentions, relapse_mentions):
        out += fn(doc, t)
    return out


__all__ = ["Mention", "find_mentions", "proposal_spans", "sentence"]
