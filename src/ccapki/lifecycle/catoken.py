"""``ccapki ca set-token``: record a new place for a CA key held in a PKCS#11 token (the
token re-initialised with another label or serial, the key object relabelled, the module
moved), once the token, the PIN and the key are proven to be the CA's.

The store records where a token key is (its URI and module: :mod:`ccapki.store.tokenkeys`);
nothing else names it, so this changes only that record, and only after the key the new
URI names is reached with the PIN, its public key is the CA certificate's, and it signs a
test message that the CA certificate's public key verifies. An audit entry
(``ca-set-token``) keeps the old and the new place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from ccapki.errors import InputError, NotFoundError, TokenError
from ccapki.pki.keys import public_key_fingerprint

if TYPE_CHECKING:
    from ccapki.store.records import StoredCA
    from ccapki.store.session import Store

__all__ = ["TokenMove", "set_ca_token"]

_TEST_MESSAGE = b"ccapki ca set-token: the CA's key in its token signs this"


@dataclass(frozen=True)
class TokenMove:
    """What ``ccapki ca set-token`` did: CA ``ca`` (``kind``), its key ``fingerprint``
    (SHA-256 of the public key), where the store said it was (``old_uri``,
    ``old_module``) and where it says now (``uri``, ``module``); ``changed`` False when
    that was already so (nothing written)."""

    ca: str
    kind: str
    fingerprint: str
    old_uri: str
    old_module: str | None
    uri: str
    module: str | None
    changed: bool

    def to_dict(self) -> dict[str, object]:
        """As JSON-able data."""
        return {
            "ca": self.ca,
            "kind": self.kind,
            "fingerprint": self.fingerprint,
            "old_uri": self.old_uri,
            "old_module": self.old_module,
            "uri": self.uri,
            "module": self.module,
            "changed": self.changed,
        }


def _find_ca(store: Store, name: str) -> StoredCA:
    """The deployment's CA named ``name`` (its name, any case, or its kind such as
    ``internal-root``). Raises :class:`NotFoundError` listing the CAs there are."""
    cas = store.cas.list()
    for found in (
        [c for c in cas if c.name == name],
        [c for c in cas if c.name.casefold() == name.casefold()],
        [c for c in cas if c.kind == name],
    ):
        if found:
            return found[-1]  # the newest of that name (a successor is named ... G2)
    names = ", ".join(repr(c.name) for c in cas) or "none yet"
    raise NotFoundError(
        f"no CA named {name!r} in deployment {store.deployment!r}",
        f"name one of its CAs ({names}); `ccapki ca list` shows each and where its key is",
    )


def _signs_for(key: object, ca: StoredCA, label: str) -> None:
    """``key`` signs a test message that ``ca``'s certificate public key verifies.
    Raises :class:`TokenError` otherwise."""
    from ccapki.hsm.token import TokenKey
    from ccapki.pki.signer import signing_hash

    assert isinstance(key, TokenKey)
    algorithm = signing_hash(key)
    public = ca.certificate.public_key()
    try:
        if algorithm is None:
            raise InvalidSignature
        signature = key.sign(_TEST_MESSAGE, algorithm)
        if isinstance(public, rsa.RSAPublicKey):
            public.verify(signature, _TEST_MESSAGE, padding.PKCS1v15(), algorithm)
        elif isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(signature, _TEST_MESSAGE, ec.ECDSA(algorithm))
        else:
            raise InvalidSignature
    except InvalidSignature:
        raise TokenError(
            f"the key {label} does not sign as CA {ca.name}'s key: its signature does not "
            "verify with the CA certificate's public key; nothing was changed",
            "check the key object with the token's own tool; name the CA's key (object=, "
            "id=) in the URI",
        ) from None


def set_ca_token(store: Store, ca_name: str, uri: str, module: str | None = None) -> TokenMove:
    """Record ``uri`` (and ``module``, else the module it was reached through) as where the
    key of the deployment's CA ``ca_name`` is, after checking, in the token: the module
    loads, the token is there, the PIN logs in (``store.token_keys.pin``, else
    ``CCAPKI_PKCS11_PIN``), the key object is there, its public key is the CA
    certificate's and it signs what that public key verifies. An explicit ``module`` is
    used before ``CCAPKI_PKCS11_MODULE``. Logs ``ca-set-token`` in the audit log (not when
    nothing changed). Returns a :class:`TokenMove`.

    Raises :class:`InputError` for a bad URI or a CA whose key is not in a token,
    :class:`NotFoundError` for an unknown CA, :class:`TokenError` for a token failure or a
    key that is not the CA's; in every case nothing is written.
    """
    from ccapki.hsm.token import env_pin, open_token_key
    from ccapki.hsm.uri import parse_pkcs11_uri

    parsed = parse_pkcs11_uri(uri)  # names a token and a key, or InputError
    ca = _find_ca(store, ca_name)
    old = store.token_keys.get(ca.spki)
    if old is None:
        where = "sealed in the store" if store.keys.has(ca.spki) else "not held by ccapki"
        raise InputError(
            f"CA {ca.name}'s key is {where}, not in a PKCS#11 token: there is no token "
            "place to change",
            "`ccapki ca list` shows where each CA key is; a key in the store stays there "
            "(a CA in a token is made by `ccapki ca create --root-pkcs11-uri ...`)",
        )
    # a module named now (--pkcs11-module, ?module-path=) is the one to check, before
    # CCAPKI_PKCS11_MODULE; else as every command finds it (the old record last)
    explicit = module or parsed.module_path
    key = open_token_key(
        parsed,
        module=explicit or old.module,
        pin=store.token_keys.pin or env_pin,
        exact_module=explicit is not None,
    )
    found = public_key_fingerprint(key.public_key())
    if found != ca.spki:
        raise TokenError(
            f"the key {key.uri} is not CA {ca.name}'s key: its public key {found[:16]}... "
            f"differs from the CA certificate's {ca.spki[:16]}...; nothing was changed",
            "name the key object holding CA "
            f"{ca.name}'s key (object= or id=; `pkcs11-tool --module LIB -O` or `p11tool "
            "--list-privkeys` lists them), or restore it from the token's own backup",
        )
    _signs_for(key, ca, str(key.uri))
    new_uri = str(key.uri.without_module())
    new_module = explicit or key.module
    if (new_uri, new_module) == (old.uri, old.module):
        return TokenMove(ca.name, ca.kind, ca.spki, old.uri, old.module, new_uri, new_module, False)
    with store.transaction():
        rec = store.token_keys.move(key, module=new_module)
        store.audit.record(
            "ca-set-token",
            ca.name,
            fingerprint=ca.spki,
            kind=ca.kind,
            old_uri=old.uri,
            old_module=old.module,
            uri=rec.uri,
            module=rec.module,
        )
    return TokenMove(ca.name, ca.kind, ca.spki, old.uri, old.module, rec.uri, rec.module, True)
