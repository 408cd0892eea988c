"""``san_ips = false``: an identity's certificate names no IP address, only DNS names.

Found in a walkthrough: ``ccapki csr NAME`` put the appliance's private address in the
CSR's subjectAltName; a public CA (CA/Browser Forum Baseline Requirements) refuses
private and reserved addresses, and one that strips them got its answer refused by
``ccapki import`` for the missing address (``--force`` took it, then ``status`` said
missing-san). The setting, in ``[deployment]`` or on an appliance / HA pair, leaves the
addresses out of the plan, the CSR and what import and status require; ``csr`` warns of
a private address (an enterprise CA may accept it: a warning, not a refusal); an identity
known by its address alone (its CN an IP) cannot leave it out: refused at load.
"""

from __future__ import annotations

from pathlib import Path

from cryptography import x509

from kit.certs import OutsideCA, pem
from kit.cli import Cli, deployment, error_with_hint, ha_pair, ok, standalone, write

#: a CAM issued internally and two CAS signed by an outside CA, on private addresses
TWO = deployment(
    name="sanips",
    cas=[
        standalone("cas1", "10.1.0.1", source="third-party"),
        standalone("cas2", "10.2.0.1", source="third-party"),
    ],
)


def _csr(tmp_path: Path, name: str) -> x509.CertificateSigningRequest:
    return x509.load_pem_x509_csr((tmp_path / "csr" / f"{name}.csr").read_bytes())


def _san_ips(csr: x509.CertificateSigningRequest) -> list[str]:
    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return [str(i) for i in san.get_values_for_type(x509.IPAddress)]


def test_san_ips_false_leaves_the_address_out_of_csr_import_and_status(
    cli: Cli, keyfile_store: Path, tmp_path: Path, outside: OutsideCA
) -> None:
    f = write(tmp_path / "d.toml", TWO)
    ok(cli("apply", f))
    r = ok(cli("csr", "--all", "--out", tmp_path / "csr"))
    # one line for both: a public CA refuses them, and the setting that leaves them out
    (warning,) = [line for line in r.err.splitlines() if line.startswith("warning:")]
    assert warning.startswith(
        "warning: the CSRs of 2 identities (cas1, cas2) name private or reserved IP addresses "
        "(10.1.0.1, 10.2.0.1), which a public CA refuses"
    ), r.err
    assert "set san_ips = false (on each, or in [deployment])" in warning, warning
    assert _san_ips(_csr(tmp_path, "cas1")) == ["10.1.0.1"]
    # the public CA strips the address: the answer lacks a name the plan gives cas1
    stripped = outside.sign_csr(_csr(tmp_path, "cas1"), ips=[])
    answer = write(tmp_path / "a1.pem", b"".join(pem(c) for c in (stripped, *outside.chain)))
    refused = error_with_hint(cli("import", answer)).err
    assert "names missing from the SANs: 10.1.0.1" in refused, refused
    assert "san_ips = false for cas1 in the deployment file" in refused, refused

    # cas1 leaves its addresses out (cas2 and the CAM keep theirs)
    write(f, TWO.replace('ip = "10.1.0.1"\n', 'ip = "10.1.0.1"\nsan_ips = false\n'))
    ok(cli("apply", f))
    plan = {i["name"]: i for i in ok(cli("plan", "--json")).json()["identities"]}
    assert [plan[n]["san_ip"] for n in ("cam", "cas1", "cas2")] == [["10.0.0.1"], [], ["10.2.0.1"]]
    r = ok(cli("csr", "cas1", "--out", tmp_path / "csr"))
    assert "warning" not in r.err, r.err
    csr = _csr(tmp_path, "cas1")
    assert _san_ips(csr) == []
    answer = write(
        tmp_path / "a2.pem", b"".join(pem(c) for c in (outside.sign_csr(csr), *outside.chain))
    )
    assert "imported cas1 v1" in ok(cli("import", answer)).out
    status = cli("status", "--json").json()
    (item,) = [i for i in status["items"] if i["kind"] == "identity" and i["name"] == "cas1"]
    assert item["stage"] != "missing-san", item
    assert "missing" not in str(item["note"]), item
    assert "missing-san" not in cli("status").out


