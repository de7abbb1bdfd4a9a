# Descent Lab: gunicorn serving the Dash app on CPU torch. Build: docker build -t descent-lab .
# One machine: docker run -p 8050:8050 -e SECRET_KEY=... descent-lab
# Scale-out: compose.yaml (app, Celery worker, Redis).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MALLOC_MMAP_THRESHOLD_=1073741824 \
    MALLOC_TRIM_THRESHOLD_=1073741824 \
    OMP_WAIT_POLICY=PASSIVE \
    HOST=0.0.0.0 \
    PORT=8050 \
    WORKERS=2 \
    THREADS=4 \
    CACHE_DIR=/data/cache \
    BACKGROUND_CACHE_DIR=/data/background \
    WEIGHTS_DIR=/data/weights

WORKDIR /app

# Chromium: Kaleido renders the exports for slides with it (GIF, MP4, WebM, PNG, SVG)
RUN apt-get update \
    && apt-get install -y --no-install-recommends chromium=* \
    && rm -rf /var/lib/apt/lists/*
ENV BROWSER_PATH=/usr/bin/chromium

# torch from the CPU index: the default index would pull a multi-GB CUDA build
COPY requirements.txt .
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
    && pip install -r requirements.txt

COPY app.py pyproject.toml ./
COPY compute/ compute/
COPY dashboard/ dashboard/
COPY assets/ assets/
COPY lessons/ lessons/


RUN useradd --create-home --uid 10001 descent \
    && mkdir -p /data \
    && chown descent:descent /data
USER 10001
VOLUME ["/data"]
EXPOSE 8050

# /healthz under the app's routes (Dash's DASH_ROUTES_PATHNAME_PREFIX or DASH_URL_BASE_PATHNAME, else /)
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; e = os.environ; path = e.get('DASH_ROUTES_PATHNAME_PREFIX') or e.get('DASH_URL_BASE_PATHNAME') or '/'; urllib.request.urlopen(f\"http://127.0.0.1:{e['PORT']}{path}healthz\", timeout=4)"]

CMD ["gunicorn", "--config", "python:dashboard.gunicorn_conf", "app:server"]
