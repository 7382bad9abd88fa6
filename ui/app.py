"""The Chainlit web UI (French): one patient's record at a time, every answer traceable.

Started by :func:`ui.launch.run_ui` (``medassist ui``), which prepares the users file, the cookie
secret and the database tables, then runs ``chainlit run ui/app.py --headless`` in the instance's
private app root ``<data_dir>/ui`` (links to the repository's ``.chainlit/config.toml``,
``chainlit.md`` and ``public/``; Chainlit's session files stay in that root's ``.files``).

Flow of a session:

1. password login (:mod:`medassist.users`: YAML users file, bcrypt, roles of :mod:`medassist.access`);
2. patient picker: type a name, first name, IPP or id, or click one of the proposed patients
   (only patients the user may see; any other is refused and the refusal is audited);
3. the patient's banner stays at the top of the screen; the job buttons shown depend on the role
   (CIM-10 coding, discharge letter, appointment letter, record summary, document upload);
4. each message runs one agent turn (:func:`agents.runner.run_turn`) in a worker thread: every
   graph node appears as a step, the answer comes with its ``[n]`` citations as side panels (the
   source passage with the cited words in bold), the mode badge and any weak-evidence warning;
5. drafts are shown section by section; the user edits sections, validates (LangGraph interrupt
   resumed by :func:`agents.runner.resume`) and downloads the DOCX; CIM-10 suggestions are
   accepted or rejected code by code (recorded in ``ui_coding_decisions``);
6. switching patient starts a new conversation thread (one agent thread per user and patient;
   re-opening a patient replays its previous exchanges and any draft awaiting validation).

Persistence: Chainlit's SQLAlchemy data layer (:mod:`ui.datalayer`) on PostgreSQL when configured,
else an SQLite file under the data dir; feedback (thumbs) is also written to ``ui_feedback``.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import chainlit as cl
import chainlit.server as chainlit_server
from chainlit.context import context
from chainlit.server import app as chainlit_app
from chainlit.utils import utc_now

from agents import runner
from agents.checkpoint import thread_id_for
from agents.nodes import HELP_INTENT, is_mode_notice, mode_line
from agents.text import clean_user_text
from medassist import users
from medassist.access import ROLE_LABELS_FR, AccessDenied, Action, User, allowed, authorize
from medassist.logsafe import describe
from medassist.schemas import Corpus
from medassist.settings import get_settings
from retrieval.service import get_service
from tools.search import read_document
from ui import auth, offline, render, store
from ui.datalayer import build_data_layer, ensure_schema, make_storage, register_file_route

log = logging.getLogger("medassist.ui")

ASSISTANT = "MedAssist"
#: what a typed patient identifier looks like (record id such as P001, or an IPP number)
_PATIENT_ID = re.compile(r"^(?:[A-Z]{1,3}\d{2,}|\d{6,})$")
MAX_PICKER_BUTTONS = 8
#: delay before adding messages to a resumed thread (after Chainlit has sent the stored ones)
RESUME_SETTLE_S = 0.5
HISTORY_REPLAY = 5
UPLOAD_ACCEPT = {
    "application/pdf": [".pdf"],
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": [".docx"],
    "text/plain": [".txt"],
    "text/markdown": [".md"],
    "text/html": [".html", ".htm"],
}

#: job buttons: (action name, right needed, label, request sent to the agent, icon)
JOBS: list[tuple[str, Action, str, str | None, str]] = [
    ("job_code", Action.code_cim10, "Suggérer les codes CIM-10", "Propose les codes CIM-10 du séjour", "list-checks"),
    ("job_discharge", Action.draft_discharge, "Préparer la lettre de liaison", "Rédige la lettre de liaison",
     "file-text"),
    ("job_appointment", Action.draft_appointment, "Rédiger une convocation", None, "calendar"),
    ("job_summary", Action.draft_summary, "Résumer le dossier", "Résume le dossier", "clipboard-list"),
    ("upload_document", Action.upload_document, "Ajouter un document", None, "upload"),
]


# =============================================================================== persistence
@cl.data_layer
def _data_layer():
    return build_data_layer(get_settings())


register_file_route(chainlit_app, make_storage(get_settings()))
offline.install(chainlit_server)  # no font or CDN request to third-party hosts


def _install_french_page(server_module) -> None:
    """Serve Chainlit's page as French (``<html lang="fr">``), on top of the offline template."""
    original = server_module.get_html_template
    if getattr(original, "_medassist_french", False):
        return

    def get_html_template(root_path):
        return render.french_page(original(root_path))

    get_html_template._medassist_french = True  # type: ignore[attr-defined]
    server_module.get_html_template = get_html_template


_install_french_page(chainlit_server)


@cl.on_app_startup
async def _startup() -> None:
    from chainlit.data import get_data_layer

    layer = get_data_layer()
    if layer is not None:
        await ensure_schema(layer.engine)
    # load the embedding model and open the index before serving, not during the first question
    # (loading it beside live sessions starves the event loop for tens of seconds)
    await asyncio.get_running_loop().run_in_executor(None, _warm_up)


def _warm_up() -> None:
    try:
        svc = get_service()
        svc.embedder.embed_query("préchargement")
        runner.get_agent()
        # The document parser's spaCy sentence pipeline must exist before the CIM-10 tool loads
        # edsnlp: afterwards spacy.blank("fr") no longer finds the "sentencizer" factory and every
        # upload after a coding request would fail (the parser caches the pipeline it builds).
        from retrieval import parsing

        parsing._offline_nlp()
    except Exception as exc:  # the first question will report the problem in French
        log.error("préchargement du service de recherche impossible : %s", describe(exc))


# =============================================================================== helpers
def _settings():
    return get_settings()


def _user() -> User:
    """The logged-in user, re-read from the users file (a revoked right applies at once)."""
    cl_user = cl.user_session.get("user")
    if cl_user is None:
        raise AccessDenied("Session expirée : reconnectez-vous.")
    user = users.get_user(cl_user.identifier, _settings())
    if user is None:
        raise AccessDenied("Compte inconnu ou supprimé : reconnectez-vous.")
    return user


