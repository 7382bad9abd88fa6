"""App-side smoke check of an OpenAI-compatible vLLM server, through the app's own client code.

Run by ``scripts/vllm_cpu_smoke.sh`` (which starts the server); usable against any vLLM server::

    MEDASSIST_LLM_BASE_URL=http://127.0.0.1:8811/v1 MEDASSIST_LLM_MODEL=smollm2-135m-instruct \\
    MEDASSIST_LLM_API_KEY=... .venv/bin/python scripts/vllm_smoke_check.py [--out summary.json]

Everything goes through :func:`medassist.llm.check_health` and :func:`medassist.llm.chat_model` with
the settings read from the environment, with the app's real tool schemas (``agents.tools.TOOL_SPECS``),
its real structured-output schema (``agents.nodes.PassageRanking``) and prompts:

1. health: model list (``/v1/models``) via ``check_health``; a wrong API key is refused;
2. structured output: ``with_structured_output(..., method="json_schema")`` returns valid pydantic
   objects (vLLM constrains decoding to the schema, so even a tiny model yields valid JSON);
3. tool calling: ``bind_tools`` requests are accepted (HTTP 200) with ``tool_choice`` auto (the model
   may or may not call a tool: reported as is), ``required`` and a named tool;
4. streaming: ``chat_model(streaming=True).stream`` yields several chunks (time to first token), also
   for a streamed tool call.

Prints a JSON summary (HTTP status codes seen, latencies, what the model did) and exits 0 only when
the protocol checks pass (health, valid structured objects, HTTP 200 for every tools request,
streamed text). What the model writes is reported, never judged: SmolLM2-135M proves the wiring only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from langchain_core.messages import AIMessageChunk, HumanMessage, SystemMessage
from pydantic import BaseModel

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agents import prompts  # noqa: E402
from agents.nodes import PassageRanking  # noqa: E402
from agents.tools import TOOL_SPECS  # noqa: E402
from medassist.llm import chat_model, check_health, is_capable, served_model_name  # noqa: E402
from medassist.settings import Settings  # noqa: E402


class Triage(BaseModel):
    urgence: bool
    motif: str


PASSAGES = """[1] Compte rendu d'échographie cardiaque du 12/03/2025 (DOC-ETT-01)
FEVG estimée à 35 % (Simpson biplan), hypokinésie globale, pas de valvulopathie significative.

[2] Ordonnance de sortie du 15/03/2025 (DOC-ORD-02)
Bisoprolol 2,5 mg le matin, furosémide 40 mg le matin, ramipril 2,5 mg le soir."""

STATUSES: list[int] = []


def _record(response: httpx.Response) -> None:
    STATUSES.append(response.status_code)


def _model(settings: Settings, **kwargs):
    """The app's factory, with an httpx client that records every HTTP status code."""
    client = httpx.Client(timeout=settings.llm_timeout_s, event_hooks={"response": [_record]})
    return chat_model(settings, http_client=client, **kwargs)


def _run(name: str, fn) -> dict[str, Any]:
    STATUSES.clear()
    t = time.perf_counter()
    try:
        result = fn()
        result.setdefault("ok", True)
    except Exception as exc:  # report, do not crash: the summary must show what failed
        result = {"ok": False, "error": f"{type(exc).__name__}: {str(exc)[:400]}"}
    result["latency_s"] = round(time.perf_counter() - t, 3)
    if STATUSES:  # check_health uses its own httpx call: no status recorded there
        result["http_status"] = list(STATUSES)
    print(f"[check] {name}: {'ok' if result['ok'] else 'FAILED'} in {result['latency_s']} s", file=sys.stderr)
    return result


def _usage(msg) -> dict[str, Any]:
    u = getattr(msg, "usage_metadata", None) or {}
    return {k: u[k] for k in ("input_tokens", "output_tokens") if k in u}


def check_structured(settings: Settings) -> dict[str, Any]:
    out: dict[str, Any] = {}
    ranker = _model(settings, max_tokens=256).with_structured_output(
        PassageRanking, method="json_schema", include_raw=True)
    r = ranker.invoke([SystemMessage(prompts.RANK_SYSTEM),
                       HumanMessage(prompts.RANK_USER.format(question="Quelle est la FEVG ?", passages=PASSAGES))])
    parsed = r["parsed"]
    out["passage_ranking"] = {
        "valid": isinstance(parsed, PassageRanking), "parsing_error": str(r["parsing_error"] or "") or None,
        "raw": r["raw"].content[:300], "parsed": parsed.model_dump() if parsed else None, **_usage(r["raw"]),
    }
    triage = _model(settings, max_tokens=128).with_structured_output(Triage, method="json_schema").invoke(
        "Patient de 70 ans, douleur thoracique depuis une heure. Est-ce une urgence ?")
    out["triage"] = {"valid": isinstance(triage, Triage), "parsed": triage.model_dump()}
    out["ok"] = out["passage_ranking"]["valid"] and out["triage"]["valid"]
    return out


