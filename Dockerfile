# Application image (Chainlit UI + agent + tools). vLLM, Qdrant and PostgreSQL run as their own
# services (docker-compose.yml); vLLM cannot share this environment (mcp version conflict).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    SCARF_NO_ANALYTICS=true DO_NOT_TRACK=true UNSTRUCTURED_DISABLE_NOTICE=1 \
    HF_HUB_OFFLINE=1 MEDASSIST_DATA_DIR=/data
RUN apt-get update && apt-get install -y --no-install-recommends curl libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml overrides.txt README.md ./
COPY medassist ./medassist
COPY agents ./agents
COPY tools ./tools
COPY retrieval ./retrieval
COPY knowledge ./knowledge
COPY ui ./ui
RUN pip install --no-cache-dir uv \
    && uv pip install --system --no-cache --override overrides.txt -e .
COPY .chainlit ./.chainlit
COPY public ./public
COPY chainlit.md ./
EXPOSE 8000
# Embeddings come from the "embeddings" service (MEDASSIST_EMBEDDING_URL): no local model needed.
CMD ["sh", "-c", "medassist ingest knowledge/procedures && medassist ui --host 0.0.0.0 --port 8000"]
