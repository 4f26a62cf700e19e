"""Schemathesis against the OpenAPI schema the app serves (issue 10): for each role,
generated requests to every operation — valid and invalid bodies, parameters, ids —
get no server error and no status the schema does not document.

https://schemathesis.readthedocs.io/ — the schema is fetched from ``/api/schema/``
through Django's WSGI handler and every case runs in-process against the test database
(committed data: Django's request cycle returns its connection after each request).
Each operation's strategy is driven by Hypothesis directly (schemathesis' own pytest
plugin does not load under this pytest).
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error, status_code_conformance

from config.asgi import django_wsgi_app

EXAMPLES_PER_OPERATION = 10
MIN_CASES_PER_ROLE = 300

pytestmark = pytest.mark.django_db(transaction=True)


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return " / ".join(lines[:3])[:240]


@pytest.mark.parametrize("role", ["customer", "mitra", "operator"])
def test_no_server_error_and_no_undocumented_status(role, make_customer, make_mitra, make_operator, api_client_for):
    user = {"customer": make_customer, "mitra": make_mitra, "operator": make_operator}[role]()
    headers = {"Authorization": f"Bearer {api_client_for(user).tokens['access']}"}
    schema = schemathesis.openapi.from_wsgi("/api/schema/", django_wsgi_app)
    failures: list[str] = []
    cases = 0

    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True,
                  suppress_health_check=list(HealthCheck), database=None)
        def run(case):
            nonlocal cases
            cases += 1
            try:
                case.call_and_validate(headers=headers, checks=[not_a_server_error, status_code_conformance])
            except BaseExceptionGroup as group:  # schemathesis' FailureGroup: what the checks found
                failures.extend(f"{operation.method.upper()} {operation.path}: {_first_line(e)}" for e in group.exceptions)
            except Exception as exc:  # noqa: BLE001 - collected and reported below
                failures.append(f"{operation.method.upper()} {operation.path}: {_first_line(exc)}")

        run()

    assert cases >= MIN_CASES_PER_ROLE
    assert not failures, f"{len(failures)} of {cases} cases failed:\n" + "\n".join(sorted(set(failures))[:60])
