"""ACME enrollment (RFC 8555) for identities with ``source = "acme"`` (issue 14).

The CAS serves no files ccapki controls, so the route is DNS-01: each name's
``_acme-challenge`` TXT record is published by an RFC 2136 dynamic update signed with TSIG
(dnspython) or by the administrator's hook command (docs/acme.md: its contract), the CA is
asked to look once the record is visible, and the records are removed afterwards, whatever
happened.

The protocol is the ``acme`` library's (certbot's: :class:`acme.client.ClientV2`, its JWS,
nonces and polling); nothing here signs a JWS by hand.

An order runs in three steps, so nothing is half-stored:

1. :func:`prepare_orders` (under the store's write lock): what a public CA will not issue
   is reported (IP addresses: DNS-01 proves no IP; names under special-use or private
   top-level domains), the account is registered once per deployment and directory (its
   key sealed), and the identity's key is made and sealed *pending* with an order row,
   committed before the CA is asked anything: a process that dies later loses no key (the
   next order of the identity takes the pending key up again).
2. :func:`run_order` (no store): the order, the challenges, finalization with a CSR of
   that key, the chain. Threads may run many at once.
3. :func:`store_order` (one transaction): the certificate becomes the identity's new current
   version, as an imported third-party certificate does, its key active; or the order is
   marked failed with its one-line reason (the pending key stays pending).

:func:`order_identities` runs the three; :func:`revoke_identity` revokes a current
certificate; :func:`acme_scope` says what an identity's order will and will not name.
"""

from __future__ import annotations

import abc
import base64
import concurrent.futures
import contextlib
import datetime as dt
import functools
import ipaddress
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    PrivateKeyTypes,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ccapki._util import written_at
from ccapki.errors import CcapkiError, InputError, NotFoundError
from ccapki.pki.certs import fingerprint, is_ca, is_self_signed, issued_by
from ccapki.pki.keys import KeyType, generate_key, key_type_name, public_key_fingerprint
from ccapki.store.acme import AcmeAccount, AcmeRepository, OrderState
from ccapki.store.records import IdentityRecord, KeyState
from ccapki.topology.model import AcmeDnsMethod, AcmeSettings, Deployment, IdentitySpec, Source
from ccapki.topology.secretenv import WITHHELD_FROM_HOOK

if TYPE_CHECKING:
    from acme import client as acme_client
    from acme import messages
    from josepy.jwa import JWASignature
    from josepy.jwk import JWK

    from ccapki.lifecycle.renew import RenewalPlan, RenewedElsewhere
    from ccapki.store.session import Store

__all__ = [
    "CLIENT_AUTH_NOTE",
    "ORDER_LEASE",
    "REVOKE_REASONS",
    "AcmeError",
    "AcmeFinding",
    "AcmeRenewal",
    "AcmeScope",
    "OrderOutcome",
    "PreparedOrder",
    "account_summary",
    "acme_scope",
    "acme_specs",
    "check_account",
    "check_settings",
    "due_identities",
    "order_identities",
    "order_renewals",
    "prepare_orders",
    "problem_error",
    "renewal_orders",
    "require_client",
    "revoke_identity",
    "run_order",
    "store_order",
]

#: What is said at order time about clientAuth (``trust check`` flags it afterwards).
CLIENT_AUTH_NOTE = (
    "a public CA may issue this certificate without the clientAuth extended key usage "
    "(public CAs are dropping it in 2026): CAM<->CAS mutual TLS (CCA 4.5+) needs it on "
    "the side that authenticates as a client; options: keep the CAM or CAS on an internal "
    'identity for the control channel (source = "internal"), use a CA that still issues '
    "clientAuth, or check with `ccapki trust check` after the order"
)

#: Top-level domains no public CA issues for (RFC 6761, RFC 6762, RFC 8375 and the
#: private ones sites use); a single-label name is never public either.
_NON_PUBLIC_TLDS = frozenset(
    {
        "local",
        "localhost",
        "localdomain",
        "test",
        "invalid",
        "example",
        "internal",
        "intranet",
        "lan",
        "home",
        "corp",
        "private",
        "onion",
        "alt",
    }
)

#: RFC 8555 problem types, short names -> what to do (the hint).
_PROBLEM_HINTS = {
    "rateLimited": "the CA limits how often it issues: wait (the CA's message says until "
    "when) and run the order again; do not loop on it",
    "rejectedIdentifier": "the CA will not issue for that name: remove it from the identity, "
    'or use source = "third-party" with a CA that will (ccapki csr)',
    "unauthorized": "the DNS-01 record was not what the CA expected: check that the hook "
    "or the DNS server publishes _acme-challenge TXT records in the public zone, and raise "
    "[acme] propagation_wait if secondaries are slow",
    "dns": "the CA could not look the TXT record up: check the zone's delegation and that "
    "its name servers answer for _acme-challenge records",
    "incorrectResponse": "the TXT record held another value: check that nothing else "
    "publishes _acme-challenge records for the name, and raise propagation_wait",
    "connection": "the CA could not reach the name's DNS: check the zone's name servers",
    "caa": "a CAA record of the domain forbids this CA: add the CA to the CAA record",
    "externalAccountRequired": "the CA needs External Account Binding: add eab_kid and "
    "eab_hmac_env to [acme] (the CA's portal gives the key id and HMAC key)",
    "unauthorizedAccount": "the account is not allowed to order: check it with the CA",
    "accountDoesNotExist": "the CA does not know the account: run the order again (ccapki "
    "registers the same key again)",
    "badCSR": "the CA refused the CSR: check the identity's key type (key = ... in the "
    "deployment file); ecdsa-p256 and rsa-2048 are accepted everywhere",
    "malformed": "the CA refused the request (a CA restarted mid-order forgets it): run "
    "the order again",
    "serverInternal": "the CA failed: run the order again later",
    "orderNotReady": "the order was not ready: run the order again",
    "userActionRequired": "the CA wants something done in its portal (terms of service): "
    "follow the CA's message, then run the order again",
    "badSignatureAlgorithm": "the CA refused the account key's algorithm: report this",
    "unsupportedIdentifier": "the CA does not issue for that kind of name",
    "unsupportedContact": "the CA refused the account e-mail: check [acme] email",
    "invalidContact": "the CA refused the account e-mail: check [acme] email",
}


class AcmeError(CcapkiError):
    """An ACME order or revocation failed: the CA refused, a challenge failed, the CA or the
    DNS could not be reached. Exit 2, one line and a hint."""


# ---------------------------------------------------------------------------- scope


