"""Walkthrough 25 (deployment profiles other than the FAQ's): an old estate upgraded from
4.6 to 4.7 and 4.9, true self-signed everywhere, a large estate, key types.

- A file moved from 4.7.2 to 4.9.0 (CAM-CAS DN authorization from 4.9) said "nothing to
  do" and nothing else: every CAS already holding a certificate must now be allowed by its
  DN on the CAM, or its CAM-CAS link goes down. apply now says so, once, naming how many.
- A 4.9 estate's first apply printed one "allow CAS X by DN" line per CAS (272 of 906
  lines for 300 CAS): past ten they are counted in one line naming `ccapki trust plan`.
- key = "ed25519" was an "unknown key type": it is refused, saying why (EdDSA on CCA's Java,
  Chromium and NSS); a bad key's hint names the key types there are.
- key = ... on one peer of an HA pair was "unknown key ... remove it or fix its spelling":
  it now says the peers share one certificate and key, and to set it on the pair.
"""

from __future__ import annotations

from pathlib import Path

from kit.cli import Cli, deployment, error_with_hint, ha_pair, ok, standalone, write


def _cas(n: int) -> list[str]:
    return [standalone(f"cas{i}", f"10.1.{i}.1") for i in range(1, n + 1)]


def test_a_file_moved_to_4_9_says_every_cas_must_be_allowed_by_dn(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    old = deployment(release="4.7.2", source="self-signed", cas=_cas(2))
    ok(cli("apply", str(write(tmp_path / "a.toml", old))))
    new = write(tmp_path / "a.toml", old.replace('release = "4.7.2"', 'release = "4.9.0"'))
    line = (
        "next: CCA 4.9.0 authorizes each CAS on the CAM by its certificate's subject DN, "
        "which 4.7.2 did not: allow the DN of 2 CAS (cas1, cas2) on the CAM before it runs "
        "4.9.0, or their CAM-CAS links go down (`ccapki trust plan` lists each DN)"
    )
    r = ok(cli("apply", str(new), "--dry-run"))
    assert line in r.out.splitlines(), r.out
    r = ok(cli("apply", str(new)))
    assert "nothing to do" in r.out, r.out
    assert line in r.out.splitlines(), r.out
    # said once: the store now holds the 4.9 file
    assert "authorizes each CAS" not in ok(cli("apply", str(new))).out
    plan = ok(cli("trust", "plan")).out
    assert "allow CAS cas1 by DN on the CAM (4.9 authorization): CN=cas1.example.org" in plan


def test_a_file_moved_within_4_9_or_a_first_apply_says_no_release_change(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    first = deployment(release="4.9.0", cas=_cas(1))
    r = ok(cli("apply", str(write(tmp_path / "a.toml", first))))
    assert "authorizes each CAS" not in r.out, r.out
    assert "next: allow CAS cas1 by DN on the CAM (4.9.0 authorization)" in r.out, r.out
    later = write(tmp_path / "a.toml", first.replace('"4.9.0"', '"4.9.1"'))
    assert "authorizes each CAS" not in ok(cli("apply", str(later))).out


def test_many_new_cas_dns_are_counted_in_one_line(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    d = write(tmp_path / "big.toml", deployment(release="4.9.0", cas=_cas(12)))
    r = ok(cli("apply", str(d)))
    dn_lines = [x for x in r.out.splitlines() if "by DN on the CAM" in x]
    assert dn_lines == [
        "next: allow 12 CAS (cas1, cas2, cas3 +9) by DN on the CAM (4.9.0 authorization), "
        "each before it presents its new certificate: `ccapki trust plan` lists each DN"
    ], r.out
    plan = ok(cli("trust", "plan")).out
    assert sum("by DN on the CAM" in x for x in plan.splitlines()) == 12, plan


def test_an_ed25519_key_is_refused_saying_why(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    for where, text in (
        ("cas[0].key", deployment(cas=[standalone("cas1", "10.1.0.1", key="ed25519")])),
        ("deployment.key", deployment(key="Ed25519", cas=_cas(1))),
    ):
        d = write(tmp_path / "k.toml", text)
        r = error_with_hint(cli("plan", str(d)))
        assert f"{where}: key type " in r.err, r.err
        assert "is not one ccapki issues" in r.err, r.err
        assert "JEP 339" in r.err, r.err
        assert "Chromium" in r.err, r.err
        assert 'hint: write it like key = "ecdsa-p256"' in r.err, r.err
        assert "unknown key type" not in r.err, r.err
    d = write(tmp_path / "k.toml", deployment(cas=[standalone("cas1", "10.1.0.1", key="rsa-1024")]))
    r = error_with_hint(cli("plan", str(d)))
    assert "unknown key type 'rsa-1024'" in r.err, r.err
    assert '"rsa-2048", "rsa-3072", "rsa-4096"' in r.err, r.err


def test_a_key_on_one_ha_peer_says_the_pair_shares_it(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    pair = ha_pair("cas1", "10.5.0").replace(
        'ip = "10.5.0.11" }', 'ip = "10.5.0.11", key = "rsa-2048" }'
    )
    d = write(tmp_path / "ha.toml", deployment(cas=[pair]))
    r = error_with_hint(cli("plan", str(d)))
    assert (
        "key is set on the peer cas[0].primary: an HA pair's two peers share one "
        "certificate and key, so they cannot differ in it"
    ) in r.err, r.err
    assert "hint: move key = ... out of primary to the pair itself (cas[0])" in r.err, r.err
    assert "fix its spelling" not in r.err, r.err


def test_trust_check_findings_stay_one_line_each_and_are_counted(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    """True self-signed on 4.8 (five years: too long for Apple clients): piped, each
    finding was cut at 140 columns ("... the certificate it" / "returns")."""
    d = write(tmp_path / "s.toml", deployment(source="self-signed", cas=_cas(2)))
    ok(cli("apply", str(d)))
    r = cli("trust", "check")
    assert r.code == 1, r.both
    findings = [x for x in r.out.splitlines() if x.startswith("   macos refuses it:")]
    assert findings, r.out
    for line in findings:
        assert len(line) > 140, line
        assert line.endswith("the 4.8.0 default for a self-signed identity is 1826 days"), line
    # + the agent cells of the two CAS: the agent on a Mac refuses it too (audit, item 3)
    assert r.out.splitlines()[-1].endswith("; findings above: 7 cells FAIL on 3 appliances")


def test_install_txt_of_several_roots_says_which_file_is_which_first(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    """True self-signed everywhere: one root per appliance. INSTALL.txt's steps name
    ccapki-root-1.cer; that the others exist was said only after every platform's steps."""
    d = write(tmp_path / "s.toml", deployment(source="self-signed", cas=_cas(2)))
    ok(cli("apply", str(d)))
    ok(cli("export-roots", "--out", str(tmp_path / "roots")))
    lines = (tmp_path / "roots" / "INSTALL.txt").read_text().splitlines()
    assert lines[0].startswith("3 roots to install on every client, one per .cer file"), lines
    assert lines[0].endswith("do the steps below for each .cer file, not only ccapki-root-1.cer.")
    named = sorted(lines[1:4])
    assert [x.split(": ", 1)[0] for x in named] == [f"  ccapki-root-{i}.cer" for i in (1, 2, 3)], (
        lines
    )
    assert sorted(x.split(": ", 1)[1] for x in named) == [
        f"{n}'s own certificate (true self-signed)" for n in ("cam", "cas1", "cas2")
    ], lines
    assert lines[4:6] == ["", ""], lines
    assert lines[6].startswith("Windows: install ccapki-root-1.cer"), lines


def test_plan_ends_with_what_its_table_asks_for(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    """300 CAS: 1,740 lines of table and nothing after it saying what to do."""
    cas = _cas(5) + [standalone(f"tp{i}", f"10.9.{i}.1", source="third-party") for i in range(4)]
    d = write(tmp_path / "m.toml", deployment(cas=cas))
    ok(cli("apply", str(d)))
    r = ok(cli("plan", str(d)))
    assert r.out.splitlines()[-1] == "pending actions: 4 csr (tp0, tp1, tp2 +1), 6 nothing to do"
    # no store yet: no actions, no line
    r = ok(cli("plan", str(d), home_dir=tmp_path / "none"))
    assert "pending actions" not in r.out, r.out


def test_csr_says_what_to_do_with_the_files(cli: Cli, keyfile_store: Path, tmp_path: Path) -> None:
    """28 third-party CAS of a large estate: `csr` wrote 28 lines and no next step."""
    cas = [standalone(f"tp{i}", f"10.9.{i}.1", source="third-party") for i in range(2)]
    ok(cli("apply", str(write(tmp_path / "m.toml", deployment(cas=cas)))))
    r = ok(cli("csr", "--all", "--out", str(tmp_path / "csrs")))
    assert r.out.splitlines()[-1] == (
        "next: send the 2 CSRs to the CA, then `ccapki import FILE` what it returns (the "
        "certificate with its chain, or a folder of them: matched by key)"
    ), r.out
    r = ok(cli("csr", "tp0", "--out", "-"))
    assert r.out.startswith("-----BEGIN CERTIFICATE REQUEST-----"), r.out
    assert "next:" not in r.out, r.out
    assert "next: send the CSR to the CA" in r.err, r.err


def test_rotate_names_what_clients_must_trust_when_the_top_changes(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    """Self-signed everywhere, one CAS moved to the internal CA: the safe order named the
    CAM's trust stores only; agents and browsers need the new root before the swap too."""
    d = write(tmp_path / "s.toml", deployment(source="self-signed", cas=_cas(1)))
    ok(cli("apply", str(d)))
    r = ok(cli("trust", "plan", "--rotate", "cas1", "--to-source", "internal"))
    lines = r.out.splitlines()
    assert lines[lines.index("safe order:") - 1] == (
        "  clients: agents, web-login and admin-GUI browsers need root CA Test Org Clean "
        "Access Root CA in their trusted roots before the swap, or they warn or refuse "
        "cas1: `ccapki export-roots --out DIR` writes it once `ccapki apply` (or `ccapki "
        "renew --commit`) has made it; keep the old root there until then"
    ), r.out
    r = ok(cli("trust", "plan", "--rotate", "cam"))  # a new own certificate: a new anchor
    assert "clients: admin-GUI browsers need cam's new own certificate" in r.out, r.out
    # the same CA: nothing for clients
    d = write(tmp_path / "i.toml", deployment(name="other", cas=_cas(1)))
    ok(cli("apply", str(d), "--new-deployment"))  # the first one's appliances, on purpose
    r = ok(cli("--deployment", "other", "trust", "plan", "--rotate", "cas1"))
    assert "clients" not in r.out, r.out
    r = ok(cli("--deployment", "other", "trust", "plan", "--rotate", "cas1", "--json"))
    assert '"clients": null' in r.out, r.out


def test_export_roots_counts_the_identities_of_a_large_estate(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    """300 CAS under one internal root: one line of 2,229 characters naming them all."""
    ok(cli("apply", str(write(tmp_path / "m.toml", deployment(cas=_cas(8))))))
    r = ok(cli("export-roots", "--out", str(tmp_path / "roots")))
    assert r.out.splitlines()[0] == (
        "install on clients: Test Org Clean Access Root CA (for cam, cas1, cas2, cas3, cas4, "
        "cas5 +3 more)"
    ), r.out
    js = ok(cli("export-roots", "--out", str(tmp_path / "roots"), "--json")).json()
    assert len(js["roots"][0]["identities"]) == 9  # --json names each