async def _run(func, *args, **kwargs):
    """Run blocking code (index, database, agent) in a worker thread."""
    return await asyncio.get_running_loop().run_in_executor(None, functools.partial(func, *args, **kwargs))


def _service():
    return get_service()


def _task(func):
    """Run an action callback as a UI task (spinner, stop button, composer state).

    Chainlit wraps messages in task start/end events but not action callbacks; without them the
    page stays "busy" after an ``AskUserMessage`` answered inside a callback."""

    @functools.wraps(func)
    async def wrapper(action: cl.Action):
        await context.emitter.task_start()
        try:
            return await func(action)
        finally:
            await context.emitter.task_end()

    return wrapper


async def _say(content: str, *, actions: list[cl.Action] | None = None, elements: list | None = None,
               author: str = ASSISTANT) -> cl.Message:
    msg = cl.Message(content=content, author=author, actions=actions or [], elements=elements or [])
    await msg.send()
    return msg


async def _say_ephemeral(content: str, *, actions: list[cl.Action] | None = None,
                         elements: list | None = None) -> cl.Message:
    """A message shown but not stored in the conversation: what :func:`_open_patient` shows again at
    every (re)opening (patient banner, job buttons, a draft awaiting validation). Stored, it piled up
    one more copy per page reload, and its buttons were not restored anyway."""
    msg = cl.Message(content=content, author=ASSISTANT, actions=actions or [])
    msg.created_at = msg.created_at or utc_now()
    await context.emitter.send_step(msg.to_dict())
    for element in elements or []:
        await element.send(for_id=msg.id, persist=False)
    for action in actions or []:
        await action.send(for_id=msg.id)
    return msg


def _job_actions(user: User) -> list[cl.Action]:
    acts = [cl.Action(name=name, payload={}, label=label, icon=icon, tooltip=label)
            for name, right, label, _, icon in JOBS if allowed(user, right)]
    acts.append(cl.Action(name="change_patient", payload={}, label="Changer de patient", icon="users",
                          tooltip="Ouvrir le dossier d'un autre patient (nouvelle conversation)"))
    return acts


def _visible_patients(user: User) -> list:
    return [p for p in _service().docs.list_patients() if user.sees(p.id)]


def _audit(user: User, action: str, patient_id: str | None, outcome: str = "ok", detail: str | None = None,
           documents: list[str] | None = None) -> None:
    from medassist import audit

    audit.record(user=user, action=action, patient_id=patient_id, tool="ui", outcome=outcome, detail=detail,
                 documents=documents)


async def _ensure_thread_started(name: str) -> None:
    """Persist the Chainlit thread even when the user only clicked buttons (Chainlit otherwise
    waits for a typed message before writing anything)."""
    session = context.session
    if not getattr(session, "has_first_interaction", True):
        session.has_first_interaction = True
        await context.emitter.init_thread(name)


async def _name_thread(question: str | None = None) -> None:
    """Thread title and metadata (patient, day, first question), so that the history lists
    conversations the user can tell apart."""
    from chainlit.data import get_data_layer

    if question and not cl.user_session.get("first_question"):
        cl.user_session.set("first_question", question)
    layer = get_data_layer()
    pid = cl.user_session.get("patient_id")
    if layer is None or not pid or not getattr(context.session, "has_first_interaction", False):
        return
    opened = cl.user_session.get("thread_opened") or render.fr_date(utc_now()[:10])
    cl.user_session.set("thread_opened", opened)
    first = cl.user_session.get("first_question")
    try:
        await layer.update_thread(thread_id=context.session.thread_id,
                                  name=render.thread_title(cl.user_session.get("patient_label") or pid, opened, first),
                                  metadata={"patient_id": pid, "opened": opened, "first_question": first})
    except Exception as exc:
        log.error("titre de conversation non enregistré : %s", describe(exc))


# =============================================================================== authentication
# Password login (throttled, audited), a server-side session checked on every route and websocket
# event, logout that revokes it, bounded token lifetime, Secure cookie over HTTPS: see ui/auth.py.
auth.install(chainlit_app)


# =============================================================================== session start
@cl.on_chat_start
async def on_chat_start() -> None:
    user = _user()
    await _say(f"Bonjour {render.md_escape(user.display_name)} — profil **{ROLE_LABELS_FR[user.role]}**.")
    await _picker(user, "")


@cl.on_chat_resume
async def on_chat_resume(thread: dict) -> None:
    """Re-opening a conversation from the history: same patient, rights checked again."""
    user = _user()
    meta = thread.get("metadata") or {}
    if isinstance(meta, str):
        meta = json.loads(meta or "{}")
    pid = meta.get("patient_id")
    created = str(thread.get("createdAt") or "")[:10]
    cl.user_session.set("thread_opened", meta.get("opened") or (render.fr_date(created) if created else None))
    cl.user_session.set("first_question", meta.get("first_question"))
    # Chainlit sends the stored messages to the page *after* this hook returns, replacing what is
    # on screen: what we add must come after them
    asyncio.get_running_loop().create_task(_after_resume(user, pid, replay=not thread.get("steps")))


async def _after_resume(user: User, patient_id: str | None, *, replay: bool) -> None:
    await asyncio.sleep(RESUME_SETTLE_S)
    try:
        if patient_id:
            # a thread just created for a patient switch has no messages yet: replay the exchanges
            await _open_patient(user, patient_id, replay=replay)
        else:
            await _picker(user, "")
    except Exception as exc:
        log.error("reprise de la conversation impossible : %s", describe(exc))
        await _say("✗ La conversation n'a pas pu être rouverte entièrement ; rechargez la page.")


