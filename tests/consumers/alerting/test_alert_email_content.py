"""The alert e-mail says, for people, what the daily check found (issue 17, item 1).

Real data: breast-cancer records (scikit-learn) scored by a model ``scorestream train``
built, with measurements changed, judged by the drift check's own functions. The expected
figures are computed here from the records and the model, not taken from the e-mail code.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes, load_wine

from scorestream.consumers.alerting.content import gather
from scorestream.consumers.alerting.email_message import build_alert_email
from scorestream.consumers.alerting.findings import describe
from scorestream.consumers.alerting.sample import sample_alert
from scorestream.consumers.drift_check.check import Period, PeriodCounts, check_rows, evaluate
from scorestream.contract import AlertMessage
from scorestream.settings import Settings
from scorestream.streams.drift.decision import DriftThresholds
from scorestream.streams.drift.profile import ReferenceProfile
from scorestream.streams.model.registry import LoadedModel
from scorestream.streams.model.train import train_model
from scorestream.streams.synthetic import generate_frame
from tests.consumers.alerting.email_support import (
    DAY,
    alert_of,
    cancer_model,
    larger_areas,
    larger_tumours,
)

#: Python's scientific notation ("6.64e+04", "1e-05").
SCIENTIFIC = re.compile(r"\de[+-]\d")


def parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(preferencelist=("plain",))
    page = message.get_body(preferencelist=("html",))
    assert text is not None and page is not None
    return str(text.get_content()), str(page.get_content())


def visible(page: str) -> str:
    """The words a reader of the HTML sees (the body's), whitespace folded."""
    body = re.sub(r"<head>.*?</head>", " ", page, flags=re.DOTALL)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def folded(text: str) -> str:
    return " ".join(text.split())


def three_digits(value: float) -> str:
    """``value`` to three significant digits with thousands separators (values >= 100)."""
    return f"{float(f'{value:.3g}'):,.0f}"


def positive_rate(frame: pd.DataFrame) -> float:
    model = cancer_model()
    return float(np.mean(model.predict_scores(frame[model.schema.names]) >= 0.5))


@pytest.fixture(scope="module")
def medium() -> tuple[pd.DataFrame, EmailMessage]:
    frame, _, alert = alert_of(larger_areas)
    return frame, build_alert_email(alert, "drift@example.org", "analytics@example.org")


@pytest.fixture(scope="module")
def high() -> tuple[pd.DataFrame, AlertMessage, EmailMessage]:
    frame, _, alert = alert_of(larger_tumours)
    return frame, alert, build_alert_email(alert, "drift@example.org", "analytics@example.org")


def test_the_verdict_line_comes_first_with_its_severity(medium) -> None:  # type: ignore[no-untyped-def]
    frame, message = medium
    text, page = parts(message)
    verdict = re.fullmatch(
        r"Medium severity: 1 of 30 inputs of model cancer drifted on 2026-03-01 \(mean_area\); "
        r"the model's output held steady \(predicted-positive rate ≈(\d+\.\d)% → ≈(\d+\.\d)%\)\.",
        text.splitlines()[0],
    )
    assert verdict, text.splitlines()[0]
    # Read off the score bins, within the bin that holds 0.5, of the exact rate.
    assert float(verdict.group(2)) == pytest.approx(100 * positive_rate(frame), abs=2.0)
    assert message["Subject"] == (
        "[scorestream] Medium: drift detected on 2026-03-01, model cancer: mean_area"
    )
    assert message["X-Scorestream-Severity"] == "medium"
    seen = visible(page)
    assert seen.startswith("medium severity " + text.splitlines()[0][len("Medium severity: ") :])
    version = cancer_model().version
    for fact in ("Model cancer", f"Version {version}", "binary classifier of 'target'"):
        assert fact in seen
    assert f"Version: {version}" in text


def test_high_severity_when_the_output_moves_and_retraining_is_advised(high) -> None:  # type: ignore[no-untyped-def]
    frame, alert, message = high
    text, page = parts(message)
    first = text.splitlines()[0]
    assert first.startswith(
        "High severity: 4 of 30 inputs of model cancer drifted on 2026-03-01 (worst_radius, "
        "worst_texture, worst_perimeter, worst_area), and the model's output moved with them: "
        "predicted-positive rate ≈"
    )
    after = float(re.search(r"→ ≈(\d+\.\d)%\.$", first).group(1))  # type: ignore[union-attr]
    assert after == pytest.approx(100 * positive_rate(frame), abs=3.0)
    assert message["Subject"].startswith("[scorestream] High: drift detected on 2026-03-01")
    assert "Retrain soon" in text and "Retrain soon" in visible(page)
    score = next(row for row in alert.outputs if row["feature"] == "_score")
    assert score["level"] == "drift"
    assert "The model's output moved: predicted-positive rate" in text


def test_every_number_is_readable(medium, high) -> None:  # type: ignore[no-untyped-def]
    frame, message = medium
    text, page = parts(message)
    ref, cur = cancer_model().profile["mean_area"].mean, float(frame["mean_area"].mean())
    rise = f"+{round(100 * (cur / ref - 1))}%"
    mean = f"mean {three_digits(ref)} → {three_digits(cur)} ({rise})"
    assert f"  - {mean}" in text
    assert mean in visible(page)
    assert "p < 0.001, corrected for 30 features" in text.replace("\n  ", " ")
    assert "p < 0.001, corrected for 30 features" in visible(page)
    for message_ in (message, high[2]):
        text_, page_ = parts(message_)
        for part in (text_, visible(page_)):
            assert not SCIENTIFIC.search(part), SCIENTIFIC.search(part)
            for engineer in ("p (BH)", "q=", "nan", " None", "-inf"):
                assert engineer not in part


def test_shares_move_in_percent(high) -> None:  # type: ignore[no-untyped-def]
    _, alert, message = high
    text, _ = parts(message)
    row = next(r for r in alert.drifted if r["feature"] == "worst_radius")
    ref = np.asarray(row["reference_counts"], float) / sum(row["reference_counts"])
    cur = np.asarray(row["current_counts"], float) / sum(row["current_counts"])
    up = int(np.argmax((cur - ref)[:-1]))
    assert f": {100 * ref[up]:.1f}% → {100 * cur[up]:.1f}%" in text
    moved = 0.5 * np.abs(cur - ref).sum()
    assert f"{100 * moved:.1f}% of records are in other ranges than in training" in folded(text)


def test_the_dashboard_link_opens_the_checked_day(medium) -> None:  # type: ignore[no-untyped-def]
    _, message = medium
    text, page = parts(message)
    (link,) = re.findall(r"https?://\S+", text)
    url = urlsplit(link)
    assert (url.scheme, url.netloc) == ("http", "grafana.example.org:3000")
    assert url.path == "/d/scorestream-drift-overview/drift-overview"
    query = parse_qs(url.query)
    start = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC)
    assert int(query["from"][0]) == int(start.timestamp()) * 1000 == 1_772_323_200_000
    assert int(query["to"][0]) - int(query["from"][0]) == 86_400_000
    assert query["var-model"] == ["cancer"]
    assert query["var-version"] == [cancer_model().version]
    assert f"href='{html.escape(link)}'" in page


