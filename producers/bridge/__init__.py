"""The HTTP ingest bridge: FastAPI in front of the ``records`` topic (see :mod:`.app`)."""

from scorestream.producers.bridge.app import create_app
from scorestream.producers.bridge.options import BridgeOptions

__all__ = ["BridgeOptions", "create_app"]
