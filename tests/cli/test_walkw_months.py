"""Walkthrough W (an estate that changes over months), what a new administrator found:

- `apply` (and `apply --dry-run`) said the administrator's own steps as "would csr cas1" /
  "cas1: await-ca: ...": they are said now as `plan` says them ("make a CSR ... and send
  it to the CA", "CSR pending at the CA; import the certificate the CA returns"); and after issuing,
  `apply` says the install order as `renew --commit` does (`next:` lines).
- the release upgraded from 4.6 to 4.7.2: the reissue says the certificate becomes true
  self-signed and that the trust entries on both sides change (tests/topology has every
  transition).
- a pending CSR made before the file changed the identity's names was awaited by `plan`,
  `apply` and `status` as if current, and `import` took the CA's answer to it when the
  file had only dropped a name: it is said stale (make a new one), and the answer refused.
"""

from __future__ import annotations

from pathlib import Path

from cryptography import x509

from kit.certs import OutsideCA, pem
from kit.cli import Cli, deployment, error_with_hint, ok, standalone, write

CSR_LINE = "cas1: make a CSR (ccapki csr) and send it to the CA\n"
AWAIT_LINE = "cas1: CSR pending at the CA; import the certificate the CA returns\n"


def _third(tmp_path: Path, name: str, *, host: str = "cas1", ips: str = '"10.1.0.1"') -> Path:
    """A CAM issued by the internal CA and a third-party standalone CAS ``cas1``."""
    body = f'name = "cas1"\nhostname = "{host}.example.org"\nip = {ips}\nsource = "third-party"\n'
    return write(tmp_path / name, deployment(cas=[body]))


def _answer(tmp_path: Path, csr_file: Path, ca: OutsideCA, name: str) -> Path:
    """The outside CA's answer to the CSR in ``csr_file``: the certificate and its chain."""
    csr = x509.load_pem_x509_csr(csr_file.read_bytes())
    cert = ca.sign_csr(csr)
    return write(tmp_path / name, b"".join(pem(c) for c in (cert, *ca.chain)))


# ---------------------------------------------------------------------------- 1. apply's words


