"""Who may use medassist: a YAML file of bcrypt-hashed passwords, roles and patient scopes.

Read by the web UI (login, then every action re-reads the user's role and patients) and by the
CLI (``--user``), so it lives beside :mod:`medassist.access`, not in the UI package.

Why a file: a self-hosted deployment starts without any identity provider; the hospital replaces
the demo accounts (or plugs its own authentication in front of the app) and keeps one readable,
reviewable list of who may see which patients. Roles and their rights are defined once, in
:mod:`medassist.access`; this module only says *who* has which role and which patients.

File format (``settings.users_file``, default ``<data_dir>/users.yaml``)::

    users:
      dr.martin:
        display_name: Dr Paul Martin
        role: clinician          # clinician | coder | admin
        patients: ["*"]          # "*" = every patient of the establishment
        password_hash: $2b$12$...

On first run the file is created with the demo accounts of :data:`DEMO_USERS` (passwords listed
there and in the README; change them before any real use). A new hash is produced with
``python -c "from medassist.users import hash_password; print(hash_password('...'))"``.

Example::

    >>> h = hash_password("s3cret")
    >>> check_password("s3cret", h), check_password("wrong", h)
    (True, False)
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import bcrypt
import yaml

from medassist.access import User
from medassist.schemas import Role
from medassist.settings import Settings

#: Demo accounts written on first run: (username, password, role, display name, patients).
#: ``dr.petit`` is limited to two patients, to show (and test) the patient scope.
DEMO_USERS: list[tuple[str, str, Role, str, list[str]]] = [
    ("dr.martin", "martin-demo", Role.clinician, "Dr Paul Martin", ["*"]),
    ("dr.petit", "petit-demo", Role.clinician, "Dr Léa Petit", ["P001", "P002"]),
    ("dim.bernard", "bernard-demo", Role.coder, "Sophie Bernard (DIM)", ["*"]),
    ("sec.durand", "durand-demo", Role.admin, "Julie Durand (secrétariat)", ["*"]),
]

@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A valid hash checked when the user name is unknown, so that both failures cost the same time
    (made at the first login, not at import: bcrypt at cost 12 takes a quarter of a second)."""
    return bcrypt.hashpw(b"medassist-dummy", bcrypt.gensalt(rounds=12)).decode()


class UsersFileError(ValueError):
    """The users file cannot be read; the message is French."""


@dataclass
class UserRecord:
    username: str
    role: Role
    password_hash: str
    display_name: str = ""
    patients: list[str] = field(default_factory=lambda: ["*"])

    def to_user(self) -> User:
        return User(username=self.username, role=self.role, display_name=self.display_name or self.username,
                    patients=list(self.patients))

    def fingerprint(self) -> str:
        """A digest of what a login was granted on: password hash, role and patient scope.

        A UI session remembers it (:mod:`medassist.sessions`); when the file changes any of them
        (password reset, role withdrawn, patient removed from the scope) the digest differs and the
        session ends at its next request. The display name is left out: renaming logs nobody out.
        """
        payload = json.dumps([self.username, self.role.value, sorted(self.patients), self.password_hash])
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def hash_password(password: str, rounds: int = 12) -> str:
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds=rounds)).decode("ascii")


def check_password(password: str, password_hash: str) -> bool:
    try:
        return bcrypt.checkpw(password.encode("utf-8"), password_hash.encode("ascii"))
    except ValueError:  # malformed hash in the file
        return False


def users_file_path(settings: Settings) -> Path:
    """``settings.users_file``, else ``<data_dir>/users.yaml``. An empty variable
    (``MEDASSIST_USERS_FILE=`` as in ``.env.example``) reaches us as ``Path(".")``: unset."""
    configured = settings.users_file
    if configured is None or str(configured).strip() in ("", "."):
        return settings.data_dir / "users.yaml"
    return Path(configured)


def write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def ensure_users_file(settings: Settings, *, rounds: int = 12) -> tuple[Path, bool]:
    """Create the users file with the demo accounts if it does not exist.

    Returns ``(path, created)``.
    """
    path = users_file_path(settings)
    if path.exists():
        return path, False
    users = {
        name: {"display_name": display, "role": role.value, "patients": patients,
               "password_hash": hash_password(password, rounds=rounds)}
        for name, password, role, display, patients in DEMO_USERS
    }
    header = ("# Comptes de l'interface medassist (mots de passe hachés avec bcrypt).\n"
              "# Comptes de démonstration créés au premier lancement : changez-les avant tout usage réel.\n"
              "# Rôles : clinician (médecin), coder (DIM), admin (secrétariat). patients: [\"*\"] = tous.\n")
    write_private(path, header + yaml.safe_dump({"users": users}, allow_unicode=True, sort_keys=False))
    return path, True


def load_users(path: Path) -> dict[str, UserRecord]:
    """Parse the users file (French errors)."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise UsersFileError(f"Fichier des utilisateurs illisible : « {path} » ({exc.strerror}).") from exc
    except yaml.YAMLError as exc:
        raise UsersFileError(f"Fichier des utilisateurs invalide (YAML) : « {path} ».") from exc
    raw = data.get("users") if isinstance(data, dict) else None
    if not isinstance(raw, dict):
        raise UsersFileError(f"Fichier des utilisateurs sans section « users » : « {path} ».")
    out: dict[str, UserRecord] = {}
    for name, entry in raw.items():
        if not isinstance(entry, dict) or not entry.get("password_hash"):
            raise UsersFileError(f"Utilisateur « {name} » : mot de passe haché (password_hash) manquant.")
        try:
            role = Role(entry.get("role", ""))
        except ValueError as exc:
            raise UsersFileError(
                f"Utilisateur « {name} » : rôle inconnu « {entry.get('role')} » (clinician, coder ou admin)."
            ) from exc
        patients = entry.get("patients", ["*"])
        if isinstance(patients, str):
            patients = [patients]
        out[str(name)] = UserRecord(username=str(name), role=role, password_hash=str(entry["password_hash"]),
                                    display_name=str(entry.get("display_name") or name),
                                    patients=[str(p) for p in patients])
    return out


def authenticate(username: str, password: str, settings: Settings) -> User | None:
    """The :class:`User` if the password matches, else ``None`` (same cost either way)."""
    users = load_users(users_file_path(settings))
    rec = users.get((username or "").strip())
    if rec is None:
        check_password(password or "", _dummy_hash())
        return None
    return rec.to_user() if check_password(password or "", rec.password_hash) else None


def get_user(username: str, settings: Settings) -> User | None:
    """The current definition of a user (role and patients re-read from the file)."""
    rec = load_users(users_file_path(settings)).get(username)
    return rec.to_user() if rec else None


__all__ = [
    "DEMO_USERS", "UserRecord", "UsersFileError", "authenticate", "check_password", "ensure_users_file", "get_user",
    "hash_password", "load_users", "users_file_path", "write_private",
]
