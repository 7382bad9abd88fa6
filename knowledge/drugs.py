"""One French drug lexicon: the ATC table shipped with edsnlp, drug classes as ATC prefixes.

Why: the drafting verifier must flag a drug a letter names that its sources do not, the agent's
verifier the same in an answer, and the agent's composer must know that "diurétique de l'anse"
means FUROSÉMIDE. All three read the same list. The list is not ours: ``edsnlp`` ships the ATC
classification with French international and brand names (``edsnlp/resources/drugs.json``:
1,968 ATC codes -> names), read here as a file (importing edsnlp is not needed).

* :func:`drug_names` — every drug name as a folded word: the first word of each ATC name
  (``"ACIDE FOLIQUE"`` gives nothing, ``"FUROSEMIDE"`` gives ``furosemide``), at least four
  letters, minus :data:`NOT_DRUGS`;
* :func:`drug_class_members` — the same words under some ATC prefixes;
* :data:`DRUG_CLASSES` — French class names (folded regular expressions) -> ATC prefixes.

Example::

    >>> "furosemide" in drug_class_members(("C03C",)), "apixaban" in drug_names()
    (True, True)
    >>> "fraction" in drug_names(), "sodium" in drug_names()
    (False, False)

Limits: names are single words (the first of each ATC name), so a brand spelt in two words is
matched on its first; a drug missing from the ATC list (a recent brand) is unknown; when edsnlp
is not installed the lexicon is empty (the checks then rely on words written in capitals);
:data:`NOT_DRUGS` was written by reading the words that the table yields and that letters use
in other senses — a new word of that kind needs adding there.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import util as importlib_util
from pathlib import Path

from knowledge.french import fold

__all__ = ["DRUG_CLASSES", "NOT_DRUGS", "atc_table", "drug_class_members", "drug_names"]

#: French class name (folded regular expression) -> ATC prefixes.
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

#: Words the ATC table yields that are not drug names in a letter: chemical elements and salts
#: that are lab analytes ("potassium", "sodium"), first words of multi-word names ("acide …",
#: "associations …", "solution …"), drug classes, vaccines' diseases ("grippe", "zona") and
#: ordinary words ("fraction", "therapeutique", "alcool").
NOT_DRUGS = frozenset("""
acide acides associations association autres sodium potassium calcium magnesium phosphore triglycerides nicotinique
vitamine vitamines huile extrait sels sel preparations preparation complexe chlorure sulfate phosphate hydroxyde
carbonate bicarbonate fer zinc gluconate citrate lactate acetate solution solutions serum eau glucose lactose
albumine oxygene fluor soufre charbon produits produit agents combinaisons
additifs alcaloides alcool aluminium anneau arsenic avocat azote baume beta bleu cellules composes creme derives
dialyse diluant dragees emulsions essence esters facteur facteurs feuille fievre fraction hydrates hydrogene
inhibiteur larmes medicaments microorganismes mono multienzymes nitrate nutriments palmier para pastilles pollen
proteine prunier solute solvants suppositoires teinture tests therapeutique tulle vaccin iodure fluorure
anesthesiques antiacides antiallergiques antiarythmiques antihypertenseurs antiinflammatoires antispasmodiques
contraceptifs corticoides decongestionnants diuretiques hemostatiques hypnotiques laxatifs myorelaxants
phenothiazines progestatifs stimulants sulfamides sympathomimetiques vasodilatateurs
encephalite grippe haemophilus helicobacter hepatite meningocoque meningocoques papillomavirus poliomyelite rage
rotavirus rougeole rubeole tuberculose typhoide varicelle zona diphterie
""".split())

_NAME = re.compile(r"[a-z][a-z-]{3,}")


@lru_cache(maxsize=1)
def atc_table() -> dict[str, list[str]]:
    """ATC code -> French names, from edsnlp's ``resources/drugs.json`` ({} when edsnlp is absent)."""
    spec = importlib_util.find_spec("edsnlp")
    if spec is None or not spec.submodule_search_locations:
        return {}
    path = Path(list(spec.submodule_search_locations)[0]) / "resources" / "drugs.json"
    if not path.exists():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


@lru_cache(maxsize=256)
def drug_class_members(prefixes: tuple[str, ...]) -> frozenset[str]:
    """Folded drug names (international and brand, first word) of the ATC codes under ``prefixes``."""
    out = set()
    for code, names in atc_table().items():
        if code.startswith(prefixes):
            for n in names:
                first = fold(n).split(" ")[0].strip(",.()")
                if _NAME.fullmatch(first) and first not in NOT_DRUGS:
                    out.add(first)
    return frozenset(out)


@lru_cache(maxsize=1)
def drug_names() -> frozenset[str]:
    """Every folded drug name of the ATC table (see the module docstring)."""
    return drug_class_members(("",))
