"""The committed OpenAPI schema is the one the code serves."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from jingan.config.api import api
from jingan.config.environment import PROJECT_ROOT


def test_committed_schema_matches_the_code() -> None:
    committed = json.loads((PROJECT_ROOT / "openapi.json").read_text(encoding="utf-8"))
    served = json.loads(json.dumps(api.get_openapi_schema()))  # JSON has string keys only
    assert committed == served, "run `make openapi` and commit openapi.json"


@pytest.mark.django_db
def test_schema_and_docs_are_served(client: Client) -> None:
    schema = client.get("/api/v1/openapi.json")
    assert schema.status_code == 200
    assert schema.json()["info"]["title"] == "静安便捷就医平台 API"
    assert "/api/v1/platform/status" in schema.json()["paths"]
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.content.decode().lower()
