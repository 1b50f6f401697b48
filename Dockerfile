# syntax=docker/dockerfile:1
# The scorestream application image. Every application service of docker-compose.yml runs
# it with its own subcommand: worker, sink, bridge, drift-check.

# The validator's compiled fast path (native/), built into a wheel with the Rust toolchain of
# the official image; only the wheel goes on.
FROM python:3.11-slim AS native
COPY --from=rust:1-slim-bookworm /usr/local/cargo /usr/local/cargo
COPY --from=rust:1-slim-bookworm /usr/local/rustup /usr/local/rustup
ENV CARGO_HOME=/usr/local/cargo RUSTUP_HOME=/usr/local/rustup PATH=/usr/local/cargo/bin:$PATH
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
COPY native /src/native
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels /src/native

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/scorestream
COPY pyproject.toml README.md ./
COPY scorestream ./scorestream
COPY streams ./streams
COPY producers ./producers
COPY consumers ./consumers
# Only the dashboards' uids and links (the alert e-mail's link), not the builders.
COPY grafana/__init__.py grafana/links.py ./grafana/
RUN pip install . && rm -rf build
COPY --from=native /wheels /tmp/wheels
RUN pip install /tmp/wheels/*.whl && rm -rf /tmp/wheels

# A demo model trained at build time on the synthetic loan data, so that `docker compose up`
# scores records out of the box. To use your own, mount its directory and set MODEL_DIR.
RUN python -c "from scorestream.streams.synthetic import generate_frame; generate_frame(50000, seed=1, start='2024-01-01T00:00:00Z').to_csv('/tmp/train.csv', index=False)" \
    && scorestream train --data /tmp/train.csv --target default --name loan-default \
        --model-dir /opt/scorestream/models/current \
    && rm /tmp/train.csv

RUN useradd --system --uid 10001 --home-dir /opt/scorestream scorestream
USER scorestream
ENV MODEL_DIR=/opt/scorestream/models/current

ENTRYPOINT ["scorestream"]
CMD ["--help"]
