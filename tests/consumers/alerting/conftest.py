"""The pipeline's model and worker fixtures: the alert tests score real records first."""

from tests.streams.conftest import model_dir, start_worker  # noqa: F401