def test_apply_words_the_administrators_steps_as_plan_does(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    f = _third(tmp_path, "d.toml")
    for args in (("--dry-run",), ()):
        r = ok(cli("apply", f, *args))
        assert CSR_LINE in r.out, r.out
        assert "would csr" not in r.out
        assert ": csr:" not in r.out
    plan = ok(cli("plan", f)).out
    assert "make a CSR (ccapki csr) and" in plan  # the same words (the table wraps them)
    ok(cli("csr", "cas1", "--out", tmp_path))
    # the second apply answers from what an apply remembered: said alike
    for args in (("--dry-run",), (), ()):
        r = ok(cli("apply", f, *args))
        assert AWAIT_LINE in r.out, r.out
        assert "await-ca" not in r.out
    assert "CSR pending at the CA; import the" in ok(cli("plan", f)).out


def test_apply_says_the_install_order_as_renew_does(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    from ccapki.cli.renew import install_order

    f = write(
        tmp_path / "s.toml",
        deployment(source="self-signed", cas=[standalone("cas1", "10.1.0.1")]),
    )
    r = ok(cli("apply", f))
    steps = install_order(
        False, issued=True, new_roots=["cam's own certificate", "cas1's own certificate"],
        done="issued",
    )  # fmt: skip
    assert steps[0] == (
        "clients (agents, web-login and admin-GUI browsers) need cam's own certificate; "
        "cas1's own certificate in their trusted roots before the appliances present the "
        "issued certificates: `ccapki export-roots --out DIR` writes them (keep the old ones "
        "there until then)"
    )
    assert steps[1].startswith("install on the appliances: trust-store additions first")
    said = [line.removeprefix("next: ") for line in r.out.splitlines() if line.startswith("next:")]
    assert said == steps, r.out
    assert r.out.endswith("".join(f"next: {s}\n" for s in steps)), r.out  # said last
    # nothing issued: nothing to install
    r = ok(cli("apply", f))
    assert "next:" not in r.out
    assert ok(cli("apply", f, "--json")).json()["next"] == []
    # an internal identity reissued under the root clients hold already: install it only
    i = write(tmp_path / "i.toml", deployment(cas=[standalone("cas1", "10.1.0.1")]))
    ok(cli("apply", i))
    moved = write(tmp_path / "j.toml", i.read_text().replace("10.1.0.1", "10.1.0.2"))
    js = ok(cli("apply", moved, "--json")).json()
    assert js["issued"] == ["cas1"]
    # nothing added to a trust store: the install step names the identities alone
    assert js["trust_added"] == []
    alone = install_order(False, issued=True, done="issued", trust_additions=False)
    assert js["next"] == alone, js["next"]
    assert js["next"][0].startswith("install on the appliances: each issued identity")
    assert ok(cli("apply", moved, "--dry-run")).out.count("next:") == 0


# ---------------------------------------------------------------------------- 2. releases


def test_upgrading_4_6_to_4_7_2_says_the_certificates_become_true_self_signed(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    old = deployment(release="4.6.0", source="self-signed", cas=[standalone("cas1", "10.1.0.1")])
    ok(cli("apply", write(tmp_path / "46.toml", old)))
    new = write(tmp_path / "472.toml", old.replace("4.6.0", "4.7.2"))
    r = ok(cli("apply", new, "--dry-run"))
    assert (
        "would reissue cas1: CCA 4.7.2 makes true self-signed certificates: it becomes its "
        "own root, no longer signed by the Perfigo root, so the trust entries change on both "
        "sides (the CAM trusts each CAS's own certificate and each CAS the CAM's, in place of "
        "the Perfigo root); valid for 365 days, the release's default is 90\n"
    ) in r.out, r.out
    r = ok(cli("apply", new))
    assert "reissued cas1 v2" in r.out
    assert "added the CAS cas1's certificate (true self-signed) to CAM cam" in r.out, r.out
    assert "nothing to do" in ok(cli("apply", new)).out


# ---------------------------------------------------------------------------- 3. stale CSRs


def test_a_csr_made_before_the_names_changed_is_stale(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    ca = OutsideCA.make("Months")
    ok(cli("apply", _third(tmp_path, "a.toml")))
    old_csr = tmp_path / "old.csr"
    ok(cli("csr", "cas1", "--out", old_csr))
    answer = _answer(tmp_path, old_csr, ca, "old-answer.pem")
    moved = _third(tmp_path, "b.toml", host="clinic")  # the CAS renamed in the file
    stale = (
        "the pending CSR (made {}) is stale, made for an older version of the deployment "
        "file (its CN is cas1.example.org, the file's clinic.example.org; it lacks "
        "clinic.example.org; it names cas1.example.org, no longer in the file)"
    )
    (action,) = [
        a for a in ok(cli("plan", moved, "--json")).json()["pending_actions"]
        if a["identity"] == "cas1"
    ]  # fmt: skip
    assert action["action"] == "csr", action
    made = action["reason"].split("(made ")[1][:10]
    # b.toml is not applied yet: `ccapki csr` works from the file last applied, so plan
    # names the order (walkthrough 22)
    assert action["reason"] == (
        f"apply this file first (`ccapki apply {moved}`), then make the CSR (`ccapki csr "
        "cas1`) and send it to the CA (`ccapki csr` works from the file last applied, and "
        "it differs for cas1 in its CN, DNS names): " + stale.format(made)
    )
    line = f"cas1: make a CSR (ccapki csr) and send it to the CA: {stale.format(made)}\n"
    assert line in ok(cli("apply", moved, "--dry-run")).out
    for _ in range(3):  # recorded, then nothing to do, then remembered: said alike
        assert line in ok(cli("apply", moved)).out
    (row,) = [i for i in ok(cli("status", "--json")).json()["items"] if i["kind"] == "csr"]
    assert row["note"].startswith(f"made {made}; stale: made for an older version"), row
    assert "make a new one (`ccapki csr cas1`)" in row["note"], row
    # the CA's answer to the old CSR: refused, saying why and what to do
    r = error_with_hint(cli("import", answer))
    assert f"it answers the CSR made {made}, which is stale: made for an older" in r.err
    assert "make a new CSR (`ccapki csr cas1`), have the CA issue it and import that" in r.err
    keys = [k for k in ok(cli("keys", "list", "--json")).json() if k["identity"] == "cas1"]
    assert [k["state"] for k in keys] == ["pending"], keys  # nothing imported
    # a new CSR, for the file as it is now (applied): awaited; its answer imported
    new_csr = tmp_path / "new.csr"
    ok(cli("csr", "cas1", "--out", new_csr))
    assert AWAIT_LINE in ok(cli("apply", moved, "--dry-run")).out
    (old_row, new_row) = [
        i for i in ok(cli("status", "--json")).json()["items"] if i["kind"] == "csr"
    ]
    assert "stale" in old_row["note"]
    assert "a newer one is current" in old_row["note"], old_row
    assert "stale" not in new_row["note"], new_row
    r = ok(cli("import", _answer(tmp_path, new_csr, ca, "new-answer.pem")))
    assert "imported cas1 v1" in r.out, r.out


def test_the_answer_to_a_csr_naming_a_dropped_ip_is_refused(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    """The certificate names every name the file gives (it was accepted as current): the
    CSR it answers named an IP the appliance no longer has."""
    ca = OutsideCA.make("Months")
    ok(cli("apply", _third(tmp_path, "a.toml", ips='["10.1.0.1", "10.1.1.1"]')))
    csr = tmp_path / "c.csr"
    ok(cli("csr", "cas1", "--out", csr))
    answer = _answer(tmp_path, csr, ca, "answer.pem")
    ok(cli("apply", _third(tmp_path, "b.toml", ips='["10.1.0.1"]')))
    r = error_with_hint(cli("import", answer))
    assert "for cas1: it answers the CSR made " in r.err, r.err
    assert (
        "which is stale: made for an older version of the deployment file (it names "
        "10.1.1.1, no longer in the file)"
    ) in r.err, r.err
    assert "nothing was imported" in r.err
    r = ok(cli("import", answer, "--force"))  # the administrator's call
    assert "imported cas1 v1" in r.out, r.out


def test_a_csr_made_after_the_names_changed_is_awaited(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    """A certificate lacking the file's new names asks for a CSR; once `ccapki csr` made
    one for them, it is awaited (it asked for a CSR again, whatever was made)."""
    ca = OutsideCA.make("Months")
    ok(cli("apply", _third(tmp_path, "a.toml")))
    csr = tmp_path / "c.csr"
    ok(cli("csr", "cas1", "--out", csr))
    ok(cli("import", _answer(tmp_path, csr, ca, "answer.pem")))
    moved = _third(tmp_path, "b.toml", ips='"10.1.0.9"')
    r = ok(cli("apply", moved))
    assert (
        "cas1: make a CSR (ccapki csr) and send it to the CA (names not in the certificate: "
        "10.1.0.9)\n"
    ) in r.out, r.out
    ok(cli("csr", "cas1", "--out", tmp_path / "d.csr"))
    r = ok(cli("apply", moved, "--dry-run"))
    assert (
        "cas1: CSR pending at the CA; import the certificate the CA returns (names not in the "
        "certificate: 10.1.0.9)\n"
    ) in r.out, r.out
    (action,) = [
        a for a in ok(cli("plan", moved, "--json")).json()["pending_actions"]
        if a["identity"] == "cas1"
    ]  # fmt: skip
    assert action["action"] == "await-ca", action


def test_many_self_signed_identities_are_counted_in_the_install_order(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    cas = [standalone(f"cas{i}", f"10.1.0.{i}") for i in range(1, 6)]
    f = write(tmp_path / "m.toml", deployment(source="self-signed", cas=cas))
    (first, *_) = [ln for ln in ok(cli("apply", f)).out.splitlines() if ln.startswith("next:")]
    assert first.startswith(
        "next: clients (agents, web-login and admin-GUI browsers) need the own certificates "
        "of 6 identities (true self-signed) in their trusted roots before the appliances "
        "present the issued certificates: `ccapki export-roots --out DIR` writes them"
    ), first
