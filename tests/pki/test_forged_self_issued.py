"""A certificate that names itself as its issuer but whose signature its own key did not
make (damaged, or forged with another key under the same name) was shown by ``inspect`` as
"signed by NAME (third-party CA)": it is now ``bad-signature``, said as damaged or forged.
A true self-signed certificate, a root, and a certificate signed by a CA of the same name
given in its chain (a CA's key rollover) read as before."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from ccapki.pki.inspect import signed_by
from kit.certs import NOW, pem
from kit.cli import Cli, ok, write

NAME = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "cas.example.org")])


def _self_issued(
    subject_key: ec.EllipticCurvePrivateKey, signer: ec.EllipticCurvePrivateKey, *, ca: bool = False
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(NAME)
        .issuer_name(NAME)
        .public_key(subject_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("cas.example.org")]), False)
    )
    return builder.sign(signer, hashes.SHA256())


def test_a_self_issued_certificate_its_own_key_did_not_sign_is_bad_signature() -> None:
    own, other = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    forged = _self_issued(own, other)
    kind, sentence = signed_by(forged)
    assert kind == "bad-signature"
    assert "damaged or forged" in sentence
    # the genuine ones, as ever
    assert signed_by(_self_issued(own, own))[0] == "self-signed"
    assert signed_by(_self_issued(own, own, ca=True))[0] == "root-ca"
    # signed by another key of the same name, given in the chain: that CA signed it
    rolled = _self_issued(other, other, ca=True)
    assert signed_by(forged, (), [rolled])[0] == "third-party"


def test_inspect_says_it_in_words_and_in_json(cli: Cli, tmp_path: Path) -> None:
    own, other = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    f = write(tmp_path / "forged.pem", pem(_self_issued(own, other)))
    r = ok(cli("inspect", f))
    words = " ".join(r.out.replace("│", " ").split())  # the table's cells, wrapped
    assert "damaged or forged" in words, r.out
    assert "third-party CA" not in r.out
    r = ok(cli("inspect", f, "--json"))
    assert '"signed_by_kind": "bad-signature"' in r.out, r.out
