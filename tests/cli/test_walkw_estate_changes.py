"""Walkthrough W (an estate that changes over months): after each change of the deployment
file, what `plan`, `apply`, `status`, `trust plan` and `export-roots` say and do.

- An HA pair made standalone again kept the certificate naming the former peers (and the
  key the former secondary holds): the plan said "nothing". It now reissues it.
- A third-party identity whose source changed kept saying "csr" after `ccapki csr`: it now
  awaits the CA, as a new third-party identity does.
- A CAS removed from the file: `export-roots` told clients to install its certificate,
  `status` kept warning about it and counted the trust stores of appliances gone, and
  `trust plan` said "nothing to change" while its certificate stayed trusted by the CAM.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding

from kit.certs import NOW, OutsideCA
from kit.cli import Cli, deployment, ha_pair, ok, standalone, write


def _sans(cli: Cli, tmp_path: Path, name: str) -> set[str]:
    out = tmp_path / f"{name}.pem"
    ok(cli("export", name, "--format", "cert", "--out", str(out)))
    cert = x509.load_pem_x509_certificate(out.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {*san.get_values_for_type(x509.DNSName)} | {
        str(ip) for ip in san.get_values_for_type(x509.IPAddress)
    }


def test_an_ha_pair_made_standalone_is_reissued_without_the_former_peers(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    pair = write(tmp_path / "pair.toml", deployment(cas=[ha_pair("cas1", "10.5.0")]))
    ok(cli("apply", str(pair)))
    # the pair's virtual hostname and Service IP become the standalone CAS's own
    alone = write(tmp_path / "alone.toml", deployment(cas=[standalone("cas1", "10.5.0.10")]))
    r = ok(cli("apply", str(alone), "--dry-run"))
    assert (
        "would reissue cas1: names the deployment file no longer gives it: "
        "cas1-a.example.org, cas1-b.example.org, 10.5.0.11, 10.5.0.12"
    ) in r.out, r.out
    r = ok(cli("apply", str(alone)))
    assert "reissued cas1 v2" in r.out, r.out
    assert _sans(cli, tmp_path, "cas1") == {"cas1.example.org", "10.5.0.10"}
    assert "nothing to do" in ok(cli("apply", str(alone))).out


def test_a_third_party_certificate_is_not_reissued_for_names_its_ca_added(
    outside: OutsideCA,
) -> None:
    """Only what ccapki issues itself is held to the file's names exactly."""
    from ccapki.pki.keys import generate_key
    from ccapki.topology.loader import parse_deployment
    from ccapki.topology.plan import ActionKind, CurrentIdentity, make_plan, pending_actions

    text = deployment(cas=[standalone("cas1", "10.1.0.1", source="third-party")])
    spec = parse_deployment(text, "d.toml").identity("cas1")
    key = generate_key(spec.key_type)
    dns = ["cas1.example.org", "www.cas1.example.org"]  # the CA added a name of its own
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "cas1.example.org")])
    cert = outside.sign(name, key.public_key(), dns=dns, ips=["10.1.0.1"])
    plan = make_plan(parse_deployment(text, "d.toml"))
    actions = pending_actions(plan, {"cas1": CurrentIdentity(cert, spec.source)}, NOW)
    (action,) = [a for a in actions if a.identity == "cas1"]
    assert action.kind is ActionKind.NOTHING, action


