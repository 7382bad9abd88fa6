"""knowledge.cim10: the ATIH table, its type semantics, hierarchy, chapters, search and load time."""

from __future__ import annotations

from collections import Counter

import pytest

from knowledge.cim10 import AtihType, dot, get_catalogue, load_catalogue, undot
from knowledge.french import fold, stem

pytestmark = pytest.mark.usefixtures("coding_caches")


@pytest.fixture(scope="module")
def cat():
    return get_catalogue()


def test_table_is_the_atih_file(cat):
    assert len(cat) == 42_886
    e = cat["I5002"]
    assert e.code == "I5002" and e.dotted == "I50.02"
    assert "FEVG" in e.label and "40" in e.label
    assert e.short_label.isupper()
    assert e.ssr == "NOOO" and e.psy == "0"
    assert e.parent == "I500" and e.chapter == "IX"


def test_dot_undot_round_trip(cat):
    assert dot("I5002") == "I50.02"
    assert dot("I10") == "I10"
    assert dot("T10+0") == "T10.+0"
    assert dot("E11.90") == "E11.90"
    assert undot(" i50.02 ") == "I5002"
    for code in list(cat)[::997]:
        assert undot(dot(code)) == code


def test_lookup_dotted_or_undotted(cat):
    assert cat.get("I50.02") is cat.get("I5002")
    assert cat.get("i50.02") is not None
    assert "E11.90" in cat and "E1190" in cat
    assert cat.get("Z99.99") is None and "Z99.99" not in cat
    with pytest.raises(KeyError, match="inconnu"):
        cat["Q99.99"]


def test_codable_and_suppressed(cat):
    assert not cat.codable("I50") and not cat.codable("I500") and not cat.codable("E11")
    assert cat.codable("I50.02") and cat.codable("I10") and cat.codable("E11.90")
    assert not cat.codable("NOPE")
    suppressed = cat["E66.00"]
    assert suppressed.suppressed and suppressed.type == AtihType.NOT_CODABLE and not suppressed.codable


@pytest.mark.parametrize(
    "code, atih_type, dp, das",
    [
        ("I10", 0, True, True),
        ("Z51.1", 0, True, True),  # chemotherapy session: a Z code allowed as DP
        ("I32.0", 0, True, True),  # asterisk code, allowed as DP in the French table
        ("I51.9", 1, False, True),  # "sans précision" catch-all
        ("B95.6", 1, False, True),  # infectious agent
        ("E11.80", 1, False, True),
        ("W19.0", 2, False, True),  # external cause
        ("I50", 3, False, False),  # parent
        ("E66.00", 3, False, False),  # suppressed
        ("I69.3", 4, False, True),  # sequela
    ],
)
def test_type_semantics(cat, code, atih_type, dp, das):
    e = cat[code]
    assert e.type == atih_type
    assert e.dp_allowed is dp and cat.dp_allowed(code) is dp
    assert e.das_allowed is das and cat.das_allowed(code) is das
    assert e.codable is (atih_type != 3)
    assert e.dr_allowed is (atih_type in (0, 4))


def test_type_values_match_what_the_data_carries(cat):
    """The facts written in the module docstring, recomputed from the table."""
    types = Counter(cat[c].type for c in cat)
    assert types == Counter({2: 26536, 0: 13352, 3: 2478, 1: 444, 4: 76})
    # type 2 = external causes: every codable V/W/X/Y code, plus two others
    t2 = [c for c in cat if cat[c].type == 2]
    assert sorted(c for c in t2 if c[0] not in "VWXY") == ["T76", "U129"]
    assert all(cat[c].type == 2 for c in cat if c[0] in "VWXY" and cat.codable(c))
    # type 4 = sequelae only
    assert all(cat[c].label.startswith("Séquelles") for c in cat if cat[c].type == 4)
    # every suppressed code is type 3; most type-3 codes are parents
    assert all(cat[c].type == 3 for c in cat if cat[c].suppressed)
    t3 = [c for c in cat if cat[c].type == 3]
    assert sum(1 for c in t3 if cat.children(c) or cat[c].suppressed) == len(t3) - 7
    # Z codes: mostly allowed as DP
    z = Counter(cat[c].type for c in cat if c.startswith("Z"))
    assert z[0] == 718 and z[1] == 25