async def _picker(user: User, query: str) -> None:
    patients = await _run(_visible_patients, user)
    matches = render.match_patients(patients, query)
    if query and len(matches) == 1:
        await _open_patient(user, matches[0].id)
        return
    if query and not matches:
        # an identifier outside the user's scope is refused (and audited) whether or not it
        # exists: the answer must not tell a user which patients the hospital has
        candidate = query.strip().upper()
        if _PATIENT_ID.match(candidate) and "*" not in user.patients:
            await _deny_patient(user, candidate)
            return
        await _say(f"Aucun patient ne correspond à « {render.md_escape(query)} » parmi vos patients. "
                   "Essayez un nom, un prénom, un IPP ou un identifiant (ex. P001).")
        return
    shown = matches[:MAX_PICKER_BUTTONS]
    more = len(matches) - len(shown)
    head = ("**Choisissez un patient** : cliquez sur un nom ci-dessous, ou tapez un nom, un prénom, "
            "un IPP ou un identifiant dans la zone de message pour rechercher.")
    if query:
        head = f"**{len(matches)} patients** correspondent à « {render.md_escape(query)} » :"
    if more > 0:
        others = f"{more} autres : tapez un nom pour les trouver" if more > 1 else "1 autre : tapez son nom"
        head += f"\n\n*{len(shown)} patients proposés ci-dessous ; {others}.*"
    if not patients:
        head = "Aucun patient ne vous est attribué. Contactez l'administrateur de l'application."
    actions = [cl.Action(name="select_patient", payload={"patient_id": p.id}, label=render.patient_label(p),
                         icon="user", tooltip=f"Ouvrir le dossier {p.id}") for p in shown]
    await _say(head, actions=actions)


async def _deny_patient(user: User, patient_id: str) -> None:
    await _run(_audit, user, "open_patient", patient_id, "denied")
    await _say(f"✗ Accès refusé : le patient {render.md_escape(patient_id)} ne fait pas partie de vos patients.")


# =============================================================================== patient
@cl.action_callback("select_patient")
@_task
async def on_select_patient(action: cl.Action) -> None:
    await _open_patient(_user(), str(action.payload.get("patient_id", "")))


@cl.action_callback("change_patient")
@_task
async def on_change_patient(action: cl.Action) -> None:
    await _picker(_user(), "")


async def _open_in_new_thread(patient) -> bool:
    """Open ``patient`` in a new conversation thread: the thread is created (owner, title, patient)
    and the browser is sent to it; Chainlit then resumes it and :func:`on_chat_resume` shows the
    patient. Returns ``False`` when that is not possible (no persistence, thread not started)."""
    from chainlit.data import get_data_layer

    layer = get_data_layer()
    session = context.session
    owner = getattr(session.user, "id", None)
    if layer is None or not owner or not getattr(session, "has_first_interaction", False):
        return False
    new_id = str(uuid.uuid4())
    label = render.patient_label(patient)
    await layer.update_thread(thread_id=new_id, name=label, user_id=owner, metadata={"patient_id": patient.id})
    await _navigate(f"/thread/{new_id}", f"Ouverture du dossier {label} dans une nouvelle conversation…")
    return True


async def _navigate(url: str, label: str) -> None:
    """Send the browser to ``url`` with the ``Navigate`` custom element, emitted without being
    persisted (so that re-opening this conversation later does not navigate again)."""
    msg = cl.Message(content="", author=ASSISTANT)
    msg.created_at = msg.created_at or utc_now()
    element = cl.CustomElement(name="Navigate", display="inline", props={"url": url, "label": label},
                               for_id=msg.id)
    await context.emitter.send_step(msg.to_dict())
    await context.emitter.emit("element", element.to_dict())


async def _clear_screen() -> None:
    """Fallback without persistence: clear the messages and use a new thread id."""
    session = context.session
    await context.emitter.emit("resume_thread", {"id": session.thread_id, "steps": [], "elements": [],
                                                 "metadata": {}, "name": "", "createdAt": ""})
    session.thread_id = str(uuid.uuid4())
    session.has_first_interaction = False
    cl.user_session.set("thread_opened", None)
    cl.user_session.set("first_question", None)


#: wait for Chainlit's own writes of the first message (tasks it started) before removing the thread
DISCARD_SETTLE_S = 0.3


async def _discard_thread() -> None:
    """Forget the thread Chainlit created for a message typed before any patient was opened.

    The session counts as not started again: the thread (same id, so the page's address stays
    valid) is created again, and named after the patient, only when a patient is actually opened;
    the messages on screen stay."""
    from chainlit.data import get_data_layer

    session = context.session
    if not getattr(session, "has_first_interaction", False):
        return
    session.has_first_interaction = False
    layer = get_data_layer()
    if layer is None:
        return
    await asyncio.sleep(DISCARD_SETTLE_S)
    try:
        if not getattr(session, "has_first_interaction", False):  # no patient opened meanwhile
            await layer.delete_thread(session.thread_id)
    except Exception as exc:
        log.error("conversation sans patient non supprimée : %s", describe(exc))


async def _open_patient(user: User, patient_id: str, *, replay: bool = True) -> None:
    if not patient_id:
        return
    if not user.sees(patient_id):
        await _deny_patient(user, patient_id)
        return
    patient = await _run(lambda: _service().docs.get_patient(patient_id))
    if patient is None:
        await _say(f"Patient inconnu : « {render.md_escape(patient_id)} ».")
        return
    previous = cl.user_session.get("patient_id")
    if previous and previous != patient_id:
        # one conversation per patient: another patient starts a new thread
        if await _open_in_new_thread(patient):
            return  # the page reloads on the new thread; on_chat_resume opens (and audits) the record
        await _clear_screen()
    cl.user_session.set("patient_id", patient_id)
    cl.user_session.set("patient_label", render.patient_label(patient))
    cl.user_session.set("agent_thread", thread_id_for(user.username, patient_id))
    cl.user_session.set("draft", None)
    cl.user_session.set("edits", {})
    await _run(_audit, user, "open_patient", patient_id)
    await _name_thread()
    docs = await _run(lambda: len(_service().docs.list_documents(Corpus.patients, patient_id)))
    banner = cl.CustomElement(name="PatientBanner", display="inline", props={
        "label": render.patient_label(patient), "details": _banner_details(patient, docs)})
    await _say_ephemeral(render.patient_banner(patient, docs), elements=[banner])
    if replay:
        await _replay_history(user, patient_id)
    await _show_pending_draft(user, patient_id)
    await _show_pending_codes(user, patient_id)
    await _say_ephemeral(_role_hint(user), actions=_job_actions(user))
    await _name_thread()  # again: Chainlit names a new thread after its first message, concurrently


