"""French clinical paraphrase lexicon used to match questions with report wording.

Clinicians ask "quel diurétique de l'anse", the report says "FUROSÉMIDE"; they ask about a
"caillot", the CT report says "embolie". Dense retrieval bridges part of this gap; the extractive
composer, which picks the *sentence* to show, needs it explicitly. Two sources:

* :data:`knowledge.drugs.DRUG_CLASSES`: French drug-class names mapped to ATC prefixes; members are
  read from the ATC table shipped with edsnlp (see :mod:`knowledge.drugs`), so no drug list is
  maintained here;
* :data:`SYNONYMS`: groups of equivalent wordings (abbreviations, lay terms, specialties).

Example::

    >>> exp = expansions("Quel diurétique de l'anse a été augmenté ?")
    >>> "furosemide" in exp
    True
    >>> "fevg" in expansions("Quelle fraction d'éjection ?")
    True

Limits: groups are generic medical vocabulary, but they were written while reading the failures of
the dev QA set, so the dev-set score over-estimates performance on unseen phrasings. A class
name not listed here simply gets no expansion (the sentence then has to share words with the
question).
"""

from __future__ import annotations

import re
from functools import lru_cache

from knowledge.drugs import DRUG_CLASSES, drug_class_members
from knowledge.french import fold

__all__ = ["SYNONYMS", "expansion_groups", "expansions"]

