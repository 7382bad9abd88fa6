"""The ``medassist eval`` and ``medassist bench`` commands, registered on the command line by
:func:`register`.

They live with the measurements they run: the command line (``ui/cli.py``) is a face that only
calls :func:`register`, so the application's layers never import the benchmarks, and the options,
French messages and thresholds (``bench/floors.json``) of the measurements stay in one package.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from medassist.settings import get_settings
from ui.cli_output import JsonOpt, emit_json, fail


def register(app: typer.Typer) -> None:
    """Add ``eval`` and ``bench`` to the ``medassist`` command line (in this order: the help lists
    commands as they are registered)."""
    app.command("eval")(eval_cmd)
    app.command()(bench)


def _parse_scales(text: str) -> list[int]:
    try:
        return [int(float(x.strip().lower().replace("k", "")) * (1000 if "k" in x.lower() else 1))
                for x in text.split(",") if x.strip()]
    except ValueError:
        fail("--scale attend une liste comme 1k,10k,100k.")


def _parse_backends(text: str | None, settings) -> list[str] | None:
    from bench.retrieval_bench import BACKENDS

    if text is None:
        return None
    names = [x.strip() for x in text.split(",") if x.strip()]
    unknown = [n for n in names if n not in BACKENDS]
    if unknown or not names:
        fail(f"Moteur inconnu : {', '.join(unknown) or '(aucun)'} (choix : {', '.join(BACKENDS)}).")
    if "server" in names and not settings.qdrant_url:
        fail("--backends server demande l'URL d'un serveur Qdrant (MEDASSIST_QDRANT_URL).")
    return [BACKENDS[n] for n in names]


@contextmanager
def _measure_errors():
    """eval and bench: a missing model, a locked or empty index end in one French line."""
    from retrieval.embedder import EmbeddingError
    from retrieval.service import UnknownPatientError
    from retrieval.store import StoreError

    try:
        yield
    except (EmbeddingError, StoreError) as exc:
        fail(str(exc))
    except UnknownPatientError as exc:
        fail(f"{exc} Les jeux de développement portent sur le corpus de démonstration : indexez-le d'abord "
             "(« medassist ingest knowledge/patients knowledge/procedures » ou « make index »).")


def _client_cap(client_max: str) -> dict[str, int] | None:
    return {"qdrant-client-local": _parse_scales(client_max)[0]} if client_max else None


ScaleOpt = Annotated[str, typer.Option("--scale", help="Tailles d'index, ex. 1k,10k,100k.")]
BackendsOpt = Annotated[str | None, typer.Option(
    "--backends", help="Moteurs comparés : edge, client, server (défaut : edge,client, plus server si MEDASSIST_QDRANT_URL).")]
ClientMaxOpt = Annotated[str, typer.Option(
    "--client-max", help="Taille au-delà de laquelle le mode local de qdrant-client n'est pas mesuré (ex. 10k ; vide : aucune).")]


def eval_cmd(
    action: Annotated[list[str] | None, typer.Argument(
        help="« aggregate FICHIER… » : regroupe les exports de métriques de plusieurs sites (avec --report).")] = None,
    suite: Annotated[str, typer.Option(
        "--suite", help="retrieval, coding, qa, drafting, security, robustness, structure ou all.")] = "all",
    report: Annotated[Path | None, typer.Option("--report", help="Dossier du rapport (Markdown, JSON, graphiques).")] = None,
    cases: Annotated[Path | None, typer.Option("--cases", help="Autre jeu de cas (dossiers patients + JSONL).")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="Sous-ensemble fixe et rapide (celui de la CI).")] = False,
    check: Annotated[bool, typer.Option("--check", help="Échoue si une mesure sort des seuils de bench/floors.json.")] = False,
    bench_scale: Annotated[str | None, typer.Option(
        "--bench", help="Ajoute les mesures de performance à ces tailles (ex. 1k,10k,100k).")] = None,
    backends: BackendsOpt = None,
    client_max: ClientMaxOpt = "",
    update_readme: Annotated[bool, typer.Option("--update-readme", help="Réécrit la section Results du README.")] = False,
    export_metrics: Annotated[Path | None, typer.Option(
        "--export-metrics",
        help="Écrit les seules métriques (comptes et taux, cellules < 5 masquées) pour un regroupement multi-sites.")] = None,
    site: Annotated[str, typer.Option("--site", help="Libellé du site dans l'export de métriques.")] = "site",
    json_out: JsonOpt = False,
) -> None:
    """Évalue chaque couche sur les jeux de développement et écrit un rapport lisible.

    ``--bench`` fait aussi les mesures de ``medassist bench`` dans le même rapport : avec
    ``--update-readme``, une seule commande régénère tous les chiffres du README (``make results``)."""
    if action:
        _aggregate(action, report, json_out)
        return
    from bench.harness import SUITES, bench_lines, check_floors, markdown_report, run_bench, run_eval
    from bench.harness import update_readme as write_readme

    suites = list(SUITES) if suite == "all" else [s.strip() for s in suite.split(",")]
    unknown = [s for s in suites if s not in SUITES]
    if unknown:
        fail(f"Suite inconnue : {', '.join(unknown)} (choix : {', '.join(SUITES)}, all).")
    if cases is not None and not cases.is_dir():
        fail(f"Dossier de cas introuvable : « {cases} ».")
    if update_readme and (quick or cases is not None):
        fail("--update-readme demande l'évaluation complète des jeux de développement (sans --quick ni --cases).")
    settings = get_settings()
    scales = _parse_scales(bench_scale) if bench_scale else None
    chosen_backends = _parse_backends(backends, settings)
    bench_result = None
    with _measure_errors():
        result = run_eval(suites, report, cases, quick=quick)
        if scales:
            bench_result = run_bench(scales, report, backends=chosen_backends, max_chunks=_client_cap(client_max))
    if update_readme:
        if bench_result is None:  # the last bench of the same report folder, if any
            bench_json = (report or Path("reports/latest")) / "bench.json"
            bench_result = json.loads(bench_json.read_text()) if bench_json.exists() else None
        write_readme(Path("README.md"), result, bench_result)
    if export_metrics:
        from bench.metrics_export import write_export

        try:
            written = write_export(result, export_metrics, site=site)
        except ValueError as exc:
            fail(str(exc))
        typer.secho(f"Export de métriques (sans donnée patient) écrit : {written}", fg=typer.colors.GREEN, err=True)
    failures = check_floors(result) if check else []
    if json_out:
        emit_json({**result, "bench": bench_result, "floor_failures": failures} if (bench_result or check) else result)
    else:
        typer.echo(markdown_report(result))
        if bench_result:
            typer.echo("\n".join(bench_lines(bench_result)))
        if check:
            typer.echo("Seuils : tous respectés." if not failures else
                       "Seuils non respectés :\n" + "\n".join(f"  ✗ {f}" for f in failures))
    if failures:
        raise typer.Exit(1)


def _aggregate(action: list[str], report: Path | None, json_out: bool) -> None:
    """``medassist eval aggregate FILE…``: pool metrics-only exports of several sites."""
    from bench.metrics_export import aggregate_markdown, write_aggregate

    if action[0] != "aggregate":
        fail(f"Action inconnue : « {action[0]} » (seule action : aggregate FICHIER…).")
    if len(action) < 2:
        fail("Indiquez au moins un export de métriques : medassist eval aggregate FICHIER…")
    try:
        agg = write_aggregate(action[1:], report)
    except ValueError as exc:
        fail(str(exc))
    if json_out:
        emit_json(agg)
    else:
        typer.echo(aggregate_markdown(agg))


def bench(
    scale: ScaleOpt = "1k,10k",
    report: Annotated[Path | None, typer.Option("--report", help="Dossier du rapport.")] = None,
    queries: Annotated[int, typer.Option("--queries", help="Requêtes par taille et par moteur.")] = 100,
    backends: BackendsOpt = None,
    client_max: ClientMaxOpt = "",
    only: Annotated[str | None, typer.Option(
        "--only", help="Phases mesurées, ex. embedding,ingest (parmi embedding, ingest, store, coding, agent).")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Mesure débit d'indexation, latences par moteur (qdrant-edge, qdrant-client local, serveur Qdrant),
    codage et tours de l'agent ; des rapports entre moteurs, pas seulement des temps."""
    from bench.harness import BENCH_PHASES, bench_lines, run_bench

    settings = get_settings()
    phases = tuple(p.strip() for p in only.split(",") if p.strip()) if only else BENCH_PHASES
    if unknown := [p for p in phases if p not in BENCH_PHASES]:
        fail(f"Phase inconnue : {', '.join(unknown)} (choix : {', '.join(BENCH_PHASES)}).")
    with _measure_errors():
        result = run_bench(_parse_scales(scale), report, queries=queries, backends=_parse_backends(backends, settings),
                           max_chunks=_client_cap(client_max), phases=phases)
    if json_out:
        emit_json(result)
    else:
        typer.echo("\n".join(bench_lines(result)))
