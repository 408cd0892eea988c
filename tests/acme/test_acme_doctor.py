"""``ccapki doctor`` on a deployment with ACME identities: the directory reachable with the
configured CA bundle, the store's account still valid at the CA (pebble up, down, and
restarted: it forgets its accounts)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from acme_servers import Pebble, campus_file

from kit.cli import Cli, ok, write

pytestmark = pytest.mark.integration


def _acme(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in report["problems"] if p["code"].startswith("acme-")]


def test_doctor_checks_the_acme_directory_and_account(
    cli: Cli, keyfile_store: Path, tmp_path: Path, pebble: Pebble, hook: Path
) -> None:
    f = campus_file(tmp_path, pebble.directory, pebble.bundle, hook)
    ok(cli("apply", f, "--no-acme"))
    # no account yet: the directory is checked, nothing else to say
    report = cli("doctor", "--json").json()
    assert _acme(report) == []
    assert report["checked"]["acme_accounts"] == 1
    root = write(tmp_path / "pebble-root.pem", pebble.root_pem())
    ok(cli("import", root))  # pebble's root: the store completes the chain up to it
    ok(cli("acme", "order"))
    r = ok(cli("doctor"))  # healthy, but for the warning that no backup was made
    assert "0 errors" in r.out, r.out
    assert "ACME" not in r.out.split("checked")[0], r.out
    assert "1 ACME account" in r.out
    assert cli("doctor", "--json").json()["checked"]["acme_accounts"] == 1

    pebble.stop()  # the CA down
    r = cli("doctor", "--json")
    assert r.code == 1, r.both
    (p,) = _acme(r.json())
    assert p["code"] == "acme-directory"
    assert p["severity"] == "error"
    assert "ACME directory is unreachable" in p["message"]
    assert "[acme] directory" in p["fix"]
    assert "Traceback" not in r.both
    r = cli("doctor")
    assert "fix: check [acme] directory" in r.out

    pebble.start()  # back, but it forgot every account: a warning (the next order heals it)
    r = cli("doctor", "--json")
    (p,) = _acme(r.json())
    assert p["code"] == "acme-account"
    assert p["severity"] == "warning"
    assert "no longer knows the account" in p["message"]
    r = ok(cli("acme", "order", "cam"))
    assert _acme(cli("doctor", "--json").json()) == []


def test_doctor_untrusted_bundle_and_missing_secret(
    cli: Cli,
    keyfile_store: Path,
    tmp_path: Path,
    pebble: Pebble,
    hook: Path,
) -> None:
    from acme_servers import mint_tls

    other, _, _ = mint_tls(tmp_path / "other")  # a CA that did not sign pebble's certificate
    f = campus_file(
        tmp_path,
        pebble.directory,
        pebble.bundle,
        hook,
        'eab_kid = "kid-1"\neab_hmac_env = "TEST_NO_SUCH_HMAC"\n',
    )
    f.write_text(f.read_text().replace(str(pebble.bundle), str(other)))
    ok(cli("apply", f, "--no-acme"))
    r = cli("doctor", "--json", env={"TEST_NO_SUCH_HMAC": None})
    assert r.code == 1
    codes = {p["code"]: p for p in _acme(r.json())}
    assert codes["acme-directory"]["severity"] == "error"
    assert "not trusted" in codes["acme-directory"]["message"]
    assert "ca_bundle" in codes["acme-directory"]["fix"]
    assert codes["acme-secret"]["severity"] == "warning"
    assert "TEST_NO_SUCH_HMAC" in codes["acme-secret"]["message"]
