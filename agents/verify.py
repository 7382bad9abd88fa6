"""Citation verification: every claim sentence must map to a cited span that supports it.

Applied to every generated answer (and to user-edited drafts, in flag-only mode) before it is
shown. For each sentence of the answer:

* its ``[n]`` markers must name passages that exist; a sentence without any is *uncited*;
* *support*: the share of its content words (light stems, see :mod:`agents.text`) found in the
  cited passages, and the share of its word pairs (bigrams) found there;
* *numbers* (doses, values, dates, times) must appear in the cited passages, with the same unit
  or scale when both sides state one (``6/10`` is not ``6 kg``);
* *drug names* (ATC table of edsnlp, plus words in capitals) must appear in the cited passages.

A sentence failing any check is removed (``remove=True``, generated answers) or kept and flagged
(``remove=False``, text a physician edited); every decision is reported in French in ``flags``.
Abstentions ("Les documents ne permettent pas de répondre…") need no citation.

Example::

    >>> passages = {1: "FEVG estimée à 30 % (Simpson biplan). Pas de thrombus intra-VG."}
    >>> v = verify_answer("La FEVG est estimée à 30 % [1]. La FEVG était de 45 % [1]. Le patient va bien.", passages)
    >>> v.answer
    'La FEVG est estimée à 30 % [1].'
    >>> [c.reason for c in v.checks]
    [None, 'nombres absents des sources : 45 %', 'aucune source citée']

Limits: lexical support is not entailment: a sentence reusing the words of a passage with the
opposite meaning ("thrombus intra-VG" without the "pas de") passes the word test. Negation
markers are therefore also compared (a negated passage cited by an affirmative sentence that
drops the negation is flagged), but subtler contradictions are not detected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from agents.text import (
    DATE_UNIT,
    TIME_UNIT,
    bigrams,
    excerpt,
    numbers,
    quantities,
    quantity_spans,
    same_quantity,
    sentences,
    terms,
)
from knowledge.drugs import drug_names
from knowledge.french import fold, words

_CITE = re.compile(r"\s*\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_ABSTAIN = re.compile(r"ne permet(?:tent)? pas de repondre|aucun passage|pas d'information|aucune information"
                      r"|ne (?:mentionne|precise|rapporte)nt? pas|n'est pas (?:mentionne|precise|renseigne)")
_NEG = re.compile(r"\b(?:pas|absence|aucun|aucune|sans|ni|non|negatif|negative)\b")
_CAPS = re.compile(r"\b[A-ZÀ-ÖØ-Þ][A-ZÀ-ÖØ-Þ\-]{3,}\b")


@dataclass
class SentenceCheck:
    text: str
    start: int
    end: int
    cited: list[int]
    support: float
    bigram_support: float
    missing_numbers: list[str] = field(default_factory=list)
    unknown_drugs: list[str] = field(default_factory=list)
    kept: bool = True
    reason: str | None = None


@dataclass
class Verification:
    answer: str
    checks: list[SentenceCheck]
    flags: list[str]

    @property
    def removed(self) -> int:
        return sum(not c.kept for c in self.checks)

    @property
    def claims(self) -> int:
        return len(self.checks)

    @property
    def ok(self) -> bool:
        return all(c.reason is None for c in self.checks)


def _fmt_numbers(nums: list[str], sentence: str) -> list[str]:
    """Show a missing number with its unit as written in the sentence (``45`` -> ``45 %``)."""
    out = []
    for n in nums:
        m = re.search(re.escape(n).replace(",", "[,.]") + r"\s?(%|mg|g|ml|mmol|ui|µg|kg|mmhg|h)?", sentence, re.I)
        out.append(m.group(0).strip() if m else n)
    return out


def _other_unit(sentence: str, source: str) -> list[str]:
    """Numbers of ``sentence`` the source holds, but only with another unit or scale ("EVA 6/10"
    cited on "prise de poids de 6 kg … depuis 10 jours"). A bare number in the source (a table
    cell) contradicts nothing."""
    src_numbers, src_quantities = numbers(source), quantities(source)
    folded = fold(sentence)
    return [folded[a:b] for a, b, qty in quantity_spans(folded)
            if qty[1] not in ("", DATE_UNIT, TIME_UNIT) and qty[0] in src_numbers
            and not same_quantity(qty, src_quantities)]


def cited_numbers(text: str) -> list[int]:
    return [int(x) for m in _CITE.finditer(text) for x in re.split(r"\s*[,;]\s*", m.group(1))]


def strip_citations(text: str) -> str:
    return _CITE.sub("", text).strip()


def verify_answer(answer: str, passages: dict[int, str], *, min_support: float = 0.5, remove: bool = True,
                  all_sources: str | None = None) -> Verification:
    """Check ``answer`` (with ``[n]`` markers) against ``passages`` (``{n: quote}``), see module doc.

    ``all_sources``: text of every source available (for a sentence citing nothing, say whether
    its numbers exist anywhere at all).
    """
    drugs = drug_names()
    src_all = all_sources if all_sources is not None else "\n".join(passages.values())
    checks: list[SentenceCheck] = []
    for s, e in sentences(answer):
        raw = answer[s:e]
        plain = strip_citations(raw)
        if not terms(plain) or re.fullmatch(r"[\W\d]*", plain):
            continue  # markers or punctuation only
        if _ABSTAIN.search(fold(plain)) and not numbers(plain):
            checks.append(SentenceCheck(raw, s, e, [], 1.0, 1.0))
            continue
        cited = [n for n in cited_numbers(raw) if n in passages]
        bogus = [n for n in cited_numbers(raw) if n not in passages]
        src = "\n".join(passages[n] for n in cited)
        src_terms = set(terms(src))
        sent_terms = [t for t in terms(plain) if not t[:1].isdigit()]  # numbers are checked apart
        support = (sum(t in src_terms for t in sent_terms) / len(sent_terms)) if sent_terms else 1.0
        sent_bi = bigrams(sent_terms)
        bi_support = (len(sent_bi & bigrams(terms(src))) / len(sent_bi)) if sent_bi else support
        missing = sorted(numbers(plain) - numbers(src))
        other_unit = _other_unit(plain, src)
        src_words = set(words(src))
        unknown = sorted({w for w in words(plain) if w in drugs and w not in src_words}
                         | {w for w in (fold(x) for x in _CAPS.findall(plain)) if w not in fold(src)})
        check = SentenceCheck(raw, s, e, cited, round(support, 3), round(bi_support, 3), missing + other_unit,
                              unknown)
        reasons = []
        if not cited:
            reasons.append("aucune source citée" if not bogus else f"source inexistante [{bogus[0]}]")
        else:
            if support < min_support:
                reasons.append(f"peu de mots communs avec la source ({support:.0%})")
            if missing:
                where = "des sources citées" if set(missing) & numbers(src_all) else "des sources"
                reasons.append(f"nombres absents {where} : {', '.join(_fmt_numbers(missing, plain))}")
            if other_unit:
                reasons.append(f"valeurs qui n'ont pas cette unité dans les sources citées : {', '.join(other_unit)}")
            if unknown:
                reasons.append(f"médicaments ou termes absents des sources citées : {', '.join(unknown)}")
            if _NEG.search(fold(src)) and not _NEG.search(fold(plain)) and support >= min_support:
                # the passage negates something; an affirmative sentence built on it is suspect only
                # when the negated words are the ones it reuses
                neg_terms = {t for seg in re.findall(r"\b(?:pas|absence|aucune?|sans|ni)\b\s+(?:d[e']\s*)?([^,.;\n]{0,40})",
                                                     fold(src)) for t in terms(seg)}
                if neg_terms and len(neg_terms & set(sent_terms)) >= max(1, len(set(sent_terms)) // 2):
                    reasons.append("la source est négative (« pas de … ») alors que la phrase ne l'est pas")
        if reasons:
            check.reason = " ; ".join(reasons)
            check.kept = not remove
        checks.append(check)

    flags = []
    for c in checks:
        if c.reason:
            verb = "Phrase retirée" if not c.kept else "À vérifier"
            flags.append(f"{verb} ({c.reason}) : « {excerpt(strip_citations(c.text), 160)} »")
    if remove:
        out, pos = [], 0
        for c in checks:
            if not c.kept:
                out.append(answer[pos:c.start])
                pos = c.end
        out.append(answer[pos:])
        kept_text = re.sub(r"[ \t]+\n", "\n", re.sub(r"\n{3,}", "\n\n", "".join(out))).strip()
        kept_text = re.sub(r"  +", " ", kept_text)
    else:
        kept_text = answer.strip()
    return Verification(kept_text, checks, flags)


def verify_spans(citations, document_text) -> list[str]:
    """Extractive answers: check each cited quote and highlight against the stored document text.

    ``document_text(doc_id) -> str | None``. Returns French flags (empty when every span matches).
    """
    flags = []
    for c in citations:
        text = document_text(c.doc_id)
        if text is None:
            flags.append(f"Source introuvable pour la citation [{c.n}] ({c.doc_id}).")
            continue
        if text[c.start:c.end] != c.quote:
            flags.append(f"La citation [{c.n}] ne correspond plus au document {c.doc_id} (document modifié ?).")
        for h in c.highlights:
            if text[h.start:h.end] != h.quote:
                flags.append(f"Le passage surligné de la citation [{c.n}] ne correspond pas au document {c.doc_id}.")
    return flags
