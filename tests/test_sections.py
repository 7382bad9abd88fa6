"""knowledge.sections: one section model — heading forms, split points, exact offsets, both styles."""

import doctest

import pytest

import knowledge.sections as sections
from knowledge.sections import HEADINGS, SECTIONS, heading_name, heading_title, numbered_sections, parse_heading, split_sections


def test_doctests():
    assert doctest.testmod(sections).failed == 0


def test_vocabulary_is_consistent():
    assert len(HEADINGS) == sum(len(v) for v in SECTIONS.values())  # a synonym belongs to one section
    for key in HEADINGS:
        assert key == key.strip() and key == key.lower() and not any(c in key for c in "éèàùâêîôûç’")


@pytest.mark.parametrize("line, name", [
    ("CONCLUSION", "Conclusion"),
    ("CONCLUSION :", "Conclusion"),
    ("Conclusion:", "Conclusion"),
    ("## Traitement de sortie", "Traitement de sortie"),
    ("# Évolution", "Évolution"),
    ("**Allergies**", "Allergies"),
    ("**Allergies :**", "Allergies"),
    ("1. **Antécédents**", "Antécédents"),
    ("__Antécédents__", "Antécédents"),
    ("1. Antécédents", "Antécédents"),
    ("2) Motif", "Motif"),
    ("II - Evolution", "Évolution"),
    ("IV. HISTOIRE DE LA MALADIE", "Histoire de la maladie"),
    ("Évolution dans le service", "Évolution"),
    ("CONCLUSION DE SORTIE", "Conclusion"),
    ("Antécédents familiaux et personnels", "Antécédents familiaux"),
    ("ATCD :", "Antécédents"),
    ("HDM", "Histoire de la maladie"),
    ("TTT de sortie :", "Traitement de sortie"),
    ("TTT habituel", "Traitement à l'entrée"),
    ("Traitement à l’entrée :", "Traitement à l'entrée"),
    ("Diagnostic de sortie :", "Diagnostic"),
    ("Traitements arrêtés ou modifiés", "Traitements arrêtés ou modifiés"),
    ("Suites à donner", "Suivi"),
    ("Résultats en attente :", "Résultats en attente"),
    ("MOTIF D'HOSPITALISATION:", "Motif d'hospitalisation"),
    ("Motif : dyspnée", "Motif"),
])
def test_heading_forms(line, name):
    assert heading_name(line) == name


@pytest.mark.parametrize("line", [
    "Le patient va bien.",
    "- Allergies : aucune",            # a list item
    "• Conclusion",
    "Diagnostic principal : OAP",      # a label inside a Conclusion
    "Diagnostics associés :",
    "Biologie : Hb 9 g/dl",            # a sub-label with content: not a heading
    "1. Traitement : RAMIPRIL",        # a numbered item with content
    "À l'entrée :",                    # only in a one-paragraph synthesis
    "Conclusion " + "x" * 80,          # too long
    "",
    "   ",
])
def test_not_headings(line):
    assert heading_name(line) is None


def test_split_point_of_an_inline_heading():
    line = "**Motif :** dyspnée d’effort"
    h = parse_heading(line)
    assert (h.name, h.title, h.inline, line[h.body:]) == ("Motif", "Motif", True, "dyspnée d’effort")
    alone = parse_heading("## Conclusion :")
    assert (alone.inline, alone.body) == (False, len("## Conclusion :"))
    assert parse_heading("Motif : dyspnée", inline=False) is None
    assert parse_heading("Biologie :").name == "Biologie"  # a sub-label alone on its line is a heading


def test_heading_title_of_unknown_headings():
    assert heading_title("ÉCHOGRAPHIE CARDIAQUE") == "ÉCHOGRAPHIE CARDIAQUE"
    assert heading_title("Valves :") == "Valves"
    assert heading_title("## Valves") == "Valves"
    assert heading_title("**Allergies**") == "Allergies"
    assert heading_title("Pas de fièvre.") is None and heading_title("") is None


