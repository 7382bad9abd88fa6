"""Scoring rules of the format-robustness evaluation (bench/robustness_eval.py), on tiny hand-made
inputs: no model, no index."""

from __future__ import annotations

from bench.robustness_eval import (
    acceptance,
    compare,
    content_words,
    drug_found,
    drug_same_line,
    follow_up_found,
    follow_up_strict,
    load_gold,
    markdown,
    pending_false_positive,
    score_coding,
    score_draft,
    score_metadata,
    stopped_found,
    style_gaps,
    summarise,
)

GOLD = {
    "patient": "P001", "stay": "S1",
    "documents": [{"file": "doc01", "type": "biologie", "date": "2026-02-09"},
                  {"file": "doc02", "type": "compte_rendu_hospitalisation", "date": "2026-02-18"}],
    "discharge": {
        "drugs": [{"name": "apixaban", "dose": "5 mg", "aliases": ["Eliquis"]},
                  {"name": "bisoprolol", "dose": "2,5 mg"},
                  {"name": "furosémide", "dose": "80 mg/j"}],
        "stopped": [{"name": "ramipril", "reason": "insuffisance rénale aiguë", "change": "stopped"},
                    {"name": "furosémide", "reason": "surcharge hydrosodée", "change": "changed"}],
        "follow_up": ["Dr Claire FONTAINE, 23 mars 2026 à 10h30", "ETT de contrôle dans 3 mois"],
        "pending": ["TSH"]},
    "qa": [],
    "coding": {"dp": "I50.02", "das": ["I48.1", "N17.9"], "forbidden": ["I21.90"]},
}


def test_drug_needs_name_or_alias_and_its_dose():
    section = "- ELIQUIS 5 mg : 1 cp matin et soir\n- BISOPROLOL 2.5 mg le matin\n- Furosemide 40 mg : 2 cp, soit 80 mg/j"
    assert drug_found(GOLD["discharge"]["drugs"][0], section)  # alias, accents/case folded
    assert drug_found(GOLD["discharge"]["drugs"][1], section)  # "2,5" == "2.5"
    assert drug_found(GOLD["discharge"]["drugs"][2], section)
    # "5 mg" is not found inside "2,5 mg", "0 mg" not inside "80 mg"; the name alone is not enough
    assert not drug_found({"name": "apixaban", "dose": "5 mg"}, "- APIXABAN 2,5 mg")
    assert not drug_found({"name": "x", "dose": "0 mg"}, "- x 80 mg")
    assert not drug_found({"name": "bisoprolol", "dose": "2,5 mg"}, "- bisoprolol : 1 cp/j")
    # same line (or the next one, a wrapped line) is stricter than "somewhere in the section"
    two = "- apixaban 1 cp x 2/j\n- digoxine\n- bisoprolol 5 mg"
    assert drug_found({"name": "apixaban", "dose": "5 mg"}, two)
    assert not drug_same_line({"name": "apixaban", "dose": "5 mg"}, two)
    assert drug_same_line({"name": "apixaban", "dose": "5 mg"}, "- APIXABAN (Eliquis)\n5 mg matin et soir")


def test_stopped_needs_name_and_reason_in_the_same_line_or_reconciliation_item():
    section = ("- ramipril 5 mg : arrêté. Motif : insuffisance rénale aiguë\n"
               "- furosémide : modifié (40 mg → 80 mg/j). Motif : non précisé dans le dossier\n"
               "Surcharge hydrosodée persistante")
    ram, furo = GOLD["discharge"]["stopped"]
    assert stopped_found(ram, section) == {"name": True, "reason": True}
    assert stopped_found(furo, section) == {"name": True, "reason": False}  # the reason is on another line
    rec = [{"drug": "FUROSÉMIDE", "key": "furosemide", "status": "changed", "reason": "pour surcharge hydrosodée"}]
    assert stopped_found(furo, "", rec) == {"name": True, "reason": True}
    wrong_status = [{**rec[0], "status": "stopped"}]
    assert stopped_found(furo, "", wrong_status) == {"name": False, "reason": False}


