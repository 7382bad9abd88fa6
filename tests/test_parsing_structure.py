"""Extraction keeps the structure of each format: one source line per line, headings on their own
block ("Title"), list items one per line ("- " bullets, numbering kept), tables one row per line
(" | " between cells), exact offsets, PDF pages. Documents are written in tmp for each test."""

from pathlib import Path

import pytest

from retrieval.parsing import parse_file

REPORT_LINES = """COMPTE RENDU D'HOSPITALISATION
Service de cardiologie

Motif d'hospitalisation
Dyspnée d'effort NYHA III depuis 15 jours.
Antécédents
- Cardiopathie ischémique, stent IVA 2019
- Fibrillation auriculaire paroxystique
• HTA
Traitement de sortie :
1. APIXABAN 5 mg : 1 cp matin et soir
2. BISOPROLOL 2,5 mg : 1 cp le matin
Le patient a bien toléré le traitement. Il sortira
demain matin après avis du cardiologue.

BIOLOGIE
Examen        Résultat   Unité
-----------------------------
Hémoglobine   13,2       g/dl
Créatinine    118        µmol/l

Dr Claire FONTAINE
"""


def _font_dir() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def _check_offsets(doc):
    assert doc.blocks
    for b in doc.blocks:
        assert doc.text[b.start:b.end] == b.text
        assert "\n\n" not in b.text and b.text == b.text.strip()
    for a, b in zip(doc.blocks, doc.blocks[1:]):
        assert doc.text[a.end:b.start] == "\n\n"
    assert doc.text == "\n\n".join(b.text for b in doc.blocks)


def _blocks(doc, category):
    return [b.text for b in doc.blocks if b.category == category]


def _lines(doc):
    return doc.text.split("\n")


def test_txt_one_item_per_line_keeps_lines_headings_lists_and_tables(tmp_path):
    f = tmp_path / "crh.txt"
    f.write_text(REPORT_LINES, encoding="utf-8")
    doc = parse_file(f)
    _check_offsets(doc)
    lines = _lines(doc)
    # headings are their own line and block, never glued to their content
    titles = _blocks(doc, "Title")
    assert {"COMPTE RENDU D'HOSPITALISATION", "Motif d'hospitalisation", "Antécédents", "Traitement de sortie :",
            "BIOLOGIE"} <= set(titles)
    assert "Motif d'hospitalisation Dyspnée" not in doc.text
    # bullets one per line with "- ", numbering kept
    assert "- Cardiopathie ischémique, stent IVA 2019\n- Fibrillation auriculaire paroxystique\n- HTA" in doc.text
    assert "1. APIXABAN 5 mg : 1 cp matin et soir\n2. BISOPROLOL 2,5 mg : 1 cp le matin" in doc.text
    assert "- Cardiopathie ischémique, stent IVA 2019" in _blocks(doc, "ListItem")[0].split("\n")
    # one source line stays one line (no re-flowing of a plain-text file)
    assert "Le patient a bien toléré le traitement. Il sortira" in lines
    assert "demain matin après avis du cardiologue." in lines
    # space-aligned columns are a table, one row per line, the rule line dropped
    assert _blocks(doc, "Table") == ["Examen | Résultat | Unité\nHémoglobine | 13,2 | g/dl\nCréatinine | 118 | µmol/l"]
    # a signature at the end is not a heading
    assert doc.blocks[-1].text == "Dr Claire FONTAINE" and doc.blocks[-1].category == "NarrativeText"
    assert not doc.ocr and all(b.page is None and not b.ocr for b in doc.blocks)


def test_txt_heading_forms(tmp_path):
    f = tmp_path / "forms.txt"
    f.write_text("1. Motif\nDouleur thoracique.\n\n2. Antécédents et terrain\nHTA, diabète.\n\n"
                 "Examen Clinique à l'Entrée\nTA 120/80 mmHg.\n\nCONCLUSION\nSCA ST-.\n", encoding="utf-8")
    doc = parse_file(f)
    _check_offsets(doc)
    assert _blocks(doc, "Title") == ["1. Motif", "2. Antécédents et terrain", "Examen Clinique à l'Entrée", "CONCLUSION"]


def test_markdown_keeps_source_lines_headings_lists_and_tables(tmp_path):
    f = tmp_path / "echo.md"
    f.write_text(
        "# Échocardiographie transthoracique\n\n**CHU de Valmont** - Cardiologie\n"
        "Patient : M. X\nDate de l'examen : 10/02/2026\n\n## Ventricule gauche\n\n"
        "- VG dilaté : DTDVG 68 mm\n- FEVG estimée à 30 %\n\n1. premier temps\n2. second temps\n\n"
        "| Mesure | Valeur |\n|---|---|\n| FEVG | 30 % |\n| TAPSE | 17 mm |\n", encoding="utf-8")
    doc = parse_file(f)
    _check_offsets(doc)
    titles = [(b.text, b.depth) for b in doc.blocks if b.category == "Title"]
    assert ("Échocardiographie transthoracique", 0) in titles and ("Ventricule gauche", 1) in titles
    assert "Patient : M. X\nDate de l'examen : 10/02/2026" in doc.text  # soft line breaks kept
    assert "- VG dilaté : DTDVG 68 mm\n- FEVG estimée à 30 %" in doc.text
    assert "1. premier temps\n2. second temps" in doc.text
    assert _blocks(doc, "Table") == ["Mesure | Valeur\nFEVG | 30 %\nTAPSE | 17 mm"]


