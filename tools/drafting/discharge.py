"""Lettre de liaison de sortie (CSP art. R.1112-1-2), assembled from cited spans of the record.

Why: the letter must reach the GP the day of discharge with every mandatory item, and every item
must be *true to the record*. So each item is filled from a cited source — ``patient.json`` for
identities and stay dates, the stay's documents (compte rendu d'hospitalisation first, then the
ordonnance and the other documents of the stay) for the rest — and each item the record does not
support is listed in ``Draft.missing`` instead of being invented. The medication reconciliation
compares the entry treatment with the discharge treatment (new / changed / stopped / unchanged),
with the reason the record gives for each change.

Mandatory items (:data:`MANDATORY_ITEMS`): patient, médecin traitant, médecin adresseur,
rédacteur, dates, motif, synthèse, événements indésirables, BMR/BHRe, produits sanguins,
dispositifs implantés, traitement de sortie (with dose and duration), traitements arrêtés ou
modifiés (with reason), résultats en attente, suivi. The four safety items are filled only from
sentences that mention them; when the documents say nothing, the item is *missing* (the physician
writes "néant" if that is true — silence in the record is not proof of absence).

Example::

    >>> from medassist.access import User; from medassist.schemas import Role
    >>> d = draft_discharge(User(username="dr", role=Role.clinician), "P006")      # doctest: +SKIP
    >>> [(r.drug, r.status) for r in d.reconciliation][:2]                          # doctest: +SKIP
    [('SPIRONOLACTONE', 'stopped'), ('RAMIPRIL', 'changed')]

Limits: treatments written as prose are quoted but not reconciled; the entry treatment comes from
the stay's CRH ("Traitement à l'entrée") or the referral letter; a drug renamed between lists
(DCI at entry, brand at discharge without the DCI) is seen as stopped + new.
"""

from __future__ import annotations

import re

from knowledge.dates import fr_date
from knowledge.french import fold
from medassist.access import Action, User, authorize
from tools.drafting.common import finish, first_section, matching_sentences, quote_section, sentences_section
from tools.drafting.extract import (
    CHANGE_SECTIONS,
    Medication,
    Record,
    SourceDoc,
    TreatmentList,
    as_date,
    bullets,
    labelled,
    lines,
    load_record,
    parse_medication,
    posology_key,
    sentences,
    treatment_list,
)
from tools.drafting.models import Draft, DraftCitation, DraftSection, ReconciliationItem
from tools.drafting.verify import extract_facts

#: (key, French label) of the R.1112-1-2 checklist, in letter order.
MANDATORY_ITEMS: list[tuple[str, str]] = [
    ("patient", "Identification du patient"),
    ("medecin_traitant", "Médecin traitant"),
    ("medecin_adresseur", "Médecin adresseur"),
    ("redacteur", "Rédacteur (médecin de l'établissement)"),
    ("dates", "Dates d'entrée et de sortie"),
    ("motif", "Motif d'hospitalisation"),
    ("synthese", "Synthèse médicale du séjour"),
    ("evenements_indesirables", "Événements indésirables survenus pendant le séjour"),
    ("bmr", "Micro-organismes multirésistants ou émergents (BMR, BHRe)"),
    ("produits_sanguins", "Administration de produits sanguins"),
    ("dispositifs", "Dispositifs médicaux implantés"),
    ("traitement_sortie", "Traitement de sortie (posologie et durée)"),
    ("traitements_modifies", "Traitements arrêtés ou modifiés et motif"),
    ("resultats_attente", "Résultats en attente"),
    ("suivi", "Suivi : rendez-vous et examens"),
]
LABELS = dict(MANDATORY_ITEMS)