def test_charts_are_inline_only(high) -> None:  # type: ignore[no-untyped-def]
    _, alert, message = high
    assert message.get_content_type() == "multipart/alternative"
    text, related = message.get_payload()  # type: ignore[misc]
    assert text.get_content_type() == "text/plain"
    assert related.get_content_type() == "multipart/related"
    page, *images = related.get_payload()
    assert page.get_content_type() == "text/html"
    assert len(images) == len(alert.drifted) == 4
    body = page.get_content()
    for image in images:
        assert image.get_content_type() == "image/png"
        assert image.get_content_disposition() == "inline"
        assert image.get_filename() is None
        assert body.count(f"cid:{image['Content-ID'].strip('<>')}") == 1
        assert image.get_payload(decode=True).startswith(b"\x89PNG")
    assert all(p.get_content_disposition() != "attachment" for p in message.walk())


def test_the_plain_text_says_everything_the_html_says(high) -> None:  # type: ignore[no-untyped-def]
    _, alert, message = high
    text, page = parts(message)
    content = gather(alert)
    said, seen = folded(text), visible(page)
    expected = [content.verdict.sentence]
    expected += [f"{label} {value}" for label, value in content.model]
    for finding in content.findings:
        expected += [finding.headline, *finding.facts, finding.evidence, finding.details]
    assert content.output is not None
    expected += [content.output.summary]
    for what, before, after in content.output.rows:
        expected += [what, before, after]
    expected += [band for band, _, _ in content.output.bands]
    for step in content.steps:
        expected += [step.title, step.text]
        if step.command and not step.command.startswith("http"):
            expected.append(step.command)
    # Colons aside (the text part writes "Model:   cancer", the HTML a two-column table).
    said, seen = folded(said.replace(":", " ")), folded(seen.replace(":", " "))
    for phrase in expected:
        assert folded(phrase.replace(":", " ")) in seen, phrase
        assert folded(phrase.replace(":", " ")) in said, phrase
    assert "scorestream drift-check --date 2026-03-01" in text
    assert "DRIFT_MUTED_FEATURES=cancer:worst_radius" in text


def test_the_html_needs_nothing_from_outside(high) -> None:  # type: ignore[no-untyped-def]
    _, _, message = high
    _, page = parts(message)
    lowered = page.lower()
    for outside in ("<script", "<link", "<style", "@import", "url(", "@font-face"):
        assert outside not in lowered
    assert all(src.startswith("cid:") for src in re.findall(r"src='([^']*)'", page))
    assert re.findall(r"href='([^']*)'", page) == [html.escape(gather(high[1]).link or "")]


