"""Chain-walking helpers of the trust engine; every certificate fact comes from pki.certs."""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterable, Sequence

from cryptography import x509

from ccapki.pki.certs import fingerprint, issued_by

__all__ = ["cert_fingerprint", "dedupe", "find_issuers", "fmt_date", "serial_of"]

#: The trust API's public name for :func:`ccapki.pki.certs.fingerprint`.
cert_fingerprint = fingerprint


def serial_of(cert: x509.Certificate) -> int:
    """The serial number, read without cryptography's warning about a negative or zero one
    (verdicts on such certificates are the point, not a deprecation)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cert.serial_number


def fmt_date(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def dedupe(certs: Iterable[x509.Certificate]) -> list[x509.Certificate]:
    """Certificates in order, each once (by fingerprint)."""
    seen: set[str] = set()
    out: list[x509.Certificate] = []
    for cert in certs:
        key = fingerprint(cert)
        if key not in seen:
            seen.add(key)
            out.append(cert)
    return out


def find_issuers(
    cert: x509.Certificate, pool: Sequence[x509.Certificate]
) -> tuple[list[x509.Certificate], list[x509.Certificate]]:
    """Issuers of ``cert`` in ``pool``: (name + key id match and signature ok, name-only matches).

    The second list holds certificates with the right subject name that did *not*
    sign ``cert`` (a regenerated CA, a different Perfigo root...), for diagnosis.
    """
    good: list[x509.Certificate] = []
    name_only: list[x509.Certificate] = []
    for cand in pool:
        if cand.subject != cert.issuer:
            continue
        if issued_by(cert, cand):
            good.append(cand)
        else:
            name_only.append(cand)
    return good, name_only
