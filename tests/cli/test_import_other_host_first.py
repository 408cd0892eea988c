"""``import`` of a certificate that is none of the deployment's (another host's).

Before: without its key the first error was "private key not found ... import the key saved
when the CSR was made (--key)"; following it, the next run said what was wrong from the
start: the certificate "names no identity" of the deployment. Now that comes first, and
says how to go on either way."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

from kit.certs import OutsideCA, ec_key, key_pem, pem
from kit.cli import FAQ, Cli, error_with_hint, ok, write


def test_another_hosts_certificate_is_named_so_before_its_key_is_asked_for(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    ok(cli("apply", FAQ))
    key = ec_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "www.elsewhere.test")])
    cert = OutsideCA.make().sign(name, key.public_key(), dns=["www.elsewhere.test"])
    path = write(tmp_path / "other.pem", pem(cert))

    r = error_with_hint(cli("import", path))
    error, hint = r.err.splitlines()[:2]
    assert "www.elsewhere.test names no identity of deployment faq-campus" in error, error
    assert "no key the store or the files hold is its key" in error
    assert "private key not found" not in r.err
    assert "`ccapki plan` lists their names" in hint
    assert "--identity NAME and give its key with --key KEYFILE" in hint

    # with its key: the same error, without the key's part
    keyfile = write(tmp_path / "other.key", key_pem(key))
    r = error_with_hint(cli("import", path, "--key", keyfile))
    assert "names no identity of deployment faq-campus" in r.err
    assert "no key the store" not in r.err
    assert "--key KEYFILE" not in r.err
