"""UI building blocks without a browser: users file, secret, rendering, stores, data layer."""

from __future__ import annotations

import re
import stat
import uuid

import pytest
import yaml

from medassist import users
from medassist.schemas import Role
from medassist.settings import Settings
from ui import auth, render, store
from ui.datalayer import run_blocking  # the browser tests may leave an event loop in this thread


@pytest.fixture
def settings(tmp_path):
    return Settings(data_dir=tmp_path / "data", database_url="")


# =============================================================================== users & secret
def test_users_file_seeded_once_with_bcrypt_hashes(settings):
    path, created = users.ensure_users_file(settings, rounds=4)
    assert created and path == settings.data_dir / "users.yaml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = yaml.safe_load(path.read_text(encoding="utf-8"))["users"]
    assert set(data) == {u[0] for u in users.DEMO_USERS}
    for name, password, role, _, patients in users.DEMO_USERS:
        entry = data[name]
        assert entry["password_hash"].startswith("$2b$04$")
        assert password not in path.read_text(encoding="utf-8")
        assert entry["role"] == role.value and entry["patients"] == patients
    before = path.read_text(encoding="utf-8")
    path2, created2 = users.ensure_users_file(settings, rounds=4)
    assert (path2, created2) == (path, False) and path.read_text(encoding="utf-8") == before


def test_users_file_setting_overrides_default(tmp_path):
    s = Settings(data_dir=tmp_path / "d", users_file=tmp_path / "conf" / "comptes.yaml")
    path, created = users.ensure_users_file(s, rounds=4)
    assert created and path == tmp_path / "conf" / "comptes.yaml" and path.exists()


