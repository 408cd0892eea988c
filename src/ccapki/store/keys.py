"""Private keys, sealed at rest (AES-256-GCM under the store's data key)."""

from __future__ import annotations

import builtins
import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

from ccapki.errors import NotFoundError
from ccapki.store.records import KeyRecord, KeyState, stored_time

if TYPE_CHECKING:  # the key code is loaded where a key is sealed or opened (see records.py)
    from cryptography.hazmat.primitives.asymmetric.types import (
        CertificateIssuerPrivateKeyTypes,
        PrivateKeyTypes,
    )

    from ccapki.store.session import Store

__all__ = ["KeyRepository"]


class KeyRepository:
    """``store.keys``: keys by public-key fingerprint (SHA-256 of the SPKI).

    A key is one key store-wide (its fingerprint is unique) and belongs to the deployment
    that made or imported it: :meth:`list` shows the deployment's keys; :meth:`has` and
    :meth:`private_key` find a key by its fingerprint (a deployment reaches another's key
    only through a certificate it holds on that key).
    """

    def __init__(self, store: Store) -> None:
        self._s = store

    def sealed_row(
        self,
        key: PrivateKeyTypes | bytes | tuple[bytes, bytes],
        key_type: str,
        identity: str | None,
        state: KeyState,
        *,
        spki: str | None = None,
        now: dt.datetime | None = None,
        deployment: str | None = None,
    ) -> dict[str, object]:
        """The keys-table row of ``key`` (an object; PKCS#8 DER with its ``spki``; or, with
        its ``spki``, (nonce, sealed DER) as :meth:`Keyring.seal` of this store's key made
        them), sealed, of ``deployment`` (default: the one the store acts on)."""
        if isinstance(key, tuple):
            if spki is None:
                raise ValueError("a sealed key needs its public-key fingerprint")
            nonce, sealed = key
            return self._row(spki, key_type, identity, state, nonce, sealed, now, deployment)
        if isinstance(key, bytes):
            if spki is None:
                raise ValueError("a key given as DER needs its public-key fingerprint")
            der = key
        else:
            from ccapki.pki.keys import private_key_der, public_key_fingerprint

            spki = spki or public_key_fingerprint(key)
            der = private_key_der(key)
        nonce, sealed = self._s.keyring.seal(der, spki)
        return self._row(spki, key_type, identity, state, nonce, sealed, now, deployment)

    def _row(
        self,
        spki: str,
        key_type: str,
        identity: str | None,
        state: KeyState,
        nonce: bytes,
        sealed: bytes,
        now: dt.datetime | None,
        deployment: str | None,
    ) -> dict[str, object]:
        return {
            "fingerprint": spki,
            "key_type": key_type,
            "identity": identity,
            "state": state.value,
            "nonce": nonce,
            "sealed": sealed,
            "created_at": now or self._s.now(),
            "deployment": deployment or self._s.deployment,
        }

    def add(
        self,
        key: PrivateKeyTypes,
        key_type: str,
        identity: str | None,
        state: KeyState,
        *,
        deployment: str | None = None,
    ) -> str:
        """Seal and keep a private key of ``deployment`` (default: the one the store acts
        on) once: a key held already is left as it is. Returns its public-key
        fingerprint."""
        from sqlalchemy import insert, select

        from ccapki.store import schema as t

        row = self.sealed_row(key, key_type, identity, state, deployment=deployment)
        with self._s.connection() as c:
            exists = c.execute(
                select(t.keys.c.id).where(t.keys.c.fingerprint == row["fingerprint"])
            ).first()
            if exists is None:
                c.execute(insert(t.keys), row)
        return str(row["fingerprint"])

    def has(self, spki: str) -> bool:
        """Whether the store holds the key with this public-key fingerprint."""
        sql = "SELECT id FROM keys WHERE fingerprint = :spki"
        return bool(self._s.rows(sql, {"spki": spki}))

    def private_key(self, spki: str) -> CertificateIssuerPrivateKeyTypes:
        """Unseal a private key by its public-key fingerprint (in memory only).

        Raises :class:`NotFoundError` if the store holds no such key.
        """
        from sqlalchemy import select

        from ccapki.store import schema as t

        with self._s.connection() as c:
            row = c.execute(
                select(t.keys.c.nonce, t.keys.c.sealed).where(t.keys.c.fingerprint == spki)
            ).first()
        if row is None:
            raise NotFoundError(
                f"no private key with public-key fingerprint {spki[:16]}... in the store",
                "import the key saved when the CSR was made (ccapki import --key FILE)",
            )
        der = self._s.keyring.open(row.nonce, row.sealed, spki)
        # the store seals only keys that sign (RSA, EC, Ed25519, Ed448: see pki.keys)
        from cryptography.hazmat.primitives.serialization import load_der_private_key

        return cast("CertificateIssuerPrivateKeyTypes", load_der_private_key(der, password=None))

    def list(
        self, *, identity: str | None = None, state: KeyState | None = None
    ) -> builtins.list[KeyRecord]:
        """The deployment's key records (never the key material), oldest first."""
        sql = (
            "SELECT fingerprint, key_type, identity, state, created_at, deployment FROM keys "
            "WHERE deployment = :deployment"
        )
        if identity is not None:
            sql += " AND identity = :identity"
        if state is not None:
            sql += " AND state = :state"
        params = {
            "deployment": self._s.deployment,
            "identity": identity,
            "state": None if state is None else state.value,
        }
        return [
            KeyRecord(fp, key_type, ident, KeyState(st), stored_time(at), dep)
            for fp, key_type, ident, st, at, dep in self._s.rows(sql + " ORDER BY id", params)
        ]

    def set_state(self, spki: str | Sequence[str], state: KeyState) -> None:
        """Set the state of one key, or of many in one statement."""
        from sqlalchemy import update

        from ccapki.store import schema as t

        fps = [spki] if isinstance(spki, str) else builtins.list(spki)
        with self._s.connection() as c:
            for i in range(0, len(fps), 500):
                c.execute(
                    update(t.keys)
                    .where(t.keys.c.fingerprint.in_(fps[i : i + 500]))
                    .values(state=state.value)
                )
