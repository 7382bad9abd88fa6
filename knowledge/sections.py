"""One section model for French clinical documents: canonical sections, their headings, a splitter.

Why: a clinical report is read by section ("Antécédents", "Traitement de sortie", "Conclusion"…).
The chunker must not mix two sections in one passage, the discharge letter must quote the exit
treatment and not the entry one, the coder must know that a diagnosis sits under "Antécédents
familiaux", the agent shows the heading above a quoted sentence. They all read the same headings,
so the headings are listed once, here, as data (:data:`SECTIONS`: display name -> folded
synonyms and abbreviations such as ``ATCD``, ``HDM``, ``TTT``), and recognised by one function.

Heading forms recognised by :func:`parse_heading` (one line, without its end of line):

* alone on the line (shorter than 80 characters): ``CONCLUSION``, ``Conclusion :``, ``## Évolution``,
  ``**Allergies**``, ``1. Antécédents``, ``II - Évolution``, ``Évolution dans le service`` (a known
  name followed by at most two words);
* followed by its content: ``Motif : dyspnée`` — :attr:`Heading.body` is the split point, so the
  section's text starts at ``dyspnée``. Only exact names count here, and sub-labels that also
  appear *inside* sections (:data:`SUB_LABELS`: "Biologie : …", "Mode de vie : …") count only
  when alone on their line, else they would cut a Conclusion in two.

:func:`split_sections` cuts a whole text with exact offsets, in one of two styles:

* ``"report"`` (default): a report laid out in lines — the forms above, plus a heading that PDF
  extraction glued at the end of the previous line ("… le matin Traitements arrêtés ou modifiés");
* ``"paragraph"``: a one-paragraph synthesis ("Motif : dyspnée. ATCD : HTA. Au total : OAP.") —
  a known title may open any sentence, sub-labels included, and any other short "Titre :" opening
  a sentence closes the current section (which then has no name).

Example::

    >>> heading_name("CONCLUSION :"), heading_name("## Traitement de sortie"), heading_name("II - Evolution")
    ('Conclusion', 'Traitement de sortie', 'Évolution')
    >>> h = parse_heading("Motif : dyspnée d'effort")
    >>> h.name, "Motif : dyspnée d'effort"[h.body:]
    ('Motif', "dyspnée d'effort")
    >>> text = "Patient de 80 ans.\\nATCD :\\n- HTA\\nCONCLUSION : OAP.\\n"
    >>> [(s.name, text[s.start:s.end]) for s in split_sections(text)]
    [(None, 'Patient de 80 ans.\\n'), ('Antécédents', '- HTA\\n'), ('Conclusion', 'OAP.\\n')]
    >>> t = "Motif : dyspnée. ATCD : HTA. Angioscanner : normal. Au total : OAP."
    >>> [(s.name, t[s.start:s.end]) for s in split_sections(t, style="paragraph")]
    [('Motif', ' dyspnée. '), ('Antécédents', ' HTA. '), (None, ' normal. '), ('Conclusion', ' OAP.')]

Limits: only the headings listed in :data:`SECTIONS` are recognised (an unknown title such as
"ÉCHOGRAPHIE CARDIAQUE" stays inside the previous section; :func:`heading_title` tells that a line
*looks* like a heading, without naming it); a line of 80 characters or more is not a heading alone; a
heading written as plain prose ("Le patient sort avec le traitement suivant") is not seen; the
synonyms were collected on this project's corpus and common French usage, not from a terminology.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from knowledge.french import fold, fold_chars

__all__ = [
    "HEADINGS",
    "NOT_HEADINGS",
    "PARAGRAPH_ONLY",
    "SECTIONS",
    "POSITIONAL",
    "SUB_LABELS",
    "Heading",
    "Section",
    "heading_name",
    "heading_title",
    "line_spans",
    "numbered_sections",
    "parse_heading",
    "section_key",
    "split_sections",
]

#: Canonical sections: display name -> headings as written, folded (:func:`knowledge.french.fold`).
SECTIONS: dict[str, tuple[str, ...]] = {
    "Motif d'hospitalisation": ("motif d'hospitalisation", "motif de l'hospitalisation", "motif d'admission",
                                "motif d'entree", "motif de venue", "motif du sejour", "motif de prise en charge",
                                "motif de l'admission", "raison de l'hospitalisation", "motif de recours",
                                "motif de transfert"),
    "Motif de consultation": ("motif de consultation",),
    "Motif": ("motif",),
    "Antécédents": ("antecedents", "antecedent", "atcd", "atcds", "antecedents personnels", "antecedents medicaux",
                    "antecedents chirurgicaux", "antecedents medico-chirurgicaux",
                    "antecedents medicaux et chirurgicaux", "atcd personnels", "terrain", "antecedents et terrain",
                    "atcd et terrain", "antecedents et comorbidites", "comorbidites", "antecedents notables"),
    "Antécédents familiaux": ("antecedents familiaux", "atcd familiaux"),
    "Facteurs de risque": ("facteurs de risque", "facteur de risque", "facteurs de risques", "frcv",
                           "facteurs de risque cardiovasculaire", "facteurs de risque cardio-vasculaire"),
    "Allergies": ("allergies", "allergie"),
    "Mode de vie": ("mode de vie", "habitus", "contexte social"),
    "Traitement à l'entrée": ("traitement a l'entree", "traitements a l'entree", "traitement a l'admission",
                              "traitement habituel", "traitements habituels", "ttt habituel",
                              "traitement avant l'entree", "traitements avant l'entree",
                              "traitement avant l'hospitalisation", "traitement anterieur", "traitement personnel",
                              "ttt a l'entree", "medicaments a l'entree", "traitement de ville",
                              "traitement habituel a l'entree"),
    "Traitement en cours": ("traitement en cours", "traitements en cours", "traitement actuel", "traitement de fond"),
    "Traitement": ("traitement", "traitements", "medicaments"),
    "Histoire de la maladie": ("histoire de la maladie", "hdm", "anamnese", "histoire", "histoire clinique",
                               "histoire recente", "hma", "histoire de la maladie actuelle"),
    "Examen clinique": ("examen clinique", "examen", "a l'entree", "examen a l'admission", "examen d'entree",
                        "examen a l'entree", "examen physique", "clinique"),
    "Examens complémentaires": ("examens complementaires", "examen complementaire", "examens", "bilan paraclinique",
                                "paraclinique", "examens paracliniques", "resultats marquants", "bilan"),
    "Biologie": ("biologie",),
    "Imagerie": ("imagerie",),
    "Évolution": ("evolution", "evolution dans le service", "evolution au cours du sejour", "depuis la sortie",
                  "evolution depuis la sortie", "deroulement", "deroulement du sejour",
                  "deroulement de l'hospitalisation", "evolution par probleme", "evolution par problemes",
                  "suites operatoires", "suites post-operatoires", "evolution clinique", "au cours du sejour",
                  "prise en charge", "prise en charge et evolution", "evolution et prise en charge"),
    "Conclusion": ("conclusion", "conclusions", "synthese", "synthese medicale", "synthese du sejour", "au total",
                   "en conclusion", "conclusion de sortie", "conclusion medicale", "conclusion et conduite a tenir",
                   "en resume", "resume", "synthese diagnostique", "conclusion du sejour", "en synthese",
                   "resume du sejour"),
    "Diagnostic": ("diagnostic", "diagnostics", "diagnostic de sortie", "diagnostics de sortie", "diagnostic retenu",
                   "diagnostics retenus", "diagnostic final", "diagnostic principal", "diagnostics associes",
                   "diagnostics a la sortie", "diagnostic a la sortie"),
    "Traitement de sortie": ("traitement de sortie", "traitements de sortie", "ttt de sortie",
                             "traitement a la sortie", "traitements a la sortie", "ordonnance de sortie",
                             "prescriptions de sortie", "prescription de sortie", "prescription a la sortie",
                             "medicaments de sortie", "medicaments a la sortie", "traitement de sortie propose",
                             "ttt a la sortie", "traitement a poursuivre", "traitement au retour a domicile",
                             "traitement medical de sortie"),
    "Traitements arrêtés ou modifiés": ("traitements arretes ou modifies", "modifications du traitement",
                                        "modifications de traitement", "modification du traitement",
                                        "modification de traitement", "modifications",
                                        "medicaments arretes ou modifies", "traitements arretes", "traitement arrete",
                                        "traitements modifies", "medicaments arretes", "medicaments modifies",
                                        "arrets", "arrets de traitement", "changements de traitement",
                                        "changements therapeutiques", "adaptations therapeutiques",
                                        "adaptation du traitement", "adaptations du traitement",
                                        "traitements suspendus", "medicaments suspendus", "traitements interrompus",
                                        "medicaments interrompus"),
    "Modifications thérapeutiques": ("modifications therapeutiques", "modification therapeutique"),
    "Résultats en attente": ("resultats en attente", "resultats non encore disponibles", "resultats attendus",
                             "resultat attendu", "resultats a venir", "resultats a recuperer", "examens en attente",
                             "examen en attente", "examens a recuperer", "bilan en attente", "analyses en attente",
                             "attendu", "en attente", "resultats en cours", "examens en cours",
                             "en attente de resultats", "resultat en attente"),
    "Suivi": ("suivi", "rendez-vous", "projet de soins", "suites a donner", "prochaine cure", "prochain rendez-vous",
              "conduite a tenir", "suivi propose", "suivi prevu", "suites", "suite de la prise en charge",
              "suite a donner", "devenir", "prise en charge ulterieure", "modalites de suivi", "plan de suivi",
              "surveillance", "organisation de la sortie", "organisation du suivi", "rendez-vous prevus", "rdv",
              "rendez-vous de suivi", "a prevoir", "projet", "projet therapeutique", "cat",
              "organisation de la suite", "la suite", "suite", "programme", "programme de suivi", "apres la sortie"),
    "Consignes de sortie": ("consignes de sortie", "support et consignes", "consignes", "consignes post-operatoires",
                            "recommandations", "conseils de sortie", "conseils", "consignes au patient",
                            "recommandations de sortie"),
    "Proposition": ("proposition", "proposition de la rcp"),
    "Décision": ("decision",),
    "Prescription": ("prescription",),
    "Ordonnance": ("ordonnance",),
    "Compte rendu": ("compte rendu",),
    "Indication": ("indication",),
    "Technique": ("technique",),
    "Résultats": ("resultats", "resultats recuperes"),
    "Interprétation": ("interpretation",),
    "Transmissions": ("transmissions",),
    "Soins infirmiers": ("soins infirmiers",),
    "Tolérance": ("tolerance", "tolerance de la seance"),
    "Prémédication": ("premedication",),
    "Traitements administrés": ("traitements administres", "chimiotherapie administree"),
    "Événements indésirables": ("evenements indesirables",),
    "Incidents": ("incidents", "incidents peroperatoires", "complications peroperatoires", "complications"),
    "Paramètres avant la cure": ("parametres avant la cure", "evaluation avant la cure"),
    "Dispositif implanté": ("dispositif implante", "materiel implante", "implants poses"),
    "Ne pas prendre": ("ne pas prendre",),
    "Information du patient": ("information du patient", "information de la patiente"),
    "Commentaire": ("commentaire", "commentaire du biologiste"),
    "Protocole": ("protocole",),
    "Intervention": ("intervention",),
    "Bilan d'extension": ("bilan d'extension",),
    "Présentation du dossier": ("presentation du dossier",),
    "Renseignements cliniques": ("renseignements cliniques",),
    "Constatations": ("constatations",),
    "Description": ("description",),
    "Examens transmis": ("examens transmis", "examen transmis", "examens transmis a un laboratoire exterieur"),
}

#: Every known heading, folded -> display name.
HEADINGS: dict[str, str] = {key: name for name, keys in SECTIONS.items() for key in keys}

#: Labels that also open a line *inside* a section ("Biologie : …" in a Conclusion, "Mode de vie : …"
#: in the Antécédents): a heading only when alone on their line (or in a one-paragraph synthesis).
SUB_LABELS = frozenset({
    "mode de vie", "habitus", "contexte social", "biologie", "imagerie", "technique", "resultats", "interpretation",
    "compte rendu", "proposition", "decision", "indication", "dispositif implante", "materiel implante",
    "evenements indesirables", "diagnostic principal", "diagnostics associes", "diagnostic", "diagnostics",
    "antecedents familiaux", "atcd familiaux", "incidents", "complications", "description", "commentaire", "protocole",
    "intervention", "consignes", "ordonnance", "antecedents personnels", "prescription", "transmissions", "atcd",
    "atcds", "antecedent", "atcd personnels", "antecedents medicaux", "antecedents chirurgicaux",
    "antecedents medico-chirurgicaux", "antecedents medicaux et chirurgicaux",
    "hdm", "ttt habituel", "ttt de sortie", "diagnostic retenu", "diagnostic de sortie", "diagnostics de sortie",
    "diagnostic final", "facteurs de risque", "facteur de risque",
    "facteurs de risques", "frcv", "facteurs de risque cardiovasculaire", "facteurs de risque cardio-vasculaire",
    # vague words that open a line inside a section as often as they title one
    "terrain", "histoire", "clinique", "examens", "bilan", "resume", "deroulement", "suites", "modifications", "arrets",
    "attendu", "en attente", "surveillance", "devenir", "projet", "recommandations", "conseils", "prise en charge",
    "rdv", "cat", "comorbidites", "a prevoir", "paraclinique", "la suite", "suite", "programme",
})

#: Headings whose meaning depends on their place: before the report's conclusion, diagnosis or exit
#: treatment « Suites » tells what happened (suites opératoires), after them what is to follow.
POSITIONAL: dict[str, tuple[str, str]] = {"suites": ("Évolution", "Suivi")}
#: Sections after which a positional heading takes its second meaning.
_CLOSING = frozenset({"Conclusion", "Diagnostic", "Traitement de sortie"})

#: Titles recognised only in a one-paragraph synthesis ("À l'entrée : TA 150/90, …"): too vague
#: in a report laid out in lines.
PARAGRAPH_ONLY = frozenset({"a l'entree"})

#: Labels never taken for a heading on a line of a report: they list diagnoses inside a Conclusion.
NOT_HEADINGS = ("diagnostic principal", "diagnostics associes", "diagnostic associe", "diagnostics secondaires",
                "diagnostic secondaire", "diagnostics retenus")

#: Generic words that may end a sentence: not taken for a heading glued at the end of a line.
_NOT_TRAILING = SUB_LABELS | {"examen", "traitement", "traitements", "motif", "allergie", "medicaments", "tolerance",
                              "rendez-vous", "synthese", "premedication", "conclusions", "antecedent", "au total",
                              "en conclusion", "anamnese", "a l'entree", "consignes"}

_MAX_LINE = 80
_LIST_ITEM = re.compile(r"^[ \t]*[-•*–▪◦][ \t]+")  # "- Allergies : aucune" is a list item, not a heading
_NUMBERED = re.compile(r"^[ \t]*(?:\d{1,2}|[IVX]{1,5})[ \t]*(?:[.)/]|[ \t]-)[ \t]*(?=\S)")
_MARKS = re.compile(r"\s*(?:#{1,6}\s*)?(?:\*\*|__)?\s*")  # used with match(line, pos): no "^"
_ALONE = re.compile(r"^(?P<name>[^\n:*_]{2,60}?)\s*(?:\*\*|__)?\s*:?\s*(?:\*\*|__)?\s*$")
_TABLE_ROW = re.compile(r"^(?P<name>[A-Za-zÀ-ÿ'’ -]{3,45}?)\s*\|\s*(?P<rest>\S.*)$")
_WITH_BODY = re.compile(r"^(?P<name>[A-Za-zÀ-ÿ'’ -]{3,45}?)\s*(?:\*\*|__)?\s*:\s*(?:\*\*|__)?\s*(?P<rest>\S.*)$")


def section_key(title: str) -> str:
    """The lookup key of a heading as written: folded, without marks or a final colon.

    >>> section_key("  **TRAITEMENT À L’ENTRÉE :** ")
    "traitement a l'entree"
    """
    return fold(title).strip(" :-#*_")


_PAREN_END = re.compile(r"\s*\([^()]*\)$")


#: Key words that name a heading that is not in :data:`SECTIONS` (« Traitement Proposé au Domicile »,
#: « 8. Ce qui a été arrêté », « Examens à récupérer : »), tried in order on the folded title: each
#: hospital names its sections its own way, but with the same few words.
_KEYWORD_NAMES: tuple[tuple[re.Pattern, str], ...] = (
    (re.compile(r"arret|stopp|suspen|interromp|(?<!medicaments )modifi|\bchange|adaptation"),
     "Traitements arrêtés ou modifiés"),
    # parts of a discharge treatment split by status: « Nouveaux médicaments », « Médicaments inchangés /
    # modifiés »: the treatment taken at home (the changes are also read from them)
    (re.compile(r"(?:traitement|medicament|\bttt\b)s?.*(?:nouveau|inchange|poursuivi|modifie)"
                r"|nouveaux? (?:traitement|medicament)"), "Traitement de sortie"),
    (re.compile(r"(?:traitement|therapeutique|medicament|\bttt\b|ordonnance)"
                r".*(?:habituel|long cours|entree|anterieur|avant|personnel|de fond)"),
     "Traitement à l'entrée"),
    (re.compile(r"(?:traitement|therapeutique|medicament|\bttt\b|ordonnance|prescription)"
                r".*(?:sortie|domicile|maison|retour|propose|poursuiv|prescrit)"), "Traitement de sortie"),
    (re.compile(r"attente|a recuperer|a venir|attend|non (?:encore )?(?:disponible|rendu|parvenu)|a suivre"),
     "Résultats en attente"),
    (re.compile(r"rendez-vous|\brdv\b|suivi|surveillance|\bsuites?\b|devenir|a prevoir|organisation|consultations"
                r"|controles|ensuite|et apres|apres la sortie"), "Suivi"),
    (re.compile(r"\bmotif|\braison|pourquoi"), "Motif d'hospitalisation"),
    (re.compile(r"synthese|conclusion|resume|au total|bilan du sejour|diagnostic"), "Conclusion"),
    (re.compile(r"antecedent|terrain|\batcd"), "Antécédents"),
    (re.compile(r"allergi"), "Allergies"),
    (re.compile(r"evolution|deroulement|au cours du sejour|s'est.{0,4}passe"), "Évolution"),
)


def _keyword_name(title: str) -> str | None:
    key = section_key(_NUMBERED.sub("", title))
    return next((name for pat, name in _KEYWORD_NAMES if pat.search(key)), None)


def _title_like(text: str, marked: bool) -> bool:
    """A line that reads as a title: short, no digit, no final punctuation, and marked as a title
    (numbered, markdown, bold, final colon) or written in capitals or Title Case."""
    t = text.strip().rstrip(":").strip()
    words = t.split()
    if not t or not t[0].isupper() or len(t) > 60 or len(words) > 7 or any(ch.isdigit() for ch in t) \
            or t.endswith((".", ";", ",", "!")) or (t.endswith("?") and len(words) > 6):
        return False  # a short question is a heading too: « Pourquoi ce séjour ? »
    long_words = [w for w in words if len(w) >= 4]
    return marked or text.strip().endswith((":", "?")) or t.isupper() or (
        bool(long_words) and sum(w[0].isupper() for w in long_words) >= max(2, len(long_words) - 1))


@lru_cache(maxsize=8192)
def _lookup(key: str, paragraph: bool = False) -> str | None:
    """Display name of a folded heading: exact, or a known name followed by at most two words
    ("conclusion de sortie", "evolution clinique"); a final parenthesis is ignored
    ("medicaments (3 mois)")."""
    key = _PAREN_END.sub("", key) or key
    if key in HEADINGS and (paragraph or key not in PARAGRAPH_ONLY):
        return HEADINGS[key]
    n_words = len(key.split())
    best = None
    for k, name in HEADINGS.items():
        if k in PARAGRAPH_ONLY and not paragraph:
            continue
        if len(k) > 4 and key.startswith(k + " ") and n_words <= len(k.split()) + 2:
            if best is None or len(k) > len(best[0]):
                best = (k, name)
    if best:
        kw = _keyword_name(key)  # « Bilan à récupérer » is pending results, not « Bilan » + two words
        return kw if kw in _LIST_SECTIONS or kw == "Traitement à l'entrée" else best[1]
    return None


@dataclass(frozen=True)
class Heading:
    """A heading found on one line: canonical ``name``, ``title`` as written, ``body`` = offset in the
    line where the section's content starts (the line's length when the heading is alone)."""

    name: str
    title: str
    body: int
    inline: bool


def parse_heading(line: str, *, inline: bool = True) -> Heading | None:
    """The heading of ``line`` (one line, without its end of line), or None.

    ``inline=False`` accepts only headings alone on their line.

    >>> parse_heading("**Évolution dans le service :**").name
    'Évolution'
    >>> parse_heading("1. Antécédents").name, parse_heading("- Allergies : aucune")
    ('Antécédents', None)
    >>> parse_heading("Biologie : Hb 9 g/dl") is None, parse_heading("Biologie :").name
    (True, 'Biologie')
    """
    if not line.strip() or _LIST_ITEM.match(line):
        return None
    num = _NUMBERED.match(line)
    head = num.end() if num else 0
    marks = _MARKS.match(line, head)
    head = marks.end() if marks else head
    rest = line[head:]
    row = _TABLE_ROW.match(rest) if inline and not num else None
    if row:  # a letter laid out as a « Rubrique | Contenu » table: the first cell names the section
        key = section_key(row.group("name"))
        name = HEADINGS.get(key) if key not in PARAGRAPH_ONLY else None
        name = name or _keyword_name(row.group("name"))
        if name and not key.startswith(NOT_HEADINGS):
            return Heading(name, row.group("name").strip(), head + row.start("rest"), True)
        return None
    m = _ALONE.match(rest) if len(line) < _MAX_LINE else None
    if m:
        key = section_key(m.group("name"))
        if key.startswith(NOT_HEADINGS):
            return None
        name = _lookup(key)
        if name is None and _title_like(m.group("name"), marked=bool(num) or line.lstrip().startswith(("#", "**"))):
            name = _keyword_name(m.group("name"))
        if name:
            return Heading(name, m.group("name").strip(), len(line), False)
    if not inline or num:
        return None
    m = _WITH_BODY.match(rest)
    if not m:
        return None
    key = section_key(m.group("name"))
    if key in SUB_LABELS or key in PARAGRAPH_ONLY or key not in HEADINGS or key.startswith(NOT_HEADINGS):
        return None
    return Heading(HEADINGS[key], m.group("name").strip(), head + m.start("rest"), True)


def heading_name(line: str) -> str | None:
    """Canonical section name when ``line`` is a known heading (alone, or followed by its content).

    >>> heading_name("TTT de sortie"), heading_name("Motif : chute"), heading_name("Le patient va bien.")
    ('Traitement de sortie', 'Motif', None)
    """
    h = parse_heading(line)
    return h.name if h else None


def heading_title(line: str) -> str | None:
    """The title of a line that *looks* like a heading, known or not: markdown ``# Titre``, a short
    line ending with a colon, a short upper-case line, or any known heading alone on its line.

    >>> heading_title("## Valves"), heading_title("ÉCHOGRAPHIE CARDIAQUE"), heading_title("Fièvre.")
    ('Valves', 'ÉCHOGRAPHIE CARDIAQUE', None)
    """
    s = line.strip()
    if not s:
        return None
    if s.startswith("#") or (s.endswith(":") and len(s) < _MAX_LINE) or (
            s.isupper() and len(s) < _MAX_LINE and len(s.split()) <= 8):
        return s.strip("#: ").strip()
    h = parse_heading(line, inline=False)
    return h.title.strip("#*_: ").strip() if h else None


# --------------------------------------------------------------------------- splitting
@dataclass(frozen=True)
class Section:
    """One section of a text: ``text[start:end]`` is its content, ``text[heading_start:start]`` its
    heading (empty for the text before the first heading, whose ``name`` is None)."""

    name: str | None
    heading_start: int
    start: int
    end: int
    title: str = ""


def line_spans(text: str, start: int = 0, end: int | None = None) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of each line of ``text[start:end]``, end of line excluded."""
    end = len(text) if end is None else end
    pos = start
    while pos < end:
        nl = text.find("\n", pos, end)
        stop = end if nl < 0 else nl
        yield pos, stop
        pos = stop + 1


