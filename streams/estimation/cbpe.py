"""Confidence-based performance estimation (CBPE): expected metrics before any label arrives.

For every scored record the calibration (:mod:`.calibration`) gives the probability that
its label is positive (binary) or that its prediction is right (multiclass). If the
calibration still holds, the day's expected confusion matrix is the sum of those
probabilities, and the expected metrics follow from it, as NannyML's CBPE computes them:

- **binary** (threshold ``t``; a record is predicted positive when its score >= ``t``):
  expected TP = sum of p over predicted positives, FP = sum of 1 - p over them, FN and TN
  likewise over predicted negatives; accuracy, precision, recall and F1 from those; ROC
  AUC with the calibrated probabilities as soft labels (each record counts p as a
  positive and 1 - p as a negative at its score).
- **multiclass**: expected TP of class k = sum of P(correct) over records predicted k.
  Which class a *wrong* prediction of k really was is not in the scores table's bins, so
  the expected wrong mass of k is spread over the other classes in the proportions the
  holdout showed (:attr:`.Calibration.error_destinations`): the approximation of the
  expected per-class confusion, exact for accuracy, approximate for macro F1 when the
  kinds of mistakes change while their number does not.

All of it reads a :class:`.ScoreHistogram` (counts per predicted class and score bin of
width 0.001), never rows: the cost is flat in the number of records.

**Band**: a parametric bootstrap of the realised metric. Each of :attr:`CBPE.draws` draws
takes one bootstrap replicate of the calibration (the calibrator's own error, from the
finite holdout), draws every bin's labels from it (the day's sampling error: binomial per
bin, multinomial for where wrong predictions go), and computes the metric the labels
would give. The band is the central :attr:`CBPE.coverage` of those draws: where the
realised metric should fall if the assumptions hold.

**When it is wrong**: when the calibration no longer holds. Covariate shift (records move
to where the model is less sure) is what it follows; concept shift (the same inputs now
mean another label) leaves the scores, and so the estimate, exactly where they were.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from scorestream.streams.estimation.calibration import Calibration, IsotonicMap
from scorestream.streams.estimation.histogram import ScoreHistogram

BINARY_METRICS: tuple[str, ...] = ("accuracy", "precision", "recall", "f1", "roc_auc")
MULTICLASS_METRICS: tuple[str, ...] = ("accuracy", "macro_f1")


@dataclass(frozen=True)
class MetricEstimate:
    """One expected metric and its band.

    Attributes
    ----------
    value : float
        The expected metric (NaN when undefined, e.g. precision with no predicted positive).
    lower, upper : float
        The band the realised metric should fall in.
    """

    value: float
    lower: float
    upper: float

    def contains(self, realised: float) -> bool:
        """Whether a realised metric lies within the band."""
        return bool(self.lower <= realised <= self.upper)


@dataclass(frozen=True)
class Estimate:
    """A day's estimated performance.

    Attributes
    ----------
    n : int
        Scored records the estimate is computed from.
    metrics : dict
        Metric name -> :class:`MetricEstimate`.
    binning_bound : float
        Largest possible error, from binning the scores, of the expected share of positives
        (binary) or of correct predictions (multiclass), and so of expected accuracy.
    """

    n: int
    metrics: dict[str, MetricEstimate]
    binning_bound: float

    def __getitem__(self, metric: str) -> MetricEstimate:
        return self.metrics[metric]


@dataclass(frozen=True)
class CBPE:
    """Estimate a classifier's performance from its score counts and calibration.

    Parameters
    ----------
    calibration : Calibration
        The model's calibration (``calibration.json``).
    threshold : float
        Binary: score from which a record is predicted positive (the worker's 0.5).
    draws : int
        Draws of the parametric bootstrap behind the band.
    coverage : float
        Share of the draws inside the band.
    seed : int
        Seed of the draws.

    Examples
    --------
    >>> from scorestream.streams.estimation.calibration import fit_binary
    >>> rng = np.random.default_rng(1)
    >>> s = rng.uniform(size=4000)
    >>> cal = fit_binary(s, rng.uniform(size=4000) < s, [0, 1], replicates=5)
    >>> day = ScoreHistogram.from_scores(rng.uniform(size=1000))
    >>> est = CBPE(cal, draws=200).estimate(day)
    >>> round(est["accuracy"].value, 1), est["accuracy"].lower < 0.75 < est["accuracy"].upper
    (0.7, True)
    """

    calibration: Calibration
    threshold: float = 0.5
    draws: int = 400
    coverage: float = 0.95
    seed: int = 0

    def estimate(self, histogram: ScoreHistogram) -> Estimate:
        """The expected metrics of the day whose scores ``histogram`` counts.

        Raises
        ------
        ValueError
            If the histogram holds no score.
        """
        if histogram.n == 0:
            raise ValueError("no scores to estimate from")
        if self.calibration.kind == "binary":
            return self._binary(histogram.counts.sum(axis=0))
        return self._multiclass(histogram)

    # -- binary ---------------------------------------------------------------------------

    def _binary(self, counts: npt.NDArray[np.int64]) -> Estimate:
        mid = ScoreHistogram.midpoints()
        predicted = mid >= self.threshold
        n = counts.astype(np.float64)
        p = self.calibration.mapping(mid)
        expected = _binary_metrics((n * p)[None, :], (n * (1.0 - p))[None, :], predicted)
        rng = np.random.default_rng(self.seed)
        probabilities = np.stack([m(mid) for m in self._maps()])
        pick = probabilities[np.arange(self.draws) % len(probabilities)]
        positives = rng.binomial(counts[None, :], pick).astype(np.float64)
        simulated = _binary_metrics(positives, n[None, :] - positives, predicted)
        return Estimate(
            n=int(counts.sum()),
            metrics={
                name: self._band(float(expected[name][0]), simulated[name])
                for name in BINARY_METRICS
            },
            binning_bound=self._binning_bound(counts),
        )

    # -- multiclass -----------------------------------------------------------------------

    def _multiclass(self, histogram: ScoreHistogram) -> Estimate:
        classes = self.calibration.classes
        k = len(classes)
        counts = np.zeros((k, histogram.counts.shape[1]), dtype=np.int64)
        for i, name in enumerate(histogram.classes):
            # A predicted class the model does not have cannot come from it: not counted.
            if name in classes:
                counts[classes.index(name)] += histogram.counts[i]
        destinations = np.asarray(self.calibration.error_destinations, dtype=np.float64)
        mid = ScoreHistogram.midpoints()
        p = self.calibration.mapping(mid)
        correct = counts.astype(np.float64) @ p
        wrong = counts.sum(axis=1) - correct
        confusion = destinations * wrong[:, None] + np.diag(correct)
        expected = _multiclass_metrics(confusion[None, :, :], expected=True)

        rng = np.random.default_rng(self.seed)
        probabilities = np.stack([m(mid) for m in self._maps()])
        pick = probabilities[np.arange(self.draws) % len(probabilities)]
        drawn_correct = rng.binomial(counts[None, :, :], pick[:, None, :]).sum(axis=2)
        drawn_wrong = counts.sum(axis=1)[None, :] - drawn_correct
        drawn = np.zeros((self.draws, k, k))
        for row in range(k):
            drawn[:, row, :] = rng.multinomial(drawn_wrong[:, row], destinations[row])
            drawn[:, row, row] = drawn_correct[:, row]
        simulated = _multiclass_metrics(drawn, expected=False)
        return Estimate(
            n=int(counts.sum()),
            metrics={
                name: self._band(float(expected[name][0]), simulated[name])
                for name in MULTICLASS_METRICS
            },
            binning_bound=self._binning_bound(counts.sum(axis=0)),
        )

    # -- shared ---------------------------------------------------------------------------

    def _maps(self) -> tuple[IsotonicMap, ...]:
        return self.calibration.replicates or (self.calibration.mapping,)

    def _band(self, value: float, simulated: npt.NDArray[np.float64]) -> MetricEstimate:
        finite = simulated[np.isfinite(simulated)]
        if not np.isfinite(value) or len(finite) == 0:
            return MetricEstimate(value, float("nan"), float("nan"))
        tail = (1.0 - self.coverage) / 2.0
        lower, upper = np.quantile(finite, [tail, 1.0 - tail])
        # The band is about the realised metric; it always holds the estimate itself.
        return MetricEstimate(value, min(float(lower), value), max(float(upper), value))

    def _binning_bound(self, counts: npt.NDArray[np.int64]) -> float:
        # The calibration is monotone: a bin's rows have probabilities between its value
        # at the bin's two edges, so the midpoint is off by at most that difference.
        edges = self.calibration.mapping(ScoreHistogram.edges())
        spread = np.diff(edges)
        return float((counts * spread).sum() / max(int(counts.sum()), 1))


def _binary_metrics(
    positives: npt.NDArray[np.float64],
    negatives: npt.NDArray[np.float64],
    predicted: npt.NDArray[np.bool_],
) -> dict[str, npt.NDArray[np.float64]]:
    """Metrics of rows of per-bin positive and negative counts (expected or drawn)."""
    tp = positives[:, predicted].sum(axis=1)
    fp = negatives[:, predicted].sum(axis=1)
    fn = positives[:, ~predicted].sum(axis=1)
    tn = negatives[:, ~predicted].sum(axis=1)
    total = tp + fp + fn + tn
    with np.errstate(divide="ignore", invalid="ignore"):
        # Higher bins rank higher; rows within a bin are ties (count half).
        below = np.cumsum(negatives, axis=1) - negatives
        pairs = (positives * (below + 0.5 * negatives)).sum(axis=1)
        return {
            "accuracy": (tp + tn) / total,
            "precision": tp / (tp + fp),
            "recall": tp / (tp + fn),
            "f1": 2 * tp / (2 * tp + fp + fn),
            "roc_auc": pairs / (positives.sum(axis=1) * negatives.sum(axis=1)),
        }


def _multiclass_metrics(
    confusion: npt.NDArray[np.float64], *, expected: bool
) -> dict[str, npt.NDArray[np.float64]]:
    """Accuracy and macro F1 of confusion matrices ``[draw, predicted, true]``.

    Macro F1 averages over the classes that occur among the predictions or the truth, as
    scikit-learn does; for an expected matrix a class counts when it is predicted or
    expected at least half a time among the true labels.
    """
    tp = np.diagonal(confusion, axis1=1, axis2=2)
    predicted = confusion.sum(axis=2)
    actual = confusion.sum(axis=1)
    present = (predicted > 0) | (actual >= 0.5 if expected else actual > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(present, 2 * tp / (predicted + actual), 0.0)
        macro = f1.sum(axis=1) / present.sum(axis=1)
        accuracy = tp.sum(axis=1) / confusion.sum(axis=(1, 2))
    return {"accuracy": accuracy, "macro_f1": macro}
