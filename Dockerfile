# civicpoll production image.
#   docker build -t civicpoll .
#   docker run -e DATABASE_URL=... -e REDIS_URL=... -e SECRET_KEY=... -p 8000:8000 civicpoll
# The source tree lives at /app (schema.sql is read from the repo root next to
# service/), installed editable into /opt/venv so `civicpoll` is on PATH.

FROM python:3.11-slim AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /app

# Runtime dependencies first (cached until pyproject.toml changes). All of them
# ship manylinux wheels for CPython 3.11, so no compiler is needed.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt

# Application source, installed editable (no deps: dev extras stay out).
COPY README.md schema.sql ./
COPY service ./service
RUN pip install --no-deps -e /app \
    && python -m compileall -q /app/service


FROM python:3.11-slim AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin civicpoll
COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /app /app
WORKDIR /app
USER civicpoll

EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
CMD ["civicpoll", "serve", "--host", "0.0.0.0", "--port", "8000"]
