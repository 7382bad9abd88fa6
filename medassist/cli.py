"""The ``medassist`` command line.

Every command that returns data takes ``--json`` and prints exactly one JSON document (the pydantic
schemas of :mod:`medassist.schemas` and the tools); errors are printed in French on stderr with a
non-zero exit code, never as a traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from medassist.settings import get_settings

app = typer.Typer(
    name="medassist",
    help="Assistant médico-administratif auto-hébergé : réponses citées, codage CIM-10, courriers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
llm_app = typer.Typer(help="Serveur de modèle de langage (llama.cpp embarqué, ou vLLM distant).", no_args_is_help=True)
app.add_typer(llm_app, name="llm")

JsonOpt = Annotated[bool, typer.Option("--json", help="Imprime un document JSON.")]


def emit_json(data: Any) -> None:
    """Print one JSON document (pydantic models are dumped in JSON mode)."""
    if hasattr(data, "model_dump"):
        data = data.model_dump(mode="json")
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def fail(message: str, code: int = 1) -> None:
    """French error on stderr, no traceback."""
    typer.secho(f"Erreur : {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


# --------------------------------------------------------------------------- setup
@app.command()
def setup(
    embeddings: Annotated[bool, typer.Option(help="Assembler le modèle d'embeddings EmbeddingGemma.")] = True,
    llm: Annotated[bool, typer.Option(help="Installer llama.cpp et SmolLM2 (chemin protocole OpenAI).")] = True,
) -> None:
    """Installe les modèles locaux (idempotent, reprise possible, empreintes sha256 vérifiées)."""
    from medassist.provision import ProvisionError, setup_all

    try:
        setup_all(get_settings(), embeddings=embeddings, llm=llm, progress=lambda m: typer.echo(m))
    except ProvisionError as exc:
        fail(str(exc))
    typer.echo("Installation terminée.")


# --------------------------------------------------------------------------- llm
@llm_app.command("serve")
def llm_serve() -> None:
    """Démarre le serveur llama.cpp embarqué (SmolLM2, 1 thread) et attend Ctrl-C."""
    import time

    from medassist.llm import LlmServerError, LocalLlamaServer

    settings = get_settings()
    try:
        server = LocalLlamaServer(settings).start()
    except LlmServerError as exc:
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


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
