# CNN Playground server image: the runtime package only (no test tools), the Fashion-MNIST
# files from Debian, and a non-root user. Build: docker build -t cnn-playground .
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CNN_PLAYGROUND_HOST=0.0.0.0 \
    CNN_PLAYGROUND_PORT=8000 \
    CNN_PLAYGROUND_DATA_DIR=/data

# The same Debian package that `make run` installs: the IDX files land in
# /usr/share/datasets/fashion-mnist, the default dataset directory.
RUN apt-get update \
    && apt-get install -y --no-install-recommends dataset-fashion-mnist \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/cnn-playground
COPY pyproject.toml README.md ./
COPY cnn_core ./cnn_core
COPY app ./app
COPY templates ./templates
COPY static ./static

# An editable install, as `make run` and the README do, because the app serves templates/ and
# static/ from beside its package folder.
RUN pip install -e .

RUN useradd --create-home --uid 10001 playground \
    && mkdir -p /data \
    && chown playground:playground /data
USER playground

VOLUME ["/data"]
EXPOSE 8000

# The check follows CNN_PLAYGROUND_PORT, so `docker run -e CNN_PLAYGROUND_PORT=...` keeps it valid.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; port = os.environ.get('CNN_PLAYGROUND_PORT', '8000'); sys.exit(urllib.request.urlopen(f'http://127.0.0.1:{port}/api/health', timeout=4).status != 200)"]

# Host, port and data directory come from the CNN_PLAYGROUND_* variables above.
CMD ["cnn-playground", "serve"]