REPORT = """CHU DE VALMONT
Patient : M. X

MOTIF D'HOSPITALISATION :
Dyspnée.

## Antécédents
- HTA
Allergies : aucune
Biologie : Hb 12 g/dl

CONCLUSION : OAP sur FA.
Diagnostics associés :
- hypokaliémie
- le matin Traitements arrêtés ou modifiés
- AMLODIPINE arrêtée
"""


def test_split_report_exact_offsets_and_cover():
    secs = split_sections(REPORT)
    assert [s.name for s in secs] == [None, "Motif d'hospitalisation", "Antécédents", "Allergies", "Conclusion",
                                      "Traitements arrêtés ou modifiés"]
    # consecutive, covering the text
    assert secs[0].heading_start == 0 and secs[-1].end == len(REPORT)
    for a, b in zip(secs, secs[1:]):
        assert a.end == b.heading_start
    by = {s.name: s for s in secs}
    assert REPORT[by["Motif d'hospitalisation"].start:by["Motif d'hospitalisation"].end] == "Dyspnée.\n\n"
    concl = by["Conclusion"]
    assert REPORT[concl.heading_start:concl.start] == "CONCLUSION : "  # inline: the content starts after it
    assert REPORT[concl.start:concl.end].startswith("OAP sur FA.\nDiagnostics associés :")
    # "Biologie : …" is a sub-label: it stays in the Allergies section that "Allergies : aucune" opened
    allergies = by["Allergies"]
    assert "Biologie : Hb 12 g/dl" in REPORT[allergies.start:allergies.end]
    # a heading glued at the end of a line (PDF extraction): cut inside the line
    glued = by["Traitements arrêtés ou modifiés"]
    assert REPORT[glued.heading_start:].startswith("Traitements arrêtés ou modifiés\n")
    assert REPORT[glued.start:glued.end] == "- AMLODIPINE arrêtée\n"


def test_split_report_without_inline_headings():
    names = [s.name for s in split_sections(REPORT, inline=False)]
    assert "Allergies" not in names and "Conclusion" not in names
    assert names[:3] == [None, "Motif d'hospitalisation", "Antécédents"]


def test_split_empty_and_headingless():
    assert split_sections("") == []
    secs = split_sections("Pas de titre.\nRien.")
    assert [(s.name, s.heading_start, s.start, s.end) for s in secs] == [(None, 0, 0, 19)]


def test_split_paragraph_style():
    t = "Motif : dyspnée. ATCD : HTA, FA. Angioscanner : pas d'EP. Au total : OAP. À l'entrée : TA 150/90."
    secs = split_sections(t, style="paragraph")
    assert [s.name for s in secs] == ["Motif", "Antécédents", None, "Conclusion", "Examen clinique"]
    assert [t[s.start:s.end].strip() for s in secs] == ["dyspnée.", "HTA, FA.", "pas d'EP.", "OAP.", "TA 150/90."]
    assert [t[s.heading_start:s.start] for s in secs][:2] == ["Motif :", "ATCD :"]
    # text before the first title is a section without a name; "à 10:30" is not a title
    secs = split_sections("Patient de 80 ans. Motif : chute à 10:30.", style="paragraph")
    assert [(s.name, s.heading_start) for s in secs] == [(None, 0), ("Motif", 19)]


def test_numbered_sections():
    t = "PROCÉDURE\n1. Objet\nDécrire.\n2. Consignes au patient\nÀ jeun.\n3. Suivi.\n"
    secs = numbered_sections(t)
    assert [(s.name, t[s.start:s.end]) for s in secs] == [("Objet", "Décrire.\n"),
                                                          ("Consignes au patient", "À jeun.\n3. Suivi.\n")]
    assert t[secs[0].heading_start:secs[0].start] == "1. Objet\n"
