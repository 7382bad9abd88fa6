"""Convocation (appointment letter) from a free-text French request, with cited preparation.

Why: a secretary types "Scanner thoraco-abdomino-pelvien avec injection le 12/12/2026 à 9h30 avec
le Dr Martin"; the letter must carry the right date and time (never guessed: a missing, invalid or
past date or time is refused with a French :class:`DraftError`), the preparation instructions of
the hospital procedure for that exam (retrieved with ``search_procedures`` and quoted section by
section), and the patient-specific precautions the procedure calls for.

What the tool reads (the secretariat role may draft convocations, not read clinical notes —
:mod:`medassist.access`): the identity and allergies of ``patient.json``; and *only* when the exam
uses iodinated contrast, the latest treatment list of the record, to look for metformin (the
procedure's section "Metformine"). The documents read are written to the audit trail.

Example::

    >>> r = parse_request("Scanner thoraco-abdomino-pelvien avec injection le 12/12/2026 à 9h30 avec le Dr Martin",
    ...                   now=datetime(2026, 11, 1))
    >>> r.exam, r.when.isoformat(), r.practitioner, r.category.key, r.iodinated
    ('Scanner thoraco-abdomino-pelvien avec injection', '2026-12-12T09:30:00', 'Dr Martin', 'scanner', True)
    >>> parse_request("IRM cérébrale le 3 mars 2020 à 10h", now=datetime(2026, 1, 1))
    Traceback (most recent call last):
    ...
    tools.drafting.models.DraftError: Le rendez-vous demandé (03/03/2020 à 10h00) est dans le passé : vérifiez la date.

Limits: dates must carry a year ("12/12/2026", "12 décembre 2026"); relative dates ("demain",
"lundi prochain") are refused rather than guessed. The exam type is recognised from a fixed list
of keywords (:data:`CATEGORIES`); an exam without a procedure of its own gets no preparation
section (listed in ``missing``). The place (building, floor) is taken from the request when it
names one, else listed as missing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time

from knowledge.dates import WEEKDAYS, find_dates, fr_date
from knowledge.french import fold
from medassist.access import Action, User, authorize
from medassist.schemas import Corpus
from tools.drafting.common import doc_ref, finish
from tools.drafting.extract import Record, SourceDoc, latest_treatment, lines, parse_medication, pjson, strip_span
from tools.drafting.models import REQUEST_DOC, Draft, DraftCitation, DraftError, DraftSection


@dataclass(frozen=True)
class ExamCategory:
    key: str
    label: str
    pattern: str  # on the normalised request
    title: str = ""  # regex on the normalised title of the procedure written for this exam ("" = none)


CATEGORIES: list[ExamCategory] = [
    ExamCategory("tep", "TEP-scanner", r"\btep\b|\bpet\b|tomographie par emission|\bfdg\b|petscan", r"\btep\b"),
    ExamCategory("scanner", "scanner", r"scanner|\btdm\b|tomodensitom|scanographi",
                 r"^(?!.*\btep\b).*\bscanner\b"),
    ExamCategory("irm", "IRM", r"\birm\b|resonance magnetique", r"\birm\b"),
    ExamCategory("coloscopie", "coloscopie", r"coloscopi|rectosigmoidoscopi", r"\bcoloscopie\b"),
    ExamCategory("gastroscopie", "gastroscopie", r"gastroscopi|fibroscopie|endoscopie (?:oeso|haute|digestive haute)"
                 r"|\bfogd\b", r"\bgastroscopie\b"),
    ExamCategory("biopsie", "biopsie", r"biopsi|ponction", r"\bbiopsie\b"),
    ExamCategory("anesthesie", "consultation d'anesthésie", r"anesthesi", r"pre-?anesthesique|consultation d'anesthesie"),
    ExamCategory("chimiotherapie", "séance de chimiothérapie", r"chimioth|immunoth", r"\bchimiotherapie\b"),
    ExamCategory("echographie", "échographie", r"echograph|doppler", r"\bechographie\b"),
    ExamCategory("radiographie", "radiographie", r"radiograph", r"\bradiographie\b"),
    ExamCategory("consultation", "consultation", r"consultation|entretien|rendez-vous|\brdv\b"),
]
_IODINATED = re.compile(r"inject|contraste|iode|\bpci\b|angioscanner|uroscanner|coroscanner|angio-scanner")
_NO_INJECTION = re.compile(r"sans (?:injection|produit de contraste|contraste)")

_RELATIVE = re.compile(r"\b(?:demain|apres-demain|aujourd'hui|ce soir|ce matin|la semaine prochaine|prochaine?)\b")
_TIME = re.compile(r"(?<![\w/,.])(\d{1,2})(?:\s*(?:h|H|heures?)\s*(\d{2})?|:(\d{2}))(?![\w\d])")
_PRACTITIONER = re.compile(r"\b(?:Dr|Docteur|Pr|Professeur)\.?\s+[A-ZÀ-Ý][\w'’-]+(?:\s+[A-ZÀ-Ý][\w'’-]+){0,2}")
_PLACE = re.compile(r"(?:\b(?:\d+(?:er|e|ème)|rez-de-chauss[ée]e)\s+)?"
                    r"\b(?:b[âa]timent|[ée]tage|salle|porte|hall|aile|pavillon|h[ôo]pital de jour|service d[eu']\s?\S+|"
                    r"unit[ée])\b[^,;.\n]*", re.I)
#: the request's own words before the exam ("Rédige une convocation : ", "Merci de convoquer la patiente pour une"):
#: never part of the exam, hence of the letter's subject
_LEADING = re.compile(r"^\s*(?:(?:merci de|veuillez|pouvez-vous|peux-tu|pourriez-vous|il faut)\s+)?"
                      r"(?:(?:r[ée]dig(?:er|ez|e)|pr[ée]par(?:er|ez|e)|fai(?:re|tes|s)|envoy(?:er|ez)|envoie|"
                      r"[ée]tabli(?:r|ssez|s)|g[ée]n[ée]r(?:er|ez|e))\s+)?(?:(?:une|la)\s+)?"
                      r"(?:(?:convocation|convoquer(?:\s+(?:le patient|la patiente|m\.|mme|monsieur|madame))?)"
                      r"\s*(?:[:—–-]\s*)?)?(?:(?:pour|à|au|aux)\s+|en vue d['’]\s*)?(?:(?:un|une|le|la|les|des)\s+|l['’])?",
                      re.I)
_TRAILING = re.compile(r"(?:\s+|^)(?:le|la|les|à|a|au|avec|par|pour|de|du|chez|en|et|,|;|:|-)+\s*$", re.I)


@dataclass
class AppointmentRequest:
    request: str
    exam: str
    exam_span: tuple[int, int]
    when: datetime
    date_span: tuple[int, int]
    time_span: tuple[int, int]
    practitioner: str | None
    practitioner_span: tuple[int, int] | None
    place: str | None
    place_span: tuple[int, int] | None
    category: ExamCategory

    @property
    def iodinated(self) -> bool:
        n = fold(self.exam)
        return self.category.key == "scanner" and bool(_IODINATED.search(n)) and not _NO_INJECTION.search(n)


def _find_dates(text: str) -> list[tuple[date, tuple[int, int]]]:
    """Complete dates of the request with their spans; a date without its year is refused (French error)."""
    out: list[tuple[date, tuple[int, int]]] = []
    partial = None
    for m in find_dates(text, pivot=99, cue=False):
        if m.kind == "month_year":
            continue
        if m.kind == "day_month":
            partial = partial or (m if "/" in m.text else None)
            continue
        if m.year is None:
            raise DraftError(f"Précisez l'année du rendez-vous (« {m.text.strip()} ») : par exemple "
                             f"« {m.text.strip()} {datetime.now().year} ».")
        if m.date is None:
            raise DraftError(f"Date invalide dans la demande : « {m.text} ».")
        out.append((m.date, (m.start, m.end)))
    if not out and partial is not None:
        raise DraftError(f"Précisez l'année du rendez-vous (« {partial.text} ») : par exemple "
                         f"« {partial.text}/{datetime.now().year} ».")
    return out


def parse_request(request: str, *, now: datetime | None = None) -> AppointmentRequest:
    """Parse the French free text; raise :class:`DraftError` (French) when it cannot be trusted."""
    now = now or datetime.now()
    request = (request or "").strip()
    if not request:
        raise DraftError("La demande de convocation est vide.")
    dates = _find_dates(request)
    if not dates:
        if _RELATIVE.search(fold(request)):
            raise DraftError("Date relative non acceptée : indiquez la date exacte du rendez-vous "
                             "(par exemple « le 12/12/2026 » ou « le 12 décembre 2026 »).")
        raise DraftError("Date du rendez-vous absente de la demande : indiquez-la sous la forme « le 12/12/2026 » "
                         "ou « le 12 décembre 2026 ».")
    distinct = sorted({d for d, _ in dates})
    if len(distinct) > 1:
        raise DraftError("La demande contient plusieurs dates (" + ", ".join(fr_date(d) for d in distinct)
                         + ") : précisez la date du rendez-vous.")
    day, date_span = dates[0]
    masked = request
    for _, (a, b) in dates:
        masked = masked[:a] + " " * (b - a) + masked[b:]
    times = []
    for m in _TIME.finditer(masked):
        h, mi = int(m.group(1)), int(m.group(2) or m.group(3) or 0)
        if h > 23 or mi > 59:
            raise DraftError(f"Heure invalide dans la demande : « {m.group(0).strip()} ».")
        times.append(((h, mi), m.span()))
    if not times:
        raise DraftError("Heure du rendez-vous absente de la demande : indiquez-la sous la forme « à 9h30 ».")
    if len({t for t, _ in times}) > 1:
        listed = ", ".join(f"{h}h{mi:02d}" for (h, mi), _ in times)
        raise DraftError(f"La demande contient plusieurs heures ({listed}) : précisez l'heure de convocation.")
    (h, mi), time_span = times[0]
    when = datetime.combine(day, time(h, mi))
    if when <= now:
        raise DraftError(f"Le rendez-vous demandé ({fr_date(day)} à {h}h{mi:02d}) est dans le passé : vérifiez la date.")
    pm = _PRACTITIONER.search(request)
    place_span = None  # "service d'imagerie, bâtiment C, 2e étage": consecutive place phrases form one place
    for m in _PLACE.finditer(request):
        if place_span is None:
            place_span = m.span()
        elif re.fullmatch(r"\s*[,;]?\s*", request[place_span[1]:m.start()]):
            place_span = (place_span[0], m.end())
        else:
            break
    # the exam: the best segment of the request once date, time, practitioner and place are cut out
    cuts = sorted([date_span, time_span] + ([pm.span()] if pm else []) + ([place_span] if place_span else []))
    segments, pos = [], 0
    for a, b in cuts:
        if a > pos:
            segments.append((pos, a))
        pos = max(pos, b)
    segments.append((pos, len(request)))
    cands = []
    for a, b in segments:
        a2 = a
        while (lead := _LEADING.match(request[a2:b])) and lead.end() > 0:  # "Rédige une convocation : Convocation pour"
            a2 += lead.end()
        seg2 = request[a2:b]
        while True:
            t = _TRAILING.search(seg2)
            if not t or t.start() == len(seg2):
                break
            seg2 = seg2[: t.start()]
        a2, b2 = strip_span(request, a2, a2 + len(seg2))
        if b2 > a2 and re.search(r"[A-Za-zÀ-ÿ]{3,}", request[a2:b2]):
            cands.append((a2, b2))
    if not cands:
        raise DraftError("Type d'examen ou de consultation absent de la demande (par exemple « scanner thoracique "
                         "avec injection », « consultation de cardiologie »).")

    def score(span):
        n = fold(request[span[0]:span[1]])
        return (any(re.search(c.pattern, n) for c in CATEGORIES), span[1] - span[0])

    exam_span = max(cands, key=score)
    exam = request[exam_span[0]:exam_span[1]]
    exam = exam[0].upper() + exam[1:]
    n = fold(request[exam_span[0]:exam_span[1]])
    category = next((c for c in CATEGORIES if re.search(c.pattern, n)), None) or \
        ExamCategory("autre", "rendez-vous", "")
    return AppointmentRequest(
        request=request, exam=exam, exam_span=exam_span, when=when, date_span=date_span, time_span=time_span,
        practitioner=pm.group(0) if pm else None, practitioner_span=pm.span() if pm else None,
        place=request[place_span[0]:place_span[1]].strip() if place_span else None, place_span=place_span,
        category=category,
    )


def _req_cite(req: AppointmentRequest, span: tuple[int, int]) -> DraftCitation:
    a, b = span
    a, b = strip_span(req.request, a, b)
    return DraftCitation(doc_id=REQUEST_DOC, quote=req.request[a:b], start=a, end=b, title="Demande de convocation",
                         corpus="request")


def _long_date(d: datetime) -> str:
    return f"{WEEKDAYS[d.weekday()]} {fr_date(d.date(), long=True)} à {d.hour}h{d.minute:02d}"


# --------------------------------------------------------------------------- procedures
#: sections of a procedure written for the patient (decided from their names): quoted in the letter
_PREP_TITLE = re.compile(r"consigne|preparation colique|jeune|regime|alimentation|\ble jour\b|la veille|"
                         r"documents? a apporter|deroulement|materiel metallique|diabetiques|claustrophob|questionnaire|"
                         r"radioprotection|sortie de seance")
#: sections written for the care team (thresholds, drug management, radiologist's decisions): they
#: go to the note for the unit, never to the patient's letter
_STAFF_TITLE = re.compile(r"fonction renale|anticoagulant|antiagregant|arret des traitements|delais d'arret|glycemie|"
                          r"stimulateur|gadolinium|hemostase")
_NOT_PATIENT = re.compile(r"prescription|tracabilite|indicateur|urgence|controle|classement|informations recueillies")
#: key of the section for the care team (``audience="service"``): shown to the staff, left out of the letter
STAFF_NOTE = "note_service"
_ALLERGY_TITLE = re.compile(r"hypersensibilit|allerg")
_METFORMIN_TITLE = re.compile(r"metformine")
_STOP_WORDS = {"consultation", "examen", "preparation", "patient", "rendez", "service", "suivi", "controle", "avant",
               "apres", "avec", "sans", "pour", "injection"}


def _procedure_rows(svc) -> list[dict]:
    try:
        return svc.docs.list_documents(Corpus.procedures, None)
    except Exception:  # a service without a procedure listing: search results only
        return []


def find_procedure(svc, req: AppointmentRequest) -> tuple[SourceDoc | None, list]:
    """(the procedure document for the exam, the search hits) — None when no procedure fits."""
    if req.category.key == "scanner" and not req.iodinated:
        return None, []  # the scanner procedure is about iodinated contrast only
    result = svc.search_procedures(f"{req.exam} préparation consignes", k=8)
    hits = list(result.hits)
    seen: list[str] = []
    for h in hits:
        if h.chunk.doc_id not in seen:
            seen.append(h.chunk.doc_id)
    titles = {h.chunk.doc_id: h.chunk.title for h in hits}
    wanted = req.category.title
    chosen = None
    if wanted:  # the best-ranked procedure written for this kind of exam
        chosen = next((d for d in seen if re.search(wanted, fold(titles[d]))), None)
        if chosen is None:  # not in the top hits: the procedure list itself, by title
            for row in _procedure_rows(svc):
                if re.search(wanted, fold(row.get("title") or "")):
                    chosen = row["doc_id"]
                    break
    else:  # generic consultations: only a procedure sharing a content word with the request
        exam_words = {w for w in re.findall(r"[a-z]{5,}", fold(req.exam)) if w not in _STOP_WORDS}
        if not result.weak_evidence:
            chosen = next((d for d in seen if exam_words & set(re.findall(r"[a-z]{5,}", fold(titles[d])))), None)
    if chosen is None:
        return None, hits
    from retrieval.store import Scope

    row = svc.document_text(Scope.procedures(), chosen)
    if row is None:
        return None, hits
    return SourceDoc.from_row(row, corpus="procedures"), [h for h in hits if h.chunk.doc_id == chosen]


def _quote_proc_section(doc: SourceDoc, sec) -> tuple[list[str], list[DraftCitation]]:
    text, cits = [], []
    head = doc.find(sec.title, sec.heading_start, sec.start)
    if head:
        text.append(doc.text[head[0]:head[1]])
        cits.append(doc.cite(*head))
    a, b = doc.body(sec)
    for s, e in lines(doc.text, a, b):
        text.append(doc.text[s:e])
        cits.append(doc.cite(s, e))
    return text, cits


# --------------------------------------------------------------------------- the letter
def build_appointment(svc, patient, req: AppointmentRequest) -> tuple[Draft, list[str]]:
    """The extractive convocation and the ids of the patient documents read (for the audit)."""
    draft = Draft(kind="appointment", patient_id=patient.id)
    read: list[str] = ["patient.json"]
    ident = patient.identity
    civ = "Mme" if ident.sex == "F" else "M."
    born = "née" if ident.sex == "F" else "né"
    paths = ["identity.sex", "identity.last_name", "identity.first_name", "identity.birth_date", "identity.ipp"]
    name = f"{civ} {ident.last_name} {ident.first_name}"
    text = f"{name}, {born} le {fr_date(ident.birth_date)}, IPP {ident.ipp}"
    recipient = [name]
    if ident.birth_name and fold(ident.birth_name) != fold(ident.last_name):
        text = f"{name} ({born} {ident.birth_name}), {born} le {fr_date(ident.birth_date)}, IPP {ident.ipp}"
        paths.append("identity.birth_name")
    if ident.address:
        paths += ["identity.address.street", "identity.address.postcode", "identity.address.city"]
        recipient += [ident.address.street, f"{ident.address.postcode} {ident.address.city}"]
    draft.sections.append(DraftSection(key="patient", title="Patient", text=text,
                                       citations=[c for p in paths if (c := pjson(patient, p))]))
    # ------------------------------------------------------------ appointment
    parts = [f"Objet : {req.exam}", f"Date : le {_long_date(req.when)}"]
    cits = [_req_cite(req, req.exam_span), _req_cite(req, req.date_span), _req_cite(req, req.time_span)]
    if req.practitioner:
        parts.append(f"Praticien : {req.practitioner}")
        cits.append(_req_cite(req, req.practitioner_span))
    else:
        draft.missing.append("Nom du médecin : absent de la demande.")
    if req.place:
        parts.append(f"Lieu : {req.place}")
        cits.append(_req_cite(req, req.place_span))
    else:
        draft.missing.append("Lieu précis (bâtiment, étage, unité) : absent de la demande ; à compléter.")
    draft.sections.append(DraftSection(key="rendez_vous", title="Rendez-vous", text="\n".join(parts), citations=cits))
    draft.meta.update(recipient=recipient, subject=subject(req), appointment={
        "exam": req.exam, "category": req.category.key, "datetime": req.when.isoformat(),
        "practitioner": req.practitioner, "place": req.place, "iodinated_contrast": req.iodinated,
    })
    # ------------------------------------------------------------ preparation (procedure corpus)
    if req.category.key == "scanner" and not req.iodinated and not _NO_INJECTION.search(fold(req.exam)):
        draft.missing.append("Injection de produit de contraste iodé : non précisée dans la demande ; à préciser "
                             "(la préparation et les précautions en dépendent).")
    proc, hits = find_procedure(svc, req)
    allergy_iodine = [(k, a) for k, a in enumerate(patient.allergies)
                      if re.search(r"\biod|contraste|\bpci\b", fold(f"{a.substance} {a.reaction or ''}"))]
    prep_text: list[str] = []
    prep_cits: list[DraftCitation] = []
    staff_text: list[str] = []  # the note for the unit (protocol text the patient must not receive)
    staff_cits: list[DraftCitation] = []
    metformin_secs, allergy_secs = [], []
    if proc is not None:
        draft.meta["procedure"] = {"doc_id": proc.doc_id, "title": proc.title}
        for sec in proc.sections:
            t = fold(sec.name or "")
            if _METFORMIN_TITLE.search(t):
                metformin_secs.append(sec)
            elif _ALLERGY_TITLE.search(t):
                allergy_secs.append(sec)
            elif _STAFF_TITLE.search(t) and not _NOT_PATIENT.search(t):
                tx, cs = _quote_proc_section(proc, sec)
                staff_text += tx
                staff_cits += cs
            elif _PREP_TITLE.search(t) and not _NOT_PATIENT.search(t):
                tx, cs = _quote_proc_section(proc, sec)
                prep_text += tx
                prep_cits += cs
        if not prep_text and not staff_text:  # no section named for anyone: the retrieved passages themselves
            for h in hits[:2]:
                c = h.chunk
                prep_text.append(c.text)
                prep_cits.append(DraftCitation(doc_id=c.doc_id, quote=c.text, start=c.start, end=c.end, title=c.title,
                                               corpus="procedures"))
    if prep_text:
        draft.sections.append(DraftSection(key="preparation", title=f"Préparation ({proc.title})",
                                           text="\n".join(prep_text), citations=prep_cits))
    elif proc is not None:
        draft.missing.append(f"Consignes au patient : la procédure « {proc.title} » n'a pas de section destinée au "
                             "patient ; à compléter par le service.")
    else:
        draft.missing.append(f"Consignes de préparation : aucune procédure de l'établissement ne correspond à "
                             f"« {req.exam} » ; à compléter par le service.")
    # ------------------------------------------------------------ patient-specific precautions
    pre_text: list[str] = []
    pre_cits: list[DraftCitation] = []
    for k, a in enumerate(patient.allergies):
        pre_text.append(f"Allergie signalée : {a.substance}" + (f" ({a.reaction})" if a.reaction else ""))
        pre_cits += [c for p in (f"allergies[{k}].substance", f"allergies[{k}].reaction") if (c := pjson(patient, p))]
    if req.iodinated and allergy_iodine:
        if allergy_secs:
            staff_text.append("Antécédent de réaction au produit de contraste iodé : protocole de la procédure, "
                              "à valider par le radiologue.")
            for sec in allergy_secs:
                tx, cs = _quote_proc_section(proc, sec)
                staff_text += tx
                staff_cits += cs
        else:
            draft.missing.append("Allergie aux produits de contraste iodés : aucun protocole de prémédication "
                                 "retrouvé dans les procédures ; avis du radiologue requis.")
        draft.flags.append("Allergie aux produits de contraste iodés : convocation à valider par le radiologue "
                           "avant envoi (prémédication).")
    if req.iodinated:
        read += _metformin(svc, patient, proc, metformin_secs, pre_text, pre_cits, draft, staff_text, staff_cits)
    if pre_text:
        draft.sections.append(DraftSection(key="precautions", title="Précautions particulières",
                                           text="\n".join(pre_text), citations=pre_cits))
    if staff_text:
        draft.sections.append(DraftSection(key=STAFF_NOTE, title="Note pour le service (ne pas remettre au patient)",
                                           text="\n".join(staff_text), citations=staff_cits, audience="service"))
    return draft, read


def is_staff_section(section) -> bool:
    """A section for the care team only (protocol text): not part of the letter sent to the patient."""
    get = section.get if isinstance(section, dict) else (lambda k, d=None: getattr(section, k, d))
    return get("audience") == "service" or get("key") == STAFF_NOTE


def subject(req: AppointmentRequest) -> str:
    """The letter's subject: the exam or the specialty, never the wording of the request."""
    title = " ".join(req.exam.split())
    if not title or len(title) > 90 or re.search(r"convoc|r[ée]dig|pr[ée]par|merci|veuillez|\bdemande", fold(title)):
        title = req.category.label
    return f"Convocation — {title[0].upper() + title[1:]}"


