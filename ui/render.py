"""Pure rendering helpers of the UI: Markdown for answers, citations, CIM-10 tables and drafts.

Kept free of Chainlit so that they are unit-tested directly (``tests/test_ui_unit.py``). Chainlit
turns every element name found in a message into a clickable chip, so citations are numbered
``[1]``, ``[2]``… exactly like the markers the agent writes in its answers; the element of that
name holds :func:`citation_markdown` (source title, date, author and the passage with the cited
span in bold).

Source text is escaped before Markdown is added: a document can contain ``*``, ``_``, ``|`` or
``#`` that must not turn into formatting (or break a table).

Example::

    >>> passage_markdown("FEVG à 30 %. Pas de thrombus.", [(0, 12)])
    '**FEVG à 30 %.** Pas de thrombus.'
    >>> fr_date("2026-02-18")
    '18/02/2026'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from knowledge.dates import fr_date
from knowledge.french import fold

#: doc ids of citations that are not documents (see tools/drafting/models.py).
PATIENT_JSON = "patient.json"
REQUEST_DOC = "demande"

ROLE_LABELS = {"DP": "DP (principal)", "DR": "DR (relié)", "DAS": "DAS (associé)"}
MODE_BADGES = {
    "extractive": "Mode extractif : passages cités tels quels, sans modèle de langage",
    "generative": "Mode génératif : texte rédigé par le modèle de langage, vérifié contre les sources",
}
DRAFT_KINDS = {
    "discharge": "Lettre de liaison",
    "appointment": "Convocation",
    "summary": "Synthèse du dossier",
}

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#|~])")


# --------------------------------------------------------------------------- small helpers
def get(obj: Any, key: str, default: Any = None) -> Any:
    """Attribute or mapping access (the agent returns pydantic models or plain dicts)."""
    if isinstance(obj, Mapping):
        return obj.get(key, default)
    return getattr(obj, key, default)


def md_escape(text: str) -> str:
    """Escape Markdown/HTML-significant characters of source text."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def cell(text: Any, limit: int | None = None) -> str:
    """One Markdown table cell: single line, escaped, optionally shortened."""
    s = " ".join(str(text if text is not None else "").split())
    if limit and len(s) > limit:
        s = s[: limit - 1].rstrip() + "…"
    return md_escape(s)


