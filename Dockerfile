# stockpred: one image for every process (api, stream, scheduler jobs, dashboard); the command
# chooses. Build:  docker build --build-arg EXTRAS=postgres,redis,kafka,dashboard,report -t stockpred .
# The extras (pyproject.toml) pick the optional stacks; the default is what the platform's
# compose file and Kubernetes manifests run.
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ARG EXTRAS=postgres,redis,kafka,nats,dashboard,report
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# The dependencies first, so a code change does not reinstall them.
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m venv /opt/stockpred \
    && /opt/stockpred/bin/pip install ".[${EXTRAS}]" \
    && find /opt/stockpred -name '__pycache__' -type d -prune -exec rm -rf {} +

FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
LABEL org.opencontainers.image.title="stockpred" \
      org.opencontainers.image.description="Stock forecasts: ingest, features, models, API, stream" \
      org.opencontainers.image.source="https://github.com/stockpred/stockpred"
# A fixed uid/gid: the Kubernetes manifests run as 10001 with runAsNonRoot.
RUN groupadd --system --gid 10001 stockpred \
    && useradd --system --uid 10001 --gid stockpred --no-log-init \
       --home-dir /var/lib/stockpred --create-home --shell /usr/sbin/nologin stockpred
COPY --from=build /opt/stockpred /opt/stockpred
ENV PATH=/opt/stockpred/bin:${PATH} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    STOCKPRED_HOME=/var/lib/stockpred
WORKDIR /var/lib/stockpred
USER 10001:10001
EXPOSE 8000 8501 9101 9102
# The API's liveness; the other processes' compose services and pods set their own probe.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
ENTRYPOINT ["stockpred"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
