"""From the store to the lab: each appliance's identity, key and trust store as a LabSpec.

The lab daemon calls :func:`load_spec` (``ccapki.lifecycle.labspec:load_spec``) with the
store's home folder; keys are unsealed in the daemon's memory only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from ccapki.errors import StoreError
from ccapki.lab import ApplianceSpec, EndpointMaterial, LabSpec
from ccapki.store.records import StoredIdentity
from ccapki.store.session import Store
from ccapki.topology.loader import parse_deployment
from ccapki.topology.model import Deployment

__all__ = ["build_spec", "load_spec", "missing_certificates"]

_PEM = serialization.Encoding.PEM


def build_spec(store: Store, dep: Deployment, *, link_interval: float = 5.0) -> LabSpec:
    """A LabSpec for every appliance of ``dep`` with what the store holds now.

    The lab follows ``dep``'s release profile (:mod:`ccapki.topology.releases`): CAM/CAS
    verify each other from 4.5, HA pairs run the certificate-keyed heartbeat from 4.7, and
    on 4.9 the CAM allows the CAS identities' DNs (what ``trust check`` tells the admin to
    authorize). Links verify as the field's stacks do: by trust store, no hostname (the
    CAM/CAS links and the heartbeat), and without OpenSSL's X509_STRICT, which refuses
    what Java PKIX, Chromium and strongSwan accept (a CA without keyUsage, for one).
    """
    idents = store.identities.current()
    missing = missing_certificates(store, dep, idents)
    if missing is not None:
        raise missing
    trust = store.trust.all()
    appliances = []
    for spec in dep.identities:
        ident = idents[spec.name]
        key = store.keys.private_key(ident.spki)
        key_pem = key.private_bytes(
            _PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        chain_pem = b"".join(c.public_bytes(_PEM) for c in (ident.certificate, *ident.chain))
        for j, m in enumerate(spec.members):
            trust_pem = b"".join(c.public_bytes(_PEM) for c in trust.get(m.name, ()))
            material = EndpointMaterial(chain_pem, key_pem, trust_pem)
            appliances.append(
                ApplianceSpec(
                    name=m.name,
                    role=spec.role.value,
                    identity=material,
                    hostname=spec.common_name,
                    pair=spec.name if spec.ha else None,
                    ha_role=("primary" if j == 0 else "secondary") if spec.ha else None,
                    gui_hostname=m.host,
                )
            )
    profile = dep.profile
    dns: tuple[str, ...] | None = None
    if profile.dn_authorization:
        dns = tuple(
            idents[s.name].certificate.subject.rfc4514_string() for s in dep.cas if s.name in idents
        )
    return LabSpec(
        tuple(appliances),
        link_interval=link_interval,
        check_peer_names=False,
        strict_x509=False,
        mutual_verification=profile.mutual_verification,
        heartbeat=profile.ha_ipsec_heartbeat,
        dn_authorization=dns,
    )


def missing_certificates(
    store: Store, dep: Deployment, idents: Mapping[str, StoredIdentity] | None = None
) -> StoreError | None:
    """The error ``lab up`` (and the lab's reload) stops with when an identity of ``dep``
    has no certificate in the store (``idents``: ``store.identities.current()`` when read
    already): each such identity named (the first few, and how many in all) with the step
    that gives it one (a third-party one: ``ccapki csr NAME``, then ``ccapki import`` the
    CA's answer). None when every identity has one. Reads only."""
    from ccapki.lifecycle.trustops import first_step, load_inventory

    held = store.identities.current() if idents is None else idents
    lacking = [s for s in dep.identities if s.name not in held]
    if not lacking:
        return None
    awaiting = load_inventory(store, dep, held).awaiting
    most = 3
    shown = [s.name for s in lacking[:most]]
    if len(lacking) > most:
        names = f"{', '.join(shown)} and {len(lacking) - most} more"
    else:
        names = " and ".join([", ".join(shown[:-1]), shown[-1]] if len(shown) > 1 else shown)
    more = len(lacking) > most
    verb = "has" if len(lacking) == 1 else "have"
    steps = "; ".join(f"{s.name}: {first_step(s, awaiting)}" for s in lacking[:most])
    return StoreError(
        f"the lab cannot start: {names} {verb} no certificate in the store yet (the lab "
        "serves each identity's own)",
        f"{steps}{'; then the others likewise (`ccapki plan` lists them)' if more else ''}; "
        "then `ccapki lab up`",
    )


def load_spec(home: str, interval: str = "5", deployment: str = "") -> LabSpec:
    """The daemon's loader: open the store at ``home`` and build the spec of ``deployment``
    (empty: the store's only one) from what the store holds now (read anew on every
    reload, so `ccapki lab reload` serves what the store holds now).

    Raises :class:`StoreError` when the store holds no deployment, and the store's errors
    (:class:`InputError` when it holds several and none is named, :class:`NotFoundError`
    when it holds none of that name)."""
    # the daemon is started by the CLI with its environment: like the CLI, it reads the
    # passphrase and the database URL there (never on its command line, which `ps` shows)
    passphrase = os.environ.get("CCAPKI_PASSPHRASE", "")
    url = os.environ.get("CCAPKI_DATABASE_URL") or None
    with Store.open(
        Path(home), url=url, passphrase=lambda: passphrase, deployment=deployment or None
    ) as store:
        kept = store.deployments.latest()
        if kept is None:
            raise StoreError(
                "the store holds no deployment", "run `ccapki apply FILE` before `lab up`"
            )
        dep = parse_deployment(kept.text, kept.path or "<stored deployment>")
        return build_spec(store, dep, link_interval=float(interval))
