"""Metrics-only evaluation exports that hospitals can pool: counts and rates, nothing else.

Why: in the shared evaluation, each hospital runs the same ``medassist eval`` on its own records and
shares only metrics. :func:`export_metrics` keeps, from an evaluation report, the counts (TP, FP,
FN, cases) and the rates computed from them — no text, no patient or document id, no title, no
per-case row — plus the software and rules versions, the case-set hash and a site label. Counts of
1 to 4 are suppressed (``null``, listed in ``suppressed``) and so are the rates derived from them
(small-cell rule). :func:`aggregate` pools several sites' exports: counts are summed, rates
recomputed from the sums (so each site weighs by its number of cases), per site and overall;
:func:`write_aggregate` writes ``aggregate.json``, ``aggregate.md`` and a plot.

Example::

    >>> rep = {"suites": {"structure": {"n": 20, "case_set_hash": "abc", "forbidden_checked": 30,
    ...        "forbidden_reported": 0, "fields": {"grade": {"tp": 18, "fp": 1, "fn": 2}}}}}
    >>> e = export_metrics(rep, site="CH A")
    >>> e["suites"]["structure"]["fields"]["grade"]["tp"], e["suites"]["structure"]["fields"]["grade"]["fp"]
    (18, None)
    >>> e["suites"]["structure"]["fields"]["grade"]["precision"] is None   # derived from a suppressed cell
    True

Limits: only the ``structure`` suite has a metrics-only form yet (the other suites' reports hold
per-question rows); pooled figures equal those of the union of the cases only for the cells no site
suppressed — suppressed cells are left out of the pool and listed per site.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from bench.structure_eval import prf

FORMAT = "medassist-metrics/1"
MIN_CELL = 5
COUNT_KEYS = ("tp", "fp", "fn")


def show(v):
    """A rate for a Markdown cell: « — » when absent or suppressed."""
    return "—" if v is None else v


def software_version() -> str:
    try:
        return metadata.version("medassist")
    except metadata.PackageNotFoundError:
        return "inconnue"


def _cell(v: int | None) -> int | None:
    return None if v is None or 0 < v < MIN_CELL else int(v)


def _row(counts: dict) -> tuple[dict, bool]:
    """Suppressed counts + rates (rates only when no count of the row was suppressed)."""
    row = {k: _cell(counts.get(k, 0)) for k in COUNT_KEYS}
    suppressed = any(row[k] is None for k in COUNT_KEYS)
    rates = prf(*(counts.get(k, 0) for k in COUNT_KEYS)) if not suppressed else {}
    for k in ("precision", "recall", "f1"):
        row[k] = rates.get(k)
    return row, suppressed


def export_metrics(report: dict, *, site: str) -> dict:
    """The metrics-only form of ``report`` (the dict ``run_eval`` returns)."""
    from tools.structure.models import STRUCTURE_VERSION

    s = report.get("suites", {}).get("structure")
    if s is None:
        raise ValueError("L'export de métriques porte sur la suite « structure » : lancez "
                         "« medassist eval --suite structure --export-metrics FICHIER ».")
    fields, suppressed = {}, []
    for name, c in s["fields"].items():
        fields[name], sup = _row(c)
        if sup:
            suppressed.append(name)
    micro_counts = {k: sum(c.get(k, 0) for c in s["fields"].values()) for k in COUNT_KEYS}
    micro, sup = _row(micro_counts)
    if sup:
        suppressed.append("micro")
    return {
        "format": FORMAT, "site": site, "software_version": software_version(),
        "rules_version": STRUCTURE_VERSION, "generated": datetime.now(UTC).date().isoformat(),
        "suites": {"structure": {
            "case_set_hash": s["case_set_hash"], "n_cases": _cell(s["n"]), "fields": fields, "micro": micro,
            "forbidden_checked": _cell(s["forbidden_checked"]), "forbidden_reported": _cell(s["forbidden_reported"]),
            "suppressed": suppressed, "min_cell": MIN_CELL}},
    }


def write_export(report: dict, path: str | Path, *, site: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(export_metrics(report, site=site), ensure_ascii=False, indent=2), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- pooling
def aggregate(exports: list[dict]) -> dict:
    """Pool site exports: per site (as exported) and overall (summed counts, recomputed rates)."""
    if not exports:
        raise ValueError("Aucun export de métriques à agréger.")
    for e in exports:
        if e.get("format") != FORMAT:
            raise ValueError(f"Format d'export inconnu : « {e.get('format')} » (attendu : {FORMAT}).")
    sites = [e["site"] for e in exports]
    if len(set(sites)) != len(sites):
        raise ValueError("Deux exports portent le même libellé de site : chaque site doit avoir son libellé.")
    names: list[str] = []
    for e in exports:
        names += [n for n in e["suites"]["structure"]["fields"] if n not in names]
    pooled, left_out = {}, {}
    for n in names:
        tot, missing = {k: 0 for k in COUNT_KEYS}, []
        for e in exports:
            row = e["suites"]["structure"]["fields"].get(n)
            if row is None or any(row.get(k) is None for k in COUNT_KEYS):
                missing.append(e["site"])
                continue
            for k in COUNT_KEYS:
                tot[k] += row[k]
        pooled[n] = {**prf(**tot), "sites": len(exports) - len(missing)}
        if missing:
            left_out[n] = missing
    micro_tot, micro_missing = {k: 0 for k in COUNT_KEYS}, []
    for e in exports:
        m = e["suites"]["structure"]["micro"]
        if any(m.get(k) is None for k in COUNT_KEYS):
            micro_missing.append(e["site"])
            continue
        for k in COUNT_KEYS:
            micro_tot[k] += m[k]
    n_cases = [e["suites"]["structure"]["n_cases"] for e in exports]
    return {
        "format": FORMAT + "+aggregate", "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "sites": [{"site": e["site"], "software_version": e["software_version"], "rules_version": e["rules_version"],
                   "case_set_hash": e["suites"]["structure"]["case_set_hash"],
                   "n_cases": e["suites"]["structure"]["n_cases"], "micro": e["suites"]["structure"]["micro"],
                   "fields": e["suites"]["structure"]["fields"],
                   "forbidden_reported": e["suites"]["structure"]["forbidden_reported"]} for e in exports],
        "overall": {"n_cases": sum(n for n in n_cases if n is not None) if all(n is not None for n in n_cases) else None,
                    "micro": {**prf(**micro_tot), "sites": len(exports) - len(micro_missing)},
                    "fields": pooled, "left_out": left_out,
                    "versions": sorted({e["rules_version"] for e in exports})},
    }


def aggregate_markdown(agg: dict) -> str:
    o = agg["overall"]
    sites = agg["sites"]
    lines = ["# medassist — évaluation multi-sites (métriques seules)", "",
             f"Généré le {agg['generated']} ; {len(sites)} site(s) ; versions des règles : {', '.join(o['versions'])}.", "",
             "| site | cas | P | R | F1 | trouvailles familiales/niées/hypothétiques attribuées au patient | empreinte du jeu |",
             "|---|---|---|---|---|---|---|"]
    for s in sites:
        m = s["micro"]
        lines.append(f"| {s['site']} | {show(s['n_cases'])} | {show(m['precision'])} | {show(m['recall'])} | "
                     f"{show(m['f1'])} | {show(s['forbidden_reported'])} | `{s['case_set_hash']}` |")
    m = o["micro"]
    lines.append(f"| **ensemble** | {show(o['n_cases'])} | {show(m['precision'])} | {show(m['recall'])} | {show(m['f1'])} | | |")
    lines += ["", "## Par champ (comptes sommés sur les sites, taux recalculés)", "",
              "| champ | P | R | F1 | sites comptés |", "|---|---|---|---|---|"]
    for n, r in o["fields"].items():
        lines.append(f"| {n} | {show(r['precision'])} | {show(r['recall'])} | {show(r['f1'])} | {r['sites']}/{len(sites)} |")
    if o["left_out"]:
        lines += ["", "Cellules masquées (moins de 5 cas) et donc exclues du regroupement : "
                  + "; ".join(f"{n} ({', '.join(v)})" for n, v in o["left_out"].items()) + "."]
    return "\n".join(lines) + "\n"


def write_aggregate(files: list[str | Path], out_dir: str | Path | None = None) -> dict:
    """Read exports, pool them, and (with ``out_dir``) write ``aggregate.json``, ``aggregate.md``, a plot."""
    exports = []
    for f in files:
        try:
            exports.append(json.loads(Path(f).read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"Export illisible : « {f} ».") from exc
    agg = aggregate(exports)
    if out_dir:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "aggregate.json").write_text(json.dumps(agg, ensure_ascii=False, indent=2), encoding="utf-8")
        (out / "aggregate.md").write_text(aggregate_markdown(agg) + "\n![F1 par champ](aggregate_f1.png)\n",
                                          encoding="utf-8")
        _plot(agg, out / "aggregate_f1.png")
        agg["files"] = [str(out / n) for n in ("aggregate.json", "aggregate.md", "aggregate_f1.png")]
    return agg


def _plot(agg: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(agg["overall"]["fields"])
    series = [(s["site"], [s["fields"].get(n, {}).get("f1") for n in names]) for s in agg["sites"]]
    series.append(("ensemble", [agg["overall"]["fields"][n]["f1"] for n in names]))
    fig, ax = plt.subplots(figsize=(max(6, 0.45 * len(names)), 4))
    w = 0.8 / len(series)
    for i, (label, vals) in enumerate(series):
        ax.bar([x + i * w for x in range(len(names))], [v if v is not None else 0 for v in vals], w, label=label)
    ax.set_xticks([x + 0.4 - w / 2 for x in range(len(names))], names, rotation=90)
    ax.set(ylabel="F1 (0 = masqué ou absent)", ylim=(0, 1.05), title="Structuration oncologique : F1 par champ et par site")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
