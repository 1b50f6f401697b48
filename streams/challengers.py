"""Challengers in shadow: score what the champion scored with another model, on the side.

A challenger sees exactly the records the champion scored in a batch (after validation and
duplicate detection), never more, and its outputs go to ``scores.challenger`` only:

- when every feature of the challenger is in the champion's schema with a spec no stricter
  (same kind and dtype, nulls allowed wherever the champion allows them, an allowed range
  that contains the champion's), the champion's validated frame is reused as it is;
- otherwise the raw payloads of those records are validated again with the challenger's own
  validator (fields only the champion knows are ignored), and a record the challenger
  cannot score is counted and logged for that challenger: it was not rejected from the
  stream, the champion scored it.

:meth:`ChallengerScorer.score` never raises: a challenger that fails costs its own outputs
of that batch (counted and logged), never the champion's.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import Literal

from scorestream.streams.model.registry import LoadedModel
from scorestream.streams.model.schema import FeatureSchema, FeatureSpec
from scorestream.streams.scoring import OutputMessage, ScoredBatch, score_messages
from scorestream.streams.validation import RecordValidator

log = logging.getLogger(__name__)

#: Seconds between two log lines about a challenger's unscored records or failures.
REPORT_EVERY_S = 30.0


def frame_reusable(champion: FeatureSchema, challenger: FeatureSchema) -> bool:
    """Whether the champion's validated frame is valid input for the challenger as it is."""
    specs = {spec.name: spec for spec in champion.features}
    return all(
        spec.name in specs and _no_stricter(specs[spec.name], spec) for spec in challenger.features
    )


def _no_stricter(champion: FeatureSpec, challenger: FeatureSpec) -> bool:
    if (champion.kind, champion.dtype) != (challenger.kind, challenger.dtype):
        return False
    if champion.nullable and not challenger.nullable:
        return False
    low_ok = challenger.allowed_min is None or (
        champion.allowed_min is not None and champion.allowed_min >= challenger.allowed_min
    )
    high_ok = challenger.allowed_max is None or (
        champion.allowed_max is not None and champion.allowed_max <= challenger.allowed_max
    )
    return low_ok and high_ok


class ChallengerScorer:
    """Scores a champion's scored batch with one challenger model.

    Parameters
    ----------
    model
        The challenger.
    out_of_range, max_record_bytes
        The worker's validation options, applied to the challenger's own validation.
    """

    def __init__(
        self,
        model: LoadedModel,
        *,
        out_of_range: Literal["reject", "clip"] = "reject",
        max_record_bytes: int = 65_536,
    ) -> None:
        self.model = model
        self.out_of_range = out_of_range
        self.max_record_bytes = max_record_bytes
        # Per champion version: None (reuse the frame) or the challenger's own validator.
        self._plans: dict[str, RecordValidator | None] = {}
        #: Records this challenger did not score, by reason, since it started.
        self.unscored: Counter[str] = Counter()
        self.failed_batches = 0
        # Since the last report (a log line at most every REPORT_EVERY_S).
        self._scored = 0
        self._unscored: Counter[str] = Counter()
        # The first batch with unscored records is reported at once, then every 30 s.
        self._reported_at = float("-inf")

    def score(self, champion: LoadedModel, batch: ScoredBatch) -> list[OutputMessage]:
        """The challenger's ``scores.challenger`` messages of ``batch``; never raises."""
        if batch.frame is None or not batch.ids:
            return []
        try:
            out = self._score(champion, batch)
        except Exception as error:  # the challenger's problem, never the champion's
            self.failed_batches += 1
            self._count_unscored("internal_error", len(batch.ids))
            log.warning(
                "challenger %s %s failed on a batch of %d (%r); the champion is unaffected",
                self.model.name,
                self.model.version,
                len(batch.ids),
                error,
                exc_info=self.failed_batches == 1,
            )
            out = []
        self._scored += len(out)
        self._report()
        return out

    def _score(self, champion: LoadedModel, batch: ScoredBatch) -> list[OutputMessage]:
        assert batch.frame is not None and batch.event_time_ms is not None
        validator = self._plan(champion)
        if validator is None:  # the champion's frame: its columns, not necessarily ours
            frame, ids, sources = batch.frame, batch.ids, batch.sources
            event_ms = batch.event_time_ms
        else:
            validated = validator.validate_batch(
                [source.value or b"" for source in batch.sources],
                [source.timestamp for source in batch.sources],
            )
            for _, rejection in validated.rejections:
                self._count_unscored(rejection.reason, 1)
            if not validated.ids:
                return []
            frame, ids, event_ms = validated.frame, validated.ids, validated.event_time_ms
            sources = [batch.sources[position] for position in validated.positions]
        predictions = self.model.predict(frame, validated=validator is not None)
        return score_messages(self.model, predictions, ids, sources, event_ms, role="challenger")

    def _plan(self, champion: LoadedModel) -> RecordValidator | None:
        if champion.version not in self._plans:
            reuse = frame_reusable(champion.schema, self.model.schema)
            ignored = {*champion.schema.names, *(t for t in (champion.schema.target,) if t)}
            if self.model.schema.target:
                ignored.add(self.model.schema.target)
            self._plans[champion.version] = (
                None
                if reuse
                else RecordValidator(
                    self.model.schema,
                    out_of_range=self.out_of_range,
                    max_record_bytes=self.max_record_bytes,
                    ignored_fields=ignored,
                )
            )
            log.info(
                "challenger %s %s beside champion %s: %s",
                self.model.name,
                self.model.version,
                champion.version,
                "reuses the champion's validated records"
                if reuse
                else "validates the records with its own schema",
            )
        return self._plans[champion.version]

    def _count_unscored(self, reason: str, n: int) -> None:
        self.unscored[reason] += n
        self._unscored[reason] += n

    def _report(self) -> None:
        now = time.monotonic()
        if now - self._reported_at < REPORT_EVERY_S or not self._unscored:
            return
        log.warning(
            "challenger %s %s: %d scored, %d not scored (it cannot score them; the champion "
            "did) since the last report (%s)",
            self.model.name,
            self.model.version,
            self._scored,
            sum(self._unscored.values()),
            ", ".join(f"{reason}: {n}" for reason, n in self._unscored.most_common()),
        )
        self._reported_at = now
        self._scored = 0
        self._unscored.clear()
