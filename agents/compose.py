"""Extractive answer composer: the best cited passages, the answering sentence(s) highlighted.

"Extract, then generate": this module is the *extract* half and the whole answer in extractive
mode. Given the question and the retrieved passages (search hits), it

1. splits every passage into sentences / list items with exact offsets (:func:`agents.text.sentences`);
2. scores each sentence against the question: weighted term coverage (IDF over the candidate
   sentences), the heading it sits under, paraphrase expansions (:mod:`agents.lexicon`), the kind
   of fact asked (date, number, reason, negative finding, pending result, family history, allergy),
   the document title and date named in the question, and the passage's retrieval rank;
3. keeps the best sentence (plus close runners-up, at most three) and writes a short deterministic
   French lead-in, the quoted sentences with ``[n]`` markers and the list of cited documents.

Every quoted sentence is a verbatim span of a stored document (``text[start:end]``), so an
extractive answer cannot contain anything absent from the sources.

Example::

    >>> from medassist.schemas import Chunk, Corpus, SearchHit
    >>> c = Chunk(chunk_id="x", corpus=Corpus.patients, patient_id="P1", doc_id="P1-D1", doc_type="imagerie",
    ...           title="Échocardiographie", date="2026-02-10", start=0, end=55, content_hash="h",
    ...           text="VG dilaté. FEVG estimée à 30 %. Pas de thrombus intra-VG.")
    >>> out = compose_extractive("Quelle fraction d'éjection ?", [SearchHit(chunk=c, score=1.0)])
    >>> out.key_sentences[0].text
    'FEVG estimée à 30 %.'
    >>> out.citations[0].highlights[0].quote
    'FEVG estimée à 30 %.'

Limits: lexical scoring, no understanding: a question whose words (and listed paraphrases) appear
nowhere near the answer gets the passage ranked best by retrieval, with ``weak_evidence`` set
when no sentence matches clearly. Yes/no questions are answered by quoting the finding; the
composer never writes "oui" or "non" itself.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import lru_cache

from pydantic import BaseModel, Field

from agents.lexicon import expansion_groups, expansions
from agents.text import DATE_UNIT, TIME_UNIT, excerpt, quantities, quantity_spans, same_quantity, sentences, terms
from knowledge.dates import find_dates, fr_date, months_named
from knowledge.french import fold
from knowledge.sections import heading_title, line_spans

# --------------------------------------------------------------------------- public shapes


class Highlight(BaseModel):
    """A span of the document's text (absolute offsets) that answers the question."""

    start: int
    end: int
    quote: str


class AnswerCitation(BaseModel):
    """One cited passage: ``quote`` is ``document_text[start:end]``; ``highlights`` lie inside it."""

    n: int
    doc_id: str
    title: str = ""
    date: str | None = None
    page: int | None = None
    section: str | None = None
    quote: str
    start: int
    end: int
    score: float | None = None
    corpus: str = "patients"
    patient_id: str | None = None
    highlights: list[Highlight] = Field(default_factory=list)
    ocr: bool = False  # read by OCR from a scan: the user is told to check it against the original


@dataclass
class KeySentence:
    n: int  # citation number
    start: int
    end: int
    text: str
    score: float
    lead: str = ""  # verbatim label of the line the sentence continues ("Radiographie thoracique :")


@dataclass
class Composed:
    answer: str
    citations: list[AnswerCitation]
    key_sentences: list[KeySentence]
    weak_evidence: bool
    best_score: float = 0.0
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- question profile

_DAY_TIME_RE = re.compile(r"\bJ[-+]?\d+\b|\b\d{1,2}\s?h\s?\d{2}\b")  # "J3", "10h30"
_TIME_RE = re.compile(r"\b\d{1,2}\s?h\s?\d{0,2}\b")
_NUM_RE = re.compile(r"\d")
_NEG_RE = re.compile(r"\b(?:pas d[e']|pas de|absence d[e']|sans |aucune?|ni |non |negati|normal|normaux|normale"
                     r"|sterile|elimine|ecarte|infirme|n'est pas|n'a pas|ne .{0,20} pas)", re.I)