@dataclass(frozen=True)
class AcmeScope:
    """What an identity's order names, and what it leaves out or a public CA refuses."""

    identity: str
    names: tuple[str, ...]  # the DNS names ordered, the common name first
    ips_left_out: tuple[str, ...]  # DNS-01 proves no IP address: never ordered
    non_public: tuple[str, ...]  # names a public CA will refuse (ordered all the same)

    def report(self) -> list[str]:
        """One line per thing the administrator must know before the order."""
        out = []
        if self.ips_left_out:
            out.append(
                f"{self.identity}: a public CA will not issue IP addresses, and DNS-01 "
                f"cannot prove one: {', '.join(self.ips_left_out)} left out of the order "
                "(clients that connect by IP, such as an HA pair's Service IP, will see a "
                'name mismatch: have them use the hostname, or use source = "internal")'
            )
        if self.non_public:
            out.append(
                f"{self.identity}: a public CA will refuse {', '.join(self.non_public)} (not "
                "a public domain name); a private ACME CA may issue it"
            )
        return out


def _non_public(name: str) -> bool:
    labels = name.rstrip(".").lower().split(".")
    if len(labels) < 2:
        return True
    if labels[-2:] == ["home", "arpa"]:
        return True
    return labels[-1] in _NON_PUBLIC_TLDS


def acme_scope(spec: IdentitySpec) -> AcmeScope:
    """What the order of ``spec`` names: its DNS names (the CN first); the IP addresses it
    leaves out and the names a public CA will refuse. Raises :class:`InputError` when no
    DNS name is left to order."""
    names = spec.dns_names
    if not names:
        raise InputError(
            f"{spec.name} has no DNS name to order (ACME DNS-01 proves names, not IPs)",
            f'give {spec.name} a hostname, or use source = "internal" for it',
        )
    return AcmeScope(
        spec.name,
        names,
        tuple(str(ip) for ip in spec.ip_addresses),
        tuple(n for n in names if _non_public(n)),
    )


# ---------------------------------------------------------------------------- errors


def problem_error(exc: BaseException, what: str) -> AcmeError:
    """The one-line :class:`AcmeError` (with its hint) for what the ``acme`` library,
    ``requests`` or the DNS step raised while doing ``what`` ("ordering cas-dorm")."""
    import requests
    from acme import errors as acme_errors
    from acme import messages

    if isinstance(exc, AcmeError):
        return exc
    if isinstance(exc, messages.Error):
        code = exc.code or "error"
        detail = " ".join((exc.detail or exc.description or "").split())
        subs = getattr(exc, "subproblems", None) or ()
        for sub in subs:
            ident = getattr(getattr(sub, "identifier", None), "value", None)
            sdetail = " ".join(str(getattr(sub, "detail", "") or "").split())
            detail += f"; {ident}: {sdetail}" if ident else f"; {sdetail}"
        hint = _PROBLEM_HINTS.get(code, "read the CA's message; run the order again")
        label = "rate limited" if code == "rateLimited" else code
        return AcmeError(f"{what}: the CA refused ({label}): {detail}", hint)
    if isinstance(exc, acme_errors.ValidationError):
        parts = []
        for authzr in exc.failed_authzrs:
            ident = authzr.body.identifier.value
            for chall in authzr.body.challenges:
                if chall.error is not None:
                    err = chall.error
                    parts.append(f"{ident}: {' '.join((err.detail or err.code or '').split())}")
        vcode: str = next(
            (
                c.error.code or "unauthorized"
                for a in exc.failed_authzrs
                for c in a.body.challenges
                if c.error is not None
            ),
            "unauthorized",
        )
        return AcmeError(
            f"{what}: the DNS-01 challenge failed: {'; '.join(parts) or 'invalid'}",
            _PROBLEM_HINTS.get(vcode, _PROBLEM_HINTS["unauthorized"]),
        )
    if isinstance(exc, acme_errors.TimeoutError):
        return AcmeError(
            f"{what}: the CA did not finish validating or issuing in time",
            "run the order again (the pending key is kept); raise [acme] propagation_timeout "
            "if the CA is slow",
        )
    if isinstance(exc, requests.exceptions.SSLError):
        return AcmeError(
            f"{what}: the CA's HTTPS certificate is not trusted ({_short(exc)})",
            "give [acme] ca_bundle = the PEM file of the roots that sign the directory's "
            "certificate (verification is never turned off)",
        )
    if isinstance(exc, requests.exceptions.RequestException):
        return AcmeError(
            f"{what}: the ACME directory is unreachable ({_short(exc)})",
            "check [acme] directory (the URL and port), the network and any proxy, then run "
            "the order again",
        )
    if isinstance(exc, acme_errors.ClientError | acme_errors.Error):
        said = _short(exc)
        arg = exc.args[0] if exc.args else None
        if isinstance(arg, tuple) and arg:
            arg = arg[0]
        if isinstance(arg, requests.Response):  # an HTTP error without a problem document
            said = f"HTTP {arg.status_code} {arg.reason or ''} from {arg.url}".replace("  ", " ")
        return AcmeError(
            f"{what}: the CA answered what is not ACME ({said})",
            "check that [acme] directory is the CA's ACME directory URL",
        )
    return AcmeError(f"{what}: {_short(exc)}", "run the order again; --debug shows more")


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    # requests wraps urllib3's long reprs: the innermost reason is what helps
    for marker in ("Caused by ", "Failed to establish a new connection: "):
        if marker in text:
            text = text.split(marker, 1)[1]
    errno = re.search(r"\[Errno -?\d+\] [^'\"()]+", text)
    if errno:  # "[Errno 111] Connection refused", "[Errno -2] Name or service not known"
        return errno.group(0).strip()
    return text.rstrip("'\")").strip()[:300]


# ---------------------------------------------------------------------------- DNS-01


def _env_secret(name: str | None, what: str, key: str) -> str:
    if name is None:
        raise InputError(f"[acme] {key} is not set", f'add {key} = "VARIABLE" to [acme]')
    value = os.environ.get(name)
    if not value:
        raise InputError(
            f"the {what} variable {name} ([acme] {key}) is not set",
            f"export {name}=... (the file names the variable; the secret never goes in it)",
        )
    return value


class _Publisher(abc.ABC):
    """Publishes and removes ``_acme-challenge`` TXT records."""

    @abc.abstractmethod
    def add(self, record: str, value: str, identifier: str, identity: str) -> None:
        """Publish ``value`` at ``record``; raises :class:`AcmeError` when that fails."""

    @abc.abstractmethod
    def remove(self, record: str, value: str, identifier: str, identity: str) -> None:
        """Remove that value again; raises :class:`AcmeError` when that fails."""

    def wait_visible(self, records: Sequence[tuple[str, str]], deadline: float) -> None:
        """Return once every (record, value) is visible, or raise :class:`AcmeError`.
        A hook says it published by exiting 0: nothing to wait for by default."""
        return


#: Never passed to a DNS hook (least privilege: a hook publishes a TXT record); shared
#: with the loader, which refuses a secret setting naming one of ccapki's own secrets.
_WITHHELD_FROM_HOOK = WITHHELD_FROM_HOOK