def _banner_details(patient, docs: int) -> str:
    ident = patient.identity
    sex = "née" if ident.sex == "F" else "né"
    allergies = ", ".join(a.substance for a in patient.allergies)
    txt = f"{sex} le {render.fr_date(ident.birth_date)} · IPP {ident.ipp} · {docs} documents"
    return txt + (f" · Allergies : {allergies}" if allergies else "")


def _role_hint(user: User) -> str:
    if allowed(user, Action.search_record):
        return ("Posez une question sur le dossier (ex. « Quel est le traitement de sortie ? ») "
                "ou choisissez une tâche :")
    if allowed(user, Action.search_procedures):
        # what the secretariat may do, and only that (the record itself is not searchable)
        return ("Vous pouvez interroger les procédures de l'établissement (ex. « Quelle est la préparation pour "
                "un scanner injecté ? ») ou préparer une convocation pour ce patient :")
    return "Votre profil permet de préparer les convocations de ce patient :"


async def _replay_history(user: User, patient_id: str) -> None:
    rows = await _run(store.recent_exchanges, user.username, patient_id, HISTORY_REPLAY)
    if not rows:
        return
    await _say(f"**Reprise du dossier** : vos {len(rows)} dernier{'s' if len(rows) > 1 else ''} "
               f"échange{'s' if len(rows) > 1 else ''} sur ce patient.")
    for row in rows:
        q = cl.Message(content=row["question"], author=user.display_name, type="user_message")
        await q.send()
        payload = row.get("payload") or {}
        cits = payload.get("citations") or []
        elements = [cl.Text(name=render.citation_name(int(c["n"])), content=c.get("markdown") or
                            render.citation_markdown(c), display="side") for c in cits]
        stamp = render.fr_date(row["at"])
        await _say(f"{row['answer']}\n\n*— échange du {stamp}*", elements=elements)


async def _show_pending_draft(user: User, patient_id: str) -> None:
    """A draft left awaiting validation in this thread is shown again with its buttons."""
    try:
        state = await _run(runner.thread_state, user, patient_id, cl.user_session.get("agent_thread"))
    except Exception as exc:
        log.error("état de la conversation illisible : %s", describe(exc))
        return
    pending = state.get("pending")
    if pending and isinstance(pending, dict) and pending.get("draft"):
        await _say_ephemeral("✎ Un brouillon attend encore votre validation :")
        await _show_draft(user, pending["draft"], mode=pending["draft"].get("mode"), ephemeral=True)


async def _show_pending_codes(user: User, patient_id: str) -> None:
    """The codes of the last coding not yet accepted or rejected, with their buttons again (after a
    reload the stored messages come back without buttons and the session has forgotten the codes)."""
    if not allowed(user, Action.code_cim10):
        return
    try:
        rows = await _run(store.recent_exchanges, user.username, patient_id, 20)
        decisions = await _run(store.coding_decisions_for, patient_id)
    except Exception as exc:
        log.error("codes en attente illisibles : %s", describe(exc))
        return
    pending = render.undecided_codes(rows, decisions)
    if not pending:
        return
    cl.user_session.set("coding", {s["code"]: s for s in pending})
    await _say_ephemeral(f"**Codes CIM-10 encore à décider** ({len(pending)}) : acceptez ou rejetez chacun.")
    await _offer_code_buttons(pending, _say_ephemeral)


async def _offer_code_buttons(suggestions: list[dict], say) -> None:
    """One message per code with its Accepter/Rejeter buttons (``say``: saved or on-screen only);
    the button ids are kept so that a decision removes them."""
    action_sets: dict[str, list[str]] = {}
    for s in suggestions:
        acts = _code_buttons(s["code"])
        await say(f"**{render.md_escape(str(s.get('role') or ''))} {render.md_escape(s['code'])}** "
                  f"{render.md_escape(str(s.get('label') or ''))}", actions=acts)
        action_sets[s["code"]] = [a.id for a in acts]
    cl.user_session.set("code_actions", action_sets)


def _code_buttons(code: str) -> list[cl.Action]:
    return [cl.Action(name="code_decision", payload={"code": code, "decision": "accepted"}, label="Accepter",
                      icon="check", tooltip=f"Accepter {code}"),
            cl.Action(name="code_decision", payload={"code": code, "decision": "rejected"}, label="Rejeter",
                      icon="x", tooltip=f"Rejeter {code}")]


# =============================================================================== messages
@cl.on_message
async def on_message(message: cl.Message) -> None:
    user = _user()
    files = [e for e in (message.elements or []) if getattr(e, "path", None)]
    if files:
        await _ingest_files(user, [(Path(e.path), e.name) for e in files])
        if not message.content.strip():
            return
    # invisible characters (zero-width, bidi overrides) removed before routing, search and picking
    text = clean_user_text(message.content or "").strip()
    if not cl.user_session.get("patient_id"):
        await _picker(user, text)
        if not cl.user_session.get("patient_id"):
            # a search or a refusal in the picker is no conversation: Chainlit created a thread
            # named after the typed text (« P003 » in the history); it is removed
            await _discard_thread()
        return
    if not text:
        return
    await _agent_turn(user, text)


async def _agent_turn(user: User, text: str) -> None:
    pid = cl.user_session.get("patient_id")
    thread = cl.user_session.get("agent_thread")
    try:
        authorize(user, Action.search_record if allowed(user, Action.search_record) else Action.draft_appointment,
                  pid, audit=False)
    except AccessDenied as exc:
        await _say(f"✗ {render.md_escape(str(exc))}")
        return
    result = await _stream_agent(functools.partial(runner.run_turn, user, pid, text, thread_id=thread))
    if result is not None:
        await _show_result(user, text, result)


