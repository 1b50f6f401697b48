"""Integrity and size bounds of a ``pipeline.skops`` file, checked before anything is unpacked.

skops stores a pipeline as a zip archive and reads the members its schema references. The
model's version hashes a canonical form of those members only (so that retraining the same
data gives the same version); the integrity check is a SHA-256 over every byte of the file,
so that no member, referenced or not, can be added or changed unnoticed. Before any member is
decompressed, the archive's central directory must stay within the bounds below; zipfile
never yields more than a member's declared size, so the declared sizes bound memory.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any

from scorestream.exceptions import ModelError

#: Most members a pipeline archive may have (a 100-tree gradient boosting model has ~350).
MAX_MEMBERS = 20_000
#: Most bytes all members may hold once decompressed (a 100-tree model holds ~1 MB).
MAX_UNCOMPRESSED_BYTES = 256 * 1024 * 1024
#: Highest compression ratio of a member larger than ``RATIO_FLOOR_BYTES``. skops stores
#: members uncompressed (ratio 1) and numeric arrays deflate to a few times smaller; a
#: member that shrinks a hundredfold is a zip bomb, not a model.
MAX_COMPRESSION_RATIO = 100
RATIO_FLOOR_BYTES = 1024 * 1024

_BLOCK = 1024 * 1024
# The member of a skops archive that describes the object tree.
_SKOPS_SCHEMA_MEMBER = "schema.json"


def file_sha256(path: str | Path) -> str:
    """SHA-256 (hex) of every byte of a file, read a block at a time."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            while block := handle.read(_BLOCK):
                digest.update(block)
    except OSError as error:
        raise ModelError(f"cannot read model pipeline {path}: {error}") from error
    return digest.hexdigest()


def check_archive_bounds(path: str | Path) -> None:
    """Refuse a pipeline archive whose members exceed the bounds, reading only its directory.

    Raises
    ------
    ModelError
        If the file is not a zip archive, or it has more than ``MAX_MEMBERS`` members, more
        than ``MAX_UNCOMPRESSED_BYTES`` in all, or a member compressed more than
        ``MAX_COMPRESSION_RATIO`` times.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (OSError, zipfile.BadZipFile) as error:
        raise ModelError(f"cannot read model pipeline {path}: {error}") from error
    if len(members) > MAX_MEMBERS:
        raise ModelError(
            f"refusing {path}: {len(members)} zip members, more than the bound of {MAX_MEMBERS}"
        )
    total = sum(member.file_size for member in members)
    if total > MAX_UNCOMPRESSED_BYTES:
        raise ModelError(
            f"refusing {path}: its members hold {total} bytes uncompressed, more than the "
            f"bound of {MAX_UNCOMPRESSED_BYTES}"
        )
    for member in members:
        if member.file_size > RATIO_FLOOR_BYTES and member.file_size > MAX_COMPRESSION_RATIO * max(
            member.compress_size, 1
        ):
            raise ModelError(
                f"refusing {path}: member {member.filename!r} expands {member.compress_size} "
                f"bytes to {member.file_size}, more than {MAX_COMPRESSION_RATIO} times"
            )


def pipeline_version(path: str | Path) -> str:
    """Short content hash of a ``pipeline.skops`` file: the model's version.

    skops names array members and tags shared objects by their memory address at the time
    of writing, and zip members carry a timestamp, so the file's bytes differ between two
    dumps of the same pipeline. The hash is taken over a canonical form instead: array
    members by content, object tags renumbered in order of appearance. Training twice on
    the same data with the same seed and library versions thus gives the same version.
    Members skops does not reference are not covered: ``metadata.json``'s
    ``pipeline_sha256`` (:func:`file_sha256`) is the file's integrity check.

    Raises
    ------
    ModelError
        If the file is unreadable or exceeds the bounds of :func:`check_archive_bounds`.
    """
    check_archive_bounds(path)
    try:
        with zipfile.ZipFile(path) as archive:
            members = {
                name: hashlib.sha256(archive.read(name)).hexdigest()
                for name in archive.namelist()
                if name != _SKOPS_SCHEMA_MEMBER
            }
            tree = json.loads(archive.read(_SKOPS_SCHEMA_MEMBER))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as error:
        raise ModelError(f"cannot read model pipeline {path}: {error}") from error
    object_tags: dict[Any, int] = {}

    def canonical(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                key: object_tags.setdefault(value, len(object_tags))
                if key == "__id__"
                else canonical(value)
                for key, value in node.items()
            }
        if isinstance(node, list):
            return [canonical(item) for item in node]
        if isinstance(node, str):
            return members.get(node, node)
        return node

    canonical_form = json.dumps(canonical(tree), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical_form.encode("utf-8")).hexdigest()[:12]