_POS_FINDING_RE = re.compile(r"\b(?:retrouv|mis en evidence|montre|objective|positi|presence|confirm|isole)", re.I)
_REASON_RE = re.compile(r"\(|\ben raison d|\bcar\b|\bmotif|\bdevant\b|\bdu fait d|\bsur\b|\bpour\b|\bsuite a\b"
                        r"|\bcontre-indi|\bintolerance|\bcompte tenu", re.I)
_PENDING_RE = re.compile(r"en attente|a recuperer|non (?:encore )?(?:rendu|disponible|revenu)|a venir|attendu"
                         r"|pas encore|en cours|resultats? en attente|definitif", re.I)
_FAMILY_RE = re.compile(r"\b(?:pere|mere|frere|soeur|fratrie|oncle|tante|grand-(?:pere|mere)|cousin|familia"
                        r"|familiaux|fils|fille|parents?)\b", re.I)
_CONCLUSION_RE = re.compile(r"conclusion|resultat|interpretation|diagnostic|synthese|au total")
_CHANGE_RE = re.compile(r"\b(?:arrete|arretee|suspendu|interrompu|remplace|relais|diminue|augmente|majore|majoration|reduit"
                        r"|porte a|passe de|de \d+(?:[.,]\d+)? ?\w*/?\w* a \d|introduit|ajoute|modifie)", re.I)


@dataclass
class QuestionProfile:
    text: str
    weights: dict[str, float]  # stem -> weight (set per candidate pool)
    stems: list[str]
    focus: set[str]  # stems of the follow-up part of a rewritten question: weighted more
    expansions: frozenset[str]
    groups: tuple[tuple[frozenset[str], frozenset[str]], ...]
    kinds: set[str]
    months: set[int]
    years: set[str]
    #: numbers the question qualifies ("6/10", "6 kg", a date): a sentence covers one only with the
    #: same unit (``#6/10`` -> ``("6", "/10")``); their bare digits are not matching terms
    quantities: dict[str, tuple[str, str]] = field(default_factory=dict)


def _qualified(text: str) -> tuple[str, dict[str, tuple[str, str]]]:
    """``text`` folded with its qualified numbers blanked out, and those numbers as terms (``#6/10``)."""
    f = fold(text)
    found: dict[str, tuple[str, str]] = {}
    for start, end, (value, unit) in quantity_spans(f):
        if unit:
            found[f"#{value}{unit if unit not in (DATE_UNIT, TIME_UNIT) else ''}"] = (value, unit)
            f = f[:start] + " " * (end - start) + f[end:]
    return f, found


