# syntax=docker/dockerfile:1
# One image for every lostromos component: `lostromos webhook`, `lostromos certs`
# and `lostromos controller`. Build it from the repository root:
#
#   docker build -t lostromos:0.1.0 .
#
# The bound charts are baked in under /opt/lostromos/charts; to bind your own,
# build an image FROM this one that copies them there (docs/operators.md).

ARG GO_IMAGE=golang:1.26.8-bookworm
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

# -- helm and the Helm engine, built from the Go module pinned in tools/k8s/go.mod
FROM ${GO_IMAGE} AS helm
# Must equal the helm.sh/helm/v4 version in tools/k8s/go.mod (a test checks it).
ARG HELM_VERSION=v4.3.1
WORKDIR /src/tools/k8s
COPY tools/k8s/go.mod tools/k8s/go.sum ./
COPY tools/k8s/helmengine/ helmengine/
ENV CGO_ENABLED=0 GOWORK=off GOFLAGS=-mod=readonly
# The engine is lostromos's own thin program around Helm's library: the
# controller and the webhook run it; the helm CLI is there for operators.
RUN go build -trimpath \
        -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=${HELM_VERSION} -X helm.sh/helm/v4/internal/version.metadata= -X helm.sh/helm/v4/internal/version.gitTreeState=clean" \
        -o /out/helm helm.sh/helm/v4/cmd/helm \
    && go build -trimpath -ldflags "-s -w" \
        -o /out/lostromos-helm-engine ./helmengine \
    && test "$(/out/helm version --short)" = "${HELM_VERSION}"

# -- the Python environment, exactly as locked in uv.lock -----------------------
FROM ${PYTHON_IMAGE} AS python
ARG UV_VERSION=0.13.9
RUN pip install --no-cache-dir "uv==${UV_VERSION}"
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/lostromos/venv
WORKDIR /src
# Dependencies first: this layer is rebuilt only when the lock changes.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY lostromos/ lostromos/
COPY webhook/ webhook/
COPY controller/ controller/
COPY certs/ certs/
RUN uv sync --frozen --no-dev --no-editable

# -- the image: Python, the venv, helm, the engine and the charts; no compiler, no uv
FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="lostromos" \
      org.opencontainers.image.description="Turn any Helm chart into a Kubernetes API" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/lostromos/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    HELM_CACHE_HOME=/tmp/helm/cache \
    HELM_CONFIG_HOME=/tmp/helm/config \
    HELM_DATA_HOME=/tmp/helm/data
COPY --from=python /opt/lostromos/venv /opt/lostromos/venv
COPY --from=helm /out/helm /usr/local/bin/helm
COPY --from=helm /out/lostromos-helm-engine /usr/local/bin/lostromos-helm-engine
COPY charts/site/ /opt/lostromos/charts/site/
COPY lostromos.yaml /opt/lostromos/lostromos.yaml
WORKDIR /opt/lostromos
# A numeric user, so the kubelet can check runAsNonRoot without reading /etc/passwd.
USER 65532:65532
ENTRYPOINT ["lostromos"]
CMD ["--help"]
