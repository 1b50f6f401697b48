"""A preview of the alert e-mail as a reader sees it: ``docs/email-alert.png``.

``python -m scorestream.consumers.alerting.preview`` (``make email-preview``) trains the
demo's loans model on the demo's synthetic applications, makes one day of applications
whose incomes rose by a third and a third of which came from the north, runs the drift
check's own functions on it (:mod:`.sample`), builds the e-mail, and renders its HTML part
in headless Chromium, the engine of most webmail, into a PNG (and writes the plain-text
part beside it, ``.txt``). A browser cannot resolve a ``cid:`` reference, so
:func:`browser_html` puts each inline chart in a ``data:`` URI first; nothing else is
changed.
"""

from __future__ import annotations

import argparse
import base64
import subprocess
import sys
import tempfile
from datetime import date
from email.message import EmailMessage
from pathlib import Path

#: Where the preview goes, relative to the repository (linked from the README).
DEFAULT_OUT = Path("docs") / "email-alert.png"
DAY = date(2026, 6, 1)
GRAFANA = "http://localhost:3000"
#: The flags of a headless screenshot that stays off the network (as tests/fixtures/chromium).
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1, EXCLUDE localhost",
)


def browser_html(message: EmailMessage) -> str:
    """The HTML part with every ``cid:`` image as a ``data:`` URI, for a browser.

    Raises
    ------
    ValueError
        If the HTML references a Content-ID that no related part has.
    """
    part = message.get_body(preferencelist=("html",))
    if part is None:
        raise ValueError("the message has no HTML part")
    document = str(part.get_content())
    images = {
        str(p["Content-ID"]).strip("<>"): p
        for p in message.walk()
        if p.get_content_maintype() == "image" and p["Content-ID"]
    }
    for cid, image in images.items():
        payload = image.get_payload(decode=True)
        assert isinstance(payload, bytes)
        uri = f"data:{image.get_content_type()};base64,{base64.b64encode(payload).decode()}"
        document = document.replace(f"cid:{cid}", uri)
    if "cid:" in document:
        raise ValueError("the HTML references an image the message does not carry")
    return document


def sample_message() -> EmailMessage:
    """The e-mail of the demo's drift on :data:`DAY`: incomes up by a third, and a third
    of the applications from the north."""
    from scorestream.consumers.alerting.email_message import build_alert_email
    from scorestream.consumers.alerting.sample import sample_alert
    from scorestream.streams.model.registry import LoadedModel
    from scorestream.streams.model.train import train_model
    from scorestream.streams.synthetic import generate_frame

    with tempfile.TemporaryDirectory(prefix="email-preview-") as tmp:
        train_model(generate_frame(20_000, seed=7), "default", Path(tmp) / "loans", name="loans")
        model = LoadedModel.load(Path(tmp) / "loans")
    day = generate_frame(20_000, seed=8, start=f"{DAY}T00:00:00")
    day["income"] = day["income"] * 1.35
    # A new branch in the north: a third of the day's applications come from there.
    day.loc[day.index[: len(day) // 3], "region"] = "north"
    _, alert = sample_alert(model, day, DAY, grafana_url=GRAFANA)
    return build_alert_email(alert, "scorestream@example.org", "analytics@example.org")


def screenshot(binary: str, html_file: Path, out: Path, width: int = 720) -> Path:
    """Render ``html_file`` in headless Chromium into ``out``, cropped to the page."""
    import matplotlib.image as mpimg
    import numpy as np

    out = out.resolve()  # Chromium runs in its profile directory
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        subprocess.run(
            [
                binary,
                *FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={width},4000",
                f"--screenshot={out}",
                html_file.resolve().as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
            cwd=profile,
        )
    pixels = mpimg.imread(out)
    # The window is taller than the e-mail: cut the rows of plain background below it.
    differs = np.any(np.abs(pixels - pixels[-1:, :, :]) > 0.01, axis=(1, 2))
    last = int(np.nonzero(differs)[0].max()) + 16 if differs.any() else len(pixels)
    mpimg.imsave(out, pixels[: min(last, len(pixels))])
    return out


def main(argv: list[str] | None = None) -> int:
    from scorestream.stack.service import require_tool

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="PNG to write")
    args = parser.parse_args(argv)
    binary = require_tool(
        "chromium", "chromium", "Install Debian's Chromium: apt-get install chromium"
    )
    out: Path = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    message = sample_message()
    text = message.get_body(preferencelist=("plain",))
    assert text is not None
    # The plain-text part beside the picture: it says everything the HTML says.
    out.with_suffix(".txt").write_text(str(text.get_content()), encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="email-preview-") as tmp:
        html_file = Path(tmp) / "email-alert.html"
        html_file.write_text(browser_html(message), encoding="utf-8")
        screenshot(binary, html_file, out)
    print(f"wrote {out} ({message['Subject']})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
