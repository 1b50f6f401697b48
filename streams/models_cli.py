"""``scorestream models``: the registry of model versions (``MODELS_DIR``) from the shell.

``list`` the versions, ``show`` one, ``promote`` a version to an alias, ``rollback`` an alias,
``register`` a pipeline fitted elsewhere (:mod:`scorestream.streams.model.register`).
Handlers import scikit-learn when they run, so ``scorestream --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from scorestream.cli_support import SubParsers, add_subcommand

#: The alias ``promote`` and ``rollback`` move unless told another.
DEFAULT_ALIAS = "champion"


def register(sub: SubParsers) -> None:
    """Add ``models`` (with ``list``, ``show``, ``promote``, ``rollback``, ``register``)."""
    parser = add_subcommand(
        sub,
        "models",
        _no_action,  # never runs: argparse requires an action
        help="list, show, promote, roll back and register model versions (MODELS_DIR)",
        description="The model registry: MODELS_DIR/<name>/<version>/ (immutable) and aliases "
        "such as champion that name a version; workers and the bridge follow MODEL=name@alias.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    listing = add_subcommand(actions, "list", cmd_list, help="every version, as a table")
    listing.add_argument("name", nargs="?", help="only this model")

    show = add_subcommand(
        actions, "show", cmd_show, help="one version's metadata, schema and metrics (JSON)"
    )
    show.add_argument("reference", help="NAME, NAME@ALIAS or NAME@VERSION (NAME: its champion)")

    promote = add_subcommand(actions, "promote", cmd_promote, help="point an alias at a version")
    promote.add_argument("name", help="the model's name")
    promote.add_argument("version", help="the version the alias will name (see models list)")
    promote.add_argument(
        "--alias", default=DEFAULT_ALIAS, help="the alias to move (default %(default)s)"
    )

    rollback = add_subcommand(
        actions, "rollback", cmd_rollback, help="point an alias back at its previous version"
    )
    rollback.add_argument("name", help="the model's name")
    rollback.add_argument(
        "--alias", default=DEFAULT_ALIAS, help="the alias to move back (default %(default)s)"
    )

    reg = add_subcommand(
        actions,
        "register",
        cmd_register,
        help="add a fitted scikit-learn Pipeline (skops file) as a new version",
        description="Reads the pipeline (skops; joblib/pickle only with --trust-pickle, which "
        "runs code from the file) and reference data (csv, parquet, jsonl); infers the schema, "
        "the reference profile and the kind; records metrics when --target is in the data.",
    )
    reg.add_argument("--name", required=True, help="model name")
    reg.add_argument("--pipeline", type=Path, required=True, help=".skops file")
    reg.add_argument("--reference", type=Path, required=True, help="reference data file")
    reg.add_argument("--target", help="label column of the reference data (gives metrics)")
    reg.add_argument(
        "--task",
        choices=["auto", "binary", "multiclass", "regression"],
        default="auto",
        help="override the kind read from the estimator (default %(default)s)",
    )
    reg.add_argument("--alias", help="point this alias (e.g. champion) at the new version")
    reg.add_argument(
        "--trust-pickle",
        action="store_true",
        help="UNSAFE: allow a .joblib/.pkl/.pickle file; unpickling runs code from the file",
    )
    for each in (parser, listing, show, promote, rollback, reg):
        each.add_argument(
            "--models-dir",
            type=Path,
            default=argparse.SUPPRESS,
            help="the registry directory (default $MODELS_DIR)",
        )


def _no_action(args: argparse.Namespace) -> int:
    return 2


def _registry(args: argparse.Namespace) -> Any:
    from scorestream.settings import Settings
    from scorestream.streams.model.versions import ModelRegistry

    root = getattr(args, "models_dir", None) or Settings().models_dir
    return ModelRegistry(root)


def cmd_list(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from scorestream.exceptions import ModelError
    from scorestream.streams.model.metrics import main_metric

    registry = _registry(args)
    names = [args.name] if args.name else registry.names()
    if args.name and not registry.versions(args.name):
        raise ModelError(f"model {args.name!r} has no versions in {registry.root}")
    table = Table(title=f"models in {registry.root}")
    for column in ("name", "version", "kind", "created", "aliases", "main metric"):
        table.add_column(column)
    for name in names:
        for info in registry.versions(name):
            table.add_row(
                info.name,
                info.version,
                info.kind,
                info.created_at.replace("T", " ").removesuffix("+00:00"),
                ", ".join(info.aliases),
                main_metric(info.kind, info.metrics),
            )
    Console(width=120).print(table)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    registry = _registry(args)
    resolved = registry.resolve(args.reference)
    metadata = json.loads((resolved.path / "metadata.json").read_text(encoding="utf-8"))
    schema = json.loads((resolved.path / "schema.json").read_text(encoding="utf-8"))
    aliases = sorted(a for a, v in registry.aliases(resolved.name).items() if v == resolved.version)
    document = {
        "name": resolved.name,
        "version": resolved.version,
        "path": str(resolved.path),
        "aliases": aliases,
        "kind": metadata.get("task", "binary"),
        "metrics": metadata.get("metrics", {}),
        "metadata": metadata,
        "schema": schema,
    }
    print(json.dumps(document, indent=2, default=str))
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    registry = _registry(args)
    previous = registry.set_alias(args.name, args.alias, args.version, action="promote")
    was = f" (was {previous})" if previous else ""
    print(f"{args.name}@{args.alias} -> {args.version}{was}")
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    registry = _registry(args)
    current = registry.aliases(args.name).get(args.alias)
    version = registry.rollback(args.name, args.alias)
    print(f"{args.name}@{args.alias} -> {version} (was {current})")
    return 0


def cmd_register(args: argparse.Namespace) -> int:
    from scorestream.streams.model.register import register_pipeline

    registry = _registry(args)
    report = register_pipeline(
        args.pipeline,
        args.reference,
        registry.root,
        name=args.name,
        target=args.target,
        task=args.task,
        alias=args.alias,
        trust_pickle=args.trust_pickle,
    )
    print(report.summary())
    return 0


def register_trained(model_dir: Path, name: str, alias: str | None, models_dir: Path | None) -> str:
    """Add a model ``scorestream train`` wrote to the registry; returns ``name@version``."""
    from scorestream.settings import Settings
    from scorestream.streams.model.versions import ModelRegistry

    registry = ModelRegistry(models_dir or Settings().models_dir)
    resolved = registry.add(model_dir, name=name)
    if alias is not None:
        registry.set_alias(resolved.name, alias, resolved.version)
    return f"{resolved.name}@{resolved.version} -> {resolved.path}"
