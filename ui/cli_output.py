"""Output conventions shared by every ``medassist`` command, wherever the command is defined.

Every command that returns data takes ``--json`` and prints exactly one JSON document; errors are
printed in French on stderr with a non-zero exit code, never as a traceback. The commands of
``ui/cli.py`` and the measurement commands of ``bench/cli.py`` both import these from here (not
from each other, so neither module imports the one that registers it).
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

JsonOpt = Annotated[bool, typer.Option("--json", help="Imprime un document JSON.")]


def emit_json(data: Any) -> None:
    """Print one JSON document (pydantic models are dumped in JSON mode)."""
    if hasattr(data, "model_dump"):
        data = data.model_dump(mode="json")
    # database rows carry dates and datetimes: ISO strings, as the pydantic models give them
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=_iso) + "\n")


def _iso(value: Any) -> str:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} n'est pas sérialisable en JSON")


def fail(message: str, code: int = 1) -> None:
    """French error on stderr, no traceback."""
    typer.secho(f"Erreur : {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)
