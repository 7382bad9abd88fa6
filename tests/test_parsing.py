"""Parsing and chunking: every format, offsets, corrupt inputs, French errors."""

import zipfile
from pathlib import Path

import pytest

from retrieval.chunking import chunk_text, heading_name
from retrieval.parsing import ParseError, parse_file

PATIENTS = Path(__file__).resolve().parent.parent / "knowledge" / "patients"


@pytest.mark.parametrize("suffix", [".txt", ".md", ".html", ".docx", ".pdf"])
def test_each_format_parses_with_block_offsets(suffix):
    f = next(PATIENTS.rglob(f"*{suffix}"))
    if "_src" in f.parts:
        f = next(p for p in PATIENTS.rglob(f"*{suffix}") if "_src" not in p.parts)
    doc = parse_file(f)
    assert len(doc.text) > 200
    for b in doc.blocks:
        assert doc.text[b.start:b.end] == b.text
    assert "é" in doc.text or "è" in doc.text  # accents survive every format


def test_pdf_pages_are_tracked():
    multi = [p for p in PATIENTS.rglob("*.pdf") if parse_file(p).pages >= 2]
    assert multi, "the corpus has multi-page PDFs"
    doc = parse_file(multi[0])
    assert {b.page for b in doc.blocks} >= {1, 2}


def test_latin1_text_is_decoded(tmp_path):
    f = tmp_path / "ancien.txt"
    f.write_bytes("Fièvre à 39 °C, prescription de céfotaxime.".encode("latin-1"))
    assert "Fièvre à 39 °C" in parse_file(f).text


@pytest.mark.parametrize("name,content,msg", [
    ("vide.txt", b"", "est vide"),
    ("binaire.txt", b"\x00\x01\x02" * 100, "binaire"),
    ("tronque.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog", "illisible"),
    ("faux.docx", b"PK\x03\x04 not really a zip", "illisible"),
    ("image.bmp", b"BM....", "non pris en charge"),
    ("image.png", b"\x89PNG....", "illisible"),  # images are OCR'd now: a broken one is "illisible"
])
def test_bad_files_raise_french_errors(tmp_path, name, content, msg):
    f = tmp_path / name
    f.write_bytes(content)
    with pytest.raises(ParseError) as exc:
        parse_file(f)
    assert msg in str(exc.value) and name in str(exc.value)


def test_truncated_real_docx(tmp_path):
    src = next(p for p in PATIENTS.rglob("*.docx") if "_src" not in p.parts)
    data = src.read_bytes()
    f = tmp_path / "coupe.docx"
    f.write_bytes(data[: len(data) // 2])
    with pytest.raises(ParseError):
        parse_file(f)
    assert zipfile.is_zipfile(src)


def test_headings_detected():
    assert heading_name("CONCLUSION :") == "Conclusion"
    assert heading_name("## Traitement de sortie") == "Traitement de sortie"
    assert heading_name("TTT de sortie") == "Traitement de sortie"
    assert heading_name("Évolution dans le service") == "Évolution"
    assert heading_name("Le patient va bien.") is None


def test_chunks_keep_sections_and_exact_offsets():
    text = ("Patient : M. X\n\nANTÉCÉDENTS :\n\n- HTA\n- FA\n\nTRAITEMENT À L'ENTRÉE :\n\n- RAMIPRIL 5 mg\n\n"
            "TRAITEMENT DE SORTIE :\n\n- APIXABAN 5 mg : 1 cp matin et soir\n\nSUIVI :\n\n" + "Consultation. " * 200)
    chunks = chunk_text(text, max_chars=400)
    for c in chunks:
        assert text[c.start:c.end] == c.text
        assert len(c.text) <= 400 * 1.5
    by_section = {c.section for c in chunks}
    assert {"Antécédents", "Traitement à l'entrée", "Traitement de sortie", "Suivi"} <= by_section
    entry = next(c for c in chunks if c.section == "Traitement à l'entrée")
    assert "APIXABAN" not in entry.text  # never mixes the entry and discharge lists
