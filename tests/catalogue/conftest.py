"""Fixtures for the catalogue tests: the standard loaded, editable copies of the data files, an admin."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from django.test import Client

from catalogue.services import LoadResult, catalogue_load_standard
from catalogue.standard import DATA_DIR, RULES_DIR
from organisations.models import User
from organisations.services import user_create


@pytest.fixture
def standard_catalogue(db) -> LoadResult:
    return catalogue_load_standard()


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    """A private copy of catalogue/data/ that a test may edit and load with data_dir=."""
    target = tmp_path / "data"
    shutil.copytree(DATA_DIR, target)
    return target


@pytest.fixture
def edit_components(data_copy: Path) -> Callable[[Callable[[list[str]], list[str]]], Path]:
    """Apply `change` to the lines of the copied components.csv; returns the data directory.

    The rules rows of classes that left the file go too, as a maintainer removing a class would do
    (the rules reader refuses rules for a class it does not know).
    """

    def edit(change: Callable[[list[str]], list[str]]) -> Path:
        path = data_copy / "components.csv"
        lines = path.read_text(encoding="utf-8").splitlines()
        changed = change(lines)
        path.write_text("\n".join(changed) + "\n", encoding="utf-8")
        codes = {line.split(",", 1)[0] for line in changed}
        rules = data_copy / RULES_DIR / "components.csv"
        kept = [line for line in rules.read_text(encoding="utf-8").splitlines() if line.split(",", 1)[0] in codes]
        rules.write_text("\n".join(kept) + "\n", encoding="utf-8")
        return data_copy

    return edit


@pytest.fixture
def edit_rules(data_copy: Path) -> Callable[[str, Callable[[list[str]], list[str]]], Path]:
    """Apply `change` to the lines of the copied rules/<file_name>; returns the data directory."""

    def edit(file_name: str, change: Callable[[list[str]], list[str]]) -> Path:
        path = data_copy / RULES_DIR / file_name
        lines = path.read_text(encoding="utf-8").splitlines()
        path.write_text("\n".join(change(lines)) + "\n", encoding="utf-8")
        return data_copy

    return edit


@pytest.fixture
def superuser(db) -> User:
    user = user_create(username="catalogue-admin", full_name="管理员", password="x-secret-9", is_staff=True)
    user.is_superuser = True
    user.save(update_fields=["is_superuser"])
    return user


@pytest.fixture
def superuser_client(superuser: User) -> Client:
    client = Client()
    client.force_login(superuser)
    return client
