"""``ccapki status`` (and what reads it: ``--json``, ``--nagios``, ``watch``'s notices) of an
outside CA's intermediate that the appliances send after their own certificate.

Before: status listed the identities, the store's CAs and the trust-store roots, never the
intermediate of a third-party chain (it is neither a CA of the store nor in a trust store):
with the intermediate 20 days from expiry it said "6 certificates fine, none within 60
days" and exited 0, while every client would reject the CAS once the intermediate expired
(`trust check` alone warned). Now the intermediate is a ``chain-ca`` row, in the stages of
the deployment's warn_days, naming the identities whose chain holds it and the fix; once
the CA has signed a new certificate under its current intermediate and it is imported, the
old intermediate is gone from the report.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from kit.certs import NOW, OutsideCA, pem
from kit.cli import Cli, deployment, ok, write

CAS = 'name = "{n}"\nhostname = "{n}.example.org"\nip = "10.1.0.{i}"\nsource = "third-party"\n'


def with_intermediate(outside: OutsideCA, *, start: dt.datetime, end: dt.datetime) -> OutsideCA:
    """``outside`` with its intermediate re-signed by its root for ``start``..``end`` (the
    same key and name: what a CA's intermediate near its end looks like)."""
    inter = outside.inter
    b = (
        x509.CertificateBuilder()
        .subject_name(inter.subject)
        .issuer_name(inter.issuer)
        .public_key(outside.inter_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
    )
    for ext in inter.extensions:
        b = b.add_extension(ext.value, ext.critical)
    short = b.sign(outside.root_key, hashes.SHA256())
    return OutsideCA(outside.root, outside.root_key, short, outside.inter_key, NOW)


def estate(cli: Cli, tmp_path: Path, outside: OutsideCA, names: list[str]) -> Path:
    """A deployment of these third-party CAS, each certificate signed by ``outside`` (a
    year's validity, outliving a short intermediate) and imported with its chain."""
    bodies = [CAS.format(n=n, i=i + 1) for i, n in enumerate(names)]
    f = write(tmp_path / "d.toml", deployment(cas=bodies))
    ok(cli("apply", f))
    for n in names:
        sign(cli, tmp_path, outside, n)
    ok(cli("trust", "apply"))
    return f


def sign(cli: Cli, tmp_path: Path, outside: OutsideCA, name: str) -> None:
    """``ccapki csr NAME``, the CSR signed by ``outside``, the answer imported with its chain."""
    out = tmp_path / f"csr-{name}-{len(list(tmp_path.glob(f'csr-{name}-*')))}"
    ok(cli("csr", name, "--out", out))
    csr = x509.load_pem_x509_csr((out / f"{name}.csr").read_bytes())
    answer = b"".join(pem(c) for c in (outside.sign_csr(csr), *outside.chain))
    ok(cli("import", write(out / "answer.pem", answer)))


def chain_rows(status: dict[str, Any]) -> list[dict[str, Any]]:
    return [i for i in status["items"] if i["kind"] == "chain-ca"]


def test_an_outside_intermediate_near_its_end_is_a_warning_naming_its_chains(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    base = OutsideCA.make("Short")
    short = with_intermediate(
        base, start=NOW - dt.timedelta(days=300), end=NOW + dt.timedelta(days=20)
    )
    estate(cli, tmp_path, short, ["cas1", "cas2"])

    r = cli("status")
    assert r.code == 1, r.both  # a warning
    row = next(line for line in r.out.splitlines() if "chain-ca" in line)
    assert row.split()[:3] == ["<=30d", "20", "chain-ca"], row
    assert "Short Issuing CA" in row
    assert "(in the chain of cas1 and cas2)" in row
    note = r.out.split(row, 1)[1].splitlines()[1]
    assert "note: it is in the 30-day stage (20 days left)" in note
    assert "once it has expired, clients reject them" in note
    assert "`ccapki csr NAME` for each" in note
    assert "1 within 30 days" in r.out  # the summary counts it

    body = cli("status", "--json").json()
    (item,) = chain_rows(body)
    assert item["stage"] == "30"
    assert item["days_left"] == 20
    assert item["chain_of"] == ["cas1", "cas2"]
    assert item["fingerprint"] == short.inter.fingerprint(hashes.SHA256()).hex()
    assert item["in_use"] is True
    assert all("chain_of" not in i for i in body["items"] if i["kind"] != "chain-ca")

    nagios = cli("status", "--nagios")
    assert nagios.code == 1, nagios.both  # WARNING
    assert "chain-ca Short Issuing CA: 20 days left (stage 30)" in nagios.out

    watch = cli("watch", "--once")
    assert "1 in a warning stage" in watch.both, watch.both
    # the run did its work, over an estate `status` exits 1 for: not a plain "ok"
    assert "test: needs attention: " in watch.out, watch.out


def test_an_expired_outside_intermediate_is_critical(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    base = OutsideCA.make("Gone")
    # imported while valid (import refuses a chain that does not verify), expired since
    live = with_intermediate(
        base, start=NOW - dt.timedelta(days=300), end=NOW + dt.timedelta(hours=2)
    )
    estate(cli, tmp_path, live, ["cas1"])
    later = NOW + dt.timedelta(days=3)
    r = cli("status", now=later)
    assert r.code == 1, r.both  # (status exits 1 on any warning or expiry)
    row = next(line for line in r.out.splitlines() if "chain-ca" in line)
    assert row.split()[0] == "EXPIRED"
    assert "(in the chain of cas1)" in row
    assert "clients reject it now though its own certificate is valid" in r.out
    assert "`ccapki csr cas1`" in r.out
    nagios = cli("status", "--nagios", now=later)
    assert nagios.code == 2, nagios.out
    assert nagios.out.startswith("CCAPKI CRITICAL"), nagios.out


def test_a_new_certificate_under_the_current_intermediate_ends_the_warning(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    base = OutsideCA.make("Short")
    short = with_intermediate(
        base, start=NOW - dt.timedelta(days=300), end=NOW + dt.timedelta(days=20)
    )
    estate(cli, tmp_path, short, ["cas1"])
    assert chain_rows(cli("status", "--json").json())

    # the fix the note names: the CA signs under its current (renewed) intermediate
    renewed = with_intermediate(
        base, start=NOW - dt.timedelta(days=1), end=NOW + dt.timedelta(days=1500)
    )
    sign(cli, tmp_path, renewed, "cas1")
    body = cli("status", "--json").json()
    (item,) = chain_rows(body)  # the renewed intermediate, not the old one
    assert item["fingerprint"] == renewed.inter.fingerprint(hashes.SHA256()).hex()
    assert item["stage"] == "ok"
    assert item["note"] == ""
    r = cli("status")
    assert r.code == 0, r.both
    assert "test: ok: " in cli("watch", "--once").out


def test_the_store_s_own_cas_and_trusted_roots_are_not_repeated_as_chain_rows(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    # an internal CA's chain (its intermediate and root are CAs of the store) and the
    # outside root (in the CAM's trust store) each have their own row, not a chain-ca one
    outside = OutsideCA.make("Long")
    estate(cli, tmp_path, outside, ["cas1"])
    body = cli("status", "--json").json()
    kinds = {(i["kind"], i["name"]) for i in body["items"]}
    assert ("chain-ca", "Long Issuing CA") in kinds
    assert not [k for k, n in kinds if k == "chain-ca" and n != "Long Issuing CA"], kinds
    assert any(k == "trust-root" and "Long Root" in n for k, n in kinds), kinds
    rows = chain_rows(body)
    assert json.loads(json.dumps(rows))[0]["chain_of"] == ["cas1"]
