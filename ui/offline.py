"""Keep the browser inside the hospital: no request to third-party hosts from the UI pages.

Chainlit's page template links a web font (Google Fonts) and the KaTeX style sheet from a CDN;
in a hospital those requests leak who uses the app (and fail on isolated networks). The app uses
neither (LaTeX is off, the theme uses system fonts), so :func:`strip_external_assets` removes
every ``<link>`` and ``<script>`` pointing to another host, and :func:`install` makes Chainlit's
page route serve the stripped template.

Example::

    >>> strip_external_assets('<link rel="preconnect" href="https://fonts.googleapis.com" /><link href="/a.css">')
    '<link href="/a.css">'
"""

from __future__ import annotations

import re

_EXTERNAL_LINK = re.compile(r"<link\b[^>]*\bhref=\"https?://[^\"]*\"[^>]*/?>\s*", re.I | re.S)
_EXTERNAL_SCRIPT = re.compile(r"<script\b[^>]*\bsrc=\"https?://[^\"]*\"[^>]*>\s*</script>\s*", re.I | re.S)
_OG_IMAGE = re.compile(r"<meta property=\"og:(?:image|url)\" content=\"https?://[^\"]*\">\s*", re.I)


def strip_external_assets(html: str) -> str:
    for pattern in (_EXTERNAL_LINK, _EXTERNAL_SCRIPT, _OG_IMAGE):
        html = pattern.sub("", html)
    return html


def install(server_module) -> None:
    """Wrap ``chainlit.server.get_html_template`` (looked up at request time by the page route)."""
    original = server_module.get_html_template
    if getattr(original, "_medassist_offline", False):
        return

    def get_html_template(root_path):
        return strip_external_assets(original(root_path))

    get_html_template._medassist_offline = True  # type: ignore[attr-defined]
    server_module.get_html_template = get_html_template