#: Safety items of the synthesis: (key, title, pattern on normalised sentences).
SAFETY_ITEMS: list[tuple[str, str, re.Pattern]] = [
    ("evenements_indesirables", "Événements indésirables",
     re.compile(r"indesirable|iatrogen|effet secondaire|pharmacovigilance|nosocomial|associee? aux soins|\bincidents?\b|"
                r"toxicite|reaction allergique|chute (?:dans|pendant|au cours|en cours) (?:le|du) (?:service|sejour)")),
    ("bmr", "Bactéries multirésistantes (BMR, BHRe)",
     re.compile(r"\bbmr\b|\bbhre\b|multiresist|hautement resistante|\bblse\b|\bsarm\b|carbapenemase|"
                r"enterocoque resistant|\berv\b|\berg\b|\bepc\b")),
    ("produits_sanguins", "Produits sanguins administrés",
     re.compile(r"transfus|\bcgr\b|concentres? (?:de globules|plaquettaire|erythrocytaire)|produits? sanguins?|"
                r"plasma frais|\bpfc\b|culots? globulaires?|derives? du sang|immunoglobulines")),
    ("dispositifs", "Dispositifs médicaux implantés",
     re.compile(r"dispositif (?:medical )?implant|materiel implante|chambre (?:a catheter )?implantable|\bpac\b|"
                r"prothese|stent|endoprothese|pacemaker|stimulateur cardiaque|defibrillateur|valve (?:mecanique|biologique|"
                r"prothetique)|bioprothese|\btavi\b|clip de reperage|carte d'implant|"
                r"carte de porteur d[e'] ?(?:stent|dispositif|valve|prothese|stimulateur|defibrillateur|chambre)")),
]
#: Sections searched for the safety items (what happened during the stay).
STAY_SECTIONS = ("Évolution", "Conclusion", "Examens complémentaires", "Tolérance", "Compte rendu", "Diagnostic",
                 "Dispositif implanté", "Transmissions", "Résultats", "Interprétation", "Incidents", "Intervention",
                 "Traitements administrés", "Constatations", "Description", "Commentaire")
#: Sections of the other documents of the stay never searched for safety items: instructions and history
#: ("information sur les effets indésirables…" is advice, not an event).
_NOT_EVENTS = ("Consignes de sortie", "Suivi", "Antécédents", "Antécédents familiaux", "Histoire de la maladie",
               "Traitement à l'entrée", "Traitement en cours", "Traitement de sortie", "Traitement", "Allergies",
               "Information du patient", "Indication", "Motif", "Motif d'hospitalisation", "Renseignements cliniques",
               "Ne pas prendre", "Prochaine cure", "Mode de vie")
#: Sentences about the patient's history, not about the stay ("pas d'antécédent de pacemaker").
_HISTORY = re.compile(r"antecedent|\batcd\b")
_CHANGE_VERB = re.compile(r"arret|stopp|suspendu|interromp|remplac|relais|diminu|reduit|major|augment|introdu|"
                          r"instaur|debut|modifi|switch|substitu|poursuivi|non poursuivi|contre-indiqu")
_AUTHOR_LABEL = (r"m[ée]decin r[ée]dacteur|r[ée]dacteur|m[ée]decin responsable|praticien responsable|"
                 r"m[ée]decin s[ée]nior")
_PHONE = re.compile(r"(?:secr[ée]tariat|t[ée]l[ée]phone|t[ée]l\.)(?: secr[ée]tariat)?\s*:?\s*\d{2}(?:[ .]?\d{2}){4}", re.I)
_STAY_LINE = re.compile(r"s[ée]jour du\s+\d{2}/\d{2}/\d{4}\s+au\s+\d{2}/\d{2}/\d{4}", re.I)
_DR = re.compile(r"\b(?:Dr|Pr|Docteur|Professeur)\.?\s+[A-ZÀ-Ý][\w'’-]*(?:\s+[A-ZÀ-Ý][\w'’-]*){0,3}")


#: A sentence saying a result is still awaited at discharge.
_PENDING_SENTENCE = re.compile(r"\ben attente\b|a recuperer|pas encore (?:rendu|revenu|disponible)|non (?:encore )?rendu"
                               r"|n'est pas (?:encore )?revenu|ne sont pas (?:encore )?revenus|resultat (?:sera|seront) adresse")


def _civ(sex: str) -> str:
    return "Mme" if sex == "F" else "M."


def _ordered(docs: list[SourceDoc]) -> list[SourceDoc]:
    """The stay's CRH first (newest first), then the other documents, newest first."""
    crh = [d for d in reversed(docs) if d.is_crh]
    return crh + [d for d in reversed(docs) if not d.is_crh]


