"""A report's exports: the documented JSON shape, and one HTML page that needs nothing else."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_wine

from scorestream import DriftReport, DriftThresholds, Profile, compare
from scorestream.drift_api.report import FORMAT, VERSION

#: The shape documented in scorestream/drift_api/report.py (version 1).
TOP_LEVEL = [
    "format",
    "version",
    "verdict",
    "summary",
    "records",
    "reference_records",
    "features_checked",
    "drifted",
    "warnings",
    "errors",
    "thresholds",
    "features",
    "outputs",
]
ROW = [
    "feature",
    "kind",
    "n_reference",
    "n_current",
    "test",
    "statistic",
    "p_value",
    "p_adjusted",
    "psi",
    "js_distance",
    "wasserstein",
    "ref_mean",
    "cur_mean",
    "ref_missing_rate",
    "cur_missing_rate",
    "level",
    "reference_counts",
    "current_counts",
    "bin_labels",
    "error",
    "reasons",
    "missing_qvalue",
    "statistics",
]


@pytest.fixture(scope="module")
def report() -> DriftReport:
    """Wine: alcohol +1 sd, a new grape label, one column gone, and the model's score."""
    data = load_wine(as_frame=True).data
    rng = np.random.default_rng(5)
    rows = rng.permutation(len(data))
    reference, current = data.iloc[rows[:89]].copy(), data.iloc[rows[89:]].copy()
    reference["grape"] = rng.choice(["a", "b"], len(reference))
    current["grape"] = rng.choice(["a", "b", "c"], len(current))
    current["alcohol"] += data["alcohol"].std()
    current = current.drop(columns=["magnesium"])
    profile = Profile.from_frame(reference, scores=rng.random(len(reference)))
    return compare(profile, current, scores=rng.random(len(current)))


def test_the_json_document_has_the_documented_shape(report: DriftReport) -> None:
    document = json.loads(report.to_json())
    assert list(document) == TOP_LEVEL
    assert document["format"] == FORMAT == "scorestream.drift_report"
    assert document["version"] == VERSION == 1
    assert document["verdict"] == "drift"
    assert document["drifted"] == ["alcohol", "grape"]
    assert document["errors"] == {"magnesium": "column 'magnesium' is not in the current data"}
    assert document["records"] == 89 and document["reference_records"] == 89
    assert document["features_checked"] == 13  # 14 features, magnesium could not be compared
    assert document["thresholds"] == DriftThresholds().__dict__
    for row in document["features"] + document["outputs"]:
        assert list(row) == ROW, row["feature"]
        assert len(row["bin_labels"]) == len(row["reference_counts"]) == len(row["current_counts"])
    assert [row["feature"] for row in document["outputs"]] == ["_score"]
    assert [row["feature"] for row in document["features"]][-1] == "grape"
    alcohol = next(row for row in document["features"] if row["feature"] == "alcohol")
    assert alcohol["level"] == "drift" and alcohol["test"] == "ks"
    assert alcohol["statistics"]["mean_shift"] > 0.9
    grape = next(row for row in document["features"] if row["feature"] == "grape")
    assert grape["wasserstein"] is None and grape["ref_mean"] is None  # numeric only: null
    assert grape["statistics"]["unseen_growth"] > 0.2


def test_the_json_is_strict_and_the_same_every_time(report: DriftReport) -> None:
    text = report.to_json()
    assert "NaN" not in text and "Infinity" not in text
    assert text == report.to_json()
    assert json.loads(report.to_json(indent=None)) == json.loads(text)


def test_save_writes_json_and_html_by_suffix(report: DriftReport, tmp_path: Path) -> None:
    assert json.loads(report.save(tmp_path / "r.json").read_text())["verdict"] == "drift"
    assert report.save(tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")
    with pytest.raises(ValueError, match=r"name it \.json or \.html"):
        report.save(tmp_path / "r.txt")


def test_to_frame_has_a_row_per_feature(report: DriftReport) -> None:
    frame = report.to_frame()
    assert isinstance(frame, pd.DataFrame)
    assert frame.loc["alcohol", "level"] == "drift"
    assert frame.loc["magnesium", "level"] == "error"
    assert list(frame.index[-1:]) == ["_score"]


def _images(page: str) -> list[bytes]:
    found = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", page)
    return [base64.b64decode(data) for data in found]


def test_the_html_page_is_self_contained(report: DriftReport) -> None:
    page = report.to_html()
    assert page.startswith("<!DOCTYPE html>")
    assert "<style>" in page and "<script" not in page and "<link" not in page
    # Every src and href is inside the page: data URIs and anchors, nothing fetched.
    assert re.findall(r"(?:src|href)='(?!data:|#)([^']*)'", page) == []
    assert "http://" not in page and "https://" not in page
    # One chart per flagged feature (alcohol, grape), each a real PNG.
    images = _images(page)
    assert len(images) == 2
    assert all(png.startswith(b"\x89PNG\r\n\x1a\n") for png in images)
    assert len(_images(report.to_html(charts="all"))) == 14  # 13 graded features and the score
    assert _images(report.to_html(charts="none")) == []
    with pytest.raises(ValueError, match="charts must be"):
        report.to_html(charts="some")  # type: ignore[arg-type]


def test_the_html_page_says_the_verdict_in_readable_numbers(report: DriftReport) -> None:
    page = report.to_html(charts="none")
    assert "<title>Drift report: drift</title>" in page
    assert "Drift in 2 of 13 features (alcohol, grape)" in page
    ref, cur = report["alcohol"]["ref_mean"], report["alcohol"]["cur_mean"]
    assert f"mean {ref:.3g} → {cur:.3g} (+{(cur - ref) / ref:.0%})" in page
    assert "magnesium: column &#x27;magnesium&#x27; is not in the current data" in page
    assert "&lt; 0.001" in page  # corrected p-values this small are said so


def test_the_page_renders_offline_in_chromium(
    report: DriftReport,
    chromium,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    """What a reader sees: with the network cut, every chart loads and the verdict shows."""
    page = report.to_html()
    # A probe appended to a copy of the page: the pixel width of every image as loaded.
    probe = (
        "<script>document.body.setAttribute('data-widths', "
        "Array.from(document.images).map(i => i.naturalWidth).join(','))</script>"
    )
    path = tmp_path / "report.html"
    path.write_text(page.replace("</body>", probe + "</body>"), encoding="utf-8")
    dom = chromium.dump_dom(path.as_uri())
    widths = re.search(r'data-widths="([^"]*)"', dom)
    assert widths is not None, dom[:500]
    assert widths.group(1) == "700,700"  # both charts decoded (7 in x 100 dpi)
    assert "Drift in 2 of 13 features" in dom
    shot = chromium.screenshot(path.as_uri(), tmp_path / "report.png")
    assert shot.read_bytes().startswith(b"\x89PNG")
