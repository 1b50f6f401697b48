# syntax=docker/dockerfile:1
# The scorestream application image. Every application service of docker-compose.yml runs
# it with its own subcommand: worker, sink, bridge, drift-check.
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