class _Builder:
    def __init__(self, record: Record, stay_index: int, draft: Draft):
        self.r, self.i, self.d = record, stay_index, draft
        self.stay = record.patient.stays[stay_index]
        self.docs = record.stay_docs(self.stay)
        self.ordered = _ordered(self.docs)
        self.crh = next((d for d in self.ordered if d.is_crh), None)
        #: exit-list lines that stop a drug (filled by :meth:`treatments`)
        self.stopped_in_list: list[tuple[Medication, SourceDoc]] = []

    # ------------------------------------------------------------------ helpers
    def add(self, sec: DraftSection) -> None:
        self.d.sections.append(sec)
        if sec.key in LABELS:
            self.d.items[sec.key] = "present"

    def miss(self, key: str, message: str) -> None:
        self.d.missing.append(message)
        if key in LABELS and self.d.items.get(key) != "present":
            self.d.items[key] = "missing"

    def cites(self, *paths: str) -> list[DraftCitation]:
        return [c for p in paths if (c := self.r.cite(p))]

    # ------------------------------------------------------------------ identity
    def patient(self) -> None:
        p = self.r.patient
        ident = p.identity
        born = "née" if ident.sex == "F" else "né"
        name = f"{_civ(ident.sex)} {ident.last_name} {ident.first_name}"
        if ident.birth_name and fold(ident.birth_name) != fold(ident.last_name):
            name += f" ({born} {ident.birth_name})"
        text = f"{name}, {born} le {fr_date(ident.birth_date)}, IPP {ident.ipp}"
        paths = ["identity.sex", "identity.last_name", "identity.first_name", "identity.birth_name",
                 "identity.birth_date", "identity.ipp"]
        if ident.address:
            a = ident.address
            text += f"\nAdresse : {a.street}, {a.postcode} {a.city}"
            paths += ["identity.address.street", "identity.address.postcode", "identity.address.city"]
        self.add(DraftSection(key="patient", title="Patient", text=text, citations=self.cites(*paths)))
        self.d.meta["patient"] = {"name": name, "birth_date": ident.birth_date.isoformat(), "ipp": ident.ipp}

    def gp(self) -> None:
        gp = self.r.patient.gp
        if not gp or not gp.name:
            self.miss("medecin_traitant", f"{LABELS['medecin_traitant']} : non renseigné dans le dossier.")
            return
        text = gp.name + (f" ({gp.specialty})" if gp.specialty else "")
        paths = ["gp.name", "gp.specialty"]
        recipient = [gp.name]
        if gp.address:
            text += f"\n{gp.address.street}, {gp.address.postcode} {gp.address.city}"
            paths += ["gp.address.street", "gp.address.postcode", "gp.address.city"]
            recipient += [gp.address.street, f"{gp.address.postcode} {gp.address.city}"]
        if gp.phone:
            text += f"\nTél. {gp.phone}"
            paths.append("gp.phone")
        self.add(DraftSection(key="medecin_traitant", title="Médecin traitant", text=text, citations=self.cites(*paths)))
        self.d.meta["recipient"] = recipient

    def referrer(self) -> None:
        ref = self.stay.referring_doctor
        path = f"stays[{self.i}].referring_doctor"
        if not ref:
            self.miss("medecin_adresseur", f"{LABELS['medecin_adresseur']} : non renseigné pour ce séjour.")
            return
        same = self.r.patient.gp and fold(ref) == fold(self.r.patient.gp.name)
        text = ref + (" (médecin traitant)" if same else "")
        self.add(DraftSection(key="medecin_adresseur", title="Médecin adresseur", text=text, citations=self.cites(path)))
        if not same:
            self.d.meta["copy_to"] = [ref]

    def author(self) -> None:
        cits: list[DraftCitation] = []
        parts: list[str] = []
        author_name, src = None, None
        for doc in self.ordered:  # CRH first: its "Médecin rédacteur :" label
            span = labelled(doc.text, _AUTHOR_LABEL)
            if span:
                cits.append(doc.cite(*span))
                value = doc.text[span[0]:span[1]]
                parts.append(f"Médecin rédacteur : {value}")
                m = _DR.search(value)
                author_name, src = (m.group(0) if m else value), doc
                break
        if src is None:  # else the declared author of the newest document of the stay
            for doc in self.ordered:
                if not doc.author:
                    continue
                span = doc.find(doc.author)
                meta_idx = next((k for k, m in enumerate(self.r.patient.documents) if m.id == doc.doc_id), None)
                if span:
                    cits.append(doc.cite(*span))
                elif meta_idx is not None:
                    cits += self.cites(f"documents[{meta_idx}].author")
                if cits:
                    parts.append(f"Rédigé par : {doc.author}")
                    author_name, src = doc.author, doc
                    break
        if not cits:
            self.miss("redacteur", f"{LABELS['redacteur']} : aucun document du séjour ne l'identifie ; "
                                   "à compléter par le médecin signataire.")
            return
        unit = self.r.cite(f"stays[{self.i}].unit")
        if unit:
            parts.append(f"Unité : {self.stay.unit}")
            cits.append(unit)
        m = _PHONE.search(src.text, 0, min(len(src.text), 1500))
        if m:
            parts.append(m.group(0))
            cits.append(src.cite(m.start(), m.end()))
        self.add(DraftSection(key="redacteur", title="Rédacteur", text="\n".join(parts), citations=cits))
        self.d.meta["author"] = author_name
        self.d.meta["unit"] = self.stay.unit

    def dates(self) -> None:
        st = self.stay
        cits = self.cites(f"stays[{self.i}].entry_date", f"stays[{self.i}].exit_date")
        text = f"Entrée le {fr_date(st.entry_date)}"
        if st.exit_date:
            text += f", sortie le {fr_date(st.exit_date)}"
        else:
            self.miss("dates", "Date de sortie : non renseignée dans le dossier (séjour en cours ?).")
        for doc in ([self.crh] if self.crh else []):
            m = _STAY_LINE.search(doc.text)
            if m:
                found = sorted(extract_facts(m.group(0)).dates)
                expected = sorted(x for x in (st.entry_date, st.exit_date) if x)
                if found != expected:
                    self.d.flags.append(
                        f"Discordance de dates : « {m.group(0)} » dans « {doc.title} » ; le dossier administratif "
                        f"indique {' – '.join(fr_date(x) for x in expected)}.")
        self.add(DraftSection(key="dates", title="Dates du séjour", text=text, citations=cits))
        self.d.meta["stay"] = {"id": st.id, "entry_date": st.entry_date.isoformat(),
                               "exit_date": st.exit_date.isoformat() if st.exit_date else None, "unit": st.unit}

    # ------------------------------------------------------------------ clinical content
    def motif(self) -> None:
        found = first_section(self.ordered, ("Motif d'hospitalisation", "Motif", "Indication"))
        if found:
            self.add(quote_section(found[0], found[1], key="motif", title="Motif d'hospitalisation"))
        elif self.stay.reason:
            self.add(DraftSection(key="motif", title="Motif d'hospitalisation", text=self.stay.reason, prose=True,
                                  citations=self.cites(f"stays[{self.i}].reason")))
        else:
            self.miss("motif", f"{LABELS['motif']} : non retrouvé dans le dossier.")

    def synthese(self) -> None:
        found = first_section(self.ordered, ("Conclusion", "Diagnostic"))
        if found:
            self.add(quote_section(found[0], found[1], key="synthese", title="Synthèse du séjour"))
        else:
            self.miss("synthese", f"{LABELS['synthese']} : aucune conclusion retrouvée dans les documents du séjour.")

    def allergies(self) -> None:
        p = self.r.patient
        parts, cits = [], []
        reported: list[str] = []  # the report's own allergy lines
        doc_parts, doc_cits = [], []
        found = first_section(self.ordered, ("Allergies",))
        if found:
            doc, sec = found
            a, b = doc.body(sec)
            for s, e in lines(doc.text, a, b):
                doc_parts.append(doc.text[s:e])
                doc_cits.append(doc.cite(s, e))
                reported.append(fold(doc.text[s:e]))
        for k, a in enumerate(p.allergies):
            cits += self.cites(f"allergies[{k}].substance", f"allergies[{k}].reaction")
            substance = fold(a.substance or "").strip()
            if substance and any(substance in line for line in reported):
                continue  # the report says it already: one line per allergy (both sources stay cited)
            parts.append(a.substance + (f" ({a.reaction})" if a.reaction else ""))
        parts += doc_parts
        cits += doc_cits
        if parts:
            self.add(DraftSection(key="allergies", title="Allergies", text="\n".join(parts), citations=cits))
        else:
            self.d.missing.append("Allergies : aucune information dans le dossier (ni allergie, ni mention "
                                  "« aucune allergie connue »).")

    def safety(self) -> None:
        primary = [self.crh] if self.crh else []
        others = [d for d in self.ordered if d is not self.crh and d.doc_type != "lettre_adressage"]
        for key, title, pattern in SAFETY_ITEMS:
            found = matching_sentences(primary, STAY_SECTIONS, pattern, skip=_HISTORY) if primary else []
            if not found:
                found = matching_sentences(others, None, pattern, limit=3, exclude=_NOT_EVENTS, skip=_HISTORY)
            if found:
                self.add(sentences_section(found, key=key, title=title))
            else:
                self.miss(key, f"{LABELS[key]} : aucune mention dans les documents du séjour — à confirmer "
                               "par le médecin (mention « néant » si exact).")

    def pending(self) -> None:
        found = first_section(self.ordered, ("Résultats en attente",))
        if found:
            self.add(quote_section(found[0], found[1], key="resultats_attente", title="Résultats en attente"))
            return
        # no such section: the sentences of the report's conclusion or follow-up that say a result is
        # awaited (« … en attente de l'anapath », « la TSH n'est pas revenue »)
        said = matching_sentences(([self.crh] if self.crh else []),
                                  ("Conclusion", "Diagnostic", "Suivi", "Évolution"), _PENDING_SENTENCE, limit=3)
        if said:
            self.add(sentences_section(said, key="resultats_attente", title="Résultats en attente"))
        else:
            self.miss("resultats_attente", f"{LABELS['resultats_attente']} : rubrique absente des documents du séjour.")

    def follow_up(self) -> None:
        found = first_section(self.ordered, ("Suivi",))
        if found:
            self.add(quote_section(found[0], found[1], key="suivi", title="Suivi"))
        else:
            self.miss("suivi", f"{LABELS['suivi']} : aucune rubrique de suivi dans les documents du séjour.")

    # ------------------------------------------------------------------ treatments
    def _discharge_list(self) -> TreatmentList | None:
        if self.crh:
            tl = treatment_list(self.crh, ("Traitement de sortie",))
            if tl:
                return tl
        for doc in reversed(self.docs):
            if doc.doc_type == "ordonnance":
                tl = treatment_list(doc)
                if tl:
                    return tl
        for doc in self.ordered:
            tl = treatment_list(doc, ("Traitement de sortie", "Consignes de sortie"))
            if tl:
                return tl
        return None

    def _entry_list(self) -> TreatmentList | None:
        names = ("Traitement à l'entrée", "Traitement en cours")
        for doc in self.ordered:
            tl = treatment_list(doc, names, whole_prescription=False)
            if tl:
                return tl
        for doc in reversed(self.r.docs):  # referral letter written just before the stay
            if doc.doc_type == "lettre_adressage" and doc.date and doc.date <= self.stay.entry_date \
                    and (self.stay.entry_date - doc.date).days <= 31:
                tl = treatment_list(doc, names + ("Traitement",), whole_prescription=False)
                if tl:
                    return tl
        return None

    def treatments(self) -> None:
        out = self._discharge_list()
        if out is None:
            self.miss("traitement_sortie", f"{LABELS['traitement_sortie']} : aucune liste de traitements de sortie "
                                           "dans les documents du séjour.")
        else:
            doc = out.doc
            self.stopped_in_list = [(m, doc) for m in out.stopped]
            text_lines, cits = [], []
            for m in out.meds:
                text_lines.append(f"- {m.line}")
                cits.append(doc.cite(m.start, m.end))
            # durations stated once for the whole prescription ("Traitement pour 3 mois")
            global_duration = None
            for s, e in lines(doc.text, 0, len(doc.text)):
                t = doc.text[s:e]
                if re.match(r"(?:traitement|dur[ée]e)\b.*\b(?:jours?|semaines?|mois)\b", fold(t)) and len(t) < 160:
                    text_lines.append(t)
                    cits.append(doc.cite(s, e))
                    global_duration = t
                    break
            self.add(DraftSection(key="traitement_sortie", title=f"Traitement de sortie ({doc.title})",
                                  text="\n".join(text_lines), citations=cits))
            no_dose = [m.name for m in out.meds if not m.dose]
            if no_dose:
                self.d.missing.append("Dose non précisée dans le dossier pour : " + ", ".join(no_dose) + ".")
            if not global_duration:
                no_duration = [m.name for m in out.meds if not m.duration]
                if no_duration:
                    self.d.missing.append("Durée de traitement non précisée dans le dossier (traitement au long "
                                          "cours ?) pour : " + ", ".join(no_duration) + ".")
            self._check_prescription(out)
        entry = self._entry_list()
        self.reconcile(entry, out)

    def _check_prescription(self, out: TreatmentList) -> None:
        """Flag differences between the CRH discharge list and the stay's ordonnance."""
        for doc in self.docs:
            if doc.doc_type != "ordonnance" or doc is out.doc:
                continue
            presc = treatment_list(doc)
            if not presc:
                continue
            for m in presc.meds:
                twin = next((o for o in out.meds if o.same_drug(m)), None)
                if twin is None:
                    self.d.flags.append(f"Discordance : « {m.line} » figure sur « {doc.title} » mais pas dans "
                                        f"« {out.doc.title} ».")
                elif m.dose and twin.dose and m.dose_key != twin.dose_key:
                    self.d.flags.append(f"Discordance de dose pour {m.name} : {m.dose} sur « {doc.title} », "
                                        f"{twin.dose} dans « {out.doc.title} ».")
            for o in out.meds:
                if not any(o.same_drug(m) for m in presc.meds):
                    self.d.flags.append(f"Discordance : « {o.line} » figure dans « {out.doc.title} » mais pas sur "
                                        f"« {doc.title} ».")

    def _reason(self, med: Medication) -> tuple[str, DraftCitation] | None:
        """The record's reason for a change: a line of the exit list saying the drug is stopped, a line
        of "Traitements arrêtés ou modifiés", else a sentence."""
        for cand, doc in self.stopped_in_list:
            if cand.same_drug(med):
                return (cand.posology or cand.line), doc.cite(cand.start, cand.end)
        for doc in self.ordered:
            for sec in doc.find_sections("Traitements arrêtés ou modifiés", "Modifications thérapeutiques"):
                a, b = doc.body(sec)
                for s, e in bullets(doc.text, a, b):
                    cand = parse_medication(doc.text[s:e], s)
                    if cand and cand.same_drug(med):
                        return (cand.posology or doc.text[s:e]), doc.cite(s, e)
        words = [a for a in med.aliases if len(a) >= 4]
        for doc in self.ordered:
            for sec in doc.find_sections("Évolution", "Conclusion", "Suivi"):
                a, b = doc.body(sec)
                for s, e in sentences(doc.text, a, b):
                    n = fold(doc.text[s:e])
                    if any(re.search(rf"\b{re.escape(w)}\b", n) for w in words) and _CHANGE_VERB.search(n):
                        return doc.text[s:e], doc.cite(s, e)
        return None

    def reconcile(self, entry: TreatmentList | None, out: TreatmentList | None) -> None:
        items: list[ReconciliationItem] = []
        change_lines: list[tuple[Medication, SourceDoc]] = []
        for doc in self.ordered:
            for sec in doc.find_sections(*CHANGE_SECTIONS):
                a, b = doc.body(sec)
                change_lines += [(m, doc) for s, e in bullets(doc.text, a, b) if (m := parse_medication(doc.text[s:e], s))]
            if change_lines:
                break
        change_lines += [cm for cm in self.stopped_in_list if not any(cm[0].same_drug(c) for c, _ in change_lines)]
        if entry is None:
            self.d.missing.append("Traitement à l'entrée : non retrouvé dans les documents du séjour ; "
                                  "conciliation d'entrée et de sortie impossible.")
        if out is None:  # without a discharge list, an entry drug is not "stopped": nothing is reconciled
            entry = None
        entry_meds = entry.meds if entry else []
        out_meds = out.meds if out else []
        used_out: set[int] = set()
        for em in entry_meds:
            k = next((j for j, om in enumerate(out_meds) if j not in used_out and om.same_drug(em)), None)
            cits = [entry.doc.cite(em.start, em.end)]
            if k is None:
                status = "stopped"
                om = None
            else:
                used_out.add(k)
                om = out_meds[k]
                cits.append(out.doc.cite(om.start, om.end))
                same_dose = (em.dose_key or "") == (om.dose_key or "")
                same_pos = posology_key(em.posology) == posology_key(om.posology)
                listed = any(cm.same_drug(em) for cm, _ in change_lines)  # the record says it changed
                status = "unchanged" if same_dose and same_pos and not listed else "changed"
            items.append(ReconciliationItem(drug=em.name, key=em.key, status=status, entry=em.line,
                                            discharge=om.line if om else None, entry_dose=em.dose,
                                            discharge_dose=om.dose if om else None, citations=cits))
        if entry is not None or change_lines:
            for j, om in enumerate(out_meds):
                if j in used_out:
                    continue
                if entry is None and not any(cm.same_drug(om) for cm, _ in change_lines):
                    continue  # without an entry list, "new" is only known from the change list
                items.append(ReconciliationItem(drug=om.name, key=om.key, status="new", discharge=om.line,
                                                discharge_dose=om.dose, citations=[out.doc.cite(om.start, om.end)]))
        # drugs changed during the stay that are in neither list (started and stopped in hospital)
        for cm, _doc in change_lines:
            if any(cm.same_drug(m) for m in entry_meds + out_meds):
                continue
            n = fold(cm.posology)
            status = "new" if re.search(r"introdu|instaur|debut", n) and not re.search(r"arret", n) else \
                "stopped" if re.search(r"arret|stopp|suspendu|termine|\bfin\b|interromp", n) else "changed"
            items.append(ReconciliationItem(drug=cm.name, key=cm.key, status=status, entry=None, discharge=None,
                                            entry_dose=cm.dose, citations=[]))
        for it in items:
            if it.status == "unchanged":
                continue
            med = Medication(name=it.drug, key=it.key, aliases=_aliases(it, entry_meds + out_meds, change_lines),
                             dose=None, posology="", duration=None, line="")
            found = self._reason(med)
            if found:
                it.reason, cit = found
                if not any(c.doc_id == cit.doc_id and c.start == cit.start for c in it.citations):
                    it.citations.append(cit)
            elif it.status in ("stopped", "changed"):
                verb = "l'arrêt" if it.status == "stopped" else "la modification"
                self.d.missing.append(f"Motif de {verb} de {it.drug} : non retrouvé dans le dossier.")
        self.d.reconciliation = items
        self._reconciliation_section(items, entry)

    def _reconciliation_section(self, items: list[ReconciliationItem], entry: TreatmentList | None) -> None:
        label = {"stopped": "arrêté", "changed": "modifié", "new": "introduit"}
        text_lines, cits = [], []
        for it in items:
            if it.status == "unchanged":
                continue
            line = f"- {it.drug} : {label[it.status]}"
            if it.status == "changed" and it.entry_dose and it.discharge_dose and it.entry_dose != it.discharge_dose:
                line += f" ({it.entry_dose} → {it.discharge_dose})"
            elif it.status == "changed" and (it.entry_dose or it.discharge_dose) and not (it.entry and it.discharge):
                line += f" ({it.entry_dose or it.discharge_dose})"
            elif it.status == "changed" and it.entry and it.discharge:
                before, after = (x.partition(" : ")[2] or x for x in (it.entry, it.discharge))
                if posology_key(before) == posology_key(after):
                    line += " pendant le séjour (même posologie à la sortie)"
                else:
                    line += f" ({before} → {after})"
            elif it.status == "new" and it.discharge_dose:
                line += f" ({it.discharge_dose})"
            elif it.status == "stopped" and it.entry_dose:
                line += f" ({it.entry_dose})"
            line += f". Motif : {it.reason}" if it.reason else ". Motif : non précisé dans le dossier"
            text_lines.append(line)
            cits += [c for c in it.citations if c not in cits]
        unchanged = [it for it in items if it.status == "unchanged"]
        if unchanged:
            text_lines.append("Traitements poursuivis sans changement : "
                              + ", ".join(f"{it.drug} {it.entry_dose or ''}".strip() for it in unchanged) + ".")
            cits += [c for it in unchanged for c in it.citations if c not in cits]
        # change lines that could not be tied to a drug of either list are still quoted verbatim
        found = first_section(self.ordered, CHANGE_SECTIONS)
        if found:
            doc, sec = found
            a, b = doc.body(sec)
            quoted = [(c.doc_id, c.start) for c in cits]
            for s, e in lines(doc.text, a, b):
                c = doc.cite(s, e)
                if any(d == c.doc_id and c.start <= q <= c.start + 3 for d, q in quoted):
                    continue  # already quoted as the reason of a reconciled drug
                if parse_medication(doc.text[s:e], s) is None or not items:
                    text_lines.append(doc.text[s:e] if doc.text[s:e].startswith("-") else f"- {doc.text[s:e]}")
                    cits.append(c)
        if not text_lines:
            if entry is None:
                self.miss("traitements_modifies", f"{LABELS['traitements_modifies']} : traitement d'entrée et "
                                                  "rubrique des modifications absents ; à compléter.")
                return
            text_lines.append("Aucun traitement arrêté, modifié ou introduit entre l'entrée et la sortie.")
        self.add(DraftSection(key="traitements_modifies", title="Traitements arrêtés, modifiés ou introduits",
                              text="\n".join(text_lines), citations=cits))


