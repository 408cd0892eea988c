"""CA keys in hardware: PKCS#11 URIs (:mod:`ccapki.hsm.uri`, pure) and tokens reached
through python-pkcs11 (:mod:`ccapki.hsm.token`, the edge that signs).

The token module is imported only when a CA key is in a token, so a store without one
never loads python-pkcs11.
"""

__all__ = ["token", "uri"]
