"""qa/files.py: a document is read only from inside its folder, only if it is a regular file, and
never more than the cap (plus one byte) whatever `stat` says, nor for longer than the time limit.

Through whole builds (`qa index`, `--watch`, `POST /api/index`): tests/test_hardening_documents.py.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from qa.files import RefusedError, read_confined, real_folder
from tests.conftest import write

OUTSIDE = "a link to a file outside the documents folder: not read"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    write(docs, "a.txt", "Pelicans dive.")
    write(tmp_path, "secret.txt", "the password is swordfish")
    return docs


def refused(path: Path, root: Path | str, max_bytes: int = 1000, **kwargs) -> str:
    root = root if isinstance(root, str) else real_folder(root)
    with pytest.raises(RefusedError) as e:
        read_confined(path, root, max_bytes, **kwargs)
    return str(e.value)


def test_a_file_inside_the_folder_is_read_whole(folder: Path) -> None:
    assert read_confined(folder / "a.txt", real_folder(folder), 1000) == b"Pelicans dive."
    write(folder, "sub/b.txt", "Nested.")
    (folder / "link.txt").symlink_to("sub/b.txt")  # a link that stays inside is fine
    assert read_confined(folder / "link.txt", real_folder(folder), 1000) == b"Nested."


@pytest.mark.parametrize(
    "target", ["/etc/passwd", "../secret.txt", "/proc/self/status", "/etc/os-release"]
)
def test_links_out_of_the_folder_are_refused(folder: Path, target: str) -> None:
    (folder / "leak.txt").symlink_to(target)
    assert refused(folder / "leak.txt", folder) == OUTSIDE


def test_a_link_through_a_linked_folder_or_a_chain_is_refused(folder: Path) -> None:
    (folder / "out").symlink_to(folder.parent, target_is_directory=True)
    assert refused(folder / "out" / "secret.txt", folder) == OUTSIDE
    (folder / "hop1.txt").symlink_to("hop2.txt")  # inside, inside, then out
    (folder / "hop2.txt").symlink_to("../secret.txt")
    assert refused(folder / "hop1.txt", folder) == OUTSIDE


def test_a_sibling_folder_with_the_same_prefix_is_outside(tmp_path: Path) -> None:
    write(tmp_path, "docs/a.txt", "In.")
    write(tmp_path, "docs-private/b.txt", "Out.")
    (tmp_path / "docs" / "b.txt").symlink_to("../docs-private/b.txt")
    assert refused(tmp_path / "docs" / "b.txt", tmp_path / "docs") == OUTSIDE


def test_a_documents_folder_that_is_itself_a_link_is_read_through_it(tmp_path: Path) -> None:
    write(tmp_path, "real/a.txt", "Real.")
    (tmp_path / "docs").symlink_to(tmp_path / "real", target_is_directory=True)
    root = real_folder(tmp_path / "docs")
    assert read_confined(tmp_path / "docs" / "a.txt", root, 100) == b"Real."


def test_a_fifo_is_refused_at_once_without_blocking(folder: Path) -> None:
    os.mkfifo(folder / "pipe.txt")
    done: list[str] = []
    reader = threading.Thread(target=lambda: done.append(refused(folder / "pipe.txt", folder)))
    reader.start()
    reader.join(timeout=5)
    if reader.is_alive():  # unblock the hung open so the test run itself can end
        with open(folder / "pipe.txt", "wb"):
            pass
        reader.join()
        pytest.fail("reading a FIFO blocked")
    assert done == ["not a regular file (a named pipe (FIFO)): not read"]


def test_a_fifo_swapped_in_after_the_check_is_refused_on_the_descriptor(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    os.mkfifo(folder / "pipe.txt")
    real_stat = os.stat
    regular = real_stat(folder / "a.txt")
    # The path passes the check as a regular file, then is a FIFO when opened.
    monkeypatch.setattr(
        os, "stat", lambda p, *a, **k: regular if "pipe" in str(p) else real_stat(p)
    )
    assert refused(folder / "pipe.txt", folder) == (
        "not a regular file (a named pipe (FIFO)): not read"
    )


def test_devices_are_refused_and_never_read() -> None:
    assert refused(Path("/dev/zero"), "/") == "not a regular file (a character device): not read"
    assert refused(Path("/dev/null"), "/dev") == "not a regular file (a character device): not read"


def test_the_cap_holds_whatever_stat_says(monkeypatch: pytest.MonkeyPatch) -> None:
    # /proc files say size 0 and are regular: read, but never past the cap.
    assert os.stat("/proc/self/status").st_size == 0
    assert refused(Path("/proc/self/status"), "/proc", max_bytes=10) == (
        "too large (over 10 bytes; the limit is 10 bytes): split it"
    )
    sizes: list[int] = []
    real_read = os.read
    monkeypatch.setattr(os, "read", lambda fd, n: sizes.append(n) or real_read(fd, n))
    read_confined(Path("/proc/self/status"), "/proc", 100_000)
    assert sizes and max(sizes) <= 100_001


def test_a_file_larger_than_the_cap_by_stat_is_not_read(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open(folder / "huge.txt", "wb") as f:  # sparse: cheap to make
        f.truncate(65 * 2**20)
    monkeypatch.setattr(os, "open", lambda *a, **k: pytest.fail("opened a file over the cap"))
    assert refused(folder / "huge.txt", folder, max_bytes=64 * 2**20) == (
        "too large (65.0 MB; the limit is 64.0 MB): split it"
    )


def test_a_read_over_the_time_limit_is_abandoned(folder: Path) -> None:
    assert refused(folder / "a.txt", folder, max_seconds=0) == (
        "reading took longer than 0 s: not read"
    )


def test_missing_files_and_loops_say_why(folder: Path) -> None:
    (folder / "dangling.txt").symlink_to("nowhere.txt")
    (folder / "self.txt").symlink_to("self.txt")
    assert refused(folder / "dangling.txt", folder) == "cannot read (No such file or directory)"
    assert refused(folder / "self.txt", folder) == "cannot read (Too many levels of symbolic links)"