class _HookPublisher(_Publisher):
    """``[acme] hook``: ``COMMAND... add|remove RECORD VALUE`` with the same in the
    environment (CCAPKI_ACME_ACTION, _RECORD, _VALUE, _IDENTIFIER, _IDENTITY)."""

    def __init__(
        self, command: Sequence[str], timeout: float, withheld: Sequence[str] = ()
    ) -> None:
        self.command = tuple(command)
        self.timeout = max(timeout, 1.0)
        #: secrets the hook has no business with: the store's, the token's, the service's,
        #: and the variables [acme] names for its own secrets
        self.withheld = frozenset((*_WITHHELD_FROM_HOOK, *withheld))

    def _run(self, action: str, record: str, value: str, identifier: str, identity: str) -> None:
        env = {k: v for k, v in os.environ.items() if k not in self.withheld}
        env.update(
            CCAPKI_ACME_ACTION=action,
            CCAPKI_ACME_RECORD=record,
            CCAPKI_ACME_VALUE=value,
            CCAPKI_ACME_IDENTIFIER=identifier,
            CCAPKI_ACME_IDENTITY=identity,
        )
        argv = [*self.command, action, record, value]
        try:
            done = subprocess.run(
                argv,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=self.timeout,
                check=False,
            )
        except FileNotFoundError:
            raise AcmeError(
                f"the DNS hook {self.command[0]} does not exist",
                "fix [acme] hook: the command's path (it is run without a shell)",
            ) from None
        except PermissionError:
            raise AcmeError(
                f"the DNS hook {self.command[0]} cannot be run (permission denied)",
                f"chmod +x {self.command[0]}, or name its interpreter: hook = "
                f'"/usr/bin/python3 {self.command[0]}"',
            ) from None
        except subprocess.TimeoutExpired:
            raise AcmeError(
                f"the DNS hook ({action} {record}) did not finish in {self.timeout:g} s",
                "fix the hook, or raise [acme] propagation_timeout",
            ) from None
        if done.returncode != 0:
            lines = (done.stderr or done.stdout).decode(errors="replace").strip().splitlines()
            said = f": {lines[-1][:200]}" if lines else ""
            raise AcmeError(
                f"the DNS hook ({action} {record}) exited {done.returncode}{said}",
                "fix the hook (docs/acme.md gives its contract): it must exit 0 once the "
                "record is published (or removed)",
            )

    def add(self, record: str, value: str, identifier: str, identity: str) -> None:
        self._run("add", record, value, identifier, identity)

    def remove(self, record: str, value: str, identifier: str, identity: str) -> None:
        self._run("remove", record, value, identifier, identity)


class _Rfc2136Publisher(_Publisher):
    """``[acme] dns = "rfc2136"``: TSIG-signed dynamic updates to ``dns_server``; visible
    once that server answers the TXT record."""

    def __init__(self, s: AcmeSettings) -> None:
        import dns.name
        import dns.tsigkeyring

        assert s.dns_server is not None
        assert s.tsig_key_name is not None
        secret = _env_secret(s.tsig_secret_env, "TSIG secret", "tsig_secret_env")
        try:
            base64.b64decode(secret, validate=True)
        except ValueError:
            raise InputError(
                f"the TSIG secret in {s.tsig_secret_env} is not base64",
                'give the key\'s secret as tsig-keygen prints it (the secret "..." line)',
            ) from None
        self.keyname = dns.name.from_text(s.tsig_key_name)
        self.keyring = dns.tsigkeyring.from_text({s.tsig_key_name: secret})
        self.algorithm = s.tsig_algorithm
        self.server = _address(s.dns_server)
        self.port = s.dns_port
        self.zone = s.zone
        self.timeout = max(min(s.propagation_timeout, 30.0), 1.0)
        self._zones: dict[str, str] = {}

    def _query(self, name: str, rdtype: str) -> Any:
        import dns.message
        import dns.query

        q = dns.message.make_query(name, rdtype)
        return dns.query.udp(q, self.server, port=self.port, timeout=self.timeout)

    def _zone_of(self, record: str) -> str:
        if self.zone:
            return self.zone
        import dns.rdatatype

        labels = record.rstrip(".").split(".")
        for i in range(1, len(labels) - 1):
            cand = ".".join(labels[i:]) + "."
            if cand in self._zones:
                return self._zones[cand]
            try:
                resp = self._query(cand, "SOA")
            except Exception as exc:
                raise self._unreachable(exc) from None
            if any(r.rdtype == dns.rdatatype.SOA for r in resp.answer):
                self._zones[cand] = cand
                return cand
        raise AcmeError(
            f"no zone for {record} at {self.server}:{self.port} (no SOA answered)",
            'give [acme] zone = "example.edu" (the zone that holds the _acme-challenge '
            "records), or point dns_server at its primary",
        )

    def _unreachable(self, exc: BaseException) -> AcmeError:
        return AcmeError(
            f"the DNS server {self.server}:{self.port} did not answer ({_short(exc)})",
            "check [acme] dns_server and dns_port (the primary that accepts dynamic updates)",
        )

    def _update(self, action: str, record: str, value: str) -> None:
        import dns.query
        import dns.rcode
        import dns.tsig
        import dns.update

        record = record.rstrip(".") + "."  # absolute: a relative name is the zone's
        zone = self._zone_of(record)
        upd = dns.update.UpdateMessage(
            zone, keyring=self.keyring, keyname=self.keyname, keyalgorithm=self.algorithm
        )
        if action == "add":
            upd.add(record, 60, "TXT", f'"{value}"')
        else:
            upd.delete(record, "TXT", f'"{value}"')
        try:
            resp = dns.query.tcp(upd, self.server, port=self.port, timeout=self.timeout)
        except dns.tsig.PeerError as exc:
            raise AcmeError(
                f"the DNS server {self.server} refused the TSIG key ({_short(exc)})",
                "check [acme] tsig_key_name, tsig_algorithm and the secret in "
                "tsig_secret_env against the server's key",
            ) from None
        except Exception as exc:
            raise self._unreachable(exc) from None
        rcode = resp.rcode()
        if rcode != dns.rcode.NOERROR:
            text = dns.rcode.to_text(rcode)
            hint = (
                "the server does not accept this key's updates for the zone: allow it "
                "(BIND: update-policy { grant KEY name _acme-challenge... TXT; } or "
                "allow-update { key KEY; })"
                if text in ("REFUSED", "NOTAUTH")
                else "check the zone (NOTZONE: give [acme] zone) and the server's log"
            )
            raise AcmeError(
                f"the DNS server {self.server} answered {text} to the update of {record}",
                hint,
            )

    def add(self, record: str, value: str, identifier: str, identity: str) -> None:
        self._update("add", record, value)

    def remove(self, record: str, value: str, identifier: str, identity: str) -> None:
        self._update("remove", record, value)

    def wait_visible(self, records: Sequence[tuple[str, str]], deadline: float) -> None:
        import dns.rdatatype

        todo = list(records)
        while todo:
            record, value = todo[0]
            try:
                resp = self._query(record.rstrip(".") + ".", "TXT")
            except Exception as exc:
                raise self._unreachable(exc) from None
            seen = {
                b"".join(rd.strings).decode()
                for rrset in resp.answer
                if rrset.rdtype == dns.rdatatype.TXT
                for rd in rrset
            }
            if value in seen:
                todo.pop(0)
                continue
            if time.monotonic() > deadline:
                raise AcmeError(
                    f"the TXT record {record} is not visible at {self.server}:{self.port} "
                    "after the update",
                    "check the zone on the DNS server; raise [acme] propagation_timeout",
                )
            time.sleep(0.2)


