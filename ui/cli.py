"""The ``medassist`` command line: a face of the application, like the chat.

It sits at the top of the layers and calls the tools, the retrieval service and the agent, as the
chat does. Every command that returns data takes ``--json`` and prints exactly one JSON document
(the pydantic schemas of :mod:`medassist.schemas` and the tools); errors are printed in French on
stderr with a non-zero exit code, never as a traceback (:mod:`ui.cli_output`). The ``eval`` and
``bench`` commands are defined with the measurements, in :mod:`bench.cli`, and registered here.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from bench.cli import register as register_measurements
from medassist.settings import get_settings
from ui.cli_output import JsonOpt, emit_json, fail

app = typer.Typer(
    name="medassist",
    help="Assistant médico-administratif auto-hébergé : réponses citées, codage CIM-10, courriers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
llm_app = typer.Typer(help="Serveur de modèle de langage (llama.cpp embarqué, ou vLLM distant).", no_args_is_help=True)
app.add_typer(llm_app, name="llm")


@app.callback()
def _private_files() -> None:
    # every file a command writes (databases, exports, index) is readable by its owner only
    from medassist.settings import private_umask

    private_umask()

__all__ = ["JsonOpt", "app", "emit_json", "fail", "main"]


# --------------------------------------------------------------------------- setup
@app.command()
def setup(
    embeddings: Annotated[bool, typer.Option(
        help="Assembler le modèle d'embeddings EmbeddingGemma (et son export ONNX).")] = True,
    llm: Annotated[bool | None, typer.Option(
        help="Installer llama.cpp et SmolLM2 (chemin protocole OpenAI) ; "
             "par défaut seulement si MEDASSIST_LLM_BASE_URL=local.")] = None,
    calibrate: Annotated[bool, typer.Option(
        help="Mesurer les moteurs d'embeddings sur ce processeur et retenir le plus rapide.")] = True,
) -> None:
    """Installe les modèles locaux (idempotent, reprise possible, empreintes sha256 vérifiées)."""
    from medassist.hardware import cpu_info
    from medassist.provision import ProvisionError, setup_all

    settings = get_settings()
    typer.echo(f"Processeur : {cpu_info().summary} ; bf16 natif : {'oui' if cpu_info().native_bf16 else 'non'}.")
    try:
        setup_all(settings, embeddings=embeddings, llm=llm, progress=lambda m: typer.echo(m))
    except ProvisionError as exc:
        fail(str(exc))
    if embeddings and calibrate and not settings.embedding_url:
        from retrieval.embedder import EmbeddingError
        from retrieval.embedder import calibrate as measure

        try:
            measure(settings, progress=lambda m: typer.echo(m))
        except EmbeddingError as exc:
            fail(str(exc))
    typer.echo("Installation terminée.")


# --------------------------------------------------------------------------- llm
@llm_app.command("serve")
def llm_serve() -> None:
    """Démarre le serveur llama.cpp embarqué (SmolLM2, 1 thread) et attend Ctrl-C."""
    import time

    from medassist.llm import LlmServerError, LocalLlamaServer
    from medassist.provision import ProvisionError, provision_llm

    settings = get_settings()
    try:
        provision_llm(settings, progress=lambda m: typer.echo(m))  # built on first use only
        server = LocalLlamaServer(settings).start()
    except (LlmServerError, ProvisionError) as exc:
        fail(str(exc))
    typer.echo(f"Serveur OpenAI-compatible prêt : {server.base_url} (Ctrl-C pour arrêter)")
    try:
        while server.proc and server.proc.poll() is None:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


@llm_app.command("check")
def llm_check(json_out: JsonOpt = False) -> None:
    """Vérifie que le serveur de modèle configuré répond."""
    from medassist.llm import check_health

    health = check_health(get_settings())
    if json_out:
        emit_json({"ok": health.ok, "message": health.message, "models": list(health.models)})
    else:
        typer.echo(health.message)
    if not health.ok:
        raise typer.Exit(1)


# --------------------------------------------------------------------------- retrieval
def _service():
    from retrieval.service import RetrievalService
    from retrieval.store import StoreError

    try:
        return RetrievalService(get_settings())
    except StoreError as exc:
        fail(str(exc))


@contextmanager
def _ingest_progress(quiet: bool = False, every_s: float = 5.0):
    """A progress callback for ingestion: a live bar (documents, chunks, rate, time left) on a
    terminal; on a log (CI, ``make run > log``) one line at most every ``every_s`` seconds and at
    the end, on stderr so that ``--json`` output stays one document."""
    import time

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    if quiet:
        yield None
        return
    console = Console(stderr=True)
    if console.is_terminal:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), console=console,
                      transient=True) as bar:
            docs = bar.add_task("Lecture des documents", total=None, rate="")
            chunks = bar.add_task("Embeddings (fragments)", total=None, rate="")

            def update(p):
                bar.update(docs, completed=p.documents_done, total=p.documents_total)
                bar.update(chunks, completed=p.chunks_done, total=p.chunks_total or None,
                           rate=f"{p.rate:.1f} fragments/s" if p.rate else "")

            yield update
        return
    last = [float("-inf"), None]  # the first line is printed at once, whatever the clock reads

    def log(p):
        last[1] = p
        if time.monotonic() - last[0] >= every_s:
            last[0] = time.monotonic()
            print(p.message, file=sys.stderr, flush=True)

    yield log
    if last[1] is not None:
        print(last[1].message, file=sys.stderr, flush=True)


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(
        help="Fichiers ou dossiers (dossier patient avec patient.json, corpus des procédures).")],
    patient: Annotated[str | None, typer.Option("--patient", help="Identifiant du patient pour des fichiers isolés.")] = None,
    corpus: Annotated[str | None, typer.Option("--corpus", help="patients ou procedures.")] = None,
    delete: Annotated[bool, typer.Option("--delete", help="Supprime le document (--doc) ou tout le dossier du patient.")] = False,
    doc: Annotated[str | None, typer.Option("--doc", help="Identifiant de document à supprimer (avec --delete).")] = None,
    replace: Annotated[str | None, typer.Option(
        "--replace", help="Remplace ce document par le fichier donné (l'ancienne version est conservée et restaurable).")] = None,
    user: UserOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Indexe des dossiers patients ou des procédures (idempotent, sans remplacement silencieux).

    Un fichier isolé dont l'identifiant existe déjà est ajouté sous un nouvel identifiant ; un
    remplacement se demande par --replace (l'ancienne version reste restaurable)."""
    from medassist.schemas import Corpus, Role
    from retrieval.store import Scope, StoreError

    try:
        corpus_enum = Corpus(corpus) if corpus else None
    except ValueError:
        fail("--corpus doit valoir « patients » ou « procedures ».")
    svc = _service()
    try:
        if delete:
            if corpus_enum == Corpus.procedures and doc:
                ok = svc.delete_document(Scope.procedures(), doc)
            elif patient and doc:
                ok = svc.delete_document(Scope.patient(patient), doc)
            elif patient:
                svc.delete_patient(patient)
                ok = True
            else:
                fail("--delete demande --patient (et éventuellement --doc) ou --corpus procedures --doc.")
            if json_out:
                emit_json({"deleted": ok, "patient": patient, "doc": doc})
            else:
                typer.echo("Supprimé." if ok else "Rien à supprimer.")
            return
        who = resolve_user(user, Role.clinician.value) if replace else None
        with _ingest_progress(quiet=json_out) as on_progress:
            report = _guarded(lambda: svc.ingest_paths(paths, patient_id=patient, corpus=corpus_enum,
                                                       progress=on_progress, replace=replace, user=who))
    except StoreError as exc:
        fail(str(exc))
    finally:
        svc.close()
    if json_out:
        emit_json(report)
    else:
        typer.echo(
            f"{len(report.added)} ajouté(s), {len(report.replaced)} remplacé(s), {len(report.unchanged)} inchangé(s), "
            f"{report.chunks} fragment(s) en {report.seconds:.1f} s (embeddings : {report.embed_seconds:.1f} s)."
        )
        for dup in report.duplicates:
            typer.secho(f"  ℹ {dup.message}", err=True)
        for note in report.notices:
            typer.secho(f"  ℹ {note}", err=True)
        for rep in report.replacements:
            typer.secho(f"  ↻ {rep.message}", err=True)
        for err in report.errors:
            typer.secho(f"  ✗ {err.message}", fg=typer.colors.YELLOW, err=True)
    if report.errors and not (report.added or report.replaced or report.unchanged or report.duplicates):
        raise typer.Exit(1)


