"""The alert e-mail's HTML as a reader sees it: rendered by headless Chromium, offline.

Chromium is the engine of most webmail clients. The message's ``cid:`` charts are turned
into ``data:`` URIs first (a browser has no message to resolve them against); nothing
else is changed. Rendering offline proves the e-mail needs nothing from the network.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest

from scorestream.consumers.alerting.email_message import build_alert_email
from scorestream.consumers.alerting.html_layout import PAPER, WIDTH
from scorestream.consumers.alerting.preview import browser_html
from scorestream.consumers.alerting.verdict import SEVERITY_COLOURS
from tests.consumers.alerting.email_support import alert_of, larger_tumours
from tests.fixtures.chromium import Chromium


def rgb(colour: str) -> np.ndarray:
    return np.array([int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)])


def share_of(pixels: np.ndarray, colour: str, tolerance: float = 0.03) -> float:
    """The share of ``pixels`` within ``tolerance`` of ``colour`` in every channel."""
    return float(np.mean(np.all(np.abs(pixels[..., :3] - rgb(colour)) <= tolerance, axis=-1)))


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    _, _, alert = alert_of(larger_tumours)
    message = build_alert_email(alert, "drift@example.org", "analytics@example.org")
    document = browser_html(message)
    path = tmp_path_factory.mktemp("email") / "alert.html"
    path.write_text(document, encoding="utf-8")
    return path, len(alert.drifted)


def test_the_email_renders_as_a_styled_page(chromium: Chromium, page, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path, _ = page
    shot = chromium.screenshot(path.as_uri(), tmp_path / "alert.png", width=800, height=2400)
    pixels = mpimg.imread(shot)
    assert pixels.shape[:2] == (2400, 800)
    # Not a blank page: the column, the severity band, text and charts.
    assert share_of(pixels, PAPER) > 0.05, "no e-mail background"
    assert share_of(pixels, "#ffffff") > 0.2, "no white column"
    top = pixels[:300]
    assert share_of(top, SEVERITY_COLOURS["high"][0]) > 0.05, "no red severity band at the top"
    dark = np.mean(np.all(pixels[..., :3] < 0.35, axis=-1))
    assert dark > 0.005, "no text"
    levels = (pixels[..., :3] * 31).astype(np.int64)  # 5 bits a channel
    colours = np.unique(levels[..., 0] * 1024 + levels[..., 1] * 32 + levels[..., 2])
    assert len(colours) > 200, "too few colours for text, charts and bars"
    # The column is as wide as the layout says (its 1-pixel border included), and centred.
    across = pixels[1000, :, :3]
    column = np.nonzero(np.any(np.abs(across - rgb(PAPER)) > 0.02, axis=-1))[0]
    assert abs(int(column.max() - column.min() + 1) - WIDTH) <= 2
    assert abs(int(column.min()) - (800 - int(column.max()) - 1)) <= 2


def test_every_chart_loads_in_the_browser(chromium: Chromium, page, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path, drifted = page
    # A copy with a script that writes each image's decoded width into the DOM.
    probe = tmp_path / "probe.html"
    probe.write_text(
        path.read_text(encoding="utf-8").replace(
            "</body>",
            "<script>window.addEventListener('load', () => document.body.setAttribute("
            "'data-widths', [...document.images].map(i => i.naturalWidth).join(',')));"
            "</script></body>",
        ),
        encoding="utf-8",
    )
    dom = chromium.dump_dom(probe.as_uri())
    widths = dom.split('data-widths="', 1)[1].split('"', 1)[0].split(",")
    assert len(widths) == drifted
    assert all(int(w) > 300 for w in widths), widths
