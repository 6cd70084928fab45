# syntax=docker/dockerfile:1
# The Dagster code location image (ateda-dagster): Dagster + dagster-dbt + dbt-starrocks,
# the dbt project (dbt/) and the orchestration code (dagster/). Build from the repo root:
#   docker build -f docker/dagster.Dockerfile -t ateda-dagster:dev .
# The bronze asset runs `ateda ingest`: the binary comes from the ateda image built first
# (docker/ateda.Dockerfile, same Debian bookworm base); override with --build-arg ATEDA_IMAGE.
ARG ATEDA_IMAGE=ateda:dev
FROM ${ATEDA_IMAGE} AS ateda

FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DAGSTER_HOME=/opt/dagster/home \
    DBT_PROFILES_DIR=/opt/ateda/dbt \
    DBT_PROJECT_DIR=/opt/ateda/dbt \
    DBT_TARGET=starrocks

RUN groupadd --system --gid 10001 ateda \
 && useradd --system --uid 10001 --gid 10001 --home-dir /opt/dagster/home --create-home ateda

# Pinned Python requirements (dagster/requirements.txt: dagster, dagster-dbt, dbt-core,
# dbt-starrocks, ...) plus what the Helm deployment needs in a code location: the
# PostgreSQL instance storage and the Kubernetes run launcher.
COPY dagster/requirements.txt /tmp/requirements.txt
RUN pip install -r /tmp/requirements.txt dagster-postgres==0.29.27 dagster-k8s==0.29.27 \
 && rm /tmp/requirements.txt

COPY --from=ateda /usr/local/bin/ateda /usr/local/bin/ateda
ENV ATEDA_BIN=/usr/local/bin/ateda
COPY dbt /opt/ateda/dbt
COPY dagster /opt/ateda/dagster
# The code location package: installed if it is a project, else importable from its folder.
RUN if [ -f /opt/ateda/dagster/pyproject.toml ]; then pip install --no-deps /opt/ateda/dagster; fi
ENV PYTHONPATH=/opt/ateda/dagster

# Prepare the dbt manifest once, the way dagster-dbt documents for images (`dbt deps` +
# `dbt parse` of the DbtProject in dbt_project.py, StarRocks target; needs no database).
RUN cd /opt/ateda \
 && ATEDA_DBT_TARGET=starrocks dagster-dbt project prepare-and-package \
      --file /opt/ateda/dagster/ateda_dagster/dbt_project.py \
 && chown -R 10001:10001 /opt/ateda/dbt /opt/dagster/home

USER 10001:10001
WORKDIR /opt/ateda
EXPOSE 3030
# The Helm chart passes the gRPC server arguments (dagster-user-deployments).
CMD ["dagster", "api", "grpc", "--host", "0.0.0.0", "--port", "3030", "--module-name", "ateda_dagster.definitions"]
