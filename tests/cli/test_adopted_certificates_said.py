"""What `status`, `plan` and `apply` say of self-signed certificates: the ones an appliance
made itself at install (the FAQ's temporary certificates, adopted with `ccapki import
--file FILE` before the first apply) and the ones ccapki issued on purpose.

Found in a walkthrough: `ccapki status` called every self-signed identity "temporary (CCA
4.8.0's self-signed install-time kind)", also the certificates ccapki issued from the file
and renews itself; and `plan FILE` / `apply FILE` kept the adopted certificates silently
(`apply` said "nothing to do", `plan` nothing of them).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from kit.certs import mint, utcnow
from kit.cli import Cli, deployment, ok, standalone, write

DAY = dt.timedelta(days=1)
PASSWORD = "appliance-pw"


def _appliance_p12(tmp_path: Path, name: str, ip: str, *, days: int, age: int) -> Path:
    """``name``'s own install-time certificate, true self-signed (CN and SANs its hostname
    and IP), made ``age`` days ago for ``days``, exported with its key as the appliance
    exports it (PKCS#12)."""
    host = f"{name}.example.org"
    own = mint(host, san=[host, ip], start=utcnow() - age * DAY, days=days)
    data = pkcs12.serialize_key_and_certificates(
        name.encode(),
        own.key,  # type: ignore[arg-type]
        own.cert,
        None,
        serialization.BestAvailableEncryption(PASSWORD.encode()),
    )
    return write(tmp_path / f"{name}.p12", data)


def _identities(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {i["name"]: i for i in data["items"] if i["kind"] == "identity"}


def test_status_calls_only_the_adopted_install_time_certificate_temporary(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    text = deployment(
        release="4.7.2",
        source="self-signed",
        cam=standalone("cam", "10.0.0.1"),
        cas=[standalone("cas1", "10.1.0.1"), standalone("cas2", "10.2.0.1")],
    )
    file = write(tmp_path / "d.toml", text)
    # cas1's own 3-month certificate, made at install 10 days ago, adopted before the apply
    p12 = _appliance_p12(tmp_path, "cas1", "10.1.0.1", days=90, age=10)
    ok(cli("import", "--file", file, p12, "--password", PASSWORD))
    ok(cli("apply", file))  # cam and cas2: ccapki issues them, self-signed as the file says

    data = ok(cli("status", "--json")).json()
    ids = _identities(data)
    assert ids["cas1"]["temporary"] is True
    assert ids["cas1"]["note"].startswith(
        "TEMPORARY: CCA 4.7.2's self-signed install-time certificate lasts 3 months"
    )
    for name in ("cam", "cas2"):  # ccapki's own: renewed by ccapki, not the release's
        assert ids[name]["temporary"] is False, ids[name]
        assert "temporary" not in ids[name]["note"].lower(), ids[name]
        assert ids[name]["note"].startswith("true self-signed, issued by ccapki: clients warn")
        assert "`ccapki export-roots`" in ids[name]["note"]
    assert (data["counts"]["temporary"], data["counts"]["temporary_3_months"]) == (1, 1)
    assert "1 temporary (3 months)" in data["summary"]

    table = cli("status").out
    assert "1 temporary (3 months)" in table.splitlines()[-1]
    notes = [line for line in table.splitlines() if "note:" in line]
    assert sum("TEMPORARY" in line for line in notes) == 1, table
    assert sum("true self-signed, issued by ccapki" in line for line in notes) == 2, table
    nagios = cli("status", "--nagios").out.splitlines()[0]
    assert " temporary=1 " in nagios, nagios


def test_a_self_signed_deployment_ccapki_issued_is_not_called_temporary(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    """The walkthrough's case: `source = "self-signed"` on CCA 4.8, kept for years."""
    text = deployment(source="self-signed", cas=[standalone("cas1", "10.1.0.1")])
    ok(cli("apply", write(tmp_path / "d.toml", text)))
    data = ok(cli("status", "--json")).json()
    assert data["counts"]["temporary"] == 0
    for item in _identities(data).values():
        assert item["temporary"] is False
        assert "install-time" not in item["note"]
    for args in (("status",), ("status", "--nagios")):
        out = cli(*args).out
        assert "temporary (" not in out, out
        assert "install-time" not in out, out
        assert "TEMPORARY" not in out, out
    assert " temporary=0 " in cli("status", "--nagios").out


def test_plan_and_apply_say_the_adopted_certificates_they_keep(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    cas = [standalone(f"cas{n}", f"10.{n}.0.1") for n in (1, 2, 3, 4)]
    text = deployment(source="self-signed", cam=standalone("cam", "10.0.0.1"), cas=cas)
    file = write(tmp_path / "d.toml", text)
    one = _appliance_p12(tmp_path, "cas1", "10.1.0.1", days=365, age=30)
    ok(cli("import", "--file", file, one, "--password", PASSWORD))

    said = "kept: cas1 (adopted certificate, fits the plan)"
    r = ok(cli("plan", file))
    assert said in r.out, r.out
    assert ok(cli("plan", file, "--json")).json()["kept_adopted"] == ["cas1"]
    r = ok(cli("apply", file, "--dry-run"))
    assert said in r.out, r.out
    r = ok(cli("apply", file))
    assert "issued cam v1" in r.out, r.out
    assert said in r.out, r.out
    assert "issued cas1" not in r.out
    r = ok(cli("apply", file))  # nothing to do: said with what it keeps
    assert said in r.out, r.out
    assert "nothing to do" in r.out
    r = ok(cli("apply", file))  # remembered: said without reading the file again
    assert said in r.out, r.out
    assert ok(cli("apply", file, "--json")).json()["kept_adopted"] == ["cas1"]

    # at scale: the first three named and the count, as the other summary lines do
    more = [_appliance_p12(tmp_path, f"cas{n}", f"10.{n}.0.1", days=365, age=30) for n in (2, 3, 4)]
    ok(cli("import", *more, "--password", PASSWORD))
    many = "kept: cas1, cas2, cas3 +1 (4 adopted certificates, fit the plan)"
    assert many in ok(cli("plan", file)).out
    r = ok(cli("apply", file))
    assert many in r.out, r.out
    assert ok(cli("apply", file, "--json")).json()["kept_adopted"] == [
        "cas1",
        "cas2",
        "cas3",
        "cas4",
    ]
    # ccapki's own cam is no adopted certificate; a renewal ends the adoption
    ok(cli("renew", "cas4", "--commit"))
    assert "kept: cas1, cas2, cas3 (3 adopted certificates" in ok(cli("plan", file)).out