@app.command()
def versions(
    doc: Annotated[str, typer.Argument(help="Identifiant du document.")],
    patient: Annotated[str | None, typer.Option("--patient", help="Patient du document (défaut : les procédures).")] = None,
    restore: Annotated[int | None, typer.Option(
        "--restore", help="Restaure cette version (la version actuelle est conservée).")] = None,
    user: UserOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Liste les versions conservées d'un document (remplacé, restauré ou supprimé) ; --restore N la rétablit."""
    from medassist.schemas import Role
    from retrieval.store import Scope

    svc = _service()
    try:
        scope = Scope.patient(patient) if patient else Scope.procedures()
        if restore is None:
            rows = _guarded(lambda: svc.versions(scope, doc))
            if json_out:
                emit_json(rows)
            elif not rows:
                typer.echo(f"Aucune version conservée pour « {doc} ».")
            for r in rows if not json_out else []:
                typer.echo(f"v{r['version']} · {r['title']} · {r['chars']} caractères, {r['chunks']} passages · "
                           f"archivée le {str(r['archived_at'])[:16]} ({r['reason']})")
            return
        who = resolve_user(user, Role.clinician.value)
        report = _guarded(lambda: svc.restore(scope, doc, restore, user=who))
    finally:
        svc.close()
    if json_out:
        emit_json(report)
    else:
        for rep in report.replacements:
            typer.echo(f"↻ {rep.message}")
        for err in report.errors:
            typer.secho(f"  ✗ {err.message}", fg=typer.colors.YELLOW, err=True)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="Question ou mots-clés.")],
    patient: Annotated[str | None, typer.Option("--patient", help="Dossier patient où chercher.")] = None,
    corpus: Annotated[str, typer.Option("--corpus", help="patients ou procedures.")] = "patients",
    k: Annotated[int, typer.Option("-k", help="Nombre de passages (au moins 1).")] = 5,
    mode: Annotated[str, typer.Option("--mode", help="hybrid, dense ou bm25.")] = "hybrid",
    json_out: JsonOpt = False,
) -> None:
    """Recherche des passages cités dans un dossier patient ou dans les procédures."""
    from retrieval.service import UnknownPatientError
    from retrieval.store import Scope, ScopeError, StoreError

    if mode not in ("hybrid", "dense", "bm25"):
        fail("--mode doit valoir hybrid, dense ou bm25.")
    if k < 1:
        fail("-k doit valoir au moins 1.")
    svc = _service()
    try:
        scope = Scope.procedures() if corpus == "procedures" else Scope.patient(patient or "")
        result = svc.search(scope, query, k=k, mode=mode)
    except (ScopeError, UnknownPatientError, ValueError, StoreError) as exc:
        fail(str(exc).strip("'\""))
    finally:
        svc.close()
    if json_out:
        emit_json(result)
        return
    if result.warning:
        typer.secho(result.warning, fg=typer.colors.YELLOW)
    for i, h in enumerate(result.hits, 1):
        c = h.chunk
        typer.secho(f"[{i}] {c.title} ({c.date}) — {c.doc_id}, car. {c.start}-{c.end} — score {h.score:.3f}", bold=True)
        typer.echo("    " + c.text[:400].replace("\n", "\n    "))