#: Groups of equivalent wordings (folded). Any member in the question adds all members.
SYNONYMS: list[tuple[str, ...]] = [
    ("fraction d'ejection", "fevg"),
    ("echographie cardiaque", "echocardiographie", "ett", "echo cardiaque"),
    ("echographie", "echographique", "echocardiographie", "echo"),
    ("caillot", "embolie", "thrombus", "thrombose", "thrombi"),
    ("phlebite", "thrombose veineuse profonde", "tvp"),
    ("saignement", "hemorragie", "hemorragique", "hematome", "hemorragiques"),
    ("infection pulmonaire", "pneumopathie", "foyer", "pneumonie"),
    ("famille", "familial", "familiaux", "familiale", "apparentes", "parents", "hereditaire", "pere", "mere",
     "frere", "soeur", "fratrie", "oncle", "tante", "grand-mere", "grand-pere"),
    ("rendez-vous", "rdv", "consultation", "revoir", "revu", "convocation", "controle", "voit", "voir", "revoit"),
    ("revenu", "revenue", "rendu", "rendue", "resultat", "resultats", "recu", "recus", "retour"),
    ("premiere cure", "c1", "c1j1", "cure 1", "premier cycle", "cycle 1"),
    ("deuxieme cure", "seconde cure", "c2", "c2j1", "cure 2", "deuxieme cycle", "cycle 2"),
    ("troisieme cure", "c3", "c3j1", "cure 3", "troisieme cycle", "cycle 3"),
    ("quatrieme cure", "c4", "c4j1", "cure 4", "quatrieme cycle", "cycle 4"),
    ("reunion pluridisciplinaire", "reunion de concertation pluridisciplinaire", "rcp", "concertation"),
    ("pas encore revenu", "pas encore rendu", "pas encore disponible", "en attente", "a recuperer", "restait",
     "attendu", "pas revenu", "manquaient", "pas definitif", "resultats en attente"),
    ("culots globulaires", "cgr", "concentres de globules rouges", "transfusion", "transfuse"),
    ("kaliemie", "potassium", "k+"),
    ("natremie", "sodium", "na+"),
    ("fonction renale", "dfg", "creatinine", "clairance", "debit de filtration"),
    ("hemoglobine", "hb"),
    ("neutrophiles", "pnn", "polynucleaires neutrophiles"),
    ("indice de masse corporelle", "imc"),
    ("test cognitif", "mmse", "moca", "cognitif"),
    ("score de depression", "madrs", "hdrs", "depression"),
    ("trouble du rythme", "fibrillation", "flutter", "tachycardie", "arythmie"),
    ("shunt droit-gauche", "foramen ovale permeable", "fop"),
    ("avale", "deglutition", "dysphagie", "fausse route"),
    ("tumeur maligne du foie", "carcinome hepatocellulaire", "chc"),
    ("bacterie multiresistante", "bmr", "blse", "sarm", "bhre", "multiresistante"),
    ("examen des urines", "ecbu", "urines", "uroculture"),
    ("bacterie dans le sang", "hemocultures", "bacteriemie", "dans le sang"),
    ("scanner", "tdm", "tomodensitometrie", "angioscanner", "scanographie"),
    ("radiographie", "radio", "cliche"),
    ("imagerie encephalique", "irm cerebrale", "scanner cerebral", "cerebral", "cerebrale", "encephalique"),
    ("glandes surrenales", "surrenalien", "surrenalienne", "surrenale"),
    ("dissemination peritoneale", "carcinose"),
    ("analyse histologique", "anatomopathologique", "anatomopathologie", "histologie", "histologique", "anapath"),
    ("analyse genetique", "genetique", "oncogenetique", "brca"),
    ("abord veineux", "veine", "voie veineuse"),
    ("interrompu", "arrete", "arretee", "arret", "stoppe", "supprime", "supprimee", "suspendu", "suspendue",
     "interrompue", "interruption"),
    ("remplace", "relais", "switch", "substitue"),
    ("pilule", "contraception", "contraceptif", "contraceptive", "oestroprogestatif", "oestroprogestative",
     "estroprogestatif", "estroprogestative", "ethinylestradiol", "levonorgestrel", "desogestrel"),
    ("adapte", "adaptee", "modifie", "modifiee", "majore", "majoree", "majoration", "augmente", "augmentee",
     "diminue", "diminuee", "reduit", "reduite", "ajuste", "ajustee"),
    ("allergie", "allergique", "allergies", "intolerance", "anaphylaxie"),
    ("trouble du sommeil", "apnees du sommeil", "saos", "polygraphie", "polysomnographie"),
    ("chute tensionnelle", "hypotension orthostatique", "orthostatique", "position debout"),
    ("mecanisme de resistance", "blse", "beta-lactamase", "betalactamase", "carbapenemase"),
    ("calcul", "lithiase", "lithiasique"),
    ("choledoque", "voie biliaire principale", "vbp"),
    ("sepsis", "choc septique", "septique"),
    ("confus", "confusion", "confusionnel"),
    ("alcool", "ethylique", "oh", "audit-c"),
    ("tabac", "tabagisme", "paquets-annees"),
    ("intervention", "operation", "chirurgie", "geste", "operatoire"),
    ("implant", "prothese", "tige", "cupule"),
    ("thrombus ventriculaire", "thrombus intra-vg"),
    ("stade", "tnm", "classification"),
    ("surveillance nocturne", "nuit", "surveillance horaire"),
    ("passage a l'acte", "tentative de suicide", "idees suicidaires", "scenario"),
    ("securite", "delivrance fractionnee", "fractionnee"),
    ("effet indesirable", "tolerance", "nausees", "effets secondaires"),
    ("infarctus", "idm", "sca", "syndrome coronarien"),
    ("avc", "accident vasculaire cerebral", "vasculaire cerebral"),
    ("coronariens", "coronarien", "idm", "infarctus", "coronaropathie"),
    ("varices", "varices oesophagiennes", "vo"),
    ("ascite", "liquide d'ascite"),
    ("isolement", "precautions complementaires"),
    ("taille", "mm", "cm", "dimensions"),
    ("poursuivi", "poursuivre", "jusqu'au", "duree"),
    ("posologie", "dose", "dosage", "mg"),
    ("sortie", "traitement de sortie", "ordonnance de sortie"),
]


@lru_cache(maxsize=4096)
def expansion_groups(question: str) -> tuple[tuple[frozenset[str], frozenset[str]], ...]:
    """``(question stems covered, equivalent folded phrases)`` for each class/synonym the question names.

    A sentence containing one of the phrases covers the question words that named the class:
    "diurétique de l'anse" is covered by a sentence saying "FUROSÉMIDE".
    """
    from agents.text import terms

    f = fold(question)
    out = []
    for pattern, prefixes in DRUG_CLASSES.items():
        m = re.search(pattern, f)
        if m:
            out.append((frozenset(terms(m.group(0))), drug_class_members(prefixes)))
    for group in SYNONYMS:
        named = [g for g in group if _contains(f, g)]
        if named:
            out.append((frozenset(t for g in named for t in terms(g)), frozenset(g.strip() for g in group)))
    return tuple(out)


@lru_cache(maxsize=4096)
def expansions(question: str) -> frozenset[str]:
    """Folded words/phrases equivalent to parts of ``question`` (drug-class members, synonyms)."""
    return frozenset(p for _, members in expansion_groups(question) for p in members)


def _contains(folded_text: str, phrase: str) -> bool:
    phrase = phrase.strip()
    return re.search(r"(?<![a-z0-9])" + re.escape(phrase) + r"(?![a-z0-9])", folded_text) is not None
