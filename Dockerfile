# The mlsiem command line in a container, for the docker-compose stack (setup, shipper, detector job).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY mlsiem ./mlsiem
COPY shipper ./shipper
COPY detections ./detections
COPY sigma_rules ./sigma_rules
COPY dashboards ./dashboards
# Editable install: the rule pack and dashboards are read from /app, next to the code.
RUN pip install --no-cache-dir -e . && useradd --system --uid 10001 mlsiem
USER mlsiem
ENTRYPOINT ["mlsiem"]
