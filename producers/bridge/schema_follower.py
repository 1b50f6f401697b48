"""The bridge's feature schema follows the model reference (``MODEL=name@alias``).

Every few seconds :class:`SchemaFollower` resolves the reference again
(:func:`scorestream.streams.model.source.open_source`); when it names another version, that
version's ``schema.json`` is read in a thread and handed to the app on the event loop, where
the validator and the OpenAPI record model are swapped between two validation flushes, so
a request is validated with one schema or the other, never a mix. A version whose schema
cannot be read is logged once and the old schema keeps serving; the follower tries it
again only when the reference moves on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from scorestream.exceptions import ScorestreamError
from scorestream.streams.model.schema import FeatureSchema
from scorestream.streams.model.source import ModelSource, ResolvedModel

log = logging.getLogger(__name__)

#: Seconds between two resolutions of the model reference.
DEFAULT_POLL_S = 3.0


def load_schema(model: ResolvedModel) -> FeatureSchema:
    """The feature schema of a resolved model version (SchemaError if unreadable)."""
    return FeatureSchema.load(Path(model.path) / "schema.json")


class SchemaFollower:
    """Resolve ``source`` every ``poll_s`` seconds; call ``apply`` with each new schema.

    Parameters
    ----------
    source
        The model reference to follow.
    current
        The version being served now.
    apply
        Called on the event loop with the new version and its schema.
    poll_s
        Seconds between resolutions.
    """

    def __init__(
        self,
        source: ModelSource,
        current: ResolvedModel,
        apply: Callable[[ResolvedModel, FeatureSchema], None],
        poll_s: float = DEFAULT_POLL_S,
    ) -> None:
        self.source = source
        self.current = current
        self.apply = apply
        self.poll_s = poll_s
        self._refused: str | None = None  # the version last refused, logged once

    async def run(self) -> None:
        """Poll until cancelled; never raises otherwise."""
        while True:
            await asyncio.sleep(self.poll_s)
            try:
                found = await asyncio.to_thread(self.check)
            except Exception:  # a bug must not end the following: log, try again later
                log.exception("following %s failed", self.source.reference)
                continue
            if found is not None:
                resolved, schema = found
                self.apply(resolved, schema)
                previous, self.current = self.current, resolved
                log.info(
                    "schema of %s now from version %s (was %s)",
                    self.source.reference,
                    resolved.version,
                    previous.version,
                )

    def check(self) -> tuple[ResolvedModel, FeatureSchema] | None:
        """The new version and its schema if the reference moved and it loads, else None."""
        try:
            resolved = self.source.resolve()
        except ScorestreamError as error:
            log.warning(
                "cannot resolve %s, keeping %s: %s",
                self.source.reference,
                self.current.version,
                error,
            )
            return None
        if resolved.version == self.current.version or resolved.version == self._refused:
            return None
        try:
            schema = load_schema(resolved)
        except ScorestreamError as error:
            self._refused = resolved.version
            log.error(
                "refusing version %s of %s, keeping %s: %s",
                resolved.version,
                self.source.reference,
                self.current.version,
                error,
            )
            return None
        self._refused = None
        return resolved, schema
