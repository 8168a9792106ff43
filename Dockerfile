# queue-services: one image for the API (`serve`, the default) and the workers (`worker`).
# Build: docker build -t queue-services .   Run: see compose.yaml and docs/deployment.md.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY sdk ./sdk
COPY server ./server
RUN pip install ".[server]" \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin queue

# Never root: the API and the workers need no privilege.
USER 10001

# In a container the API must listen on every interface (the default is 127.0.0.1).
ENV QUEUE_SERVICES_HOST=0.0.0.0 \
    QUEUE_SERVICES_PORT=8000 \
    QUEUE_SERVICES_LOG_FORMAT=json
EXPOSE 8000

# Liveness of the API (`serve`); compose.yaml turns it off for `worker`, which serves no HTTP.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2)"]

ENTRYPOINT ["queue-services"]
CMD ["serve"]
