"""Building blocks shared by the three drafts: quoting sections, finding sentences, finishing.

Why: each draft is a list of sections whose text is made of verbatim quotes (one citation per
quoted line or sentence) and a little French glue without facts. Keeping that assembly in one
place keeps the three drafts consistent and the verification pass meaningful.

Example::

    >>> from tools.drafting.extract import SourceDoc
    >>> d = SourceDoc(doc_id="D1", title="CRH", doc_type="compte_rendu_hospitalisation", date=None,
    ...               text="Conclusion :\\nPneumopathie.\\nHTA.")
    >>> s = quote_section(d, d.find_sections("Conclusion")[0], key="synthese", title="Synthèse")
    >>> s.text, [c.quote for c in s.citations]
    ('Pneumopathie.\\nHTA.', ['Pneumopathie.', 'HTA.'])
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from knowledge.dates import fr_date
from knowledge.french import fold
from knowledge.sections import Section
from medassist import audit
from medassist.access import Action, User
from tools.drafting.extract import Record, SourceDoc, lines, pjson, sentences
from tools.drafting.models import Draft, DraftCitation, DraftSection
from tools.drafting.verify import rewrite_sections, verify_draft

_SIGNATURE = re.compile(r"^(?:-\s*)?(?:(?:Dr|Pr|Docteur|Professeur)\.?\s+[A-ZÀ-Ý][\w'’-]*(?:\s+[\w'’-]+){0,3}"
                        r"(?:\s+[A-ZÀ-Ý].*)?|"
                        r"Copie\s*:.*|CHU de \w+.*|[A-ZÀ-Ý][\w'’ -]*- CHU de \w+.*)$")
#: Page furniture that PDF extraction leaves inside sections.
_PAGE_ARTIFACT = re.compile(r"^(?:Page \d+\s*/\s*\d+|(?:Centre Hospitalier|CHU|H[ôo]pital)\b[^:]{0,80})$", re.I)
_TRAILING_SIGNATURE = re.compile(r"(?<=[.!?])\s+(?:Dr|Pr)\.?\s+[A-ZÀ-Ý][\w'’-]*(?:\s+[\w'’-]+){0,4}"
                                 r"(?:\s+Copie\s*:.*)?$")
_SIGNATURE_START = re.compile(r"^(?:Dr|Pr|Docteur|Professeur)\.?\s+[A-ZÀ-Ý][\w'’-]*\s+[A-ZÀ-Ý][\w'’-]+")


def body_lines(doc: SourceDoc, sec: Section) -> list[tuple[int, int]]:
    """Logical lines of a section body without page furniture and the closing signature."""
    a, b = doc.body(sec)
    spans = [(s, e) for s, e in lines(doc.text, a, b) if not _PAGE_ARTIFACT.match(doc.text[s:e])]
    while spans and _SIGNATURE.match(doc.text[spans[-1][0]:spans[-1][1]]):
        spans.pop()  # the signature and copy lines that follow the last section of a letter
    for k in range(len(spans) - 1, max(len(spans) - 4, 0) - 1, -1):  # "Dr X Fonction" then "- Service"
        t = doc.text[spans[k][0]:spans[k][1]]
        if _SIGNATURE_START.match(t) and len(t) < 90:
            del spans[k:]
            break
    if spans:
        s, e = spans[-1]
        m = _TRAILING_SIGNATURE.search(doc.text, s, e)
        if m:
            spans[-1] = (s, m.start())
    return spans


def quote_section(doc: SourceDoc, sec: Section, *, key: str, title: str, prose: bool = True,
                  prefix: str = "") -> DraftSection:
    """A draft section quoting every line of a source section, one citation per line."""
    spans = body_lines(doc, sec)
    text = "\n".join(doc.text[s:e] for s, e in spans)
    return DraftSection(key=key, title=title, text=(prefix + text) if prefix else text, prose=prose,
                        citations=[doc.cite(s, e) for s, e in spans])


def first_section(docs: Iterable[SourceDoc], names: tuple[str, ...]) -> tuple[SourceDoc, Section] | None:
    """The first non-empty section named ``names`` (in name order) among ``docs`` (in order)."""
    docs = list(docs)
    for name in names:
        for doc in docs:
            for sec in doc.find_sections(name):
                a, b = doc.body(sec)
                if b > a:
                    return doc, sec
    return None


#: Longest sentence quoted as a safety item.
MAX_SENTENCE = 400


def matching_sentences(docs: Iterable[SourceDoc], names: tuple[str, ...] | None, pattern: re.Pattern,
                       limit: int = 4, exclude: tuple[str, ...] = (),
                       skip: re.Pattern | None = None) -> list[tuple[SourceDoc, int, int]]:
    """Sentences whose normalised text matches ``pattern`` (and not ``skip``) in the named sections
    (every section but ``exclude`` when ``names`` is None)."""
    out, seen = [], set()
    for doc in docs:
        spans = [doc.body(s) for s in doc.sections
                 if (s.name in names if names is not None else s.name not in exclude)]
        for a, b in spans:
            for s, e in sentences(doc.text, a, b):
                t = doc.text[s:e]
                k = fold(t)
                if k in seen or len(t) > MAX_SENTENCE or not pattern.search(k) or (skip and skip.search(k)):
                    continue  # (over-long "sentences" are flattened tables, not statements)
                seen.add(k)
                out.append((doc, s, e))
                if len(out) >= limit:
                    return out
    return out


def sentences_section(found: list[tuple[SourceDoc, int, int]], *, key: str, title: str,
                      prose: bool = True) -> DraftSection:
    return DraftSection(key=key, title=title, prose=prose, text="\n".join(d.text[s:e] for d, s, e in found),
                        citations=[d.cite(s, e) for d, s, e in found])


def doc_ref(record: Record, doc: SourceDoc) -> tuple[str, list[DraftCitation]]:
    """"Title (dd/mm/yyyy)" with the title and date cited from the document's declaration."""
    idx = next((k for k, m in enumerate(record.patient.documents) if m.id == doc.doc_id), None)
    label = doc.title or doc.doc_id
    if doc.date:
        label += f" ({fr_date(doc.date)})"
    if idx is None:  # undeclared document: its metadata come from the store only, and are not facts we check
        return (doc.title or doc.doc_id), []
    return label, [c for p in (f"documents[{idx}].title", f"documents[{idx}].date") if (c := pjson(record.patient, p))]


def finish(draft: Draft, *, user: User, action: Action, tool: str, llm=None,
           extra_documents: Iterable[str] = ()) -> Draft:
    """Verify, optionally rewrite (verified again), and write the audit record."""
    verify_draft(draft)
    rewrite_sections(draft, llm)
    audit.record(user=user, action=action.value, patient_id=draft.patient_id,
                 documents=sorted(set(draft.documents()) | set(extra_documents)), tool=tool,
                 detail=f"{draft.kind} {draft.mode} sections={len(draft.sections)} missing={len(draft.missing)} "
                        f"flags={len(draft.flags)}")
    return draft
