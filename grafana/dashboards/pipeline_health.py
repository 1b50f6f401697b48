"""Pipeline health: are the processes up, keeping up, and how fast? (Prometheus)

Reads the series the worker, the sink and the bridge serve on ``/metrics`` (README, "Metrics
and health"), scraped by the Prometheus of ``docker-compose.yml``
(``deploy/prometheus/prometheus.yml``): readiness, consumer lag, throughput, batch and flush
latency, rejections by reason, retries, memory, and the model versions serving.
"""

from __future__ import annotations

from typing import Any

from scorestream.grafana import links
from scorestream.grafana.panels import Dashboard, threshold_steps
from scorestream.grafana.prometheus import stat, table, timeseries
from scorestream.settings import Settings

FILE = f"{links.PIPELINE_HEALTH.slug}.json"
RATE = "[$__rate_interval]"
#: Not ready after this long without progress: the same default the processes use.
STALL_S = float(Settings.model_fields["ready_stall_s"].default)
READY = threshold_steps(("red", None), ("green", 1))
LAG = threshold_steps(("green", None), ("orange", 1000), ("red", 100_000))


def _quantiles(metric: str, by: str = "", label: str = "") -> list[tuple[str, str]]:
    """p50 and p99 of a histogram, per ``by`` label if given."""
    group = f"le, {by}" if by else "le"
    suffix = f" {{{{{by}}}}}" if by else ""
    return [
        (
            f"histogram_quantile({q}, sum by ({group}) (rate({metric}_bucket{RATE})))",
            f"{label}p{int(q * 100)}{suffix}",
        )
        for q in (0.5, 0.99)
    ]


