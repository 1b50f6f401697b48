"""The trained demo model of the pipeline tests, for the drift check's tests."""

from tests.streams.conftest import model_dir  # noqa: F401
