"""A model's pipeline file is checked whole, and bounded, before anything is unpacked."""

from __future__ import annotations

import shutil
import time
import tracemalloc
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from scorestream.exceptions import ModelError
from scorestream.streams.model import LoadedModel, train_model
from scorestream.streams.model.archive import (
    MAX_MEMBERS,
    MAX_UNCOMPRESSED_BYTES,
    file_sha256,
)
from scorestream.streams.model.train import TrainReport
from scorestream.streams.synthetic import generate_frame

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> TrainReport:
    loans: pd.DataFrame = generate_frame(3000, seed=5, start="2024-01-01T00:00:00Z")
    return train_model(loans, "default", tmp_path_factory.mktemp("m") / "loans", name="loans")


@pytest.fixture()
def copy(trained: TrainReport, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(trained.model_dir, target)
    return target


def add_member(model_dir: Path, name: str, size: int, compress: int) -> None:
    """Append a member of ``size`` zero bytes to the pipeline, written a MiB at a time."""
    info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
    info.compress_type = compress
    with (
        zipfile.ZipFile(model_dir / "pipeline.skops", "a") as archive,
        archive.open(info, "w", force_zip64=True) as member,
    ):
        block = bytes(MIB)
        for start in range(0, size, MIB):
            member.write(block[: min(MIB, size - start)])


def test_a_model_written_by_train_loads(copy: Path) -> None:
    model = LoadedModel.load(copy)
    assert model.metadata["pipeline_sha256"] == file_sha256(copy / "pipeline.skops")


def test_an_added_member_is_refused(copy: Path) -> None:
    # skops never reads this member and the version does not cover it; the file hash does.
    add_member(copy, "extra.bin", 1000, zipfile.ZIP_STORED)
    with pytest.raises(ModelError, match="does not match its metadata"):
        LoadedModel.load(copy)


def test_a_changed_byte_anywhere_is_refused(copy: Path) -> None:
    pipeline = copy / "pipeline.skops"
    data = bytearray(pipeline.read_bytes())
    # The zip comment is read by nobody: only a whole-file hash sees a change there.
    with zipfile.ZipFile(pipeline, "a") as archive:
        archive.comment = b"tampered"
    assert pipeline.read_bytes() != bytes(data)
    with pytest.raises(ModelError, match="does not match its metadata"):
        LoadedModel.load(copy)


def test_a_zip_bomb_member_is_refused_quickly_without_reading_it(copy: Path) -> None:
    add_member(copy, "bomb.bin", 2 * MAX_UNCOMPRESSED_BYTES, zipfile.ZIP_DEFLATED)
    assert (copy / "pipeline.skops").stat().st_size < 4 * MIB
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(ModelError, match="uncompressed"):
            LoadedModel.load(copy)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 32 * MIB
    assert time.monotonic() - started < 10.0


def test_a_highly_compressed_member_within_the_total_is_refused(copy: Path) -> None:
    add_member(copy, "zeros.bin", 64 * MIB, zipfile.ZIP_DEFLATED)
    with pytest.raises(ModelError, match="more than 100 times"):
        LoadedModel.load(copy)


def test_too_many_members_are_refused(copy: Path) -> None:
    with zipfile.ZipFile(copy / "pipeline.skops", "a") as archive:
        for index in range(MAX_MEMBERS):
            archive.writestr(f"m{index}", b"")
    with pytest.raises(ModelError, match="zip members"):
        LoadedModel.load(copy)