def check_tools(settings: Settings) -> dict[str, Any]:
    system = prompts.UNDERSTAND_SYSTEM.format(
        hospital=settings.hospital_name, user_label="Dr Test", role="clinician", patient_id="P001")
    messages = [SystemMessage(system), HumanMessage("Quelle est la FEVG du patient sur la dernière échographie ?")]
    out: dict[str, Any] = {"tools_offered": [t["function"]["name"] for t in TOOL_SPECS]}
    for label, choice in (("auto", None), ("required", "required"), ("named_search_record", "search_record")):
        start = len(STATUSES)
        t = time.perf_counter()
        kw = {"tool_choice": choice} if choice else {}
        try:
            ai = _model(settings, max_tokens=128).bind_tools(TOOL_SPECS, **kw).invoke(messages)
            out[label] = {
                "http_status": STATUSES[start:], "accepted": STATUSES[-1:] == [200],
                "tool_calls": [{"name": c["name"], "args": c["args"]} for c in ai.tool_calls],
                "invalid_tool_calls": len(ai.invalid_tool_calls),
                "content": (ai.content or "")[:300],
                "finish_reason": ai.response_metadata.get("finish_reason"), **_usage(ai),
            }
        except Exception as exc:
            out[label] = {"http_status": STATUSES[start:], "accepted": False,
                          "error": f"{type(exc).__name__}: {str(exc)[:400]}"}
        out[label]["latency_s"] = round(time.perf_counter() - t, 3)
    out["ok"] = all(out[k]["accepted"] for k in ("auto", "required", "named_search_record"))
    return out


def check_streaming(settings: Settings) -> dict[str, Any]:
    t = time.perf_counter()
    first = None
    chunks, text, usage = 0, "", {}
    for chunk in _model(settings, streaming=True, stream_usage=True, max_tokens=96).stream(
            [HumanMessage("Explique en deux phrases ce qu'est une lettre de liaison à la sortie d'hôpital.")]):
        if chunk.content:
            first = first if first is not None else time.perf_counter() - t
            chunks += 1
            text += chunk.content
        usage = _usage(chunk) or usage
    total = time.perf_counter() - t
    decode_s = total - (first or 0.0)
    out_tokens = usage.get("output_tokens")
    # a streamed tool call (named tool: always a call), re-assembled from its chunks
    agg: AIMessageChunk | None = None
    n_tool_chunks = 0
    for chunk in _model(settings, streaming=True, max_tokens=96).bind_tools(
            TOOL_SPECS, tool_choice="search_procedures").stream(
            [HumanMessage("Quelle est la procédure en cas d'accident d'exposition au sang ?")]):
        n_tool_chunks += 1
        agg = chunk if agg is None else agg + chunk
    calls = [{"name": c["name"], "args": c["args"]} for c in (agg.tool_calls if agg else [])]
    return {
        "ok": chunks > 1 and bool(text.strip()),
        "text_chunks": chunks, "time_to_first_token_s": round(first or 0.0, 3), "total_s": round(total, 3),
        **usage, "output_tokens_per_s_after_first": round((out_tokens - 1) / decode_s, 1)
        if out_tokens and decode_s > 0 else None, "text": text[:400],
        "tool_call_stream": {"chunks": n_tool_chunks, "tool_calls": calls},
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, help="also write the JSON summary to this file")
    args = ap.parse_args()
    settings = Settings()
    if settings.llm_mode != "remote":
        print("MEDASSIST_LLM_BASE_URL must point at the server (…/v1).", file=sys.stderr)
        return 2

    def _health():
        h = check_health(settings, timeout=10.0)
        # the server runs with --api-key: a wrong key must be refused (and reported in French)
        bad = check_health(settings.model_copy(update={"llm_api_key": "wrong-key"}), timeout=10.0)
        return {"ok": h.ok and served_model_name(settings) in h.models and not bad.ok, "message": h.message,
                "models": list(h.models), "is_capable": is_capable(settings),
                "wrong_api_key": {"ok": bad.ok, "message": bad.message}}

    summary: dict[str, Any] = {
        "server": settings.llm_effective_url, "model": served_model_name(settings),
        "setup": {k.removeprefix("SMOKE_").lower(): v for k, v in sorted(os.environ.items()) if k.startswith("SMOKE_")},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    summary["health"] = _run("health", _health)
    summary["structured_output"] = _run("structured_output", lambda: check_structured(settings))
    summary["tool_calling"] = _run("tool_calling", lambda: check_tools(settings))
    summary["streaming"] = _run("streaming", lambda: check_streaming(settings))
    summary["passed"] = all(summary[k]["ok"] for k in ("health", "structured_output", "tool_calling", "streaming"))
    text = json.dumps(summary, ensure_ascii=False, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
