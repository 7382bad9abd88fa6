"""knowledge.french: folding (with and without offsets), the stemmer, tokens; knowledge.drugs: the lexicon."""

import doctest

import pytest

import knowledge.french as french
from knowledge.french import fold, fold_chars, stem, stems, tokens, words


def test_doctests():
    assert doctest.testmod(french).failed == 0


@pytest.mark.parametrize("raw, folded", [
    ("Œdème aigu du poumon", "oedeme aigu du poumon"),
    ("Cœur ÉLARGI", "coeur elargi"),
    ("TRAITEMENT À L’ENTRÉE", "traitement a l'entree"),
    ("d‘abord ʼici", "d'abord 'ici"),
    ("88\u00a0µg", "88 ug"),
    ("6\u202f850", "6 850"),
    ("  trois\n\tlignes  ", "trois lignes"),
    ("anti–agrégant — aspirine", "anti-agregant - aspirine"),
    ("Straße", "strasse"),
    ("", ""),
])
def test_fold(raw, folded):
    assert fold(raw) == folded


def test_fold_none_is_empty():
    assert fold(None) == ""


@pytest.mark.parametrize("raw", ["Élise l’aînée", "Sœur Thérèse — ﬁn", "İstanbul", "µg/m² ½", "RAMIPRIL 2,5 mg"])
def test_fold_chars_keeps_length_and_offsets(raw):
    f = fold_chars(raw)
    assert len(f) == len(raw)
    assert len(fold_chars(raw, lower=False)) == len(raw)


def test_fold_chars_finds_in_original_text():
    text = "Patiente : Mme GÉRARD, née le 3 mai ; l’échographie est normale."
    f = fold_chars(text)
    i = f.index("l'echographie")
    assert text[i:i + len("l’échographie")] == "l’échographie"
    assert fold_chars("Élise", lower=False) == "Elise" and fold_chars("Élise") == "elise"
    assert fold_chars("sœur") == "sœur"  # ligatures cannot split one for one


def test_stem_meets_inflections():
    assert stem("rénaux") == stem("rénale") == stem("rénal")
    assert stem("hypertension") == stem("hypertensive")
    assert stem("allergie") == stem("allergique") == stem("allergies")
    assert stem("interrompu") == stem("interrompue")
    assert stem("diabète") == stem("diabétique")
    assert stem("bulleux") == stem("bulleuse")


def test_stem_edge_cases():
    assert stem("2.3") == stem("2,3") == "2,3"
    assert stem("30") == "30"
    assert stem("fa") == "fa" and stem("hta") == "hta"  # short words kept
    assert stem("") == ""


def test_tokens_words_stems():
    assert tokens("Diabète de type 2, HbA1c à 7.5 %") == ["diabete", "de", "type", "2", "hba1c", "a", "7", "5"]
    assert words("Diabète de type 2, HbA1c à 7.5 %") == ["diabete", "de", "type", "2", "hba1c", "a", "7.5"]
    assert stems("les insuffisances rénales", {"les"}) == ["insuffis", "ren"]


def test_drug_lexicon_one_list_one_exclusion_list():
    import knowledge.drugs as drugs

    assert doctest.testmod(drugs).failed == 0
    names = drugs.drug_names()
    if not names:
        pytest.skip("edsnlp's drugs.json is not installed")
    assert {"furosemide", "apixaban", "ramipril", "bisoprolol"} <= names
    assert not names & drugs.NOT_DRUGS  # analytes, classes and ordinary words are not drug names
    assert all(len(n) >= 4 and n == fold(n) for n in names)
    assert drugs.drug_class_members(("C03C",)) <= names
