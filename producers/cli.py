"""``scorestream bridge``: serve the HTTP ingest bridge with uvicorn."""

from __future__ import annotations

import argparse
from pathlib import Path

from scorestream.producers.bridge.options import BridgeOptions

SubParsers = "argparse._SubParsersAction[argparse.ArgumentParser]"

DEFAULTS = BridgeOptions()


def options_from_args(args: argparse.Namespace) -> BridgeOptions:
    """The bridge options given on the command line."""
    return BridgeOptions(
        max_body_bytes=args.max_body_bytes,
        max_records=args.max_records,
        max_record_bytes=args.max_record_bytes,
        out_of_range=args.out_of_range,
        score_timeout_s=args.score_timeout,
        send_timeout_s=args.send_timeout,
        retry_after_s=args.retry_after,
        linger_ms=args.linger_ms,
        allow_anonymous=args.allow_anonymous,
    )


def cmd_bridge(args: argparse.Namespace) -> int:
    import uvicorn

    from scorestream.producers.bridge import create_app
    from scorestream.producers.bridge.logs import quiet_repeated_kafka_errors
    from scorestream.settings import Settings

    settings = Settings()
    if args.model_dir is not None:
        settings = settings.model_copy(update={"model_dir": args.model_dir})
    try:
        app = create_app(settings, options_from_args(args))
    except ValueError as error:  # bad limits, or no API keys: refuse to start open
        raise SystemExit(f"scorestream bridge: {error}") from None
    quiet_repeated_kafka_errors()
    # loop/http "auto" pick uvloop and httptools when installed, asyncio and h11 otherwise.
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_config=None,
        access_log=args.access_log,
        server_header=False,
        timeout_graceful_shutdown=10,
    )
    return 0


def register_bridge(sub: SubParsers) -> None:  # type: ignore[valid-type]
    parser = sub.add_parser(  # type: ignore[attr-defined]
        "bridge",
        help="serve the HTTP ingest bridge (POST /v1/records, /v1/score)",
        description="JSON records over HTTP onto the records topic, validated against the "
        "model's feature schema. API keys from INGEST_API_KEYS (comma-separated); Kafka from "
        "KAFKA_BOOTSTRAP_SERVERS; schema from --model-dir or MODEL_DIR. OpenAPI at "
        "/openapi.json. Scale out by running several bridges behind a load balancer.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    parser.add_argument(
        "--model-dir", type=Path, help="model directory with schema.json (default $MODEL_DIR)"
    )
    parser.add_argument(
        "--max-body-bytes",
        type=int,
        default=DEFAULTS.max_body_bytes,
        help="larger bodies get 413 (default %(default)s)",
    )
    parser.add_argument(
        "--max-records",
        type=int,
        default=DEFAULTS.max_records,
        help="most records per POST /v1/records (default %(default)s)",
    )
    parser.add_argument(
        "--max-record-bytes",
        type=int,
        default=DEFAULTS.max_record_bytes,
        help="largest record; same as the worker's (default %(default)s)",
    )
    parser.add_argument(
        "--out-of-range",
        choices=["reject", "clip"],
        default=DEFAULTS.out_of_range,
        help="same as the worker's",
    )
    parser.add_argument(
        "--score-timeout",
        type=float,
        default=DEFAULTS.score_timeout_s,
        help="seconds POST /v1/score waits before 504 (default %(default)s)",
    )
    parser.add_argument(
        "--send-timeout",
        type=float,
        default=DEFAULTS.send_timeout_s,
        help="seconds to wait for Kafka before 503 (default %(default)s)",
    )
    parser.add_argument(
        "--retry-after",
        type=int,
        default=DEFAULTS.retry_after_s,
        help="Retry-After seconds of 503 answers (default %(default)s)",
    )
    parser.add_argument(
        "--linger-ms",
        type=int,
        default=DEFAULTS.linger_ms,
        help="producer batching delay (default %(default)s)",
    )
    parser.add_argument(
        "--allow-anonymous",
        action="store_true",
        help="serve without API keys when INGEST_API_KEYS is empty",
    )
    parser.add_argument("--access-log", action="store_true", help="log every request")
    parser.set_defaults(handler=cmd_bridge)
