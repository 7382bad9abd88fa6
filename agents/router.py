"""Deterministic French intent router and follow-up rewriting.

Used by the ``understand`` node whenever no capable model can choose a tool (extractive mode,
wiring-only model, model down, or a model that answered without a tool call). It must never be
smarter than it can explain: every decision lists the cues that made it (``Route.cues``).

Intents:

=====================  ==========================================================================
``question``           a question about the patient's record (default)
``procedure_question`` a question about the hospital's procedures (generic wording: "un patient",
                       "faut-il", "selon la procédure"...)
``code``               CIM-10 coding of the stay ("codage", "CIM-10", "DP", "DAS"...)
``draft_discharge``    the discharge letter ("lettre de liaison", "courrier de sortie"...)
``draft_appointment``  an appointment letter ("convocation", "convoquer"...)
``draft_summary``      a synthesis of the record ("résume le dossier", "synthèse"...)
=====================  ==========================================================================

Drafting intents need a *request* (an imperative, "je voudrais", or a bare noun phrase such as
"Convocation pour une IRM"), so that "Quand a lieu le rendez-vous d'allergologie ?" stays a
question.

Example::

    >>> route("Rédige la lettre de liaison").intent
    'draft_discharge'
    >>> route("Quand a lieu le rendez-vous d'allergologie ?").intent
    'question'
    >>> route("Propose les codes CIM-10 du séjour").intent
    'code'
    >>> route("Combien de temps avant un scanner injecté faut-il arrêter la metformine chez un patient ?").intent
    'procedure_question'
    >>> print(rewrite_followup("et sa posologie ?", "Quel anticoagulant oral prend-il ?"))
    sa posologie ? (suite de : Quel anticoagulant oral prend-il ?)

Limits: keyword rules, not understanding. A generic-sounding question about the patient ("À quel
moment le patient doit-il avoir son courrier ?") can be routed to the procedures; the retrieve
node then compares both corpora when the routing is ``ambiguous`` (see :attr:`Route.scope`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from knowledge.dates import MONTHS
from knowledge.french import fold

Intent = Literal["question", "procedure_question", "code", "draft_discharge", "draft_appointment", "draft_summary"]
INTENTS: tuple[str, ...] = ("question", "procedure_question", "code", "draft_discharge", "draft_appointment",
                            "draft_summary")

# All patterns run on folded text (lower case, no accents).
_REQUEST = (
    r"\b(?:redige[rsz]?|rediger|prepare[rsz]?|genere[rsz]?|ecri[st]|ecrire|etabli[rst]?|edite[rsz]?|produi[st]"
    r"|fai[st]|faire|propose[rsz]?|proposer|envoie[rsz]?|envoyer|donne[rsz]?|donner|sors|sortir|peux[- ]tu"
    r"|pourrais[- ]tu|pouvez[- ]vous|je (?:voudrais|veux|souhaite|souhaiterais)|j'aimerais|il (?:me )?faut"
    r"|besoin d'|merci de|brouillon|projet de)\b"
)
_QUESTION_START = re.compile(
    r"^\s*(?:et\s+)?(?:quand|quel(?:le)?s?|qui|ou|combien|pourquoi|comment|est-ce|y a-t-il|a-t-(?:il|elle)"
    r"|existe|lequel|laquelle|que|qu'|dans quel|a quel|a quelle|a combien|jusqu'a|depuis|pour quelle|par quo?i"
    r"|sur quel|avec quel|de quel)\b"
)

_CODE = re.compile(
    r"\b(?:cim[- ]?10|codage|coder|codes?|cotation|coter|diagnostic principal|diagnostics? associes?|das|dp|dr"
    r"|ghm|pmsi|rum|rss|groupage)\b"
)
_DISCHARGE = re.compile(
    r"\b(?:lettre|courrier|compte[- ]rendu|cr)\s+(?:de\s+)?(?:liaison|sortie|fin d'hospitalisation)|\bcrh\b"
    r"|\blettre au (?:medecin traitant|generaliste)"
)
_APPOINTMENT = re.compile(
    r"\b(?:convocation|convoque[rsz]?|convoquer|(?:lettre|courrier) de (?:rendez-vous|rdv|convocation)"
    r"|(?:prendre|fixer|programmer|planifier|organiser|caler) (?:un |le )?(?:rendez-vous|rdv))\b"
)
_SUMMARY = re.compile(r"\b(?:resume[rsz]?|resumer|synthese|synthetise[rsz]?|recapitulati(?:f|ve)|fais le point)\b")

# Procedure (generic) versus patient (specific) cues, with weights.
_PROC_CUES: list[tuple[str, float]] = [
    (r"\bprocedures?\b|\bprotocoles?\b|\bconsignes?\b|\bregles?\b|\brecommandations?\b", 2.0),
    (r"\b(?:au|du) chu\b|\bdans l'etablissement\b|\ba l'hopital\b|\bselon (?:la|le|les) (?:procedure|protocole|regle)",
     2.0),
    (r"\b(?:un|une|aux|des) (?:patient|patiente|malade|personne|soignant|enfant)s?\b", 1.5),
    (r"\bchez (?:un|une|les) ", 1.2),
    (r"\bfaut-il\b|\bdoit-on\b|\bpeut-on\b|\bdonne-t-on\b|\bverifie-t-on\b|\bretourne-t-on\b|\bcode-t-on\b"
     r"|\baccuse-t-on\b|\bexige-t-on\b|\bgere-t-on\b|\bqu'est-ce qu'on\b|\bon (?:doit|peut|verifie)\b", 1.5),
    (r"\bquel(?:le)? (?:delai|frequence|echelle|protocole|type|effectif)\b|\bdelai\b|\bvalable\b|\bminimum\b"
     r"|\bmaximum\b|\bobligatoire", 0.8),
    (r"\bcomment (?:coder|enregistrer|preparer|gerer|declarer)\b|\bdans quels? cas\b|\ba partir de quel", 1.0),
    (r"\ben general\b|\bhabituellement\b|\bdifference entre\b|\bqu'est-ce que\b", 1.0),
    (r"\b(?:doit|peut|doivent|peuvent)-(?:il|elle|ils|elles)\b|\bquand peut\b|\bavant (?:un|une|sa|son) ", 0.8),
]
_PATIENT_CUES: list[tuple[str, float]] = [
    (r"\b(?:ce|cette|le|la|du|au) (?:patient|patiente|malade)\b", 0.6),
    (r"\b(?:ce|cette) (?:patient|patiente|malade)\b", 1.5),
    (r"\b(?:sa|son|ses)\s+\w+", 0.8),
    (r"\b(?:a-t-(?:il|elle)|avait-(?:il|elle)|etait-(?:il|elle)|est-(?:il|elle)|prend-(?:il|elle)|presente-t-(?:il|elle)"
     r"|a ete|ont ete|etait|avait|etaient|a-t-on)\b", 1.2),
    (r"\b(?:pendant|durant|au cours) (?:le|du|de l'|l')\s?(?:sejour|hospitalisation)|\bl'hospitalisation\b|\ble sejour\b"
     r"|\ba la sortie\b|\ba l'admission\b|\ba l'arrivee\b|\ba l'entree\b|\bdu dossier\b|\bdans le dossier\b", 1.5),
    (rf"\b(?:{'|'.join(fold(m) for m in MONTHS)})\b|\b20\d\d\b", 1.0),
    (r"\b(?:est|sont|etait|etaient) (?:prevue?s?|programmee?s?)\b", 1.0),  # a scheduled event: this patient's
    (r"\b(?:retrouve|montre|mesure|prescrit|realise|pose|diagnostique|isole|arrete|interrompu|stoppe|supprime"
     r"|remplace|transfuse|perfuse|injecte|implante|mis en evidence)e?s?\b", 0.8),
]

_FOLLOWUP_START = re.compile(r"^\s*(?:et|ainsi que|de meme|pareil|idem|aussi)\b")
_ANAPHORA = re.compile(r"\b(?:sa|son|ses|leur|leurs|celui-ci|celle-ci|ceux-ci|cela|ca|ce traitement|ce medicament"
                       r"|cet examen|ce resultat|il|elle|le meme|la meme|y)\b")
_OTHER_PATIENT = re.compile(r"\b(?:patient|patiente|dossier)\s+(?:n[°o]\s*)?([A-Z]{1,3}\d{2,})\b|\b(P\d{3,})\b")
_STAY = re.compile(r"\bs[ée]jour\s+(S\d+)\b|\b(S\d+)\b")


@dataclass
class Route:
    """A routing decision with its evidence."""

    intent: str
    confidence: float
    cues: list[str] = field(default_factory=list)
    #: for questions: "patient", "procedures" or "ambiguous" (the retrieve node may compare both)
    scope: str = "patient"
    #: patient identifiers mentioned in the message (never used to change scope; flagged)
    mentioned_patients: list[str] = field(default_factory=list)
    stay_id: str | None = None
    #: weights of the generic (procedure) and specific (patient) cues found
    proc_score: float = 0.0
    patient_score: float = 0.0


def _score(text: str, cues: list[tuple[str, float]]) -> tuple[float, list[str]]:
    total, hits = 0.0, []
    for pattern, weight in cues:
        found = re.findall(pattern, text)
        if found:
            total += weight
            hits.append(found[0] if isinstance(found[0], str) else " ".join(found[0]))
    return total, hits


def mentioned_patients(message: str) -> list[str]:
    """Patient identifiers written in a message (``P003``, ``patient P003``)."""
    out = []
    for m in _OTHER_PATIENT.finditer(message or ""):
        pid = m.group(1) or m.group(2)
        if pid and pid not in out:
            out.append(pid)
    return out


def route(message: str) -> Route:
    """Classify one user message (see module docstring)."""
    f = fold(message).strip()
    is_question = bool(_QUESTION_START.search(f)) or f.endswith("?")
    request = re.search(_REQUEST, f)
    if request and is_question and request.start() > 25 and not re.search(
            r"peux[- ]tu|pourrais[- ]tu|pouvez[- ]vous|je (?:voudrais|veux|souhaite)|j'aimerais|merci de", f):
        request = None  # "que faut-il écrire dans ... ?" asks about a rule, it does not request a letter
    starts_with_noun = re.match(r"^\s*(?:une?\s+|la\s+|le\s+)?(?:convocation|lettre|courrier|compte[- ]rendu|crh|synthese"
                                r"|resume|codage|codes?|cim)", f)
    wants_output = bool(request) or bool(starts_with_noun) or not is_question
    mentioned = mentioned_patients(message)
    stay = next((g for m in _STAY.finditer(message or "") for g in m.groups() if g), None)

    proc, proc_cues = _score(f, _PROC_CUES)
    pat, pat_cues = _score(f, _PATIENT_CUES)

    def make(intent: str, conf: float, cues: list[str], scope: str = "patient") -> Route:
        return Route(intent=intent, confidence=conf, cues=cues, scope=scope, mentioned_patients=mentioned, stay_id=stay,
                     proc_score=proc, patient_score=pat)

    req_cue = [request.group(0)] if request else []
    m = _DISCHARGE.search(f)
    if m and wants_output:
        return make("draft_discharge", 0.9, [m.group(0), *req_cue])
    m = _APPOINTMENT.search(f)
    if m and (wants_output or m.group(0).startswith("convoqu")):
        return make("draft_appointment", 0.9, [m.group(0), *req_cue])
    m = _SUMMARY.search(f)
    if m and wants_output:
        return make("draft_summary", 0.85, [m.group(0), *req_cue])
    m = _CODE.search(f)
    if m and (wants_output or re.search(r"\bcim|\bcodage|\bcoder\b|\bdas\b|\bghm\b", f)):
        # "Comment code-t-on ..." / "Dans quel cas code-t-on ..." are questions about coding rules
        if not re.search(r"\bcode-t-on\b|\bcomment coder\b|\bpeut-on coder\b|\bregles? de codage\b", f):
            return make("code", 0.85, [m.group(0), *req_cue])

    if proc >= 1.5 and proc > pat + 0.5:
        return make("procedure_question", min(0.9, 0.5 + 0.1 * (proc - pat)), proc_cues, "procedures")
    if (proc > 0 and proc >= pat - 0.5) or pat == 0:
        return make("question", 0.5, proc_cues + pat_cues, "ambiguous")
    return make("question", 0.8 if pat else 0.6, pat_cues, "patient")


_SMALL_TALK_WORDS = {
    "bonjour", "bonsoir", "salut", "hello", "hi", "coucou", "allo", "hey", "merci", "beaucoup", "bien", "ok", "okay",
    "d'accord", "daccord", "super", "parfait", "top", "cool", "aide", "help", "aidez-moi", "test", "essai", "oui",
    "non", "ca", "va", "comment", "vas", "allez-vous", "tu", "vous", "a", "bientot", "au", "revoir", "bonne",
    "journee", "soiree", "madame", "monsieur", "docteur", "medassist", "qui", "es", "etes", "quoi", "faire", "peux",
    "pouvez", "que", "sais", "savez", "sais-tu", "savez-vous", "peux-tu", "pouvez-vous", "vas-tu", "es-tu",
    "etes-vous", "ca va", "rien",
}


def is_small_talk(message: str) -> bool:
    """A message with nothing to search: no letter or digit ("???"), or only greetings, thanks or a
    request for help ("Bonjour", "merci !", "aide", "que sais-tu faire ?").

    >>> [is_small_talk(m) for m in ("Bonjour", "???", "Merci beaucoup !", "Bonjour, quelle est la FEVG ?")]
    [True, True, True, False]
    """
    f = fold(message or "").strip()
    words = re.findall(r"[a-z0-9]+(?:['-][a-z0-9]+)*", f)
    if not words:
        return True
    return len(words) <= 6 and all(w in _SMALL_TALK_WORDS for w in words)


_CIVILITY = re.compile(r"(?<![\w.])(?:M\.|Mr\.?|Mme\.?|Mlle\.?|Madame|Monsieur|Mademoiselle)\s+"
                       r"([A-ZÀ-Ý][\w'’-]+(?:\s+[A-ZÀ-Ý][\w'’-]+)?)")


def named_people(message: str) -> list[str]:
    """People named with a civility in a message ("la kaliémie de Mme Dupont" → ``["Mme Dupont"]``).

    >>> named_people("Quelle est la kaliémie de Mme Dupont ?"), named_people("Avis du Dr Martin ?")
    (['Mme Dupont'], [])
    """
    out = []
    for m in _CIVILITY.finditer(message or ""):
        name = " ".join(m.group(0).split())
        if name not in out:
            out.append(name)
    return out


def is_followup(message: str) -> bool:
    """A short message that only makes sense with the previous question ("et sa posologie ?")."""
    f = fold(message).strip()
    n = len(re.findall(r"\w+", f))
    if _FOLLOWUP_START.match(f) and n <= 10:
        return True
    if n <= 4 and (_ANAPHORA.search(f) or f.rstrip(" ?") in {"pourquoi", "depuis quand", "jusqu'a quand",
                                                                "a quelle dose", "quelle dose", "combien",
                                                                "quand", "ou", "par qui", "et apres"}):
        return True
    return False


def rewrite_followup(message: str, last_question: str | None) -> str:
    """Resolve a follow-up against the previous question of the same thread (deterministic)."""
    if not last_question or not is_followup(message):
        return message.strip()
    core = re.sub(r"^\s*(?:et|ainsi que|de m[êe]me|aussi)\s+", "", message.strip(), flags=re.I)
    previous = re.sub(r"\s*\(suite de : .*\)\s*$", "", last_question.strip())
    return f"{core} (suite de : {previous})"