def test_follow_up_fair_match_is_sixty_percent_of_content_words_in_one_line():
    assert content_words("Dr Claire FONTAINE, 23 mars 2026 à 10h30") == \
        ["dr", "claire", "fontaine", "23", "mars", "2026", "10h30"]
    item = "Dr Claire FONTAINE, 23 mars 2026 à 10h30"
    # 5 of 7 content words in one line: found; the strict (verbatim) rule is not
    line = "- Consultation Dr FONTAINE le 23 mars 2026 (10h30)"
    assert follow_up_found(item, line) and not follow_up_strict(item, line)
    # 4 of 7 (57 %) is not enough
    assert not follow_up_found(item, "- Dr FONTAINE en mars 2026 (matin)")
    # the words must be in one line, not spread over two
    assert not follow_up_found(item, "- Dr Claire FONTAINE\n- le 23 mars 2026 à 10h30")
    assert follow_up_found("ETT de contrôle dans 3 mois", "ETT de controle a 3 mois")
    assert follow_up_strict("ETT de contrôle dans 3 mois", "- ETT DE CONTRÔLE dans 3 mois, Dr X")


def test_pending_false_positive_only_when_something_is_listed():
    assert not pending_false_positive(None) and not pending_false_positive("")
    assert not pending_false_positive("Néant.") and not pending_false_positive("Aucun résultat en attente")
    assert pending_false_positive("Sérologie VIH à récupérer")


def test_score_draft_counts_every_category_and_extra_lines():
    sections = {
        "traitement_sortie": ("- APIXABAN (Eliquis) 5 mg : 1 cp x 2/j\n- BISOPROLOL 2,5 mg\n- RAMIPRIL 5 mg\n"
                              "Traitement pour 3 mois"),
        "traitements_modifies": "- ramipril : arrêté (5 mg). Motif : insuffisance rénale aiguë",
        "suivi": "- Dr Claire FONTAINE, 23 mars 2026 à 10h30\n- IDE à domicile",
        "resultats_attente": "TSH du 17/02/2026",
    }
    s = score_draft(GOLD, sections, [])
    assert [x["found"] for x in s["drugs"]] == [True, True, False]
    assert [x["found"] for x in s["stopped"]] == [True, False]
    assert [x["found"] for x in s["follow_up"]] == [True, False]
    assert [x["found"] for x in s["pending"]] == [True]
    assert s["extra_drug_lines"] == ["- RAMIPRIL 5 mg"]  # entry drug copied into the discharge list
    assert not s["pending_false_positive"]
    empty = score_draft(GOLD, {}, [])  # no letter: every item missed
    assert not any(x["found"] for k in ("drugs", "stopped", "follow_up", "pending") for x in empty[k])
    summary = summarise([{"metadata": [], "drafting": {**s, "unverified_flags": ["x des sources citées"]}}])
    d = summary["drafting"]
    assert (d["items"], d["found"], d["coverage"]) == (8, 5, 0.625)
    assert (d["drugs"], d["stopped"], d["follow_up"], d["pending"]) == (0.6667, 0.5, 0.5, 1.0)
    assert d["unverified_flags"] == 1 and d["extra_drug_lines"] == 1


def test_metadata_and_coding_rows():
    rows = [{"doc_id": "P001-doc01", "source_name": "doc01.pdf", "doc_type": "biologie", "date": "2026-02-09",
             "stay_id": "S1"},
            {"doc_id": "P001-doc02", "source_name": "doc02.pdf", "doc_type": "autre", "date": "2026-02-17",
             "stay_id": None}]
    meta = score_metadata(GOLD, rows)
    assert [(m["type_ok"], m["date_ok"], m["stay_ok"]) for m in meta] == [(True, True, True), (False, False, False)]
    missing = score_metadata(GOLD, rows[:1])[1]  # a file that was not ingested is wrong on all three
    assert not missing["ingested"] and not (missing["type_ok"] or missing["date_ok"] or missing["stay_ok"])
    c = score_coding(GOLD, [("I48.1", "DAS"), ("I50.02", "DP"), ("I21.90", "DAS"), ("E11.9", "DAS")])
    assert c["dp_ok"] and c["recall5"] == 2 / 3 and c["forbidden"] == ["I21.90"] and c["missed"] == ["N17.9"]
    assert score_coding(GOLD, [])["dp"] is None