def _address(host: str) -> str:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    try:
        return str(socket.getaddrinfo(host, 53, proto=socket.IPPROTO_UDP)[0][4][0])
    except OSError as exc:
        raise AcmeError(
            f"the DNS server name {host} does not resolve ({exc})",
            "give [acme] dns_server as an IP address or a resolvable name",
        ) from None


def _publisher(s: AcmeSettings) -> _Publisher:
    if s.dns is AcmeDnsMethod.HOOK:
        withheld = [n for n in (s.eab_hmac_env, s.tsig_secret_env) if n]
        return _HookPublisher(s.hook, s.propagation_timeout, withheld)
    return _Rfc2136Publisher(s)


# ---------------------------------------------------------------------------- client


def _settings(dep: Deployment) -> AcmeSettings:
    if dep.acme is None:
        raise InputError(
            f"deployment {dep.name} has no [acme] table",
            "add [acme] with directory, email and dns to the deployment file, then apply "
            "it (see docs/acme.md)",
        )
    return dep.acme


def require_client(s: AcmeSettings) -> None:
    """The ACME client library (and dnspython for ``dns = "rfc2136"``) can be imported.
    Raises :class:`InputError` naming the package and ccapki's ``acme`` extra."""
    import importlib

    needed = ["acme", "josepy"] + (["dns"] if s.dns is AcmeDnsMethod.RFC2136 else [])
    for module in needed:
        try:
            importlib.import_module(module)
        except ImportError:
            raise InputError(
                f"ordering from an ACME CA needs the Python package {module}, which is not "
                "installed (ccapki's `acme` extra)",
                "install it where ccapki is installed: pip install 'ccapki[acme]'; nothing "
                "was ordered or written",
            ) from None


def check_settings(s: AcmeSettings) -> None:
    """What can be checked before the CA is asked: the CA bundle is a file, the secrets the
    file names are in the environment (and the TSIG secret is base64). Raises
    :class:`InputError` naming the setting."""
    _verify(s)
    if s.eab_kid is not None:
        _env_secret(s.eab_hmac_env, "External Account Binding HMAC key", "eab_hmac_env")
    if s.dns is AcmeDnsMethod.RFC2136:
        _Rfc2136Publisher(s)
    elif s.hook:
        _check_hook(s.hook[0])


def _check_hook(command: str) -> None:
    """The hook's program exists and may be run (before anything is ordered: a CA may
    reuse a validation, so a broken hook would otherwise show only now and then)."""
    if shutil.which(command) is not None:
        return
    if os.path.exists(command):
        raise InputError(
            f"the DNS hook {command} cannot be run (not an executable file)",
            f'chmod +x {command}, or name its interpreter: hook = ["/bin/sh", "{command}"]',
        )
    raise InputError(
        f"the DNS hook {command} does not exist",
        "fix [acme] hook: the command's path, or a program on PATH (it is run without a shell)",
    )


def _verify(s: AcmeSettings) -> str | bool:
    """What ``requests`` verifies the CA's HTTPS certificate with: the bundle, or the
    system's roots (never off)."""
    if s.ca_bundle is None:
        return True
    if not os.path.isfile(s.ca_bundle):
        raise InputError(
            f"[acme] ca_bundle {s.ca_bundle} is not a file",
            "give the path of a PEM file of the roots that sign the directory's certificate",
        )
    return s.ca_bundle


def _jwk(key: PrivateKeyTypes) -> tuple[JWK, JWASignature]:
    from josepy.jwa import ES256, ES384, ES512, RS256
    from josepy.jwk import JWKEC, JWKRSA

    if isinstance(key, ec.EllipticCurvePrivateKey):
        alg = {256: ES256, 384: ES384}.get(key.curve.key_size, ES512)
        return JWKEC(key=key), alg
    if isinstance(key, rsa.RSAPrivateKey):
        return JWKRSA(key=key), RS256
    raise InputError("the account key is neither EC nor RSA", "report this")


def _client(
    s: AcmeSettings, key: PrivateKeyTypes, uri: str | None, what: str
) -> acme_client.ClientV2:
    """A client of the directory, signing with ``key`` as account ``uri`` (None: none yet)."""
    from acme import client, messages

    jwk, alg = _jwk(key)
    regr = (
        None
        if uri is None
        else messages.RegistrationResource(uri=uri, body=messages.Registration())
    )
    net = _network_class()(
        jwk,
        account=regr,
        alg=alg,
        # a path: requests verifies against that bundle (the library passes it on as is)
        verify_ssl=cast(bool, _verify(s)),
        user_agent="ccapki",
        timeout=30,
    )
    try:
        directory = client.ClientV2.get_directory(s.directory, net)
    except Exception as exc:
        raise problem_error(exc, f"{what}: reading the directory {s.directory}") from None
    return client.ClientV2(directory, net)


#: how many times a request the CA refused with badNonce is sent again (each with a new
#: nonce; RFC 8555 6.5: the client should retry). The library's own post retries once.
BAD_NONCE_TRIES = 8


@functools.cache
def _network_class() -> type[acme_client.ClientNetwork]:
    """``acme.client.ClientNetwork`` retrying a request refused with ``badNonce`` (a CA
    behind several front ends, or pebble, which rejects 5 % of good nonces) up to
    :data:`BAD_NONCE_TRIES` times rather than twice."""
    from acme import client, messages

    class _Network(client.ClientNetwork):
        def post(self, *args: Any, **kwargs: Any) -> Any:
            for attempt in range(1, BAD_NONCE_TRIES + 1):
                try:
                    return super().post(*args, **kwargs)
                except messages.Error as exc:
                    if exc.code != "badNonce" or attempt == BAD_NONCE_TRIES:
                        raise
            raise AssertionError("unreachable")

    return _Network


def _register(s: AcmeSettings, key: PrivateKeyTypes, what: str) -> tuple[str, tuple[str, ...]]:
    """Register ``key`` at the CA (or find its existing account). Returns (URL, contact)."""
    from acme import errors as acme_errors
    from acme import messages

    c = _client(s, key, None, what)
    contact = (f"mailto:{s.email}",)
    eab = None
    if s.eab_kid is not None:
        hmac = _env_secret(s.eab_hmac_env, "External Account Binding HMAC key", "eab_hmac_env")
        eab = messages.ExternalAccountBinding.from_data(
            account_public_key=c.net.key.public_key(),  # type: ignore[union-attr]
            kid=s.eab_kid,
            hmac_key=hmac,
            directory=c.directory,
        )
    reg = messages.NewRegistration.from_data(
        email=s.email, terms_of_service_agreed=True, external_account_binding=eab
    )
    try:
        regr = c.new_account(reg)
    except acme_errors.ConflictError as exc:  # the key has an account already
        return str(exc.location), contact
    except Exception as exc:
        raise problem_error(exc, f"{what}: registering the ACME account") from None
    return str(regr.uri), contact


