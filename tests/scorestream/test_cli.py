"""The ``scorestream`` command line as a new user meets it: mistakes are one line, exit 2.

Every test runs the real CLI in a subprocess, with the Kafka and ClickHouse addresses
pointed at closed ports: each mistake must be caught before anything connects, so none of
these tests needs the local stack.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from scorestream import child_process
from scorestream.cli import build_parser
from scorestream.cli_support import option_defaults

SUBCOMMANDS = [
    "stack",
    "train",
    "models",
    "worker",
    "produce",
    "bridge",
    "sink",
    "drift-check",
    "thresholds",
    "demo",
]

#: Nothing listens here, so a command that connects fails (or hangs) instead of passing.
NOBODY = "127.0.0.1:1"


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SCORESTREAM_", "KAFKA_", "CLICKHOUSE_", "MODEL_DIR", "SMTP_"))
        and key != "INGEST_API_KEYS"
    }
    base.update(KAFKA_BOOTSTRAP_SERVERS=NOBODY, CLICKHOUSE_URL=f"clickhouse://{NOBODY}/x")
    return child_process.run_cli(list(args), {**base, **(env or {})}, timeout_s=120, cwd=cwd)


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    lines = result.stderr.splitlines()
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("scorestream"), lines[0]
    assert ": error: " in lines[0]
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


@pytest.fixture()
def files(tmp_path: Path) -> Path:
    (tmp_path / "records.txt").write_text("id,x\n1,2\n")
    (tmp_path / "not-a-model").mkdir()
    return tmp_path


MISTAKES: list[tuple[str, list[str], dict[str, str], list[str]]] = [
    (
        "train-missing-data",
        ["train", "--data", "missing.csv", "--target", "y", "--model-dir", "m"],
        {},
        ["scorestream train:", "missing.csv", "no such file"],
    ),
    ("train-missing-options", ["train"], {}, ["required", "--data"]),
    (
        "produce-unknown-file-type",
        ["produce", "--file", "records.txt"],
        {},
        ["scorestream produce:", "unsupported file type '.txt'"],
    ),
    ("produce-missing-file", ["produce", "--file", "missing.csv"], {}, ["no such file"]),
    (
        "produce-bad-drift",
        ["produce", "--synthetic", "10", "--drift", "bad"],
        {},
        ["bad drift spec 'bad'"],
    ),
    (
        "produce-drift-on-a-file",
        ["produce", "--file", "missing.csv", "--drift", "income=shift:1"],
        {},
        ["--synthetic data only"],
    ),
    ("worker-bad-engine", ["worker", "--engine", "nope"], {}, ["--engine", "'nope'"]),
    ("worker-bad-number", ["worker", "--batch-size", "many"], {}, ["--batch-size"]),
    ("worker-missing-model", ["worker", "--model-dir", "absent"], {}, ["absent", "does not exist"]),
    (
        "worker-default-model-missing",
        ["worker"],
        {},
        ["models/current", "does not exist"],
    ),
    (
        "worker-unknown-model-reference",
        ["worker", "--model", "loans@champion"],
        {"MODELS_DIR": "registry"},
        ["scorestream worker:", "loans", "champion"],
    ),
    ("worker-model-twice", ["worker", "--model", "a", "--model-dir", "b"], {}, ["not allowed"]),
    ("worker-negative-poll", ["worker", "--model-poll-interval", "-1"], {}, ["must be 0 or more"]),
    (
        "worker-not-a-model",
        ["worker", "--model-dir", "not-a-model"],
        {},
        ["not-a-model", "incomplete"],
    ),
    (
        "bridge-missing-model",
        ["bridge", "--model-dir", "absent", "--allow-anonymous"],
        {},
        ["scorestream bridge:", "absent/schema.json"],
    ),
    (
        "bridge-bad-limit",
        ["bridge", "--model-dir", "absent", "--max-records", "0"],
        {},
        ["size limits must be positive"],
    ),
    (
        "drift-check-missing-model",
        ["drift-check", "--model-dir", "absent"],
        {},
        ["scorestream drift-check:", "does not exist"],
    ),
    ("drift-check-bad-date", ["drift-check", "--date", "2026-13-01"], {}, ["YYYY-MM-DD"]),
    ("sink-bad-batch-size", ["sink", "--batch-size", "0"], {}, ["at least 1"]),
    (
        "bad-clickhouse-url",
        ["sink"],
        {"CLICKHOUSE_URL": "http://writer:hunter2@db:8123/scoring"},
        ["scorestream sink:", "CLICKHOUSE_URL must start with clickhouse://"],
    ),
    (
        "bad-clickhouse-port",
        ["drift-check", "--model-dir", "absent"],
        {"CLICKHOUSE_URL": "clickhouse://writer:hunter2@db:port/scoring"},
        ["CLICKHOUSE_URL", "port"],
    ),
    (
        "bad-kafka-scheme",
        ["worker"],
        {"KAFKA_BOOTSTRAP_SERVERS": "kafka://broker:9092"},
        ["KAFKA_BOOTSTRAP_SERVERS", "without a scheme"],
    ),
    (
        "bad-kafka-port",
        ["produce", "--synthetic", "10"],
        {"KAFKA_BOOTSTRAP_SERVERS": "broker:90x2"},
        ["KAFKA_BOOTSTRAP_SERVERS", "'broker:90x2'"],
    ),
    ("bad-smtp-port", ["sink"], {"SMTP_PORT": "twenty-five"}, ["SMTP_PORT"]),
    ("unknown-subcommand", ["scroe"], {}, ["invalid choice: 'scroe'"]),
    ("unknown-flag", ["sink", "--bach-size", "5"], {}, ["unrecognized arguments"]),
    ("no-subcommand", [], {}, ["required: COMMAND"]),
]


@pytest.mark.parametrize(
    ("args", "env", "fragments"),
    [pytest.param(args, env, fragments, id=name) for name, args, env, fragments in MISTAKES],
)
def test_a_mistake_is_one_line_on_stderr_and_exit_2(
    files: Path, args: list[str], env: dict[str, str], fragments: list[str]
) -> None:
    line = assert_one_line_error(run_cli(*args, cwd=files, env=env), *fragments)
    assert "hunter2" not in line  # a URL's password never reaches the message


def test_debug_shows_the_traceback_of_a_mistake(tmp_path: Path) -> None:
    result = run_cli(
        "produce",
        "--synthetic",
        "1",
        "--drift",
        "bad",
        cwd=tmp_path,
        env={"SCORESTREAM_DEBUG": "1"},
    )
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "ConfigurationError" in result.stderr


def test_version(tmp_path: Path) -> None:
    result = run_cli("--version", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("scorestream ")


@pytest.mark.parametrize("command", [None, *SUBCOMMANDS])
def test_help_of_every_subcommand_exits_0(tmp_path: Path, command: str | None) -> None:
    result = run_cli(*([command] if command else []), "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: scorestream")
    # The defaults are read lazily from the options classes; they must reach the help.
    assert "==SUPPRESS==" not in result.stdout and "(default None)" not in result.stdout


#: What ``scorestream --help`` must not import: each costs 0.1 to 1 s on a busy machine.
HEAVY = [
    "pandas",
    "numpy",
    "sklearn",
    "scipy",
    "faust",
    "aiokafka",
    "kafka",
    "clickhouse_driver",
    "fastapi",
    "pydantic",
    "pydantic_settings",
    "rich",
]

#: Run in a fresh interpreter: the modules loaded by then, outside the standard library.
IMPORTED_BY = """
import json, sys
{statement}
loaded = {{name.split(".")[0] for name in sys.modules}}
site_hooks = {{"__main__", "_distutils_hack"}}
print(json.dumps(sorted(
    name for name in loaded - set(sys.stdlib_module_names) - site_hooks
    if not name.startswith("__editable__")
)))
"""

RUN_MAIN = "import contextlib\nfrom scorestream.cli import main\n" + (
    "with contextlib.suppress(SystemExit):\n    main({argv!r})"
)


@pytest.mark.parametrize(
    "statement",
    [
        "import scorestream.cli",
        RUN_MAIN.format(argv=["--help"]),
        RUN_MAIN.format(argv=["--version"]),
    ],
    ids=["import", "--help", "--version"],
)
def test_top_level_help_imports_nothing_but_the_standard_library(statement: str) -> None:
    # The property behind a fast `scorestream --help` (its timing is in the README, measured
    # with `python -X importtime`): the areas' cli modules import their libraries lazily.
    result = subprocess.run(
        [sys.executable, "-c", IMPORTED_BY.format(statement=statement)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert not set(HEAVY) & set(loaded)
    assert loaded == ["scorestream"]


# --- defaults ------------------------------------------------------------------------------
def parsed(*args: str) -> dict[str, Any]:
    return vars(build_parser().parse_args(list(args)))


def assert_defaults(namespace: dict[str, Any], source: Any, expected_names: set[str]) -> None:
    defaults = option_defaults(source)
    shared = set(defaults) & set(namespace)
    assert expected_names <= shared, expected_names - shared
    assert {name: namespace[name] for name in shared} == {name: defaults[name] for name in shared}


def test_worker_defaults_are_worker_options() -> None:
    from scorestream.streams.app import WorkerOptions

    assert_defaults(parsed("worker"), WorkerOptions, set(option_defaults(WorkerOptions)))


def test_produce_defaults_are_produce_options() -> None:
    from scorestream.producers.producer import ProduceOptions

    names = {"rate", "seed", "start", "interval_ms", "drift_from"}
    assert_defaults(parsed("produce", "--synthetic", "1"), ProduceOptions, names)


def test_bridge_defaults_are_bridge_options() -> None:
    from scorestream.producers.bridge.options import BridgeOptions

    assert_defaults(parsed("bridge"), BridgeOptions, set(option_defaults(BridgeOptions)))


def test_sink_defaults_are_sink_options() -> None:
    from scorestream.consumers.sink import SinkOptions

    names = {"batch_size", "flush_interval_s", "once", "group_id", "instance_id", "backoff_max_s"}
    names |= {"session_timeout_s"}
    assert_defaults(parsed("sink"), SinkOptions, names)


def test_drift_check_defaults_are_the_schedulers() -> None:
    from scorestream.consumers.drift_check.schedule import DriftCheckScheduler

    assert_defaults(
        parsed("drift-check"),
        DriftCheckScheduler,
        {"rolling_every_s", "catch_up_days", "comparison_tolerance"},
    )


def test_train_defaults_are_train_from_files() -> None:
    from scorestream.streams.model.train import train_from_file

    namespace = parsed("train", "--data", "d.csv", "--target", "y", "--model-dir", "m")
    assert_defaults(namespace, train_from_file, {"name", "classifier", "seed"})


def test_demo_defaults_are_demo_options() -> None:
    from scorestream.demo import DemoOptions

    namespace = parsed("demo")
    assert_defaults(namespace, DemoOptions, {"records_per_day", "drift", "model_dir"})


def test_stack_flags_leave_the_environment_in_charge() -> None:
    # StackConfig reads SCORESTREAM_* itself: a default here would override it.
    namespace = parsed("stack", "status")
    names = ("kafka_port", "clickhouse_port", "smtp_port", "kafka_brokers")
    assert [namespace[name] for name in names] == [None, None, None, None]
    assert namespace["state_dir"] is None
