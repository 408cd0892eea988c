"""`lab up` with an identity that has no certificate yet names it and its next step.

Found in a new administrator's walkthrough: on a third-party deployment applied but with no
certificate imported yet, `ccapki lab up` said "the lab daemon stopped: lab failed: cam has
no certificate in the store" and "hint: see .../lab.log". Now `lab up` stops before starting
the daemon, naming each identity without a certificate and its step (a third-party one:
`ccapki csr NAME`, then `ccapki import` the CA's answer; one whose CSR awaits the CA:
import the answer); the daemon's own check (a reload) says the same.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ccapki.errors import StoreError
from ccapki.lifecycle.labspec import build_spec
from ccapki.store import Store
from ccapki.topology.loader import parse_deployment
from kit.cli import THIRD_PARTY_TP, Cli, error_with_hint, ok, write

TP = THIRD_PARTY_TP


def test_lab_up_names_the_identities_without_a_certificate_and_their_step(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    ok(cli("apply", write(tmp_path / "tp.toml", TP)))
    r = error_with_hint(cli("lab", "up"))
    assert r.err.startswith(
        "error: the lab cannot start: cam and cas-tp have no certificate in the store yet"
    ), r.err
    assert (
        "hint: cam: make its CSR (`ccapki csr cam`), send it to the CA, then `ccapki import "
        "FILE` the certificate it returns; cas-tp: make its CSR (`ccapki csr cas-tp`)"
    ) in r.err, r.err
    assert "lab.log" not in r.err, r.err
    error_with_hint(cli("lab", "status"))  # no daemon was started

    ok(cli("csr", "cas-tp", "--out", tmp_path / "c"))
    r = error_with_hint(cli("lab", "up"))
    assert (
        "cas-tp: the CSR made on 2026-11-27 awaits the CA: `ccapki import FILE` its answer"
    ) in r.err, r.err

    with Store.open(keyfile_store) as store, pytest.raises(StoreError) as raised:
        build_spec(store, parse_deployment(TP, "tp.toml"))  # the daemon's (reload) path
    assert raised.value.message.startswith("the lab cannot start: cam and cas-tp have no")
    assert "`ccapki csr cam`" in raised.value.hint
