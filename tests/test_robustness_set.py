"""The blind format-robustness set (knowledge/eval/robustness): complete, consistent, openable, rebuildable.

Fast and model-free: it reads the committed renderings, checks every gold string against the
``txt_lines`` rendering, opens DOCX/PDF files, checks that scans have no text layer, and rebuilds the
text styles into a temporary folder to compare bytes.
"""

from __future__ import annotations

import importlib.util
import io
import json
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SET = REPO / "knowledge" / "eval" / "robustness"
STYLES_DIR = SET / "styles"
SCRIPT = REPO / "scripts" / "build_robustness.py"
FULL_STYLES = ("txt_lines", "markdown", "docx", "html", "pdf")
EXT = {"txt_lines": ".txt", "markdown": ".md", "docx": ".docx", "html": ".html", "pdf": ".pdf", "scan": ".pdf"}
DOC_TYPES = {"lettre_adressage", "consultation", "compte_rendu_operatoire", "imagerie", "biologie", "ordonnance",
             "compte_rendu_hospitalisation", "transmissions_infirmieres", "rcp", "chimiotherapie",
             "anatomopathologie", "autre"}


@pytest.fixture(scope="module")
def br():
    spec = importlib.util.spec_from_file_location("build_robustness", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


@pytest.fixture(scope="module")
def gold() -> list[dict]:
    return [json.loads(line) for line in (SET / "gold.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]


def _norm(text: str) -> str:
    """Case-insensitive, blanks collapsed (accents kept: the gold is verbatim)."""
    return re.sub(r"\s+", " ", text.replace("\u202f", " ").replace("\u00a0", " ")).strip().lower()


def _docs(style: str, patient: str) -> list[str]:
    return sorted(p.name for p in (STYLES_DIR / style / patient).iterdir() if p.name != "patient.json")


def _txt(patient: str) -> str:
    folder = STYLES_DIR / "txt_lines" / patient
    return _norm("\n".join(p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.txt"))))


def test_every_style_has_the_same_patients_and_documents(br, gold):
    patients = [g["patient"] for g in gold]
    assert patients == [f"P00{i}" for i in range(1, 9)]
    for style in FULL_STYLES:
        assert sorted(p.name for p in (STYLES_DIR / style).iterdir()) == patients, style
    scans = sorted(p.name for p in (STYLES_DIR / "scan").iterdir())
    assert scans == sorted(br.SCAN_PATIENTS) and len(scans) == 2
    for g in gold:
        stems = [d["file"] for d in g["documents"]]
        for style in FULL_STYLES + (("scan",) if g["patient"] in scans else ()):
            assert _docs(style, g["patient"]) == sorted(s + EXT[style] for s in stems), (style, g["patient"])
    total = sum(len(g["documents"]) for g in gold)
    assert total >= 16


def test_patient_json_declares_no_documents_and_copies_the_dev_record(gold):
    from medassist.schemas import Patient

    for g in gold:
        dev = json.loads((REPO / "knowledge" / "patients" / g["patient"] / "patient.json").read_text(encoding="utf-8"))
        for style in FULL_STYLES:
            pj = json.loads((STYLES_DIR / style / g["patient"] / "patient.json").read_text(encoding="utf-8"))
            assert pj["documents"] == []
            for key in ("identity", "gp", "allergies", "stays"):
                assert pj[key] == dev[key], (style, g["patient"], key)
            Patient.model_validate(pj)


def test_every_rendered_file_is_non_empty():
    files = [p for p in STYLES_DIR.rglob("*") if p.is_file()]
    assert len(files) > 100
    for p in files:
        assert p.stat().st_size > 0, p


def test_gold_strings_appear_in_the_txt_rendering(gold):
    for g in gold:
        text = _txt(g["patient"])
        dis = g["discharge"]
        missing = []
        for d in dis["drugs"]:
            if not any(_norm(n) in text for n in [d["name"], *d.get("aliases", [])]):
                missing.append(("drug", d["name"]))
            if _norm(d["dose"]) not in text:
                missing.append(("dose", d["dose"]))
        for s in dis["stopped"]:
            assert s["change"] in ("stopped", "changed")
            if not any(_norm(n) in text for n in [s["name"], *s.get("aliases", [])]):
                missing.append(("stopped", s["name"]))
            if _norm(s["reason"]) not in text:
                missing.append(("reason", s["reason"]))
        missing += [("follow_up", f) for f in dis["follow_up"] if _norm(f) not in text]
        missing += [("pending", f) for f in dis["pending"] if _norm(f) not in text]
        assert not missing, (g["patient"], missing)


def test_qa_cases_are_well_formed_and_their_facts_are_in_the_expected_document(gold):
    ids = set()
    for g in gold:
        pid = g["patient"]
        assert 4 <= len(g["qa"]) <= 6, pid
        stems = {d["file"] for d in g["documents"]}
        for q in g["qa"]:
            assert q["id"].startswith(f"R-{pid}-Q") and q["id"] not in ids
            ids.add(q["id"])
            assert q["expect_doc"].startswith(pid + "-") and q["expect_doc"][len(pid) + 1:] in stems, q["id"]
            doc = _norm((STYLES_DIR / "txt_lines" / pid / (q["expect_doc"][len(pid) + 1:] + ".txt")).read_text(encoding="utf-8"))
            assert any(_norm(e) in doc for e in q["expect_any"]), q["id"]
            assert _norm(q["question"]) not in doc  # a paraphrase, not a copy
    assert len(ids) >= 32


def test_gold_codes_reuse_the_dev_stay_codes_and_documents_are_typed(gold):
    for g in gold:
        dev = json.loads((REPO / "knowledge" / "eval" / "coding_stays" / f"{g['patient']}.jsonl").read_text().splitlines()[0])
        dev_codes = {dev["dp"], *dev["das"]}
        codes = [g["coding"]["dp"], *g["coding"]["das"]]
        assert set(codes) <= dev_codes, g["patient"]
        assert set(g["coding_dropped"]) == dev_codes - set(codes), g["patient"]
        assert set(g["coding"].get("forbidden", [])) <= set(dev.get("forbidden", []))
        for d in g["documents"]:
            assert d["type"] in DOC_TYPES and re.fullmatch(r"2026-\d\d-\d\d", d["date"]), d
        assert any(d["type"] == "compte_rendu_hospitalisation" for d in g["documents"])


def test_docx_files_open_with_real_heading_list_and_table_styles():
    from docx import Document

    files = sorted((STYLES_DIR / "docx").rglob("*.docx"))
    assert files
    tables = 0
    for p in files:
        doc = Document(str(p))
        styles = {par.style.name for par in doc.paragraphs}
        assert {"Heading 1", "Heading 2"} <= styles, p
        assert doc.core_properties.title == "" and doc.core_properties.author == ""
        tables += len(doc.tables)
    assert tables >= 6
    assert any("List Bullet" in {par.style.name for par in Document(str(p)).paragraphs} for p in files)


def test_pdfs_open_with_text_and_scans_have_no_text_layer(gold):
    from pypdf import PdfReader

    multipage = 0
    for p in sorted((STYLES_DIR / "pdf").rglob("*.pdf")):
        reader = PdfReader(io.BytesIO(p.read_bytes()))
        text = "".join(page.extract_text() or "" for page in reader.pages)
        assert len(text.strip()) > 50, p
        multipage += len(reader.pages) > 1
    assert multipage >= 3
    scans = sorted((STYLES_DIR / "scan").rglob("*.pdf"))
    assert scans
    for p in scans:
        assert p.stat().st_size < 400_000, p
        reader = PdfReader(io.BytesIO(p.read_bytes()))
        assert len(reader.pages) >= 1
        assert all((page.extract_text() or "").strip() == "" for page in reader.pages), p


def test_html_uses_divs_only_and_txt_varies_its_headings():
    for p in sorted((STYLES_DIR / "html").rglob("*.html")):
        h = p.read_text(encoding="utf-8")
        assert not re.search(r"<(h\d|p|ul|ol|li|title)\b", h), p
        assert "<div" in h
    pages = [p.read_text(encoding="utf-8") for p in (STYLES_DIR / "html").rglob("*.html")]
    assert any("<table" in h for h in pages) and sum("<br>" in h for h in pages) >= len(pages) - 2
    txt = "\n".join(p.read_text(encoding="utf-8") for p in sorted((STYLES_DIR / "txt_lines").rglob("*.txt")))
    assert re.search(r"^1\. \w", txt, re.M) and re.search(r"^[^\n]{3,} :$", txt, re.M)
    assert re.search(r"^• ", txt, re.M) and re.search(r"^- ", txt, re.M)
    md = "\n".join(p.read_text(encoding="utf-8") for p in sorted((STYLES_DIR / "markdown").rglob("*.md")))
    assert re.search(r"^## ", md, re.M) and re.search(r"^\|---", md, re.M)


def test_build_is_idempotent_for_text_styles(br, tmp_path):
    styles = ("txt_lines", "markdown", "html")
    br.build(tmp_path, styles)
    first = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert br.build(tmp_path, styles) == []  # nothing rewritten
    for rel, data in first.items():
        assert (STYLES_DIR / rel).read_bytes() == data, rel  # the committed files are up to date
    committed = {p.relative_to(STYLES_DIR) for s in styles for p in (STYLES_DIR / s).rglob("*") if p.is_file()}
    assert committed == set(first)


def test_export_writes_a_qa_eval_compatible_case_folder(br, tmp_path, gold):
    n = br.export("txt_lines", tmp_path)
    assert n == sum(len(g["qa"]) for g in gold)
    cases = [json.loads(line) for line in (tmp_path / "qa.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {"id", "patient", "question", "expect_any", "expect_doc"} <= set(cases[0])
    assert (tmp_path / "P001" / "patient.json").is_file()
