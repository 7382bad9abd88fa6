"""OCR of scanned PDFs and images (Tesseract, French model).

The pages are drawn here with PIL from known French text. The OCR tests skip, with the reason,
when the tesseract binary or its French model is absent, unless ``MEDASSIST_REQUIRE_MODELS=1``
(CI: then they fail). The tests of the French errors run everywhere.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

import retrieval.parsing as parsing
from retrieval.parsing import ParseError, parse_file

LINES = [
    ("COMPTE RENDU D'HOSPITALISATION", True),
    ("Patient : M. LECLERC Bernard, né le 14/06/1946", False),
    ("", False),
    ("Antécédents", True),
    ("- Fibrillation auriculaire paroxystique", False),
    ("- Hypertension artérielle", False),
    ("", False),
    ("Traitement de sortie", True),
    ("- Apixaban 5 mg : un comprimé matin et soir", False),
    ("- Bisoprolol 2,5 mg : un comprimé le matin", False),
    ("", False),
    ("Conclusion", True),
    ("Décompensation cardiaque sur fibrillation atriale rapide.", False),
]


def _tesseract_french() -> bool:
    exe = shutil.which("tesseract")
    if not exe:
        return False
    try:
        out = subprocess.run([exe, "--list-langs"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return "fra" in (out.stdout + out.stderr).split()


_STRICT = os.environ.get("MEDASSIST_REQUIRE_MODELS") == "1"
needs_tesseract = pytest.mark.skipif(
    not _STRICT and not _tesseract_french(),
    reason="Tesseract ou son modèle français absent : lancez « sudo scripts/system_deps.sh »",
)


def _font(size: int, bold: bool = False):
    import matplotlib
    from PIL import ImageFont

    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name), size)


def _page(lines=LINES, size=(1654, 2339)):
    """A white A4 page at 200 dpi with ``lines`` in 10-11 pt type (grayscale, as scanners give)."""
    from PIL import Image, ImageDraw

    img = Image.new("L", size, 255)
    draw = ImageDraw.Draw(img)
    y = 160
    for text, bold in lines:
        if text:
            draw.text((150, y), text, fill=0, font=_font(31 if bold else 28, bold))
        y += 52
    return img


def _words(text: str) -> str:
    return " ".join(text.lower().split())


@needs_tesseract
def test_png_is_read_by_ocr_with_lines_headings_and_flags(tmp_path):
    f = tmp_path / "ordonnance.png"
    _page().save(f)
    doc = parse_file(f)
    assert doc.ocr and all(b.ocr for b in doc.blocks) and doc.pages == 1
    assert {b.page for b in doc.blocks} == {1}
    for b in doc.blocks:
        assert doc.text[b.start:b.end] == b.text
    text = _words(doc.text)
    assert "traitement de sortie" in text and "apixaban" in text and "bisoprolol 2,5 mg" in text
    titles = [b.text for b in doc.blocks if b.category == "Title"]
    assert "Traitement de sortie" in titles and "Antécédents" in titles
    lines = doc.text.split("\n")
    assert any(ln.startswith("- Apixaban") for ln in lines)  # one OCR line per line, bullet kept


@needs_tesseract
def test_scanned_pdf_is_read_by_ocr(tmp_path):
    f = tmp_path / "scan.pdf"
    pages = [_page(), _page([("Suivi", True), ("Consultation de cardiologie dans un mois.", False)])]
    pages[0].save(f, "PDF", resolution=200, save_all=True, append_images=pages[1:])
    doc = parse_file(f)
    assert doc.ocr and doc.pages == 2
    assert all(b.ocr for b in doc.blocks)
    text = _words(doc.text)
    assert "traitement de sortie" in text and "apixaban" in text and "consultation de cardiologie" in text
    assert doc.page_at(doc.text.index("Consultation")) == 2
    assert next(b for b in doc.blocks if "Apixaban" in b.text).page == 1


@needs_tesseract
def test_only_pages_without_text_layer_are_ocr(tmp_path):
    from fpdf import FPDF

    img = tmp_path / "page2.png"
    _page([("Traitement de sortie", True), ("- Apixaban 5 mg matin et soir", False)]).save(img)
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=11)
    pdf.multi_cell(0, 6, "Compte rendu de consultation\nPatient vu ce jour, examen sans particularité.")
    pdf.add_page()
    pdf.image(str(img), x=0, y=0, w=210)
    pdf.set_xy(180, 285)
    pdf.cell(20, 5, "Page 2")  # a scanner's stamp: a few words of text over the scan still mean OCR
    f = tmp_path / "mixte.pdf"
    pdf.output(str(f))
    doc = parse_file(f)
    assert doc.ocr
    by_page = {p: [b for b in doc.blocks if b.page == p] for p in (1, 2)}
    assert by_page[1] and not any(b.ocr for b in by_page[1])  # text layer: read, not OCR'd
    assert by_page[2] and all(b.ocr for b in by_page[2])
    assert "apixaban" in _words(" ".join(b.text for b in by_page[2]))


def test_pdf_with_text_layer_never_calls_tesseract(tmp_path, monkeypatch):
    from fpdf import FPDF

    def no_ocr(name):
        raise AssertionError("OCR must not run on a PDF with a text layer")

    monkeypatch.setattr(parsing, "_tesseract", no_ocr)
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=11)
    pdf.multi_cell(0, 6, "Traitement de sortie\n- Apixaban 5 mg matin et soir")
    f = tmp_path / "texte.pdf"
    pdf.output(str(f))
    doc = parse_file(f)
    assert not doc.ocr and "Apixaban" in doc.text


@needs_tesseract
@pytest.mark.parametrize("suffix", [".png", ".pdf"])
def test_blank_page_gives_a_french_error(tmp_path, suffix):
    from PIL import Image

    f = tmp_path / f"blanche{suffix}"
    Image.new("L", (1654, 2339), 255).save(f, **({"resolution": 200} if suffix == ".pdf" else {}))
    with pytest.raises(ParseError) as exc:
        parse_file(f)
    assert "Aucun texte reconnu" in str(exc.value) and f.name in str(exc.value)


def test_missing_tesseract_gives_a_french_error_naming_the_setup(tmp_path, monkeypatch):
    pytesseract = pytest.importorskip("pytesseract")
    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", str(tmp_path / "pas-de-tesseract"))
    f = tmp_path / "scan.png"
    _page([("Traitement de sortie", True)], size=(600, 300)).save(f)
    with pytest.raises(ParseError) as exc:
        parse_file(f)
    msg = str(exc.value)
    assert "Tesseract" in msg and "system_deps.sh" in msg and "scan.png" in msg


def test_corrupt_image_is_rejected_before_any_ocr(tmp_path):
    f = tmp_path / "photo.jpg"
    f.write_bytes(b"\xff\xd8\xff\xe0 pas une image")
    with pytest.raises(ParseError) as exc:
        parse_file(f)
    assert "illisible" in str(exc.value) and "photo.jpg" in str(exc.value)
