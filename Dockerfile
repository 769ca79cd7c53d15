# The trackhub image: one image, every process (`trackhub gateway`, `worker`, `api`, `deliver`).
# Built for deploy/compose and deploy/k8s; needs a Docker engine (none on the dev machines:
# the tests check the files that use it, not a build).
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY connectors ./connectors
COPY hub ./hub
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 trackhub
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER trackhub
WORKDIR /home/trackhub
# table stores, the delivery queue and the API's read model live here; mount a volume
# (compose) or a PersistentVolume (k8s statefulsets; the API's cache takes an emptyDir)
ENV TRACKHUB_STATE_DIR=/home/trackhub/state \
    TRACKHUB_LOG_FORMAT=json \
    TRACKHUB_GATEWAY_HOST=0.0.0.0 \
    TRACKHUB_WORKER_HTTP_HOST=0.0.0.0 \
    TRACKHUB_API_HOST=0.0.0.0 \
    TRACKHUB_DELIVERY_HTTP_HOST=0.0.0.0
# gateway, seller API, worker ops, delivery ops
EXPOSE 8080 8081 6066 6067
ENTRYPOINT ["trackhub"]
CMD ["worker"]