def test_hierarchy(cat):
    assert cat.parent("I50.02") == "I500"
    assert cat.parent("I500") == "I50"
    assert cat.parent("I50") is None
    assert cat.children("I500") == ("I5000", "I5001", "I5002", "I5009")
    assert cat.ancestors("E1190") == ["E119", "E11"]
    assert "E1190" in cat.descendants("E11")
    assert all(cat.codable(c) for c in cat.codable_descendants("E11"))
    assert cat.parent("T10+0") == "T10"


def test_unspecified_child(cat):
    assert cat.unspecified_child("E11") == "E1198"  # type 2 diabetes, no complication, no insulin
    assert cat.unspecified_child("I50") == "I509"
    assert cat.unspecified_child("J18") == "J189"
    assert cat.unspecified_child("E66") == "E6699"
    assert cat.unspecified_child("I10") == "I10"  # already codable
    assert cat.unspecified_child("S720") is None  # closed/open, not "unspecified"


def test_chapters(cat):
    chapters = cat.chapters
    assert len(chapters) == 22
    assert [c.numeral for c in chapters[:3]] == ["I", "II", "III"]
    assert all(c.title and c.title[0].isupper() for c in chapters)
    assert cat.chapter("I50.02").numeral == "IX"
    assert cat.chapter("I50.02").roman == "IX"
    assert cat.chapter("C50.9").title == "Tumeurs"
    assert cat.chapter("S72.00").numeral == "XIX" and cat.chapter("T84.0").numeral == "XIX"
    assert cat.chapter("W19.0").numeral == "XX"
    assert cat.chapter("Z51.1").numeral == "XXI"
    assert cat.chapter("U07.10").numeral == "XXII"
    # every code of the table falls in exactly one chapter
    for code in cat:
        assert sum(ch.contains(code) for ch in chapters) == 1, code


def test_search_accents_stemming_ranking(cat):
    top = cat.search("embolie pulmonaire", limit=3)
    assert top[0].dotted == "I26" and top[1].dotted == "I26.9"
    assert all(0 <= h.score <= 1 for h in top)
    # accent- and case-insensitive
    assert [h.code for h in cat.search("INSUFFISANCE RENALE AIGUE", limit=5)] == [
        h.code for h in cat.search("insuffisance rénale aiguë", limit=5)
    ]
    # plural / adjective forms meet through the stemmer
    assert cat.search("embolies pulmonaires", limit=1)[0].code == "I26"
    assert stem("rénaux") == stem("rénale") == stem("rénal")
    assert fold("Cœur ÉLARGI") == "coeur elargi"
    # codable_only and chapter filters
    hits = cat.search("fibrillation auriculaire paroxystique", limit=5, codable_only=True)
    assert hits[0].dotted == "I48.0" and all(h.codable for h in hits)
    assert all(h.dotted.startswith("I") for h in cat.search("fracture", chapter="IX", limit=5))
    assert cat.search("de la des") == []
    # prefix of an unknown stem
    assert cat.search("hypokali", limit=1)[0].code.startswith("E876")


def test_labels_within(cat):
    assert cat.labels_within({"fractur", "col", "femur", "deplac"})[0] == "S720"
    assert cat.labels_within({"toux"}) == []  # single words are left to exact matching


def test_second_load_reads_the_cache_without_rebuilding(tmp_path, monkeypatch):
    """Speed is measured by the bench (``medassist bench``); here: the cache is really used."""
    import knowledge.cim10 as cim10

    load_catalogue(cache_dir=tmp_path)  # builds and writes the pickle
    assert list(tmp_path.glob("cim10_catalogue_*.pkl"))

    def no_rebuild(*args, **kwargs):
        raise AssertionError("le catalogue a été reconstruit malgré le cache")

    monkeypatch.setattr(cim10, "_build_state", no_rebuild)
    cat2 = load_catalogue(cache_dir=tmp_path)
    assert len(cat2) == 42_886 and cat2.get("I50.02") is not None


def test_corrupt_cache_is_rebuilt(tmp_path):
    load_catalogue(cache_dir=tmp_path)
    f = next(tmp_path.glob("cim10_catalogue_*.pkl"))
    f.write_bytes(b"not a pickle")
    assert len(load_catalogue(cache_dir=tmp_path)) == 42_886
