"""Start the web UI: ``medassist ui`` calls :func:`run_ui`.

What it prepares before Chainlit starts (each step idempotent):

1. the users file (demo accounts on first run; its path is printed);
2. the cookie-signing secret ``CHAINLIT_AUTH_SECRET`` (environment, else
   ``<data_dir>/chainlit_secret``, generated on first run) exported to the server process;
3. the Chainlit tables of the data layer (PostgreSQL or the SQLite file under the data dir);
4. the French translation file with a few wordings adapted to the app (:data:`TRANSLATION_OVERRIDES`);

5. the instance's private app root ``<data_dir>/ui/`` (mode 0700, see :func:`app_root`);

then runs ``python -m chainlit run <repo>/ui/app.py --headless --host H --port P`` with that app
root as working directory and ``CHAINLIT_APP_ROOT``. Environment variables that would send data to
a hosted service (``LITERAL_API_KEY``) are removed from the server's environment.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from medassist import users
from medassist.settings import REPO_ROOT, Settings, get_settings, private_umask
from ui import auth

APP_PATH = Path(__file__).resolve().parent / "app.py"
#: variables that would make Chainlit talk to a hosted service or another database
_STRIP_ENV = ("LITERAL_API_KEY", "LITERAL_API_URL", "DATABASE_URL")


#: French wording of Chainlit strings that read badly for this app (e.g. "Utilisé Recherche des passages")
TRANSLATION_OVERRIDES = {
    ("chat", "messages", "status", "using"): "En cours :",
    ("chat", "messages", "status", "used"): "Étape :",
    ("chat", "watermark"): "Aide à la décision : vérifiez toujours les sources citées.",
    ("auth", "login", "title"): "Connectez-vous à MedAssist",
    ("auth", "login", "form", "email", "label"): "Identifiant",
    ("auth", "login", "form", "email", "required"): "l'identifiant est obligatoire",
    ("auth", "login", "form", "email", "placeholder"): "prenom.nom",
    ("auth", "login", "errors", "default"): "Identifiant ou mot de passe incorrect.",
    ("auth", "login", "errors", "credentialsSignin"): "Identifiant ou mot de passe incorrect.",
    # the page shows "<sizeLimit> 20mb"; public/medassist.js turns the hard-coded "mb" into "Mo"
    ("chat", "fileUpload", "sizeLimit"): "Taille maximale par fichier :",
    ("chat", "fileUpload", "dragDrop"): "Glissez-déposez le document ici (PDF, DOCX, TXT, Markdown ou HTML)",
    ("chat", "fileUpload", "errors", "failed"): "Échec de l'envoi du fichier",
    ("chat", "fileUpload", "errors", "cancelled"): "Envoi annulé :",
}


def write_translation(app_root: Path = REPO_ROOT) -> Path:
    """``.chainlit/translations/fr-FR.json``: Chainlit's French file with our overrides.

    Chainlit only copies its translations when the folder is missing, so the file is rewritten
    at each start (it is generated, hence ignored by git)."""
    import json

    import chainlit

    src = Path(chainlit.__file__).parent / "translations" / "fr-FR.json"
    data = json.loads(src.read_text(encoding="utf-8"))
    for path, value in TRANSLATION_OVERRIDES.items():
        node = data
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    dst = app_root / ".chainlit" / "translations" / "fr-FR.json"
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    return dst


def prepare(settings: Settings, *, echo=print) -> dict[str, str]:
    """Users file, secret and tables; returns the environment of the Chainlit process."""
    settings.ensure_dirs()
    path, created = users.ensure_users_file(settings)
    if created:
        echo(f"Fichier des utilisateurs créé : {path}")
        echo("Comptes de démonstration (à changer avant tout usage réel) :")
        for name, password, role, _, patients in users.DEMO_USERS:
            scope = "tous les patients" if patients == ["*"] else ", ".join(patients)
            echo(f"  {name:<12} mot de passe : {password:<13} rôle : {role.value:<9} patients : {scope}")
    else:
        echo(f"Fichier des utilisateurs : {path}")
    users.load_users(path)  # fail now, in French, rather than at the first login
    secret = auth.ensure_auth_secret(settings)
    from ui.datalayer import ensure_schema_sync

    ensure_schema_sync(settings)
    write_translation()
    env = {k: v for k, v in os.environ.items() if k not in _STRIP_ENV}
    env[auth.SECRET_ENV] = secret
    env["MEDASSIST_DATA_DIR"] = str(settings.data_dir)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


#: what Chainlit reads from its app root: configuration (French, no telemetry), welcome page, assets
APP_ROOT_LINKS = (".chainlit", "public", "chainlit.md")


def app_root(settings: Settings) -> Path:
    """The Chainlit app root of the UI instance serving ``settings.data_dir``: ``<data_dir>/ui``.

    Why not the repository: Chainlit keeps every uploaded file and every element of a session
    (patient names, letters) under ``<app root>/.files`` and deletes that whole folder when a server
    stops. With one shared folder in the repository, the files were readable by any local user, and
    a second instance stopping (a test, a restart) removed the running instance's session folders,
    whose next element then failed to persist (the patient banner never came). Each data dir now
    gets its own root, mode 0700, holding links to the repository's configuration and assets.
    """
    root = settings.data_dir / "ui"
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o700)
    for name in APP_ROOT_LINKS:
        link, target = root / name, REPO_ROOT / name
        if link.is_symlink() and link.resolve() == target.resolve():
            continue
        if link.is_symlink() or link.is_file():
            link.unlink()
        link.symlink_to(target, target_is_directory=target.is_dir())
    return root


def chainlit_command(host: str, port: int) -> list[str]:
    return [sys.executable, "-m", "chainlit", "run", str(APP_PATH), "--headless", "--host", host, "--port", str(port)]


def start_ui(host: str = "127.0.0.1", port: int | None = None, *, settings: Settings | None = None,
             echo=print, **popen_kwargs) -> subprocess.Popen:
    """Start the server and return the process (tests, supervisors). The umask is made private
    first (:func:`medassist.settings.private_umask`): the server inherits it, so Chainlit's session
    files, the SQLite journals and every file written for a patient are readable by the user only."""
    private_umask()
    settings = settings or get_settings()
    port = port or settings.ui_port
    env = prepare(settings, echo=echo)
    env.update(popen_kwargs.pop("env", {}) or {})
    root = app_root(settings)
    env["CHAINLIT_APP_ROOT"] = str(root)
    # the app imports the repository's packages: an editable install provides them, a plain checkout needs the path
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    return subprocess.Popen(chainlit_command(host, port), cwd=root, env=env, **popen_kwargs)


def run_ui(host: str = "127.0.0.1", port: int | None = None) -> int:
    """Serve the UI until interrupted; returns the server's exit code."""
    settings = get_settings()
    port = port or settings.ui_port
    proc = start_ui(host, port, settings=settings)
    print(f"Interface MedAssist : http://{host}:{port}  (Ctrl+C pour arrêter)", flush=True)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        try:
            return proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()


if __name__ == "__main__":  # pragma: no cover - manual start
    raise SystemExit(run_ui())