def profile(question: str) -> QuestionProfile:
    """What the question asks, as features the sentence scorer uses."""
    f = fold(question)
    main, _, previous = question.partition("(suite de :")
    masked, qty = _qualified(question)
    stems = list(dict.fromkeys(terms(masked) + list(qty)))
    if previous:
        masked_main, qty_main = _qualified(main)
        focus = set(terms(masked_main)) | set(qty_main)
    else:
        focus = set()
    kinds: set[str] = set()
    if re.search(r"\bquand\b|\bquelle date\b|\bjusqu'(?:a|au) (?:quand|quelle)|\ba quel moment\b|\bdate\b"
                 r"|\bprevu|\bprogramme|\brendez-vous|\bconsultation\b|\bjusqu'a quand\b", f):
        kinds.add("date")
    if re.search(r"\ba quelle heure\b|\bheure\b", f):
        kinds.add("time")
    if re.search(r"\bcombien\b|\bquel(?:le)? (?:etait |est )?(?:le |la |l')?(?:taux|valeur|dose|quantite|volume|taille"
                 r"|score|chiffre|pourcentage|dimension|posologie|niveau|debit|index|indice|stade|classe|nombre)"
                 r"|\ba combien\b|\bposologie\b|\bdosage\b|\bquelle (?:kaliemie|natremie|glycemie|pression|fraction"
                 r"|hemoglobine|creatinine)|\bquel (?:ldl|imc|dfg)\b|\bquelle etait\b|\bquel etait\b|\bdose\b"
                 r"|\bpourcentage\b|\btaille\b|\bdimensions?\b", f):
        kinds.add("number")
    if re.search(r"\bpourquoi\b|\braison\b|\bmotif\b|\bpour quel(?:le)? (?:motif|raison)\b|\bjustifie", f):
        kinds.add("reason")
    if re.search(r"\b(?:a|ont|avait|avaient|etait|est|sont|existe|montrait|retrouve|presente|surexprime)-t?-?"
                 r"(?:il|elle|ils|elles)\b|^(?:y a-t-il|existe-t-il|s'agit-il)|-t-(?:il|elle)\b.*\?$"
                 r"|\bs'est-(?:il|elle)\b|\bse sont-(?:ils|elles)\b", f):
        kinds.add("yesno")
    if re.search(r"pas encore|n'etait pas (?:encore )?(?:revenu|rendu|disponible|definitif)|restai(?:t|ent)"
                 r"|a recuperer|en attente|manquai(?:t|ent)|attendu|en cours a la sortie|encore en cours", f):
        kinds.add("pending")
    if re.search(r"famil|apparente|parents\b|hereditaire|chez (?:la|sa) (?:mere|pere)", f):
        kinds.add("family")
    if re.search(r"allerg", f):
        kinds.add("allergy")
    if re.search(r"\bconclu|\bmontr|\bretrouv|mis en evidence|\bobjectiv|\brevel|\bresultat|\bidentifi"
                 r"|\bdiagnosti", f):
        kinds.add("finding")
    if re.search(r"arret|interromp|stopp|supprim|remplac|modifi|adapt|diminu|augment|porte|ramene|evolue|change"
                 r"|ajoute|suspendu|substitu", f):
        kinds.add("change")
    months = months_named(f)
    years = set(re.findall(r"\b(20\d\d)\b", f))
    return QuestionProfile(question, {}, stems, focus, expansions(question), expansion_groups(question), kinds, months,
                           years, qty)


# --------------------------------------------------------------------------- scoring


@dataclass
class _Cand:
    hit_index: int
    start: int  # absolute
    end: int
    text: str
    context: str  # heading above the sentence, inside the passage
    stems: set[str]
    score: float = 0.0
    lead: str = ""  # "Radiographie thoracique :" when the sentence is a later clause of that line
    quantities: set[tuple[str, str]] = field(default_factory=set)


_LEAD_RE = re.compile(r"[-*•\s]*([^\n:;.]{2,50}?\s?:)\s")


def _headings(text: str) -> list[tuple[int, str]]:
    """(offset, heading) of lines that look like headings ("CONCLUSION :", "## Valves", "Motif :")."""
    return [(s, title) for s, e in line_spans(text) if (title := heading_title(text[s:e]))]


_IDENTITY_RE = re.compile(r"^\s*(?:patiente?|nom|identit[ée])\s*:.*(?:\bIPP\b|\bn[ée]e? le\b)|\bIPP \d{6,}", re.I)


def _is_label_only(text: str) -> bool:
    s = text.strip()
    return (s.endswith(":") and len(s) < 80) or len(terms(s)) == 0


def _is_heading(text: str, section: str | None, title: str) -> bool:
    """Titles, section names and letterhead lines: never an answer by themselves.

    A full sentence is content even when it doubles as the title: the title of a loose file is
    inferred from its first line ("Note infirmière : patient douloureux, EVA 6/10."), and declared
    titles never end with a full stop."""
    s = text.strip().strip("#*: ").strip()
    f = fold(s)
    if s.endswith((".", "!", "?")) and len(terms(s)) >= 2:
        return False
    if f in (fold(section or ""), fold(title)):
        return True
    if _NUM_RE.search(s) or s.endswith((".", ")", ";")) or len(s) > 70:
        return False
    return s.isupper() or len(s.split()) <= 6 and (s[:1].isupper() and not _NEG_RE.search(f))


