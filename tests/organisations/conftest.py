"""Fixtures for the organisation and permission tests: the small city and API clients for personas."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from organisations.models import User
from tests.factories import SmallCity, small_city


@pytest.fixture
def city(db: Any) -> SmallCity:
    return small_city()


@pytest.fixture
def client_for(db: Any) -> Callable[[User], APIClient]:
    """An API client signed in (by session, as a browser) as the given user."""

    def make(user: User) -> APIClient:
        client = APIClient()
        client.force_login(user)
        return client

    return make


def listed_ids(response: Any) -> set[int]:
    """Ids on one page of a list: GeoJSON features or plain results."""
    body = response.json()
    items = body["features"] if "features" in body else body["results"]
    return {item["id"] for item in items}
