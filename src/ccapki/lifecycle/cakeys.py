"""``ccapki ca``: create a deployment's internal CAs (their keys in a PKCS#11 token or in
the store) before any identity, and list where each CA's key is."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from ccapki.errors import InputError
from ccapki.lifecycle.status import settings_json
from ccapki.store.session import Store
from ccapki.topology.model import CaKeys, Deployment
from ccapki.topology.plan import INTERNAL_CA, INTERNAL_ROOT, make_plan

__all__ = ["CaKeyPlace", "ListedKey", "ca_key_places", "create_internal_cas", "list_keys"]


@dataclass(frozen=True)
class CaKeyPlace:
    """A CA of the deployment and where its private key is: ``"store"`` (sealed),
    ``"token"`` (``uri``, ``module``) or ``"none"`` (an external CA's: not ours)."""

    name: str
    kind: str
    fingerprint: str
    not_after: dt.datetime
    where: str
    uri: str | None = None
    module: str | None = None


def create_internal_cas(
    store: Store,
    dep: Deployment,
    now: dt.datetime,
    *,
    overrides: CaKeys | None = None,
    path: str | None = None,
) -> list[str]:
    """Create the deployment's internal root and intermediate CAs that the store does not
    hold yet, in one transaction: each key in the PKCS#11 token its URI names (the file's
    ``[ca]``, or ``overrides`` where they give one), else in the store. The deployment file
    is recorded as ``apply`` records it. Returns the names of the CAs created (none: both
    were there).

    Raises :class:`InputError` when a URI is given for a CA the store holds already (its
    key stays where it is) and :class:`~ccapki.errors.TokenError` for a token failure
    (nothing is written then)."""
    from ccapki.lifecycle.apply import ensure_issuers

    if overrides is not None:
        base = dep.ca_keys
        dep = replace(
            dep,
            ca_keys=CaKeys(
                overrides.root_pkcs11_uri or base.root_pkcs11_uri,
                overrides.intermediate_pkcs11_uri or base.intermediate_pkcs11_uri,
                overrides.pkcs11_module or base.pkcs11_module,
            ),
        )
    store.unlock()
    with store.scoped(dep.name), store.transaction():
        held = {c.kind for c in store.cas.list()}
        asked = overrides or CaKeys()
        for kind, uri in (
            (INTERNAL_ROOT, asked.root_pkcs11_uri),
            (INTERNAL_CA, asked.intermediate_pkcs11_uri),
        ):
            if uri is not None and kind in held:
                which = "root" if kind == INTERNAL_ROOT else "intermediate"
                raise InputError(
                    f"deployment {dep.name!r} has its internal {which} CA already (its key "
                    "stays where it is); nothing was created",
                    f"leave out --{which}-pkcs11-uri; a CA's successor is made by `ccapki "
                    "renew` (in the same token when its key is in one)",
                )
        store.deployments.record(dep.name, dep.source_text, path, settings_json(dep))
        _, created = ensure_issuers(store, make_plan(dep), now, needed={INTERNAL_CA})
    return created


def ca_key_places(store: Store) -> list[CaKeyPlace]:
    """Every CA of the deployment the store acts on, oldest first, with where its key is."""
    out = []
    for ca in store.cas.list():
        token = store.token_keys.get(ca.spki)
        if token is not None:
            where, uri, module = "token", token.uri, token.module
        elif store.keys.has(ca.spki):
            where, uri, module = "store", None, None
        else:
            where, uri, module = "none", None, None
        out.append(
            CaKeyPlace(
                ca.name,
                ca.kind,
                ca.fingerprint,
                ca.certificate.not_valid_after_utc,
                where,
                uri,
                module,
            )
        )
    return out


@dataclass(frozen=True)
class ListedKey:
    """A private key of the deployment as ``ccapki keys list`` shows it (never the key).

    ``state``: pending, active, superseded, retired or ca. ``where``: ``"store"`` (sealed
    there) or ``"token LABEL"`` (in that PKCS#11 token, ``uri`` naming it). ``ca``: the
    name of the CA whose key it is (None for an identity's key)."""

    fingerprint: str
    key_type: str
    identity: str | None
    state: str
    created_at: dt.datetime
    deployment: str
    where: str
    ca: str | None = None
    uri: str | None = None
    token: str | None = None


def _token_label(uri: str) -> str:
    """The token a stored URI names, for people: its label, else its serial or slot
    (parsed only: no token is reached)."""
    from ccapki.hsm.uri import parse_pkcs11_uri

    try:
        parsed = parse_pkcs11_uri(uri)
    except InputError:  # pragma: no cover - the store records only URIs it parsed
        return uri
    if parsed.token is not None:
        return parsed.token
    if parsed.serial is not None:
        return f"serial {parsed.serial}"
    if parsed.slot_id is not None:
        return f"slot {parsed.slot_id}"
    return f"{parsed.manufacturer or ''} {parsed.model or ''}".strip()


def list_keys(store: Store) -> list[ListedKey]:
    """Every private key of the deployment the store acts on, oldest first: the keys
    sealed in the store (CA keys by their algorithm) and the CA keys in PKCS#11 tokens,
    each saying where it is and, for a CA's, which CA. Reads the store only: no token is
    reached and no PIN or passphrase is asked. Raises :class:`~ccapki.errors.StoreError`
    for an unusable store."""
    import heapq

    sealed = store.keys.list()
    names = store.cas.names_by_key()  # no certificate parsed (nor the X.509 code loaded)
    algo: dict[str, str] = {}
    if any(k.key_type == "ca" for k in sealed):
        # stores made before CA keys were recorded by algorithm hold "ca": read it off the CA
        from ccapki.pki.keys import key_type_name

        algo = {c.spki: key_type_name(c.certificate.public_key()) for c in store.cas.list()}
    in_store = [
        ListedKey(
            k.fingerprint,
            algo.get(k.fingerprint, k.key_type) if k.key_type == "ca" else k.key_type,
            k.identity,
            k.state.value,
            k.created_at,
            k.deployment,
            "store",
            names.get(k.fingerprint),
        )
        for k in sealed
    ]
    tokens = {r.fingerprint: r for r in store.token_keys.list()}
    in_tokens = []
    for spki, ca_name in names.items():  # each key once (a CA re-issued on its key: the newest)
        rec = tokens.get(spki)
        if rec is None:
            continue
        label = _token_label(rec.uri)
        in_tokens.append(
            ListedKey(
                rec.fingerprint,
                rec.key_type,
                None,
                "ca",
                rec.created_at,
                rec.deployment,
                f"token {label}",
                ca_name,
                rec.uri,
                label,
            )
        )
    in_tokens.sort(key=lambda k: k.created_at)
    return list(heapq.merge(in_tokens, in_store, key=lambda k: k.created_at))
