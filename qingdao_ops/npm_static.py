"""Serve chosen files of npm packages (node_modules/, installed from package-lock.json by `make deps`) as static
files: only the files named in NPM_STATIC_FILES, so collectstatic copies one bundle, not a package's whole dist."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.staticfiles.finders import BaseFinder
from django.core.checks import Warning as CheckWarning
from django.core.files.storage import FileSystemStorage


def _files() -> dict[str, Path]:
    root = Path(settings.BASE_DIR) / "node_modules"
    return {url_path: root / source for url_path, source in getattr(settings, "NPM_STATIC_FILES", {}).items()}


class NpmFinder(BaseFinder):
    """NPM_STATIC_FILES = {"vendor/echarts/echarts.min.js": "echarts/dist/echarts.min.js"}: static path -> path
    under node_modules/."""

    def check(self, **kwargs: Any) -> list[CheckWarning]:
        return [
            CheckWarning(f"{source} is missing: run `make deps` (npm ci).", id="qingdao_ops.W101")
            for source in _files().values()
            if not source.is_file()
        ]

    def find(self, path: str, find_all: bool = False, **kwargs: Any) -> str | list[str] | None:
        source = _files().get(path)
        if source is not None and source.is_file():
            return [str(source)] if find_all else str(source)
        return [] if find_all else None

    def list(self, ignore_patterns: Any) -> Iterator[tuple[str, FileSystemStorage]]:
        for url_path, source in _files().items():
            if source.is_file():
                storage = FileSystemStorage(location=str(source.parent))
                storage.prefix = str(Path(url_path).parent)  # collectstatic and WhiteNoise put the file under it
                yield source.name, storage