# --------------------------------------------------------------------------- passages & citations
def _merge(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for s, e in sorted((int(s), int(e)) for s, e in spans if e > s):
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


def _bold(segment: str) -> str:
    """``**segment**`` with surrounding whitespace kept outside the markers (else no bold)."""
    core = segment.strip()
    if not core:
        return segment
    lead = segment[: len(segment) - len(segment.lstrip())]
    trail = segment[len(segment.rstrip()):]
    return f"{lead}**{md_escape(core)}**{trail}"


def passage_markdown(text: str, spans: Iterable[tuple[int, int]], offset: int = 0) -> str:
    """Escaped Markdown of ``text`` (which starts at absolute ``offset`` in its document) with the
    absolute ``spans`` in bold. Line breaks are kept (hard breaks; blank lines = paragraphs); bold
    is applied line by line, since Markdown emphasis cannot cross a line break."""
    rel = [(max(0, s - offset), min(len(text), e - offset)) for s, e in _merge(spans)]
    rel = [(s, e) for s, e in rel if e > s]
    out_lines: list[str] = []
    pos = 0
    for line in text.split("\n"):
        line_start, line_end = pos, pos + len(line)
        pos = line_end + 1
        parts: list[str] = []
        cur = line_start
        for s, e in rel:
            s2, e2 = max(s, line_start), min(e, line_end)
            if e2 <= s2:
                continue
            parts.append(md_escape(text[cur:s2]))
            parts.append(_bold(text[s2:e2]))
            cur = e2
        parts.append(md_escape(text[cur:line_end]))
        out_lines.append("".join(parts).rstrip())
    # hard line breaks inside paragraphs, blank line between paragraphs
    md = ""
    for i, ln in enumerate(out_lines):
        if i == 0:
            md = ln
        elif not ln.strip():
            md += "\n"
        elif md.endswith("\n") or not md.strip():
            md += "\n" + ln
        else:
            md += "  \n" + ln
    return re.sub(r"\n{3,}", "\n\n", md).strip()


def context_window(text: str, start: int, end: int, radius: int = 400) -> tuple[int, int]:
    """A window of about ``radius`` characters around ``[start, end)``, snapped to line starts/ends."""
    lo = max(0, start - radius)
    hi = min(len(text), end + radius)
    if lo > 0:
        nl = text.find("\n", lo, start)
        lo = nl + 1 if nl != -1 else lo
    if hi < len(text):
        nl = text.rfind("\n", end, hi)
        hi = nl if nl != -1 else hi
    return lo, hi


def locate(quote: str, start: int, end: int, doc_text: str | None) -> tuple[int, int] | None:
    """The offsets of ``quote`` in the document: the given ones when they match, else the first
    occurrence (a stale offset must not highlight the wrong words), else ``None``."""
    if doc_text is None:
        return None
    if 0 <= start < end <= len(doc_text) and doc_text[start:end] == quote:
        return start, end
    i = doc_text.find(quote) if quote else -1
    return (i, i + len(quote)) if i >= 0 else None


def source_header(cit: Any, doc: Mapping | None = None) -> str:
    """``**[1] Title** · 18/02/2026 · Dr X · p. 2 · `P001-D04` `` (number when the citation has one)."""
    doc = doc or {}
    title = get(cit, "title") or doc.get("title") or get(cit, "doc_id", "")
    num = f"{md_escape(citation_name(int(get(cit, 'n'))))} " if get(cit, "n") is not None else ""
    bits = [f"**{num}{md_escape(str(title))}**"]
    d = fr_date(get(cit, "date") or doc.get("date"))
    if d:
        bits.append(d)
    if doc.get("author"):
        bits.append(md_escape(str(doc["author"])))
    if get(cit, "page"):
        bits.append(f"p. {get(cit, 'page')}")
    bits.append(f"`{get(cit, 'doc_id', '')}`")
    if get(cit, "ocr"):
        bits.append("⚠ texte reconnu par OCR, à vérifier")
    return " · ".join(bits)


def citation_markdown(cit: Any, doc: Mapping | None = None, *, radius: int = 400) -> str:
    """Content of a citation side element: where it comes from, then the passage with the cited
    span(s) in bold.

    ``cit`` has ``doc_id, quote, start, end`` (optionally ``title, date, page, highlights, field``);
    ``doc`` is the stored document (``text``, ``title``, ``date``, ``author``) when available.
    """
    doc_id = get(cit, "doc_id", "")
    quote = str(get(cit, "quote", "") or "")
    start, end = int(get(cit, "start", 0) or 0), int(get(cit, "end", 0) or 0)
    if doc_id == PATIENT_JSON and get(cit, "fields"):
        num = f"{md_escape(citation_name(int(get(cit, 'n'))))} " if get(cit, "n") is not None else ""
        rows = "\n".join(f"- `{f}` : **{md_escape(str(v))}**" for f, v in get(cit, "fields"))
        return f"**{num}Données structurées du dossier patient**\n\n{rows}"
    if doc_id == PATIENT_JSON:
        field = get(cit, "field") or ""
        where = f" (champ `{field}`)" if field else ""
        num = f"{md_escape(citation_name(int(get(cit, 'n'))))} " if get(cit, "n") is not None else ""
        return f"**{num}Donnée structurée du dossier patient**{where}\n\n> **{md_escape(quote)}**"
    if doc_id == REQUEST_DOC:
        num = f"{md_escape(citation_name(int(get(cit, 'n'))))} " if get(cit, "n") is not None else ""
        return f"**{num}Votre demande**\n\n> **{md_escape(quote)}**"
    header = source_header(cit, doc)
    highlights = [(int(get(h, "start")), int(get(h, "end"))) for h in (get(cit, "highlights") or [])]
    doc_text = (doc or {}).get("text")
    whole = highlights == [(start, end)]  # a short quote highlighted entirely: show it in context
    if highlights and not (whole and doc_text):
        # the cited passage (a chunk) with the answering sentences in bold
        body = passage_markdown(quote, highlights, offset=start)
    else:
        span = locate(quote, start, end, doc_text)
        if span and doc_text is not None:
            lo, hi = context_window(doc_text, span[0], span[1], radius)
            body = passage_markdown(doc_text[lo:hi], [span], offset=lo)
            body = ("… " if lo > 0 else "") + body + (" …" if hi < len(doc_text) else "")
        else:
            body = passage_markdown(quote, [(0, len(quote))])
    return f"{header}\n\n---\n\n{body}"


def citation_name(n: int) -> str:
    """Element name of citation ``n``: the marker written in the text, so Chainlit links it."""
    return f"[{n}]"


def sources_line(citations: Iterable[Any]) -> str:
    """``Sources : [1] Titre (18/02/2026) · [2] …`` (one entry per citation number)."""
    seen: dict[int, str] = {}
    for c in citations:
        n = int(get(c, "n"))
        if n in seen:
            continue
        label = md_escape(str(get(c, "title") or get(c, "doc_id", "")))
        d = fr_date(get(c, "date"))
        seen[n] = f"{citation_name(n)} {label}" + (f" ({d})" if d else "")
    return ("**Sources** : " + " · ".join(seen[k] for k in sorted(seen))) if seen else ""


def number_citations(citations: Iterable[Any]) -> list[dict]:
    """Give every citation a number ``n`` (kept when present); identical spans share a number."""
    out: list[dict] = []
    keys: dict[tuple, int] = {}
    next_n = 1
    for c in citations:
        d = dict(c) if isinstance(c, Mapping) else (c.model_dump() if hasattr(c, "model_dump") else dict(vars(c)))
        key = (d.get("doc_id"), d.get("start"), d.get("end"), d.get("field"))
        if d.get("n") is None:
            if key in keys:
                d["n"] = keys[key]
            else:
                d["n"] = next_n
        keys.setdefault(key, int(d["n"]))
        next_n = max(next_n, int(d["n"]) + 1)
        out.append(d)
    return out


def mode_badge(mode: str | None) -> str:
    return MODE_BADGES.get(mode or "", "")


_LISTED = re.compile(r"^(?P<head>[^:;\n]{3,80}?)\s*:\s*(?P<items>.+\s;\s.+)$", re.S)


def bullet_list(items: Iterable[Any]) -> str:
    """Markdown bullets, one per item; an item listing several points (``"Informations manquantes :
    a ; b ; c"``) becomes its label with one sub-bullet per point instead of one run-on line.

    >>> print(bullet_list(["Informations manquantes : lieu ; médecin", "Dose à vérifier"]))
    - Informations manquantes :
      - lieu
      - médecin
    - Dose à vérifier
    """
    out = []
    for item in dict.fromkeys(str(i).strip() for i in items if i and str(i).strip()):
        m = _LISTED.match(item)
        if m:
            points = [p.strip() for p in m.group("items").split(" ; ") if p.strip()]
            out.append(f"- {md_escape(m.group('head').strip())} :")
            out += [f"  - {md_escape(' '.join(p.split()))}" for p in points]
        else:
            out.append(f"- {md_escape(' '.join(item.split()))}")
    return "\n".join(out)


def warning_block(title: str, items: Iterable[Any], *, note: str = "") -> str:
    """``⚠ **title** note`` then the bullets, after a blank line (else some renderers glue them)."""
    bullets = bullet_list(items)
    return f"⚠ **{title}**{' ' + note if note else ''}\n\n{bullets}" if bullets else ""


def french_page(html: str) -> str:
    """Chainlit's page template declares ``lang="en"``: screen readers and spell checkers must read French."""
    return re.sub(r'<html\b([^>]*?)\blang="[^"]*"', r'<html\1lang="fr"', html, count=1)


def weak_evidence_warning(message: str | None = None) -> str:
    text = message or "Preuves faibles : aucun passage du dossier ne répond nettement à la question ; vérifiez les sources."
    return f"⚠ **{md_escape(text)}**"


# --------------------------------------------------------------------------- CIM-10 coding
def coding_markdown(result: Any, *, max_evidence: int = 2, quote_limit: int = 90) -> tuple[str, list[dict]]:
    """The suggestions as a Markdown table, and the numbered evidence citations it refers to.

    Returns ``(markdown, citations)``; each citation dict has ``n, doc_id, quote, start, end`` so
    that the caller can attach the ``[n]`` side elements.
    """
    suggestions = list(get(result, "suggestions") or [])
    citations: list[dict] = []
    lines = []
    if suggestions:
        lines += ["| Code | Libellé | Rôle | Score | Preuves |", "|---|---|---|---|---|"]
    for s in suggestions:
        refs = []
        for ev in list(get(s, "evidence") or [])[:max_evidence]:
            n = len(citations) + 1
            citations.append({"n": n, "doc_id": get(ev, "source", ""), "quote": get(ev, "quote", ""),
                              "start": get(ev, "start", 0), "end": get(ev, "end", 0)})
            refs.append(f"{citation_name(n)} « {cell(get(ev, 'quote', ''), quote_limit)} »")
        score = get(s, "score")
        score_txt = f"{round(float(score) * 100)} %" if score is not None else ""
        role = str(get(s, "role", "") or "")
        lines.append(
            f"| **{cell(get(s, 'code'))}** | {cell(get(s, 'label'))} | {cell(ROLE_LABELS.get(role, role))} "
            f"| {score_txt} | {' · '.join(refs)} |"
        )
    parts = []
    if suggestions:
        parts.append("\n".join(lines))
        notes = [f"- **{cell(get(s, 'code'))}** : {md_escape(str(get(s, 'rule')))}"
                 for s in suggestions if get(s, "rule")]
        notes += [f"- **{cell(get(s, 'code'))}** : précision possible — {md_escape(str(get(s, 'missing_detail')))}"
                  for s in suggestions if get(s, "missing_detail")]
        if notes:
            parts.append("**Règles appliquées**\n" + "\n".join(notes))
    else:
        parts.append("Aucun code CIM-10 n'a pu être proposé à partir des documents du séjour.")
    warnings = list(get(result, "warnings") or [])
    if warnings:
        parts.append("⚠ **Points d'attention**\n" + "\n".join(f"- {md_escape(str(w))}" for w in warnings))
    excluded = list(get(result, "excluded") or [])
    if excluded:
        parts.append("**Mentions écartées** (négation, hypothèse, antécédent familial…)\n" + "\n".join(
            f"- {cell(get(x, 'code'))} {cell(get(x, 'label'), 60)} : {md_escape(str(get(x, 'reason', '')))}"
            for x in excluded[:8]))
    return "\n\n".join(parts), citations


def undecided_codes(exchanges: Iterable[Mapping], decisions: Iterable[Mapping]) -> list[dict]:
    """The suggestions of the latest coding exchange that no decision recorded since has settled
    (what a reloaded page shows again with its Accepter/Rejeter buttons).

    >>> ex = [{"at": 1, "payload": {"kind": "coding", "suggestions": [{"code": "I50.0"}, {"code": "N17.9"}]}}]
    >>> undecided_codes(ex, [{"at": 2, "code": "I50.0", "decision": "accepted"}])
    [{'code': 'N17.9'}]
    """
    last = next((e for e in reversed(list(exchanges))
                 if (e.get("payload") or {}).get("kind") == "coding" and (e.get("payload") or {}).get("suggestions")),
                None)
    if last is None:
        return []
    at = last.get("at")
    decided = {str(d.get("code")) for d in decisions
               if at is None or d.get("at") is None or d.get("at") >= at}
    return [dict(s) for s in last["payload"]["suggestions"] if str(s.get("code")) not in decided]


# --------------------------------------------------------------------------- drafts
STATUS_FR = {"new": "nouveau", "changed": "modifié", "stopped": "arrêté", "unchanged": "inchangé"}


def draft_markdown(draft: Any, *, edited: Iterable[str] = ()) -> tuple[str, list[dict]]:
    """A draft, section by section, with ``[n]`` citation markers, then missing and flagged items.

    Returns ``(markdown, citations)`` with numbered citations (identical spans share a number).
    ``edited`` lists the keys/titles of sections changed by the user (shown as such).
    """
    edited = set(edited)
    kind = str(get(draft, "kind", "") or "")
    title = DRAFT_KINDS.get(kind, "Brouillon")
    mode = get(draft, "mode")
    parts = [f"### {title} — brouillon à relire"]
    if mode_badge(mode):
        parts.append(f"*{mode_badge(mode)}*")
    numbered: dict[tuple, int] = {}
    citations: list[dict] = []

    def ref(c: Any) -> str:
        d = c.model_dump() if hasattr(c, "model_dump") else dict(c)
        key = (d.get("doc_id"), d.get("start"), d.get("end"), d.get("field"))
        if key not in numbered:
            numbered[key] = len(numbered) + 1
            d["n"] = numbered[key]
            citations.append(d)
        return citation_name(numbered[key])

    def structured_ref(section_key: str, cits: list[dict]) -> str:
        """Values of the structured record cited by one section: one citation listing them."""
        key = (PATIENT_JSON, section_key)
        if key not in numbered:
            numbered[key] = len(numbered) + 1
            citations.append({"n": numbered[key], "doc_id": PATIENT_JSON, "quote": "", "start": 0, "end": 0,
                              "fields": [(c.get("field") or "", c.get("quote", "")) for c in cits]})
        return citation_name(numbered[key])

    for sec in list(get(draft, "sections") or []):
        stitle = str(get(sec, "title", ""))
        key = str(get(sec, "key", "") or stitle)
        text = str(get(sec, "text", "") or "")
        sec_cits = [c.model_dump() if hasattr(c, "model_dump") else dict(c) for c in (get(sec, "citations") or [])]
        structured = [c for c in sec_cits if c.get("doc_id") == PATIENT_JSON]
        refs = {ref(c) for c in sec_cits if c.get("doc_id") != PATIENT_JSON}
        if structured:
            refs.add(structured_ref(key, structured))
        refs = sorted(refs, key=lambda r: int(r.strip("[]")))
        mark = " ✎ *(modifiée)*" if key in edited or stitle in edited else ""
        body = passage_markdown(text, []) if text.strip() else "*(vide)*"
        src = f"\n\n*Sources : {' '.join(refs)}*" if refs else ""
        parts.append(f"#### {md_escape(stitle)}{mark}\n\n{body}{src}")
    recon = list(get(draft, "reconciliation") or [])
    if recon:
        rows = ["| Médicament | Statut | Entrée | Sortie | Sources |", "|---|---|---|---|---|"]
        for r in recon:
            refs = " ".join(sorted({ref(c) for c in (get(r, "citations") or [])}, key=lambda x: int(x.strip("[]"))))
            rows.append(f"| {cell(get(r, 'drug'))} | {cell(STATUS_FR.get(get(r, 'status'), get(r, 'status')))} "
                        f"| {cell(get(r, 'entry') or '—', 60)} | {cell(get(r, 'discharge') or '—', 60)} | {refs} |")
        parts.append("#### Conciliation médicamenteuse\n\n" + "\n".join(rows))
    missing = list(get(draft, "missing") or [])
    if missing:
        parts.append(warning_block("Éléments manquants", missing, note="(à compléter avant envoi)"))
    flags = list(get(draft, "flags") or [])
    if flags:
        parts.append(warning_block("À vérifier", flags))
    return "\n\n".join(parts), citations


def draft_plain_sections(draft: Any) -> list[dict]:
    """The sections as ``{key, title, text}`` dicts (what an edit decision sends back)."""
    return [{"key": str(get(s, "key", "") or ""), "title": str(get(s, "title", "")), "text": str(get(s, "text", ""))}
            for s in (get(draft, "sections") or [])]


# --------------------------------------------------------------------------- patients
def patient_label(p: Any) -> str:
    """``LECLERC Bernard · P001`` (button and banner label)."""
    ident = get(p, "identity")
    name = f"{str(get(ident, 'last_name', '')).upper()} {get(ident, 'first_name', '')}".strip()
    return f"{name} · {get(p, 'id')}"


def patient_banner(p: Any, documents: int | None = None) -> str:
    """One-paragraph identity header of the current patient."""
    ident = get(p, "identity")
    sex = {"F": "née", "M": "né"}.get(get(ident, "sex"), "né(e)")
    bits = [f"**Patient : {md_escape(patient_label(p))}**",
            f"{sex} le {fr_date(get(ident, 'birth_date'))}", f"IPP {md_escape(str(get(ident, 'ipp', '')))}"]
    stays = list(get(p, "stays") or [])
    if stays:
        last = stays[-1]
        exit_d = fr_date(get(last, "exit_date")) or "en cours"
        bits.append(f"dernier séjour : {md_escape(str(get(last, 'unit', '')))} "
                    f"({fr_date(get(last, 'entry_date'))} → {exit_d})")
    if documents is not None:
        bits.append(f"{documents} document{'s' if documents > 1 else ''}")
    allergies = list(get(p, "allergies") or [])
    line = " · ".join(bits)
    if allergies:
        line += "  \n⚠ Allergies : " + ", ".join(md_escape(str(get(a, "substance"))) for a in allergies)
    return line


def thread_title(patient_label: str, opened: str, first_question: str | None = None) -> str:
    """History entry of a conversation: the patient, the day it was opened, its first question.

    >>> thread_title("LECLERC Bernard · P001", "03/12/2026", "Quel est le traitement de sortie ?")
    'LECLERC Bernard · P001 · 03/12/2026 · Quel est le traitement de sortie ?'
    """
    parts = [patient_label, opened]
    if first_question:
        q = " ".join(first_question.split())
        parts.append(q if len(q) <= 60 else q[:59].rstrip() + "…")
    return " · ".join(p for p in parts if p)


def match_patients(patients: Iterable[Any], query: str, *, limit: int | None = None) -> list[Any]:
    """Patients whose id, IPP, last, first or birth name contain every word of ``query``
    (case and accents ignored). An empty query matches all."""
    words = fold(query or "").split()
    out = []
    for p in patients:
        ident = get(p, "identity")
        hay = fold(" ".join(str(x or "") for x in (
            get(p, "id"), get(ident, "ipp"), get(ident, "last_name"), get(ident, "first_name"),
            get(ident, "birth_name"), fr_date(get(ident, "birth_date")))))
        if all(w in hay for w in words):
            out.append(p)
            if limit and len(out) >= limit:
                break
    return out


# --------------------------------------------------------------------------- agent answers
_MARKER = re.compile(r"\\\[(\d+)\\\]")


def answer_markdown(text: str) -> str:
    """The agent's plain-text answer as safe Markdown: source text escaped, ``[n]`` markers kept
    (they become citation chips), bullets kept, a blank line before the ``Sources :`` line so it
    does not glue onto the last bullet."""
    out = []
    for line in (text or "").split("\n"):
        bullet = re.match(r"^(\s*[-•]\s+)(.*)$", line)
        body = bullet.group(2) if bullet else line
        esc = _MARKER.sub(r"[\1]", md_escape(body))
        if re.match(r"^(Sources|Avertissements)\s*:", body) and out and out[-1].strip():
            out.append("")
        out.append(("- " if bullet else "") + esc)
    return "\n".join(out).strip()


def split_answer(answer: str, *, flags: Iterable[str] = (), notices: Iterable[str] = (),
                 mode_line: str | None = None) -> str:
    """The core of an agent answer, without the trailing parts the UI shows its own way
    (warnings block, notices, mode line) — removed only where they appear verbatim."""
    parts = [p for p in (answer or "").split("\n\n")]
    drop = {n.strip() for n in notices if n}
    if mode_line:
        drop.add(mode_line.strip())
    flags = list(dict.fromkeys(f for f in flags if f))
    if flags:
        drop.add(("Avertissements :\n" + "\n".join(f"- {f}" for f in flags)).strip())
    kept = [p for p in parts if p.strip() not in drop]
    return "\n\n".join(kept).strip()
