"""The key types ccapki issues (:class:`KeyType`).

Apart from :mod:`ccapki.pki.keys` so that reading a deployment file and planning it
(``ccapki plan FILE``) import no cryptography: keys are made only when a certificate is.
"""

from __future__ import annotations

import enum

__all__ = ["KeyType"]


class KeyType(enum.StrEnum):
    """The key types ccapki issues. ECDSA P-256 is the default."""

    ECDSA_P256 = "ecdsa-p256"
    ECDSA_P384 = "ecdsa-p384"
    RSA_2048 = "rsa-2048"
    RSA_3072 = "rsa-3072"
    RSA_4096 = "rsa-4096"

    @classmethod
    def parse(cls, text: str) -> KeyType:
        """Parse a key type name; accepts aliases such as ``p256``, ``P-384``, ``rsa2048``."""
        norm = text.strip().lower().replace("_", "-")
        aliases = {
            "p256": cls.ECDSA_P256,
            "p-256": cls.ECDSA_P256,
            "ec": cls.ECDSA_P256,
            "ecdsa": cls.ECDSA_P256,
            "secp256r1": cls.ECDSA_P256,
            "p384": cls.ECDSA_P384,
            "p-384": cls.ECDSA_P384,
            "secp384r1": cls.ECDSA_P384,
            "rsa": cls.RSA_2048,
            "rsa2048": cls.RSA_2048,
            "rsa3072": cls.RSA_3072,
            "rsa4096": cls.RSA_4096,
        }
        if norm in aliases:
            return aliases[norm]
        return cls(norm)

    @property
    def is_rsa(self) -> bool:
        return self.value.startswith("rsa")