# ---------------------------------------------------------------------------- orders


@dataclass(frozen=True)
class PreparedOrder:
    """An order ready to run: its key sealed pending, its row recorded."""

    order_id: int
    identity: str
    scope: AcmeScope
    spki: str
    key_type: KeyType
    account: AcmeAccount
    account_key: PrivateKeyTypes = field(repr=False)
    key: CertificateIssuerPrivateKeyTypes = field(repr=False)
    reused_key: bool = False


@dataclass(frozen=True)
class OrderOutcome:
    """What one order brought: the chain (leaf first), or the error."""

    prepared: PreparedOrder
    uri: str | None = None
    fullchain: tuple[x509.Certificate, ...] = ()
    error: AcmeError | None = None
    account_uri: str | None = None  # the account was registered again at this URL
    version: int | None = None  # the identity's version, once stored
    client_auth: bool = False  # the certificate carries clientAuth
    #: the issuer the stored chain stops below (a private ACME CA whose root the store
    #: does not hold), or None: the chain reaches a root or an external CA of the store
    missing_issuer: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.fullchain)

    def to_dict(self) -> dict[str, object]:
        """The order as JSON-able data (the service's jobs): identity, names, ok, version,
        expires, client_auth, missing_issuer, reused_key, error and hint."""
        return {
            "identity": self.prepared.identity,
            "names": list(self.prepared.scope.names),
            "ok": self.ok,
            "version": self.version,
            "expires": self.fullchain[0].not_valid_after_utc.isoformat() if self.ok else None,
            "client_auth": self.client_auth if self.ok else None,
            "missing_issuer": self.missing_issuer,
            "reused_key": self.prepared.reused_key,
            "error": self.error.message if self.error else None,
            "hint": self.error.hint if self.error else None,
        }


def _csr(
    key: CertificateIssuerPrivateKeyTypes, names: Sequence[str]
) -> x509.CertificateSigningRequest:
    """A CSR for ``names`` (DNS only; the CN the first, when it fits), asking for server and
    client authentication (the CA decides what it includes)."""
    builder = x509.CertificateSigningRequestBuilder()
    if len(names[0]) <= 64:
        builder = builder.subject_name(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
        )
    builder = builder.add_extension(
        x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
    ).add_extension(
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
        critical=False,
    )
    algo: hashes.SHA256 | hashes.SHA384 = hashes.SHA256()
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size > 256:
        algo = hashes.SHA384()
    return builder.sign(key, algo)


def due_identities(store: Store, dep: Deployment, now: dt.datetime) -> list[str]:
    """The ``source = "acme"`` identities to order: no certificate yet, names or key type
    changed, or inside their renewal window (as ``apply`` and ``renew`` decide for every
    third-party identity), or their current certificate revoked by ``acme revoke``. Reads
    only."""
    from ccapki.lifecycle.apply import current_state
    from ccapki.topology.plan import ActionKind, make_plan, pending_actions

    plan = make_plan(dep)
    acme = {p.name for p in plan.identities if p.spec.acme}
    current = store.identities.current()
    actions = pending_actions(plan, current_state(store, current), now)
    due = [
        a.identity
        for a in actions
        if a.identity in acme and a.kind in (ActionKind.CSR, ActionKind.AWAIT_CA)
    ]
    revoked = {
        o.certificate for o in AcmeRepository(store).orders() if o.state == OrderState.REVOKED
    }
    due += [
        p.name
        for p in plan.identities
        if p.name in acme
        and p.name not in due
        and p.name in current
        and current[p.name].fingerprint in revoked
    ]
    return due


def renewal_orders(plan: RenewalPlan) -> list[str]:
    """The ACME identities a renewal plan (:func:`ccapki.lifecycle.renew.plan_renewal`)
    leaves to an ACME order instead of a CSR, in the plan's order: what ``ccapki renew
    --commit`` (and the service's renew job) orders with :func:`order_identities` after
    committing the rest. Reads nothing."""
    from ccapki.lifecycle.renew import ACME_SKIP

    return [s.identity for s in plan.skipped if s.reason == ACME_SKIP]


def acme_specs(dep: Deployment, names: Sequence[str]) -> list[IdentitySpec]:
    """The identities ``names`` (an HA peer names its pair), each once. Raises
    :class:`NotFoundError` for an unknown name, :class:`InputError` for one that is not
    ``source = "acme"``."""
    out: list[IdentitySpec] = []
    for n in names:
        spec = dep.identity(n)
        if not spec.acme:
            raise InputError(
                f"{spec.name} is not an ACME identity (its source is {spec.source})",
                f'set source = "acme" on {spec.name} in the deployment file, or order only '
                "the ACME identities: "
                + (", ".join(i.name for i in dep.identities if i.acme) or "(none)"),
            )
        if spec not in out:
            out.append(spec)
    return out


def _account(store: Store, s: AcmeSettings, what: str) -> tuple[AcmeAccount, PrivateKeyTypes]:
    repo = AcmeRepository(store)
    acct = repo.account(s.directory)
    if acct is not None:
        return acct, repo.account_key(acct)
    key = ec.generate_private_key(ec.SECP256R1())
    uri, contact = _register(s, key, what)
    with store.transaction():
        acct = repo.add_account(s.directory, uri, contact, key, KeyType.ECDSA_P256.value)
    return acct, key


def prepare_orders(store: Store, dep: Deployment, names: Sequence[str]) -> list[PreparedOrder]:
    """Step 1: the account (registered once; its key sealed) and, per identity, its key
    sealed pending and an order row, committed before any order is made.

    A pending key of the identity's last unfinished order is taken up again rather than a
    new one made. Returns the prepared orders; raises :class:`AcmeError` (the CA
    unreachable or refusing the account), :class:`InputError` (a name not of an ACME
    identity, a missing secret), what unlocking the store raises."""
    return _prepare(store, dep, names, None)[0]


#: How long an ACME order another run made counts as in flight (that run still ordering
#: it) for a renewal (:func:`order_renewals`): past it, the order is taken as left by a run
#: stopped mid-order, and the next order takes its pending key up.
ORDER_LEASE = dt.timedelta(minutes=15)

#: What a renewal checks again under the write lock: when its run began (the machine's
#: clock) and what it planned from (identity -> version, certificate fingerprint).
_Guard = tuple[dt.datetime, Mapping[str, tuple[int, str]]]


