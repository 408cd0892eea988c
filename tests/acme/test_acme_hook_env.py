"""The DNS hook gets what it needs to publish a TXT record, and none of ccapki's secrets.

Before: the hook inherited the whole environment, the store's passphrase, the token's PIN,
the database URL (with its password) and the TSIG / EAB secrets included.
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from ccapki.lifecycle.acme import _HookPublisher

SECRETS = {
    "CCAPKI_PASSPHRASE": "store-secret",
    "CCAPKI_PKCS11_PIN": "1234",
    "CCAPKI_DATABASE_URL": "postgresql+psycopg://u:dbpass@127.0.0.1/x",
    "CCAPKI_BACKUP_PASSPHRASE": "backup-secret",
    "MY_TSIG_SECRET": "tsig-secret",
}


def test_the_hook_sees_its_record_and_no_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = tmp_path / "env.txt"
    hook = tmp_path / "hook.sh"
    hook.write_text(f'#!/bin/sh\nenv > "{seen}"\necho "$@" >> "{seen}"\n')
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR)
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DNS_API_URL", "https://dns.example.org/api")  # the hook's own
    _HookPublisher([str(hook)], 5, ["MY_TSIG_SECRET"]).add(
        "_acme-challenge.cas.example.org", "token-value", "cas.example.org", "cas"
    )
    env = seen.read_text()
    for name, value in SECRETS.items():
        assert name not in env, env
        assert value not in env, env
    assert "DNS_API_URL=https://dns.example.org/api" in env
    assert "CCAPKI_ACME_RECORD=_acme-challenge.cas.example.org" in env
    assert "CCAPKI_ACME_VALUE=token-value" in env
    assert "add _acme-challenge.cas.example.org token-value" in env
