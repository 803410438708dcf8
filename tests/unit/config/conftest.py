"""The ``tmp`` fixture: a directory holding the files the configuration cases refer to."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.config.support import FILES


@pytest.fixture
def tmp(tmp_path: Path) -> str:
    """A directory holding FILES; its path replaces ``{tmp}`` in envs and messages."""
    for name, content in FILES.items():
        (tmp_path / name).write_text(content.replace("{tmp}", str(tmp_path)), encoding="utf-8")
    return str(tmp_path)