def _contains(folded: str, phrase: str) -> bool:
    return re.search(r"(?<![a-z0-9])" + re.escape(phrase) + r"(?![a-z0-9])", folded) is not None


@lru_cache(maxsize=1024)
def _any_of(members: frozenset[str]) -> re.Pattern:
    """One compiled alternation for a group of phrases (longest first), word-bounded."""
    alts = "|".join(re.escape(m) for m in sorted(members, key=len, reverse=True) if m)
    return re.compile(r"(?<![a-z0-9])(?:" + alts + r")(?![a-z0-9])")


def _candidates(hits) -> list[_Cand]:
    cands: list[_Cand] = []
    for i, h in enumerate(hits):
        c = h.chunk
        heads = _headings(c.text)
        before_hit = len(cands)
        # a passage whose only content line is its document's title still answers: a loose file's
        # title is its first line (a one-line note is all title)
        for title in (c.title, ""):
            for s, e in sentences(c.text):
                piece = c.text[s:e]
                if (_is_label_only(piece) and not _NUM_RE.search(piece)) or _is_heading(piece, c.section, title):
                    continue
                head = next((t for off, t in reversed(heads) if off <= s and not piece.startswith(t)), c.section or "")
                line_start = c.text.rfind("\n", 0, s) + 1
                lead = label = ""
                before = c.text[line_start:s].rstrip()
                if before:
                    m = _LEAD_RE.match(c.text, line_start, s)
                    label = m.group(1) if m else ""  # the line's label: context for scoring
                    # shown only for a clause continuing the labelled item ("Radio : cardiomégalie ; pas de foyer")
                    if label and (before.endswith(";") or piece[:1].islower()) and not _LEAD_RE.match(piece):
                        lead = label
                cands.append(_Cand(i, c.start + s, c.start + e, piece, f"{head} {label}".strip(), set(terms(piece)),
                                   lead=lead, quantities=quantities(piece)))
            if len(cands) > before_hit:
                break
    return cands


