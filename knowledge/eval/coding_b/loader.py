"""Loaders for coding set B (issue 15, item 4): new syntheses and whole-stay patient cases.

Why: the set has a train / dev / test split drawn before the cases were written (see
``PROTOCOL.md``); the scorer must be able to select one split, and the test split must be scored
only once, at the end. These helpers only read files — they never run the coding system.

* :func:`load_syntheses` — rows of ``syntheses.jsonl`` (schema of ``knowledge/eval/coding.jsonl``
  plus ``split``, ``traits``, ``evidence``); ``bench.coding_eval.evaluate(SYNTHESES, split="dev")``
  reads the same file directly.
* :func:`load_stays` — rows of ``stays.jsonl`` (schema of ``knowledge/eval/coding_stays`` plus
  ``split``, ``specialty``, ``traits``, ``evidence``), each scored on ``patients/<patient>``.
* :func:`patient_dirs` — the patient folders (``patient.json`` + documents) to ingest into a
  temporary index before patient-mode scoring (as ``bench.harness._service_for`` does for
  ``--cases``).
* :func:`draw_split` — the split rule of the protocol, recomputed from the case ids.

Example::

    >>> from knowledge.eval.coding_b.loader import load_syntheses, load_stays
    >>> len(load_syntheses("dev")), len(load_stays("test"))
    (48, 9)
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent
SYNTHESES = ROOT / "syntheses.jsonl"
STAYS = ROOT / "stays.jsonl"
PATIENTS = ROOT / "patients"
SPLITS = ("train", "dev", "test")
SEED = "coding_b/2026-12-03/"
#: the two families of case ids the split is drawn over, separately
FAMILIES = ([f"B{i:03d}" for i in range(1, 161)], [f"C{i}" for i in range(101, 131)])


def _key(case_id: str) -> str:
    return hashlib.sha256((SEED + case_id).encode("utf-8")).hexdigest()


def draw_split() -> dict[str, str]:
    """The split of every case id: within each family, ids sorted by ``sha256(SEED + id)``; the
    first ``round(0.4 n)`` are train, the next ``round(0.3 n)`` dev, the rest test."""
    out: dict[str, str] = {}
    for fam in FAMILIES:
        n = len(fam)
        n_train, n_dev = round(0.4 * n), round(0.3 * n)
        for rank, cid in enumerate(sorted(fam, key=_key)):
            out[cid] = "train" if rank < n_train else "dev" if rank < n_train + n_dev else "test"
    return dict(sorted(out.items()))


def _read(path: Path, split: str | None) -> list[dict]:
    if split is not None and split not in SPLITS:
        raise ValueError(f"split inconnu : {split!r} (attendu : {', '.join(SPLITS)})")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in rows if split is None or r["split"] == split]


def load_syntheses(split: str | None = None) -> list[dict]:
    """Synthesis cases, optionally of one split (``train`` / ``dev`` / ``test``)."""
    return _read(SYNTHESES, split)


def load_stays(split: str | None = None) -> list[dict]:
    """Whole-stay gold (patient, stay, dp, das, forbidden…), optionally of one split."""
    return _read(STAYS, split)


def patient_dirs(split: str | None = None) -> list[Path]:
    """Patient folders of the stays of ``split`` (all by default), to ingest before scoring."""
    return [PATIENTS / g["patient"] for g in load_stays(split)]
