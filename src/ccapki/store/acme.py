"""ACME accounts and orders (issue 14): the repository of ``acme_accounts`` and
``acme_orders``.

An account's private key is sealed as every other key is (:meth:`KeyRepository.sealed_row`:
AES-256-GCM under the store's data key, bound to its public-key fingerprint) and kept in
its account row, not among the identities' keys: it signs requests to the CA, never a
certificate. An order row names the pending key it was made for (``keys``), so a key made
for an order that failed stays a pending key the next order of that identity takes up.
"""

from __future__ import annotations

import builtins
import datetime as dt
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from sqlalchemy import insert, select, update

from ccapki.pki.keys import public_key_fingerprint
from ccapki.store import schema as t
from ccapki.store.records import KeyState

if TYPE_CHECKING:
    from ccapki.store.session import Store

__all__ = ["AcmeAccount", "AcmeOrder", "AcmeRepository", "OrderState"]


class OrderState:
    """The states of an order row."""

    PENDING = "pending"  # made (the key sealed), not finished
    VALID = "valid"  # the certificate is stored
    FAILED = "failed"  # refused, a challenge failed, the CA unreachable (see ``error``)
    REVOKED = "revoked"  # its certificate was revoked


@dataclass(frozen=True)
class AcmeAccount:
    """An ACME account the store holds (never the key itself)."""

    id: int
    deployment: str
    directory: str
    uri: str
    contact: tuple[str, ...]
    fingerprint: str
    key_type: str
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True)
class AcmeOrder:
    """One order of an identity's certificate."""

    id: int
    identity: str
    account_id: int
    uri: str | None
    names: tuple[str, ...]
    spki: str
    state: str
    error: str | None
    certificate: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


def _account(r: Any) -> AcmeAccount:
    """An ``acme_accounts`` row as an :class:`AcmeAccount`."""
    return AcmeAccount(
        r.id,
        r.deployment,
        r.directory,
        r.uri,
        tuple(json.loads(r.contact)),
        r.fingerprint,
        r.key_type,
        r.created_at,
        r.updated_at,
    )


