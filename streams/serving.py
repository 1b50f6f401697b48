"""Follow a model reference while serving: load a new version beside the old one, swap it in.

A :class:`ModelFollower` holds what serves one reference now (the champion, or one
challenger) and watches its :class:`~scorestream.streams.model.source.ModelSource`:

- every ``interval_s`` it resolves the reference **off the event loop**
  (:func:`asyncio.to_thread`: a registry reads a file, MLflow answers over HTTP);
- when the resolved version changes it builds the new version, also in a thread (loading a
  pipeline takes from milliseconds to seconds), while the old one keeps serving;
- the scoring loop calls :meth:`ModelFollower.take_next` at the start of every batch, so the
  switch happens **between two batches**: every record is scored by exactly one version, and
  each output names the version that scored it.

A version that fails to build (corrupt file, refused types, a schema that does not match
its pipeline) is refused with one logged reason, the old one keeps serving, and the same
version is tried again only after a backoff (1 min, doubling up to 1 h) or when the
reference names another version in between: never in a hot loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from scorestream.exceptions import ModelError
from scorestream.streams.model.registry import LoadedModel
from scorestream.streams.model.source import ModelSource, ResolvedModel

log = logging.getLogger(__name__)


class Served(Protocol):
    """Anything built around one loaded model version (a champion, a challenger)."""

    @property
    def model(self) -> LoadedModel: ...


S = TypeVar("S", bound=Served)


@dataclass
class _Refusal:
    attempts: int
    retry_at: float
    reason: str


class ModelFollower(Generic[S]):
    """What serves one reference now, and the next version once it is built.

    Parameters
    ----------
    source
        Where the reference is resolved.
    build
        Builds what serves a version from its loaded model (validator, scorer, drift
        publisher...); runs in a worker thread. Raising refuses the version.
    current
        What serves now (built at start-up, before the worker joins its group).
    resolved
        What ``source`` named when ``current`` was built.
    role
        ``champion`` or ``challenger``, for the logs.
    refusal_backoff_s, refusal_backoff_max_s
        Wait before a refused version is tried again (doubling per failure).
    """

    def __init__(
        self,
        source: ModelSource,
        build: Callable[[LoadedModel], S],
        current: S,
        resolved: ResolvedModel,
        *,
        role: str = "champion",
        refusal_backoff_s: float = 60.0,
        refusal_backoff_max_s: float = 3600.0,
    ) -> None:
        self.source = source
        self.build = build
        self.current = current
        self.role = role
        self.refusal_backoff_s = refusal_backoff_s
        self.refusal_backoff_max_s = refusal_backoff_max_s
        self._serving_version = resolved.version
        self._next: tuple[S, ResolvedModel] | None = None
        self._refused: dict[str, _Refusal] = {}
        self._last_resolve_error: str | None = None
        self.swaps = 0

    @classmethod
    def start(
        cls, source: ModelSource, build: Callable[[LoadedModel], S], role: str = "champion"
    ) -> ModelFollower[S]:
        """Resolve and build the first version now (a mistake is a start-up error).

        Raises
        ------
        ModelError
            If the reference names nothing or its version does not load.
        """
        try:
            resolved = source.resolve()
        except ModelError:
            path = getattr(source, "path", None)
            if path is not None:  # a model directory: loading says what exactly is wrong
                LoadedModel.load(path)
            raise
        current = build(LoadedModel.load(resolved.path))
        return cls(source, build, current, resolved, role=role)

    @property
    def what(self) -> str:
        return f"{self.role} {self.source.reference}"

    def take_next(self) -> S | None:
        """Make the built next version current; returns the one it replaces, or None.

        Called by the scoring loop between two batches only.
        """
        if self._next is None:
            return None
        served, resolved = self._next
        self._next = None
        old, self.current = self.current, served
        self._serving_version = resolved.version
        self.swaps += 1
        log.info(
            "%s: now serving %s %s (was %s %s)",
            self.what,
            served.model.name,
            served.model.version,
            old.model.name,
            old.model.version,
        )
        return old

    async def run(self, interval_s: float, should_stop: Callable[[], bool]) -> None:
        """Poll until ``should_stop()``; never raises (a failed poll is logged)."""
        while not should_stop():
            await asyncio.sleep(interval_s)
            try:
                await self.poll()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # a bug here must not stop scoring
                log.exception("%s: following the reference failed: %r", self.what, error)

    async def poll(self) -> None:
        """Resolve once; build the version it names if that is new and not refused."""
        try:
            resolved = await asyncio.to_thread(self.source.resolve)
        except Exception as error:
            message = str(error)
            if message != self._last_resolve_error:  # once per distinct problem
                log.warning(
                    "%s: cannot resolve (%s); still serving %s",
                    self.what,
                    message,
                    self.current.model.version,
                )
                self._last_resolve_error = message
            return
        self._last_resolve_error = None
        pending = self._next[1].version if self._next is not None else None
        if resolved.version in (self._serving_version, pending):
            return
        refusal = self._refused.get(resolved.version)
        if refusal is not None and time.monotonic() < refusal.retry_at:
            return
        await self._load(resolved, refusal)

    async def _load(self, resolved: ResolvedModel, refusal: _Refusal | None) -> None:
        log.info(
            "%s names version %s: loading it beside %s",
            self.what,
            resolved.version,
            self.current.model.version,
        )
        started = time.monotonic()
        try:
            served = await asyncio.to_thread(self._build, resolved)
        except Exception as error:
            attempts = refusal.attempts + 1 if refusal is not None else 1
            wait = min(self.refusal_backoff_max_s, self.refusal_backoff_s * 2 ** (attempts - 1))
            reason = str(error) if isinstance(error, ModelError) else repr(error)
            self._refused[resolved.version] = _Refusal(attempts, time.monotonic() + wait, reason)
            log.error(
                "%s: refused version %s (%s); still serving %s; next attempt in %.0f s "
                "or when the reference names another version",
                self.what,
                resolved.version,
                reason,
                self.current.model.version,
                wait,
            )
            return
        self._refused.pop(resolved.version, None)
        if served.model.version == self.current.model.version:
            # Another name for the same content (an alias moved to an identical model).
            self._serving_version = resolved.version
            return
        self._next = (served, resolved)
        log.info(
            "%s: version %s loaded in %.2f s; switching at the next batch",
            self.what,
            served.model.version,
            time.monotonic() - started,
        )

    def _build(self, resolved: ResolvedModel) -> S:
        return self.build(LoadedModel.load(resolved.path))

    def refused(self) -> dict[str, str]:
        """Version -> reason of every version refused so far (for tests and logs)."""
        return {version: refusal.reason for version, refusal in self._refused.items()}
