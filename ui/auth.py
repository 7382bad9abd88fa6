"""The Chainlit session cookie's signing secret.

The cookie is signed with ``CHAINLIT_AUTH_SECRET``; :func:`ensure_auth_secret` generates one into
``<data_dir>/chainlit_secret`` (mode 0600) when neither the environment nor that file provides it,
so sessions survive restarts without a secret in the repository. Users, passwords and roles are
in :mod:`medassist.users`.
"""

from __future__ import annotations

import os
import secrets

from medassist.settings import Settings
from medassist.users import write_private

SECRET_ENV = "CHAINLIT_AUTH_SECRET"
SECRET_FILE = "chainlit_secret"


def ensure_auth_secret(settings: Settings) -> str:
    """The cookie-signing secret: environment, else ``<data_dir>/chainlit_secret`` (created if absent)."""
    env = os.environ.get(SECRET_ENV, "").strip()
    if env:
        return env
    path = settings.data_dir / SECRET_FILE
    if path.exists():
        value = path.read_text(encoding="utf-8").strip()
        if value:
            return value
    value = secrets.token_urlsafe(48)
    write_private(path, value + "\n")
    return value