def _taken(store: Store, names: Sequence[str], guard: _Guard) -> dict[str, RenewedElsewhere]:
    """The identities of ``names`` another run orders now (an order in flight, made less
    than :data:`ORDER_LEASE` ago), ordered after this run began, or changed since it
    planned: what it says about each. Read inside the write transaction."""
    from ccapki.lifecycle.renew import RenewedElsewhere

    started, seen = guard
    wanted = [n for n in names if n in seen]
    if not wanted:
        return {}
    repo = AcmeRepository(store)
    orders = {o.id: o for n in wanted for o in repo.orders(n)}
    current = store.identities.current()
    out: dict[str, RenewedElsewhere] = {}

    def version(name: str) -> int | None:
        cur = current.get(name)
        return cur.version if cur is not None else None

    stale = dt.datetime.now(dt.UTC) - ORDER_LEASE
    # writers are serialised: the rows are in the order they were committed
    for entry in store.audit.newest_first("acme-order"):
        at = written_at(entry.detail)
        if at is None or (at <= started and at < stale):
            break
        ids = entry.detail.get("orders")
        for oid in ids if isinstance(ids, list) else ():
            o = orders.get(oid)
            if o is None or o.identity in out:
                continue
            planned = seen[o.identity][0]
            if o.state == OrderState.PENDING and at >= stale:
                out[o.identity] = RenewedElsewhere(
                    o.identity, planned, version(o.identity), at, "ordering"
                )
            elif o.state == OrderState.VALID and at > started:
                out[o.identity] = RenewedElsewhere(
                    o.identity, planned, version(o.identity), at, "renewed"
                )
    for name in wanted:
        cur = current.get(name)
        if name in out or (cur is not None and cur.fingerprint == seen[name][1]):
            continue
        by_order = cur is not None and any(
            o.state == OrderState.VALID and o.certificate == cur.fingerprint
            for o in orders.values()
            if o.identity == name
        )
        out[name] = RenewedElsewhere(
            name,
            seen[name][0],
            version(name),
            cur.created_at if cur is not None else None,
            "renewed" if by_order else "changed",
        )
    return out


def _prepare(
    store: Store, dep: Deployment, names: Sequence[str], guard: _Guard | None
) -> tuple[list[PreparedOrder], list[RenewedElsewhere]]:
    """:func:`prepare_orders`; with ``guard`` (a renewal), what another run orders or
    ordered meanwhile is left to it (decided under the write lock): the second list."""
    s = _settings(dep)
    specs = acme_specs(dep, names)
    scopes = [acme_scope(spec) for spec in specs]
    require_client(s)  # before a pending key or an order row is written
    check_settings(s)  # a missing secret or bundle stops here, before the CA is asked
    store.unlock()
    acct, acct_key = _account(store, s, f"ordering {', '.join(sp.name for sp in specs)}")
    repo = AcmeRepository(store)
    out: list[PreparedOrder] = []
    with store.transaction():
        taken = _taken(store, [sp.name for sp in specs], guard) if guard is not None else {}
        pending = {k.fingerprint for k in store.keys.list(state=KeyState.PENDING)}
        for spec, scope in zip(specs, scopes, strict=True):
            if spec.name in taken:
                continue
            earlier = [
                o
                for o in repo.orders(spec.name)
                if o.state in (OrderState.PENDING, OrderState.FAILED) and o.spki in pending
            ]
            key: CertificateIssuerPrivateKeyTypes | None = None
            if earlier:
                cand = store.keys.private_key(earlier[-1].spki)
                if key_type_name(cand) == spec.key_type.value:
                    key, spki, reused = cand, earlier[-1].spki, True
            if key is None:
                key = generate_key(spec.key_type)
                spki = store.keys.add(key, spec.key_type.value, spec.name, KeyState.PENDING)
                reused = False
            order_id = repo.add_order(spec.name, acct.id, scope.names, spki)
            out.append(
                PreparedOrder(
                    order_id, spec.name, scope, spki, spec.key_type, acct, acct_key, key, reused
                )
            )
        if out:
            store.audit.record(
                "acme-order",
                ",".join(p.identity for p in out),
                directory=s.directory,
                orders=[p.order_id for p in out],
                # the machine's clock: a renewal that began before it does not order again
                written_at=dt.datetime.now(dt.UTC).isoformat(),
            )
    return out, list(taken.values())


def _is_problem(exc: BaseException, *codes: str) -> bool:
    from acme import messages

    return isinstance(exc, messages.Error) and exc.code in codes


def run_order(
    s: AcmeSettings,
    p: PreparedOrder,
    *,
    client: acme_client.ClientV2 | None = None,
    publisher: _Publisher | None = None,
) -> OrderOutcome:
    """Step 2 (no store): order ``p``'s names, publish and answer the DNS-01 challenges,
    finalize with a CSR of ``p``'s key, fetch the chain; remove the records whatever
    happened. An account the CA forgot (a CA restarted) is registered again with the same
    key once. Returns the :class:`OrderOutcome` (its ``error`` set when it failed); raises
    only :class:`KeyboardInterrupt` and the like."""
    what = f"ordering {p.identity}"
    account_uri: str | None = None
    try:
        c = client or _client(s, p.account_key, p.account.uri, what)
        pub = publisher or _publisher(s)
        csr_pem = _csr(p.key, p.scope.names).public_bytes(serialization.Encoding.PEM)
        try:
            orderr = c.new_order(csr_pem)
        except Exception as exc:
            if not _is_problem(exc, "accountDoesNotExist", "unauthorized"):
                raise
            account_uri, _ = _register(s, p.account_key, what)
            c = _client(s, p.account_key, account_uri, what)
            orderr = c.new_order(csr_pem)
        uri = orderr.uri
        try:
            fullchain = _challenge_and_finalize(s, c, orderr, p, pub)
        except Exception as exc:
            return OrderOutcome(p, uri, error=problem_error(exc, what), account_uri=account_uri)
        return OrderOutcome(p, uri, fullchain, account_uri=account_uri)
    except Exception as exc:
        return OrderOutcome(p, error=problem_error(exc, what), account_uri=account_uri)