async def _stream_agent(call) -> Any:
    """Run ``call(stream=callback)`` in a worker thread; show each node as a step and stream tokens."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()

    def callback(event: dict) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, event)

    future = loop.run_in_executor(None, functools.partial(call, stream=callback))
    stream_msg: cl.Message | None = None
    progress: dict[str, dict] = {}
    while True:
        getter = asyncio.ensure_future(queue.get())
        done, _ = await asyncio.wait({getter, future}, return_when=asyncio.FIRST_COMPLETED)
        if getter not in done:
            getter.cancel()
            events = []
            while not queue.empty():
                events.append(queue.get_nowait())
        else:
            events = [getter.result()]
        for ev in events:
            kind = ev.get("type")
            if kind == "progress":
                progress[str(ev.get("step"))] = ev
            elif kind == "step" and ev.get("node") not in ("finalize",):
                parent = context.current_step  # the run of this message or action: steps stay above the answer
                step = cl.Step(name=str(ev.get("label") or ev.get("node")), type="tool", show_input=False,
                               parent_id=parent.id if parent else None)
                step.output = _step_summary(str(ev.get("node")), progress.get(str(ev.get("node"))))
                await step.send()
            elif kind == "token" and ev.get("text"):
                if stream_msg is None:
                    stream_msg = cl.Message(content="", author=ASSISTANT)
                await stream_msg.stream_token(str(ev["text"]))
        if getter not in done:
            break
    if stream_msg is not None:
        await stream_msg.remove()  # provisional tokens: the verified answer replaces them
    try:
        return future.result()
    except AccessDenied as exc:
        await _say(f"✗ {render.md_escape(str(exc))}")
    except Exception as exc:
        log.error("échec du tour de l'agent : %s", describe(exc))
        await _say(f"✗ La demande n'a pas pu aboutir ({type(exc).__name__}). Réessayez ; si le problème "
                   "persiste, prévenez l'équipe technique.")
    return None


def _step_summary(node: str, progress: dict | None) -> str:
    if not progress:
        return "Terminé."
    bits = []
    if "passages" in progress:
        bits.append(f"{progress['passages']} passage(s) retrouvé(s)")
    docs = progress.get("documents")
    if docs:
        bits.append("documents : " + ", ".join(str(d) for d in docs[:8]))
    if "mode" in progress:
        bits.append(f"mode {progress['mode']}")
    return " ; ".join(bits) or "Terminé."


# =============================================================================== results
def _as_dict(result: Any) -> dict:
    return result.model_dump(mode="json") if hasattr(result, "model_dump") else dict(result)


async def _documents_for(user: User, patient_id: str, doc_ids: set[str]) -> dict[str, dict]:
    """Stored documents for the citation viewer (read through the audited tool)."""
    def load() -> dict[str, dict]:
        out = {}
        for d in sorted(doc_ids):
            if d in (render.PATIENT_JSON, render.REQUEST_DOC) or not d:
                continue
            try:
                out[d] = read_document(user, patient_id, d)
            except (AccessDenied, LookupError):
                continue
        return out

    return await _run(load)


def _citation_elements(citations: list[dict], docs: dict[str, dict]) -> list[cl.Text]:
    seen, out = set(), []
    for c in citations:
        n = int(c["n"])
        if n in seen:
            continue
        seen.add(n)
        md = render.citation_markdown(c, docs.get(c.get("doc_id", "")))
        c["markdown"] = md
        out.append(cl.Text(name=render.citation_name(n), content=md, display="side"))
    return out


def _footer(r: dict) -> str:
    if r.get("intent") == HELP_INTENT:
        return ""  # a help message: no evidence to weigh, no mode to state
    lines = []
    flags = list(dict.fromkeys(f for f in r.get("flags") or [] if f))
    weak = [f for f in flags if str(f).lower().startswith("preuves faibles")]
    if r.get("weak_evidence") or weak:
        lines.append(render.weak_evidence_warning(weak[0] if weak else None))
    flags = [f for f in flags if f not in weak]
    if flags and not r.get("draft"):
        lines.append(render.warning_block("Avertissements", flags))
    lines += _notice_lines(r.get("notices") or [])
    lines.append(_mode_line(r.get("mode"), r.get("notices") or []))
    return "\n\n".join(ln for ln in lines if ln)


def _notice_lines(notices: list[str]) -> list[str]:
    """Notes not about the answering mode (scope, role, abandoned draft), shown plainly."""
    return [f"ℹ {render.md_escape(str(n))}" for n in dict.fromkeys(notices) if n and not is_mode_notice(n)]


def _mode_line(mode: str | None, notices: list[str]) -> str:
    """One discreet line stating the mode once, with the agent's reasons for it (e.g. no model)."""
    badge = render.mode_badge(mode)
    return f"*{render.md_escape(mode_line(mode, list(notices), base=badge))}*" if badge else ""


async def _show_result(user: User, question: str, result: Any) -> None:
    r = _as_dict(result)
    pid = cl.user_session.get("patient_id")
    await _ensure_thread_started(question)
    if not r.get("interrupt") and cl.user_session.get("draft"):
        await _drop_pending_draft()  # a new request abandons the draft awaiting validation
    if r.get("interrupt") and (r.get("draft") or (r["interrupt"] or {}).get("draft")):
        draft = r.get("draft") or r["interrupt"]["draft"]
        await _show_draft(user, draft, mode=r.get("mode"), notices=r.get("notices") or [])
        await _run(store.save_exchange, user.username, pid, cl.user_session.get("agent_thread"), question,
                   f"Brouillon « {render.DRAFT_KINDS.get(draft.get('kind'), 'document')} » proposé.",
                   {"kind": "draft", "mode": r.get("mode")})
        await _name_thread(question)
        return
    if r.get("coding") and not r.get("refused") and not r.get("error"):
        await _show_coding(user, question, r)
        await _name_thread(question)
        return
    core = render.split_answer(r.get("answer", ""), flags=r.get("flags") or [], notices=r.get("notices") or [],
                               mode_line=mode_line(r.get("mode") or "extractive", r.get("notices") or []))
    citations = render.number_citations(r.get("citations") or [])
    docs = {}
    if any(not c.get("highlights") for c in citations):
        docs = await _documents_for(user, pid, {c.get("doc_id", "") for c in citations if not c.get("highlights")})
    elements = _citation_elements(citations, docs)
    prefix = "✗ " if r.get("refused") else ("✗ " if r.get("error") else "")
    body = prefix + render.answer_markdown(core)
    footer = _footer(r)
    content = body + (f"\n\n{footer}" if footer else "")
    await _say(content, elements=elements)
    await _run(store.save_exchange, user.username, pid, cl.user_session.get("agent_thread"), question, content,
               {"kind": "answer", "mode": r.get("mode"), "weak_evidence": r.get("weak_evidence"),
                "citations": [{k: c.get(k) for k in ("n", "doc_id", "title", "date", "quote", "start", "end",
                                                      "markdown")} for c in citations]})
    await _name_thread(None if r.get("intent") == HELP_INTENT else question)  # "Bonjour" names nothing


