# The mlsiem command line in a container, for the docker-compose stack (setup, shipper, detector job).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY mlsiem ./mlsiem
COPY shipper ./shipper
COPY detections ./detections
COPY sigma_rules ./sigma_rules
COPY dashboards ./dashboards
COPY cli ./cli
COPY demo ./demo
# Editable install: the rule pack and dashboards are read from /app, next to the code.
# /var/lib/mlsiem is MLSIEM_HOME (shipper offsets, spool, dead letters), owned by the unprivileged user
# so a named volume mounted there inherits that ownership; /var/log/mlsiem is where log folders mount.
RUN pip install --no-cache-dir -e . && useradd --system --uid 10001 mlsiem \
    && mkdir -p /var/lib/mlsiem /var/log/mlsiem && chown mlsiem /var/lib/mlsiem
ENV MLSIEM_HOME=/var/lib/mlsiem
USER mlsiem
ENTRYPOINT ["mlsiem"]