def _challenge_and_finalize(
    s: AcmeSettings,
    c: acme_client.ClientV2,
    orderr: messages.OrderResource,
    p: PreparedOrder,
    pub: _Publisher,
) -> tuple[x509.Certificate, ...]:
    from acme import challenges, messages

    published: list[tuple[str, str, str]] = []
    answers = []
    try:
        for authzr in orderr.authorizations:
            if authzr.body.status == messages.STATUS_VALID:
                continue  # the CA reuses an earlier validation
            ident = authzr.body.identifier.value
            chall = next(
                (cb for cb in authzr.body.challenges if isinstance(cb.chall, challenges.DNS01)),
                None,
            )
            if chall is None:
                raise AcmeError(
                    f"ordering {p.identity}: the CA offers no DNS-01 challenge for {ident}",
                    "use a CA that validates by DNS-01 (the CAS serves no files ccapki "
                    "controls, so HTTP-01 is not the route)",
                )
            response, validation = chall.response_and_validation(_jwk(p.account_key)[0])
            record = chall.chall.validation_domain_name(ident)
            pub.add(record, validation, ident, p.identity)
            published.append((record, validation, ident))
            answers.append((chall, response))
        deadline = time.monotonic() + s.propagation_timeout
        pub.wait_visible([(r, v) for r, v, _ in published], deadline)
        if s.propagation_wait:
            time.sleep(s.propagation_wait)
        for chall, response in answers:
            c.answer_challenge(chall, response)
        until = dt.datetime.now() + dt.timedelta(seconds=max(s.propagation_timeout, 10.0))
        orderr = c.poll_authorizations(orderr, until)
        done = c.finalize_order(orderr, until)
    finally:
        for record, validation, ident in published:
            # best effort: the order's outcome is what matters; a stale TXT record is harmless
            with contextlib.suppress(Exception):
                pub.remove(record, validation, ident, p.identity)
    certs = x509.load_pem_x509_certificates(done.fullchain_pem.encode())
    return tuple(certs)


def _complete(
    chain: Sequence[x509.Certificate], known: Sequence[x509.Certificate]
) -> tuple[x509.Certificate, ...]:
    """``chain`` (intermediates) completed upward from ``known`` CAs, up to a root."""
    out = list(chain)
    for _ in range(8):
        if not out or is_self_signed(out[-1]):
            break
        parent = next((k for k in known if issued_by(out[-1], k)), None)
        if parent is None:
            break
        out.append(parent)
    return tuple(out)


def store_order(store: Store, o: OrderOutcome) -> OrderOutcome:
    """Step 3, one transaction: a valid order's certificate becomes the identity's new
    current version (source third-party, as an imported one), its key active; a failed
    order is marked failed with its reason (its key stays pending). Returns the outcome
    with the version stored; raises what the store raises (nothing is written then) and
    :class:`AcmeError` when the certificate is not for the order's key."""
    from ccapki.lifecycle.certfiles import public_roots

    repo = AcmeRepository(store)
    p = o.prepared
    with store.transaction():
        if o.account_uri is not None and o.account_uri != p.account.uri:
            repo.set_account_uri(p.account.id, o.account_uri)
        if not o.ok:
            assert o.error is not None
            repo.update_order(p.order_id, state=OrderState.FAILED, uri=o.uri, error=o.error.message)
            return o
        leaf, rest = o.fullchain[0], [c for c in o.fullchain[1:] if is_ca(c)]
        if public_key_fingerprint(leaf.public_key()) != p.spki:
            err = AcmeError(
                f"ordering {p.identity}: the CA's certificate is not for the order's key",
                "report this to the CA; nothing was stored",
            )
            repo.update_order(p.order_id, state=OrderState.FAILED, uri=o.uri, error=err.message)
            return OrderOutcome(p, o.uri, (), err, o.account_uri)
        cas = store.cas.list()
        known = [
            *(c.certificate for c in cas),
            *store.identities.chain_certificates(),
            *public_roots(),
        ]
        chain = _complete(rest, known)
        top = chain[-1] if chain else leaf
        external = {c.fingerprint for c in cas if c.kind == "external"}
        missing = (
            None
            if is_self_signed(top) or fingerprint(top) in external
            else top.issuer.rfc4514_string()
        )
        store.identities.add(
            [
                IdentityRecord(
                    identity=p.identity,
                    key=None,
                    key_type=key_type_name(leaf.public_key()),
                    certificate=leaf,
                    chain=chain,
                    source=Source.THIRD_PARTY,
                )
            ]
        )
        store.keys.set_state(p.spki, KeyState.ACTIVE)
        repo.update_order(
            p.order_id, state=OrderState.VALID, uri=o.uri, certificate=fingerprint(leaf)
        )
        ident = store.identities.get(p.identity)
        assert ident is not None
    return OrderOutcome(
        p,
        o.uri,
        o.fullchain,
        None,
        o.account_uri,
        ident.version,
        _has_client_auth(leaf),
        missing,
    )


def _has_client_auth(cert: x509.Certificate) -> bool:
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return True  # no EKU: any usage
    return ExtendedKeyUsageOID.CLIENT_AUTH in eku


Report = Callable[[str], None]


def order_identities(
    store: Store,
    dep: Deployment,
    names: Sequence[str],
    *,
    concurrency: int = 4,
    report: Report | None = None,
) -> list[OrderOutcome]:
    """Order the certificates of the ACME identities ``names`` (:func:`prepare_orders`,
    :func:`run_order` on ``concurrency`` threads, :func:`store_order` as each finishes).
    ``report`` is told, before anything is ordered, what a public CA will not issue and
    the clientAuth caveat.

    Returns one :class:`OrderOutcome` per identity, in order (failed ones carry their
    error: the caller decides the exit code); raises what :func:`prepare_orders` raises."""
    return _order_all(store, dep, names, None, concurrency, report).outcomes


@dataclass(frozen=True)
class AcmeRenewal:
    """What :func:`order_renewals` did: the orders made (as :func:`order_identities`), and
    the identities left to another run that orders, or ordered, them meanwhile."""

    outcomes: list[OrderOutcome]
    elsewhere: list[RenewedElsewhere]


def order_renewals(
    store: Store,
    dep: Deployment,
    plan: RenewalPlan,
    *,
    concurrency: int = 4,
    report: Report | None = None,
) -> AcmeRenewal:
    """Order the ACME identities a renewal plan leaves to an order (:func:`renewal_orders`),
    as :func:`order_identities`, renewing each once when runs renew at once: under the
    write lock, an identity another run is ordering (an order in flight, made less than
    :data:`ORDER_LEASE` ago), or ordered after ``plan.started``, or whose certificate
    changed since the plan, is not ordered (``elsewhere``). Returns the
    :class:`AcmeRenewal`; raises what :func:`prepare_orders` raises."""
    names = renewal_orders(plan)
    if not names:
        return AcmeRenewal([], [])
    return _order_all(store, dep, names, (plan.started, plan.acme_seen), concurrency, report)


def _order_all(
    store: Store,
    dep: Deployment,
    names: Sequence[str],
    guard: _Guard | None,
    concurrency: int,
    report: Report | None,
) -> AcmeRenewal:
    s = _settings(dep)
    specs = acme_specs(dep, names)
    say = report or (lambda _line: None)
    for spec in specs:
        for line in acme_scope(spec).report():
            say(line)
    if specs:
        say(CLIENT_AUTH_NOTE)
    prepared, elsewhere = _prepare(store, dep, [sp.name for sp in specs], guard)
    results: dict[int, OrderOutcome] = {}
    if len(prepared) == 1 or concurrency <= 1:
        for p in prepared:
            results[p.order_id] = store_order(store, run_order(s, p))
    else:
        with concurrent.futures.ThreadPoolExecutor(max_workers=concurrency) as pool:
            futures = [pool.submit(run_order, s, p) for p in prepared]
            for fut in concurrent.futures.as_completed(futures):
                out = fut.result()
                results[out.prepared.order_id] = store_order(store, out)
    return AcmeRenewal([results[p.order_id] for p in prepared], elsewhere)