def test_html_laid_out_with_div_and_br_only(tmp_path):
    f = tmp_path / "crh.html"
    f.write_text(
        '<html><body><div style="font-weight:bold">COMPTE RENDU</div>'
        "<div>Patient : M. X<br>Séjour du 09/02 au 18/02/2026</div>"
        '<div style="font-weight:bold">Antécédents</div>'
        "<div>&ndash; Cardiopathie ischémique<br>&ndash; Fibrillation auriculaire</div>"
        '<div style="font-weight:bold">Traitement de sortie</div>'
        "<div>APIXABAN 5 mg : 1 cp matin et soir<br>BISOPROLOL 2,5 mg : 1 cp le matin</div>"
        "<ol><li>Bilan à J7</li><li>Consultation à M1</li></ol>"
        '<table border="1"><tr><td>Examen</td><td>Résultat</td></tr><tr><td>Hémoglobine</td><td>13,2<br>g/dl</td></tr></table>'
        "<div>Dr Claire FONTAINE</div></body></html>", encoding="utf-8")
    doc = parse_file(f)
    _check_offsets(doc)
    assert {"COMPTE RENDU", "Antécédents", "Traitement de sortie"} <= set(_blocks(doc, "Title"))
    assert "Patient : M. X\nSéjour du 09/02 au 18/02/2026" in doc.text
    assert "- Cardiopathie ischémique\n- Fibrillation auriculaire" in doc.text
    assert "APIXABAN 5 mg : 1 cp matin et soir\nBISOPROLOL 2,5 mg : 1 cp le matin" in doc.text
    assert "1. Bilan à J7\n2. Consultation à M1" in doc.text  # <ol> numbering written
    assert _blocks(doc, "Table") == ["Examen | Résultat\nHémoglobine | 13,2 g/dl"]


def test_docx_heading_styles_lists_tables_and_line_breaks(tmp_path):
    import docx

    d = docx.Document()
    d.add_heading("Compte rendu d'hospitalisation", 0)
    d.add_paragraph("Patient : M. X\nNé le 01/01/1950")
    d.add_heading("Antécédents", 1)
    d.add_paragraph("Cardiopathie ischémique", style="List Bullet")
    d.add_paragraph("Fibrillation auriculaire", style="List Bullet")
    d.add_heading("Traitement de sortie", 2)
    d.add_paragraph("APIXABAN 5 mg", style="List Number")
    d.add_paragraph("BISOPROLOL 2,5 mg", style="List Number")
    t = d.add_table(rows=3, cols=3)
    for r, row in enumerate((("Examen", "Résultat", "Unité"), ("Hémoglobine", "13,2", "g/dl"), ("Créatinine", "118", "µmol/l"))):
        for c, val in enumerate(row):
            t.cell(r, c).text = val
    d.add_paragraph("Le patient sort à domicile.")
    f = tmp_path / "crh.docx"
    d.save(f)
    doc = parse_file(f)
    _check_offsets(doc)
    titles = [(b.text, b.depth) for b in doc.blocks if b.category == "Title"]
    assert titles == [("Compte rendu d'hospitalisation", 0), ("Antécédents", 0), ("Traitement de sortie", 1)]
    assert "Patient : M. X\nNé le 01/01/1950" in doc.text
    assert _blocks(doc, "ListItem") == ["- Cardiopathie ischémique\n- Fibrillation auriculaire",
                                        "1. APIXABAN 5 mg\n2. BISOPROLOL 2,5 mg"]
    assert _blocks(doc, "Table") == ["Examen | Résultat | Unité\nHémoglobine | 13,2 | g/dl\nCréatinine | 118 | µmol/l"]


