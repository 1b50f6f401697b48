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