def test_after_the_csr_of_a_source_change_the_plan_awaits_the_ca(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    ok(
        cli(
            "apply",
            str(write(tmp_path / "a.toml", deployment(cas=[standalone("cas1", "10.1.0.1")]))),
        )
    )
    moved = write(
        tmp_path / "b.toml",
        deployment(cas=[standalone("cas1", "10.1.0.1", source="third-party")]),
    )
    r = ok(cli("apply", str(moved), "--dry-run"))
    assert (
        "cas1: make a CSR (ccapki csr) and send it to the CA (source changed from internal "
        "to third-party)"
    ) in r.out, r.out
    ok(cli("apply", str(moved)))
    ok(cli("csr", "cas1", "--out", str(tmp_path)))
    r = ok(cli("apply", str(moved), "--dry-run"))
    assert "make a CSR" not in r.out, r.out
    assert (
        "cas1: CSR pending at the CA; import the certificate the CA returns (source changed "
        "from internal to third-party)"
    ) in r.out, r.out
    assert "await-ca" in ok(cli("plan", str(moved))).out


def _removed(cli: Cli, tmp_path: Path) -> Path:
    """A self-signed estate (the CAM trusts each CAS's own certificate), cas2 then removed."""
    both = [standalone("cas1", "10.1.0.1"), standalone("cas2", "10.2.0.1")]
    ok(cli("apply", str(write(tmp_path / "two.toml", deployment(source="self-signed", cas=both)))))
    one = write(tmp_path / "one.toml", deployment(source="self-signed", cas=both[:1]))
    ok(cli("apply", str(one)))
    return one


def test_export_roots_leaves_out_a_removed_cas(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    _removed(cli, tmp_path)
    r = ok(cli("export-roots", "--out", str(tmp_path / "roots")))
    assert "cas2" not in r.both, r.both
    pem = (tmp_path / "roots" / "ccapki-roots.pem").read_bytes()
    names = {
        c.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
        for c in x509.load_pem_x509_certificates(pem)
    }
    assert names == {"cam.example.org", "cas1.example.org"}


def test_trust_plan_says_what_a_removed_cas_leaves_trusted(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    one = _removed(cli, tmp_path)
    r = ok(cli("apply", str(one)))
    assert "stays trusted until `ccapki trust apply --prune`" in r.err, r.err
    r = ok(cli("trust", "plan"))
    assert r.out.startswith("no trust-store change"), r.out
    assert (
        "note: 1 trust-store entry no channel needs any more is still trusted "
        "(cas2.example.org's certificate (true self-signed)): `ccapki trust plan --prune` "
        "lists them, `ccapki trust apply --prune` removes them (never one added with "
        "`ccapki trust add`)"
    ) in r.out, r.out
    assert "note:" in ok(cli("trust", "apply")).out
    ok(cli("trust", "apply", "--prune"))
    assert "note:" not in ok(cli("trust", "plan")).out
    assert "cas2" not in ok(cli("trust", "list", "cam")).out


def test_status_no_longer_warns_about_what_the_file_dropped(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    _removed(cli, tmp_path)
    # cas1 made an HA pair: its standalone appliance's trust store goes with it
    pair = write(
        tmp_path / "pair.toml", deployment(source="self-signed", cas=[ha_pair("cas1", "10.1.0")])
    )
    ok(cli("apply", str(pair)))
    items = ok(cli("status", "--json")).json()["items"]
    cas2 = [i for i in items if i["name"] == "cas2"]
    assert [(i["kind"], i["in_use"]) for i in cas2] == [("identity", False)], cas2
    trusted = {i["name"]: i["in_use"] for i in items if i["kind"] == "trust-root"}
    assert trusted["cam: the CAS cas2's certificate (true self-signed)"] is False, trusted
    # the trust stores of the appliances the file has, never the old standalone cas1's
    assert not [n for n in trusted if n.startswith(("cas1:", "cas2:"))], trusted
    assert {n.split(":")[0] for n in trusted} == {"cam", "cas1-a", "cas1-b"}, trusted


def test_check_ha_names_the_peer_holding_an_older_version(
    cli: Cli, keyfile_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files of both peers: identical but out of date is not "fit", and the advice never
    copies the stale primary's certificate onto the secondary."""
    monkeypatch.setenv("CCAPKI_EXPORT_PASSWORD", "peer-password")
    d = write(tmp_path / "d.toml", deployment(cas=[ha_pair("cas1", "10.5.0")]))
    ok(cli("apply", str(d)))
    old = tmp_path / "v1.p12"
    ok(cli("export", "cas1", "--for-peer", "--out", str(old)))
    ok(cli("renew", "cas1", "--commit", "--out", str(tmp_path)))
    new = tmp_path / "v2.p12"
    ok(cli("export", "cas1", "--for-peer", "--out", str(new)))

    r = cli("check-ha", "cas1", "--primary", str(old), "--secondary", str(old))
    assert r.code == 1, r.both
    assert (
        "FAIL  the store's current certificate on both peers: primary holds v1 (older), "
        "secondary holds v1 (older); the current is v2: install it on the primary and "
        "secondary (`ccapki export cas1 --for-peer`)"
    ) in r.out, r.out
    assert "fit for HA" not in r.out.replace("not fit for HA", ""), r.out
    assert "do not present the store's current certificate" in r.out, r.out

    r = cli("check-ha", "cas1", "--primary", str(old), "--secondary", str(new))
    assert r.code == 1, r.both
    assert "install it on the primary (`ccapki export cas1 --for-peer`)" in r.out, r.out
    assert "install it on the secondary" not in r.out, r.out

    r = ok(cli("check-ha", "cas1", "--primary", str(new), "--secondary", str(new)))
    assert "pass  the store's current certificate on both peers: primary v2, secondary v2" in r.out


def test_a_cas_renamed_on_4_9_says_the_cam_must_allow_its_new_dn_first(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    """4.9 CAM-CAS DN authorization: a new CN is refused by the CAM until it is allowed."""
    d = write(
        tmp_path / "a.toml", deployment(release="4.9.0", cas=[standalone("cas1", "10.1.0.1")])
    )
    r = ok(cli("apply", str(d)))
    assert (
        "next: allow CAS cas1 by DN on the CAM (4.9.0 authorization): "
        "CN=cas1.example.org,O=Test Org, before cas1 presents its new certificate\n"
    ) in r.out, r.out
    renamed = write(
        tmp_path / "b.toml", d.read_text().replace("cas1.example.org", "cas9.example.org")
    )
    line = (
        "next: allow CAS cas1 by DN on the CAM (4.9.0 authorization): CN=cas9.example.org,O=Test "
        "Org, before cas1 presents its new certificate; CN=cas1.example.org,O=Test Org is no "
        "longer needed once it does"
    )
    assert line in ok(cli("apply", str(renamed), "--dry-run")).out
    assert line in ok(cli("apply", str(renamed))).out
    assert "next:" not in ok(cli("apply", str(renamed))).out  # nothing issued: nothing to allow
    # before 4.9 there is no DN to allow
    old = write(
        tmp_path / "c.toml", deployment(release="4.8.0", cas=[standalone("cas2", "10.2.0.1")])
    )
    assert "by DN" not in ok(cli("apply", str(old))).out


def test_a_csr_made_before_the_key_type_changed_is_not_awaited(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    """A change of key type after the CSR still asks for a CSR: the pending one has the
    old key type (the plan reads what it asks for)."""
    ok(
        cli(
            "apply",
            str(write(tmp_path / "a.toml", deployment(cas=[standalone("cas1", "10.1.0.1")]))),
        )
    )
    third = deployment(cas=[standalone("cas1", "10.1.0.1", source="third-party")])
    ok(cli("apply", str(write(tmp_path / "b.toml", third))))
    ok(cli("csr", "cas1", "--out", str(tmp_path)))
    rsa = write(tmp_path / "c.toml", third.replace('key = "ecdsa-p256"', 'key = "rsa-2048"'))
    r = ok(cli("apply", str(rsa), "--dry-run"))
    assert (
        "cas1: make a CSR (ccapki csr) and send it to the CA (key type is not rsa-2048; source "
        "changed from internal to third-party; the pending CSR (made "
    ) in r.out, r.out
    assert (
        "is stale, made for an older version of the deployment file (its key is ecdsa-p256, "
        "the file's rsa-2048))"
    ) in r.out, r.out


def test_renew_says_clients_need_a_new_root_before_the_appliances_switch(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    """A renewed true self-signed certificate is a new root for agents and browsers."""
    d = write(
        tmp_path / "d.toml", deployment(source="self-signed", cas=[standalone("cas1", "10.1.0.1")])
    )
    ok(cli("apply", str(d)))
    r = ok(cli("renew", "cas1", "--commit"))
    line = (
        "next: clients (agents, web-login and admin-GUI browsers) need cas1's own certificate "
        "in their trusted roots before the appliances present the renewed certificates: "
        "`ccapki export-roots --out DIR` writes it (keep the old ones there until then)"
    )
    assert line in r.out, r.out
    assert r.out.index(line) < r.out.index("next: install on the appliances"), r.out
    # an internal identity renewed under the same root: clients need nothing new
    i = write(tmp_path / "i.toml", deployment(cas=[standalone("cas1", "10.1.0.1")]))
    ok(cli("apply", str(i)))
    js = ok(cli("renew", "cas1", "--commit", "--json")).json()
    assert not [n for n in js["next"] if n.startswith("clients")], js["next"]
    assert "next: clients" not in ok(cli("renew", "cas1", "--commit")).out


def test_inspect_of_a_removed_identity_says_it_is_no_longer_in_the_file(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    two = write(
        tmp_path / "two.toml",
        deployment(cas=[standalone("cas1", "10.5.0.1"), standalone("cas2", "10.5.0.2")]),
    )
    ok(cli("apply", str(two)))
    r = cli("inspect", "cas2")
    assert r.code == 0
    assert "not in the deployment file" not in r.err
    one = write(tmp_path / "one.toml", deployment(cas=[standalone("cas1", "10.5.0.1")]))
    ok(cli("apply", str(one)))
    r = cli("inspect", "cas2")
    assert r.code == 0  # the certificate the store keeps is shown...
    assert "cas2 v1" in r.out
    assert r.err.startswith(  # ...and said to be no longer planned
        f"note: cas2 is not in the deployment file last applied ({one}): this is the last "
        "certificate the store keeps of it"
    )
    assert "not in the deployment file" not in cli("inspect", "cas1").err


def test_a_prune_keeps_what_was_added_by_hand(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    # the administrator's own CA on the CAM (a RADIUS server's, say): no channel of the
    # deployment needs it, and `trust apply --prune` removed it with the CAS left behind
    radius = OutsideCA.make("RADIUS", now=NOW)
    pem = tmp_path / "radius-root.pem"
    pem.write_bytes(radius.root.public_bytes(Encoding.PEM))
    _removed(cli, tmp_path)
    ok(cli("trust", "add", "cam", str(pem)))
    fp = radius.root.fingerprint(hashes.SHA256()).hex()
    r = ok(cli("trust", "plan", "--prune"))
    assert "cas2.example.org" in r.out  # what the removed CAS left: pruned
    assert "RADIUS Root" not in r.out.split("kept:")[0], r.out
    assert (
        f"kept: 1 trust-store entry added by hand (`ccapki trust add`) that no channel of the "
        f"deployment needs (cam: root CA RADIUS Root [SHA-256 {fp[:16]}]): `ccapki trust "
        "remove APPLIANCE FINGERPRINT` removes one"
    ) in r.out, r.out
    r = ok(cli("trust", "apply", "--prune"))
    assert "RADIUS" not in r.out.split("kept:")[0], r.out
    assert "kept: 1 trust-store entry added by hand" in r.out
    listed = ok(cli("trust", "list", "cam")).out
    assert "RADIUS Root" in listed
    assert "cas2" not in listed
    # it goes when the administrator says so
    ok(cli("trust", "remove", "cam", fp[:16]))
    assert "RADIUS Root" not in ok(cli("trust", "list", "cam")).out
    assert "kept:" not in ok(cli("trust", "plan", "--prune")).out