def _make_pdf(path: Path) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    fonts = _font_dir()
    pdf.add_font("dv", "", str(fonts / "DejaVuSans.ttf"))
    pdf.add_font("dv", "B", str(fonts / "DejaVuSans-Bold.ttf"))
    pdf.set_auto_page_break(True, margin=20)

    def footer():
        pdf.set_y(-12)
        pdf.set_font("dv", "", 8)
        pdf.cell(0, 5, f"Page {pdf.page_no()}", align="R")

    pdf.footer = footer
    pdf.add_page()

    def para(text, style="", size=10):
        pdf.set_font("dv", style, size)
        pdf.multi_cell(0, 5, text, new_x="LMARGIN", new_y="NEXT")

    para("COMPTE RENDU D'HOSPITALISATION", "B", 13)
    para("Patient : M. LECLERC Bernard, né le 14/06/1946")
    pdf.ln(3)
    para("Histoire de la maladie", "B", 11)
    para("Patient de 79 ans adressé par son médecin traitant pour une dyspnée d'aggravation progressive "
         "depuis dix jours, associée à une prise de poids de six kilogrammes et à des œdèmes des membres "
         "inférieurs, dans un contexte d'écarts de régime pendant les fêtes.")
    pdf.ln(3)
    para("Antécédents", "B", 11)
    para("- Cardiopathie ischémique, stent IVA en 2019")
    para("- Fibrillation auriculaire paroxystique")
    pdf.add_page()
    para("Traitement de sortie", "B", 11)
    para("1. APIXABAN 5 mg : 1 comprimé matin et soir")
    para("2. BISOPROLOL 2,5 mg : 1 comprimé le matin")
    pdf.ln(3)
    para("Biologie", "B", 11)
    pdf.set_font("dv", "", 10)
    with pdf.table(col_widths=(60, 30, 30)) as table:
        for row in (("Examen", "Résultat", "Unité"), ("Hémoglobine", "13,2", "g/dl"), ("Créatinine", "118", "µmol/l")):
            cells = table.row()
            for c in row:
                cells.cell(c)
    pdf.output(str(path))


def test_pdf_headings_lists_tables_wrapped_lines_and_pages(tmp_path):
    f = tmp_path / "crh.pdf"
    _make_pdf(f)
    doc = parse_file(f)
    _check_offsets(doc)
    assert doc.pages == 2 and not doc.ocr
    titles = {b.text: b.page for b in doc.blocks if b.category == "Title"}
    assert titles == {"COMPTE RENDU D'HOSPITALISATION": 1, "Histoire de la maladie": 1, "Antécédents": 1,
                      "Traitement de sortie": 2, "Biologie": 2}
    # a paragraph wrapped by the PDF's line width comes back as its one source line
    story = next(b for b in doc.blocks if b.text.startswith("Patient de 79 ans"))
    assert "\n" not in story.text and story.text.endswith("pendant les fêtes.")
    lists = {b.text: b.page for b in doc.blocks if b.category == "ListItem"}
    assert lists == {"- Cardiopathie ischémique, stent IVA en 2019\n- Fibrillation auriculaire paroxystique": 1,
                     "1. APIXABAN 5 mg : 1 comprimé matin et soir\n2. BISOPROLOL 2,5 mg : 1 comprimé le matin": 2}
    assert _blocks(doc, "Table") == ["Examen | Résultat | Unité\nHémoglobine | 13,2 | g/dl\nCréatinine | 118 | µmol/l"]
    # page numbers at the foot of each page are Footer blocks of their page
    assert [(b.text, b.page) for b in doc.blocks if b.category == "Footer"] == [("Page 1", 1), ("Page 2", 2)]
    # page_at / block_at follow the blocks
    table = next(b for b in doc.blocks if b.category == "Table")
    assert doc.page_at(table.start + 3) == 2 and doc.block_at(table.start + 3) is table
    assert doc.page_at(0) == 1


@pytest.mark.parametrize("suffix", [".txt", ".md", ".html"])
def test_same_report_gives_same_lines_in_every_text_format(tmp_path, suffix):
    """The brief's example: headings on their own line, lists one item per line, in any format."""
    items = ["Motif d'hospitalisation", "Dyspnée d'effort NYHA III.", "Antécédents",
             "- Cardiopathie ischémique", "- Fibrillation auriculaire"]
    body = {".txt": "\n".join(items), ".md": "\n".join(items), ".html": "<div>" + "<br>".join(items) + "</div>"}[suffix]
    f = tmp_path / f"cr{suffix}"
    f.write_text(body, encoding="utf-8")
    doc = parse_file(f)
    _check_offsets(doc)
    assert [ln for ln in _lines(doc) if ln] == items
    assert _blocks(doc, "Title") == ["Motif d'hospitalisation", "Antécédents"]


def test_txt_tables_need_aligned_columns(tmp_path):
    f = tmp_path / "colonnes.txt"
    f.write_text("Évolution\nLe  patient   a  bien   toléré le   traitement   et la\n"
                 "fonction   rénale   s'est   améliorée   nettement    ensuite.\n\nPoids\t78 kg\nTaille\t1,75 m\n",
                 encoding="utf-8")
    doc = parse_file(f)
    _check_offsets(doc)
    assert "Le patient a bien toléré le traitement et la\nfonction rénale s'est améliorée nettement ensuite." in doc.text
    assert _blocks(doc, "Table") == ["Poids | 78 kg\nTaille | 1,75 m"]