# --------------------------------------------------------------------------- users
def resolve_user(username: str | None, role: str):
    """A named user from the users file, or the local operator (shell access on the server) with
    the role the command needs; every access is audited under that name."""
    import getpass

    from medassist.access import User
    from medassist.schemas import Role

    if username:
        from medassist.users import get_user

        user = get_user(username, get_settings())
        if user is None:
            fail(f"Utilisateur inconnu : « {username} ».")
        return user
    return User(username=f"cli:{getpass.getuser()}", role=Role(role), display_name="Opérateur (ligne de commande)")


UserOpt = Annotated[str | None, typer.Option("--user", help="Utilisateur (fichier des utilisateurs) ; défaut : opérateur local.")]


def _guarded(fn):
    """Run a tool call; French message for refusals and bad input, never a traceback."""
    from medassist.access import AccessDenied
    from retrieval.service import UnknownPatientError
    from retrieval.store import ScopeError, StoreError

    try:
        return fn()
    except (AccessDenied, UnknownPatientError, ScopeError, StoreError, LookupError, ValueError) as exc:
        fail(str(exc).strip("'\""))


# --------------------------------------------------------------------------- coding
@app.command()
def code(
    patient: Annotated[str | None, typer.Option("--patient", help="Patient dont on code le séjour.")] = None,
    stay: Annotated[str | None, typer.Option("--stay", help="Séjour (défaut : le plus récent).")] = None,
    text_file: Annotated[Path | None, typer.Option("--text-file", help="Synthèse de séjour en texte libre.")] = None,
    user: UserOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Propose des codes CIM-10 (DP/DAS) avec leurs preuves, vérifiés contre la table ATIH."""
    from tools.coding import SourceText, suggest_codes

    if bool(patient) == bool(text_file):
        fail("Indiquez soit --patient, soit --text-file.")
    if text_file:
        try:
            text = text_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            fail(f"Fichier illisible : « {text_file} ».")
        if not text.strip():
            fail(f"« {text_file.name} » est vide.")
        result = suggest_codes([SourceText(source="text", text=text)])
        payload = result
    else:
        from tools.coding.patient import code_patient

        u = resolve_user(user, "coder")
        pc = _guarded(lambda: code_patient(u, patient, stay))
        result = pc.result
        payload = {**pc.result.model_dump(mode="json"), "patient_id": pc.patient_id, "stay_id": pc.stay_id,
                   "documents": pc.documents}
    if json_out:
        emit_json(payload)
        return
    for s in result.suggestions:
        ev = s.evidence[0] if s.evidence else None
        typer.echo(f"{s.role:<4} {s.code:<8} {s.score:.2f}  {s.label}"
                   + (f"\n       « {ev.quote[:100]} » ({ev.source})" if ev else ""))
    for w in result.warnings:
        typer.secho(f"  ! {w}", fg=typer.colors.YELLOW)


# --------------------------------------------------------------------------- drafting
@app.command()
def draft(
    kind: Annotated[str, typer.Argument(help="discharge (lettre de liaison), appointment (convocation) ou summary (synthèse).")],
    patient: Annotated[str, typer.Option("--patient", help="Identifiant du patient.")],
    stay: Annotated[str | None, typer.Option("--stay", help="Séjour (lettre de liaison ; défaut : le dernier).")] = None,
    request: Annotated[str | None, typer.Option("--request", help="Demande de convocation en texte libre.")] = None,
    docx: Annotated[Path | None, typer.Option(
        "--docx", help="Exporte le brouillon en DOCX (en-tête de l'établissement).")] = None,
    user: UserOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Rédige un brouillon cité et vérifié : lettre de liaison, convocation ou synthèse du dossier."""
    from tools.drafting import (
        DraftError,
        default_llm,
        draft_appointment,
        draft_discharge,
        draft_summary,
        export_docx,
        render_text,
    )

    settings = get_settings()
    llm = default_llm(settings)
    if kind == "discharge":
        u = resolve_user(user, "clinician")
        fn = lambda: draft_discharge(u, patient, stay, llm=llm)  # noqa: E731
    elif kind == "appointment":
        if not request:
            fail("--request est obligatoire pour une convocation (examen, date, heure, praticien).")
        u = resolve_user(user, "admin")
        fn = lambda: draft_appointment(u, patient, request, llm=llm)  # noqa: E731
    elif kind == "summary":
        u = resolve_user(user, "clinician")
        fn = lambda: draft_summary(u, patient, llm=llm)  # noqa: E731
    else:
        fail("Type de brouillon inconnu : discharge, appointment ou summary.")
    try:
        result = _guarded(fn)
    except DraftError as exc:
        fail(str(exc))
    if docx:
        export_docx(result, docx, settings)
    if json_out:
        emit_json(result)
    else:
        typer.echo(render_text(result, settings))
        if docx:
            typer.secho(f"DOCX écrit : {docx}", fg=typer.colors.GREEN, err=True)


# --------------------------------------------------------------------------- agent
@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="Question sur le dossier du patient.")],
    patient: Annotated[str, typer.Option("--patient", help="Identifiant du patient.")],
    user: UserOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Pose une question sur un dossier : réponse citée (mode extractif ou génératif)."""
    from agents.runner import run_turn

    u = resolve_user(user, "clinician")
    answer = _guarded(lambda: run_turn(u, patient, question))
    if json_out:
        emit_json(answer.cli_payload())
        return
    typer.secho(f"[mode {answer.mode}]", fg=typer.colors.CYAN)
    typer.echo(answer.answer)
    for i, c in enumerate(answer.citations, 1):
        typer.secho(f"  [{i}] {c.title} ({c.doc_id}, car. {c.start}-{c.end})", dim=True)


# --------------------------------------------------------------------------- audit & export
@app.command()
def audit(
    patient: Annotated[str | None, typer.Option("--patient", help="Accès à ce patient.")] = None,
    user: Annotated[str | None, typer.Option("--user", help="Accès de cet utilisateur.")] = None,
    limit: Annotated[int, typer.Option("--limit")] = 200,
    json_out: JsonOpt = False,
) -> None:
    """Journal d'audit des accès aux données patient (ajout seul)."""
    from medassist import audit as audit_mod

    rows = audit_mod.query(patient_id=patient, username=user, limit=limit)
    if json_out:
        emit_json({"entries": rows})
        return
    for r in rows:
        typer.echo(f"{r['at']}  {r['username']:<14} {r['role']:<9} {r['action']:<20} {r['patient_id'] or '-':<6} "
                   f"{r['outcome']:<7} {', '.join(r['documents'])}")


