#!/usr/bin/env bash
# System packages medassist needs outside Python, installed only when missing (Debian/Ubuntu):
#   tesseract-ocr, tesseract-ocr-fra  OCR of scanned PDFs and images (retrieval/parsing.py)
#   poppler-utils                     pdftoppm, used to render PDF pages when pypdfium2 is absent
#
# Idempotent and quiet: prints one line when everything is already there. Needs root or sudo.
# Without apt-get (another OS), or without the rights to install, it prints a French warning and
# exits 0: everything but OCR works without these packages, and parse_file says what is missing.
#
# Usage: sudo scripts/system_deps.sh
set -u

PKGS=(tesseract-ocr tesseract-ocr-fra poppler-utils)

missing=()
for p in "${PKGS[@]}"; do
    if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "Dépendances système déjà présentes : ${PKGS[*]}."
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "Avertissement : apt-get est indisponible ; installez vous-même ${missing[*]} (Tesseract et son modèle français) pour la reconnaissance de texte (OCR) des documents scannés." >&2
    exit 0
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO=(sudo -n)
    else
        echo "Avertissement : droits administrateur nécessaires pour installer ${missing[*]} ; relancez avec « sudo scripts/system_deps.sh ». L'OCR des documents scannés reste indisponible d'ici là." >&2
        exit 0
    fi
fi

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
install() {
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$log" 2>&1
}
# the package lists may be empty or stale (fresh container): update once, only when needed
if ! install; then
    "${SUDO[@]}" apt-get update -qq >>"$log" 2>&1
    if ! install; then
        echo "Erreur : l'installation de ${missing[*]} a échoué :" >&2
        tail -n 20 "$log" >&2
        exit 1
    fi
fi
echo "Installé : ${missing[*]}."
