"""French clinical paraphrase lexicon used to match questions with report wording.

Clinicians ask "quel diurétique de l'anse", the report says "FUROSÉMIDE"; they ask about a
"caillot", the CT report says "embolie". Dense retrieval bridges part of this gap; the extractive
composer, which picks the *sentence* to show, needs it explicitly. Two sources:

* :data:`DRUG_CLASSES`: French drug-class names mapped to ATC prefixes; members are read from the
  ATC table shipped with edsnlp (``edsnlp/resources/drugs.json``: 1,968 ATC codes -> French
  international names and brand names), so no drug list is maintained here;
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

import json
import re
from functools import lru_cache
from importlib import util as importlib_util
from pathlib import Path

from agents.text import fold

#: French class name (folded regex) -> ATC prefixes.
DRUG_CLASSES: dict[str, tuple[str, ...]] = {
    r"diuretiques? de l'anse": ("C03C",),
    r"diuretiques? thiazidiques?|thiazidiques?": ("C03A", "C03E"),
    r"diuretiques? epargneurs? de potassium|antialdosterones?|anti-aldosterone": ("C03D",),
    r"diuretiques?": ("C03",),
    r"inhibiteurs? de l'enzyme de conversion|\biec\b": ("C09A", "C09B"),
    r"sartans?|antagonistes? de l'angiotensine|\bara ?2\b": ("C09C", "C09D"),
    r"inhibiteurs? calciques?": ("C08",),
    r"beta-?bloquants?|betabloquants?": ("C07",),
    r"antihypertenseurs?": ("C02", "C03", "C07", "C08", "C09"),
    r"anticoagulants?|anticoagulation": ("B01AA", "B01AB", "B01AE", "B01AF", "B01AX"),
    r"heparines? de bas poids moleculaire|\bhbpm\b": ("B01AB",),
    r"antivitamines? k|\bavk\b": ("B01AA",),
    r"antiagregants?|anti-agregants?|antiplaquettaires?": ("B01AC",),
    r"thrombolytiques?|thrombolyse|fibrinolyse": ("B01AD",),
    r"statines?": ("C10AA",),
    r"hypolipemiants?": ("C10",),
    r"benzodiazepines?|anxiolytiques?": ("N05BA", "N05B"),
    r"hypnotiques?|somniferes?": ("N05C",),
    r"antidepresseurs?": ("N06A",),
    r"neuroleptiques?|antipsychotiques?": ("N05A",),
    r"corticoides?|corticotherapie|corticosteroides?": ("H02AB",),
    r"antidiabetiques?": ("A10B",),
    r"insulines?": ("A10A",),
    r"inhibiteurs? de la pompe a protons|\bipp\b": ("A02BC",),
    r"antibiotiques?|antibiotherapie": ("J01",),
    r"antifongiques?": ("J02",),
    r"antiviraux|antiviral": ("J05",),
    r"anthracyclines?": ("L01DB",),
    r"sels? de platine|platines?": ("L01XA",),
    r"vinca-?alcaloides?|poisons? du fuseau": ("L01CA",),
    r"chimiotherapies?": ("L01",),
    r"anti-?inflammatoires?|\bains\b": ("M01A",),
    r"antalgiques?|analgesiques?": ("N02",),
    r"morphiniques?|opioides?": ("N02A",),
    r"substitution thyroidienne|hormones? thyroidiennes?|levothyroxine": ("H03AA",),
    r"chelateurs? du potassium|resines? echangeuses": ("V03AE",),
    r"bronchodilatateurs?": ("R03",),
    r"antiemetiques?": ("A04A",),
    r"antiepileptiques?": ("N03",),
    r"supplementation en vitamine d|vitamine d": ("A11CC",),
}

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


@lru_cache(maxsize=1)
def _atc_table() -> dict[str, list[str]]:
    spec = importlib_util.find_spec("edsnlp")
    if spec is None or not spec.submodule_search_locations:
        return {}
    path = Path(spec.submodule_search_locations[0]) / "resources" / "drugs.json"
    if not path.exists():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


#: First words of multi-word ATC names that are not drug names ("acide …", "associations …").
_NOT_A_DRUG = frozenset("""
acide associations association autres sodium potassium calcium magnesium triglycerides nicotinique vitamine
vitamines huile extrait sels sel preparations preparation complexe chlorure sulfate phosphate hydroxyde carbonate
fer zinc gluconate citrate lactate acetate solution solutions serum eau glucose produits produit agents combinaisons
""".split())


@lru_cache(maxsize=256)
def drug_class_members(prefixes: tuple[str, ...]) -> frozenset[str]:
    """Folded names (international and brand, first word) of the drugs under ATC ``prefixes``."""
    out = set()
    for code, names in _atc_table().items():
        if code.startswith(prefixes):
            for n in names:
                first = fold(n).split(" ")[0].strip(",.()")
                if len(first) >= 4 and first not in _NOT_A_DRUG:
                    out.add(first)
    return frozenset(out)


@lru_cache(maxsize=1)
def drug_names() -> frozenset[str]:
    """Every folded drug name (first word) of the ATC table: used by the verifier."""
    return drug_class_members(("",))


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
