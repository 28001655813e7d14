"""Every URL either is deliberately public or refuses anonymous visitors."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

# Reviewed one by one: each is meant to be reachable without signing in.
PUBLIC = {
    "/",
    "/healthz",
    "/console/login/",
    "/console/logout/",
    "/h5/",
    "/h5/me/",
    # Resident WeChat sign-in: the start page and the OAuth return (it checks its state).
    "/h5/login/",
    "/h5/login/callback/",
    "/api/v1/",
    "/api/v1/openapi.json",
    "/api/v1/docs",
}


def _walk(patterns: list[object], prefix: str = "") -> list[str]:
    found: list[str] = []
    for pattern in patterns:
        route = prefix + str(pattern.pattern)  # type: ignore[attr-defined]
        if isinstance(pattern, URLResolver):
            found += _walk(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            found.append("/" + route.lstrip("^").rstrip("$").replace("\\Z", ""))
    return found


SAMPLES = {
    "int": "1",
    "str": "x",
    "slug": "x",
    "uuid": "00000000-0000-0000-0000-000000000001",
    "path": "x",
}


def concrete(path: str) -> str:
    """Fill each ``<converter:name>`` with a sample value, so the view itself answers."""
    return re.sub(r"<(?:(\w+):)?\w+>", lambda m: SAMPLES.get(m.group(1) or "str", "x"), path)


def all_paths() -> list[str]:
    return sorted(set(_walk(get_resolver().url_patterns)))


@pytest.mark.django_db
def test_every_url_is_public_by_decision_or_closed_to_anonymous(client: Client) -> None:
    paths = all_paths()
    assert "/console/status/" in paths
    unprotected = []
    for path in paths:
        if path in PUBLIC:
            continue
        response = client.get(concrete(path))
        closed = response.status_code in (401, 403, 404, 405) or (
            response.status_code == 302
            and response["Location"].startswith(("/console/login/", "/h5/login/"))
        )
        if not closed:
            unprotected.append(f"{path} -> {response.status_code}")
    assert unprotected == []
