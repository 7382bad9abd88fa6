"""Size limits and input decoding (issue 20, items 5 and 8): decompression bombs, extracted size
per document and per upload checked while reading, UTF-16, binary files without zero bytes.
No model needed."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from test_uploads_versions import TinyEmbedder, _patient_folder

from medassist.settings import Settings, get_settings
from retrieval import parsing
from retrieval.parsing import LimitError, Limits, ParseError, parse_file
from retrieval.store import Scope

TEXT = "Compte rendu de consultation.\n\nPatiente revue, fièvre à 38,5 °C, traitement poursuivi.\n"


def _docx(path: Path, text: str = "Compte rendu : patiente revue.") -> Path:
    from docx import Document

    doc = Document()
    doc.add_paragraph(text)
    doc.save(str(path))
    return path


def test_settings_have_sane_defaults():
    s = Settings()
    assert (s.max_document_chars, s.max_document_chunks, s.max_document_pages) == (2_000_000, 5_000, 500)
    assert s.max_upload_chars >= s.max_document_chars and s.max_upload_chunks >= s.max_document_chunks
    lim = Limits.from_settings(s)
    assert lim.max_chars == 2_000_000 and lim.max_unzipped_bytes == 50_000_000


def test_docx_bomb_is_refused_before_parsing(tmp_path, monkeypatch):
    """A small DOCX with a part that inflates to 30 MB of zeros: refused from the zip directory,
    unstructured never called."""
    bomb = _docx(tmp_path / "bombe.docx")
    with zipfile.ZipFile(bomb, "a", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("word/bomb.xml", b"0" * 30_000_000)
    assert bomb.stat().st_size < 200_000

    def never(*a, **k):
        raise AssertionError("the bomb was decompressed")

    import unstructured.partition.docx as udocx

    monkeypatch.setattr(udocx, "partition_docx", never)
    with pytest.raises(LimitError, match="bombe de décompression|se décompresse"):
        parse_file(bomb)
    with pytest.raises(LimitError, match="se décompresse en plus de 10 Mo"):
        parse_file(bomb, Limits(max_unzipped_bytes=10_000_000, max_zip_ratio=1e9))


def test_docx_text_over_the_limit_is_refused(tmp_path):
    doc = _docx(tmp_path / "long.docx", "Une phrase du compte rendu. " * 200)
    assert parse_file(doc).text
    with pytest.raises(LimitError, match="plus de 1\u202f000 caractères par document"):
        parse_file(doc, Limits(max_chars=1_000))


def test_text_and_markup_over_the_limit_are_refused(tmp_path):
    txt = tmp_path / "long.txt"
    txt.write_text(TEXT * 50, encoding="utf-8")
    html = tmp_path / "long.html"
    html.write_text("<p>" + TEXT * 50 + "</p>", encoding="utf-8")
    for f in (txt, html):
        with pytest.raises(LimitError, match="rien n'a été indexé"):
            parse_file(f, Limits(max_chars=500))
        assert parse_file(f, Limits(max_chars=100_000)).text


def test_pdf_pages_are_counted_before_layout(tmp_path, monkeypatch):
    from pypdf import PdfWriter

    w = PdfWriter()
    for _ in range(6):
        w.add_blank_page(width=595, height=842)
    pdf = tmp_path / "pages.pdf"
    with pdf.open("wb") as fh:
        w.write(fh)
    monkeypatch.setattr(parsing, "_pdf_layout", lambda *a, **k: pytest.fail("laid out before the page check"))
    with pytest.raises(LimitError, match="plus de 5 par document"):
        parse_file(pdf, Limits(max_pages=5))


def test_utf16_text_is_decoded(tmp_path):
    for enc, _bom in (("utf-16", True), ("utf-16-le", False), ("utf-16-be", False), ("utf-32", True)):
        f = tmp_path / f"note-{enc}.txt"
        f.write_bytes(TEXT.encode(enc))
        assert "fièvre à 38,5 °C" in parse_file(f).text, enc


def test_binary_without_zero_bytes_is_refused(tmp_path):
    import random

    rnd = random.Random(7)
    f = tmp_path / "binaire.txt"
    f.write_bytes(bytes(rnd.randrange(1, 256) for _ in range(20_000)))
    assert b"\x00" not in f.read_bytes()
    with pytest.raises(ParseError, match="contenu binaire"):
        parse_file(f)
    md = tmp_path / "binaire.md"
    md.write_bytes(f.read_bytes())
    with pytest.raises(ParseError, match="contenu binaire"):
        parse_file(md)
    # text in Windows-1252 with a stray control character stays text
    ok = tmp_path / "cp1252.txt"
    ok.write_bytes(("Fièvre à 38 °C, œdème.\x1a" + "\n" + TEXT).encode("cp1252"))
    assert "œdème" in parse_file(ok).text


@pytest.fixture()
def svc(tmp_path):
    from retrieval.service import RetrievalService

    settings = get_settings().model_copy(update={"data_dir": tmp_path / "data", "embedding_dim": TinyEmbedder.dim})
    service = RetrievalService(settings, embedder=TinyEmbedder())
    report = service.ingest_paths([_patient_folder(tmp_path / "patients")])
    assert not report.errors
    yield service
    service.close()


def test_too_many_chunks_is_refused_and_nothing_indexed(svc, tmp_path):
    f = tmp_path / "long.txt"
    f.write_text("\n\n".join(f"PARAGRAPHE {i} : " + "mot " * 150 for i in range(40)), encoding="utf-8")
    svc.settings = svc.settings.model_copy(update={"max_document_chunks": 5})
    report = svc.ingest_paths([f], patient_id="PV01")
    assert not report.added and "trop de passages" in report.errors[0].message
    assert "plus de 5 par document" in report.errors[0].message
    assert svc.document_text(Scope.patient("PV01"), "PV01-long") is None
    assert svc.store.count(Scope.patient("PV01"), "PV01-long") == 0


def test_upload_over_its_budget_is_refused_as_a_whole(svc, tmp_path):
    """Each file fits the per-document limit; together they exceed the upload's: nothing indexed."""
    files = []
    for i in range(3):
        f = tmp_path / f"note{i}.txt"
        f.write_text(f"Note {i}. " + TEXT * 8, encoding="utf-8")
        files.append(f)
    svc.settings = svc.settings.model_copy(update={"max_upload_chars": 1_200})
    report = svc.ingest_paths(files, patient_id="PV01")
    assert not report.added and len(report.errors) == 3
    assert "cet envoi dépasse la limite de 1\u202f200 caractères" in " ".join(e.message for e in report.errors)
    assert all(svc.document_text(Scope.patient("PV01"), f"PV01-note{i}") is None for i in range(3))
    # one file alone fits
    assert svc.ingest_paths(files[:1], patient_id="PV01").added == ["PV01-note0"]


def test_pdf_text_is_counted_page_by_page(tmp_path):
    """A real PDF of the corpus: refused on its extracted characters, read fine under the defaults."""
    pdf = next((Path(__file__).resolve().parent.parent / "knowledge" / "patients").glob("*/*.pdf"))
    assert parse_file(pdf).text
    with pytest.raises(LimitError, match="plus de 200 caractères par document"):
        parse_file(pdf, Limits(max_chars=200))
