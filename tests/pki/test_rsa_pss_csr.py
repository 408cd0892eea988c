"""A CSR on an RSA-PSS key (id-RSASSA-PSS: RSA restricted to PSS signatures, which the
appliances' Java 6/7 cannot use) was shown by ``inspect`` as plain "RSA"; it now says
"RSA-PSS", as ``inspect`` of a certificate on such a key does. The CSR is made by the
real ``openssl`` (cryptography makes no RSA-PSS key)."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509

from ccapki.pki.inspect import describe_csr
from kit.cli import Cli, ok
from kit.tools import openssl


def _pss_csr(tmp_path: Path) -> Path:
    key, csr = tmp_path / "pss.key", tmp_path / "pss.csr"
    made = openssl(
        "genpkey", "-algorithm", "RSA-PSS", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(key)
    )
    assert made.returncode == 0, made.stderr
    made = openssl("req", "-new", "-key", str(key), "-subj", "/CN=pss.example", "-out", str(csr))
    assert made.returncode == 0, made.stderr
    return csr


def test_a_csr_on_an_rsa_pss_key_is_named_so(cli: Cli, tmp_path: Path) -> None:
    csr = _pss_csr(tmp_path)
    info = describe_csr(x509.load_pem_x509_csr(csr.read_bytes()))
    assert (info.key, info.key_bits) == ("RSA-PSS", 2048)
    r = ok(cli("inspect", csr, "--json"))
    assert '"key": "RSA-PSS"' in r.out, r.out
