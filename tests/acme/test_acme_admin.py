"""What a new administrator runs into (docs/acme.md followed by hand, then broken on
purpose), each a clean ``error:`` + ``hint:``, a non-zero exit and nothing half-stored:
a wrong directory URL, a hook that exits 1, a hook that does not exist or cannot be run,
a revoked certificate ordered again, ``renew --commit`` reporting an ACME renewal, a
private ACME CA whose root the store does not hold."""

from __future__ import annotations

from pathlib import Path

import pytest
from acme_servers import Pebble, campus_file, store_rows

from kit.cli import Cli, error_with_hint, ok, write
from kit.storecheck import check_store

pytestmark = pytest.mark.integration


def _nothing_stored(home: Path) -> None:
    assert store_rows(home, "SELECT id FROM acme_orders") == []
    assert store_rows(home, "SELECT id FROM acme_accounts") == []
    assert store_rows(home, "SELECT fingerprint FROM keys WHERE identity = 'cam'") == []
    check_store(home)


def test_wrong_directory_url_says_http_status(
    cli: Cli, keyfile_store: Path, tmp_path: Path, pebble: Pebble, hook: Path
) -> None:
    f = campus_file(tmp_path, pebble.directory.replace("/dir", "/wrong"), pebble.bundle, hook)
    ok(cli("apply", f, "--no-acme"))
    r = error_with_hint(cli("acme", "order"))
    assert "the CA answered what is not ACME (HTTP 404" in r.err, r.err
    assert "<Response" not in r.err
    assert "[acme] directory" in r.err
    _nothing_stored(keyfile_store)


def test_unreachable_directory_message_is_clean(
    cli: Cli, keyfile_store: Path, tmp_path: Path, pebble: Pebble, hook: Path
) -> None:
    from kit.tools import free_port

    f = campus_file(tmp_path, f"https://127.0.0.1:{free_port()}/dir", pebble.bundle, hook)
    ok(cli("apply", f, "--no-acme"))
    r = error_with_hint(cli("acme", "order"))
    first = r.err.splitlines()[0]
    assert "Connection refused)" in first, first
    assert '"' not in first, first  # no urllib3 repr left over
    assert "))" not in first, first
    _nothing_stored(keyfile_store)


def test_hook_that_does_not_exist_or_cannot_run(
    cli: Cli, keyfile_store: Path, tmp_path: Path, pebble: Pebble
) -> None:
    f = campus_file(tmp_path, pebble.directory, pebble.bundle, tmp_path / "no-such-hook")
    ok(cli("apply", f, "--no-acme"))
    r = error_with_hint(cli("acme", "order"))
    assert "the DNS hook" in r.err, r.err
    assert "does not exist" in r.err, r.err
    _nothing_stored(keyfile_store)  # said before the CA is asked: no account, no key
    not_exec = write(tmp_path / "hook.sh", "#!/bin/sh\nexit 0\n")
    not_exec.chmod(0o644)
    f = campus_file(tmp_path, pebble.directory, pebble.bundle, not_exec)
    r = error_with_hint(cli("acme", "order", "--file", f))
    assert "cannot be run" in r.err, r.err
    assert "chmod +x" in r.err, r.err
    _nothing_stored(keyfile_store)
    # doctor says so too (a warning: orders would stop)
    ok(cli("apply", f, "--no-acme"))
    problems = cli("doctor", "--json").json()["problems"]
    assert any(p["code"] == "acme-secret" and "cannot be run" in p["message"] for p in problems)


def test_hook_that_exits_1(cli: Cli, keyfile_store: Path, tmp_path: Path, pebble: Pebble) -> None:
    failing = write(
        tmp_path / "failing-hook.sh",
        "#!/bin/sh\necho 'calling the provider'\necho 'provider said: 403 forbidden' >&2\nexit 1\n",
    )
    failing.chmod(0o755)
    f = campus_file(tmp_path, pebble.directory, pebble.bundle, failing)
    ok(cli("apply", f, "--no-acme"))
    r = error_with_hint(cli("acme", "order"))
    assert "exited 1: provider said: 403 forbidden" in r.err, r.err
    assert r.err.count("error: ") == 1
    # the order failed, its key sealed and pending; no certificate
    (order,) = store_rows(keyfile_store, "SELECT state, error FROM acme_orders")
    assert order["state"] == "failed"
    assert "403 forbidden" in str(order["error"])
    facts = check_store(keyfile_store)
    assert ("acme-campus", "cam") not in facts.versions
    assert facts.pending[("acme-campus", "cam")] == 1


def test_revoked_certificate_is_due_again_and_renew_reports_the_order(
    cli: Cli, keyfile_store: Path, tmp_path: Path, pebble: Pebble, hook: Path
) -> None:
    f = campus_file(tmp_path, pebble.directory, pebble.bundle, hook)
    ok(cli("apply", f, "--no-acme"))
    r = ok(cli("acme", "order"))
    # pebble's root is not in the store: said, with the fix
    assert "chain stops below" in r.err, r.err
    assert "ccapki import ROOT.pem" in r.err, r.err
    root = write(tmp_path / "pebble-root.pem", pebble.root_pem())
    ok(cli("import", root))
    ok(cli("acme", "revoke", "cam", "--reason", "superseded"))
    # the revoked certificate is still the current version: ordering what is due orders it
    r = ok(cli("acme", "order", "--dry-run"))
    assert "would order cam" in r.out, r.out
    r = ok(cli("acme", "order"))
    assert "ordered cam v2" in r.out, r.both
    assert "chain stops below" not in r.err  # the root is the store's now
    # renew --commit of an ACME identity: the order's line, not "skipped" nor "nothing"
    r = ok(cli("renew", "cam", "--commit"))
    assert "ordered cam v3" in r.out, r.both
    assert "skipped cam" not in r.both, r.both
    assert "nothing to renew" not in r.both, r.both
    # a dry run says how it would be renewed
    r = cli("renew", "cam")
    assert "`renew --commit` orders it" in r.both, r.both
    check_store(keyfile_store)


