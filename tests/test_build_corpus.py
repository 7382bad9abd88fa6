"""scripts/build_corpus.py: text sources -> DOCX / PDF, round-trip of French text, page breaks, determinism."""

from __future__ import annotations

import importlib.util
import io
import os
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "build_corpus.py"

SOURCE = """\
COMPTE RENDU D'HOSPITALISATION
Patient : M. DUPONT Jean, né le 12/03/1948, IPP 80012345

# Motif d'hospitalisation
Décompensation cardiaque, FEVG à 35 %, œdèmes des membres inférieurs.

# Traitement de sortie
- BISOPROLOL 2,5 mg : 1 comprimé le matin
- FUROSÉMIDE : majoré de 40 mg à 80 mg/j (surcharge)
\\f
# Suivi
Consultation de cardiologie le 12/03/2026 à 10h30.
"""


@pytest.fixture(scope="module")
def bc():
    spec = importlib.util.spec_from_file_location("build_corpus", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    src = tmp_path / "patients" / "P999" / "_src"
    src.mkdir(parents=True)
    (src / "crh.docx.txt").write_text(SOURCE, encoding="utf-8")
    (src / "crh.pdf.txt").write_text(SOURCE, encoding="utf-8")
    proc = tmp_path / "procedures" / "_src"
    proc.mkdir(parents=True)
    (proc / "protocole.pdf.txt").write_text("# Protocole\nHéparine : surveillance plaquettaire.\n", encoding="utf-8")
    return tmp_path


def test_parse_source(bc):
    blocks = bc.parse_source(SOURCE)
    kinds = [b.kind for b in blocks]
    assert kinds.count("heading") == 3
    assert kinds.count("pagebreak") == 1
    assert blocks[1].lines == ("Motif d'hospitalisation",)


def test_finds_patient_and_procedure_sources(bc, root):
    targets = sorted(j.target.relative_to(root).as_posix() for j in bc.find_jobs(root))
    assert targets == ["patients/P999/crh.docx", "patients/P999/crh.pdf", "procedures/protocole.pdf"]


def test_docx_round_trip(bc, root):
    from docx import Document

    assert bc.main(["--root", str(root)]) == 0
    doc = Document(str(root / "patients" / "P999" / "crh.docx"))
    texts = [p.text for p in doc.paragraphs]
    assert "Patient : M. DUPONT Jean, né le 12/03/1948, IPP 80012345" in texts
    assert "Décompensation cardiaque, FEVG à 35 %, œdèmes des membres inférieurs." in texts
    headings = [p.text for p in doc.paragraphs if p.style.name == "Heading 2"]
    assert headings == ["Motif d'hospitalisation", "Traitement de sortie", "Suivi"]
    assert doc.sections[0].header.paragraphs[0].text == bc.HOSPITAL
    suivi = next(p for p in doc.paragraphs if p.text == "Suivi")
    assert suivi.paragraph_format.page_break_before


def test_pdf_round_trip_and_pages(bc, root):
    from pypdf import PdfReader

    assert bc.main(["--root", str(root)]) == 0
    reader = PdfReader(str(root / "patients" / "P999" / "crh.pdf"))
    assert len(reader.pages) == 2
    first, second = (page.extract_text() for page in reader.pages)
    assert "né le 12/03/1948" in first
    assert "- FUROSÉMIDE : majoré de 40 mg à 80 mg/j (surcharge)" in first
    assert "Suivi" in second and "Suivi" not in first
    assert bc.HOSPITAL in second
    if bc._pdf_fonts():
        assert "œdèmes" in first


def test_pdf_core_font_fallback(bc):
    from pypdf import PdfReader

    data = bc.render_pdf(SOURCE, "t", font_paths=None)
    text = PdfReader(io.BytesIO(data)).pages[0].extract_text()
    assert "né le 12/03/1948" in text
    assert "oedèmes" in text


def test_deterministic_output(bc, root):
    assert bc.main(["--root", str(root)]) == 0
    first = {p: p.read_bytes() for p in root.rglob("*") if p.suffix in (".docx", ".pdf")}
    for path in first:
        path.unlink()
    assert bc.main(["--root", str(root)]) == 0
    assert {p: p.read_bytes() for p in first} == first


def test_check(bc, root):
    assert bc.main(["--root", str(root), "--check"]) == 1  # nothing built yet
    assert bc.main(["--root", str(root)]) == 0
    assert bc.main(["--root", str(root), "--check"]) == 0

    src = root / "patients" / "P999" / "_src" / "crh.pdf.txt"
    target = root / "patients" / "P999" / "crh.pdf"
    old = target.stat().st_mtime
    # Same content, source newer (as after a git checkout): still up to date.
    os.utime(src, (old + 10, old + 10))
    assert bc.main(["--root", str(root), "--check"]) == 0
    # Changed content, source newer: stale.
    src.write_text(SOURCE + "\nRésultat en attente.\n", encoding="utf-8")
    os.utime(src, (old + 20, old + 20))
    assert bc.main(["--root", str(root), "--check"]) == 1
    assert bc.main(["--root", str(root)]) == 0
    assert bc.main(["--root", str(root), "--check"]) == 0
