"""Calibrated suggestion scores: the probability that a code is in the coder's final set.

Why: the raw scores of :mod:`tools.coding.extract` (how a mention was found, plus a positional
bonus) sat between 0.90 and 0.97 for nearly every code, so they did not help a coder choose. A
logistic model over features the extractor already computes turns them into a probability, fitted
on the dev split of ``knowledge/eval/coding.jsonl`` (label = the code is among the gold DP/DAS);
``bench/coding_eval.py`` reports its Brier score and a reliability table on each split.

Features (:data:`FEATURES`, one row per suggestion, see :func:`tools.coding.extract.suggest_codes`):
role (DP), best mention confidence by origin, found only by dense search, best dense cosine, number
of sentences naming it (log), antecedent only, symptom (R) or factor (Z) code, positional DP bonus,
rank in the output, missing ATIH detail, precision rule applied, number of documents (log: whole
stays read many documents and name many more conditions than a synthesis).

The fitted coefficients live in ``tools/coding/calibration.json`` (written by
``python bench/coding_eval.py --fit-calibration``); without that file, or when its feature list
differs from :data:`FEATURES`, :func:`calibrate` returns the raw score unchanged (and says so in
``Calibrator.fitted``).

Example::

    >>> cal = Calibrator(coef=[0.0] * len(FEATURES), intercept=0.0, fitted=True)
    >>> cal.probability([0.0] * len(FEATURES))
    0.5

Limits: fitted on 75 synthetic syntheses written by the project (a few hundred suggestions), so
the probabilities are only as good as that sample: on new wording they should be re-checked with
the reliability table. Patient-mode stays (long documents) are not in the fit.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

__all__ = ["FEATURES", "REVIEW_THRESHOLD", "Calibrator", "calibration_path", "get_calibrator", "reliability"]

FEATURES = (
    "is_dp",
    "best_conf",
    "dense_only",
    "dense_cosine",
    "log_sentences",
    "history_only",
    "symptom_code",
    "factor_code",
    "position_bonus",
    "rank",
    "missing_detail",
    "rule_applied",
    "log_sources",
)

#: Suggestions whose calibrated probability is under this are flagged « à vérifier » (not hidden).
REVIEW_THRESHOLD = 0.5


def calibration_path() -> Path:
    return Path(__file__).with_name("calibration.json")


@dataclass
class Calibrator:
    coef: list[float] = field(default_factory=list)
    intercept: float = 0.0
    fitted: bool = False
    threshold: float = REVIEW_THRESHOLD
    meta: dict = field(default_factory=dict)

    def probability(self, x: list[float]) -> float:
        z = self.intercept + sum(c * v for c, v in zip(self.coef, x))
        return round(1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z)))), 4)

    def save(self, path: Path | None = None) -> Path:
        path = path or calibration_path()
        payload = {"features": list(FEATURES), "coef": [round(c, 6) for c in self.coef],
                   "intercept": round(self.intercept, 6), "threshold": self.threshold, "meta": self.meta}
        path.write_text(json.dumps(payload, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: Path | None = None) -> Calibrator:
        path = path or calibration_path()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls()
        if data.get("features") != list(FEATURES):
            return cls()  # fitted on other features: raw scores rather than a wrong probability
        return cls(coef=list(data["coef"]), intercept=float(data["intercept"]), fitted=True,
                   threshold=float(data.get("threshold", REVIEW_THRESHOLD)), meta=data.get("meta", {}))


@lru_cache(maxsize=1)
def get_calibrator() -> Calibrator:
    return Calibrator.load()


def fit(rows: list[list[float]], labels: list[int], *, c: float = 1.0) -> Calibrator:
    """Logistic regression (L2, scikit-learn) of ``labels`` on feature ``rows``."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, max_iter=2000)
    model.fit(rows, labels)
    return Calibrator(coef=[float(x) for x in model.coef_[0]], intercept=float(model.intercept_[0]), fitted=True)


def reliability(pairs: list[tuple[float, int]], bins: int = 5) -> dict:
    """Brier score and a reliability table (equal-width probability bins) of ``(p, label)`` pairs.

    >>> r = reliability([(0.9, 1), (0.8, 1), (0.2, 0), (0.3, 1)], bins=2)
    >>> r["brier"], [(b["n"], b["observed"]) for b in r["table"]]
    (0.145, [(2, 0.5), (2, 1.0)])
    """
    if not pairs:
        return {"n": 0, "brier": None, "table": []}
    brier = sum((p - y) ** 2 for p, y in pairs) / len(pairs)
    table = []
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        inside = [(p, y) for p, y in pairs if lo <= p < hi or (b == bins - 1 and p == 1.0)]
        if not inside:
            continue
        table.append({"bin": f"[{lo:.1f}, {hi:.1f}{']' if b == bins - 1 else '['}", "n": len(inside),
                      "mean_p": round(sum(p for p, _ in inside) / len(inside), 3),
                      "observed": round(sum(y for _, y in inside) / len(inside), 3)})
    return {"n": len(pairs), "brier": round(brier, 4), "table": table}