_OPEN_ENDS = (":", ",", "(", " de", " du", " des", " la", " le", " les")  # "… traitement de" + "Suivi": not a heading
_TRAILING_KEYS = tuple(sorted((k for k in HEADINGS if len(k) >= 5 and k not in PARAGRAPH_ONLY), key=len,
                              reverse=True))


def _trailing(line: str) -> tuple[str, int] | None:
    """(name, offset) of a heading glued at the end of a line by PDF extraction
    ("… le matin Traitements arrêtés ou modifiés")."""
    stripped = line.rstrip(" :\t\r")
    folded = fold_chars(stripped)
    for key in _TRAILING_KEYS:
        k = len(key)
        if len(folded) <= k + 1 or not folded.endswith(key) or folded[-k - 1] != " " or not stripped[-k].isupper():
            continue
        before = stripped[:-k].rstrip()
        if not before:
            continue
        if before.endswith((".", "!", "?", ";")):  # "… remise à la patiente. Incidents": after a sentence
            return HEADINGS[key], len(stripped) - k
        if key not in _NOT_TRAILING and not before.endswith(_OPEN_ENDS):
            return HEADINGS[key], len(stripped) - k
    return None


#: Sections holding a list that ends at the next heading, even an unknown one.
_LIST_SECTIONS = frozenset({"Traitement de sortie", "Traitements arrêtés ou modifiés", "Résultats en attente", "Suivi",
                            "Allergies", "Modifications thérapeutiques"})
