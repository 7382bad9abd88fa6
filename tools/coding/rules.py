"""ATIH precision rules: from a category found in the text to the exact codable child.

Why: the ATIH table forbids parent codes (type 3) and splits many categories by a detail written
elsewhere in the stay synthesis — the FEVG for heart failure (I50.0x), insulin for type 2 diabetes
(E11.x0 / E11.x8), the BMI for obesity (E66.x3–x7), the potassium level for hypokalaemia (E87.60
below 2.5 mmol/L)... Each rule below is a small table applied to values extracted from the text
with exact offsets, so the chosen child is always backed by a quote; when the detail is absent the
rule falls back to the ATIH "unspecified" child and says, in French, what is missing.

Rules (family -> deciding detail):

============  =====================================  ==========================================
family        detail read in the stay                fallback when absent
============  =====================================  ==========================================
I50, I50.0/1  FEVG value or wording (≥50, 40–49,     I50.9 (I50.09 / I50.19) + "préciser la FEVG"
              <40; "préservée", "sévèrement altérée")
I48           paroxystique / persistante /           I48.9 + "préciser le type de FA"
              permanente, flutter (a)typique
E10/E11/E14   diabetic complications (modifiers),    E1x.9 (no complication mentioned);
              insulin (E11 5th character 0 / 8)      E11.x8 when insulin is not mentioned
E66           BMI value, drug-induced, hypoventilation E66.09 + "préciser l'IMC"
E87.0/1/5/6   natrémie / kaliémie thresholds of the   E87.x8 + "préciser la natrémie/kaliémie"
E83.5         ATIH labels (>150, <120, >6.5, <2.5,    (value known but not extreme: x8, no warning)
              calcémie >3)
N18           "stade N", "terminale", DFG value       N18.9 + "préciser le stade"
J96.0/1/9     hypoxémique / hypercapnique            J96.x9 + "préciser le type"
I21           localisation / ST−, care episode       I21.90 + "préciser la localisation"
I63.9         "cardio-embolique" in the stay          I63.9
L89           stade I–IV                             L89.9 + "préciser le stade"
F10.3         convulsions                            F10.3 kept
T50.9         drug class in the sentence (benzodiaz-  T50.9 + "préciser le médicament"
              épines → T42.4, paracétamol → T39.1...)
F17.24        "sevré", "ancien" → F17.20             F17.24
N04           histology (membraneuse → N04.2...)     N04.9 + "préciser la lésion histologique"
S fractures,  "ouverte" / "plaie" (else closed /     closed / without-wound child
S06 lesions   without open wound)
============  =====================================  ==========================================

Measured values that are abnormal enough also *create* a candidate on their own (a kaliémie at
2.1 mmol/L is a hypokalaemia even when the word is not written): see :func:`measure_diagnoses`.

Example::

    >>> from tools.coding.rules import extract_measures, StayContext, resolve
    >>> text = "Décompensation cardiaque, FEVG à 35 %."
    >>> ctx = StayContext(measures=extract_measures(text, "text"))
    >>> r = resolve("I50", ctx, sentence=text)
    >>> r.code, r.rule
    ('I5002', 'FEVG 35 % < 40 → I50.02')

Limits: values are read with regular expressions (French wording, units optional); when several
values are given the most extreme one is used, whatever its date; diabetic complications must be
written as such ("néphropathie diabétique"), an IRC in a diabetic is not assumed diabetic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from knowledge.cim10 import Cim10Catalogue, dot, get_catalogue
from knowledge.french import fold_chars

__all__ = [
    "Measure",
    "Resolution",
    "StayContext",
    "extract_measures",
    "measure_diagnoses",
    "resolve",
]


# --------------------------------------------------------------------------- measures
@dataclass(frozen=True)
class Measure:
    """A value read in a source text, with the exact span that states it."""

    name: str  # fevg, imc, kaliemie, natremie, calcemie, dfg
    value: float
    source: str
    start: int
    end: int
    quote: str


_LINK = r"\s*(?:estimee|mesuree|calculee|corrigee|ionisee|evaluee|retrouvee|chiffree)?\s*(?:a|de|=|:|~|est de|est a|autour de|environ|a environ|vers)?\s*"
_MEASURE_PATTERNS: dict[str, re.Pattern[str]] = {
    "fevg": re.compile(
        r"\b(?:fevg|fe ?vg|fe|fraction d'ejection(?: ventriculaire gauche| du ventricule gauche| vg| systolique)?)"
        + r"\s*(?:(?:moderement |legerement |severement |tres )?(?:preservee|conservee|alteree|reduite|normale|basse)\s*)?\(?"
        + _LINK
        + r"(\d{1,2})(?:\s*(?:-|a)\s*(\d{1,2}))?\s*%"
    ),
    "imc": re.compile(r"\b(?:imc|bmi|indice de masse corporelle)" + _LINK + r"(\d{2}(?:[.,]\d{1,2})?)"),
    "kaliemie": re.compile(r"\b(?:(?:hypo|hyper)?kaliemie|kalemie|k\+|potassium|potassemie)" + _LINK + r"(\d(?:[.,]\d{1,2})?)\b"),
    "natremie": re.compile(r"\b(?:(?:hypo|hyper)?natremie(?: corrigee)?|na\+|sodium)" + _LINK + r"(\d{3})\b"),
    "calcemie": re.compile(r"\b(?:(?:hypo|hyper)?calcemie|calcium)(?: corrigee| ionisee| totale)?" + _LINK + r"(\d(?:[.,]\d{1,2})?)\s*mmol"),
    "dfg": re.compile(
        r"\b(?:dfg|debit de filtration glomerulaire|clairance(?: de la creatinine)?(?: selon (?:mdrd|ckd-?epi|cockcroft))?|mdrd|ckd-?epi|cockcroft)"
        + _LINK
        + r"(\d{1,3})\s*(?:ml|mL)"
    ),
}
_QUALITATIVE_FEVG = re.compile(
    r"\b(?:fevg|fe ?vg|fraction d'ejection(?: ventriculaire gauche| du ventricule gauche| vg)?)\s*"
    r"(?P<q>preservee|conservee|normale|moderement alteree|legerement alteree|moderement reduite|"
    r"severement alteree|severement reduite|effondree|tres alteree)"
)
_QUALITATIVE_VALUES = {
    "preservee": 55.0, "conservee": 55.0, "normale": 55.0,
    "moderement alteree": 45.0, "legerement alteree": 45.0, "moderement reduite": 45.0,
    "severement alteree": 30.0, "severement reduite": 30.0, "effondree": 25.0, "tres alteree": 30.0,
}


def extract_measures(text: str, source: str) -> list[Measure]:
    """FEVG, IMC, kaliémie, natrémie, calcémie and DFG values stated in ``text`` (exact offsets).

    >>> [(m.name, m.value, m.quote) for m in extract_measures("IMC à 43 kg/m², K+ 2,1 mmol/L", "t")]
    [('imc', 43.0, 'IMC à 43'), ('kaliemie', 2.1, 'K+ 2,1')]
    """
    folded = fold_chars(text)
    out: list[Measure] = []
    for name, pat in _MEASURE_PATTERNS.items():
        for m in pat.finditer(folded):
            raw = m.group(1).replace(",", ".")
            value = float(raw)
            if name == "fevg" and m.lastindex and m.lastindex >= 2 and m.group(2):
                value = (value + float(m.group(2))) / 2  # "30-35 %" -> 32.5
            if not _plausible(name, value):
                continue
            end = m.end(m.lastindex or 1)
            if name == "fevg":
                end = m.end()
            out.append(Measure(name, value, source, m.start(), end, text[m.start() : end]))
    numeric_fevg = [(x.start, x.end) for x in out if x.name == "fevg"]
    for m in _QUALITATIVE_FEVG.finditer(folded):
        if any(a <= m.start() < b for a, b in numeric_fevg):
            continue  # "FEVG préservée à 60 %": the number wins
        out.append(Measure("fevg", _QUALITATIVE_VALUES[m.group("q")], source, m.start(), m.end(), text[m.start() : m.end()]))
    out.sort(key=lambda x: x.start)
    return out


def _plausible(name: str, v: float) -> bool:
    lo, hi = {"fevg": (5, 85), "imc": (12, 90), "kaliemie": (1.0, 9.9), "natremie": (95, 190),
              "calcemie": (1.0, 5.0), "dfg": (2, 160)}[name]
    return lo <= v <= hi


# --------------------------------------------------------------------------- context & resolution
@dataclass
class StayContext:
    """What the rules may read about the whole stay (all sources)."""

    measures: list[Measure] = field(default_factory=list)
    #: affirmed rule modifiers (``MOD_INSULIN``...) -> list of (source, start, end, quote)
    modifiers: dict[str, list[tuple[str, int, int, str]]] = field(default_factory=dict)
    #: folded text of every source, concatenated (for stay-wide wording such as "convulsions")
    folded: str = ""

    def measure(self, name: str, *, pick: str = "min") -> Measure | None:
        vals = [m for m in self.measures if m.name == name]
        if not vals:
            return None
        return (min if pick == "min" else max)(vals, key=lambda m: m.value)


@dataclass
class Resolution:
    """The codable code chosen for a raw candidate, and why."""

    code: str | None  # undotted; None when no codable code could be chosen
    rule: str | None = None  # French explanation of the rule applied
    missing_detail: str | None = None  # French warning when a detail is missing
    evidence: list[tuple[str, int, int, str]] = field(default_factory=list)  # (source, start, end, quote)


def _m_ev(m: Measure | None) -> list[tuple[str, int, int, str]]:
    return [(m.source, m.start, m.end, m.quote)] if m else []


def _fmt(v: float) -> str:
    return (f"{v:.1f}".rstrip("0").rstrip(".")).replace(".", ",")


def _heart_failure(raw: str, ctx: StayContext, sentence: str, cat: Cim10Catalogue) -> Resolution:
    if len(raw) == 5:  # already precise (I5002)
        return Resolution(raw)
    sub = "I501" if raw.startswith("I501") else "I500"
    m = ctx.measure("fevg", pick="min")
    if m is None:
        if raw == "I50":
            return Resolution("I509", missing_detail="I50 : préciser la FEVG pour coder I50.0x (ou I50.1x)")
        return Resolution(sub + "9", missing_detail=f"{dot(sub)} : préciser la FEVG pour coder {dot(sub)}x")
    if m.value >= 50:
        digit, txt = "0", "≥ 50"
    elif m.value >= 40:
        digit, txt = "1", "entre 40 et 49"
    else:
        digit, txt = "2", "< 40"
    code = sub + digit
    return Resolution(code, rule=f"FEVG {_fmt(m.value)} % {txt} → {dot(code)}", evidence=_m_ev(m))


_AF_TYPES = (
    (re.compile(r"flutter[^.;]{0,30}atypique|atypique[^.;]{0,15}flutter"), "I484", "flutter atypique"),
    (re.compile(r"flutter[^.;]{0,30}typique|flutter commun"), "I483", "flutter typique"),
    (re.compile(r"paroxysti"), "I480", "paroxystique"),
    (re.compile(r"persistant"), "I481", "persistante"),
    (re.compile(r"permanent|chronique|ancienne"), "I482", "permanente"),
)


def _atrial_fibrillation(raw: str, ctx: StayContext, sentence: str, cat: Cim10Catalogue) -> Resolution:
    if raw != "I48":
        return Resolution(raw)
    s = fold_chars(sentence)
    for pat, code, word in _AF_TYPES:
        if pat.search(s):
            return Resolution(code, rule=f"FA {word} → {dot(code)}")
    return Resolution(
        "I489", missing_detail="I48 : préciser le type de fibrillation auriculaire (paroxystique, persistante, permanente) ou de flutter"
    )


_DIAB_COMPLICATIONS = (
    ("MOD_DIAB_COMA", "0", "coma"),
    ("MOD_DIAB_KETO", "1", "acidocétose"),
    ("MOD_DIAB_RENAL", "2", "complication rénale"),
    ("MOD_DIAB_EYE", "3", "complication oculaire"),
    ("MOD_DIAB_NEURO", "4", "complication neurologique"),
    ("MOD_DIAB_VASC", "5", "complication vasculaire périphérique"),
)


def _diabetes(raw: str, ctx: StayContext, sentence: str, cat: Cim10Catalogue) -> Resolution:
    base = raw[:3]
    found = [(digit, word, ctx.modifiers[key][0]) for key, digit, word in _DIAB_COMPLICATIONS if ctx.modifiers.get(key)]
    evidence = [ev for _d, _w, ev in found]
    if len(found) >= 2:
        fourth, why = "7", "complications multiples (" + ", ".join(w for _d, w, _e in found) + ")"
    elif found:
        fourth, why = found[0][0], found[0][1]
    elif len(raw) >= 4 and raw[3] not in "9":
        fourth, why = raw[3], None  # the text itself named the complication sub-category
    else:
        fourth, why = "9", None
    parts = [why] if why else []
    code = base + fourth
    if base == "E11":
        ins = ctx.modifiers.get("MOD_INSULIN")
        if ins:
            code += "0"
            parts.append(f"insuline (« {ins[0][3]} »)")
            evidence.append(ins[0])
        else:
            code += "8"
    if not cat.codable(code):
        fallback = cat.unspecified_child(code) or cat.unspecified_child(base)
        return Resolution(fallback, rule=None, evidence=evidence)
    rule = (" + ".join(parts) + f" → {dot(code)}") if parts else None
    return Resolution(code, rule=rule, evidence=evidence)


_BMI_FIFTH = ((50, "7"), (40, "6"), (35, "5"), (30, "4"), (25, "3"))


def _obesity(raw: str, ctx: StayContext, sentence: str, cat: Cim10Catalogue) -> Resolution:
    if len(raw) == 5 and cat.codable(raw):
        return Resolution(raw)
    s = fold_chars(sentence)
    if raw.startswith("E662") or "hypoventilation" in s or "pickwick" in s:
        sub = "E662"
    elif raw.startswith("E661") or re.search(r"medicamenteu|cortico-?induit|iatrogen", s):
        sub = "E661"
    elif raw.startswith("E668"):
        sub = "E668"
    else:
        sub = "E660"  # common obesity (caloric excess): what "obésité" means in a stay synthesis
    m = ctx.measure("imc", pick="max")
    overweight = "surpoids" in s
    if m is None:
        if overweight and cat.codable(sub + "3"):
            return Resolution(sub + "3", rule=f"surpoids → {dot(sub + '3')}")
        return Resolution(sub + "9", missing_detail=f"E66 : préciser l'IMC pour coder {dot(sub)}x")
    fifth = next((d for lim, d in _BMI_FIFTH if m.value >= lim), None)
    if fifth is None or not cat.codable(sub + fifth):
        return Resolution(sub + "9", missing_detail=f"E66 : IMC {_fmt(m.value)} hors des seuils ATIH de {dot(sub)}x", evidence=_m_ev(m))
    code = sub + fifth
    return Resolution(code, rule=f"IMC {_fmt(m.value)} kg/m² → {dot(code)}", evidence=_m_ev(m))


# category -> (measure, pick, predicate on value for the "extreme" child, extreme child, other child, label)
_ELECTROLYTES = {
    "E876": ("kaliemie", "min", lambda v: v < 2.5, "E8760", "E8768", "kaliémie", "< 2,5 mmol/L"),
    "E875": ("kaliemie", "max", lambda v: v > 6.5, "E8750", "E8758", "kaliémie", "> 6,5 mmol/L"),
    "E871": ("natremie", "min", lambda v: v < 120, "E8710", "E8718", "natrémie", "< 120 mmol/L"),
    "E870": ("natremie", "max", lambda v: v > 150, "E8700", "E8708", "natrémie", "> 150 mmol/L"),
    "E835": ("calcemie", "max", lambda v: v > 3.0, "E8350", "E8358", "calcémie", "> 3 mmol/L"),
}


def _electrolyte(raw: str, ctx: StayContext, sentence: str, cat: Cim10Catalogue) -> Resolution:
    key = raw[:4]
    if len(raw) == 5 or key not in _ELECTROLYTES:
        return Resolution(raw if cat.codable(raw) else cat.unspecified_child(raw))
    name, pick, extreme, hi_code, lo_code, word, threshold = _ELECTROLYTES[key]
    m = ctx.measure(name, pick=pick)
    if m is None:
        return Resolution(lo_code, missing_detail=f"{dot(key)} : préciser la {word} ({threshold} → {dot(hi_code)})")
    code = hi_code if extreme(m.value) else lo_code
    cmp = "" if extreme(m.value) else "non "
    return Resolution(code, rule=f"{word} {_fmt(m.value)} mmol/L ({cmp}{threshold}) → {dot(code)}", evidence=_m_ev(m))


_STAGE_RE = re.compile(r"\bstade\s*(?P<s>[1-5]|iv|v|i{1,3})\s*(?:[ab]\b)?")
_ROMAN = {"i": 1, "ii": 2, "iii": 3, "iv": 4, "v": 5}


def _stage_in(sentence: str) -> int | None:
    m = _STAGE_RE.search(fold_chars(sentence))
    if not m:
        return None
    s = m.group("s")
    return int(s) if s.isdigit() else _ROMAN[s]


def _ckd(raw: str, ctx: StayContext, sentence: str, cat: Cim10Catalogue) -> Resolution:
    if raw != "N18":
        return Resolution(raw if cat.codable(raw) else "N189")
    s = fold_chars(sentence)
    stage = _stage_in(sentence)
    if stage is not None:
        code = f"N18{stage}"
        return Resolution(code, rule=f"stade {stage} → {dot(code)}")
    if "terminal" in s or "dialys" in s:
        return Resolution("N185", rule="insuffisance rénale terminale → N18.5")
    m = ctx.measure("dfg", pick="min")
    if m is not None:
        v = m.value
        stage = 1 if v >= 90 else 2 if v >= 60 else 3 if v >= 30 else 4 if v >= 15 else 5
        code = f"N18{stage}"
        return Resolution(code, rule=f"DFG {_fmt(v)} mL/min → stade {stage} → {dot(code)}", evidence=_m_ev(m))
    return Resolution("N189", missing_detail="N18 : préciser le stade (DFG) pour coder N18.1 à N18.5")


def _resp_failure(raw: str, ctx: StayContext, sentence: str, cat: Cim10Catalogue) -> Resolution:
    if len(raw) == 5:
        return Resolution(raw)
    sub = raw if len(raw) == 4 else "J969"
    s = fold_chars(sentence)
    if "hypercapni" in s or "type 2" in s or "type ii" in s:
        code, why = sub + "1", "hypercapnique"
    elif re.search(r"hypox", s) or "type 1" in s or re.search(r"type i\b", s):
        code, why = sub + "0", "hypoxémique"
    else:
        return Resolution(sub + "9", missing_detail=f"{dot(sub)} : préciser le type (hypoxémique ou hypercapnique)")
    return Resolution(code, rule=f"insuffisance respiratoire {why} → {dot(code)}")


_MI_LOC = (
    (re.compile(r"sans sus-?decalage|nstemi|st ?-|non st ?\+|sous-endocardique|rudimentaire"), "I214", "sans sus-décalage"),
    (re.compile(r"anterieur|antero|septal|apical"), "I210", "antérieur"),
    (re.compile(r"inferieur|infero|posterieur|postero"), "I211", "inférieur"),
    (re.compile(r"lateral"), "I212", "latéral"),
)


def _myocardial_infarction(raw: str, ctx: StayContext, sentence: str, cat: Cim10Catalogue) -> Resolution:
    if len(raw) == 5:
        return Resolution(raw)
    s = fold_chars(sentence)
    sub, why, missing = raw if len(raw) == 4 else None, None, None
    if sub is None:
        for pat, code, word in _MI_LOC:
            if pat.search(s):
                sub, why = code, word
                break
    if sub is None:
        sub = "I213" if re.search(r"\bstemi\b|st ?\+|sus-?decalage", s) else "I219"
        missing = "I21 : préciser la localisation de l'infarctus (ECG) pour coder I21.0 à I21.4"
    later = bool(re.search(r"a distance|readaptation|reevaluation|controle", s))
    code = sub + ("8" if later else "0")
    episode = "autre prise en charge" if later else "prise en charge initiale"
    rule = f"infarctus{(' ' + why) if why else ''}, {episode} → {dot(code)}"
    return Resolution(code, rule=rule, missing_detail=missing)


def _cerebral_infarction(raw: str, ctx: StayContext, sentence: str, cat: Cim10Catalogue) -> Resolution:
    if raw not in ("I63", "I639"):
        return Resolution(raw)
    if re.search(r"cardio-?embol", ctx.folded):
        return Resolution("I634", rule="origine cardio-embolique → I63.4")
    return Resolution("I639")


# drug class (folded wording) -> poisoning code
_POISONS = (
    (re.compile(r"benzodiazepin|bromazepam|alprazolam|lorazepam|oxazepam|diazepam|clonazepam|zopiclone|zolpidem"), "T424", "benzodiazépines"),
    (re.compile(r"paracetamol|doliprane|dafalgan|efferalgan"), "T391", "paracétamol"),
    (re.compile(r"opiace|opioide|morphin|oxycodon|tramadol|codein|methadon|buprenorphin|heroin"), "T402", "opioïdes"),
    (re.compile(r"antidepresseur|tricyclique|amitriptylin|clomipramin|venlafaxin|sertralin|paroxetin|escitalopram|citalopram|fluoxetin"), "T432", "antidépresseurs"),
    (re.compile(r"neuroleptique|antipsychotique|cyamemazin|loxapin|olanzapin|risperidon|haloperidol"), "T435", "neuroleptiques"),
    (re.compile(r"\blithium"), "T438", "lithium"),
    (re.compile(r"insuline"), "T383", "insuline"),
    (re.compile(r"antivitamine k|\bavk\b|fluindione|warfarin|acenocoumarol"), "T455", "anticoagulants"),
)


def _poisoning(raw: str, ctx: StayContext, sentence: str, cat: Cim10Catalogue) -> Resolution:
    if raw != "T509":
        return Resolution(raw)
    s = fold_chars(sentence)
    found = [(code, word) for pat, code, word in _POISONS if pat.search(s)]
    if len(found) == 1:
        code, word = found[0]
        return Resolution(code, rule=f"intoxication par {word} → {dot(code)}")
    return Resolution(
        "T509", missing_detail="T50.9 : préciser le médicament en cause pour coder l'intoxication (T36 à T50)"
    )


def _tobacco(raw: str, ctx: StayContext, sentence: str, cat: Cim10Catalogue) -> Resolution:
    if raw == "F1724" and re.search(r"sevre|ancien|\bex-?|arrete|abstinen", fold_chars(sentence)):
        return Resolution("F1720", rule="tabagisme sevré → F17.20")
    return Resolution(raw)


_NEPHROTIC_HISTOLOGY = (
    (re.compile(r"extra-?membraneuse|membraneuse"), "N042", "glomérulonéphrite membraneuse"),
    (re.compile(r"lesions glomerulaires minimes|\blgm\b"), "N040", "lésions glomérulaires minimes"),
    (re.compile(r"hyalinose segmentaire|\bhsf\b"), "N041", "hyalinose segmentaire et focale"),
)


def _nephrotic(raw: str, ctx: StayContext, sentence: str, cat: Cim10Catalogue) -> Resolution:
    if raw != "N04":
        return Resolution(raw)
    for pat, code, word in _NEPHROTIC_HISTOLOGY:
        if pat.search(ctx.folded):
            return Resolution(code, rule=f"syndrome néphrotique, {word} → {dot(code)}")
    return Resolution("N049", missing_detail="N04 : préciser la lésion histologique (PBR) pour coder N04.0 à N04.8")


def _pressure_ulcer(raw: str, ctx: StayContext, sentence: str, cat: Cim10Catalogue) -> Resolution:
    if len(raw) >= 4:
        return Resolution(raw)
    stage = _stage_in(sentence)
    if stage is not None and 1 <= stage <= 4:
        code = f"L89{stage - 1}"
        return Resolution(code, rule=f"escarre stade {stage} → {dot(code)}")
    return Resolution("L899", missing_detail="L89 : préciser le stade de l'escarre (I à IV)")


def _alcohol_withdrawal(raw: str, ctx: StayContext, sentence: str, cat: Cim10Catalogue) -> Resolution:
    if raw == "F103" and "convuls" in fold_chars(sentence):
        return Resolution("F1031", rule="sevrage alcoolique avec convulsions → F10.31")
    return Resolution(raw)


_FAMILY_RULES = (
    (("I50",), _heart_failure),
    (("I48",), _atrial_fibrillation),
    (("E10", "E11", "E14"), _diabetes),
    (("E66",), _obesity),
    (("E870", "E871", "E875", "E876", "E835"), _electrolyte),
    (("N18",), _ckd),
    (("J96",), _resp_failure),
    (("I21",), _myocardial_infarction),
    (("I63",), _cerebral_infarction),
    (("L89",), _pressure_ulcer),
    (("F103",), _alcohol_withdrawal),
    (("T509",), _poisoning),
    (("F1724",), _tobacco),
    (("N04",), _nephrotic),
)


def resolve(raw: str, ctx: StayContext, *, sentence: str = "", catalogue: Cim10Catalogue | None = None) -> Resolution:
    """Codable code for a raw (possibly parent) code found in ``sentence``, applying the rule tables.

    Without a family rule: a codable code is kept; a parent goes to a "closed" child for fractures
    (WHO: a fracture not said to be open is closed), else to :meth:`Cim10Catalogue.unspecified_child`.
    """
    cat = catalogue or get_catalogue()
    for prefixes, fn in _FAMILY_RULES:
        if raw.startswith(prefixes):
            res = fn(raw, ctx, sentence, cat)
            if res.code is not None and not cat.codable(res.code):
                res.code = cat.unspecified_child(res.code)
            return res
    kids = [k for k in cat.children(raw) if cat.codable(k)]
    labels = {k: fold_chars(cat[k].label) for k in kids}
    s = fold_chars(sentence)
    closed = [k for k in kids if "fermee" in labels[k]]
    opened = [k for k in kids if "ouverte" in labels[k]]
    if closed and opened:
        if "ouvert" in s:
            return Resolution(opened[0], rule=f"fracture ouverte → {dot(opened[0])}")
        return Resolution(closed[0], rule=f"fracture non décrite comme ouverte : fermée → {dot(closed[0])}")
    no_wound = [k for k in kids if "sans plaie" in labels[k]]
    wound = [k for k in kids if "avec plaie" in labels[k]]
    if no_wound and wound:
        if "plaie" in s:
            return Resolution(wound[0], rule=f"avec plaie → {dot(wound[0])}")
        return Resolution(no_wound[0], rule=f"sans plaie mentionnée → {dot(no_wound[0])}")
    if cat.codable(raw):
        return Resolution(raw)
    child = cat.unspecified_child(raw)
    if child is None:
        return Resolution(None, missing_detail=f"{dot(raw)} : code père non codable, sous-catégorie à préciser")
    return Resolution(child)


# --------------------------------------------------------------------------- measure-implied diagnoses
#: measure -> list of (predicate, raw code, French wording)
_IMPLIED = {
    "kaliemie": ((lambda v: v < 3.5, "E876", "hypokaliémie"), (lambda v: v > 5.0, "E875", "hyperkaliémie")),
    "natremie": ((lambda v: v < 135, "E871", "hyponatrémie"), (lambda v: v > 145, "E870", "hypernatrémie")),
    "calcemie": ((lambda v: v > 2.65, "E835", "hypercalcémie"),),
}


def measure_diagnoses(measures: list[Measure]) -> list[tuple[str, Measure, str]]:
    """Abnormal values that are diagnoses by themselves: ``(raw code, measure, wording)``.

    >>> [(c, w) for c, _m, w in measure_diagnoses(extract_measures("Kaliémie à 2,1 mmol/L.", "t"))]
    [('E876', 'hypokaliémie')]
    """
    out = []
    for m in measures:
        for pred, code, word in _IMPLIED.get(m.name, ()):
            if pred(m.value):
                out.append((code, m, word))
    return out