def test_apply_orders_the_acme_identities(
    cli: Cli, keyfile_store: Path, tmp_path: Path, pebble: Pebble, hook: Path
) -> None:
    from kit.tools import free_port

    cas = '[[cas]]\nname = "cas-1"\nhostname = "cas-1.example.org"\nip = "10.0.0.2"\n'
    # --dry-run asks the CA nothing: a directory nobody listens on is fine
    down = campus_file(tmp_path, f"https://127.0.0.1:{free_port()}/dir", pebble.bundle, hook)
    down.write_text(down.read_text().replace("[acme]", cas + "\n[acme]"))
    r = ok(cli("apply", down, "--dry-run"))
    assert "would order cam from the ACME CA" in r.out, r.out
    assert "would issue cas-1" in r.out
    # the CA unreachable: the rest is applied, the order fails with its fix and the way out
    # (stderr first warns that cas-1's 4.8 five-year default is over what Apple clients take)
    r = cli("apply", down)
    assert r.code == 2, r.both
    assert r.err.startswith("warning: cas-1 is planned valid for 1826 days"), r.err
    error = r.err[r.err.index("\nerror: ") + 1 :]
    assert error.startswith("error: ordering cam: "), r.err
    assert "\nhint: " in error, r.err
    assert "issued cas-1 v1" in r.out
    assert "ACME directory is unreachable" in r.err
    assert "--no-acme" in r.err
    # --no-acme: applied, and said what to run
    r = ok(cli("apply", down, "--no-acme"))
    assert "cam: order it from the ACME CA: ccapki acme order cam" in r.out, r.out

    f = campus_file(tmp_path, pebble.directory, pebble.bundle, hook)
    f.write_text(f.read_text().replace("[acme]", cas + "\n[acme]"))
    ok(cli("import", write(tmp_path / "pebble-root.pem", pebble.root_pem())))
    r = ok(cli("apply", f))
    assert "ordered cam v1" in r.out, r.both
    assert "clientAuth" in r.out  # the notes of `acme order`
    assert "csr" not in r.out, r.out
    assert "nothing to do" not in r.out, r.out
    # the trust stores got what the new certificate needs in the same run
    assert "added root CA Pebble Root CA" in r.out, r.out
    r = ok(cli("apply", f))
    assert r.out.strip() == "nothing to do: every identity is issued and current", r.out
    facts = check_store(keyfile_store)
    assert facts.versions[("acme-campus", "cam")] == 1
    assert facts.versions[("acme-campus", "cas-1")] == 1


def test_bad_nonces_are_retried(
    cli: Cli, keyfile_store: Path, tmp_path: Path, challtestsrv: object, hook: Path
) -> None:
    """pebble (by default) and real CAs refuse some good nonces (badNonce): the request is
    sent again with a new nonce, not the order failed. Here pebble refuses 45 %."""
    (tmp_path / "nonces").mkdir()
    p = Pebble(
        tmp_path / "nonces",
        f"127.0.0.1:{challtestsrv.dns_port}",  # type: ignore[attr-defined]
        env={"PEBBLE_WFE_NONCEREJECT": "45"},
    )
    p.start()
    try:
        f = campus_file(tmp_path, p.directory, p.bundle, hook)
        ok(cli("apply", f, "--no-acme"))
        for n in (1, 2):
            r = ok(cli("acme", "order", "cam"))
            assert f"ordered cam v{n}" in r.out, r.both
    finally:
        p.stop()
    check_store(keyfile_store)


def test_acme_order_says_when_the_trust_stores_need_changes(
    cli: Cli, keyfile_store: Path, tmp_path: Path, pebble: Pebble, hook: Path
) -> None:
    cas = '[[cas]]\nname = "cas-1"\nhostname = "cas-1.example.org"\nip = "10.0.0.2"\n'
    f = campus_file(tmp_path, pebble.directory, pebble.bundle, hook)
    f.write_text(f.read_text().replace("[acme]", cas + "\n[acme]"))
    ok(cli("apply", f, "--no-acme"))
    ok(cli("import", write(tmp_path / "pebble-root.pem", pebble.root_pem())))
    r = ok(cli("acme", "order"))
    assert "ordered cam v1" in r.out, r.both
    assert "the trust stores need" in r.out, r.out
    assert "`ccapki trust apply`" in r.out, r.out
    r = ok(cli("trust", "apply"))
    assert "Pebble Root CA" in r.out, r.out
    assert "nothing to do" in ok(cli("apply", f)).out
    # renew --commit says it too
    r = ok(cli("renew", "cam", "--commit"))
    assert "ordered cam v2" in r.out
    assert "the trust stores need" not in r.out  # the root is trusted already