def test_empty_users_file_variable_means_default(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDASSIST_USERS_FILE", "")
    s = Settings(data_dir=tmp_path / "d")
    assert users.users_file_path(s) == tmp_path / "d" / "users.yaml"


def test_authenticate_roles_and_scopes(settings):
    users.ensure_users_file(settings, rounds=4)
    martin = users.authenticate("dr.martin", "martin-demo", settings)
    assert martin is not None and martin.role == Role.clinician and martin.sees("P009")
    petit = users.authenticate("dr.petit", "petit-demo", settings)
    assert petit.sees("P001") and not petit.sees("P005")
    assert users.authenticate("dim.bernard", "bernard-demo", settings).role == Role.coder
    assert users.authenticate("sec.durand", "durand-demo", settings).role == Role.admin
    assert users.authenticate("dr.martin", "mauvais", settings) is None
    assert users.authenticate("inconnu", "martin-demo", settings) is None
    assert users.authenticate("dr.martin", "", settings) is None
    assert users.get_user("dr.petit", settings).patients == ["P001", "P002"]


@pytest.mark.parametrize("content, message", [
    ("users: [", "invalide (YAML)"),
    ("autre: 1", "sans section « users »"),
    ("users:\n  x:\n    role: clinician\n", "mot de passe haché"),
    ("users:\n  x:\n    role: chef\n    password_hash: abc\n", "rôle inconnu « chef »"),
])
def test_users_file_errors_are_french(tmp_path, content, message):
    p = tmp_path / "users.yaml"
    p.write_text(content, encoding="utf-8")
    with pytest.raises(users.UsersFileError, match=re.escape(message)):
        users.load_users(p)


def test_malformed_hash_refuses_login(tmp_path):
    p = tmp_path / "users.yaml"
    p.write_text("users:\n  x:\n    role: coder\n    password_hash: pas-un-hash\n", encoding="utf-8")
    s = Settings(data_dir=tmp_path, users_file=p)
    assert users.authenticate("x", "pas-un-hash", s) is None


def test_auth_secret_generated_then_reused(settings, monkeypatch):
    monkeypatch.delenv(auth.SECRET_ENV, raising=False)
    first = auth.ensure_auth_secret(settings)
    path = settings.data_dir / auth.SECRET_FILE
    assert len(first) >= 48 and path.read_text().strip() == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert auth.ensure_auth_secret(settings) == first
    monkeypatch.setenv(auth.SECRET_ENV, "depuis-l-environnement")
    assert auth.ensure_auth_secret(settings) == "depuis-l-environnement"


def test_launch_prepare_exports_secret_and_strips_hosted_services(settings, monkeypatch):
    from ui import launch

    monkeypatch.delenv(auth.SECRET_ENV, raising=False)
    monkeypatch.setenv("LITERAL_API_KEY", "cle-a-ne-pas-transmettre")
    lines: list[str] = []
    env = launch.prepare(settings, echo=lines.append)
    assert env[auth.SECRET_ENV] == (settings.data_dir / auth.SECRET_FILE).read_text().strip()
    assert "LITERAL_API_KEY" not in env and env["MEDASSIST_DATA_DIR"] == str(settings.data_dir)
    assert any("Fichier des utilisateurs créé" in ln for ln in lines)
    assert any("dr.martin" in ln and "martin-demo" in ln for ln in lines)
    assert (settings.data_dir / "ui_chainlit.sqlite").exists()
    cmd = launch.chainlit_command("127.0.0.1", 8123)
    assert cmd[1:4] == ["-m", "chainlit", "run"] and cmd[4] == str(launch.APP_PATH)
    assert "--headless" in cmd and cmd[-2:] == ["--port", "8123"]
    # each data dir has its own private app root: Chainlit's .files of one instance are not another's
    root = launch.app_root(settings)
    assert root == settings.data_dir / "ui" and (root.stat().st_mode & 0o777) == 0o700
    assert (root / ".chainlit" / "config.toml").exists() and (root / "public").is_dir()
    assert launch.app_root(settings) == root  # idempotent


# =============================================================================== rendering
def test_passage_markdown_bolds_span_line_by_line_and_escapes():
    text = "Motif : *urgence*\nFEVG à 30 % ce jour\n\nConclusion | fin"
    start = text.index("FEVG")
    md = render.passage_markdown(text, [(start, start + len("FEVG à 30 %"))])
    assert "**FEVG à 30 %** ce jour" in md
    assert r"\*urgence\*" in md and r"Conclusion \| fin" in md
    assert "  \n**FEVG" in md  # hard line break kept
    # a span over two lines is bolded on each line (Markdown bold cannot cross a line break)
    md2 = render.passage_markdown("ab\ncd", [(1, 4)])
    assert md2 == "a**b**  \n**c**d"


def test_passage_markdown_keeps_whitespace_outside_bold():
    assert render.passage_markdown("un deux trois", [(2, 8)]) == "un **deux** trois"


def test_citation_markdown_with_highlights_in_passage():
    cit = {"n": 1, "doc_id": "P001-D03", "title": "Échocardiographie", "date": "2026-02-10",
           "quote": "VG dilaté. FEVG estimée à 30 %. Pas de thrombus.", "start": 100, "end": 148,
           "highlights": [{"start": 111, "end": 131, "quote": "FEVG estimée à 30 %."}]}
    md = render.citation_markdown(cit)
    assert md.startswith("**\\[1\\] Échocardiographie** · 10/02/2026")
    assert "`P001-D03`" in md
    assert "VG dilaté. **FEVG estimée à 30 %.** Pas de thrombus." in md


def test_citation_markdown_short_quote_shown_in_document_context():
    doc_text = "COMPTE RENDU\nAntécédents : HTA.\nDiagnostic : fibrillation atriale rapide.\nSortie le 18/02."
    quote = "fibrillation atriale rapide"
    s = doc_text.index(quote)
    doc = {"text": doc_text, "title": "CRH cardiologie", "date": "2026-02-18", "author": "Dr Claire FONTAINE"}
    cit = {"doc_id": "P001-D04", "quote": quote, "start": s, "end": s + len(quote),
           "highlights": [{"start": s, "end": s + len(quote), "quote": quote}]}
    md = render.citation_markdown(cit, doc)
    assert "**CRH cardiologie** · 18/02/2026 · Dr Claire FONTAINE" in md
    assert "Diagnostic : **fibrillation atriale rapide**." in md and "Antécédents : HTA." in md
    # stale offsets: the quote is found again rather than bolding the wrong words
    md2 = render.citation_markdown({**cit, "start": 0, "end": len(quote), "highlights": []}, doc)
    assert "**fibrillation atriale rapide**" in md2 and "**COMPTE" not in md2


def test_citation_markdown_structured_value_and_request():
    md = render.citation_markdown({"doc_id": "patient.json", "field": "identity.ipp", "quote": "80014527",
                                   "start": 0, "end": 8})
    assert "Donnée structurée du dossier patient" in md and "`identity.ipp`" in md and "**80014527**" in md
    md2 = render.citation_markdown({"doc_id": "demande", "quote": "IRM le 12/05", "start": 0, "end": 12})
    assert md2.startswith("**Votre demande**") and "**IRM le 12/05**" in md2


def test_number_citations_reuses_numbers_for_identical_spans():
    cits = render.number_citations([
        {"doc_id": "A", "start": 0, "end": 5, "quote": "x"},
        {"doc_id": "B", "start": 3, "end": 9, "quote": "y"},
        {"doc_id": "A", "start": 0, "end": 5, "quote": "x"},
        {"n": 7, "doc_id": "C", "start": 1, "end": 2, "quote": "z"},
    ])
    assert [c["n"] for c in cits] == [1, 2, 1, 7]


def test_answer_markdown_escapes_source_text_but_keeps_markers():
    answer = ("D'après le dossier :\n- « FEVG à 30 % *réduite* » [1]\n- « Kaliémie 2,3 » [2]\n"
              "Sources : [1] Échocardiographie du 10/02/2026 (P001-D03) ; [2] Biologie (P001-D02)")
    md = render.answer_markdown(answer)
    assert "- « FEVG à 30 % \\*réduite\\* » [1]" in md
    assert "\n\nSources : [1] Échocardiographie" in md  # not glued to the last bullet
    assert "\\[" not in md


def test_split_answer_removes_the_parts_shown_separately():
    mode_line = "Mode extractif : réponse composée uniquement de passages cités."
    answer = "Réponse [1].\nSources : [1] X\n\nAvertissements :\n- Preuve faible\n\nModèle indisponible.\n\n" + mode_line
    core = render.split_answer(answer, flags=["Preuve faible"], notices=["Modèle indisponible."], mode_line=mode_line)
    assert core == "Réponse [1].\nSources : [1] X"


def test_coding_markdown_table_evidence_and_warnings():
    result = {
        "suggestions": [
            {"code": "I50.02", "label": "Insuffisance cardiaque | FEVG réduite", "role": "DP", "score": 0.93,
             "evidence": [{"source": "P001-D04", "quote": "décompensation cardiaque", "start": 10, "end": 34},
                          {"source": "P001-D03", "quote": "FEVG 30 %", "start": 5, "end": 14},
                          {"source": "P001-D01", "quote": "dyspnée", "start": 0, "end": 7}],
             "rule": "FEVG 30 % < 40 → I50.02"},
            {"code": "I48.1", "label": "Fibrillation atriale persistante", "role": "DAS", "score": 0.8,
             "evidence": [{"source": "P001-D04", "quote": "FA rapide", "start": 50, "end": 59}],
             "missing_detail": "type de FA"},
        ],
        "warnings": ["I48 : préciser le type de fibrillation auriculaire"],
        "excluded": [{"code": "I26.9", "label": "Embolie pulmonaire", "reason": "négation",
                      "evidence": {"source": "P001-D04", "quote": "pas d'embolie", "start": 0, "end": 13}}],
    }
    md, cits = render.coding_markdown(result)
    rows = [ln for ln in md.splitlines() if ln.startswith("| **")]
    assert len(rows) == 2
    assert rows[0].startswith("| **I50.02** | Insuffisance cardiaque \\| FEVG réduite | DP (principal) | 93 % |")
    assert "[1] « décompensation cardiaque »" in rows[0] and "[2] « FEVG 30 % »" in rows[0]
    assert "dyspnée" not in md  # two pieces of evidence per code at most
    assert "DAS (associé)" in rows[1] and "[3] « FA rapide »" in rows[1]
    assert [(c["n"], c["doc_id"], c["start"]) for c in cits] == [(1, "P001-D04", 10), (2, "P001-D03", 5),
                                                                 (3, "P001-D04", 50)]
    assert "FEVG 30 % \\< 40 → I50.02" in md and "précision possible — type de FA" in md
    assert "Points d'attention" in md and "Mentions écartées" in md and "négation" in md


def test_coding_markdown_without_suggestions():
    md, cits = render.coding_markdown({"suggestions": [], "warnings": []})
    assert cits == [] and "Aucun code CIM-10" in md


def test_draft_markdown_sections_citations_missing_and_flags():
    c1 = {"doc_id": "P001-D04", "quote": "FA rapide", "start": 5, "end": 14, "title": "CRH", "date": "2026-02-18"}
    c2 = {"doc_id": "patient.json", "field": "identity.ipp", "quote": "80014527", "start": 0, "end": 8}
    draft = {
        "kind": "discharge", "patient_id": "P001", "mode": "extractive",
        "sections": [
            {"key": "patient", "title": "Patient", "text": "IPP 80014527", "citations": [c2]},
            {"key": "motif", "title": "Motif d'hospitalisation", "text": "Décompensation sur FA rapide.",
             "citations": [c1]},
            {"key": "traitement", "title": "Traitement de sortie", "text": "- APIXABAN 5 mg\n- BISOPROLOL",
             "citations": [c1]},
        ],
        "missing": ["Date du prochain rendez-vous"],
        "flags": ["Dose de furosémide à confirmer"],
        "reconciliation": [{"drug": "Furosémide", "key": "furosemide", "status": "changed", "entry": "40 mg",
                            "discharge": "80 mg", "citations": [c1]}],
    }
    md, cits = render.draft_markdown(draft, edited={"motif"})
    assert md.startswith("### Lettre de liaison — brouillon à relire")
    assert "#### Patient\n\nIPP 80014527\n\n*Sources : [1]*" in md
    assert "#### Motif d'hospitalisation ✎ *(modifiée)*" in md and "*Sources : [2]*" in md
    assert "- APIXABAN 5 mg  \n- BISOPROLOL" in md or "- APIXABAN 5 mg\n- BISOPROLOL" in md
    assert "| Furosémide | modifié | 40 mg | 80 mg | [2] |" in md
    assert "Éléments manquants" in md and "- Date du prochain rendez-vous" in md
    assert "À vérifier" in md and "furosémide à confirmer" in md
    assert [c["n"] for c in cits] == [1, 2]  # the same span cited three times has one number
    structured = render.citation_markdown(cits[0])
    assert structured.startswith("**\\[1\\] Données structurées du dossier patient**")
    assert "- `identity.ipp` : **80014527**" in structured
    assert render.draft_plain_sections(draft)[1] == {"key": "motif", "title": "Motif d'hospitalisation",
                                                     "text": "Décompensation sur FA rapide."}


def test_patient_helpers():
    from medassist.schemas import Patient

    p = Patient.model_validate({
        "id": "P042", "identity": {"first_name": "Éloïse", "last_name": "Lefèvre", "sex": "F",
                                   "birth_date": "1950-03-04", "ipp": "80000042"},
        "gp": {"name": "Dr A"}, "allergies": [{"substance": "Iode"}],
        "stays": [{"id": "S1", "unit": "Pneumologie", "entry_date": "2026-01-02"}],
    })
    assert render.patient_label(p) == "LEFÈVRE Éloïse · P042"
    banner = render.patient_banner(p, documents=3)
    assert "née le 04/03/1950" in banner and "IPP 80000042" in banner and "3 documents" in banner
    assert "(02/01/2026 → en cours)" in banner and "Allergies : Iode" in banner
    q = Patient.model_validate({**p.model_dump(mode="json"), "id": "P043",
                                "identity": {**p.model_dump(mode="json")["identity"], "last_name": "Martin",
                                             "first_name": "Paul", "ipp": "80000043"}})
    assert render.match_patients([p, q], "lefevre eloise") == [p]
    assert render.match_patients([p, q], "80000043") == [q]
    assert render.match_patients([p, q], "p04") == [p, q]
    assert render.match_patients([p, q], "", limit=1) == [p]
    assert render.match_patients([p, q], "dupont") == []


def test_fr_date():
    assert render.fr_date("2026-02-18") == "18/02/2026"
    assert render.fr_date("2026-02-18T10:00:00+00:00") == "18/02/2026"
    assert render.fr_date(None) == "" and render.fr_date("hier") == "hier"


# =============================================================================== stores
def test_exchanges_decisions_and_feedback_are_recorded(settings):
    store.save_exchange("dr.martin", "P001", "dr.martin:P001", "Quelle FEVG ?", "FEVG à 30 % [1]",
                        {"mode": "extractive", "citations": [{"n": 1, "doc_id": "P001-D03"}]}, settings=settings)
    store.save_exchange("dr.martin", "P001", "dr.martin:P001", "Et le traitement ?", "Apixaban [1]",
                        settings=settings)
    store.save_exchange("dr.martin", "P002", "dr.martin:P002", "Autre patient", "…", settings=settings)
    store.save_exchange("dr.petit", "P001", "dr.petit:P001", "Autre médecin", "…", settings=settings)
    rows = store.recent_exchanges("dr.martin", "P001", settings=settings)
    assert [r["question"] for r in rows] == ["Quelle FEVG ?", "Et le traitement ?"]
    assert rows[0]["payload"]["citations"][0]["doc_id"] == "P001-D03"
    assert [r["question"] for r in store.recent_exchanges("dr.martin", "P001", limit=1, settings=settings)] == [
        "Et le traitement ?"]

    sugg = {"code": "I50.02", "label": "Insuffisance cardiaque", "role": "DP", "score": 0.9}
    store.record_coding_decision("dim.bernard", "P001", "t", sugg, "accepted", settings=settings)
    store.record_coding_decision("dim.bernard", "P001", "t", {**sugg, "code": "I10"}, "rejected", settings=settings)
    got = store.coding_decisions_for("P001", settings=settings)
    assert [(d["code"], d["decision"], d["username"]) for d in got] == [
        ("I50.02", "accepted", "dim.bernard"), ("I10", "rejected", "dim.bernard")]
    with pytest.raises(ValueError):
        store.record_coding_decision("x", "P001", "t", sugg, "peut-être", settings=settings)

    store.record_feedback("dr.martin", "P001", "t", "msg-1", 0, "citation hors sujet", settings=settings)
    fb = store.feedback_for("msg-1", settings=settings)
    assert fb[0]["value"] == 0 and fb[0]["comment"] == "citation hors sujet"
    store.record_feedback("dr.martin", "P001", "t", "msg-2", 1, None, settings=settings)
    assert [(f["message_id"], f["value"]) for f in store.feedback_of_user("dr.martin", settings=settings)] == [
        ("msg-2", 1), ("msg-1", 0)]


# =============================================================================== data layer
def test_schema_has_every_column_chainlit_writes():
    from chainlit.element import ElementDict
    from chainlit.step import StepDict

    from ui.datalayer import _column_defs, schema_statements

    for pg in (True, False):
        stmts = schema_statements(pg)
        steps = _column_defs(next(s for s in stmts if "EXISTS steps" in s))
        elements = _column_defs(next(s for s in stmts if "EXISTS elements" in s))
        assert set(StepDict.__annotations__) - {"feedback"} <= set(steps)
        assert "autoCollapse" in steps and set(ElementDict.__annotations__) <= set(elements)
    assert "JSONB" in schema_statements(True)[2] and "JSONB" not in schema_statements(False)[2]


def test_local_storage_refuses_paths_outside_its_folder(tmp_path):
    from ui.datalayer import LocalStorageClient

    st = LocalStorageClient(tmp_path / "files")

    async def run():
        up = await st.upload_file("u1/e1/source.txt", "texte", mime="text/plain")
        assert up["url"] == "/medassist/files/u1/e1/source.txt"
        assert (tmp_path / "files" / "u1" / "e1" / "source.txt").read_text() == "texte"
        assert await st.delete_file("u1/e1/source.txt") is True
        with pytest.raises(ValueError):
            await st.upload_file("../evasion.txt", "x")

    run_blocking(run())


async def _roundtrip(layer) -> dict:
    """Create a user, a thread with a step, an element and feedback; read the thread back."""
    import chainlit as cl
    from chainlit.context import init_http_context
    from chainlit.types import Feedback

    from ui.datalayer import ensure_schema

    init_http_context()  # the data layer reads the (here HTTP) session from Chainlit's context
    await ensure_schema(layer.engine)
    ident = f"dr.test-{uuid.uuid4().hex[:8]}"
    user = await layer.create_user(cl.User(identifier=ident, metadata={"role": "clinician"}))
    thread_id, step_id = str(uuid.uuid4()), str(uuid.uuid4())
    await layer.update_thread(thread_id, name="LECLERC Bernard · P001", user_id=user.id,
                              metadata={"patient_id": "P001"})
    await layer.create_step({"id": step_id, "threadId": thread_id, "name": "MedAssist", "type": "assistant_message",
                             "streaming": False, "output": "FEVG à 30 % [1]", "createdAt": "2026-02-18T10:00:00Z",
                             "metadata": {}, "autoCollapse": False, "defaultOpen": False})
    el = cl.Text(name="[1]", content="**Échocardiographie** · 10/02/2026", display="side", for_id=step_id,
                 thread_id=thread_id)
    await layer.create_element(el)
    await layer.upsert_feedback(Feedback(forId=step_id, value=1, threadId=thread_id, comment="utile"))
    thread = await layer.get_thread(thread_id)
    await layer.engine.dispose()
    return {"thread": thread, "user": user, "element": el}


def _check_roundtrip(out: dict, storage_root) -> None:
    thread = out["thread"]
    assert thread["name"] == "LECLERC Bernard · P001"
    meta = thread["metadata"]
    meta = meta if isinstance(meta, dict) else __import__("json").loads(meta)
    assert meta["patient_id"] == "P001"
    step = thread["steps"][0]
    assert step["output"] == "FEVG à 30 % [1]" and step["feedback"]["value"] == 1
    el = thread["elements"][0]
    assert el["name"] == "[1]" and el["url"].startswith("/medassist/files/" + str(out["user"].id))
    stored = storage_root / el["url"].removeprefix("/medassist/files/")
    assert stored.read_text(encoding="utf-8") == "**Échocardiographie** · 10/02/2026"


def test_sqlite_data_layer_roundtrip(settings):
    from ui.datalayer import build_data_layer

    settings.data_dir.mkdir(parents=True)
    out = run_blocking(_roundtrip(build_data_layer(settings)))
    _check_roundtrip(out, settings.data_dir / "ui_files")


def _postgres_url() -> str | None:
    try:
        import psycopg

        with psycopg.connect("postgresql://127.0.0.1:5432/postgres", connect_timeout=2, autocommit=True) as cx:
            if not cx.execute("SELECT 1 FROM pg_database WHERE datname = 'medassist_ui_test'").fetchone():
                cx.execute("CREATE DATABASE medassist_ui_test")
        return "postgresql://127.0.0.1:5432/medassist_ui_test"
    except Exception:
        return None


def test_postgres_data_layer_roundtrip(tmp_path):
    url = _postgres_url()
    if url is None:
        pytest.skip("PostgreSQL injoignable sur 127.0.0.1:5432")
    from ui.datalayer import build_data_layer

    s = Settings(data_dir=tmp_path / "data", database_url=url)
    s.data_dir.mkdir(parents=True)
    out = run_blocking(_roundtrip(build_data_layer(s)))
    _check_roundtrip(out, s.data_dir / "ui_files")


def test_page_template_has_no_third_party_asset():
    import chainlit.server as server

    from ui.offline import install, strip_external_assets

    html = server.get_html_template("")
    assert "fonts.googleapis.com" in html or "cdn.jsdelivr.net" in html  # what Chainlit ships
    stripped = strip_external_assets(html)
    assert re.findall(r"(?:href|src)=\"https?://", stripped) == []
    assert "/public/medassist.css" in stripped or "<title>" in stripped
    install(server)
    install(server)  # idempotent
    assert "cdn.jsdelivr.net" not in server.get_html_template("")


def test_decode_json_fields_of_a_sqlite_thread():
    from ui.datalayer import decode_json_fields

    t = decode_json_fields({"metadata": '{"patient_id": "P001"}', "steps": [{"metadata": "{}", "output": "{x}"}],
                            "elements": [{"props": '{"label": "LECLERC Bernard · P001"}'}]})
    assert t["metadata"] == {"patient_id": "P001"} and t["steps"][0]["metadata"] == {}
    assert t["steps"][0]["output"] == "{x}"  # only JSON columns are decoded
    assert t["elements"][0]["props"]["label"] == "LECLERC Bernard · P001"
    assert decode_json_fields(None) is None
