"""schemathesis against the service's own ``/openapi.json`` (in process, over ASGI), with an
admin's API token: for every operation, generated requests never get a 500, and every
response conforms to the schema (status code, content type, headers, body). Stateful
testing is off; each operation gets a bounded number of examples on a fresh store (the FAQ
deployment applied, a user of each role), so one operation's changes (a revoked token,
say) never reach another's. Every operation is tried; the failures are reported together."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ccapki.service.app import create_app
from ccapki.store.session import Store
from kit.certs import NOW
from kit.service import add_users, config_for, make_store

#: no 500, and every response as the schema documents it: its status code, content type,
#: headers and body (not schemathesis's positive-data check: a request the schema allows
#: may still be refused for what it means, e.g. 422 for a deployment file that does not
#: parse, 400 for a user who exists already)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
#: examples per operation: enough to reach every parameter, bounded so the file runs in
#: about a minute
EXAMPLES = 15


def _fresh_app(home: Path) -> tuple[FastAPI, dict[str, str]]:
    """The app over a new store at ``home``, and an admin's token header."""
    make_store(home)
    with Store.open(home, clock=lambda: NOW) as store:
        tokens = add_users(store)
    app = create_app(config_for(home, backup_dir=home / "backups"))
    return app, {"Authorization": f"Bearer {tokens['admin']}"}


def _checker(operation: Any, app: FastAPI, headers: dict[str, str]) -> Any:
    """A hypothesis test sending ``operation``'s generated requests to ``app``."""

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def check(case: Any) -> None:
        case.call_and_validate(headers=headers, app=app, checks=CHECKS)

    return check


def test_the_api_answers_every_generated_request_as_its_schema_says(tmp_path: Path) -> None:
    first, _ = _fresh_app(tmp_path / "schema")
    schema = schemathesis.openapi.from_asgi("/openapi.json", first)
    failures: list[str] = []
    operations = 0
    for n, result in enumerate(schema.get_all_operations()):
        operation = result.ok()
        operations += 1
        app, headers = _fresh_app(tmp_path / f"op{n}")

        check = _checker(operation, app, headers)
        try:
            check()
        except (Exception, BaseExceptionGroup) as exc:  # collected, reported together below
            failures.append(f"{operation.label}: {exc}")
    assert operations > 20
    assert not failures, "\n\n".join(failures)
