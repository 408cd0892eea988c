"""ccapki: certificate lifecycle manager for Cisco Clean Access deployments.

The package is laid out by domain concept:

- ``ccapki.topology``: deployment file -> frozen model; the certificate plan
- ``ccapki.pki``: keys, issuing, CSRs, file formats, inspection (pure)
- ``ccapki.trust``: chain verdicts, findings, fixes, client policies (pure)
- ``ccapki.store``: persistence, keys encrypted at rest, migrations
- ``ccapki.lab`` / ``ccapki.probe``: real TLS endpoints and probes on loopback
- ``ccapki.cli``: the ``ccapki`` command
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
