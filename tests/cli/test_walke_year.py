"""Walkthrough E (a year in the life of a deployment), what a demanding administrator found:

- `export-roots` right after a renewal of a true self-signed identity (CCA 4.7.2's kind
  lasts 90 days: every two months) or a CA rollover wrote only the new root, although the
  appliances present the old certificate until the renewed one is installed and `renew`
  says "keep the old ones there until then": a client replacing its bundle (INSTALL.txt's
  Linux step copies it over the old file; the .mobileconfig replaces its profile) stopped
  trusting the appliance. The earlier root stays in the bundle, said "keep on clients",
  until `trust apply --prune` retires it from the appliances' trust stores.
- `watch` counted the trust-store entries `status` calls unused (an earlier version,
  renewed since, expired) as "in a warning stage", so its count grew every renewal and
  disagreed with `status`.
- `trust check`, of a third-party certificate expiring (then expired) while the CSR of its
  renewal awaits the CA, said "make a CSR (`ccapki csr NAME`)" where `status` and `renew`
  said to import the CA's answer.
- `check-ha FILES` said a peer holding another identity's certificate held "one the store
  does not".
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from kit.certs import NOW, OutsideCA, pem
from kit.cli import Cli, deployment, ha_pair, ok, standalone, third_party_cas1, write

DAY = dt.timedelta(days=1)


def _lab_cas(tmp_path: Path) -> Path:
    """CCA 4.7.2: an internal CAM and a true self-signed standalone CAS (90 days)."""
    body = standalone("cas1", "10.1.0.1", source="self-signed")
    return write(tmp_path / "d.toml", deployment(release="4.7.2", cas=[body]))


def _fingerprints(path: Path) -> set[str]:
    certs = x509.load_pem_x509_certificates(path.read_bytes())
    return {c.fingerprint(hashes.SHA256()).hex() for c in certs}


def _current(cli: Cli, name: str, now: dt.datetime = NOW) -> str:
    # at the time the renewal was made: a certificate made at a later what-if time is
    # rightly not valid yet at NOW (status: NOT-YET-VALID, exit 1)
    items = ok(cli("status", "--json", now=now)).json()["items"]
    return next(i["fingerprint"] for i in items if i["kind"] == "identity" and i["name"] == name)


def test_export_roots_keeps_the_earlier_root_until_the_prune(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    ok(cli("apply", _lab_cas(tmp_path)))
    v1 = _current(cli, "cas1")
    later = NOW + 65 * DAY
    ok(cli("renew", "--due", "--commit", "--out", tmp_path / "csrs", now=later))
    v2 = _current(cli, "cas1", later)
    assert v1 != v2
    r = ok(cli("export-roots", "--out", tmp_path / "r1", now=later))
    held = _fingerprints(tmp_path / "r1" / "ccapki-roots.pem")
    assert {v1, v2} <= held, r.out  # cas1 presents v1 until v2 is installed on it
    assert "keep on clients: cas1's earlier certificate (true self-signed)" in r.out, r.out
    assert "trust apply --prune" in r.out
    roots = ok(cli("export-roots", "--out", tmp_path / "r2", "--json", now=later)).json()
    assert [x["outgoing"] for x in roots["roots"]].count(True) == 1
    # once every appliance presents v2, the prune retires v1 there and from the bundle
    ok(cli("trust", "apply", "--prune", now=later))
    r = ok(cli("export-roots", "--out", tmp_path / "r3", now=later))
    held = _fingerprints(tmp_path / "r3" / "ccapki-roots.pem")
    assert v2 in held
    assert v1 not in held
    assert "keep on clients" not in r.out


def test_export_roots_leaves_out_an_expired_earlier_root(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    ok(cli("apply", _lab_cas(tmp_path)))
    v1 = _current(cli, "cas1")
    ok(cli("renew", "--due", "--commit", "--out", tmp_path, now=NOW + 65 * DAY))
    r = ok(cli("export-roots", "--out", tmp_path / "r", now=NOW + 100 * DAY))
    assert v1 not in _fingerprints(tmp_path / "r" / "ccapki-roots.pem")
    assert "keep on clients" not in r.out


def test_watch_counts_warnings_as_status_does(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    ok(cli("apply", _lab_cas(tmp_path)))
    ok(cli("renew", "--due", "--commit", "--out", tmp_path, now=NOW + 85 * DAY))
    later = NOW + 100 * DAY  # v1 expired (still in the CAM's trust store), v2: 75 days
    status = cli("status", now=later)
    assert status.code == 0, status.out  # nothing in use is in a warning stage
    assert "unused" in status.out
    r = ok(cli("watch", "--once", "--no-probe", now=later))
    assert "0 in a warning stage" in r.both, r.both


def test_trust_check_names_the_awaited_csr_not_another(
    cli: Cli, keyfile_store: Path, tmp_path: Path, outside: OutsideCA
) -> None:
    """A third-party certificate expiring while the CSR of its renewal awaits the CA:
    `trust check` said "make a CSR (`ccapki csr cas1`)" as `status` and `renew` said
    "import the CA's answer"; a second CSR is not what is missing."""
    third_party_cas1(cli, tmp_path, outside)
    due = NOW + 340 * DAY  # 25 days left: inside the renewal window
    before = cli("trust", "check", now=due).out
    assert "make a CSR (`ccapki csr cas1`)" in before  # nothing made yet: that is the fix
    r = ok(cli("renew", "--due", "--commit", "--out", tmp_path / "c2", now=due))
    assert "cas1.csr" in r.out, r.out
    for when in (due, NOW + 370 * DAY):  # expiring, then expired, the CSR still pending
        out = " ".join(cli("trust", "check", now=when).out.split())
        assert "`ccapki csr cas1`" not in out, out
        made = f"the CSR made on {due:%Y-%m-%d} awaits the CA: `ccapki import` its answer"
        assert made in out, out


def test_export_roots_reads_hand_added_entries_by_trust_adds_label() -> None:
    from ccapki.lifecycle import certfiles, trustops

    assert certfiles._HAND_ADDED == trustops.HAND_ADDED


def test_check_ha_says_whose_certificate_a_peer_holds(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    """An HA pair whose secondary carries another identity's certificate (the store's
    own): `check-ha` said the store did not hold it."""
    f = write(
        tmp_path / "d.toml",
        deployment(cam=ha_pair("cam", "10.0.0"), cas=[ha_pair("cas1", "10.1.0")]),
    )
    ok(cli("apply", f))
    env: dict[str, str | None] = {"CCAPKI_EXPORT_PASSWORD": "walk-e-export"}
    ok(cli("export", "cas1", "--for-peer", "--out", tmp_path / "a.p12", env=env))
    ok(cli("export", "cam", "--for-peer", "--out", tmp_path / "b.p12", env=env))
    r = cli(
        "check-ha", "cas1", "--primary", tmp_path / "a.p12", "--secondary", tmp_path / "b.p12",
        "--password", "walk-e-export",
    )  # fmt: skip
    assert r.code == 1, r.both
    row = next(line for line in r.out.splitlines() if "current certificate on both" in line)
    # the store holds it as cam's: said so, not "one the store does not hold"
    assert "secondary holds cam v1's certificate, not cas1's" in row, row


def test_import_names_the_install_step(
    cli: Cli, keyfile_store: Path, tmp_path: Path, outside: OutsideCA
) -> None:
    """The CA's answer to a renewal's CSR imported, with every trust store already right:
    `import` said nothing of what to do next, where `apply` and `renew --commit` end with
    the install step."""
    f = write(
        tmp_path / "d.toml",
        deployment(cas=[ha_pair("cas1", "10.1.0", source="third-party")]),
    )
    ok(cli("apply", f))
    for n in (1, 2):
        ok(cli("csr", "cas1", "--out", tmp_path / f"c{n}"))
        csr = x509.load_pem_x509_csr((tmp_path / f"c{n}" / "cas1.csr").read_bytes())
        answer = b"".join(pem(c) for c in (outside.sign_csr(csr), *outside.chain))
        r = ok(cli("import", write(tmp_path / f"a{n}.pem", answer)))
        ok(cli("trust", "apply"))
    assert "next: the trust stores lack" not in r.out  # the second time: nothing to add
    assert (
        "next: install it on both peers of the HA pair cas1 (cas1-a and cas1-b) at once: "
        "`ccapki export cas1 --format pem-bundle --out cas1.pem`"
    ) in r.out, r.out