def _summary(cov, qa, dp):
    return {"metadata": {"type": 1.0}, "drafting": {"coverage": cov}, "qa": {"accuracy": qa},
            "coding": {"dp_top1": dp, "recall@5": 0.5}}


def test_gaps_and_acceptance():
    sums = {"txt_lines": _summary(0.95, 0.90, 0.75), "pdf": _summary(0.88, 0.875, 0.625),
            "html": _summary(0.93, 0.90, 0.75)}
    gaps = style_gaps(sums)
    assert gaps["drafting coverage"] == {"best": "txt_lines", "best_value": 0.95, "worst": "pdf",
                                         "worst_value": 0.88, "gap_points": 7.0}
    assert gaps["QA (fact + source)"]["gap_points"] == 2.5
    assert gaps["coding DP top-1"]["gap_points"] == 12.5 and gaps["coding recall@5"]["gap_points"] == 0.0
    acc = acceptance(sums, gaps)
    assert not acc["coverage_min"]["ok"]  # pdf < 90 %
    assert not acc["drafting coverage"]["ok"] and acc["QA (fact + source)"]["ok"]
    assert not acc["coding DP top-1"]["ok"] and acc["coding recall@5"]["ok"] and not acc["all_ok"]
    good = {s: _summary(0.95, 0.9, 0.75) for s in ("txt_lines", "pdf")}
    assert acceptance(good, style_gaps(good))["all_ok"]


def test_compare_keeps_scan_apart_and_renders_a_table():
    def row(pid, found):
        dr = score_draft(GOLD, {"resultats_attente": "TSH" if found else ""}, [])
        return {"patient": pid, "metadata": score_metadata(GOLD, []), "drafting": {**dr, "unverified_flags": []},
                "qa": [{"id": "q", "ok": found, "fact": found, "fact_in_answer": found, "doc": True}],
                "coding": score_coding(GOLD, [("I50.02", "DP")] if found else [])}

    def style(name, rows):
        return {"style": name, "patients": [r["patient"] for r in rows], "supported": True, "rows": rows,
                "summary": summarise(rows), "seconds": 1.0,
                "ingest": {"documents": 2, "chunks": 4, "seconds": 0.5, "errors": []}}

    results = {"txt_lines": style("txt_lines", [row("P001", True), row("P003", True)]),
               "pdf": style("pdf", [row("P001", True), row("P003", False)]),
               "scan": style("scan", [row("P003", False)])}
    out = compare(results)
    assert set(out["acceptance"]["coverage_min"]["per_style"]) == {"txt_lines", "pdf"}  # scan is not a full style
    assert out["gaps"]["QA (fact + source)"]["gap_points"] == 50.0
    assert out["scan_vs_pdf"]["patients"] == ["P003"]
    assert out["scan_vs_pdf"]["gaps"]["QA (fact + source)"]["gap_points"] == 0.0  # pdf on P003 only
    md = markdown(out)
    assert "| txt_lines | 2 |" in md and "Worst style vs best style" in md and "Scan vs pdf" in md
    results["scan"]["supported"] = False
    results["scan"]["not_supported"] = "OCR absent"
    assert "not supported: OCR absent" in markdown(compare(results))


def test_gold_set_loads_with_every_category():
    gold = load_gold()
    assert len(gold) == 8 and all(g["stay"] == "S1" for g in gold)
    assert sum(len(g["discharge"]["drugs"]) for g in gold) == 42
    assert sum(len(g["qa"]) for g in gold) == 48