_NUMBERED_LINE = re.compile(r"^[ \t]*(?:#{1,6}[ \t]*)?(?:\d{1,2}|[IVX]{1,5})[ \t]*[.)][ \t]+[A-ZÀ-Ý][^\n.;]{2,58}$")


def _unknown_heading(line: str, numbered_doc: bool) -> str | None:
    """Title of a line that is a heading of a name we do not know (« Examens à prévoir : »,
    « 10. Organisation de la suite » in a numbered report): it ends the list before it."""
    s = line.strip()
    if not s or _LIST_ITEM.match(s) or any(ch.isdigit() for ch in s.lstrip("0123456789IVX#.) \t")):
        return None
    if numbered_doc and _NUMBERED_LINE.match(s):
        return s
    words = len(s.split())
    if (s.endswith(":") and len(s) < 50 and words <= 5) or (s.isupper() and len(s) < 50 and words <= 6) \
            or s.startswith("#"):
        return s
    return None


def _isolated(text: str, spans: list[tuple[int, int]], i: int) -> bool:
    """The line has a blank line (or the text's edge) before and after it."""
    def blank(j: int) -> bool:
        return j < 0 or j >= len(spans) or not text[spans[j][0]:spans[j][1]].strip()

    return blank(i - 1) and blank(i + 1)


