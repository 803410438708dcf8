"""File signatures: how secrets, CA bundles and certificates are seen to change on disk."""

from __future__ import annotations

import os
from pathlib import Path

from watchdog.base.files import signature


def test_a_missing_file_has_no_signature(tmp_path: Path) -> None:
    assert signature(tmp_path / "absent") is None


def test_rewriting_or_replacing_a_file_changes_its_signature(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_text("first\n")
    first = signature(path)
    assert first is not None
    assert signature(path) == first  # looked at again, unchanged

    path.write_text("second, longer\n")  # rewritten in place
    rewritten = signature(path)
    assert rewritten not in (None, first)

    other = tmp_path / "new"
    other.write_text("second, longer\n")
    os.utime(other, ns=(os.stat(path).st_atime_ns, os.stat(path).st_mtime_ns))
    os.replace(other, path)  # a Secret's atomic swap: same size and mtime, a new inode
    assert signature(path) not in (None, rewritten)
