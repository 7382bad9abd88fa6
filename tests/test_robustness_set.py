"""The format-robustness sets (knowledge/eval/robustness = set A and knowledge/eval/robustness_b =
set B, both dev sets since their blind scoring on 2026-12-03; knowledge/eval/robustness_c = set C,
the new blind test split): complete, consistent, openable, rebuildable.

Fast and model-free: it reads the committed renderings, checks every gold string against the
``txt_lines`` rendering, opens DOCX/PDF files, checks that scans have no text layer, and rebuilds the
text styles into a temporary folder to compare bytes. It never runs the assistant on the sets (set C
must stay blind until it is scored once).
"""

from __future__ import annotations

import html
import importlib.util
import io
import json
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "build_robustness.py"
FULL_STYLES = ("txt_lines", "markdown", "docx", "html", "pdf")
#: scanned patients of each set (as in scripts/build_robustness.py)
SETS_SCAN = {"a": ("P003", "P006"), "b": ("P011", "P014"), "c": ("P002", "P007")}
EXT = {"txt_lines": ".txt", "markdown": ".md", "docx": ".docx", "html": ".html", "pdf": ".pdf", "scan": ".pdf"}
DOC_TYPES = {"lettre_adressage", "consultation", "compte_rendu_operatoire", "imagerie", "biologie", "ordonnance",
             "compte_rendu_hospitalisation", "transmissions_infirmieres", "rcp", "chimiotherapie",
             "anatomopathologie", "autre"}
#: set -> (folder, patients)
SETS = {"a": (REPO / "knowledge" / "eval" / "robustness", [f"P00{i}" for i in range(1, 9)]),
        "b": (REPO / "knowledge" / "eval" / "robustness_b", [f"P0{i:02d}" for i in range(9, 17)]),
        "c": (REPO / "knowledge" / "eval" / "robustness_c", [f"P00{i}" for i in range(1, 9)])}


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


def _gold(name: str) -> list[dict]:
    path = SETS[name][0] / "gold.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _styles(name: str) -> Path:
    return SETS[name][0] / "styles"


def _norm(text: str) -> str:
    """Case-insensitive, blanks collapsed (accents kept: the gold is verbatim)."""
    return re.sub(r"\s+", " ", text.replace("\u202f", " ").replace("\u00a0", " ")).strip().lower()


def _docs(name: str, style: str, patient: str) -> list[str]:
    return sorted(p.name for p in (_styles(name) / style / patient).iterdir() if p.name != "patient.json")