def test_san_ips_is_inherited_from_the_deployment_and_set_per_pair(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    text = deployment(
        name="sanips",
        cas=[
            ha_pair("cas1", "10.5.0", source="third-party"),
            standalone("cas2", "10.2.0.1") + "san_ips = true\n",
        ],
    ).replace('key = "ecdsa-p256"\n', 'key = "ecdsa-p256"\nsan_ips = false\n', 1)
    f = write(tmp_path / "d.toml", text)
    plan = {i["name"]: i for i in ok(cli("plan", f, "--json")).json()["identities"]}
    assert [plan[n]["san_ip"] for n in ("cam", "cas1", "cas2")] == [[], [], ["10.2.0.1"]]
    assert plan["cas1"]["san_dns"] == [
        "cas1.example.org",
        "cas1-a.example.org",
        "cas1-b.example.org",
    ]
    # the internal CAM's certificate names no address either; the one it had is reissued
    ok(cli("apply", write(tmp_path / "with.toml", text.replace("san_ips = false\n", "", 1))))
    r = ok(cli("apply", f, "--dry-run"))
    assert "would reissue cam: names the deployment file no longer gives it: 10.0.0.1" in r.out
    ok(cli("apply", f))
    r = ok(cli("csr", "cas1", "--out", tmp_path / "csr"))
    assert "warning" not in r.err, r.err
    assert _san_ips(_csr(tmp_path, "cas1")) == []


def test_an_identity_known_by_its_address_alone_cannot_leave_it_out(
    cli: Cli, tmp_path: Path
) -> None:
    alone = deployment(cas=['name = "s2"\nip = "10.4.0.10"\n']).replace(
        'key = "ecdsa-p256"\n', 'key = "ecdsa-p256"\nsan_ips = false\n', 1
    )
    r = error_with_hint(cli("plan", write(tmp_path / "a.toml", alone)))
    assert r.err.startswith(
        f"error: {tmp_path / 'a.toml'}:7: cas[0]: 's2' has san_ips = false (from [deployment]) "
        "and no hostname"
    ), r.err
    assert 'hint: give s2 hostname = "..." (its DNS name), or san_ips = true for it' in r.err
    pair = deployment(
        cas=[
            'name = "p"\nservice_ip = "10.6.0.10"\nsan_ips = false\n'
            'primary = { name = "p-a", hostname = "p-a.example.org", ip = "10.6.0.11" }\n'
            'secondary = { name = "p-b", hostname = "p-b.example.org", ip = "10.6.0.12" }\n'
        ]
    )
    r = error_with_hint(cli("plan", write(tmp_path / "p.toml", pair)))
    assert "HA pair 'p' has san_ips = false and no virtual_hostname" in r.err, r.err
    assert 'hint: give the pair virtual_hostname = "..."' in r.err, r.err
    quoted = deployment(cas=[standalone("c", "10.7.0.1") + 'san_ips = "false"\n'])
    r = error_with_hint(cli("plan", write(tmp_path / "q.toml", quoted)))
    assert 'cas[0].san_ips: "false" is a string, not true or false' in r.err, r.err
    peer = deployment(cas=[ha_pair("h", "10.8.0").replace('.12" }', '.12", san_ips = false }')])
    r = error_with_hint(cli("plan", write(tmp_path / "h.toml", peer)))
    assert "san_ips is set on the peer cas[0].secondary" in r.err, r.err


def test_the_answer_that_left_the_address_out_is_taken_once_san_ips_is_false(
    cli: Cli, keyfile_store: Path, tmp_path: Path, outside: OutsideCA
) -> None:
    """The CA's answer to the CSR that named the address, without it, refused for the
    missing address, is taken as it is once the file says san_ips = false: no new CSR, no
    second round with the CA (the CSR it answers asked for more, not for other names)."""
    f = write(tmp_path / "d.toml", TWO)
    ok(cli("apply", f))
    ok(cli("csr", "cas1", "--out", tmp_path / "csr"))
    stripped = outside.sign_csr(_csr(tmp_path, "cas1"), ips=[])
    answer = write(tmp_path / "a1.pem", b"".join(pem(c) for c in (stripped, *outside.chain)))
    error_with_hint(cli("import", answer))
    write(f, TWO.replace('ip = "10.1.0.1"\n', 'ip = "10.1.0.1"\nsan_ips = false\n'))
    ok(cli("apply", f))
    r = ok(cli("import", answer))
    assert "imported cas1 v1" in r.out, r.out
    assert "stale" not in r.both, r.both


def test_renew_commit_warns_of_a_private_address_in_its_csr_as_csr_does(
    cli: Cli, keyfile_store: Path, tmp_path: Path, outside: OutsideCA
) -> None:
    f = write(tmp_path / "d.toml", TWO)
    ok(cli("apply", f))
    ok(cli("csr", "--all", "--out", tmp_path / "csr"))
    for name in ("cas1", "cas2"):
        signed = outside.sign_csr(_csr(tmp_path, name))
        chain = b"".join(pem(c) for c in (signed, *outside.chain))
        ok(cli("import", write(tmp_path / f"{name}.pem", chain)))
    r = ok(cli("renew", "cas1", "--commit", "--out", tmp_path / "again"))
    (warning,) = [line for line in r.err.splitlines() if line.startswith("warning:")]
    assert warning.startswith(
        "warning: the CSR of cas1 names a private or reserved IP address (10.1.0.1), which a "
        "public CA refuses"
    ), r.err
    assert (tmp_path / "again" / "cas1.csr").exists()
    # --json keeps standard output JSON: the warning goes to standard error
    r = ok(cli("renew", "cas2", "--commit", "--out", tmp_path / "again", "--json"))
    assert "(10.2.0.1)" in r.err
    assert "warning" not in r.out
