"""Fixtures for photo tests: English messages and a storage folder of each test's own."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.utils import translation


@pytest.fixture(autouse=True)
def english_messages() -> Iterator[None]:
    """Rejections speak the site's language (Chinese by default); these tests read their English."""
    with translation.override("en"):
        yield


@pytest.fixture
def media_root(settings: Any, tmp_path: Path) -> Path:
    """MEDIA_ROOT for this test alone (parallel runs share var/test-media), and default_storage follows it."""
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = root
    assert Path(default_storage.path("x")).parent == root
    return root


@pytest.fixture
def stored_files(media_root: Path) -> Callable[[], list[str]]:
    """The files now in storage, as storage names."""

    def list_files() -> list[str]:
        return sorted(path.relative_to(media_root).as_posix() for path in media_root.rglob("*") if path.is_file())

    return list_files
