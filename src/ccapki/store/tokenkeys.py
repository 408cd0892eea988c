"""CA keys that live in a PKCS#11 token: the store records where (URI and module), never
the key and never the PIN (``store.token_keys``)."""

from __future__ import annotations

import builtins
import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ccapki.errors import TokenError
from ccapki.pki.keytypes import KeyType
from ccapki.store.records import stored_time

if TYPE_CHECKING:
    from ccapki.hsm.token import PinProvider, TokenKey
    from ccapki.hsm.uri import Pkcs11Uri
    from ccapki.store.session import Store

__all__ = ["TokenKeyRecord", "TokenKeyRepository"]


def _spki(key: TokenKey) -> str:
    """The public-key fingerprint of a token's key (the key code loaded here: a store that
    only reads columns never needs it)."""
    from ccapki.pki.keys import public_key_fingerprint

    return public_key_fingerprint(key.public_key())


@dataclass(frozen=True)
class TokenKeyRecord:
    """Where a CA's private key is: ``uri`` (RFC 7512: token, object, id; no PIN) and the
    PKCS#11 ``module`` it was reached through (None: ``CCAPKI_PKCS11_MODULE``)."""

    fingerprint: str
    key_type: str
    uri: str
    module: str | None
    created_at: dt.datetime
    deployment: str


class TokenKeyRepository:
    """``store.token_keys``: the CA keys held in tokens, by public-key fingerprint.

    :attr:`pin` asks for a token's user PIN (the CLI sets a prompt); without it the PIN
    comes from ``CCAPKI_PKCS11_PIN``. Opened keys are kept for the store's life (one
    login per token)."""

    def __init__(self, store: Store) -> None:
        self._s = store
        #: asked for a token's user PIN (None: ``CCAPKI_PKCS11_PIN`` only)
        self.pin: PinProvider | None = None
        self._open: dict[str, TokenKey] = {}
        #: keys :meth:`create` found in their token rather than generated (for a note)
        self.reused: builtins.list[TokenKey] = []

    def _pin(self) -> PinProvider:
        from ccapki.hsm.token import env_pin

        return self.pin or env_pin

    def add(self, key: TokenKey, *, deployment: str | None = None) -> str:
        """Record where ``key`` is (once: a key recorded already is left as it is).
        Returns its public-key fingerprint."""
        from sqlalchemy import insert, select

        from ccapki.store import schema as t

        spki = _spki(key)
        with self._s.connection() as c:
            exists = c.execute(
                select(t.ca_token_keys.c.id).where(t.ca_token_keys.c.fingerprint == spki)
            ).first()
            if exists is None:
                c.execute(
                    insert(t.ca_token_keys),
                    {
                        "fingerprint": spki,
                        "key_type": key.key_type,
                        "uri": str(key.uri.without_module()),
                        "module": key.module,
                        "created_at": self._s.now(),
                        "deployment": deployment or self._s.deployment,
                    },
                )
        self._open[spki] = key
        return spki

    def move(self, key: TokenKey, *, module: str | None = None) -> TokenKeyRecord:
        """Record that the CA key with ``key``'s public key is now where ``key`` is: its
        exact URI (no module) and ``module`` (default: the module ``key`` was reached
        through). The caller has checked the key (``ccapki ca set-token``). Returns the new
        record. Raises :class:`TokenError` when the store records no such token key."""
        from sqlalchemy import update

        from ccapki.store import schema as t

        spki = _spki(key)
        with self._s.connection() as c:
            done = c.execute(
                update(t.ca_token_keys)
                .where(t.ca_token_keys.c.fingerprint == spki)
                .values(uri=str(key.uri.without_module()), module=module or key.module)
            )
        if done.rowcount != 1:
            raise TokenError(
                f"the store records no CA key {spki[:16]}... in a PKCS#11 token",
                "`ccapki ca list` shows where each CA key is",
            )
        self._open[spki] = key
        found = self.get(spki)
        assert found is not None
        return found

    def get(self, spki: str) -> TokenKeyRecord | None:
        """Where the key with this public-key fingerprint is, or None (not in a token)."""
        found = self._records(" WHERE fingerprint = :spki", {"spki": spki})
        return found[0] if found else None

    def list(self) -> builtins.list[TokenKeyRecord]:
        """Every CA key the store knows to be in a token (every deployment's), oldest first."""
        return self._records(" ORDER BY id", {})

    def _records(self, where: str, params: dict[str, object]) -> builtins.list[TokenKeyRecord]:
        sql = "SELECT fingerprint, key_type, uri, module, created_at, deployment FROM ca_token_keys"
        return [
            TokenKeyRecord(fp, key_type, uri, module, stored_time(at), dep)
            for fp, key_type, uri, module, at, dep in self._s.rows(sql + where, params)
        ]

    def open(self, record: TokenKeyRecord) -> TokenKey:
        """The key ``record`` names, logged in. Raises :class:`TokenError` for every token
        failure, and when the object the URI names is another key than the CA's."""
        if record.fingerprint in self._open:
            return self._open[record.fingerprint]
        from ccapki.hsm.token import open_token_key
        from ccapki.hsm.uri import parse_pkcs11_uri

        key = open_token_key(parse_pkcs11_uri(record.uri), module=record.module, pin=self._pin())
        if _spki(key) != record.fingerprint:
            raise TokenError(
                f"the key object {key.uri.label} is not the CA's key (its public key "
                f"differs from {record.fingerprint[:16]}...)",
                "another key took its label: put the CA's key object back from the token's "
                "own backup, or remove the other one",
            )
        self._open[record.fingerprint] = key
        return key

    def login(self, uri: Pkcs11Uri, module: str | None) -> str:
        """Log in to the token ``uri`` names (the PIN asked as for :meth:`open`), without
        touching its keys. Returns the token's label. Raises :class:`TokenError`."""
        from ccapki.hsm.token import login

        return login(uri, module=module, pin=self._pin())

    def create(self, uri: Pkcs11Uri, module: str | None, key_type: KeyType) -> TokenKey:
        """The key ``uri`` names, generated in the token (sensitive, not extractable)
        unless the token holds it already. Not recorded yet: :meth:`add` (through
        ``store.cas.add``) records it with its CA."""
        from ccapki.hsm.token import open_token_key

        key = open_token_key(uri, module=module, pin=self._pin(), create=key_type)
        if not key.generated:
            self.reused.append(key)
        return key