def _split_report(text: str, inline: bool) -> list[Section]:
    out: list[Section] = []
    name, title, head, body = None, "", 0, 0
    spans = list(line_spans(text))
    # a report whose known headings are numbered (« 1. Motif », « 2. Antécédents ») numbers all of them
    numbered_doc = sum(1 for s, e in spans if _NUMBERED.match(text[s:e]) and parse_heading(text[s:e])) >= 2
    for i, (s, e) in enumerate(spans):
        line = text[s:e]
        h = parse_heading(line, inline=inline)
        if h is None and _isolated(text, spans, i) and _title_like(line, marked=True) \
                and len(line.strip()) <= 45 and not any(sep in line for sep in (" - ", " – ", ",", " : ", "|")) \
                and (kw := _keyword_name(line)) and kw != name and not _LIST_ITEM.match(line) \
                and not section_key(line).startswith(NOT_HEADINGS):
            # (a letterhead « Service de cardiologie - Consultations » or « Allergie : pénicilline » is not one)
            # a short line alone between blank lines, naming a section in other words (extraction
            # keeps headings of Word, HTML and PDF files as such lines, without their markup)
            h = Heading(kw, line.strip().rstrip(":").strip(), len(line), False)
        if h is None and name in _LIST_SECTIONS and (other := _unknown_heading(line, numbered_doc)):
            out.append(Section(name, head, body, s, title))
            name, title, head, body = _keyword_name(other), other, s, min(e + 1, len(text))
            continue
        if h is None:
            tr = _trailing(line)
            if tr:  # the heading starts inside the line; its content starts on the next line
                out.append(Section(name, head, body, s + tr[1], title))
                name, title, head, body = tr[0], line[tr[1]:].strip(), s + tr[1], min(e + 1, len(text))
            continue
        if s > head or name is not None:
            out.append(Section(name, head, body, s, title))
        name, title, head = h.name, h.title, s
        body = s + h.body if h.inline else min(e + 1, len(text))
    out.append(Section(name, head, body, len(text), title))
    return _place_positional(_merge_rows([sec for sec in out if sec.end > sec.heading_start], text))