class AcmeRepository:
    """ACME accounts (one per deployment and directory) and orders of the deployment the
    store acts on. Use it as ``AcmeRepository(store)``; writes join the store's open
    transaction (:meth:`Store.transaction`) or make their own."""

    def __init__(self, store: Store) -> None:
        self._s = store

    # ------------------------------------------------------------------ accounts

    def account(self, directory: str) -> AcmeAccount | None:
        """The deployment's account at ``directory``, or None."""
        q = (
            select(t.acme_accounts)
            .where(t.acme_accounts.c.deployment == self._s.deployment)
            .where(t.acme_accounts.c.directory == directory)
            # the newest registration (a restored older account does not displace it)
            .order_by(t.acme_accounts.c.created_at.desc(), t.acme_accounts.c.id.desc())
        )
        with self._s.connection() as c:
            row = c.execute(q).first()
        return None if row is None else _account(row)

    def accounts(self) -> builtins.list[AcmeAccount]:
        """Every account of the deployment, oldest first."""
        q = (
            select(t.acme_accounts)
            .where(t.acme_accounts.c.deployment == self._s.deployment)
            .order_by(t.acme_accounts.c.id)
        )
        with self._s.connection() as c:
            return [_account(r) for r in c.execute(q)]

    def add_account(
        self,
        directory: str,
        uri: str,
        contact: tuple[str, ...],
        key: PrivateKeyTypes,
        key_type: str,
    ) -> AcmeAccount:
        """Keep a registered account with its key sealed. Returns it."""
        sealed = self._s.keys.sealed_row(key, key_type, None, KeyState.ACTIVE)
        now = self._s.now()
        with self._s.connection() as c:
            new_id = c.execute(
                insert(t.acme_accounts).returning(t.acme_accounts.c.id),
                {
                    "deployment": self._s.deployment,
                    "directory": directory,
                    "uri": uri,
                    "contact": json.dumps(list(contact)),
                    "fingerprint": sealed["fingerprint"],
                    "key_type": key_type,
                    "nonce": sealed["nonce"],
                    "sealed": sealed["sealed"],
                    "created_at": now,
                    "updated_at": now,
                },
            ).scalar_one()
        self._s.audit.record("acme-account", directory, uri=uri, spki=sealed["fingerprint"])
        found = self.account(directory)
        assert found is not None
        assert found.id == new_id
        return found

    def set_account_uri(self, account_id: int, uri: str) -> None:
        """The CA gave the account (same key) another URL: it registered it again."""
        with self._s.connection() as c:
            c.execute(
                update(t.acme_accounts)
                .where(t.acme_accounts.c.id == account_id)
                .values(uri=uri, updated_at=self._s.now())
            )
        self._s.audit.record("acme-account", str(account_id), uri=uri, registered_again=True)

    def account_key(self, account: AcmeAccount) -> PrivateKeyTypes:
        """Unseal the account's key (in memory only). Raises what unsealing raises."""
        with self._s.connection() as c:
            row = c.execute(
                select(t.acme_accounts.c.nonce, t.acme_accounts.c.sealed).where(
                    t.acme_accounts.c.id == account.id
                )
            ).one()
        der = self._s.keyring.open(bytes(row.nonce), bytes(row.sealed), account.fingerprint)
        key = serialization.load_der_private_key(der, password=None)
        if public_key_fingerprint(key) != account.fingerprint:  # the AAD binds it already
            raise AssertionError("the account key is not the key its fingerprint names")
        return key

    # ------------------------------------------------------------------ orders

    def add_order(self, identity: str, account_id: int, names: tuple[str, ...], spki: str) -> int:
        """Record a new order of ``identity`` for the (sealed, pending) key ``spki``.
        Returns its id."""
        now = self._s.now()
        with self._s.connection() as c:
            order_id = c.execute(
                insert(t.acme_orders).returning(t.acme_orders.c.id),
                {
                    "deployment": self._s.deployment,
                    "identity": identity,
                    "account_id": account_id,
                    "uri": None,
                    "names": json.dumps(list(names)),
                    "spki": spki,
                    "state": OrderState.PENDING,
                    "error": None,
                    "certificate": None,
                    "created_at": now,
                    "updated_at": now,
                },
            ).scalar_one()
        return int(order_id)

    def update_order(
        self,
        order_id: int,
        *,
        state: str | None = None,
        uri: str | None = None,
        error: str | None = None,
        certificate: str | None = None,
    ) -> None:
        """Change an order's state, URL, error or certificate (what is given)."""
        values: dict[str, object] = {"updated_at": self._s.now()}
        given = {"state": state, "uri": uri, "error": error, "certificate": certificate}
        values.update({k: v for k, v in given.items() if v is not None})
        with self._s.connection() as c:
            c.execute(update(t.acme_orders).where(t.acme_orders.c.id == order_id).values(**values))

    def orders(self, identity: str | None = None) -> builtins.list[AcmeOrder]:
        """The deployment's orders (of ``identity``), oldest first."""
        q = (
            select(t.acme_orders)
            .where(t.acme_orders.c.deployment == self._s.deployment)
            .order_by(t.acme_orders.c.id)
        )
        if identity is not None:
            q = q.where(t.acme_orders.c.identity == identity)
        with self._s.connection() as c:
            return [
                AcmeOrder(
                    r.id,
                    r.identity,
                    r.account_id,
                    r.uri,
                    tuple(json.loads(r.names)),
                    r.spki,
                    r.state,
                    r.error,
                    r.certificate,
                    r.created_at,
                    r.updated_at,
                )
                for r in c.execute(q)
            ]

    def order_for_certificate(self, fingerprint: str) -> AcmeOrder | None:
        """The order that brought the certificate with this fingerprint, or None."""
        found = [o for o in self.orders() if o.certificate == fingerprint]
        return found[-1] if found else None