# ------------------------------------------------------------------------------- CIM-10
async def _show_coding(user: User, question: str, r: dict) -> None:
    pid = cl.user_session.get("patient_id")
    coding = r["coding"]
    table, cits = render.coding_markdown(coding)
    # titles and dates of the cited documents, from the agent's citations
    meta = {c.get("doc_id"): c for c in (r.get("citations") or [])}
    for c in cits:
        m = meta.get(c["doc_id"]) or {}
        c.setdefault("title", m.get("title", ""))
        c.setdefault("date", m.get("date"))
    docs = await _documents_for(user, pid, {c["doc_id"] for c in cits})
    elements = _citation_elements(cits, docs)
    suggestions = coding.get("suggestions") or []
    cl.user_session.set("coding", {s["code"]: s for s in suggestions})
    head = "### Propositions de codage CIM-10\n*Suggestions à valider par le médecin DIM : acceptez ou rejetez chaque code.*"
    tail = "\n\n".join(_notice_lines(r.get("notices") or []) + [_mode_line(r.get("mode"), r.get("notices") or [])])
    content = f"{head}\n\n{table}" + (f"\n\n{tail.strip()}" if tail.strip() else "")
    await _say(content, elements=elements)
    await _offer_code_buttons(suggestions, _say)
    await _run(store.save_exchange, user.username, pid, cl.user_session.get("agent_thread"), question, content,
               {"kind": "coding", "mode": r.get("mode"),
                "suggestions": [{k: s.get(k) for k in ("code", "label", "role", "score")} for s in suggestions],
                "citations": [{k: c.get(k) for k in ("n", "doc_id", "title", "date", "quote", "start", "end",
                                                      "markdown")} for c in cits]})


@cl.action_callback("code_decision")
@_task
async def on_code_decision(action: cl.Action) -> None:
    user = _user()
    pid = cl.user_session.get("patient_id")
    code = str(action.payload.get("code"))
    decision = str(action.payload.get("decision"))
    suggestion = (cl.user_session.get("coding") or {}).get(code)
    if suggestion is None or decision not in ("accepted", "rejected"):
        await _say("Cette proposition n'est plus d'actualité : relancez le codage.")
        return
    try:
        authorize(user, Action.code_cim10, pid, tool="ui")
    except AccessDenied as exc:
        await _say(f"✗ {render.md_escape(str(exc))}")
        return
    await _run(store.record_coding_decision, user.username, pid, cl.user_session.get("agent_thread"), suggestion,
               decision)
    await _run(_audit, user, "coding_decision", pid, "ok", f"{code}:{decision}")
    # the decision replaces the two buttons
    verdict = "✓ accepté" if decision == "accepted" else "✗ rejeté"
    text = (f"**{render.md_escape(suggestion.get('role', ''))} {render.md_escape(code)}** "
            f"{render.md_escape(suggestion.get('label', ''))} — {verdict}")
    ids = (cl.user_session.get("code_actions") or {}).get(code, [action.id])
    await _remove_actions(ids, action.forId)
    if action.forId:
        await cl.Message(content=text, id=action.forId, author=ASSISTANT).update()
    else:
        await _say(text)


async def _remove_actions(ids: list[str], for_id: str | None) -> None:
    for action_id in ids:
        await cl.Action(name="_", payload={}, id=action_id, forId=for_id).remove()


# ------------------------------------------------------------------------------- drafts
async def _show_draft(user: User, draft: dict, *, mode: str | None = None, notices: list[str] = (),
                      ephemeral: bool = False) -> None:
    pid = cl.user_session.get("patient_id")
    cl.user_session.set("draft", draft)
    edits: dict = cl.user_session.get("edits") or {}
    shown = _with_edits(draft, edits)
    md, cits = render.draft_markdown({**shown, "mode": None}, edited=edits.keys())
    docs = await _documents_for(user, pid, {c.get("doc_id", "") for c in cits})
    elements = _citation_elements(cits, docs)
    extra = "\n\n".join(_notice_lines(list(notices or [])) + [_mode_line(mode or draft.get("mode"),
                                                                          list(notices or []))]).strip()
    actions = [
        cl.Action(name="draft_edit", payload={}, label="Modifier une section", icon="pencil"),
        cl.Action(name="draft_validate", payload={}, label="Valider et exporter (DOCX)", icon="check"),
        cl.Action(name="draft_reject", payload={}, label="Rejeter", icon="trash-2"),
    ]
    old = cl.user_session.get("draft_actions") or []
    if old:
        await _remove_actions(old[1], old[0])
    say = _say_ephemeral if ephemeral else _say  # shown again at each reopening: not stored again
    msg = await say(md + (f"\n\n{extra}" if extra else ""), elements=elements, actions=actions)
    cl.user_session.set("draft_actions", [msg.id, [a.id for a in actions]])


def _with_edits(draft: dict, edits: dict) -> dict:
    sections = []
    for s in draft.get("sections", []):
        key = s.get("key") or s.get("title")
        sections.append({**s, "text": edits[key]["text"]} if key in edits else s)
    return {**draft, "sections": sections}


