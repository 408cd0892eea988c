"""Fixtures of the service tests: a store with the FAQ deployment applied at the fixed
clock and a user of each role (``service_home``), the app served on 127.0.0.1
(``service``), its clients (``service.client(role)``). See :mod:`kit.service`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ccapki.service.app import create_app
from ccapki.store.session import Store
from kit.certs import NOW
from kit.dashboard import Estate, make_app, make_estate, serve
from kit.service import Service, add_users, config_for, make_store, running


@pytest.fixture
def service_home(home: Path) -> tuple[Path, dict[str, str]]:
    """A store with the FAQ deployment applied and users viewer, operator, admin: its
    home (the ``home`` fixture's, so that processes find it on every backend) and each
    role's API token."""
    make_store(home)
    with Store.open(home, clock=lambda: NOW) as store:
        tokens = add_users(store)
    return home, tokens


@pytest.fixture
def service(service_home: tuple[Path, dict[str, str]]) -> Iterator[Service]:
    """The app over ``service_home``'s store, served by uvicorn on 127.0.0.1 (plain HTTP,
    no job runner)."""
    home, tokens = service_home
    app = create_app(config_for(home))
    with running(app) as url:
        svc = Service(app, url, tokens, home)
        try:
            yield svc
        finally:
            svc.close()


@pytest.fixture
def estate(tmp_path: Path) -> Estate:
    """The dashboard kit's estate (kit/dashboard.py) in a store of the test's own."""
    return make_estate(tmp_path / "store")


@pytest.fixture
def app(estate: Estate) -> Iterator[str]:
    """The service over the estate, served on 127.0.0.1: its base URL."""
    with serve(make_app(estate)) as url:
        yield url
