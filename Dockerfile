# syntax=docker/dockerfile:1
# The mlsiem command line in a container, for the docker-compose stack (setup, shipper, detector job).
# Two stages: `build` makes the mlsiem wheel and the wheels of its dependencies from the source tree;
# the runtime stage installs those wheels (no source tree, no editable install, no compiler, no index)
# and runs as an unprivileged user. The image has no Java or Maven: `mlsiem engine` is for a machine
# with a JDK; the compose stack runs the real OpenSearch / Elasticsearch images instead.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY mlsiem ./mlsiem
COPY shipper ./shipper
COPY detections ./detections
COPY cli ./cli
COPY demo ./demo
COPY dashboards ./dashboards
COPY sigma_rules ./sigma_rules
COPY engine ./engine
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim AS runtime
# /var/lib/mlsiem is MLSIEM_HOME (shipper offsets, spool, dead letters), owned by the unprivileged user
# so a named volume mounted there inherits that ownership; /var/log/mlsiem is where log folders mount.
RUN useradd --system --uid 10001 --home-dir /var/lib/mlsiem mlsiem \
    && mkdir -p /var/lib/mlsiem /var/log/mlsiem && chown mlsiem /var/lib/mlsiem
# The wheels are bind-mounted from the build stage for this one step, so none of them stays in a layer.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels mlsiem
ENV MLSIEM_HOME=/var/lib/mlsiem
USER mlsiem
WORKDIR /var/lib/mlsiem
ENTRYPOINT ["mlsiem"]
CMD ["--help"]