@cl.action_callback("draft_edit")
@_task
async def on_draft_edit(action: cl.Action) -> None:
    draft = cl.user_session.get("draft")
    if not draft:
        await _say("Aucun brouillon en cours.")
        return
    acts = [cl.Action(name="draft_edit_section", payload={"key": s.get("key") or s.get("title")},
                      label=s.get("title") or f"Section {i + 1}", icon="pencil")
            for i, s in enumerate(draft.get("sections", []))]
    msg = await _say("Quelle section voulez-vous modifier ?", actions=acts)
    cl.user_session.set("section_actions", [msg.id, [a.id for a in acts]])


@cl.action_callback("draft_edit_section")
@_task
async def on_draft_edit_section(action: cl.Action) -> None:
    draft = cl.user_session.get("draft")
    key = action.payload.get("key")
    section = next((s for s in (draft or {}).get("sections", []) if (s.get("key") or s.get("title")) == key), None)
    if section is None:
        await _say("Section introuvable dans le brouillon en cours.")
        return
    picker = cl.user_session.get("section_actions") or []
    if picker:
        await _remove_actions(picker[1], picker[0])
        cl.user_session.set("section_actions", None)
    edits = cl.user_session.get("edits") or {}
    current = edits.get(key, {}).get("text", section.get("text", ""))
    ask = cl.AskUserMessage(
        content=(f"Saisissez le nouveau texte de la section **{render.md_escape(section.get('title', ''))}** "
                 f"(il remplacera le texte actuel, rappelé ci-dessous).\n\n> "
                 + render.md_escape(current).replace("\n", "\n> ")),
        author=ASSISTANT, timeout=900)
    reply = await ask.send()
    if not reply or not str(reply.get("output", "")).strip():
        await _say("Modification annulée.")
        return
    edits[key] = {"key": section.get("key", ""), "title": section.get("title", ""), "text": str(reply["output"]).strip()}
    cl.user_session.set("edits", edits)
    await _say(f"Section « {render.md_escape(section.get('title', ''))} » modifiée. Brouillon mis à jour :")
    await _show_draft(_user(), draft, mode=draft.get("mode"))


@cl.action_callback("draft_validate")
@_task
async def on_draft_validate(action: cl.Action) -> None:
    edits = cl.user_session.get("edits") or {}
    decision = {"action": "edit", "sections": list(edits.values())} if edits else {"action": "validate"}
    await _resume(decision)


@cl.action_callback("draft_reject")
@_task
async def on_draft_reject(action: cl.Action) -> None:
    await _resume({"action": "reject"})


async def _drop_pending_draft() -> None:
    old = cl.user_session.get("draft_actions") or []
    if old:
        await _remove_actions(old[1], old[0])
    cl.user_session.set("draft_actions", None)
    cl.user_session.set("draft", None)
    cl.user_session.set("edits", {})


async def _resume(decision: dict) -> None:
    user = _user()
    pid = cl.user_session.get("patient_id")
    if not cl.user_session.get("draft"):
        await _say("Aucun brouillon n'attend de validation.")
        return
    result = await _stream_agent(functools.partial(runner.resume, user, pid, decision,
                                                   cl.user_session.get("agent_thread")))
    if result is None:
        return
    r = _as_dict(result)
    await _drop_pending_draft()
    if r.get("error") or r.get("refused"):
        await _say("✗ " + render.md_escape(r.get("answer", "")))
        return
    status = r.get("draft_status")
    if status == "rejected":
        await _say("✗ Brouillon rejeté : il n'est pas conservé comme document final.")
        return
    draft = r.get("draft") or {}
    flags = [f for f in (r.get("flags") or []) if f]
    head = "✓ Brouillon validé." if status == "validated" else "✓ Brouillon modifié puis validé."
    if flags:
        head += "\n\n" + render.warning_block("À vérifier", flags)
    files = await _export_docx(user, draft)
    if files:
        head += f"\n\nDocument Word prêt : **{files[0].name}** (cliquez pour le télécharger)."
    if len(files) > 1:
        head += (f"\n\nNote pour le service (consignes réservées à l'équipe, hors du courrier au patient) : "
                 f"**{files[1].name}**.")
    await _say(head, elements=files)
    await _run(store.save_exchange, user.username, pid, cl.user_session.get("agent_thread"),
               "Validation du brouillon" if status == "validated" else "Modification et validation du brouillon", head,
               {"kind": "draft_decision", "status": status})


async def _export_docx(user: User, draft: dict) -> list[cl.File]:
    """The validated draft as a Word file element, built in memory.

    Why no file: Chainlit copies an element into the session's private files (``<data_dir>/ui/
    .files``, 0700) and its data layer reads ``path`` later, in a task of its own; a temporary
    copy (``/tmp/medassist-docx-*``) was never removed and was readable by other local users."""
    try:
        docx_bytes, note_bytes = _docx_exporter()
    except ImportError:
        await _say("L'export DOCX n'est pas disponible dans cette installation.")
        return []
    pid = cl.user_session.get("patient_id")
    kind = draft.get("kind", "document")
    name = {"discharge": "lettre_de_liaison", "appointment": "convocation", "summary": "synthese"}.get(kind, "document")
    try:
        from tools.drafting.models import Draft

        model = Draft.model_validate(draft)
        content = await _run(docx_bytes, model, _settings())
        note = await _run(note_bytes, model, _settings())
    except Exception as exc:
        log.error("export DOCX impossible : %s", describe(exc))
        await _say("✗ L'export DOCX a échoué ; le brouillon validé reste affiché ci-dessus.")
        return []
    await _run(_audit, user, "export_docx", pid, "ok", kind, draft_documents(draft))
    mime = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    files = [cl.File(name=f"{name}_{pid}.docx", content=content, display="inline", mime=mime)]
    if note:
        files.append(cl.File(name=f"note_service_{pid}.docx", content=note, display="inline", mime=mime))
    return files


def draft_documents(draft: dict) -> list[str]:
    return sorted({c.get("doc_id") for s in draft.get("sections", []) for c in s.get("citations", [])
                   if c.get("corpus", "patients") == "patients" and c.get("doc_id") not in (render.PATIENT_JSON,)})