def _score(q: QuestionProfile, cands: list[_Cand], hits) -> None:
    if not cands:
        return
    n = len(cands)
    df: dict[str, int] = {}
    for cd in cands:
        # a qualified number of the question is a term the sentence holds with the same unit
        cd.stems |= {key for key, qty in q.quantities.items() if same_quantity(qty, cd.quantities)}
        for t in cd.stems:
            df[t] = df.get(t, 0) + 1
    weights = {t: math.log(1.0 + n / (1.0 + df.get(t, 0))) * (1.6 if t in q.focus else 1.0) for t in q.stems}
    q.weights = weights
    total = sum(weights.values()) or 1.0
    best_hit = max((h.score for h in hits), default=1.0) or 1.0
    title_stems = [set(terms(h.chunk.title)) for h in hits]
    # the document the question names through a paraphrase ("l'échographie" -> "Échocardiographie ...")
    titles_by_group = [any(_any_of(members).search(fold(h.chunk.title)) for named, members in q.groups
                           if not named & title_stems[i]) for i, h in enumerate(hits)]
    for cd in cands:
        h = hits[cd.hit_index]
        f = fold(cd.text)
        ctx = set(terms(cd.context))
        fctx = fold(cd.context)
        present = set(cd.stems)
        present_ctx = set(ctx)
        for named, members in q.groups:  # a paraphrase covers the question words that named it
            rx = _any_of(members)
            if rx.search(f):
                present |= named
            elif rx.search(fctx):
                present_ctx |= named
        covered = sum(w for t, w in weights.items() if t in present)
        covered_ctx = sum(0.5 * w for t, w in weights.items() if t not in present and t in present_ctx)
        score = (covered + covered_ctx) / total
        # kinds of facts asked
        if "date" in q.kinds and (_DAY_TIME_RE.search(cd.text) or find_dates(cd.text)):
            score += 0.2
        if "time" in q.kinds and _TIME_RE.search(cd.text):
            score += 0.25
        if "number" in q.kinds and _NUM_RE.search(cd.text):
            score += 0.15
        if "reason" in q.kinds and _REASON_RE.search(f):
            score += 0.12
        if "yesno" in q.kinds and (_NEG_RE.search(f) or _POS_FINDING_RE.search(f)):
            score += 0.12
        if "pending" in q.kinds and (_PENDING_RE.search(f) or _PENDING_RE.search(fold(cd.context))):
            score += 0.3
        if "family" in q.kinds and _FAMILY_RE.search(f):
            score += 0.3
        if "allergy" in q.kinds and "allerg" in f:
            score += 0.25
        if "change" in q.kinds and _CHANGE_RE.search(f):
            score += 0.15
        if "finding" in q.kinds and _CONCLUSION_RE.search(fctx + " " + fold(h.chunk.section or "")):
            score += 0.12
        # document named in the question (title words) and its date (month / year)
        shared = len(title_stems[cd.hit_index] & set(q.stems))
        score += 0.06 * min(shared, 3) + (0.08 if titles_by_group[cd.hit_index] else 0.0)
        date = h.chunk.date or ""
        if q.months and len(date) >= 7 and int(date[5:7]) in q.months:
            score += 0.15
        if q.years and date[:4] in q.years:
            score += 0.05
        # retrieval prior: rank and fused score
        score += 0.12 / (1 + cd.hit_index) + 0.1 * (h.score / best_hit)
        # very long sentences dilute the answer; identification lines are never the answer
        if len(cd.text) > 400:
            score -= 0.1
        if _IDENTITY_RE.search(f"{cd.lead} {cd.text}" if cd.lead else cd.text):
            score -= 0.3
        cd.score = score


# --------------------------------------------------------------------------- composition


def _lead_in(corpus: str, patient_id: str | None, weak: bool, n_sent: int) -> str:
    where = "les procédures de l'établissement" if corpus == "procedures" else (
        f"le dossier du patient {patient_id}" if patient_id else "le dossier")
    if weak:
        of = "des procédures de l'établissement" if corpus == "procedures" else (
            f"du dossier du patient {patient_id}" if patient_id else "du dossier")
        return (f"Preuves faibles : aucun passage {of} ne répond nettement à la question. "
                "Voici les passages les plus proches, à vérifier :")
    if n_sent > 1:
        return f"D'après {where}, les passages suivants répondent à la question :"
    return f"D'après {where}, le passage suivant répond à la question :"


#: said after a source read by OCR: recognition errors (a digit, a unit) are possible
OCR_WARNING = "texte reconnu par OCR, à vérifier"


def source_label(c: AnswerCitation) -> str:
    d = fr_date(c.date)
    return (f"[{c.n}] {c.title or c.doc_id}" + (f" du {d}" if d else "") + f" ({c.doc_id})"
            + (f" — {OCR_WARNING}" if c.ocr else ""))


def rank_sentences(question: str, hits) -> list[_Cand]:
    """All candidate sentences of ``hits``, scored for ``question``, best first."""
    q = profile(question)
    cands = _candidates(hits)
    _score(q, cands, hits)
    return sorted(cands, key=lambda c: c.score, reverse=True)