def test_a_muted_feature_is_named_but_not_reported() -> None:
    _, result, alert = alert_of(larger_tumours, muted=frozenset({"worst_area"}))
    assert "worst_area" in {d.feature for d in result.drifted}
    assert [row["feature"] for row in alert.drifted] == [
        "worst_radius",
        "worst_texture",
        "worst_perimeter",
    ]
    assert alert.muted == ["worst_area"]
    text, page = parts(build_alert_email(alert, "a@example.org", "b@example.org"))
    said = "Also drifted, not reported (DRIFT_MUTED_FEATURES): worst_area."
    assert said in folded(text) and said in visible(page)
    assert "3 of 30 inputs" in text.splitlines()[0]
    settings = Settings(drift_muted_features="cancer:worst_area, other:x, mean_area")
    assert settings.muted_features("cancer") == {"worst_area", "mean_area"}


def test_a_categorical_feature_in_plain_words() -> None:
    reference = generate_frame(20_000, seed=3)
    profile = ReferenceProfile.from_frame(reference, [], ["region"])
    day = generate_frame(5_000, seed=4)
    day.loc[day.index[:2_000], "region"] = "north"
    counts = {
        name: PeriodCounts(bins, int(bins.sum()), 0, 0.0, 0.0)
        for name, bins in profile.count(day).items()
    }
    decisions, _ = evaluate(profile, counts, DriftThresholds())
    (row,) = check_rows(Period.day(DAY), "v1", profile, decisions, counts, datetime(2026, 3, 2))
    assert row["level"] == "drift"
    finding = describe({**row, "reasons": list(decisions[0].reasons)}, 1)
    before = float(np.mean(reference["region"] == "north"))
    after = float(np.mean(day["region"] == "north"))
    assert finding.headline == "region shifted towards 'north'"
    assert f"'north': {100 * before:.1f}% → {100 * after:.1f}%" in finding.facts
    assert "chi-square test p < 0.001" in finding.details


def test_an_alert_from_before_the_output_rows_still_reads() -> None:
    old = AlertMessage(
        "daily:2026-01-11T00:00:00",
        "daily",
        "2026-01-11T00:00:00",
        "2026-01-12T00:00:00",
        "v1",
        20_000,
        5,
        None,
        [{"feature": "income", "kind": "numeric", "ref_mean": 66_412.0, "cur_mean": 89_740.0}],
    )
    text, page = parts(build_alert_email(old, "a@example.org", "b@example.org"))
    assert text.splitlines()[0] == (
        "Medium severity: 1 of 5 inputs of model version v1 drifted on 2026-01-11 (income); "
        "the model's output was not checked."
    )
    assert "  - mean 66,400 → 89,700 (+35%)" in text
    assert "Not available" in text and "Not available" in page
    assert "Look at the day" not in text  # no Grafana address: no link


def kind_model(kind: str, tmp: Path) -> tuple[pd.DataFrame, LoadedModel]:
    """Wine (multi-class) or diabetes (regression), trained by ``scorestream train``."""
    frame = (load_wine if kind == "multiclass" else load_diabetes)(as_frame=True).frame
    train_model(frame, "target", tmp / kind, name=kind, task=kind, seed=0)  # type: ignore[arg-type]
    return frame, LoadedModel.load(tmp / kind)


def test_a_multiclass_model_says_which_classes_it_predicts_now(tmp_path: Path) -> None:
    frame, model = kind_model("multiclass", tmp_path)
    day = frame.sample(1_000, replace=True, random_state=1).reset_index(drop=True)
    day["alcohol"] = day["alcohol"] + 2 * day["alcohol"].std()
    _, alert = sample_alert(model, day, DAY)
    text, _ = parts(build_alert_email(alert, "a@example.org", "b@example.org"))
    assert text.splitlines()[0].startswith(
        "High severity: 1 of 13 inputs of model multiclass drifted on 2026-03-01 (alcohol), "
        "and the model's output moved with them: "
    )
    labels = model.predict(day[model.schema.names]).labels
    for label in ("0", "1", "2"):
        share = float(np.mean([str(v) == label for v in labels]))
        line = next(x for x in text.splitlines() if x.strip().startswith(f"predicted '{label}'"))
        assert line.split()[-1] == f"{100 * share:.1f}%", line
    assert "average confidence (probability of the predicted class)" in text


def test_a_regression_model_says_how_its_predictions_moved(tmp_path: Path) -> None:
    frame, model = kind_model("regression", tmp_path)
    day = frame.sample(1_000, replace=True, random_state=1).reset_index(drop=True)
    day["bmi"] = day["bmi"] + 2 * day["bmi"].std()
    _, alert = sample_alert(model, day, DAY)
    text, _ = parts(build_alert_email(alert, "a@example.org", "b@example.org"))
    predicted = float(np.mean(model.predict(day[model.schema.names]).scores))
    first = text.splitlines()[0]
    assert "the model's output moved with them: average prediction " in first
    assert f"→ {three_digits(predicted)} (+" in first
    # bmi is centred on zero: its change is said in units, not as a misleading percentage.
    assert re.search(r"  - mean −?0\.\d+ → 0\.\d+\n", text)
