"""Run-time context of the agent: who asks, about which patient, with which model (if any).

The context is passed to every run (``graph.invoke(..., context=ctx)``) and is **not** stored in
the checkpoint: the caller (CLI, UI) sets the user and the patient for each call, so nothing in a
conversation, a prompt or a retrieved document can change them.

:func:`resolve_context` decides the mode, once per turn:

* ``generative`` only when :func:`medassist.llm.is_capable` says the configured model may write
  users' answers **and** :func:`medassist.llm.check_health` reaches its server;
* otherwise ``extractive``, with a French notice saying why (no model configured, wiring-only
  model, server unreachable). Timeouts and retries of the model client come from the settings
  (:func:`medassist.llm.chat_model`).

``allow_wiring_model=True`` is a test-only switch: it lets the embedded SmolLM2 server run the
generative *plumbing* (structured output, phrasing, verification) so the OpenAI protocol path is
exercised; SmolLM2 never writes a user's answer otherwise.

Example::

    >>> from medassist.access import User
    >>> from medassist.schemas import Role
    >>> from medassist.settings import Settings
    >>> ctx = resolve_context(User(username="dr", role=Role.clinician), "P001", Settings(llm_base_url=""))
    >>> ctx.mode, ctx.llm is None
    ('extractive', True)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from medassist.access import User
from medassist.settings import Settings, get_settings

Mode = Literal["extractive", "generative"]


@dataclass
class Context:
    """Everything a node may need that is not conversation state."""

    user: User
    patient_id: str
    settings: Settings = field(default_factory=get_settings)
    #: :class:`retrieval.service.RetrievalService`; ``None`` = the process-wide service
    service: Any = None
    #: LangChain chat model used in generative mode (``None`` in extractive mode)
    llm: Any = None
    mode: Mode = "extractive"
    #: let the model choose the tool (capable models); otherwise the deterministic router decides
    tool_calling: bool = True
    #: structured-output ranking of the passages before phrasing (generative mode)
    rank_with_llm: bool = True
    #: French notes about the mode, shown with the answer
    notices: list[str] = field(default_factory=list)
    #: passages retrieved per search
    k: int = 8
    #: the other passages of the best N documents are also candidate answers (0: off)
    expand_documents: int = 3
    #: reference time for appointment drafts (tests pin it)
    now: datetime | None = None

    def get_service(self):
        if self.service is None:
            from retrieval.service import get_service

            self.service = get_service(self.settings)
        return self.service


def resolve_context(user: User, patient_id: str, settings: Settings | None = None, *, llm: Any = None,
                    mode: Mode | None = None, service: Any = None, allow_wiring_model: bool = False,
                    **overrides: Any) -> Context:
    """Build the :class:`Context` of one turn, probing the model server (see module docstring).

    ``llm`` + ``mode="generative"`` inject a chat model directly (tests, or a UI holding its own
    client); ``mode="extractive"`` forces extractive mode whatever is configured.
    """
    from medassist import llm as llm_mod

    settings = settings or get_settings()
    notices: list[str] = []
    if mode == "extractive":
        return Context(user, patient_id, settings, service, None, "extractive", notices=notices, **overrides)
    if llm is not None:
        return Context(user, patient_id, settings, service, llm, mode or "generative", notices=notices, **overrides)

    capable = llm_mod.is_capable(settings)
    wiring = allow_wiring_model and settings.llm_mode == "local"
    if settings.llm_mode == "extractive":
        notices.append("Aucun modèle de langage n'est configuré : réponse en mode extractif.")
    elif not capable and not wiring:
        notices.append("Le modèle configuré sert uniquement aux tests de raccordement ; il ne rédige pas les "
                       "réponses : mode extractif.")
    else:
        health = llm_mod.check_health(settings)
        if not health.ok:
            notices.append(f"{health.message} Réponse en mode extractif.")
        else:
            chat = llm_mod.chat_model(settings, streaming=True)
            if wiring and not capable:
                # SmolLM2 ignores tools: the router decides, the model only runs the plumbing
                overrides.setdefault("tool_calling", False)
                notices.append("Configuration de test : le modèle local de raccordement exécute la chaîne générative.")
            return Context(user, patient_id, settings, service, chat, "generative", notices=notices, **overrides)
    return Context(user, patient_id, settings, service, None, "extractive", notices=notices, **overrides)