def _docx_exporter():
    from tools.drafting.docx_export import docx_bytes, staff_note_bytes

    return docx_bytes, staff_note_bytes


# ------------------------------------------------------------------------------- jobs
async def _job(action_name: str) -> None:
    user = _user()
    if not cl.user_session.get("patient_id"):
        await _picker(user, "")
        return
    job = next(j for j in JOBS if j[0] == action_name)
    if not allowed(user, job[1]):
        await _say(f"✗ Votre profil ({ROLE_LABELS_FR[user.role]}) ne permet pas cette tâche.")
        return
    request = job[3]
    shown = cl.Message(content=request, author=user.display_name, type="user_message")
    await shown.send()
    await _ensure_thread_started(request)
    await _agent_turn(user, request)


@_task
async def on_fixed_job(action: cl.Action) -> None:
    """The jobs whose request is fixed (coding, discharge letter, summary): the button's name says which."""
    await _job(action.name)


for _name, _right, _label, _request, _icon in JOBS:
    if _request:
        cl.action_callback(_name)(on_fixed_job)


@cl.action_callback("job_appointment")
@_task
async def on_job_appointment(action: cl.Action) -> None:
    user = _user()
    if not cl.user_session.get("patient_id"):
        await _picker(user, "")
        return
    if not allowed(user, Action.draft_appointment):
        await _say(f"✗ Votre profil ({ROLE_LABELS_FR[user.role]}) ne permet pas de rédiger une convocation.")
        return
    reply = await cl.AskUserMessage(
        content=("Précisez la convocation : **examen ou consultation, date, heure, lieu** et consignes "
                 "éventuelles.\n\n*Exemple : Convocation pour une IRM cardiaque le 12/05/2026 à 9h30, "
                 "service d'imagerie, à jeun 3 heures.*"),
        author=ASSISTANT, timeout=900).send()
    text = clean_user_text(str((reply or {}).get("output", ""))).strip()
    if not text:
        await _say("Convocation annulée.")
        return
    # "Convocation : <exam, date…>": the router's cue, which the letter's subject never includes
    request = text if "convoc" in text.lower() else f"Convocation : {text}"
    await _ensure_thread_started(request)
    await _agent_turn(user, request)


# ------------------------------------------------------------------------------- upload
@cl.action_callback("upload_document")
@_task
async def on_upload(action: cl.Action) -> None:
    user = _user()
    pid = cl.user_session.get("patient_id")
    if not pid:
        await _picker(user, "")
        return
    try:
        authorize(user, Action.upload_document, pid, tool="ui_upload")
    except AccessDenied as exc:
        await _say(f"✗ {render.md_escape(str(exc))}")
        return
    max_mb = _settings().max_upload_mb
    files = await cl.AskFileMessage(
        content=(f"Déposez le document à ajouter au dossier de "
                 f"**{render.md_escape(cl.user_session.get('patient_label') or pid)}** "
                 f"(PDF, DOCX, TXT, Markdown ou HTML ; {max_mb:g} Mo au maximum)."),
        accept=UPLOAD_ACCEPT, max_size_mb=max_mb, max_files=5, author=ASSISTANT, timeout=600).send()
    if not files:
        await _say("Ajout de document annulé.")
        return
    await _ingest_files(user, [(Path(f.path), f.name) for f in files])


async def _ingest_files(user: User, files: list[tuple[Path, str]]) -> None:
    pid = cl.user_session.get("patient_id")
    if not pid:
        await _say("Choisissez d'abord un patient avant d'ajouter un document.")
        return
    try:
        authorize(user, Action.upload_document, pid, tool="ui_upload")
    except AccessDenied as exc:
        await _say(f"✗ {render.md_escape(str(exc))}")
        return
    max_mb = _settings().max_upload_mb
    _settings().ensure_dirs()
    staged = Path(tempfile.mkdtemp(prefix="upload-", dir=_settings().tmp_dir))  # private, not /tmp
    paths = []
    refused = []
    for src, name in files:
        safe = Path(name).name or "document"
        size_mb = src.stat().st_size / 1e6 if src.exists() else 0
        if size_mb > max_mb:
            refused.append(f"« {safe} » dépasse la taille maximale autorisée ({size_mb:.1f} Mo > {max_mb:g} Mo).")
            continue
        dst = staged / safe
        shutil.copyfile(src, dst)
        paths.append(dst)
    report = None
    try:
        if paths:
            async with cl.Step(name="Indexation du document", type="tool", show_input=False) as step:
                report = await _run(_service().ingest_paths, paths, patient_id=pid)
                step.output = f"{len(report.added)} ajouté(s), {report.chunks} passage(s)."
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    lines = []
    if report is not None:
        if report.added:
            lines.append("✓ Ajouté au dossier : " + ", ".join(f"`{d}`" for d in report.added))
        # an upload never replaces a document (see retrieval.service): a taken id gives a new one
        lines += [f"ℹ {render.md_escape(n)}" for n in report.notices]
        lines += [f"ℹ {render.md_escape(r.message)}" for r in report.replacements]
        if report.unchanged:
            lines.append("ℹ Déjà présent, inchangé : " + ", ".join(f"`{d}`" for d in report.unchanged))
        lines += [f"ℹ Doublon ignoré : {render.md_escape(d.message)}" for d in report.duplicates]
        refused += [e.message for e in report.errors]
        docs = report.added + report.replaced
        await _run(_audit, user, Action.upload_document.value, pid, "ok" if docs else "error",
                   f"{len(docs)} document(s)", docs)
    if refused:
        lines.append("✗ **Refusé** :\n" + "\n".join(f"- {render.md_escape(m)}" for m in refused))
    await _say("\n\n".join(lines) or "Aucun document ajouté.")


# =============================================================================== feedback
@cl.on_feedback
async def on_feedback(feedback) -> None:
    try:
        user = _user()
    except AccessDenied:
        return
    await _run(store.record_feedback, user.username, cl.user_session.get("patient_id"),
               cl.user_session.get("agent_thread"), str(feedback.forId), int(feedback.value), feedback.comment)
