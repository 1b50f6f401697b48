"""The thresholds file: read over the defaults, every mistake named in one line, exit 2."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from scorestream import child_process
from scorestream.contract.thresholds import (
    THRESHOLDS_VARIABLE,
    PerformanceThresholds,
    Thresholds,
    load_thresholds,
    to_toml,
)
from scorestream.exceptions import ConfigurationError
from scorestream.settings import Settings
from scorestream.streams.drift.decision import DriftThresholds


def write(directory: Path, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "thresholds.toml"
    path.write_text(text)
    return path


def test_no_file_is_the_defaults() -> None:
    assert load_thresholds(None) == load_thresholds("") == Thresholds()
    assert Thresholds() == Thresholds(DriftThresholds(), PerformanceThresholds())


def test_a_file_overrides_only_what_it_names(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "[drift]\npsi_warn = 0.12\npsi_alert = 0.3\nalpha = 0.001\n"
        "[performance]\nmin_labels = 500\nz_alert = 3\n",
    )
    got = load_thresholds(path)
    assert got.drift == dataclasses.replace(
        DriftThresholds(), psi_warn=0.12, psi_alert=0.3, alpha=0.001
    )
    assert got.performance == PerformanceThresholds(min_labels=500, z_alert=3.0)
    assert isinstance(got.performance.z_alert, float)  # an integer in TOML, a float here


def test_the_printed_template_reads_back_as_the_same_thresholds(tmp_path: Path) -> None:
    custom = Thresholds(
        dataclasses.replace(DriftThresholds(), js_warn=0.05, js_alert=0.2),
        PerformanceThresholds(min_labels=50, z_alert=2.576, z_warn=1.96),
    )
    text = to_toml(custom)
    assert load_thresholds(write(tmp_path, text)) == custom
    # Every key is in the template, so that it shows what can be set.
    for section in (custom.drift, custom.performance):
        for field in dataclasses.fields(section):
            assert f"\n{field.name} = " in text


MISTAKES = [
    ("unknown-table", "[drfit]\npsi_alert = 0.3\n", ["unknown table 'drfit'", "[drift]"]),
    ("typo", "[drift]\npsi_alrt = 0.3\n", ["[drift]", "unknown key 'psi_alrt'", "psi_alert?"]),
    ("unknown-key", "[performance]\nlabels = 3\n", ["unknown key 'labels'", "min_labels"]),
    ("text", '[drift]\npsi_alert = "high"\n', ["psi_alert must be a finite number", "'high'"]),
    ("bool", "[drift]\nalpha = true\n", ["alpha must be a finite number"]),
    ("nan", "[drift]\njs_alert = nan\n", ["js_alert must be a finite number"]),
    ("fraction", "[performance]\nmin_labels = 2.5\n", ["min_labels must be a whole number"]),
    ("order", "[drift]\npsi_alert = 0.05\n", ["[drift]", "psi_warn <= psi_alert"]),
    ("z-order", "[performance]\nz_warn = 2.5\n", ["[performance]", "z_warn <= z_alert"]),
    ("alpha", "[drift]\nalpha = 1.5\n", ["alpha must be in (0, 1)"]),
    ("not-a-table", "drift = 0.3\n", ["drift must be a table"]),
    ("not-toml", "[drift\n", ["not valid TOML", "line 1"]),
]


@pytest.mark.parametrize(
    ("text", "fragments"),
    [pytest.param(text, fragments, id=name) for name, text, fragments in MISTAKES],
)
def test_a_mistake_is_named_with_the_file(tmp_path: Path, text: str, fragments: list[str]) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigurationError) as caught:
        load_thresholds(path)
    message = str(caught.value)
    assert message.startswith(f"thresholds file {path}: ")
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"absent\.toml: No such file"):
        load_thresholds(tmp_path / "absent.toml")


def test_the_settings_read_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings.model_fields["thresholds_file"].alias == THRESHOLDS_VARIABLE
    monkeypatch.setenv(THRESHOLDS_VARIABLE, str(write(tmp_path, "[drift]\njs_alert = 0.2\n")))
    assert Settings().thresholds.drift.js_alert == 0.2
    monkeypatch.setenv(THRESHOLDS_VARIABLE, "")
    assert Settings().thresholds == Thresholds()


@pytest.mark.parametrize("command", [["sink"], ["drift-check"], ["thresholds"]])
def test_a_bad_file_stops_a_process_at_start_with_exit_2(
    tmp_path: Path, command: list[str]
) -> None:
    path = write(tmp_path, "[drift]\npsi_alert = 0.05\n")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "CLICKHOUSE_"))},
        # Nothing listens there: the file must stop the process before it connects.
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
        "CLICKHOUSE_URL": "clickhouse://127.0.0.1:1/x",
        THRESHOLDS_VARIABLE: str(path),
    }
    done = child_process.run_cli(command, env, timeout_s=60, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"scorestream {command[0]}: error: ")
    assert f"thresholds file {path}: [drift]: need 0 <= psi_warn <= psi_alert" in line


def test_thresholds_prints_the_values_in_force(tmp_path: Path) -> None:
    path = write(tmp_path, "[performance]\nmin_labels = 750\n")
    env = {**os.environ, THRESHOLDS_VARIABLE: str(path)}
    done = child_process.run_cli(["thresholds"], env, timeout_s=60, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"# scorestream thresholds: {path} over the defaults\n")
    printed = load_thresholds(write(tmp_path / "again", done.stdout))
    assert printed == Thresholds(performance=PerformanceThresholds(min_labels=750))
