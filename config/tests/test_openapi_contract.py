"""The OpenAPI schema served at /api/schema/ agrees with API.md.

Every (method, path) in API.md's tables must be in the schema, unless it is listed
in NOT_BUILT_YET — and that list may only shrink: an entry that the schema already
has fails the test, so it is removed the moment its issue lands.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core.management import call_command

API_MD_CANDIDATES = [
    Path(__file__).resolve().parents[2].parent / "shared" / "docs" / "API.md",
    Path(__file__).resolve().parents[2] / "docs" / "API.md",
]
ROW = re.compile(r"^\|\s*(GET|POST|PUT|PATCH|DELETE)\s*\|\s*`([^`]+)`", re.MULTILINE)

# Paths of API.md whose issue has not landed yet ("second release"). Remove as they land.
NOT_BUILT_YET: set[tuple[str, str]] = set()
# Served by plain Django views outside the DRF schema by design.
OUTSIDE_SCHEMA = {("GET", "/health")}


def _api_md() -> str:
    for candidate in API_MD_CANDIDATES:
        if candidate.exists():
            return candidate.read_text()
    pytest.fail(f"API.md not found in {API_MD_CANDIDATES}")


def api_md_operations() -> set[tuple[str, str]]:
    operations = set()
    for method, raw_path in ROW.findall(_api_md()):
        path = raw_path.split("?")[0]
        operations.add((method, path))
    return operations


@pytest.fixture(scope="module")
def schema_operations(django_db_blocker) -> set[tuple[str, str]]:
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    return {(method.upper(), path) for path, item in schema["paths"].items() for method in item}


def test_api_md_is_parsed():
    operations = api_md_operations()

    assert ("POST", "/api/auth/register") in operations
    assert ("PATCH", "/internal/config") in operations
    assert len(operations) >= 40


def test_every_built_api_md_path_is_in_the_schema(schema_operations):
    expected = api_md_operations() - NOT_BUILT_YET - OUTSIDE_SCHEMA

    missing = sorted(expected - schema_operations)

    assert missing == [], f"API.md paths missing from the OpenAPI schema: {missing}"


def test_not_built_yet_only_lists_api_md_paths_the_schema_lacks(schema_operations):
    assert NOT_BUILT_YET <= api_md_operations(), sorted(NOT_BUILT_YET - api_md_operations())
    landed = sorted(NOT_BUILT_YET & schema_operations)
    assert landed == [], f"built now; remove from NOT_BUILT_YET: {landed}"


def test_the_schema_has_no_path_that_api_md_does_not_know(schema_operations):
    assert sorted(schema_operations - api_md_operations()) == []


@pytest.mark.django_db
def test_schema_endpoint_serves_valid_openapi_3(client, tmp_path):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    assert response.json()["openapi"].startswith("3.")
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))


@pytest.mark.django_db
def test_docs_page_is_served(client):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    assert b"swagger" in response.content.lower()
