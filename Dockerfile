# The calllog_pipeline code location, for Dagster's Helm chart (deploy/values.yaml): the image of
# the user-code deployment (a gRPC server), of every run pod (K8sRunLauncher) and of every step
# pod (k8s_job_executor). Every Python package is pinned in deploy/constraints.txt.
#   docker build -t calllog-pipeline:0.1.0 .
FROM python:3.11.14-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
# Dependencies first (a layer that changes only with the pins), exactly as pinned, nothing resolved.
COPY deploy/constraints.txt deploy/constraints.txt
RUN /opt/venv/bin/pip install --no-deps -r deploy/constraints.txt
COPY pyproject.toml README.md ./
COPY calllog_pipeline calllog_pipeline
RUN /opt/venv/bin/pip install --no-deps . && /opt/venv/bin/pip check

FROM python:3.11.14-slim-bookworm
# A fixed, unprivileged user: the chart's securityContext (runAsNonRoot) accepts it.
RUN groupadd --system --gid 10001 dagster \
    && useradd --system --uid 10001 --gid dagster --home-dir /opt/dagster --create-home dagster \
    && mkdir -p /opt/dagster/dagster_home /opt/dagster/app \
    && chown -R dagster:dagster /opt/dagster
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DAGSTER_HOME=/opt/dagster/dagster_home
WORKDIR /opt/dagster/app
USER 10001
EXPOSE 3030
# What the chart's user-code deployment runs (deploy/values.yaml passes the same module).
CMD ["dagster", "api", "grpc", "--module-name", "calllog_pipeline.definitions", "--host", "0.0.0.0", "--port", "3030"]
