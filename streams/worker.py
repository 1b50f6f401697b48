"""Start the scoring worker: load the model, create topics, run the Faust app."""

from __future__ import annotations

import logging

import faust

from scorestream.settings import Settings
from scorestream.streams.agents import ScoringPipeline, attach_direct_scoring, attach_scoring_agent
from scorestream.streams.app import WorkerOptions, create_app
from scorestream.streams.drift_outputs import DriftStatsPublisher
from scorestream.streams.model.registry import LoadedModel
from scorestream.streams.scoring import BatchScorer
from scorestream.streams.validation import RecordValidator
from scorestream.topics import ensure_topics

log = logging.getLogger(__name__)


def build_worker_app(
    settings: Settings, options: WorkerOptions, model: LoadedModel | None = None
) -> faust.App:
    """The Faust app with its agents for ``faust.Worker``; ``model`` defaults to ``model_dir``'s."""
    model = model or LoadedModel.load(settings.model_dir)
    validator = RecordValidator(
        model.schema,
        out_of_range=options.out_of_range,  # type: ignore[arg-type]
        max_record_bytes=options.max_record_bytes,
    )
    scorer = BatchScorer(model, validator)
    app = create_app(settings, options)
    pipeline = ScoringPipeline(
        settings,
        scorer,
        DriftStatsPublisher(model, settings),
        drift_every_batch=options.engine != "direct",
    )
    if options.engine == "direct":
        attach_direct_scoring(app, settings, options, pipeline)
    else:
        attach_scoring_agent(app, settings, options, pipeline)
    if options.drift_check_crontab:
        attach_drift_check_crontab(app, settings, model)
    log.info(
        "worker for model %s %s, batches of up to %d", model.name, model.version, options.batch_size
    )
    return app


def run_worker(settings: Settings, options: WorkerOptions, loglevel: str = "info") -> None:
    # The model first: a wrong MODEL_DIR is then reported at once, not after Kafka answers.
    model = LoadedModel.load(settings.model_dir)
    ensure_topics(settings)
    app = build_worker_app(settings, options, model)
    worker = faust.Worker(app, loglevel=loglevel, quiet=True, override_logging=False)
    worker.execute_from_commandline()


def attach_drift_check_crontab(app: faust.App, settings: Settings, model: LoadedModel) -> None:
    """Run the daily drift check from the Faust leader's crontab (one worker of the group)."""
    import asyncio
    from datetime import UTC

    from scorestream.streams.drift_jobs import check_day, connect, deliver_pending, yesterday

    def daily() -> None:
        client = connect(settings)
        check_day(settings, model, yesterday(), client)
        deliver_pending(settings)

    @app.crontab(settings.drift_check_schedule, timezone=UTC, on_leader=True)
    async def daily_drift_check() -> None:
        # The check blocks on ClickHouse and SMTP: keep it off the event loop.
        await asyncio.get_running_loop().run_in_executor(None, daily)