def _merge_rows(sections: list[Section], text: str) -> list[Section]:
    """Consecutive table rows naming the same section (« Rendez-vous | … » three times) are one section."""
    out: list[Section] = []
    for sec in sections:
        prev = out[-1] if out else None
        if prev and sec.name and sec.name == prev.name and " | " in text[sec.heading_start:sec.start + 1] \
                and " | " in text[prev.heading_start:prev.start + 1]:
            out[-1] = Section(prev.name, prev.heading_start, prev.start, sec.end, prev.title)
        else:
            out.append(sec)
    return out


def _place_positional(sections: list[Section]) -> list[Section]:
    """Give each :data:`POSITIONAL` heading its meaning from its place (before / after the closing sections)."""
    closed, out = False, []
    for sec in sections:
        meanings = POSITIONAL.get(section_key(sec.title)) if sec.title else None
        if meanings:
            sec = Section(meanings[1] if closed else meanings[0], sec.heading_start, sec.start, sec.end, sec.title)
        closed = closed or sec.name in _CLOSING
        out.append(sec)
    return out


_SENTENCE_TITLE = re.compile(r"(?:^|(?<=[.!?\n]))\s*(?P<title>[^\W\d_][\w'’/+ -]{0,60}?)\s*:(?!\d)")


def _split_paragraph(text: str) -> list[Section]:
    folded = fold_chars(text)
    heads: list[tuple[str | None, int, int, str]] = []  # (name, title start, content start, title)
    for m in _SENTENCE_TITLE.finditer(folded):
        key = section_key(m.group("title"))
        name = _lookup(key, paragraph=True)
        if name is None and (len(key.split()) > 4 or len(m.group("title")) > 36):
            continue
        heads.append((name, m.start("title"), m.end(), text[m.start("title"):m.end("title")]))
    out: list[Section] = []
    if not heads or heads[0][1] > 0:
        out.append(Section(None, 0, 0, heads[0][1] if heads else len(text)))
    for i, (name, a, body, title) in enumerate(heads):
        out.append(Section(name, a, body, heads[i + 1][1] if i + 1 < len(heads) else len(text), title))
    return [sec for sec in out if sec.end > sec.heading_start]


