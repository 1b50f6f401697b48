"""Layering: ``streams/`` (scoring, drift mathematics, the worker's counting) stands alone.

The consumer side (ClickHouse, the drift check, alert e-mail) and the producer side build on
``streams/``, never the other way round, so the worker can be built, tested and deployed
without them. Checked on the source with ``ast``, so an import inside a function counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STREAMS = ROOT / "streams"
FORBIDDEN = ("scorestream.consumers", "scorestream.producers", "consumers", "producers")


def imported_modules(source: str, package: str) -> list[tuple[int, str]]:
    """Every module ``source`` imports (with its line), relative to ``package`` if relative.

    ``from a import b`` yields both ``a`` and ``a.b``: ``b`` may be a module, as in
    ``from scorestream import consumers``.
    """
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                parts = package.split(".")
                base = parts[: len(parts) - (node.level - 1)]
                module = ".".join([*base, module] if module else base)
            found.append((node.lineno, module))
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


def forbidden(module: str) -> bool:
    return any(module == name or module.startswith(f"{name}.") for name in FORBIDDEN)


def _package_of(path: Path) -> str:
    """The package a file's relative imports start from (streams/ is scorestream.streams)."""
    directory = path.parent.relative_to(ROOT).parts
    return ".".join(("scorestream", *directory))


STREAM_MODULES = sorted(STREAMS.rglob("*.py"))


def test_streams_modules_are_found() -> None:
    assert STREAMS / "agents.py" in STREAM_MODULES
    assert STREAMS / "drift" / "accumulator.py" in STREAM_MODULES


@pytest.mark.parametrize("path", STREAM_MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_streams_imports_neither_consumers_nor_producers(path: Path) -> None:
    imports = imported_modules(path.read_text(), _package_of(path))
    bad = [f"line {line}: {module}" for line, module in imports if forbidden(module)]
    assert not bad, f"{path.relative_to(ROOT)} imports the consumer or producer side: {bad}"


def test_every_kind_of_import_is_seen() -> None:
    # The guard itself: absolute, from-, package-level, relative and nested imports.
    source = (
        "import scorestream.consumers.clickhouse\n"
        "from scorestream import producers\n"
        "from ..consumers.queries import count_scores\n"
        "from .drift import MINUTE_MS\n"
        "def f():\n"
        "    import consumers.cli\n"
    )
    imports = imported_modules(source, "scorestream.streams")
    assert [module for _, module in imports if forbidden(module)] == [
        "scorestream.consumers.clickhouse",
        "scorestream.producers",
        "scorestream.consumers.queries",
        "scorestream.consumers.queries.count_scores",
        "consumers.cli",
    ]
    assert (4, "scorestream.streams.drift") in imports
