# One image for the whole gameday stack on containers (docker-compose.yml, docs/containers.md):
# the four services (`python -m gameday_services.<name>`), Locust (`locust -f loadtests/...`) and the
# gameday CLI (drills against the stack). Build: docker build -t gameday:local .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MPLBACKEND=Agg \
    MPLCONFIGDIR=/tmp/matplotlib

# A fixed numeric user, so that Kubernetes' runAsNonRoot can verify it.
RUN groupadd --system --gid 10001 gameday \
 && useradd --system --uid 10001 --gid gameday --create-home --home-dir /home/gameday \
      --shell /usr/sbin/nologin gameday

# The package and its dependencies. The wheel carries the scenarios, SLO specs and generated
# rules, runbooks, templates and locustfiles (gameday/_resources), so the build needs those
# folders too; the build folder is removed afterwards.
WORKDIR /build
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
COPY services ./services
COPY experiments ./experiments
COPY loadtests ./loadtests
COPY slos ./slos
COPY runbooks ./runbooks
RUN pip install . \
 && cd / && rm -rf /build

# /app: a workspace made from the installed package (`gameday init`), so that compose's
# `locust -f loadtests/...` and people in the container find editable copies. Runs are
# written under /app/.gameday (a volume in compose).
WORKDIR /app
RUN gameday init /app \
 && mkdir -p /app/.gameday && chown 10001:10001 /app/.gameday

USER 10001:10001

# Liveness of whatever the container runs: compose sets the URL per service (its own port).
ENV GAMEDAY_HEALTHCHECK_URL=http://127.0.0.1:8080/healthz
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['GAMEDAY_HEALTHCHECK_URL'], timeout=2)"]

# gateway, features, classifier (2 replicas), llm, Locust web UI, the drill's webhook
EXPOSE 8080 8081 8082 8083 8084 8089 9095

CMD ["gameday", "--help"]
