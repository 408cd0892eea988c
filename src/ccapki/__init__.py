"""ccapki: certificate lifecycle manager for Cisco Clean Access deployments.

The Python API (:mod:`ccapki.api`, docs/api.md) is importable from here::

    from ccapki import load_deployment, open_store, apply, check_trust

It is loaded on first use, so ``ccapki --version`` starts as fast as Python itself.

The package is laid out by domain concept:

- ``ccapki.api``: the documented facade for scripts
- ``ccapki.topology``: deployment file -> frozen model; the certificate plan
- ``ccapki.pki``: keys, issuing, CSRs, file formats, inspection (pure)
- ``ccapki.trust``: chain verdicts, findings, fixes, client policies (pure)
- ``ccapki.store``: persistence, keys encrypted at rest, migrations
- ``ccapki.lifecycle``: workflows joining the pure core to the store
- ``ccapki.lab`` / ``ccapki.probe``: real TLS endpoints and probes on loopback
- ``ccapki.cli``: the ``ccapki`` command
"""

from __future__ import annotations

# not `from typing import TYPE_CHECKING`: importing typing alone would double the start-up
# of `ccapki --version` (mypy and ruff read this name the same way)
TYPE_CHECKING = False
if TYPE_CHECKING:
    from ccapki.api import (
        Action,
        ActionKind,
        ApplyResult,
        BackupSummary,
        CaKeyPlace,
        CcapkiError,
        CertInfo,
        Change,
        Channel,
        ClientRoot,
        CsrMade,
        CsrResult,
        Deployment,
        DeploymentError,
        FileFormatError,
        Held,
        ImportResult,
        InputError,
        Interrupted,
        InventoryPage,
        KeyNotFoundError,
        Material,
        Matrix,
        NetworkError,
        NotFoundError,
        PasswordError,
        Plan,
        ProbeRun,
        RenewalPlan,
        RenewalResult,
        StatusReport,
        Store,
        StoreBusy,
        StoreError,
        TokenError,
        apply,
        apply_trust,
        check_trust,
        client_roots,
        commit_renewal,
        create_backup,
        create_cas,
        estate_status,
        export,
        import_files,
        import_materials,
        init_store,
        inspect_identity,
        inventory_page,
        load_deployment,
        make_csrs,
        make_plan,
        open_store,
        parse_deployment,
        pending_actions,
        plan_renewal,
        plan_trust,
        probe_endpoints,
        read_files,
        rotation_what_if,
        service_certificate,
        store_exists,
        store_revision,
        stored_deployment,
    )

__version__ = "0.2.0"

#: The API's names (see :mod:`ccapki.api`), then the version.
__all__ = [
    "Action",
    "ActionKind",
    "ApplyResult",
    "BackupSummary",
    "CaKeyPlace",
    "CcapkiError",
    "CertInfo",
    "Change",
    "Channel",
    "ClientRoot",
    "CsrMade",
    "CsrResult",
    "Deployment",
    "DeploymentError",
    "FileFormatError",
    "Held",
    "ImportResult",
    "InputError",
    "Interrupted",
    "InventoryPage",
    "KeyNotFoundError",
    "Material",
    "Matrix",
    "NetworkError",
    "NotFoundError",
    "PasswordError",
    "Plan",
    "ProbeRun",
    "RenewalPlan",
    "RenewalResult",
    "StatusReport",
    "Store",
    "StoreBusy",
    "StoreError",
    "TokenError",
    "__version__",
    "apply",
    "apply_trust",
    "check_trust",
    "client_roots",
    "commit_renewal",
    "create_backup",
    "create_cas",
    "estate_status",
    "export",
    "import_files",
    "import_materials",
    "init_store",
    "inspect_identity",
    "inventory_page",
    "load_deployment",
    "make_csrs",
    "make_plan",
    "open_store",
    "parse_deployment",
    "pending_actions",
    "plan_renewal",
    "plan_trust",
    "probe_endpoints",
    "read_files",
    "rotation_what_if",
    "service_certificate",
    "store_exists",
    "store_revision",
    "stored_deployment",
]


def __getattr__(name: str) -> object:
    # the API (and what it imports) loads on first use: `ccapki --version` stays instant
    if name in __all__:
        from ccapki import api

        value = getattr(api, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
