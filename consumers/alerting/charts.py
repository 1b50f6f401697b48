"""The e-mail's chart of a drifted feature: training's share per range against the day's.

Drawn with matplotlib (Agg) into a PNG the e-mail carries inline. Bin labels are written
as readable ranges ("66,400 to 72,000"), like the text beside the chart.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from scorestream.consumers.alerting.findings import shares
from scorestream.consumers.alerting.html_layout import CURRENT_COLOUR, REFERENCE_COLOUR
from scorestream.consumers.alerting.readable import range_label


def histogram_png(feature: dict[str, Any], period: str = "this period") -> bytes:
    """Reference against current share per bin of one ``drift_checks`` row, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import PercentFormatter

    labels = [range_label(label) for label in feature["bin_labels"]]
    ref = shares(feature["reference_counts"])
    cur = shares(feature["current_counts"])
    # Bins empty on both sides (no missing values, nothing out of range) say nothing.
    keep = [i for i in range(len(labels)) if ref[i] > 0 or cur[i] > 0] or list(range(len(labels)))
    x = np.arange(len(keep))
    fig, ax = plt.subplots(figsize=(7, 3.0), dpi=100)  # 700 pixels wide, as before
    ax.bar(x - 0.2, ref[keep], width=0.4, label="training (reference)", color=REFERENCE_COLOUR)
    ax.bar(x + 0.2, cur[keep], width=0.4, label=period, color=CURRENT_COLOUR)
    ax.set_xticks(x, [labels[i] for i in keep], rotation=30, ha="right", fontsize=7)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_ylabel("share of records", fontsize=8)
    ax.set_title(f"{feature['feature']}: share of records per range", fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()