# ---------------------------------------------------------------------------- revoke

#: RFC 5280 reason codes a subscriber may give (ACME revokeCert).
REVOKE_REASONS: Mapping[str, int] = {
    "unspecified": 0,
    "keyCompromise": 1,
    "affiliationChanged": 3,
    "superseded": 4,
    "cessationOfOperation": 5,
}


def revoke_identity(store: Store, dep: Deployment, name: str, reason: str) -> str:
    """Revoke ``name``'s current certificate at the CA (signed by the account key), and
    mark its order revoked. Returns the revoked certificate's fingerprint. Raises
    :class:`NotFoundError` (no certificate), :class:`InputError` (not an ACME identity, or
    a certificate no ACME order of the store brought), :class:`AcmeError` (the CA refused
    or is unreachable); nothing is marked then."""
    s = _settings(dep)
    spec = acme_specs(dep, [name])[0]
    ident = store.identities.get(spec.name)
    if ident is None:
        raise NotFoundError(
            f"{spec.name} has no certificate in the store",
            f"order one first: ccapki acme order {spec.name}",
        )
    repo = AcmeRepository(store)
    order = repo.order_for_certificate(ident.fingerprint)
    if order is None:
        raise InputError(
            f"{spec.name}'s current certificate (v{ident.version}) did not come from an ACME "
            "order of this store",
            "revoke it with the CA that issued it",
        )
    if order.state == OrderState.REVOKED:
        raise InputError(
            f"{spec.name} v{ident.version} is revoked already",
            f"order a new certificate: ccapki acme order {spec.name}",
        )
    store.unlock()
    acct = next((a for a in repo.accounts() if a.id == order.account_id), None)
    assert acct is not None
    key = repo.account_key(acct)
    what = f"revoking {spec.name} v{ident.version}"
    c = _client(s, key, acct.uri, what)
    try:
        c.revoke(ident.certificate, REVOKE_REASONS[reason])
    except Exception as exc:
        raise problem_error(exc, what) from None
    with store.transaction():
        repo.update_order(order.id, state=OrderState.REVOKED)
        store.audit.record(
            "acme-revoke",
            spec.name,
            version=ident.version,
            reason=reason,
            certificate=ident.fingerprint,
        )
    return ident.fingerprint


@dataclass(frozen=True)
class AcmeFinding:
    """What :func:`check_account` found wrong (``ccapki doctor`` shows it with its fix)."""

    code: str  # acme-settings, acme-secret, acme-directory, acme-account
    error: bool  # False: a warning
    subject: str
    message: str
    fix: str


def check_account(store: Store, dep: Deployment) -> list[AcmeFinding]:
    """For a deployment with ACME identities (else nothing): the secrets its ``[acme]``
    names are in the environment (a warning: orders would stop), the directory answers over
    HTTPS verified with the configured CA bundle, and the store's account is still valid
    at the CA (the library's account lookup: a JWS-signed new-account request with
    onlyReturnExisting, after a fresh nonce). Reads only; the network is asked, the store
    is not written. Returns the findings (none: all well)."""
    from acme import messages

    s = dep.acme
    if s is None or not any(i.acme for i in dep.identities):
        return []
    subject = f"ACME {s.directory}"
    out: list[AcmeFinding] = []
    try:
        _verify(s)
    except InputError as exc:
        return [AcmeFinding("acme-settings", True, subject, exc.message, exc.hint)]
    try:
        check_settings(s)
    except (InputError, AcmeError) as exc:
        out.append(
            AcmeFinding(
                "acme-secret",
                False,
                subject,
                f"orders would stop: {exc.message}",
                f"{exc.hint} (in the environment that runs `ccapki renew` / `acme order`)",
            )
        )
    repo = AcmeRepository(store)
    acct = repo.account(s.directory)
    key: PrivateKeyTypes
    if acct is None:
        key = ec.generate_private_key(ec.SECP256R1())  # reads the directory; never sent
    else:
        try:
            key = repo.account_key(acct)
        except CcapkiError as exc:
            return [
                *out,
                AcmeFinding(
                    "acme-account",
                    True,
                    subject,
                    f"the account key does not open: {exc.message}",
                    exc.hint or "restore it from a backup: `ccapki backup restore FILE`",
                ),
            ]
    try:
        c = _client(s, key, None, "checking the ACME account")
    except AcmeError as exc:
        return [*out, AcmeFinding("acme-directory", True, subject, exc.message, exc.hint)]
    if acct is None:
        return out  # no account yet: the first order registers one
    what = f"looking up the ACME account {acct.uri}"
    try:
        regr = c.query_registration(
            messages.RegistrationResource(uri=acct.uri, body=messages.Registration())
        )
    except Exception as exc:
        if _is_problem(exc, "accountDoesNotExist"):
            out.append(
                AcmeFinding(
                    "acme-account",
                    False,
                    subject,
                    f"the CA no longer knows the account {acct.uri} (a test CA restarted, "
                    "or the account was deleted)",
                    "nothing to do by hand: the next `ccapki acme order` (or `renew "
                    "--commit`) registers the same key again and keeps the new URL",
                )
            )
            return out
        err = problem_error(exc, what)
        out.append(AcmeFinding("acme-account", True, subject, err.message, err.hint))
        return out
    status = str(regr.body.status or "valid")  # the Registration's status: its JSON string
    if status != messages.STATUS_VALID.name:
        out.append(
            AcmeFinding(
                "acme-account",
                True,
                subject,
                f"the CA says the account {acct.uri} is {status}: it cannot order or revoke",
                "ask the CA why (its portal); a deactivated or revoked account cannot be "
                "used again",
            )
        )
    elif str(regr.uri) != acct.uri:
        out.append(
            AcmeFinding(
                "acme-account",
                False,
                subject,
                f"the CA knows the account's key as {regr.uri}, the store as {acct.uri}",
                "nothing to do by hand: the next `ccapki acme order` keeps the CA's URL",
            )
        )
    return out


def account_summary(store: Store) -> list[dict[str, object]]:
    """The deployment's ACME accounts and their orders, for ``ccapki acme status``."""
    repo = AcmeRepository(store)
    orders = repo.orders()
    return [
        {
            "directory": a.directory,
            "account": a.uri,
            "contact": list(a.contact),
            "created": a.created_at.isoformat(),
            "orders": [
                {
                    "identity": o.identity,
                    "state": o.state,
                    "names": list(o.names),
                    "order": o.uri,
                    "error": o.error,
                    "updated": o.updated_at.isoformat(),
                }
                for o in orders
                if o.account_id == a.id
            ],
        }
        for a in repo.accounts()
    ]
