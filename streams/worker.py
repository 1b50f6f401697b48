"""Start the scoring worker: resolve and load the models, create topics, run the Faust app."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import faust

from scorestream.observability import MetricsServer
from scorestream.settings import Settings
from scorestream.streams import collector
from scorestream.streams.agents import (
    attach_agent_scoring,
    attach_heartbeat,
    attach_model_watch,
    attach_stream_scoring,
)
from scorestream.streams.app import WorkerOptions, create_app
from scorestream.streams.challengers import ChallengerScorer
from scorestream.streams.metrics import WorkerMetrics
from scorestream.streams.model.registry import LoadedModel
from scorestream.streams.model.source import open_source
from scorestream.streams.pipeline import Champion, ChampionBuilder, ScoringPipeline
from scorestream.streams.serving import ModelFollower
from scorestream.topics import ensure_topics

log = logging.getLogger(__name__)


def follow_models(
    settings: Settings, options: WorkerOptions, challengers: Sequence[str] = ()
) -> tuple[ModelFollower[Champion], list[ModelFollower[ChallengerScorer]]]:
    """Resolve and load the champion (``settings.model``, else ``model_dir``) and challengers.

    Raises
    ------
    ModelError
        If a reference names nothing or its current version does not load.
    """
    build = ChampionBuilder(
        settings,
        out_of_range=options.out_of_range,  # type: ignore[arg-type]
        max_record_bytes=options.max_record_bytes,
        # The faust engine publishes with every batch, one partial for all partitions.
        drift_per_partition=options.engine != "faust",
    )
    champion = ModelFollower.start(open_source(settings.model, settings), build)

    def build_challenger(model: LoadedModel) -> ChallengerScorer:
        return ChallengerScorer(
            model,
            out_of_range=options.out_of_range,  # type: ignore[arg-type]
            max_record_bytes=options.max_record_bytes,
        )

    followers = [
        ModelFollower.start(open_source(reference, settings), build_challenger, "challenger")
        for reference in challengers
    ]
    return champion, followers


def build_worker_app(
    settings: Settings,
    options: WorkerOptions,
    models: tuple[ModelFollower[Champion], list[ModelFollower[ChallengerScorer]]] | None = None,
    metrics: WorkerMetrics | None = None,
) -> faust.App:
    """The Faust app with its tasks for ``faust.Worker``; ``models`` default to the settings'.

    ``metrics`` (a new :class:`WorkerMetrics` by default) is what the agents report to.
    """
    champion, challengers = models or follow_models(settings, options)
    metrics = metrics or WorkerMetrics(settings)
    app = create_app(settings, options)
    pipeline = ScoringPipeline(
        settings,
        champion,
        challengers,
        drift_every_batch=options.engine == "faust",
        metrics=metrics,
    )
    if options.engine == "faust":
        attach_stream_scoring(app, settings, options, pipeline, metrics)
    else:
        attach_agent_scoring(app, settings, options, pipeline, metrics)
    attach_heartbeat(app, metrics)
    followers: list[ModelFollower[Any]] = [champion, *challengers]
    if options.model_poll_interval_s > 0:
        attach_model_watch(app, followers, options.model_poll_interval_s)
    for follower in followers:
        model = follower.current.model
        log.info(
            "%s: %s %s (%s), following %s every %.1f s",
            follower.role,
            model.name,
            model.version,
            model.kind,
            follower.source.reference,
            options.model_poll_interval_s,
        )
    log.info("worker batches of up to %d records", options.batch_size)
    return app


def run_worker(
    settings: Settings,
    options: WorkerOptions,
    loglevel: str = "info",
    challengers: Sequence[str] = (),
) -> None:
    from threadpoolctl import threadpool_limits

    # One thread per BLAS/OpenMP pool: a worker scores batches of a few thousand rows on one
    # event loop, and scales by processes. Thread pools sized to every core oversubscribe
    # a busy machine: gradient boosting's predict_proba took 10x longer (0.1 s -> 1 s per
    # 2,000 rows) with other processes on the cores.
    threadpool_limits(limits=1)
    # The models first: a wrong reference is then reported at once, not after Kafka answers.
    models = follow_models(settings, options, challengers)
    ensure_topics(settings)
    metrics = WorkerMetrics(settings)
    # Before the group join, so that /healthz answers (and /readyz says why not) meanwhile.
    MetricsServer.start(
        metrics.registry,
        metrics.health,
        settings.metrics_host,
        settings.worker_metrics_port,
        name="worker",
        setting="SCORESTREAM_WORKER_METRICS_PORT",
    )
    app = build_worker_app(settings, options, models, metrics)
    # Everything built so far (modules, the models, the app) lives as long as the process;
    # batches' objects die before a collection looks at them (see the module).
    collector.settle()
    worker = faust.Worker(app, loglevel=loglevel, quiet=True, override_logging=False)
    worker.execute_from_commandline()
