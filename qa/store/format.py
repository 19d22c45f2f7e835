"""The index format: the manifest of a version, its format number and the checksums of its files.

The manifest records a checksum of every other file of its version, verified whenever a version
is loaded: a flipped byte anywhere is refused with the fix, never served as wrong text or vectors.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
import xxhash

from qa.errors import IndexCorruptError

# 3: binary paragraph table (table/ instead of paragraphs.json), HNSW vectors stored as float16,
# one lexical.npz instead of three bm25s folders. 4: checksums of every file in the manifest.
# 5: paragraphs carry their section and page (table rows of 6 columns, sections.npy), documents
# their title and the hash of their file's bytes, the manifest its documents folder.
# 6: segments: each kind of vectors is a base index (hard-linked from the version that built it)
# plus an exhaustive delta (<kind>s.delta.faiss) and the slot of every row (table/<kind>_slot.npy).
# 7: paragraphs carry the unit of their page (slide, notes, row: a 7th table column).
# (Within 7, a large delta may be a FAISS IndexRefine, fast scan + float16: same file, same reader.)
FORMAT_VERSION = 7
FIX = "run `qa index --full` to rebuild it"
MANIFEST = "manifest.json"


def check_model(manifest: dict[str, Any], model: str, dimension: int | None) -> None:
    """IndexCorruptError unless the index was built by `model` (with `dimension`, if given)."""
    if manifest.get("model") != model:
        raise IndexCorruptError(
            f"the index was built with model {manifest.get('model')!r}, "
            f"but the configured model is {model!r}: {FIX}"
        )
    if dimension is not None and manifest.get("dimension") != dimension:
        raise IndexCorruptError(
            f"the index has {manifest.get('dimension')}-dimensional vectors, "
            f"the model makes {dimension}: {FIX}"
        )


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of the version in `folder`, if it is one of this format."""
    try:
        manifest = orjson.loads((folder / MANIFEST).read_bytes())
    except FileNotFoundError:
        raise IndexCorruptError(f"the index in {folder} has no manifest: {FIX}") from None
    except (OSError, ValueError) as e:
        raise IndexCorruptError(f"the index manifest in {folder} is unreadable ({e}): {FIX}") from e
    if not isinstance(manifest, dict) or "format" not in manifest:
        raise IndexCorruptError(f"the index manifest in {folder} is not one of ours: {FIX}")
    if manifest["format"] != FORMAT_VERSION:
        newer = isinstance(manifest["format"], int) and manifest["format"] > FORMAT_VERSION
        raise IndexCorruptError(
            f"the index in {folder} has format {manifest['format']}, this program reads "
            f"format {FORMAT_VERSION}"
            + (" (it was built by a newer version; upgrade, or " if newer else " (")
            + f"{FIX})"
        )
    return manifest


_CHUNK = 1 << 22


def _digest(path: Path) -> str:
    """xxh3-128 of a file: not a defence against an attacker who can write the index (they could
    write the manifest too), but a flipped bit anywhere is caught, at ~2.5 GB/s (sha256 ~0.35)."""
    digest = xxhash.xxh3_128()
    buffer = bytearray(_CHUNK)  # one buffer, read into: no new bytes object per chunk
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as f:
        while size := f.readinto(buffer):
            digest.update(view[:size])
    return digest.hexdigest()


def checksums(folder: Path, known: dict[str, str] | None = None) -> dict[str, str]:
    """Relative path -> checksum of every file of the version in `folder` but its manifest
    (those `known` taken as given: files linked from a version that recorded them)."""
    known = known or {}
    names = (
        path.relative_to(folder).as_posix()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != MANIFEST
    )
    return {name: known.get(name) or _digest(folder / name) for name in names}


def verify(folder: Path, manifest: dict[str, Any]) -> None:
    """IndexCorruptError unless every file in `folder` is the one its manifest recorded."""
    expected = manifest.get("checksums")
    if not isinstance(expected, dict) or not expected:
        raise IndexCorruptError(f"the index manifest in {folder} has no checksums: {FIX}")
    try:
        found = checksums(folder)
    except OSError as e:
        raise IndexCorruptError(f"the index in {folder} is unreadable ({e}): {FIX}") from e
    for name in sorted(set(expected) | set(found)):
        if name not in found:
            problem = "is missing"
        elif name not in expected:
            problem = "is not part of it"
        elif found[name] != expected[name]:
            problem = "does not match its checksum"
        else:
            continue
        raise IndexCorruptError(f"the index in {folder} is damaged ({name} {problem}): {FIX}")


def write_json(path: Path, data: Any) -> None:
    # orjson: a 100k-document manifest (16 MB) is written in ~0.02 s, json's took ~0.45 s of
    # every update (and reads in 2/3 of its time)
    path.write_bytes(orjson.dumps(data))


def fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
