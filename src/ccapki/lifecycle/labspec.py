"""From the store to the lab: each appliance's identity, key and trust store as a LabSpec.

The lab daemon calls :func:`load_spec` (``ccapki.lifecycle.labspec:load_spec``) with the
store's home folder; keys are unsealed in the daemon's memory only.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from ccapki.errors import StoreError
from ccapki.lab import ApplianceSpec, EndpointMaterial, LabSpec
from ccapki.store.session import Store
from ccapki.topology.loader import parse_deployment
from ccapki.topology.model import Deployment

__all__ = ["build_spec", "load_spec"]

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
    trust = store.trust.all()
    appliances = []
    for spec in dep.identities:
        ident = idents.get(spec.name)
        if ident is None:
            raise StoreError(
                f"{spec.name} has no certificate in the store",
                "run `ccapki apply` (or import its third-party certificate) before `lab up`",
            )
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
                    gui_hostname=m.hostname,
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
