"""The stream subcommands of ``scorestream``: ``train`` a model, run the scoring ``worker``.

Handlers import scikit-learn and Faust when they run, so ``scorestream --help`` stays fast.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from scorestream.cli_support import (
    SubParsers,
    add_membership_options,
    add_subcommand,
    option_defaults,
    options_from_args,
)


def register(sub: SubParsers) -> None:
    """Add ``train`` and ``worker`` to the ``scorestream`` subcommands."""
    _register_train(sub)
    _register_worker(sub)


# --- train ---------------------------------------------------------------------------------
def _train_defaults() -> Mapping[str, Any]:
    from scorestream.streams.model.train import train_from_file

    return option_defaults(train_from_file)


def cmd_train(args: argparse.Namespace) -> int:
    import tempfile

    from rich.console import Console

    from scorestream.exceptions import ConfigurationError
    from scorestream.streams.model.train import train_from_file

    if args.model_dir is None and not args.register:
        raise ConfigurationError("give --model-dir, or --register to write into MODELS_DIR")
    if args.alias is not None and not args.register:
        raise ConfigurationError("--alias needs --register")
    console = Console(stderr=True)
    with tempfile.TemporaryDirectory(prefix="scorestream-train-") as scratch:
        model_dir = args.model_dir or Path(scratch) / "model"
        with console.status(f"training on {args.data} …"):
            report = train_from_file(
                args.data,
                args.target,
                model_dir,
                name=args.name,
                task=args.task,
                classifier=args.classifier,
                regressor=args.regressor,
                seed=args.seed,
            )
        console.print(report.summary())
        if args.register:
            from scorestream.streams.models_cli import register_trained

            print(register_trained(model_dir, args.name, args.alias, args.models_dir))
        else:
            print(model_dir)
    return 0


def _register_train(sub: SubParsers) -> None:
    parser = add_subcommand(
        sub,
        "train",
        cmd_train,
        defaults=_train_defaults,
        help="fit a scikit-learn pipeline and write a versioned model directory",
        description="Reads csv, parquet or jsonl; writes pipeline.skops, schema.json, "
        "reference_profile.json and metadata.json into --model-dir (and/or, with --register, "
        "a new version in MODELS_DIR).",
    )
    parser.add_argument("--data", type=Path, required=True, help="training data file")
    parser.add_argument("--target", required=True, help="target column")
    parser.add_argument("--model-dir", type=Path, help="output directory")
    parser.add_argument("--name", help="model name (default %(default)s)")
    parser.add_argument(
        "--task",
        choices=["auto", "binary", "multiclass", "regression"],
        help="auto: two target values binary, up to 50 classes multiclass, numbers "
        "regression (default %(default)s)",
    )
    parser.add_argument(
        "--classifier",
        choices=["logistic", "hgb"],
        help="estimator of binary and multiclass models: logistic regression or histogram "
        "gradient boosting (default %(default)s)",
    )
    parser.add_argument(
        "--regressor",
        choices=["ridge", "hgb"],
        help="estimator of regression models: ridge or histogram gradient boosting "
        "(default %(default)s)",
    )
    parser.add_argument(
        "--seed", type=int, help="random seed of the split and the model (default %(default)s)"
    )
    parser.add_argument(
        "--register", action="store_true", help="add the model to MODELS_DIR as a new version"
    )
    parser.add_argument("--alias", help="with --register: point this alias (e.g. champion) at it")
    parser.add_argument(
        "--models-dir",
        type=Path,
        help="the registry directory, with --register (default $MODELS_DIR)",
    )


# --- worker --------------------------------------------------------------------------------
#: What each ``--engine`` is: its help text, and word for word the start of its entry in the
#: README's list under "The scoring worker" (tests/scorestream/test_cli_help.py compares).
ENGINES = {
    "agent": "a Faust agent scoring and publishing each batch that a task polls with getmany; "
    "offsets committed together with the drift counts",
    "faust": "an agent reading Faust's own stream with take_events; slower, and one drift "
    "partial row per batch",
}


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def _worker_defaults() -> Mapping[str, Any]:
    from scorestream.streams.app import WorkerOptions

    return option_defaults(WorkerOptions)


def cmd_worker(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from scorestream.consumer_groups import FAUST_GROUP, scoring_group
    from scorestream.membership import claim_instance_id
    from scorestream.settings import Settings
    from scorestream.streams.app import WorkerOptions
    from scorestream.streams.worker import run_worker

    settings = Settings()
    # Precedence: --model, --model-dir, $MODEL, $MODEL_DIR.
    if args.model is not None:
        settings = settings.model_copy(update={"model": args.model})
    elif args.model_dir is not None:
        settings = settings.model_copy(update={"model_dir": args.model_dir, "model": ""})
    options = options_from_args(WorkerOptions, args)
    if options.instance_id is None:
        group = scoring_group(settings.topic_prefix)
        if options.engine == "faust":
            group = f"{settings.topic_prefix}{FAUST_GROUP}"
        options = replace(options, instance_id=claim_instance_id(group))
    run_worker(
        settings,
        options,
        loglevel="debug" if args.verbose else "info",
        challengers=args.challenger or (),
    )
    return 0


def _register_worker(sub: SubParsers) -> None:
    # Option dests are WorkerOptions' field names, so the handler builds it from them.
    parser = add_subcommand(
        sub,
        "worker",
        cmd_worker,
        defaults=_worker_defaults,
        help="run the Faust scoring worker (records -> scores, records.rejected)",
        description="Joins the worker consumer group; start N of them to share partitions.",
    )
    model = parser.add_mutually_exclusive_group()
    model.add_argument(
        "--model",
        metavar="REF",
        help="what to score with, followed live: NAME, NAME@ALIAS or NAME@VERSION in "
        "$MODELS_DIR, models:/NAME@ALIAS (MLflow) or a model directory (default $MODEL, "
        "else $MODEL_DIR)",
    )
    model.add_argument(
        "--model-dir", type=Path, help="a model directory (default $MODEL_DIR, unless $MODEL)"
    )
    parser.add_argument(
        "--challenger",
        action="append",
        metavar="REF",
        help="a model scored in shadow on the same records, to scores.challenger (a "
        "reference like --model, followed live too; repeat for several)",
    )
    parser.add_argument(
        "--model-poll-interval",
        dest="model_poll_interval_s",
        type=_non_negative_float,
        metavar="SECONDS",
        help="resolve the model references this often and swap in a new version between "
        "two batches (0: never; default %(default)s)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        help="records per batch (1 = per-record scoring; default %(default)s)",
    )
    parser.add_argument(
        "--batch-within",
        dest="batch_within_s",
        type=float,
        metavar="SECONDS",
        help="seconds to wait for a batch to fill (default %(default)s)",
    )
    parser.add_argument(
        "--out-of-range",
        choices=["reject", "clip"],
        help="a numeric value beyond the schema's allowed range: reject the record, or clip "
        "the value to the range (default %(default)s)",
    )
    parser.add_argument(
        "--max-record-bytes",
        type=int,
        help="larger payloads are rejected as too_large before decoding (default %(default)s)",
    )
    parser.add_argument(
        "--engine",
        choices=list(ENGINES),
        help="; ".join(f"{name}: {what}" for name, what in ENGINES.items())
        + " (default %(default)s; records/s of both in the README, Benchmarks)",
    )
    parser.add_argument(
        "--commit-interval",
        dest="drift_flush_s",
        type=float,
        metavar="SECONDS",
        help="agent engine: publish drift counts and commit offsets this often (default "
        "%(default)s; a crash re-scores at most this much input)",
    )
    add_membership_options(parser, "worker")
