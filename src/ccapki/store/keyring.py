"""Private keys at rest: AES-256-GCM under one data key, the data key wrapped once.

The data key (32 random bytes) is either wrapped by a key derived with scrypt from a
passphrase, or kept in a 0600 key file. Sealing a key is one AES-GCM call (no KDF per key),
so bulk issuing stays fast. The AAD binds each sealed key to its public-key fingerprint, so a
sealed blob cannot be swapped onto another row unnoticed.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from ccapki.errors import PasswordError, StoreError

__all__ = ["Keyring", "WrappedKey"]

_WRAP_AAD = b"ccapki data key v1"
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1


@dataclass(frozen=True)
class WrappedKey:
    """How the data key is kept: a JSON record in the store's meta table."""

    mode: str  # "passphrase" | "keyfile"
    salt: bytes = b""
    nonce: bytes = b""
    wrapped: bytes = b""
    n: int = SCRYPT_N

    def to_json(self) -> str:
        return json.dumps(
            {
                "mode": self.mode,
                "salt": base64.b64encode(self.salt).decode(),
                "nonce": base64.b64encode(self.nonce).decode(),
                "wrapped": base64.b64encode(self.wrapped).decode(),
                "n": self.n,
                "r": SCRYPT_R,
                "p": SCRYPT_P,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> WrappedKey:
        d = json.loads(text)
        return cls(
            mode=d["mode"],
            salt=base64.b64decode(d["salt"]),
            nonce=base64.b64decode(d["nonce"]),
            wrapped=base64.b64decode(d["wrapped"]),
            n=int(d.get("n", SCRYPT_N)),
        )


def _kek(passphrase: str, salt: bytes, n: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=SCRYPT_R, p=SCRYPT_P).derive(
        passphrase.encode("utf-8")
    )


class Keyring:
    """Seals and opens private keys with the unwrapped data key."""

    def __init__(self, data_key: bytes) -> None:
        if len(data_key) != 32:
            raise StoreError("the store's data key is damaged", "restore the store from a backup")
        self._aead = AESGCM(data_key)
        self._data_key = data_key

    def __repr__(self) -> str:  # never show the key
        return "Keyring(<locked in memory>)"

    @staticmethod
    def new_data_key() -> bytes:
        return AESGCM.generate_key(bit_length=256)

    @staticmethod
    def wrap_with_passphrase(data_key: bytes, passphrase: str, *, n: int = SCRYPT_N) -> WrappedKey:
        if not passphrase:
            raise PasswordError(
                "an empty passphrase cannot protect the store",
                "set CCAPKI_PASSPHRASE to a long passphrase, or use `ccapki init --key-file`",
            )
        salt = os.urandom(16)
        nonce = os.urandom(12)
        wrapped = AESGCM(_kek(passphrase, salt, n)).encrypt(nonce, data_key, _WRAP_AAD)
        return WrappedKey("passphrase", salt, nonce, wrapped, n)

    @staticmethod
    def unwrap_with_passphrase(record: WrappedKey, passphrase: str) -> Keyring:
        try:
            data_key = AESGCM(_kek(passphrase, record.salt, record.n)).decrypt(
                record.nonce, record.wrapped, _WRAP_AAD
            )
        except InvalidTag:
            raise PasswordError(
                "wrong passphrase for this store",
                "set CCAPKI_PASSPHRASE to the passphrase given at `ccapki init` "
                "(nothing was changed); a forgotten one cannot be recovered: restore a "
                "backup into a new store (`ccapki --home NEWDIR init`, then `ccapki --home "
                "NEWDIR backup restore FILE`, with the backup's own passphrase)",
            ) from None
        return Keyring(data_key)

    def seal(self, der: bytes, fingerprint: str) -> tuple[bytes, bytes]:
        nonce = os.urandom(12)
        return nonce, self._aead.encrypt(nonce, der, fingerprint.encode())

    def open(self, nonce: bytes, sealed: bytes, fingerprint: str) -> bytes:
        try:
            return self._aead.decrypt(nonce, sealed, fingerprint.encode())
        except InvalidTag:
            raise StoreError(
                f"the sealed private key {fingerprint[:16]} does not open with this store's key",
                "run `ccapki doctor`: it tells a damaged key (restore it from a backup: "
                "`ccapki backup restore FILE --identity NAME`) from a data.key that is not "
                "this store's (put back the store's own data.key)",
            ) from None