def build() -> dict[str, Any]:
    """Readiness, lag, throughput, latency, rejections, retries and models serving."""
    dash = Dashboard(
        links.PIPELINE_HEALTH.uid,
        "Pipeline health",
        "Are the worker and the sink up and keeping up? Readiness, consumer lag, throughput, "
        "batch and flush latency, rejections, retries, models serving (Prometheus).",
    )
    dash.row(
        stat(
            "Workers ready",
            ("min(scorestream_worker_ready)", ""),
            thresholds=READY,
            no_value="no worker",
            description="1 when every worker's /readyz answers 200: partitions assigned, "
            "and nothing waiting or records processed lately.",
        ),
        stat(
            "Sinks ready",
            ("min(scorestream_sink_ready)", ""),
            thresholds=READY,
            no_value="no sink",
            description="1 when every sink's /readyz answers 200.",
        ),
        stat(
            "Worker lag",
            ("sum(scorestream_worker_consumer_lag)", ""),
            unit="short",
            thresholds=LAG,
            description="Records on `records` not scored yet, all partitions.",
        ),
        stat(
            "Sink lag",
            ("sum(scorestream_sink_consumer_lag)", ""),
            unit="short",
            thresholds=LAG,
            description="Messages not in ClickHouse yet, all the sink's topics.",
        ),
    )
    dash.row(
        timeseries(
            "Records per second",
            ("sum(rate(scorestream_worker_records_scored_total" + RATE + "))", "scored"),
            (
                "sum by (reason) (rate(scorestream_worker_records_rejected_total" + RATE + ")) > 0",
                "rejected: {{reason}}",
            ),
            (
                "sum(rate(scorestream_worker_records_commit_refused_total" + RATE + ")) > 0",
                "commit refused: scored again",
            ),
            unit="reqps",
            description="Records the worker scored and rejected (by reason), once published; "
            "and any whose offsets the group refused to commit (the worker had been dropped "
            "from it): they are scored again when replayed (their drift counts stay counted "
            "once).",
        ),
        timeseries(
            "Worker lag per partition",
            ("sum by (partition) (scorestream_worker_consumer_lag)", "partition {{partition}}"),
            unit="short",
            description="End offset minus the next offset to score. It grows while a worker "
            "is stopped or cannot publish, and falls once it catches up.",
        ),
    )
    dash.row(
        timeseries(
            "Batch latency by stage",
            *_quantiles("scorestream_worker_batch_duration_seconds", by="stage"),
            unit="s",
            description="score: validate, predict, challengers, drift counts; publish: until "
            "the broker acknowledged every output of the batch.",
        ),
        timeseries(
            "Records per batch",
            (
                f"sum(rate(scorestream_worker_batch_size_sum{RATE})) "
                f"/ sum(rate(scorestream_worker_batch_size_count{RATE}))",
                "mean",
            ),
            *_quantiles("scorestream_worker_batch_size")[1:],
            unit="short",
            description="Small batches mean a worker that keeps up; full ones (--batch-size) "
            "a backlog.",
        ),
    )
    dash.row(
        timeseries(
            "Rows inserted per second",
            (
                "sum by (table) (rate(scorestream_sink_rows_inserted_total" + RATE + "))",
                "{{table}}",
            ),
            unit="reqps",
            description="Rows ClickHouse took, per table.",
        ),
        timeseries(
            "Sink flush latency",
            *_quantiles("scorestream_sink_flush_duration_seconds"),
            unit="s",
            description="Insert and offset commit of one batch.",
        ),
    )
    dash.row(
        timeseries(
            "Sink lag per topic",
            ("sum by (topic) (scorestream_sink_consumer_lag)", "{{topic}}"),
            unit="short",
            description="Messages not stored yet. While ClickHouse is down the sink pauses and "
            "asks the broker for end offsets, so this keeps growing.",
        ),
        timeseries(
            "Sink retries and failures per minute",
            ("60 * sum(rate(scorestream_sink_retries_total" + RATE + "))", "retries"),
            (
                "60 * sum(rate(scorestream_sink_flush_failures_total" + RATE + "))",
                "failed flushes",
            ),
            (
                "60 * sum(rate(scorestream_sink_commit_failures_total" + RATE + "))",
                "failed commits",
            ),
            unit="short",
            description="A retry is scheduled each time ClickHouse refuses a batch or a probe.",
        ),
    )
    dash.row(
        timeseries(
            "Seconds since progress",
            ("max by (job) (scorestream_worker_seconds_since_progress)", "worker"),
            ("max by (job) (scorestream_sink_seconds_since_progress)", "sink"),
            unit="s",
            thresholds=threshold_steps(("green", None), ("red", STALL_S)),
            threshold_style="line",
            description="Since records were last processed or nothing was waiting. Above the "
            f"line ({STALL_S:.0f} s, SCORESTREAM_READY_STALL_S) with a lag, /readyz fails.",
        ),
        timeseries(
            "Scrape targets up",
            ("sum by (job) (up)", "{{job}}"),
            unit="short",
            description="Processes Prometheus reached at the last scrape, per job. A stopped or "
            "hung process answers no scrape.",
        ),
    )
    dash.row(
        timeseries(
            "Resident memory",
            (
                "max by (instance) (scorestream_worker_process_resident_memory_bytes)",
                "worker {{instance}}",
            ),
            (
                "max by (instance) (scorestream_sink_process_resident_memory_bytes)",
                "sink {{instance}}",
            ),
            unit="bytes",
            description="RSS of each process. A worker grows while its duplicate-id window "
            "(the last 1,000,000 ids) fills, then by a few MiB per million records: the "
            "allocator keeping freed memory, if the live blocks beside it stay flat.",
        ),
        timeseries(
            "Live interpreter blocks",
            (
                "max by (instance) (scorestream_worker_python_allocated_blocks)",
                "worker {{instance}}",
            ),
            ("max by (instance) (scorestream_sink_python_allocated_blocks)", "sink {{instance}}"),
            unit="short",
            description="Memory blocks the interpreter holds for live objects "
            "(sys.getallocatedblocks). Growing with the resident memory: a leak; flat while "
            "it grows: the allocator's high-water mark.",
        ),
    )
    dash.row(
        table(
            "Models serving",
            "max by (role, name, version, kind) (scorestream_worker_model_info)",
            ["role", "name", "version", "kind"],
            width=12,
            description="The model versions the workers score with (a live swap shows here).",
        ),
        timeseries(
            "Bridge requests per second",
            (
                "sum by (status) (rate(scorestream_bridge_requests_total" + RATE + "))",
                "{{status}}",
            ),
            unit="reqps",
            description="HTTP requests to the ingest bridge, by status code.",
        ),
    )
    out = dash.to_json()
    # Operations: the last hour, refreshed often (the drift dashboards look at days).
    out["time"] = {"from": "now-1h", "to": "now"}
    out["refresh"] = "30s"
    return out