def _metformin(svc, patient, proc, metformin_secs, pre_text, pre_cits, draft, staff_text, staff_cits) -> list[str]:
    """Metformin in the latest treatment list (iodinated contrast only); returns the document ids read.

    The patient's letter says the treatment was found; the procedure's conduct (renal thresholds,
    when to stop and resume) goes to the note for the unit."""
    from tools.drafting.extract import load_record

    record: Record = load_record(svc, patient.id)
    base, later = latest_treatment(record)
    if base is None:
        draft.missing.append("Traitement en cours non retrouvé dans le dossier : vérifier la prise de metformine "
                             "avant l'injection de produit de contraste iodé.")
        return []
    read = [base.doc.doc_id]
    met = next((m for m in base.meds if any(a.startswith("metformine") for a in m.aliases)), None)
    stopped_later = None
    for doc, sec in later:
        read.append(doc.doc_id)
        a, b = doc.body(sec)
        for s, e in lines(doc.text, a, b):
            m = parse_medication(doc.text[s:e], s)
            if m and any(x.startswith("metformine") for x in m.aliases) and re.search(r"arret", fold(m.posology)):
                stopped_later = (doc, s, e)
    if met is None or stopped_later:
        return read
    label, ref_cits = doc_ref(record, base.doc)
    pre_text.append(f"Traitement par metformine (dernière liste de traitements : {label}) :")
    pre_text.append(met.line)
    pre_cits += ref_cits + [base.doc.cite(met.start, met.end)]
    if metformin_secs:
        staff_text.append(f"Traitement par metformine : {met.line}")
        staff_cits.append(base.doc.cite(met.start, met.end))
        for sec in metformin_secs:
            tx, cs = _quote_proc_section(proc, sec)
            staff_text += tx
            staff_cits += cs
    else:
        draft.missing.append("Metformine : conduite à tenir non retrouvée dans la procédure ; avis du radiologue requis.")
    return read


def draft_appointment(user: User, patient_id: str, request: str, *, now: datetime | None = None, service=None,
                      llm=None) -> Draft:
    """Convocation for ``patient_id`` from the free-text ``request`` (see module docstring).

    Raises :class:`DraftError` (French) for a request without a date or a time, with an invalid,
    ambiguous or past date, or without an exam type; :class:`medassist.access.AccessDenied` for a
    role that may not draft convocations.
    """
    authorize(user, Action.draft_appointment, patient_id, tool="draft_appointment")
    req = parse_request(request, now=now)
    from retrieval.service import get_service

    svc = service or get_service()
    patient = svc.docs.get_patient(patient_id)
    if patient is None:
        raise DraftError(f"Patient inconnu : « {patient_id} ».")
    draft, read = build_appointment(svc, patient, req)
    return finish(draft, user=user, action=Action.draft_appointment, tool="draft_appointment", llm=llm,
                  extra_documents=read)
