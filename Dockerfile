# ctrack's processes (worker, sink, CLI) for docker-compose users.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY ctrack ctrack
COPY schemas schemas
COPY producers producers
COPY streams streams
COPY sinks sinks
COPY services services
COPY infra infra
RUN pip install --no-cache-dir .
ENTRYPOINT ["ctrack"]
