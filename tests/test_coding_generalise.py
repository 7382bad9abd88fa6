"""Issue 15: catalogue-wide dense candidates, ATIH whole-stay rules, calibrated scores, DIM export.

No model is needed except in the one test marked ``embed`` (the real index over the whole
catalogue); the others use a small catalogue subset and a deterministic bag-of-words embedder."""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np
import pytest

from knowledge.cim10 import get_catalogue
from knowledge.french import fold, stem
from tools.coding import (
    CodingResult,
    SourceText,
    ValidatedStay,
    atih_restriction,
    suggest_codes,
    to_json,
    to_rum_csv,
    validated_stay,
)
from tools.coding.calibration import FEATURES, Calibrator, reliability
from tools.coding.label_index import LabelIndex, build_label_index, index_entries, load_index

pytestmark = pytest.mark.usefixtures("coding_caches")


class BagEmbedder:
    """Hashed bag of stems, unit-normalised: texts sharing words are close. Counts its calls."""

    name = "test:bag:64"
    dim = 64

    def __init__(self):
        self.calls = 0

    def _vec(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        for w in fold(text).split():
            if len(w) > 2:
                v[int(hashlib.md5(stem(w).encode()).hexdigest(), 16) % self.dim] += 1.0
        n = np.linalg.norm(v)
        return v / n if n else v

    def embed_documents(self, texts):
        self.calls += 1
        return np.stack([self._vec(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    def embed_query(self, text):
        return self._vec(text)


SUBSET = [("I500", "Insuffisance cardiaque congestive"), ("I10", "Hypertension essentielle (primitive)"),
          ("K650", "Péritonite aiguë"), ("J189", "Pneumopathie, sans précision"),
          ("I10", "hypertension artérielle"), ("E119", "Diabète sucré de type 2, sans complication")]


def code(text: str, **kw) -> CodingResult:
    return suggest_codes([SourceText(source="text", text=text)], **kw)


# --------------------------------------------------------------------------- the index
def test_index_rows_cover_the_catalogue_without_external_causes():
    cat = get_catalogue()
    rows = index_entries()
    codes = {c for c, _t in rows}
    assert not any(c[0] in "VWXY" for c in codes)
    eligible = [c for c in cat if c[0] not in "VWXY" and not cat[c].label.startswith("***")]
    assert set(eligible) <= codes and len(eligible) > 15_000
    assert ("I501", "œdème aigu du poumon") in rows  # synonyms are embedded too


def test_build_is_cached_keyed_and_resumable(tmp_path):
    from medassist.settings import Settings

    settings = Settings(data_dir=tmp_path)
    emb = BagEmbedder()
    path = build_label_index(settings, embedder=emb, rows=SUBSET, directory=tmp_path, batch_size=4,
                             progress=lambda m: None)
    assert path.exists() and emb.calls == 2
    again = build_label_index(settings, embedder=emb, rows=SUBSET, directory=tmp_path, progress=lambda m: None)
    assert again == path and emb.calls == 2  # cached: nothing re-embedded
    other = build_label_index(settings, embedder=emb, rows=SUBSET[:-1], directory=tmp_path, batch_size=4,
                              progress=lambda m: None)
    assert other != path and not path.exists()  # new key, the stale file is removed
    idx = load_index(other, emb)
    assert len(idx) == len(SUBSET) - 1
    meta = json.loads(other.with_suffix(".json").read_text())
    assert meta["rows"] == len(SUBSET) - 1 and meta["embedder"] == emb.name


def test_search_returns_distinct_codes_best_row_first():
    emb = BagEmbedder()
    idx = LabelIndex([c for c, _t in SUBSET], emb.embed_documents([t for _c, t in SUBSET]), emb)
    hits = idx.search_many(["hypertension artérielle traitée"], k=3)[0]
    assert hits[0][0] == "I10" and len({c for c, _s in hits}) == len(hits)
    assert hits == sorted(hits, key=lambda h: -h[1])
    assert idx("péritonite aiguë")[0] == ("K650", 1.0)


# --------------------------------------------------------------------------- dense candidates in the pipeline
class FakeIndex:
    """``search_many`` protocol: a fixed answer per keyword, records the clauses it was asked."""

    def __init__(self, answers: dict[str, list[tuple[str, float]]]):
        self.answers = answers
        self.asked: list[str] = []

    def search_many(self, texts, k=5):
        self.asked.extend(texts)
        return [next((v for key, v in self.answers.items() if key in t.lower()), [("R69", 0.3)]) for t in texts]


def test_dense_hit_becomes_a_qualified_candidate():
    idx = FakeIndex({"liquide d'ascite": [("K650", 0.81)]})
    r = code("Motif : infection du liquide d'ascite chez un cirrhotique. HTA.", label_search=idx)
    hit = next(s for s in r.suggestions if s.code == "K65.0")
    assert "recherche sémantique sur les libellés" in hit.origins
    assert all("ascite" in e.quote or "infection" in e.quote for e in hit.evidence)
    assert "R69" not in r.codes()  # under the cosine threshold
    r = code("Pas d'infection du liquide d'ascite. Conclusion : pneumopathie communautaire.", label_search=idx)
    assert "K65.0" not in r.codes()
    assert any(e.code == "K65.0" and e.reason == "négation" for e in r.excluded)


def test_only_clauses_the_lexical_matchers_missed_are_queried():
    idx = FakeIndex({})
    code("Motif : pneumopathie communautaire. Évolution marquée par une poussée congestive.", label_search=idx)
    assert not any("pneumopathie" in q for q in idx.asked)
    assert any("poussée congestive" in q for q in idx.asked)


def test_dense_hit_without_shared_word_needs_a_high_cosine():
    low = FakeIndex({"poussée": [("I500", 0.55)]})
    assert not any(c.startswith("I50") for c in code("Poussée évolutive.", label_search=low).codes())
    high = FakeIndex({"poussée": [("I500", 0.9)]})
    assert any(c.startswith("I50") for c in code("Poussée évolutive.", label_search=high).codes())


def test_a_code_found_only_by_dense_search_is_never_the_dp():
    idx = FakeIndex({"altération brutale": [("I639", 0.9)]})
    r = code("Motif : altération brutale. Pneumopathie communautaire.", label_search=idx)
    hit = next(s for s in r.suggestions if s.code == "I63.9")
    assert hit.role == "DAS" and "tout le catalogue" in hit.reason
    assert r.dp is not None and r.dp.code == "J18.9"


def test_dense_search_can_be_disabled():
    idx = FakeIndex({"liquide d'ascite": [("K650", 0.81)]})
    r = code("Infection du liquide d'ascite.", label_search=False)
    assert "K65.0" not in r.codes() and idx.asked == []


# --------------------------------------------------------------------------- ATIH whole-stay rules
def test_conclusion_gives_the_dp_before_the_motif():
    r = code("Motif : chute à domicile. Conclusion : pneumopathie d'inhalation. HTA.", label_search=False)
    assert r.dp.code == "J69.0"
    assert "conclusion" in r.dp.reason


def test_symptom_with_known_cause_is_not_the_dp():
    r = code("Motif : ascite. Conclusion : cirrhose alcoolique décompensée, ascite de grande abondance.",
             label_search=False)
    assert r.dp.code == "K70.3"
    assert "K74.6" not in r.codes()  # unspecified cirrhosis absorbed by the alcoholic one


def test_complication_after_a_cure_is_not_a_chemotherapy_session():
    r = code("Entrée pour neutropénie fébrile à J10 de la C3 de R-CHOP. Lymphome B diffus à grandes cellules.",
             label_search=False)
    assert r.dp.code == "D70" and "Z51.1" not in r.codes()
    assert any(e.code == "Z51.1" and "cure antérieure" in e.reason for e in r.excluded)
    r = code("Hôpital de jour : venue pour la cure C4 de FOLFIRI pour un adénocarcinome du côlon.", label_search=False)
    assert r.dp.code == "Z51.1"


def test_screening_is_not_a_diagnosis():
    r = code("Cirrhose alcoolique. Échographie de dépistage du carcinome hépatocellulaire dans 6 mois.",
             label_search=False)
    assert not any(c.startswith("C22") for c in r.codes())


def test_history_alone_is_flagged_and_explained():
    r = code("ATCD : HTA. ATCD d'infarctus du myocarde en 2012. Admis pour pneumopathie communautaire.",
             label_search=False)
    i10 = next(s for s in r.suggestions if s.code == "I10")
    assert i10.history and "antécédent" in i10.reason and "prise en charge" in i10.reason
    assert not any(c.startswith("I21") for c in r.codes())


def test_every_suggestion_carries_restriction_and_reason():
    r = code("Motif : bactériémie. Conclusion : pyélonéphrite aiguë. Diabète de type 2.", label_search=False)
    for s in r.suggestions:
        assert s.atih_restriction == atih_restriction(s.atih_type)
        assert s.reason and s.reason.startswith(s.role)
    a49 = next((s for s in r.suggestions if s.code.startswith("A49")), None)
    if a49 is not None:
        assert a49.atih_restriction.startswith("interdit en DP")


# --------------------------------------------------------------------------- calibration
def test_calibrator_probability_threshold_and_mismatch(tmp_path):
    cal = Calibrator(coef=[0.0] * len(FEATURES), intercept=2.0, fitted=True)
    assert 0.88 < cal.probability([1.0] * len(FEATURES)) < 0.89
    path = cal.save(tmp_path / "cal.json")
    assert Calibrator.load(path).fitted
    data = json.loads(path.read_text())
    data["features"] = data["features"][:-1]
    path.write_text(json.dumps(data))
    assert not Calibrator.load(path).fitted  # other features: raw scores, not wrong probabilities


def test_reliability_table_and_brier():
    r = reliability([(0.9, 1), (0.95, 1), (0.1, 0), (0.2, 1)], bins=2)
    assert r["n"] == 4 and r["brier"] == pytest.approx((0.01 + 0.0025 + 0.01 + 0.64) / 4, abs=1e-4)
    assert [b["observed"] for b in r["table"]] == [0.5, 1.0]


def test_scores_are_probabilities_and_low_ones_flagged_not_hidden():
    from tools.coding.calibration import get_calibrator

    cal = get_calibrator()
    text = ("Motif : dyspnée. Antécédents : HTA, FA permanente, hernie hiatale. Conclusion : décompensation "
            "cardiaque globale, FEVG 30 %. Pneumopathie communautaire associée.")
    r = code(text, label_search=False)
    das = [s.score for s in r.suggestions if s.role == "DAS"]
    assert das == sorted(das, reverse=True)
    for s in r.suggestions:
        assert 0.0 <= s.score <= 1.0
        assert s.to_review == (cal.fitted and s.score < cal.threshold)
    raw = code(text, label_search=False, calibrated=False)
    assert set(raw.codes()) == set(r.codes()) and not any(s.to_review for s in raw.suggestions)


# --------------------------------------------------------------------------- export
def test_export_validated_stay_csv_and_json():
    r = code("Hôpital de jour : venue pour la cure C4 de FOLFIRI pour un adénocarcinome du côlon. "
             "Métastases hépatiques.", label_search=False)
    stay = validated_stay(r, stay_id="S2", patient_id="P011", entry_date="2026-05-04", exit_date="2026-05-04",
                          include_to_review=True)
    assert stay.dp == "Z51.1" and stay.dr is not None and stay.dr.startswith("C18")
    assert stay.dr not in stay.das and stay.dp not in stay.das
    lines = to_rum_csv([stay]).splitlines()
    assert lines[0] == "stay_id;patient_id;entry_date;exit_date;dp;dr;das"
    assert lines[1].startswith(f"S2;P011;2026-05-04;2026-05-04;Z51.1;{stay.dr};")
    assert json.loads(to_json([stay]))[0]["dp"] == "Z51.1"


def test_export_refuses_forbidden_positions():
    with pytest.raises(ValueError, match="non autorisé en diagnostic principal"):
        ValidatedStay(stay_id="S1", dp="A49.9")
    with pytest.raises(ValueError, match="non codable"):
        ValidatedStay(stay_id="S1", dp="J18.9", das=["I50"])
    s = ValidatedStay(stay_id="S1", dp="j189", das=["I10", "I10", "J18.9"])
    assert s.dp == "J18.9" and s.das == ["I10"] and s.dr is None
    r = code("Motif : bactériémie.", label_search=False)
    with pytest.raises(ValueError, match="Aucun code validé"):
        validated_stay(r, stay_id="S1")


# --------------------------------------------------------------------------- the real index (model needed)
@pytest.mark.embed
def test_real_index_over_the_whole_catalogue():
    from tools.coding.label_index import get_label_index

    os.environ["MEDASSIST_CODING_DENSE"] = "1"
    try:
        idx = get_label_index(wait=True)
    finally:
        os.environ.pop("MEDASSIST_CODING_DENSE", None)  # built once (minutes on CPU) when `medassist setup` has not
    assert idx is not None and len(idx) >= 16_000
    top = idx.search_many(["Péritonite aiguë", "œdème aigu du poumon"], k=3)
    assert top[0][0][0] == "K650" and top[1][0][0] == "I501"
    assert all(0.0 < s <= 1.0001 for hits in top for _c, s in hits)
    text = "Motif : poussée d'insuffisance cardiaque congestive. Pas de péritonite aiguë. HTA."
    r = code(text, label_search=idx)
    assert not any(c.startswith("K65") for c in r.codes())
    for s in r.suggestions:
        for e in s.evidence:
            assert text[e.start : e.end] == e.quote
