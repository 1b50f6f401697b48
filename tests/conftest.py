"""The tests' shared fixtures, available to every test module from here.

They live in ``tests/fixtures/``, one module per area, registered below as plugins; this is
the only ``conftest.py``. Plain helpers (``API_KEY``, ``free_port``, ``ChdbExecutor``, the
factory types) are imported from those modules, never fixtures.

- ``tests.fixtures.services``: the local stack (``stack``), per-test ``settings`` (shared by
  a module: ``module_settings``), ``settings_env``, ``ch_client``, ``maildir``, ``unique_name``;
- ``tests.fixtures.chdb_engine``: ``chdb_executor``, ClickHouse in process;
- ``tests.fixtures.worker``: the demo model (``model_dir``) and ``start_worker``;
- ``tests.fixtures.bridge``: ``start_bridge``;
- ``tests.fixtures.mlflow_server``: ``mlflow_server`` (a real MLflow registry), ``mlflow_registry``;
- ``tests.fixtures.chromium``: ``chromium`` (headless, offline by default: screenshots, DOM);
- ``tests.fixtures.newman``: ``newman`` (Postman's runner, from the project's ``node_modules``).
- ``tests.fixtures.private_clickhouse``: ``private_clickhouse``, a server a test may stop.
- ``tests.fixtures.private_kafka``: ``private_kafka``, a broker a test may kill.
"""

from __future__ import annotations

import pytest

pytest_plugins = [
    "tests.fixtures.services",
    "tests.fixtures.chdb_engine",
    "tests.fixtures.worker",
    "tests.fixtures.bridge",
    "tests.fixtures.mlflow_server",
    "tests.fixtures.chromium",
    "tests.fixtures.newman",
    "tests.fixtures.private_clickhouse",
    "tests.fixtures.private_kafka",
]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Tests that take the stack fixture are integration tests, whatever their module.
    for item in items:
        if {"stack", "settings", "ch_client"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)