def split_sections(text: str, *, style: Literal["report", "paragraph"] = "report",
                   inline: bool = True) -> list[Section]:
    """Cut ``text`` into consecutive sections with exact offsets (see the module docstring).

    The sections cover the text from its first character to its last, in order; the text before
    the first heading is a section named None. ``inline=False`` (report style) cuts only at
    headings alone on their line.
    """
    return _split_paragraph(text) if style == "paragraph" else _split_report(text, inline)


_NUMBERED_TITLE = re.compile(r"^\s*(?:#{1,6}\s*)?(?P<num>\d{1,2})[.)]\s+(?P<title>[A-ZÀ-Ý][^\n]{2,90})$")


def numbered_sections(text: str) -> list[Section]:
    """Sections of a numbered document such as a hospital procedure ("5. Consignes au patient"),
    whatever their titles; ``name`` is the title as written. Text before the first number is left out.

    >>> t = "Procédure\\n1. Objet\\nDécrire.\\n2. Consignes au patient\\nÀ jeun."
    >>> [(s.name, t[s.start:s.end]) for s in numbered_sections(t)]
    [('Objet', 'Décrire.\\n'), ('Consignes au patient', 'À jeun.')]
    """
    heads = []
    for s, e in line_spans(text):
        m = _NUMBERED_TITLE.match(text[s:e])
        if m and not m.group("title").rstrip().endswith((".", ";", ",", ":")):
            heads.append((s, e, m.group("title").strip()))
    out = []
    for i, (s, e, title) in enumerate(heads):
        stop = heads[i + 1][0] if i + 1 < len(heads) else len(text)
        out.append(Section(title, s, min(e + 1, len(text)), stop, text[s:e].strip()))
    return out
