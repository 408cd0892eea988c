"""The CAs the store holds: its own (with sealed keys) and external ones."""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING

from ccapki.store.records import SHARED_CAS, KeyState, StoredCA, pem_text

if TYPE_CHECKING:  # the X.509 code is loaded where a CA is added or used (see records.py)
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

    from ccapki.pki.issue import Issuer
    from ccapki.pki.signer import ExternalKey
    from ccapki.store.session import Store

__all__ = ["CARepository"]


class CARepository:
    """``store.cas``: the CAs of the deployment the store acts on: its own, or, when its
    file says ``[deployment] ca = "shared"``, the CAs it shares with the store's other such
    deployments (kept under :data:`~ccapki.store.records.SHARED_CAS`)."""

    def __init__(self, store: Store) -> None:
        self._s = store

    def _scope(self) -> str:
        """The ``deployment`` value of the CAs the acting deployment uses."""
        return SHARED_CAS if self._s.deployments.shares_cas() else self._s.deployment

    def add(
        self,
        name: str,
        kind: str,
        cert: x509.Certificate,
        key: PrivateKeyTypes | ExternalKey | None,
    ) -> StoredCA:
        """Keep a CA (and its key, sealed, when it is ours; a key in a PKCS#11 token
        (:class:`~ccapki.hsm.token.TokenKey`): where it is, never the key)."""
        from sqlalchemy import insert

        from ccapki.pki.certs import fingerprint
        from ccapki.pki.keys import key_type_name, public_key_fingerprint
        from ccapki.pki.signer import ExternalKey
        from ccapki.store import schema as t

        spki = public_key_fingerprint(cert.public_key())
        fp = fingerprint(cert)
        scope = self._scope()
        with self._s.transaction() as c:
            if isinstance(key, ExternalKey):
                from ccapki.hsm.token import TokenKey

                if not isinstance(key, TokenKey):  # pragma: no cover - the one kind there is
                    raise TypeError(f"cannot record where a {type(key).__name__} is")
                self._s.token_keys.add(key, deployment=scope)
            elif key is not None:
                self._s.keys.add(key, key_type_name(key), None, KeyState.CA, deployment=scope)
            c.execute(
                insert(t.cas),
                {
                    "name": name,
                    "kind": kind,
                    "fingerprint": fp,
                    "spki": spki,
                    "pem": pem_text(cert),
                    "created_at": self._s.now(),
                    "deployment": scope,
                    "not_after": cert.not_valid_after_utc,
                    "not_before": cert.not_valid_before_utc,
                },
            )
            self._s.audit.record("ca-add", name, kind=kind, fingerprint=fp)
        return StoredCA(name, kind, cert, fp, spki, scope)

    def list(self, kind: str | None = None) -> builtins.list[StoredCA]:
        """Every CA of the deployment (of ``kind``), oldest first."""
        sql = (
            "SELECT name, kind, pem, fingerprint, spki, deployment FROM cas WHERE deployment = :dep"
        )
        if kind is not None:
            sql += " AND kind = :kind"
        rows = self._s.rows(sql + " ORDER BY id", {"dep": self._scope(), "kind": kind})
        return [
            StoredCA(name, kind_, self._s.parsed(pem), fp, spki, dep)
            for name, kind_, pem, fp, spki, dep in rows
        ]

    def names_by_key(self) -> dict[str, str]:
        """Every CA of the deployment by its key: public-key fingerprint (SPKI) -> CA name
        (the newest CA on a key, when several share one). Parses no certificate."""
        sql = "SELECT spki, name FROM cas WHERE deployment = :dep ORDER BY id"
        return {str(spki): str(name) for spki, name in self._s.rows(sql, {"dep": self._scope()})}

    def issuer(self, kind: str) -> Issuer | None:
        """The newest CA of ``kind`` with its (unsealed) key, or None. A CA whose key is in
        a PKCS#11 token comes with that key, logged in (the PIN asked here: a
        :class:`~ccapki.errors.TokenError` names what fails)."""
        from ccapki.pki.issue import Issuer

        found = self.list(kind)
        if not found:
            return None
        ca = found[-1]
        if not self._s.keys.has(ca.spki):
            where = self._s.token_keys.get(ca.spki)
            if where is not None:
                return Issuer(ca.certificate, self._s.token_keys.open(where))
        return Issuer(ca.certificate, self._s.keys.private_key(ca.spki))
