"""Pure PKI: keys, issuing, CSRs, file formats, inspection. No IO, explicit ``now``.

The public names live in the submodules (each with its own ``__all__``); this package
imports none of them, so importing one stays cheap.
"""

__all__ = [
    "certs",
    "chain",
    "expiry",
    "export",
    "formats",
    "inspect",
    "issue",
    "keys",
    "keytypes",
    "request",
    "roots",
    "signer",
    "validitycaps",
]
