"""The LangGraph agent of medassist: "extract, then generate" over one patient's record.

Layout (after the LangGraph templates):

=====================  ===========================================================================
``state.py``           typed graph state (what the checkpointer stores per thread)
``configuration.py``   run context: user, patient, model, mode (extractive / generative)
``prompts.py``         French prompts
``tools.py``           tool schemas shown to a capable model (no patient argument)
``router.py``          deterministic French intent router, follow-up rewriting
``compose.py``         extractive answer composer (cited sentences, highlights)
``verify.py``          citation verification of generated text
``nodes.py``           graph nodes
``graph.py``           the ``StateGraph``
``checkpoint.py``      SQLite / PostgreSQL checkpointer factory
``runner.py``          ``run_turn`` / ``resume`` / ``thread_state`` for the CLI and the UI
=====================  ===========================================================================

Example::

    >>> from agents.runner import run_turn                                   # doctest: +SKIP
    >>> run_turn(user, "P001", "Quelle FEVG à l'échographie ?").cli_payload()  # doctest: +SKIP
"""