def compose_extractive(question: str, hits, *, patient_id: str | None = None, weak_evidence: bool = False,
                       max_sentences: int = 3, max_citations: int = 5, min_score: float = 0.3) -> Composed:
    """Compose the extractive answer (see module docstring). ``hits``: :class:`SearchHit` list."""
    hits = list(hits)
    if not hits:
        return Composed(
            answer="Aucun passage des documents ne permet de répondre à cette question.", citations=[],
            key_sentences=[], weak_evidence=True,
        )
    ranked = rank_sentences(question, hits)
    chosen: list[_Cand] = []
    if ranked:
        best = ranked[0].score
        for cd in ranked:
            if len(chosen) >= max_sentences or cd.score < 0.75 * best:
                break
            if any(fold(cd.text) == fold(x.text) for x in chosen):
                continue
            chosen.append(cd)
        # a "Label :" line answers through the line that follows it
        first = chosen[0]
        if first.text.rstrip().endswith(":"):
            nxt = next((c for c in _candidates([hits[first.hit_index]]) if c.start > first.start), None)
            if nxt is not None and all(nxt.start != x.start for x in chosen):
                nxt.hit_index = first.hit_index
                chosen.insert(1, nxt)
    best_score = chosen[0].score if chosen else 0.0
    weak = weak_evidence or best_score < min_score

    # citations: passages holding the chosen sentences first, then the other passages by best sentence
    order: list[int] = []
    for cd in chosen:
        if cd.hit_index not in order:
            order.append(cd.hit_index)
    best_by_hit: dict[int, float] = {}
    for cd in ranked:
        best_by_hit[cd.hit_index] = max(best_by_hit.get(cd.hit_index, -1.0), cd.score)
    rest = [i for i in sorted(range(len(hits)), key=lambda i: best_by_hit.get(i, -1.0), reverse=True)
            if i not in order]
    # the best passages up to three, then other documents first (corroborating sources)
    while len(order) < 3 and rest:
        order.append(rest.pop(0))
    docs_in = {hits[i].chunk.doc_id for i in order}
    for i in rest:
        if hits[i].chunk.doc_id not in docs_in and best_by_hit.get(i, -1.0) >= 0.5 * best_score:
            order.append(i)
            docs_in.add(hits[i].chunk.doc_id)
    order += [i for i in rest if i not in order]
    order = order[:max_citations]
    citations: list[AnswerCitation] = []
    for n, i in enumerate(order, start=1):
        c = hits[i].chunk
        hl = [Highlight(start=cd.start, end=cd.end, quote=cd.text) for cd in chosen if cd.hit_index == i]
        citations.append(AnswerCitation(
            n=n, doc_id=c.doc_id, title=c.title, date=c.date, page=c.page, section=c.section, quote=c.text,
            start=c.start, end=c.end, score=round(hits[i].score, 4),
            corpus=getattr(c.corpus, "value", str(c.corpus)), patient_id=c.patient_id, highlights=hl,
            ocr=getattr(c, "ocr", False),
        ))
    num_of = {i: n for n, i in enumerate(order, start=1)}
    keys = [KeySentence(num_of[cd.hit_index], cd.start, cd.end, cd.text, round(cd.score, 3), cd.lead)
            for cd in chosen if cd.hit_index in num_of]
    corpus = citations[0].corpus if citations else "patients"
    lines = [_lead_in(corpus, patient_id, weak, len(keys))]
    lines += [f"- « {k.lead} … {excerpt(k.text, 400)} » [{k.n}]" if k.lead else f"- « {excerpt(k.text, 400)} » [{k.n}]"
              for k in keys]
    lines.append("Sources : " + " ; ".join(source_label(c) for c in citations))
    return Composed(answer="\n".join(lines), citations=citations, key_sentences=keys, weak_evidence=weak,
                    best_score=round(best_score, 3))


def numbered_passages(citations: list[AnswerCitation], limit_chars: int = 1200) -> str:
    """The passages as the generative prompt shows them: ``[n] Title (date, doc id)`` + text."""
    blocks = []
    for c in citations:
        d = fr_date(c.date)
        text = c.quote if len(c.quote) <= limit_chars else c.quote[:limit_chars] + " …"
        blocks.append(f"[{c.n}] {c.title}" + (f" du {d}" if d else "") + f" ({c.doc_id})\n{text}")
    return "\n\n".join(blocks)