@app.command()
def export(
    patient: Annotated[str, typer.Option("--patient", help="Patient à exporter.")],
    out: Annotated[Path, typer.Option("--pseudonymise", help="Dossier de sortie de l'export pseudonymisé.")],
    user: UserOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Exporte un dossier pseudonymisé (noms, adresses, téléphones, dates décalées, identifiants)."""
    from tools.pseudonymise import PseudonymisationError, export_pseudonymised

    u = resolve_user(user, "coder")
    try:
        report = _guarded(lambda: export_pseudonymised(u, patient, out))
    except PseudonymisationError as exc:
        fail(str(exc))
    if json_out:
        emit_json(report)
        return
    typer.echo(report.summary_fr())


# --------------------------------------------------------------------------- structured data
@app.command()
def structure(
    patient: Annotated[str | None, typer.Option("--patient", help="Patient à structurer.")] = None,
    profile: Annotated[str, typer.Option("--profile", help="Profil de données (oncology).")] = "oncology",
    all_patients: Annotated[bool, typer.Option("--all", help="Cohorte : tous les patients d'oncologie visibles.")] = False,
    csv_out: Annotated[Path | None, typer.Option("--csv", help="Écrit la cohorte en CSV (+ dictionnaire des données).")] = None,
    fhir_out: Annotated[Path | None, typer.Option(
        "--fhir", help="Écrit un Bundle FHIR R4 (JSON ; un fichier par patient avec --all).")] = None,
    pseudonymise: Annotated[bool, typer.Option(
        "--pseudonymise", help="Identifiants pseudonymisés, dates décalées (rôle DIM).")] = False,
    user: UserOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Données structurées et citées (oncologie) : JSON, cohorte CSV, FHIR R4."""
    import json as json_mod

    from tools.structure import (
        PseudonymisedOutputError,
        StructureError,
        structure_cohort,
        structure_patient,
        to_bundle,
        validate_bundle,
        write_cohort,
    )
    from tools.structure.models import ALL_FIELDS, STATUS_FR

    if bool(patient) == all_patients:
        fail("Indiquez soit --patient, soit --all.")
    u = resolve_user(user, "coder")
    try:
        if all_patients:
            recs = _guarded(lambda: structure_cohort(u, profile, pseudonymise=pseudonymise))
        else:
            recs = [_guarded(lambda: structure_patient(u, patient, profile, pseudonymise=pseudonymise))]
    except (StructureError, PseudonymisedOutputError) as exc:
        fail(str(exc))
    if not recs:
        fail("Aucun patient d'oncologie dans votre périmètre.")
    if csv_out:
        data, dico = write_cohort(recs, csv_out)
        typer.secho(f"CSV écrit : {data} ; dictionnaire des données : {dico}", fg=typer.colors.GREEN, err=True)
    if fhir_out:
        written = []
        for r in recs:
            bundle = to_bundle(r)
            validate_bundle(bundle)
            target = (fhir_out if len(recs) == 1
                      else fhir_out.with_name(f"{fhir_out.stem}_{r.patient_id}{fhir_out.suffix or '.json'}"))
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json_mod.dumps(bundle, ensure_ascii=False, indent=2), encoding="utf-8")
            written.append(str(target))
        typer.secho(f"Bundle(s) FHIR R4 validé(s) et écrit(s) : {', '.join(written)}", fg=typer.colors.GREEN, err=True)
    if json_out:
        emit_json(recs[0] if len(recs) == 1 and not all_patients else {"patients": [r.model_dump(mode="json") for r in recs]})
        return
    if csv_out or fhir_out:
        return
    for r in recs:
        typer.secho(f"Patient {r.patient_id} — profil {r.profile} ({r.version})", bold=True)
        for name, f in r.fields.items():
            c = f.citation
            src = f" — « {c.quote[:80]} » ({c.doc_id}, car. {c.start}-{c.end})" if c else ""
            typer.echo(f"  {ALL_FIELDS.get(name, name)} : {f.value}" + (f" [{f.label}]" if f.label and f.label != f.value else "")
                       + (f" ({f.date})" if f.date else "") + src)
        for name, items in r.lists.items():
            vals = ", ".join(f"{f.value}" + (f" ({f.extra['start']}→{f.extra.get('end') or ''})" if f.extra.get("start") else "")
                             for f in items) or "aucun"
            typer.echo(f"  {ALL_FIELDS.get(name, name)} : {vals}")
        if r.excluded:
            typer.secho("  Mentions écartées (non attribuées au patient) :", dim=True)
            for f in r.excluded:
                c = f.citation
                typer.secho(f"    {ALL_FIELDS.get(f.field, f.field)} = {f.value} — {STATUS_FR[f.status]}"
                            + (f" — « {c.quote[:60]} » ({c.doc_id})" if c else ""), dim=True)


# --------------------------------------------------------------------------- evaluation
register_measurements(app)  # eval, bench (bench/cli.py), listed before ui as they always were


# --------------------------------------------------------------------------- UI
@app.command()
def ui(
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int | None, typer.Option("--port")] = None,
) -> None:
    """Lance l'interface web (Chainlit) en français."""
    from ui.launch import run_ui

    raise typer.Exit(run_ui(host, port))


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
