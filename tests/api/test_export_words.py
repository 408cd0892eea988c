"""``ccapki.export`` says a name the deployment lacks as the CLI says it, and a refused
password in the API's words (walkthrough Z: an unknown name read "has no certificate in the
store; run `ccapki apply`", and a short PKCS#12 password "use --password,
CCAPKI_EXPORT_PASSWORD or the prompt", options a script does not have)."""

from __future__ import annotations

from pathlib import Path

import pytest

import ccapki
from ccapki.errors import InputError, NotFoundError
from kit.certs import NOW
from kit.cli import FAQ


@pytest.fixture
def store_home(home: Path) -> Path:
    with ccapki.init_store(home, key_file=True, clock=lambda: NOW) as store:
        ccapki.apply(store, ccapki.load_deployment(FAQ))
    return home


def test_an_unknown_name_is_said_as_the_cli_says_it(store_home: Path) -> None:
    with ccapki.open_store(store_home, clock=lambda: NOW) as store:
        with pytest.raises(NotFoundError) as raised:
            ccapki.export(store, "nosuch", "cert")
        assert "no identity or appliance named 'nosuch'" in raised.value.message
        assert "cas-dorm" in raised.value.hint  # the names it has
        # an appliance's name still means its identity
        assert ccapki.export(store, "cas-dorm-a", "cert") == ccapki.export(
            store, "cas-dorm", "cert"
        )


@pytest.mark.parametrize(
    ("fmt", "password"), [("pkcs12", None), ("pkcs12", "short"), ("key", "short")]
)
def test_a_refused_password_names_the_argument_not_cli_options(
    store_home: Path, fmt: str, password: str | None
) -> None:
    with ccapki.open_store(store_home, clock=lambda: NOW) as store:
        with pytest.raises(InputError) as raised:
            ccapki.export(store, "cam", fmt, password=password)  # type: ignore[arg-type]
        hint = raised.value.hint
        assert "password=" in hint, hint
        for cli_word in ("--password", "CCAPKI_EXPORT_PASSWORD", "prompt"):
            assert cli_word not in hint, hint
        assert not [e for e in store.audit.log(20) if e.action == "key-export"]