def _aliases(it: ReconciliationItem, meds: list[Medication], change_lines) -> frozenset[str]:
    al = {it.key}
    for m in meds + [cm for cm, _ in change_lines]:
        if m.key == it.key or it.key in m.aliases:
            al |= m.aliases
    return frozenset(al)


def build_discharge(record: Record, stay_id: str | None = None) -> Draft:
    """The extractive letter for one stay (no access control, no audit: see :func:`draft_discharge`)."""
    i, stay = record.stay(stay_id)
    draft = Draft(kind="discharge", patient_id=record.patient.id, stay_id=stay.id)
    b = _Builder(record, i, draft)
    b.patient()
    b.gp()
    b.referrer()
    b.author()
    b.dates()
    b.motif()
    b.allergies()
    b.synthese()
    b.safety()
    b.treatments()
    b.pending()
    b.follow_up()
    order = {k: n for n, (k, _) in enumerate(MANDATORY_ITEMS)}
    order["allergies"] = order["synthese"] - 0.5
    draft.sections.sort(key=lambda s: order.get(s.key, 99))
    for key, label in MANDATORY_ITEMS:  # every item ends up present or explained
        if key not in draft.items:
            b.miss(key, f"{label} : non retrouvé dans le dossier.")
    draft.meta["subject"] = (f"Lettre de liaison — séjour du {fr_date(stay.entry_date)}"
                             + (f" au {fr_date(stay.exit_date)}" if stay.exit_date else "")
                             + f" ({stay.unit})")
    draft.meta["documents_used"] = [d.doc_id for d in b.docs]
    cited = {c.doc_id for sec in draft.sections for c in sec.citations}
    for d in b.docs:
        if d.ocr and d.doc_id in cited:
            draft.flags.append(f"« {d.title} » ({d.doc_id}) est un document numérisé lu par OCR : texte reconnu "
                               "par OCR, à vérifier contre l'original pour ce qui en est cité.")
    if as_date(stay.exit_date):
        draft.meta["letter_date"] = stay.exit_date.isoformat()
    return draft


def draft_discharge(user: User, patient_id: str, stay_id: str | None = None, *, service=None, llm=None) -> Draft:
    """Lettre de liaison de sortie for ``stay_id`` (default: the latest finished stay).

    Access: clinicians only (:data:`medassist.access.MATRIX`); the success is audited with the ids
    of the documents cited. ``llm``: an optional chat model that rewrites the prose sections; its
    output is verified and discarded when it adds facts (see :mod:`tools.drafting.verify`).
    """
    authorize(user, Action.draft_discharge, patient_id, tool="draft_discharge")
    from retrieval.service import get_service

    svc = service or get_service()
    record = load_record(svc, patient_id)
    draft = build_discharge(record, stay_id)
    return finish(draft, user=user, action=Action.draft_discharge, tool="draft_discharge", llm=llm)
