"""ACME enrollment against Debian's pebble, DNS-01 through the documented hook (setting the
TXT records at pebble-challtestsrv's management API) and through RFC 2136 updates to a
local BIND: order, renew, revoke, a failed challenge, a refused order, pebble restarted
mid-order, what a public CA will not issue. Each ends with a consistent store."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from acme_servers import Bind, ChallTestSrv, Pebble
from cryptography import x509
from sqlalchemy import create_engine, text

from kit.certs import san_names
from kit.cli import Cli, error_with_hint, ok, write
from kit.pgmode import store_url
from kit.storecheck import check_store

pytestmark = pytest.mark.integration


def _file(
    tmp_path: Path,
    pebble: Pebble,
    dns: str,
    *,
    cam: str | None = None,
    cas: str = "",
    acme_source: str = "cam",
    name: str = "acme-campus",
) -> Path:
    cam = cam or (
        'name = "cam"\nhostname = "cam.example.org"\nip = "10.0.0.1"\n'
        + ('source = "acme"\n' if acme_source == "cam" else "")
    )
    text_ = (
        f'[deployment]\nname = "{name}"\nrelease = "4.8.0"\norganization = "Test Org"\n'
        f'source = "internal"\n\n[cam]\n{cam}\n{cas}\n'
        f'[acme]\ndirectory = "{pebble.directory}"\nemail = "pki@example.org"\n'
        f'ca_bundle = "{pebble.bundle}"\n{dns}\n'
    )
    return write(tmp_path / f"{name}.toml", text_)


def _hook_dns(hook: Path) -> str:
    return f'dns = "hook"\nhook = ["{hook}"]\npropagation_timeout = 30\n'


def _rows(home: Path, sql: str) -> list[dict[str, object]]:
    engine = create_engine(store_url(home))
    try:
        with engine.connect() as c:
            return [dict(r._mapping) for r in c.execute(text(sql))]
    finally:
        engine.dispose()


def _current(cli: Cli, name: str) -> x509.Certificate:
    r = ok(cli("export", name, "--format", "fullchain", "--out", "-"))
    return x509.load_pem_x509_certificates(r.out.encode())[0]


def test_order_via_hook_stores_a_current_identity(
    cli: Cli, keyfile_store: Path, tmp_path: Path, pebble: Pebble, hook: Path
) -> None:
    f = _file(tmp_path, pebble, _hook_dns(hook))
    r = ok(cli("apply", f, "--no-acme"))
    assert "ccapki acme order cam" in r.out  # apply says what to run
    r = ok(cli("acme", "order"))
    assert "ordered cam v1" in r.out, r.both
    # reported before ordering: the IP left out, and the clientAuth caveat
    assert "10.0.0.1 left out" in r.out
    assert "clientAuth" in r.out
    cert = _current(cli, "cam")
    dns, ips = san_names(cert)
    assert dns == ["cam.example.org"]
    assert ips == []
    facts = check_store(keyfile_store)
    assert facts.versions[("acme-campus", "cam")] == 1
    orders = _rows(keyfile_store, "SELECT state, identity FROM acme_orders")
    assert orders == [{"state": "valid", "identity": "cam"}]
    accounts = _rows(keyfile_store, "SELECT uri, contact FROM acme_accounts")
    assert len(accounts) == 1
    assert json.loads(str(accounts[0]["contact"])) == ["mailto:pki@example.org"]
    # the identity is current: apply and a second order have nothing to do
    assert "nothing to do" in ok(cli("apply", f)).out
    assert "nothing to order" in ok(cli("acme", "order")).out
    # the trust matrix judges it as any third-party certificate (findings or none, no error)
    assert cli("trust", "check").code in (0, 1)
    assert ok(cli("acme", "status", "--json")).json()["accounts"][0]["orders"][0]["state"] == (
        "valid"
    )
    # the account key is sealed, never in the clear in the database
    sealed = _rows(keyfile_store, "SELECT sealed FROM acme_accounts")[0]["sealed"]
    assert b"PRIVATE KEY" not in bytes(sealed)  # type: ignore[arg-type]


def test_renew_orders_again_with_a_new_key(
    cli: Cli, keyfile_store: Path, tmp_path: Path, pebble: Pebble, hook: Path
) -> None:
    f = _file(tmp_path, pebble, _hook_dns(hook))
    ok(cli("apply", f, "--no-acme"))
    ok(cli("acme", "order"))
    first = _current(cli, "cam")
    # a renewal of the named identity through `ccapki renew`: the ACME path, not a CSR
    r = ok(cli("renew", "cam", "--commit", "--out", str(tmp_path / "csrs")))
    assert "ordered cam v2" in r.out, r.both
    assert not (tmp_path / "csrs" / "cam.csr").exists()
    second = _current(cli, "cam")
    assert second.serial_number != first.serial_number
    assert second.public_key() != first.public_key()  # [renewal] key = "rotate"
    facts = check_store(keyfile_store)
    assert facts.versions[("acme-campus", "cam")] == 2
    # one account for both orders
    assert len(_rows(keyfile_store, "SELECT id FROM acme_accounts")) == 1


def test_revoke(cli: Cli, keyfile_store: Path, tmp_path: Path, pebble: Pebble, hook: Path) -> None:
    f = _file(tmp_path, pebble, _hook_dns(hook))
    ok(cli("apply", f, "--no-acme"))
    ok(cli("acme", "order"))
    r = ok(cli("acme", "revoke", "cam", "--reason", "superseded"))
    assert "revoked cam's certificate" in r.out
    assert _rows(keyfile_store, "SELECT state FROM acme_orders") == [{"state": "revoked"}]
    # twice: refused cleanly, nothing changed
    error_with_hint(cli("acme", "revoke", "cam"))
    check_store(keyfile_store)


def test_failed_challenge_keeps_a_pending_key_and_nothing_else(
    cli: Cli,
    keyfile_store: Path,
    tmp_path: Path,
    pebble: Pebble,
    hook: Path,
) -> None:
    f = _file(tmp_path, pebble, _hook_dns(hook))
    ok(cli("apply", f, "--no-acme"))
    r = error_with_hint(cli("acme", "order", env={"HOOK_WRONG_VALUE": "1"}))
    assert "DNS-01 challenge failed" in r.err, r.err
    assert r.err.count("error: ") == 1
    facts = check_store(keyfile_store)
    assert ("acme-campus", "cam") not in facts.versions
    assert facts.pending[("acme-campus", "cam")] == 1
    (order,) = _rows(keyfile_store, "SELECT state, error FROM acme_orders")
    assert order["state"] == "failed"
    # the next order takes the pending key up again and succeeds
    r = ok(cli("acme", "order"))
    assert "the pending key of an earlier order" in r.out
    facts = check_store(keyfile_store)
    assert facts.versions[("acme-campus", "cam")] == 1
    assert facts.pending.get(("acme-campus", "cam"), 0) == 0


def test_refused_order_rejected_identifier(
    cli: Cli,
    keyfile_store: Path,
    tmp_path: Path,
    challtestsrv: ChallTestSrv,
    hook: Path,
) -> None:
    p = Pebble(
        tmp_path / "blocking",
        f"127.0.0.1:{challtestsrv.dns_port}",
        blocklist=("blocked.example.org",),
    )
    (tmp_path / "blocking").mkdir()
    p.start()
    try:
        cam = (
            'name = "cam"\nhostname = "cam.blocked.example.org"\nip = "10.0.0.1"\nsource = "acme"\n'
        )
        f = _file(tmp_path, p, _hook_dns(hook), cam=cam)
        ok(cli("apply", f, "--no-acme"))
        r = error_with_hint(cli("acme", "order"))
        assert "the CA refused (rejectedIdentifier)" in r.err, r.err
        assert "will not issue for that name" in r.err
    finally:
        p.stop()
    facts = check_store(keyfile_store)
    assert ("acme-campus", "cam") not in facts.versions
    assert [o["state"] for o in _rows(keyfile_store, "SELECT state FROM acme_orders")] == ["failed"]


def test_unreachable_directory(cli: Cli, keyfile_store: Path, tmp_path: Path, hook: Path) -> None:
    from kit.tools import free_port

    class Down:
        directory = f"https://127.0.0.1:{free_port()}/dir"
        bundle = tmp_path / "none.pem"

    write(Down.bundle, "")
    f = _file(tmp_path, Down, _hook_dns(hook))  # type: ignore[arg-type]
    ok(cli("apply", f, "--no-acme"))
    r = error_with_hint(cli("acme", "order"))
    assert "ACME directory is unreachable" in r.err, r.err
    check_store(keyfile_store)
    assert _rows(keyfile_store, "SELECT id FROM acme_accounts") == []


def test_untrusted_tls_is_refused_not_ignored(
    cli: Cli, keyfile_store: Path, tmp_path: Path, pebble: Pebble, hook: Path
) -> None:
    from acme_servers import mint_tls

    other, _, _ = mint_tls(tmp_path / "other")  # a CA that did not sign pebble's certificate

    class Wrong:
        directory = pebble.directory
        bundle = other

    f = _file(tmp_path, Wrong, _hook_dns(hook))  # type: ignore[arg-type]
    ok(cli("apply", f, "--no-acme"))
    r = error_with_hint(cli("acme", "order"))
    assert "HTTPS certificate is not trusted" in r.err, r.err
    assert "ca_bundle" in r.err


def test_pebble_restarted_mid_order(
    cli: Cli,
    keyfile_store: Path,
    tmp_path: Path,
    pebble: Pebble,
    hook: Path,
) -> None:
    f = _file(tmp_path, pebble, _hook_dns(hook))
    ok(cli("apply", f, "--no-acme"))
    ok(cli("acme", "order"))  # the account exists at pebble, then pebble forgets it

    def restart_when_the_hook_waits(pause: Path, done: threading.Event) -> None:
        while not done.is_set():  # the order in flight, its hook paused: restart pebble
            if Path(f"{pause}.wait").exists():
                pebble.restart()
                break
            time.sleep(0.05)
        Path(f"{pause}.go").touch()

    for attempt in range(5):
        version = check_store(keyfile_store).versions[("acme-campus", "cam")]
        pause = tmp_path / f"pause{attempt}"
        waits, done = Path(f"{pause}.wait"), threading.Event()
        t = threading.Thread(target=restart_when_the_hook_waits, args=(pause, done))
        t.start()
        try:
            r = cli("acme", "order", "cam", env={"HOOK_PAUSE": str(pause)})
        finally:
            done.set()
            t.join(timeout=60)
        if waits.exists():
            break
        # pebble reuses a valid authorization now and then even with PEBBLE_AUTHZREUSE=0
        # (a new one only when rand.Intn(100) > 0: 1 in 100): the order needs no
        # challenge, the hook never runs, pebble is not restarted mid-order; that order
        # must have gone through, then the restart is set up again
        assert r.code == 0, r.both
        assert f"ordered cam v{version + 1}" in r.out, r.both
    else:
        pytest.fail("pebble reused the authorization 5 times in a row: no restart mid-order")
    error_with_hint(r)
    assert "ordering cam" in r.err
    facts = check_store(keyfile_store)
    assert facts.versions[("acme-campus", "cam")] == version  # the earlier one stays current
    assert facts.pending[("acme-campus", "cam")] == 1
    # run again: the same account key registers again, the pending key is taken up
    r = ok(cli("acme", "order", "cam"))
    assert f"ordered cam v{version + 1}" in r.out
    facts = check_store(keyfile_store)
    assert facts.versions[("acme-campus", "cam")] == version + 1
    assert len(_rows(keyfile_store, "SELECT id FROM acme_accounts")) == 1


def test_ha_pair_service_ip_reported_before_ordering(
    cli: Cli, keyfile_store: Path, tmp_path: Path, pebble: Pebble, hook: Path
) -> None:
    cas = (
        '[[cas]]\nname = "cas-dorm"\nsource = "acme"\nvirtual_hostname = "cas-dorm.example.org"\n'
        'service_ip = "10.20.0.10"\n'
        'primary = { name = "cas-dorm-a", hostname = "cas-dorm-a.example.org", '
        'ip = "10.20.0.11" }\n'
        'secondary = { name = "cas-dorm-b", hostname = "cas-dorm-b.example.org", '
        'ip = "10.20.0.12" }\n'
        '[[cas]]\nname = "cas-lab"\nsource = "acme"\nhostname = "cas-lab.corp"\nip = "10.30.0.1"\n'
    )
    f = _file(tmp_path, pebble, _hook_dns(hook), cas=cas, acme_source="none")
    ok(cli("apply", f, "--no-acme"))
    r = ok(cli("acme", "order", "--dry-run"))
    assert "would order cas-dorm: cas-dorm.example.org, cas-dorm-a.example.org" in r.out
    assert "10.20.0.10, 10.20.0.11, 10.20.0.12 left out" in r.out
    assert "Service IP" in r.out
    assert "a public CA will refuse cas-lab.corp" in r.out
    assert "clientAuth" in r.out
    assert _rows(keyfile_store, "SELECT id FROM acme_orders") == []
    r = ok(cli("acme", "order", "cas-dorm-a"))  # a peer names its pair
    assert "ordered cas-dorm v1" in r.out, r.both
    dns, ips = san_names(_current(cli, "cas-dorm"))
    assert dns == ["cas-dorm.example.org", "cas-dorm-a.example.org", "cas-dorm-b.example.org"]
    assert ips == []
    check_store(keyfile_store)


def test_rfc2136_with_bind(
    cli: Cli,
    keyfile_store: Path,
    tmp_path: Path,
    bind: Bind,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    p = Pebble(tmp_path / "p2", f"127.0.0.1:{bind.port}")
    (tmp_path / "p2").mkdir()
    p.start()
    try:
        monkeypatch.setenv("TEST_TSIG_SECRET", bind.secret)
        dns = (
            f'dns = "rfc2136"\ndns_server = "127.0.0.1"\ndns_port = {bind.port}\n'
            f'tsig_key_name = "{bind.key_name}"\ntsig_algorithm = "hmac-sha256"\n'
            'tsig_secret_env = "TEST_TSIG_SECRET"\npropagation_timeout = 30\n'
        )
        # a second ACME identity, never validated: the wrong secret below must be used
        # (the CA cannot answer from an authorization it validated for cam)
        cas = '[[cas]]\nname = "cas1"\nsource = "acme"\nhostname = "cas1.example.org"\n'
        f = _file(tmp_path, p, dns, cas=cas + 'ip = "10.1.0.1"\n')
        ok(cli("apply", f, "--no-acme"))
        r = ok(cli("acme", "order", "cam"))
        assert "ordered cam v1" in r.out, r.both
        # a wrong TSIG secret: a clean refusal, nothing stored
        r = error_with_hint(
            cli(
                "acme",
                "order",
                "cas1",
                env={"TEST_TSIG_SECRET": "d3Jvbmcgc2VjcmV0IGZvciB0aGUga2V5IQ=="},
            )
        )
        assert "TSIG" in r.err or "NOTAUTH" in r.err, r.err
        # the secret missing from the environment: said before anything is ordered
        r = error_with_hint(cli("acme", "order", "cas1", env={"TEST_TSIG_SECRET": None}))
        assert "TEST_TSIG_SECRET" in r.err
    finally:
        p.stop()
    facts = check_store(keyfile_store)
    assert facts.versions[("acme-campus", "cam")] == 1
    assert ("acme-campus", "cas1") not in facts.versions


def test_external_account_binding(
    cli: Cli,
    keyfile_store: Path,
    tmp_path: Path,
    challtestsrv: ChallTestSrv,
    hook: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hmac = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"
    (tmp_path / "eab").mkdir()
    p = Pebble(tmp_path / "eab", f"127.0.0.1:{challtestsrv.dns_port}", eab={"kid-1": hmac})
    p.start()
    try:
        f = _file(tmp_path, p, _hook_dns(hook))
        ok(cli("apply", f, "--no-acme"))
        # the CA needs EAB and the file gives none: refused, with the fix
        r = error_with_hint(cli("acme", "order"))
        assert "externalAccountRequired" in r.err, r.err
        assert "eab_kid" in r.err
        assert _rows(keyfile_store, "SELECT id FROM acme_accounts") == []
        monkeypatch.setenv("TEST_EAB_HMAC", hmac)
        f = _file(
            tmp_path, p, _hook_dns(hook) + 'eab_kid = "kid-1"\neab_hmac_env = "TEST_EAB_HMAC"\n'
        )
        r = ok(cli("acme", "order", "--file", f))
        assert "ordered cam v1" in r.out, r.both
    finally:
        p.stop()
    check_store(keyfile_store)
    assert hmac not in "".join(map(str, _rows(keyfile_store, "SELECT * FROM acme_accounts")))