def _txt(name: str, patient: str) -> str:
    folder = _styles(name) / "txt_lines" / patient
    return _norm("\n".join(p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.txt"))))


def _stay(g: dict) -> dict:
    dev = json.loads((REPO / "knowledge" / "patients" / g["patient"] / "patient.json").read_text(encoding="utf-8"))
    return next(s for s in dev["stays"] if s["id"] == g["stay"])


@pytest.mark.parametrize("name", sorted(SETS))
def test_every_style_has_the_same_patients_and_documents(br, name):
    gold = _gold(name)
    patients = [g["patient"] for g in gold]
    assert patients == SETS[name][1]
    styles = _styles(name)
    for style in FULL_STYLES:
        assert sorted(p.name for p in (styles / style).iterdir()) == patients, style
    scans = sorted(p.name for p in (styles / "scan").iterdir())
    assert scans == sorted(br.SETS[name].scan_patients) and len(scans) == 2
    for g in gold:
        stems = [d["file"] for d in g["documents"]]
        for style in FULL_STYLES + (("scan",) if g["patient"] in scans else ()):
            assert _docs(name, style, g["patient"]) == sorted(s + EXT[style] for s in stems), (style, g["patient"])
    total = sum(len(g["documents"]) for g in gold)
    assert total >= 16


@pytest.mark.parametrize("name", sorted(SETS))
def test_patient_json_declares_no_documents_and_copies_the_dev_record(name):
    from medassist.schemas import Patient

    for g in _gold(name):
        dev = json.loads((REPO / "knowledge" / "patients" / g["patient"] / "patient.json").read_text(encoding="utf-8"))
        for style in FULL_STYLES:
            pj = json.loads((_styles(name) / style / g["patient"] / "patient.json").read_text(encoding="utf-8"))
            assert pj["documents"] == []
            for key in ("identity", "gp", "allergies", "stays"):
                assert pj[key] == dev[key], (style, g["patient"], key)
            Patient.model_validate(pj)


@pytest.mark.parametrize("name", sorted(SETS))
def test_every_rendered_file_is_non_empty(name):
    files = [p for p in _styles(name).rglob("*") if p.is_file()]
    assert len(files) > 100
    for p in files:
        assert p.stat().st_size > 0, p


@pytest.mark.parametrize("name", sorted(SETS))
def test_gold_strings_appear_in_the_txt_rendering(name):
    for g in _gold(name):
        text = _txt(name, g["patient"])
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


@pytest.mark.parametrize("name", sorted(SETS))
def test_drug_names_and_reasons_share_a_line_with_their_dose_or_drug(name):
    """The drafting score looks for a gold item inside the letter's sections: a drug's dose must be
    in its own discharge line (or table row) and a reason in the line naming the stopped drug, so
    that a perfect extraction can score 100 %."""
    for g in _gold(name):
        folder = _styles(name) / "txt_lines" / g["patient"]
        lines = [_norm(x) for p in sorted(folder.glob("*.txt")) for x in p.read_text(encoding="utf-8").splitlines()]
        for d in g["discharge"]["drugs"]:
            names = [_norm(n) for n in [d["name"], *d.get("aliases", [])]]
            assert any(any(n in x for n in names) and _norm(d["dose"]) in x for x in lines), (g["patient"], d)
        for s in g["discharge"]["stopped"]:
            names = [_norm(n) for n in [s["name"], *s.get("aliases", [])]]
            assert any(any(n in x for n in names) and _norm(s["reason"]) in x for x in lines), (g["patient"], s)
        for item in g["discharge"]["follow_up"] + g["discharge"]["pending"]:
            assert any(_norm(item) in x for x in lines), (g["patient"], item)


@pytest.mark.parametrize("name", sorted(SETS))
def test_qa_cases_are_well_formed_and_their_facts_are_in_the_expected_document(name):
    ids = set()
    for g in _gold(name):
        pid = g["patient"]
        assert 4 <= len(g["qa"]) <= 6, pid
        stems = {d["file"] for d in g["documents"]}
        for q in g["qa"]:
            assert q["id"].startswith(f"R-{pid}-Q") and q["id"] not in ids
            ids.add(q["id"])
            assert q["expect_doc"].startswith(pid + "-") and q["expect_doc"][len(pid) + 1:] in stems, q["id"]
            path = _styles(name) / "txt_lines" / pid / (q["expect_doc"][len(pid) + 1:] + ".txt")
            doc = _norm(path.read_text(encoding="utf-8"))
            assert any(_norm(e) in doc for e in q["expect_any"]), q["id"]
            assert _norm(q["question"]) not in doc  # a paraphrase, not a copy
    assert len(ids) >= 32


@pytest.mark.parametrize("name", sorted(SETS))
def test_gold_codes_reuse_the_dev_stay_codes_and_documents_are_typed_and_in_the_stay(name):
    for g in _gold(name):
        lines = (REPO / "knowledge" / "eval" / "coding_stays" / f"{g['patient']}.jsonl").read_text().splitlines()
        dev = next(d for d in map(json.loads, filter(None, lines)) if d.get("stay", "S1") == g["stay"])
        dev_codes = {dev["dp"], *dev["das"]}
        codes = [g["coding"]["dp"], *g["coding"]["das"]]
        assert set(codes) <= dev_codes, g["patient"]
        assert set(g["coding_dropped"]) == dev_codes - set(codes), g["patient"]
        assert set(g["coding"].get("forbidden", [])) <= set(dev.get("forbidden", []))
        stay = _stay(g)
        for d in g["documents"]:
            assert d["type"] in DOC_TYPES and re.fullmatch(r"20\d\d-\d\d-\d\d", d["date"]), d
            # the scorer expects every document to be assigned to the gold stay by its date
            assert stay["entry_date"] <= d["date"] <= stay["exit_date"], (g["patient"], d)
        assert any(d["type"] == "compte_rendu_hospitalisation" for d in g["documents"])


def test_set_b_is_a_new_split_with_its_own_traps():
    """Set B: the dev patients P009-P016 (never A's), a report that says nothing is pending,
    forbidden codes on every patient (negated, suspected or family diagnoses), a discharge list
    written as a sentence in one report and as a table in another, more than one stay chosen."""
    a, b = _gold("a"), _gold("b")
    assert not {g["patient"] for g in a} & {g["patient"] for g in b}
    assert all(g["coding"]["forbidden"] for g in b)
    sources = {g["patient"]: json.loads((SETS["b"][0] / "sources" / f"{g['patient']}.json").read_text(encoding="utf-8"))
               for g in b}
    empty = [g["patient"] for g in b if not g["discharge"]["pending"]]
    assert empty
    for pid in empty:
        assert re.search(r"\b(néant|aucun)", _txt("b", pid)), pid
    blocks = {pid: [blk for d in s["documents"] if d["type"] == "compte_rendu_hospitalisation"
                    for sec in d["sections"] for blk in sec["blocks"]] for pid, s in sources.items()}
    assert any("table" in blk and any("mg" in c for r in blk["table"]["rows"] for c in r)
               for blks in blocks.values() for blk in blks)
    assert "S2" in {g["stay"] for g in b} and "S1" in {g["stay"] for g in b}
    assert sum(len(g["documents"]) for g in b) >= 20


def _txt_lines(name: str, patient: str) -> list[tuple[str, str]]:
    return [(f.name, line) for f in sorted((_styles(name) / "txt_lines" / patient).glob("*.txt"))
            for line in f.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("name", ["b", "c"])
def test_test_split_documents_are_written_anew_not_copied(name):
    """The form must be new: no line of 40 characters or more of the set's text rendering is a
    verbatim line of the dev patient's documents (facts agree, wording does not); set C, which
    reuses set A's patients, must not copy set A's lines either. Signature lines (« Dr … ») are
    names, not wording."""
    copied = []
    for g in _gold(name):
        ref = []
        for f in (REPO / "knowledge" / "patients" / g["patient"]).rglob("*"):
            if f.suffix in (".txt", ".md", ".html"):
                ref.append(_norm(html.unescape(re.sub(r"<[^>]+>", " ", f.read_text(encoding="utf-8")))))
        if name == "c":
            ref += [_norm(line) for _, line in _txt_lines("a", g["patient"])]
        ref_text = "\n".join(ref)
        for fname, line in _txt_lines(name, g["patient"]):
            x = _norm(line.lstrip("-• "))
            if len(x) >= 40 and not x.startswith("dr ") and x in ref_text:
                copied.append((g["patient"], fname, line))
    assert not copied, copied


def test_set_c_is_a_third_voice_with_its_own_traps():
    """Set C: set A's patients (P001-P008) in another voice — a letter laid out as a « Rubrique |
    Contenu » table, headings as questions, in parentheses or with trailing dots, the discharge
    treatment split into new / unchanged / stopped drugs, a pending result inside the conclusion
    sentence; one report with nothing pending; forbidden codes on every patient; scans for two
    patients other than set A's."""
    a, c = _gold("a"), _gold("c")
    assert [g["patient"] for g in c] == [g["patient"] for g in a]
    assert set(SETS_SCAN["c"]).isdisjoint(SETS_SCAN["a"])
    assert all(g["coding"]["forbidden"] for g in c) and all(g["stay"] == "S1" for g in c)
    empty = [g["patient"] for g in c if not g["discharge"]["pending"]]
    assert empty
    for pid in empty:
        assert re.search(r"\b(néant|aucun)", _txt("c", pid)), pid
    sources = {g["patient"]: json.loads((SETS["c"][0] / "sources" / f"{g['patient']}.json").read_text(encoding="utf-8"))
               for g in c}
    reports = {pid: [d for d in s["documents"] if d["type"] == "compte_rendu_hospitalisation"] for pid, s in sources.items()}
    headings = [sec["heading"] for docs in reports.values() for d in docs for sec in d["sections"]]
    assert sum(h.endswith("?") for h in headings) >= 6
    assert sum(h.startswith("(") and h.endswith(")") for h in headings) >= 4
    assert sum(h.endswith("...") for h in headings) >= 6
    assert {"Nouveaux médicaments", "Médicaments inchangés", "Médicaments arrêtés"} <= {h.rstrip(". ") for h in headings}
    tables = [blk["table"] for docs in reports.values() for d in docs for sec in d["sections"]
              for blk in sec["blocks"] if "table" in blk]
    assert sum(t["head"] == ["Rubrique", "Contenu"] for t in tables) >= 2
    # a pending result stated inside the conclusion sentence, not under its own heading
    assert any("en attente" in blk.get("p", "") and any(_norm(x) in _norm(blk["p"]) for x in g["discharge"]["pending"])
               for g in c for d in reports[g["patient"]] for sec in d["sections"]
               if re.search(r"conclusion|au total|diagnostic", sec["heading"], re.I) for blk in sec["blocks"])
    assert 20 <= sum(len(g["documents"]) for g in c) <= 26
    assert all(2 <= len(g["documents"]) <= 4 for g in c)


@pytest.mark.parametrize("name", sorted(SETS))
def test_docx_files_open_with_real_heading_list_and_table_styles(name):
    from docx import Document

    files = sorted((_styles(name) / "docx").rglob("*.docx"))
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


@pytest.mark.parametrize("name", sorted(SETS))
def test_pdfs_open_with_text_and_scans_have_no_text_layer(name):
    from pypdf import PdfReader

    multipage = 0
    for p in sorted((_styles(name) / "pdf").rglob("*.pdf")):
        reader = PdfReader(io.BytesIO(p.read_bytes()))
        text = "".join(page.extract_text() or "" for page in reader.pages)
        assert len(text.strip()) > 50, p
        multipage += len(reader.pages) > 1
    assert multipage >= 3
    scans = sorted((_styles(name) / "scan").rglob("*.pdf"))
    assert scans
    for p in scans:
        assert p.stat().st_size < 400_000, p
        reader = PdfReader(io.BytesIO(p.read_bytes()))
        assert len(reader.pages) >= 1
        assert all((page.extract_text() or "").strip() == "" for page in reader.pages), p


@pytest.mark.parametrize("name", sorted(SETS))
def test_html_uses_divs_only_and_txt_varies_its_headings(name):
    styles = _styles(name)
    for p in sorted((styles / "html").rglob("*.html")):
        h = p.read_text(encoding="utf-8")
        assert not re.search(r"<(h\d|p|ul|ol|li|title)\b", h), p
        assert "<div" in h
    pages = [p.read_text(encoding="utf-8") for p in (styles / "html").rglob("*.html")]
    assert any("<table" in h for h in pages) and sum("<br>" in h for h in pages) >= len(pages) - 2
    txt = "\n".join(p.read_text(encoding="utf-8") for p in sorted((styles / "txt_lines").rglob("*.txt")))
    assert re.search(r"^1\. \w", txt, re.M) and re.search(r"^[^\n]{3,} :$", txt, re.M)
    assert re.search(r"^• ", txt, re.M) and re.search(r"^- ", txt, re.M)
    md = "\n".join(p.read_text(encoding="utf-8") for p in sorted((styles / "markdown").rglob("*.md")))
    assert re.search(r"^## ", md, re.M) and re.search(r"^\|---", md, re.M)


@pytest.mark.parametrize("name", sorted(SETS))
def test_build_is_idempotent_for_text_styles(br, tmp_path, name):
    styles = ("txt_lines", "markdown", "html")
    rset = br.SETS[name]
    assert br.build_set(rset, styles, tmp_path)  # a fresh folder gets every file
    first = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert br.build_set(rset, styles, tmp_path) == []  # nothing rewritten
    for rel, data in first.items():
        assert (rset.styles_dir / rel).read_bytes() == data, rel  # the committed files are up to date
    committed = {p.relative_to(rset.styles_dir) for s in styles for p in (rset.styles_dir / s).rglob("*") if p.is_file()}
    assert committed == set(first)


def test_set_a_keeps_its_historical_defaults(br, tmp_path):
    """Callers written before set B (``build()``, ``stale()``, ``export()`` without a set) still mean
    set A, and ``main`` checks both sets."""
    assert br.STYLES_DIR == br.SETS["a"].styles_dir and br.SCAN_PATIENTS == ("P003", "P006")
    br.build(tmp_path, ("txt_lines",))
    assert sorted(p.name for p in (tmp_path / "txt_lines").iterdir()) == SETS["a"][1]
    assert br.stale(br.SETS["b"].styles_dir, ("txt_lines",), br.SETS["b"]) == []
    assert br.main(["--check", "--styles", "txt_lines"]) == 0


@pytest.mark.parametrize("name", sorted(SETS))
def test_export_writes_a_qa_eval_compatible_case_folder(br, tmp_path, name):
    assert br.main(["--export", "txt_lines", str(tmp_path), "--set", name]) == 0
    gold = _gold(name)
    cases = [json.loads(line) for line in (tmp_path / "qa.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(cases) == sum(len(g["qa"]) for g in gold)
    assert {"id", "patient", "question", "expect_any", "expect_doc"} <= set(cases[0])
    assert {c["patient"] for c in cases} == set(SETS[name][1])
    assert (tmp_path / SETS[name][1][0] / "patient.json").is_file()


# =========================================================================== evaluation plumbing
# How ``bench/robustness_eval.py`` scores the sets, on synthetic per-style results: no model, no
# index, and never the assistant on a set (set C stays blind until its one scoring).
def _fake_style(calls: list):
    from bench.robustness_eval import score_coding, score_draft, score_metadata, summarise

    def evaluate_style(style, settings, embedder, golds, *, root=None, patients=None, progress=None):
        calls.append((Path(root).name, style, tuple(patients) if patients else None))
        golds = [g for g in golds if patients is None or g["patient"] in patients]
        if style == "scan":
            golds = [g for g in golds if g["patient"] in {p.name for p in (Path(root) / "styles" / "scan").iterdir()}]
        rows = [{"patient": g["patient"], "metadata": score_metadata(g, []),
                 "drafting": {**score_draft(g, {}, []), "unverified_flags": []},
                 "qa": [{"id": q["id"], "ok": True, "fact": True, "fact_in_answer": True, "doc": True} for q in g["qa"]],
                 "coding": score_coding(g, [(g["coding"]["dp"], "DP")])} for g in golds]
        return {"style": style, "patients": [r["patient"] for r in rows], "supported": True, "rows": rows,
                "summary": summarise(rows), "seconds": 0.0,
                "ingest": {"documents": 0, "chunks": 0, "seconds": 0.0, "errors": []}}

    return evaluate_style


def test_quick_gate_scores_set_a_only_whatever_the_environment(monkeypatch):
    import bench.robustness_eval as rob

    calls: list = []
    monkeypatch.setattr(rob, "evaluate_style", _fake_style(calls))
    for env in ("B", "C", "B,C"):
        monkeypatch.setenv(rob.SETS_ENV, env)
        calls.clear()
        out = rob.evaluate(settings=object(), embedder=object(), quick=True)
        assert list(out["sets"]) == ["A"] and out["quick"]
        assert {c[0] for c in calls} == {"robustness"}  # the test sets' folders never touched
    assert calls == [("robustness", "txt_lines", ("P001", "P002")), ("robustness", "pdf", ("P001", "P002"))]
    # the fields the CI test and earlier reports read stay at the top level (set A)
    assert list(out["styles"]) == ["txt_lines", "pdf"] and out["styles"]["pdf"]["patients"] == ["P001", "P002"]
    assert "rows" not in out["styles"]["pdf"]


def test_full_run_scores_every_set_side_by_side_with_their_labels(monkeypatch):
    import bench.robustness_eval as rob

    calls: list = []
    monkeypatch.setattr(rob, "evaluate_style", _fake_style(calls))
    monkeypatch.delenv(rob.SETS_ENV, raising=False)
    out = rob.evaluate(settings=object(), embedder=object(), styles=["txt_lines", "pdf", "scan"])
    assert list(out["sets"]) == ["A", "B", "C"]
    a, b, c = out["sets"]["A"], out["sets"]["B"], out["sets"]["C"]
    assert a["label"] == "A (dev depuis le 2026-12-03)" and b["label"] == "B (test, aveugle)"
    assert (a["role"], b["role"]) == ("dev", "test") and b["root"] == "knowledge/eval/robustness_b"
    assert b["styles"]["txt_lines"]["patients"] == SETS["b"][1]
    assert b["styles"]["scan"]["patients"] == ["P011", "P014"] and b["scan_vs_pdf"]["patients"] == ["P011", "P014"]
    assert a["scan_vs_pdf"]["patients"] == ["P003", "P006"]
    assert b["styles"]["txt_lines"]["summary"]["qa"]["cases"] == sum(len(g["qa"]) for g in _gold("b"))
    assert c["label"] == "C (test, aveugle)" and c["role"] == "test" and c["root"] == "knowledge/eval/robustness_c"
    assert c["styles"]["txt_lines"]["patients"] == SETS["c"][1]
    assert c["styles"]["scan"]["patients"] == ["P002", "P007"] and c["scan_vs_pdf"]["patients"] == ["P002", "P007"]
    assert c["styles"]["pdf"]["summary"]["qa"]["cases"] == sum(len(g["qa"]) for g in _gold("c"))
    # each set's gaps are computed within the set
    assert set(a["acceptance"]["coverage_min"]["per_style"]) == {"txt_lines", "pdf"}
    md = rob.markdown(out)
    assert "Sets side by side (A = A (dev depuis le 2026-12-03); B = B (test, aveugle); C = C (test, aveugle))" in md
    assert "| style | letter items A | letter items B | letter items C |" in md
    assert "**Set C (test, aveugle)** — `knowledge/eval/robustness_c`:" in md
    assert "**Set B (test, aveugle)** — `knowledge/eval/robustness_b`:" in md and "### Set A (dev depuis le 2026-12-03)" in md
    assert "| scan | " in md and "(2 p.)" in md
    # the environment can hold set C back from a full run (e.g. `make results` before its one scoring)
    monkeypatch.setenv(rob.SETS_ENV, "A,B")
    calls.clear()
    assert list(rob.evaluate(settings=object(), embedder=object(), styles=["txt_lines"])["sets"]) == ["A", "B"]
    assert {x[0] for x in calls} == {"robustness", "robustness_b"}
    monkeypatch.setenv(rob.SETS_ENV, "A")
    calls.clear()
    assert list(rob.evaluate(settings=object(), embedder=object(), styles=["txt_lines"])["sets"]) == ["A"]
    assert {x[0] for x in calls} == {"robustness"}


def test_set_choice_is_validated():
    import bench.robustness_eval as rob

    assert rob.chosen_sets(["b", "A"]) == ["A", "B"] and rob.chosen_sets(quick=True) == ["A"]
    assert rob.chosen_sets(["c", "a"]) == ["A", "C"]
    with pytest.raises(ValueError, match="inconnu"):
        rob.chosen_sets(["D"])
    with pytest.raises(SystemExit):
        rob.main(["--quick", "--sets", "B"])
    with pytest.raises(SystemExit):
        rob.main(["--quick", "--sets", "C"])
