# civicpoll production image.
#   docker build -t civicpoll .
#   docker run -e DATABASE_URL=... -e REDIS_URL=... -e SECRET_KEY=... -p 8000:8000 civicpoll
# The wheel is the product: the builder builds it from the source files and installs it
# into /opt/venv; the runtime image gets that venv alone, no source tree. Everything the
# service reads at run time (migrations, Lua, templates, locales, static files) is package
# data inside the wheel, and the development servers (service/dev) are not in it.

FROM python:3.11-slim AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
WORKDIR /src

# Runtime dependencies first (cached until pyproject.toml changes). All of them
# ship manylinux wheels for CPython 3.11, so no compiler is needed.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && /opt/venv/bin/pip install -r /tmp/requirements.txt

# The wheel: built from exactly these files (the schema is service/storage/migrations/,
# package data), then installed like any other package.
# Its dependencies are already satisfied above; pip checks them again, the dev extras stay out.
# The import checks run from / so that they find the installed package, not /src/service.
COPY README.md ./
COPY service ./service
RUN /opt/venv/bin/pip wheel --no-deps -w /dist . \
    && /opt/venv/bin/pip install /dist/civicpoll-*.whl \
    && cd / \
    && /opt/venv/bin/python -c "import service.app, service.storage.db" \
    && ! /opt/venv/bin/python -c "import service.dev" 2>/dev/null


FROM python:3.11-slim AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin civicpoll
# Same base image as the builder, so the venv's python link (/usr/local/bin/python3.11) holds.
COPY --from=builder /opt/venv /opt/venv
# An empty working directory: nothing is read from it (the package finds its own files).
WORKDIR /srv
USER civicpoll

EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
CMD ["civicpoll", "serve", "--host", "0.0.0.0", "--port", "8000"]
