"""Write the scorestream Grafana dashboards as JSON.

Run ``python -m scorestream.grafana.build`` after changing a panel: it rewrites
``grafana/provisioning/dashboards/*.json``, which Grafana loads through the file provider in
``provider.yaml``. ``--check`` only reports whether the checked-in JSON is stale (exit 1),
and the test suite fails in the same case, so the JSON never drifts from the builders in
:mod:`scorestream.grafana.dashboards`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from scorestream.grafana.dashboards import (
    drift_overview,
    feature_detail,
    model_comparison,
    model_performance,
    pipeline_health,
    scoring_operations,
)

# resolve(): the package is reached through the scorestream/grafana symlink, and the files
# belong in the repository's grafana/ folder that docker-compose mounts.
OUT_DIR = Path(__file__).resolve().parent / "provisioning" / "dashboards"

#: Every dashboard's builder, by file name (the order of the checked-in files' creation).
BUILDERS: dict[str, Callable[[], dict[str, Any]]] = {
    module.FILE: module.build
    for module in (
        drift_overview,
        feature_detail,
        scoring_operations,
        model_comparison,
        model_performance,
    )
} | {
    # On the Prometheus datasource; the dashboards above read ClickHouse.
    pipeline_health.FILE: pipeline_health.build,
}


def build_all() -> dict[str, dict[str, Any]]:
    """Every dashboard, by file name."""
    return {name: build() for name, build in BUILDERS.items()}


def render(dashboard: dict[str, Any]) -> str:
    """The checked-in text of a dashboard: stable key order, one trailing newline."""
    return json.dumps(dashboard, indent=2, ensure_ascii=False) + "\n"


def stale_files(out_dir: Path = OUT_DIR) -> list[str]:
    """Dashboard files that differ from what the builders make (or are missing/extra)."""
    built = build_all()
    stale = [
        name
        for name, dash in built.items()
        if not (out_dir / name).exists() or (out_dir / name).read_text() != render(dash)
    ]
    extra = sorted(p.name for p in out_dir.glob("*.json") if p.name not in built)
    return stale + extra


def write_all(out_dir: Path = OUT_DIR) -> list[Path]:
    """Write every dashboard, removing JSON files that no builder makes any more."""
    out_dir.mkdir(parents=True, exist_ok=True)
    built = build_all()
    for old in out_dir.glob("*.json"):
        if old.name not in built:
            old.unlink()
    written = []
    for name, dash in built.items():
        path = out_dir / name
        path.write_text(render(dash))
        written.append(path)
    return written


def main(argv: Iterable[str] | None = None) -> int:
    """Write the dashboards, or with ``--check`` report stale ones (exit status 1)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit 1 if the checked-in JSON differs from the generated",
    )
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output directory")
    args = parser.parse_args(None if argv is None else list(argv))
    if args.check:
        stale = stale_files(args.out)
        for name in stale:
            print(f"stale: {args.out / name} (run python -m scorestream.grafana.build)")
        return 1 if stale else 0
    for path in write_all(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
