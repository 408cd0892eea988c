"""The JSON API under ``/api/v1``: the Python facade (:mod:`ccapki.api`) over HTTP.

Every route works on a fork of the app's store whose audit actor is the user
(:func:`ccapki.service.auth.request_store`) and needs a role (:func:`~ccapki.service.auth.
require`): viewer reads; operator applies, imports, makes CSRs, applies trust stores,
renews and probes; admin exports private keys, makes backups and manages users. Long work
(apply, renew, probe, backup) is queued as a background job (:mod:`ccapki.service.jobs`):
the answer is 202 with the job (``Location: /api/v1/jobs/ID``); without the jobs module it
runs at once. Errors are problems (:mod:`ccapki.service.problems`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import json
import os
import re
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar, cast

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, StrictBool

from ccapki import __version__
from ccapki import api as core
from ccapki.errors import CcapkiError, ConflictError, InputError, NotFoundError, PasswordError
from ccapki.lifecycle.inventory import DEFAULT_LIMIT, MAX_LIMIT
from ccapki.lifecycle.status_pages import CLASSES, StatusPages
from ccapki.service.auth import current_session, issue_token, request_store, require
from ccapki.service.config import MAX_UPLOAD_FILE_BYTES, check_upload_count, check_upload_size
from ccapki.service.problems import PROBLEM_RESPONSES, ProblemException, StrictBody
from ccapki.store.records import Role, TokenRecord, UserRecord
from ccapki.store.session import Store

if TYPE_CHECKING:
    from ccapki.topology.model import Deployment

__all__ = ["MAX_UPLOAD", "router"]

#: The most bytes one uploaded file (a certificate, a key, a deployment file) may have.
MAX_UPLOAD = 1 << 20
#: What :class:`_ReportCache` keeps (JSON bytes, a report ready for paging).
_V = TypeVar("_V")

router = APIRouter(prefix="/api/v1", responses=PROBLEM_RESPONSES)

StoreDep = Annotated[Store, Depends(request_store)]
Viewer = Annotated[UserRecord, Depends(require(Role.VIEWER))]
Operator = Annotated[UserRecord, Depends(require(Role.OPERATOR))]
Admin = Annotated[UserRecord, Depends(require(Role.ADMIN))]
#: Names in paths and queries: printable text (no control character reaches the database).
NAME_PATTERN = r"^[^\x00-\x1f\x7f]+$"
DepName = Annotated[str, PathParam(max_length=128, pattern=NAME_PATTERN)]
IdentName = Annotated[str, PathParam(max_length=256, pattern=NAME_PATTERN)]
UserName = Annotated[str, PathParam(max_length=64, pattern=NAME_PATTERN)]
TokenId = Annotated[int, PathParam(ge=1, le=2**31 - 1)]

_JOB_RESPONSE: dict[int | str, dict[str, Any]] = {
    202: {"description": "Queued as a background job (see /api/v1/jobs/ID, the Location)"}
}


# ---------------------------------------------------------------------------- helpers


def _deployment(store: Store, name: str) -> Deployment:
    """The stored deployment ``name`` (404 problem when the store holds none)."""
    return core.stored_deployment(store, name)


def _jobs() -> Any:
    try:
        return importlib.import_module("ccapki.service.jobs")
    except ModuleNotFoundError as exc:
        if exc.name == "ccapki.service.jobs":
            return None
        raise


def _queued(
    store: Store, kind: str, params: dict[str, object], deployment: str | None, user: UserRecord
) -> Response | None:
    """Queue a job (202 with the job, Location: its URL); None without the jobs module."""
    jobs = _jobs()
    if jobs is None:
        return None
    job = jobs.submit(store, kind, params, deployment=deployment, user=user)
    body = jobs.job_out(job).model_dump(mode="json")
    return JSONResponse(body, 202, headers={"Location": f"/api/v1/jobs/{job.id}"})


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


class _ReportCache:
    """This instance's answers of the costly read-only routes (the status report ready
    for paging, the trust check as JSON bytes), by (route, its arguments, the store's revision from
    :func:`ccapki.api.store_revision`, the clock's minute): at most :attr:`SIZE` of them.
    Another instance keeps its own; each reads the store's revision on every request, so a
    write anywhere (any instance's, or the CLI's) is seen at the next request; the minute
    bounds what else the answer depends on (the clock: days left, validity; the OS root
    store)."""

    SIZE = 16

    def __init__(self) -> None:
        self._kept: dict[tuple[object, ...], object] = {}
        self._lock = threading.Lock()  # guards _kept
        self._compute = threading.Lock()  # one report computed at a time

    def get(self, key: tuple[object, ...], make: Callable[[], _V]) -> _V:
        """What is kept under ``key`` (the route in the key says its type), else
        ``make()``'s, kept. Raises what it does."""
        with self._lock:
            body = self._kept.get(key)
        if body is not None:
            return cast(_V, body)
        with self._compute:  # requests that missed together wait for one computation
            with self._lock:
                body = self._kept.get(key)
            if body is None:
                body = make()
                with self._lock:
                    self._kept[key] = body
                    while len(self._kept) > self.SIZE:
                        del self._kept[next(iter(self._kept))]
        return cast(_V, body)


def _kept(request: Request, store: Store, key: tuple[object, ...], make: Callable[[], _V]) -> _V:
    """What is kept under ``key`` at the store's current revision and minute, else
    ``make()``'s, kept (see :class:`_ReportCache`)."""
    state = request.app.state
    cache = getattr(state, "report_cache", None)
    if not isinstance(cache, _ReportCache):
        cache = state.report_cache = _ReportCache()
    now = store.now()
    full = (*key, core.store_revision(store), now.replace(second=0, microsecond=0))
    return cache.get(full, make)


def _cached(
    request: Request, store: Store, key: tuple[object, ...], make: Callable[[], bytes]
) -> Response:
    """The JSON answer kept under ``key`` at the store's current revision and minute, else
    ``make()``'s, kept (see :class:`_ReportCache`)."""
    return Response(_kept(request, store, key, make), media_type="application/json")


# ---------------------------------------------------------------------------- service


class Health(BaseModel):
    """The instance answering."""

    ok: bool
    version: str
    instance: str


@router.get(
    "/health",
    response_model=Health,
    tags=["service"],
    summary="Liveness",
    description="Answers without authentication: the service is up (for load balancers).",
)
def health(request: Request) -> Health:
    return Health(ok=True, version=__version__, instance=request.app.state.config.instance_id)


class Me(BaseModel):
    """The user asking."""

    name: str
    role: Role
    csrf_token: str | None = Field(
        default=None, description="The web session's CSRF token (none for an API token)"
    )


@router.get("/me", response_model=Me, tags=["service"], summary="Who am I")
def me(request: Request, user: Viewer) -> Me:
    """The user behind the token or session, and its role."""
    session = current_session(request)
    return Me(name=user.name, role=user.role, csrf_token=session.csrf_token if session else None)


# ---------------------------------------------------------------------------- deployments


class DeploymentOut(BaseModel):
    """A deployment the store holds."""

    name: str
    identities: int = Field(description="How many identities it holds certificates for")
    last_applied: dt.datetime | None
    path: str | None = Field(description="Where its file was applied from")


class DeploymentDetail(DeploymentOut):
    """A deployment and the file the store last applied of it."""

    text: str | None = Field(description="The deployment file (TOML)")


@router.get(
    "/deployments",
    response_model=list[DeploymentOut],
    tags=["deployments"],
    summary="List the deployments",
)
def list_deployments(store: StoreDep, _: Viewer) -> list[DeploymentOut]:
    """Every deployment the store holds, by name."""
    return [
        DeploymentOut(
            name=d.name, identities=d.identities, last_applied=d.last_applied, path=d.path
        )
        for d in store.deployments.summary()
    ]


@router.get(
    "/deployments/{deployment}",
    response_model=DeploymentDetail,
    tags=["deployments"],
    summary="One deployment and its file",
)
def get_deployment(deployment: DepName, store: StoreDep, _: Viewer) -> DeploymentDetail:
    """The deployment ``deployment``: its counts and the file last applied (404: none)."""
    store.use(deployment)
    found = next((d for d in store.deployments.summary() if d.name == deployment), None)
    if found is None:
        raise NotFoundError(
            f"this store holds no deployment {deployment!r} yet",
            "apply a deployment file first (POST /api/v1/deployments)",
        )
    kept = store.deployments.latest()
    return DeploymentDetail(
        name=found.name,
        identities=found.identities,
        last_applied=found.last_applied,
        path=found.path,
        text=kept.text if kept else None,
    )


class PlannedIdentity(BaseModel):
    """One certificate of the plan and what apply would do for it now."""

    name: str
    role: str
    ha_pair: bool
    installed_on: list[str]
    subject: str
    common_name: str
    san_dns: list[str]
    san_ip: list[str]
    key_type: str
    validity_days: int
    source: str
    channels: list[str]
    action: str = Field(description="issue, renew, reissue, nothing, ...")
    reason: str


class PlanOut(BaseModel):
    """The certificate plan of a deployment, against what the store holds."""

    deployment: str
    certificates_needed: int
    identities: list[PlannedIdentity]


@router.get(
    "/deployments/{deployment}/plan",
    response_model=PlanOut,
    tags=["deployments"],
    summary="The plan: what apply would do",
)
def plan(deployment: DepName, store: StoreDep, _: Viewer) -> PlanOut:
    """``ccapki plan`` of the stored file, with ``pending_actions`` against the store."""
    dep = _deployment(store, deployment)
    the_plan = core.make_plan(dep)
    actions = {a.identity: a for a in core.pending_actions(store, the_plan)}
    out = []
    for p in the_plan.identities:
        action = actions.get(p.name)
        out.append(
            PlannedIdentity.model_validate(
                {
                    **p.to_json(),
                    "action": action.kind.value if action else "nothing",
                    "reason": action.reason if action else "",
                }
            )
        )
    return PlanOut(
        deployment=dep.name,
        certificates_needed=the_plan.certificates_needed,
        identities=out,
    )


class ApplyIn(StrictBody):
    """A deployment file to apply."""

    text: str = Field(max_length=MAX_UPLOAD, description="The deployment file (TOML)")
    path: str | None = Field(
        default=None, max_length=1024, pattern=NAME_PATTERN, description="Its name, for errors"
    )
    dry_run: bool = Field(default=False, description="Only say what apply would do")


class ApplyOut(BaseModel):
    """What an apply did (or would do, dry run)."""

    deployment: str
    dry_run: bool
    actions: list[dict[str, str]]
    issued: list[str]
    created_cas: list[str]
    trust_added: list[str]


def _apply_out(dep: Deployment, result: Any) -> ApplyOut:
    return ApplyOut(
        deployment=dep.name,
        dry_run=bool(result.dry_run),
        actions=[
            {"identity": a.identity, "kind": a.kind.value, "reason": a.reason}
            for a in result.actions
        ],
        issued=list(result.issued),
        created_cas=list(result.created_cas),
        trust_added=[str(t) for t in result.trust_added],
    )


def _host_settings(dep: Deployment | None) -> dict[str, object]:
    """The settings of a deployment file that make the service's machine run a command
    (``[acme] hook``), load a library (``[ca] pkcs11_module``) or hand a secret of its
    environment to a server (the ``*_env`` settings name its variables; the mail server
    and login the SMTP password is sent to), by name."""
    acme = dep.acme if dep is not None else None
    notify = dep.monitoring.notify if dep is not None else None
    return {
        "[acme] hook": acme.hook if acme is not None else (),
        "[acme] eab_hmac_env": acme.eab_hmac_env if acme is not None else None,
        "[acme] tsig_secret_env": acme.tsig_secret_env if acme is not None else None,
        "[notify] smtp_password_env": notify.smtp_password_env if notify else None,
        # where that password goes, and as whom: the mail server gets it in full (AUTH)
        "[notify] smtp, smtp_user, smtp_starttls (with smtp_password_env)": (
            (notify.smtp, notify.smtp_user, notify.smtp_starttls)
            if notify and notify.smtp_password_env
            else None
        ),
        "[notify] webhook_secret_env": notify.webhook_secret_env if notify else None,
        "[ca] pkcs11_module": dep.ca_keys.pkcs11_module if dep is not None else None,
    }


def _host_settings_allowed(store: Store, dep: Deployment, user: UserRecord) -> None:
    """A 403 problem when ``user`` is no admin and ``dep`` changes a setting of
    :func:`_host_settings` from the file the store holds of its deployment (or gives one, to
    a new deployment): an operator would run any command as the service (and read every
    private key) through an ``[acme] hook``, or send its passphrase to a mail server
    through ``smtp_password_env``."""
    if user.role.allows(Role.ADMIN):
        return
    held = None  # a new deployment, or a stored file this ccapki cannot read: none held
    if dep.name in store.deployments.names():
        with contextlib.suppress(CcapkiError):
            held = core.stored_deployment(store, dep.name)
    before, after = _host_settings(held), _host_settings(dep)
    changed = [name for name, value in after.items() if value != before[name]]
    if changed:
        raise ProblemException(
            403,
            f"user {user.name!r} is {user.role.value}; a deployment file changing "
            f"{', '.join(changed)} needs admin (what the service's machine runs, or which "
            "of its secrets it sends where); nothing was queued",
            "ask an admin to apply the file (through the service, or `ccapki apply FILE` on "
            "the store's machine), or send it with those settings as the store holds them",
            type_="forbidden",
        )


@router.post(
    "/deployments",
    response_model=ApplyOut,
    responses=_JOB_RESPONSE,
    tags=["deployments"],
    summary="Apply a deployment file",
    description="Issues what the file's plan needs (a new name makes a new deployment). "
    "A dry run answers at once; an apply is queued as a job (202).",
)
def apply_file(body: ApplyIn, store: StoreDep, user: Operator) -> Response | ApplyOut:
    source = body.path or "<uploaded>"
    dep = core.parse_deployment(body.text, source)
    if body.dry_run:
        return _apply_out(dep, core.apply(store, dep, dry_run=True))
    _host_settings_allowed(store, dep, user)
    params: dict[str, object] = {"text": body.text}
    if body.path:
        params["path"] = body.path
    queued = _queued(store, "apply", params, dep.name, user)
    if queued is not None:
        return queued
    return _apply_out(dep, core.apply(store, dep, path=body.path))


@router.post(
    "/deployments/{deployment}/apply",
    response_model=ApplyOut,
    responses=_JOB_RESPONSE,
    tags=["deployments"],
    summary="Apply the stored file again",
    description="Issues (renews, reissues) what the stored file's plan needs now: a job (202).",
)
def apply_stored(deployment: DepName, store: StoreDep, user: Operator) -> Response | ApplyOut:
    dep = _deployment(store, deployment)
    queued = _queued(store, "apply", {}, dep.name, user)
    if queued is not None:
        return queued
    return _apply_out(dep, core.apply(store, dep))


# ---------------------------------------------------------------------------- identities


class IdentityOut(BaseModel):
    """An identity's current certificate, by days left."""

    name: str
    fingerprint: str
    not_after: dt.datetime | None
    days_left: int | None
    stage: str = Field(description="ok, a warn_days stage such as 30, expired, or missing")
    temporary: bool
    note: str


class IdentityPage(BaseModel):
    """One page of the inventory: identities by expiry, and where the next page starts."""

    deployment: str
    items: list[IdentityOut]
    total: int = Field(description="Every identity of the deployment, on every page")
    limit: int = Field(description="The most items a page holds (the `limit` asked for)")
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page"
    )


@router.get(
    "/deployments/{deployment}/identities",
    response_model=IdentityPage,
    tags=["identities"],
    summary="The inventory, by expiry, one page at a time",
    description="The deployment's identities (their current certificates) ordered by "
    "`not_after` then name, each with its days left and stage as `ccapki status` gives "
    "them; then those its file plans without a certificate yet (stage `missing`), by "
    f"name. Pages of `limit` items (default {DEFAULT_LIMIT}, at most {MAX_LIMIT}); "
    "`next_cursor` of one page is the `cursor` of the next (keyset paging: a write between "
    "two pages neither repeats nor skips an identity that was there before); `total` counts "
    "every page's items. A bad `limit` or `cursor` is a 422 problem.",
)
def list_identities(
    deployment: DepName,
    store: StoreDep,
    _: Viewer,
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description=f"Items per page (default {DEFAULT_LIMIT})")
    ] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=1024,
            pattern=r"^[A-Za-z0-9_-]+$",
            description="The `next_cursor` of the previous page (none: the first page)",
        ),
    ] = None,
) -> IdentityPage:
    try:
        page = core.inventory_page(store, deployment, limit=limit, cursor=cursor)
    except InputError as exc:  # a cursor not made here: malformed, like a bad limit
        raise ProblemException(422, exc.message, exc.hint, type_="invalid-request") from None
    return IdentityPage(
        deployment=page.deployment,
        items=[
            IdentityOut(
                name=i.name,
                fingerprint=i.fingerprint,
                not_after=i.not_after,
                days_left=i.days_left,
                stage=i.stage,
                temporary=i.temporary,
                note=i.note,
            )
            for i in page.items
        ],
        total=page.total,
        limit=page.limit,
        next_cursor=page.next_cursor,
    )


class IdentityDetail(BaseModel):
    """What ``ccapki inspect IDENTITY`` shows: the certificate, then its chain."""

    name: str
    version: int
    source: str
    created_at: dt.datetime
    certificates: list[dict[str, Any]] = Field(
        description="subject, SANs, issuer, validity, key, fingerprints, signer per certificate"
    )


@router.get(
    "/deployments/{deployment}/identities/{identity}",
    response_model=IdentityDetail,
    tags=["identities"],
    summary="Inspect an identity",
)
def inspect_identity(
    deployment: DepName, identity: IdentName, store: StoreDep, _: Viewer
) -> IdentityDetail:
    """The identity's current certificate and chain as ``ccapki inspect`` shows them."""
    dep = _deployment(store, deployment)
    infos = core.inspect_identity(store, dep, identity)
    name = dep.identity(identity).name
    with store.scoped(dep.name):
        ident = store.identities.get(name)
    assert ident is not None
    return IdentityDetail(
        name=name,
        version=ident.version,
        source=str(ident.source.value),
        created_at=ident.created_at,
        certificates=[i.to_json() for i in infos],
    )


_PARTS = {"cert": "cert", "chain": "chain", "fullchain": "fullchain"}


@router.get(
    "/deployments/{deployment}/identities/{identity}/{part}",
    response_class=Response,
    responses={
        200: {
            "description": "The file (PEM; `cert` also DER)",
            "content": {"application/x-pem-file": {}, "application/pkix-cert": {}},
        }
    },
    tags=["identities"],
    summary="Download a public part",
)
def download_part(
    deployment: DepName,
    identity: IdentName,
    part: Literal["cert", "chain", "fullchain"],
    store: StoreDep,
    _: Viewer,
    encoding: Annotated[Literal["pem", "der"], Query(description="der: cert only")] = "pem",
    include_root: bool = False,
) -> Response:
    """The identity's certificate, chain or full chain (never its key)."""
    dep = _deployment(store, deployment)
    name = dep.identity(identity).name
    if encoding == "der" and part != "cert":
        raise InputError(
            f"DER holds one certificate, and the {part} is several",
            f"ask for .../identities/{name}/cert?encoding=der (the certificate alone), or "
            f".../identities/{name}/{part}?encoding=pem",
        )
    fmt = "der" if encoding == "der" else _PARTS[part]
    with store.scoped(dep.name):
        data = core.export(store, name, fmt, include_root=include_root)  # type: ignore[arg-type]
    media = "application/pkix-cert" if encoding == "der" else "application/x-pem-file"
    ext = "der" if encoding == "der" else "pem"
    return Response(
        data,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{name}-{part}.{ext}"'},
    )


class ExportIn(StrictBody):
    """A private-key export: its format and the password that protects it."""

    format: Literal["pkcs12", "key", "pem-bundle"] = "pkcs12"
    password: str | None = Field(
        default=None,
        min_length=8,
        max_length=1024,
        description="Encrypts the key (required for pkcs12; key and pem-bundle are "
        "unencrypted without it)",
    )
    legacy: bool = Field(default=False, description="PKCS#12 with 3DES/SHA-1 (old appliances)")
    include_root: bool = False
    version: int | None = Field(
        default=None,
        ge=1,
        description="An earlier version (kept after a renewal or reissue: installing it "
        "again undoes one); default: the current version",
    )


@router.post(
    "/deployments/{deployment}/identities/{identity}/export",
    response_class=Response,
    responses={
        200: {
            "description": "The file holding the private key",
            "content": {"application/x-pkcs12": {}, "application/x-pem-file": {}},
        }
    },
    tags=["identities"],
    summary="Export the private key (admin, audited)",
    description="The identity's key as PKCS#12, PEM key or PEM bundle. Written to the audit "
    "log with who (the user), what (identity, version, format) and when.",
)
def export_key(
    request: Request,
    deployment: DepName,
    identity: IdentName,
    body: ExportIn,
    store: StoreDep,
    user: Admin,
) -> Response:
    dep = _deployment(store, deployment)
    name = dep.identity(identity).name
    if body.format == "pkcs12" and not body.password:
        raise InputError("a PKCS#12 file needs a password", 'give "password" (8+ characters)')
    with store.scoped(dep.name):
        data = core.export(
            store,
            name,
            body.format,
            password=body.password,
            legacy=body.legacy,
            include_root=body.include_root,
            destination=f"<HTTP response to {user.name} at {_address(request)}>",
            version=body.version,
        )
    media = "application/x-pkcs12" if body.format == "pkcs12" else "application/x-pem-file"
    ext = {"pkcs12": "p12", "key": "key", "pem-bundle": "pem"}[body.format]
    return Response(
        data,
        media_type=media,
        headers={
            "Content-Disposition": f'attachment; filename="{name}.{ext}"',
            "Cache-Control": "no-store",
        },
    )


class CsrIn(StrictBody):
    """Which identities to make CSRs for."""

    identities: list[Annotated[str, Field(max_length=256, pattern=NAME_PATTERN)]] | None = Field(
        default=None, max_length=10_000, description="Default: every third-party identity"
    )


class CsrOut(BaseModel):
    """A CSR made on a new pending key."""

    identity: str
    spki: str = Field(description="SHA-256 of the pending key's public key")
    pem: str
    created_at: dt.datetime | None = None
    warnings: list[str] = Field(
        default_factory=list,
        description="What a CA may refuse in it (a private or reserved IP address: a public "
        "CA does), as `ccapki csr` warns",
    )


@router.post(
    "/deployments/{deployment}/csrs",
    response_model=list[CsrOut],
    tags=["identities"],
    summary="Make CSRs",
    description="`ccapki csr`: a new pending key and a CSR per identity.",
)
def make_csrs(deployment: DepName, body: CsrIn, store: StoreDep, _: Operator) -> list[CsrOut]:
    from ccapki.topology.plan import csr_private_ips_warning

    dep = _deployment(store, deployment)
    results = core.make_csrs(store, dep, body.identities)
    out = []
    for r in results:
        private = csr_private_ips_warning([dep.identity(r.identity)])
        out.append(
            CsrOut(
                identity=r.identity,
                spki=r.spki,
                pem=r.pem.decode(),
                warnings=[private] if private else [],
            )
        )
    return out


@router.get(
    "/deployments/{deployment}/csrs",
    response_model=list[CsrOut],
    tags=["identities"],
    summary="List the CSRs made",
)
def list_csrs(deployment: DepName, store: StoreDep, _: Operator) -> list[CsrOut]:
    """Every CSR of the deployment, oldest first."""
    store.use(deployment)
    return [
        CsrOut(identity=c.identity, spki=c.spki, pem=c.pem, created_at=c.created_at)
        for c in store.csrs.list()
    ]


@router.get(
    "/deployments/{deployment}/csrs/{identity}",
    response_class=Response,
    responses={200: {"description": "The newest CSR (PEM)", "content": {"application/pkcs10": {}}}},
    tags=["identities"],
    summary="Download an identity's newest CSR",
)
def download_csr(
    deployment: DepName, identity: IdentName, store: StoreDep, _: Operator
) -> Response:
    dep = _deployment(store, deployment)
    name = dep.identity(identity).name
    with store.scoped(dep.name):
        csrs = store.csrs.list(name)
    if not csrs:
        raise NotFoundError(
            f"no CSR made for {name!r}",
            f"make one: POST /api/v1/deployments/{dep.name}/csrs (or `ccapki csr {name}`)",
        )
    return Response(
        csrs[-1].pem,
        media_type="application/pkcs10",
        headers={"Content-Disposition": f'attachment; filename="{name}.csr"'},
    )


class ImportedOut(BaseModel):
    """A certificate imported as a new version."""

    identity: str
    subject: str
    not_after: dt.datetime
    key_from: str = Field(description="batch (a key uploaded with it) or store (a CSR's key)")
    warnings: list[str]


class ImportOut(BaseModel):
    """What an import did (all or nothing)."""

    identities: list[ImportedOut]
    cas: list[str]
    keys_kept: int
    held: list[str] = Field(description="Certificates the store holds already (left as they are)")
    warnings: list[str]
    notes: list[str]


_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def _upload_name(name: str | None, n: int) -> str:
    base = _SAFE_NAME.sub("_", os.path.basename(name or "")).lstrip(".")[:100]
    return base or f"upload-{n}"


@router.post(
    "/deployments/{deployment}/import",
    response_model=ImportOut,
    tags=["identities"],
    summary="Upload certificates (and keys) to import",
    description="`ccapki import`: PEM, DER, PKCS#7 or PKCS#12 files, all or nothing; each "
    "certificate matched to its identity and its private key (a key uploaded with it, or "
    'a CSR\'s pending key: else 422 "private key not found").',
)
async def import_files(
    deployment: DepName,
    files: Annotated[list[UploadFile], File(description="The files to import")],
    store: StoreDep,
    _: Operator,
    password: Annotated[str | None, Form(max_length=1024)] = None,
    force: Annotated[bool, Form()] = False,
    identity: Annotated[str | None, Form(max_length=256, pattern=NAME_PATTERN)] = None,
) -> ImportOut:
    dep = _deployment(store, deployment)
    if not files:
        raise InputError("no file uploaded", "upload the certificate files as `files`")
    check_upload_count(len(files))  # the dashboard's limit and words too
    with tempfile.TemporaryDirectory(prefix="ccapki-upload-") as tmp:
        folder = Path(tmp)  # 0700: mkdtemp
        paths: list[Path] = []
        for n, f in enumerate(files, start=1):
            data = await f.read(MAX_UPLOAD_FILE_BYTES + 1)
            name = _upload_name(f.filename, n)
            check_upload_size(name, len(data))  # the dashboard's limit and words too
            path = folder / f"{n:02d}-{name}" if (folder / name).exists() else folder / name
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            paths.append(path)
        try:
            materials = core.read_files(paths, password)
            result = core.import_materials(store, dep, materials, force=force, identity=identity)
        except CcapkiError as exc:  # name the uploaded file, never the server's folder
            from ccapki.service.web import upload_hint  # the API's fields, not CLI options

            exc.message = exc.message.replace(f"{folder}{os.sep}", "").replace(str(folder), "")
            exc.hint = upload_hint(exc.hint, api=True)
            exc.args = (exc.message,)
            raise
    return ImportOut(
        identities=[
            ImportedOut(
                identity=i.identity,
                subject=i.certificate.subject.rfc4514_string(),
                not_after=i.certificate.not_valid_after_utc,
                key_from=i.key_from,
                warnings=list(i.warnings),
            )
            for i in result.identities
        ],
        cas=list(result.cas),
        keys_kept=result.keys_kept,
        held=[h.describe() for h in result.held],
        warnings=list(result.warnings),
        # an unrelated CA sent along with a certificate: not kept, said so
        notes=[*result.notes, *(f"ignored: {what}" for what in result.ignored)],
    )


# ---------------------------------------------------------------------------- trust


class CellOut(BaseModel):
    """One channel on one appliance."""

    appliance: str
    channel: str
    status: str = Field(description="pass, warn, fail or n/a")
    findings: list[str]
    warnings: list[str]
    case: str | None
    requires: str | None


class MatrixOut(BaseModel):
    """``ccapki trust check --json``."""

    ok: bool = Field(description="Nothing fails and nothing is due (trust check exits 0)")
    verifications: int
    cells: list[CellOut]
    warnings: list[dict[str, Any]]
    dn_authorization: list[dict[str, str]]


@router.get(
    "/deployments/{deployment}/trust/check",
    response_model=MatrixOut,
    tags=["trust"],
    summary="Trust check: every channel on every appliance",
)
def trust_check(
    request: Request,
    deployment: DepName,
    store: StoreDep,
    _: Viewer,
    clients: Annotated[Literal["installed", "mozilla"], Query()] = "installed",
) -> Response:
    """The channel matrix (``ccapki trust check``): pass, warn, fail or n/a per cell.
    Each instance keeps the matrix it computed until a write lands in the store (any
    instance's, or the CLI's: the store's revision is read on every request) or the
    clock's minute turns."""

    def make() -> bytes:
        dep = _deployment(store, deployment)
        matrix = core.check_trust(store, dep, clients=clients)
        out = MatrixOut(
            ok=matrix.clean,
            verifications=matrix.verifications,
            cells=[CellOut.model_validate(c.to_json()) for c in matrix.cells],
            warnings=[{"warning": w, "cells": c} for w, c in matrix.warnings.items()],
            dn_authorization=[{"cas": p, "dn": dn} for p, dn in matrix.dn_authorization],
        )
        return out.model_dump_json().encode()

    return _cached(request, store, ("trust-check", deployment, clients), make)


class ChangeOut(BaseModel):
    """One trust-store change, in the appliance GUI's words."""

    action: str = Field(description="add or remove")
    appliance: str
    fingerprint: str
    text: str


def _changes(changes: list[Any]) -> list[ChangeOut]:
    return [
        ChangeOut(action=c.action, appliance=c.appliance, fingerprint=c.fingerprint, text=str(c))
        for c in changes
    ]


@router.get(
    "/deployments/{deployment}/trust/plan",
    response_model=list[ChangeOut],
    tags=["trust"],
    summary="Trust plan: the smallest set of trust-store changes",
)
def trust_plan(
    deployment: DepName, store: StoreDep, _: Viewer, prune: bool = False
) -> list[ChangeOut]:
    """``ccapki trust plan``: what to add (and, with prune, remove). Changes nothing."""
    return _changes(core.plan_trust(store, _deployment(store, deployment), prune=prune))


class TrustApplyIn(StrictBody):
    """Options of a trust apply."""

    prune: bool = Field(default=False, description="Also remove what no channel needs")


@router.post(
    "/deployments/{deployment}/trust/apply",
    response_model=list[ChangeOut],
    tags=["trust"],
    summary="Trust apply: carry out the plan in the store",
)
def trust_apply(
    deployment: DepName, store: StoreDep, _: Operator, body: TrustApplyIn | None = None
) -> list[ChangeOut]:
    """``ccapki trust apply``: the changes made (empty: nothing to change)."""
    prune = body.prune if body else False
    return _changes(core.apply_trust(store, _deployment(store, deployment), prune=prune))


class RotationOut(BaseModel):
    """A CA rotation what-if: what breaks, and the safe order."""

    identity: str
    to_source: str | None
    breaks: list[str]
    steps: list[dict[str, Any]]


@router.get(
    "/deployments/{deployment}/trust/rotation",
    response_model=RotationOut,
    tags=["trust"],
    summary="Rotation what-if",
    description="`ccapki trust plan --rotate IDENTITY`: if the identity were replaced now, "
    "what breaks and the safe order. Writes nothing.",
)
def rotation(
    deployment: DepName,
    store: StoreDep,
    _: Viewer,
    identity: Annotated[str, Query(max_length=256, pattern=NAME_PATTERN)],
    to_source: Annotated[
        Literal["internal", "self-signed", "perfigo", "third-party"] | None, Query()
    ] = None,
) -> RotationOut:
    dep = _deployment(store, deployment)
    breaks, steps = core.rotation_what_if(store, dep, identity, to_source=to_source)
    return RotationOut(
        identity=dep.identity(identity).name,
        to_source=to_source,
        breaks=breaks,
        steps=[{"order": o, "text": t} for o, t in steps],
    )


# ---------------------------------------------------------------------------- status


class ServedOut(BaseModel):
    """What one endpoint of the identity's appliances presented at its last probe."""

    appliance: str
    kind: str
    address: str
    verdict: str
    at: dt.datetime
    since: dt.datetime | None
    reason: str
    wrong: bool = Field(description="It served a certificate other than the current one")
    outdated: bool = Field(description="The probe is too old to judge anything")


class StatusItemOut(BaseModel):
    """One identity, CA, outside CA certificate of the chains, pending CSR or trust-store
    root, as `ccapki status --json` has it."""

    deployment: str
    kind: str = Field(
        description="identity, csr, ca, chain-ca (an outside CA's certificate the chains "
        "hold) or trust-root"
    )
    name: str
    fingerprint: str
    not_after: dt.datetime | None
    days_left: int | None
    stage: str = Field(description="ok, a warn_days stage such as 30, expired, missing or pending")
    temporary: bool
    in_use: bool
    note: str
    served: list[ServedOut]
    chain_of: list[str] | None = Field(
        default=None,
        description="Of a chain-ca item, and on that kind alone: the identities whose "
        "current chain holds it",
    )


class DeploymentStages(BaseModel):
    """A deployment's release and warn stages."""

    release: str | None
    warn_days: list[int]


class StatusPageOut(BaseModel):
    """One page of the estate's status: the whole report's summary and counts, then a page
    of its items."""

    now: dt.datetime = Field(description="When the report was computed")
    deployments: dict[str, DeploymentStages]
    summary: str
    counts: dict[str, int] = Field(
        description="`ccapki status --json`'s counts, whole report: of rows (a trust-store "
        "root once, however many appliances hold it; `items` of them), and `listed`, the "
        "items listed (a root once per appliance), which `stages` counts"
    )
    exit_code: int
    nagios_code: int
    stages: dict[str, int] = Field(
        description="How many items of the whole report each `stage` filter value matches"
    )
    items: list[StatusItemOut]
    total: int = Field(description="The items the `stage` filter keeps, on every page")
    limit: int = Field(description="The most items a page holds (the `limit` asked for)")
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page"
    )


@router.get(
    "/status",
    response_model=StatusPageOut,
    tags=["status"],
    summary="Estate status, one page at a time",
    description="`ccapki status --json` in pages: every identity, CA, pending CSR and "
    "trust-store root, with what each endpoint served at its last probe, ordered by "
    "deployment, then expiry (`not_after`; a CSR beside its identity, items without one "
    f"last), name and kind. Pages of `limit` items (default {DEFAULT_LIMIT}, at most "
    f"{MAX_LIMIT}); `next_cursor` of one page is the `cursor` of the next (keyset paging: "
    "a write between two pages neither repeats nor skips an item that was there before). "
    "`stage` keeps the items in any of the classes it names, comma-separated: "
    f"{', '.join(CLASSES)}, or a warn stage's days (`30`); `total` counts what it keeps. "
    "Every page has the whole report's `summary`, `counts`, `exit_code`, `nagios_code` "
    "and `stages` (how many items each filter value matches). Each instance keeps the "
    "report it computed until a write lands in the store (any instance's, or the CLI's: "
    "the store's revision is read on every request) or the clock's minute turns; `now` "
    "says when it was computed. A bad `limit`, `cursor` or `stage` is a 422 problem.",
)
def status(
    request: Request,
    store: StoreDep,
    _: Viewer,
    deployment: Annotated[
        list[str] | None, Query(description="Default: every one", max_length=100)
    ] = None,
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description=f"Items per page (default {DEFAULT_LIMIT})")
    ] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=2048,
            pattern=r"^[A-Za-z0-9_-]+$",
            description="The `next_cursor` of the previous page (none: the first page)",
        ),
    ] = None,
    stage: Annotated[
        str | None,
        Query(
            max_length=200,
            pattern=r"^[A-Za-z0-9_, -]*$",  # not-yet-valid, missing-san
            description="Only items in these classes, comma-separated (e.g. "
            "`expired,critical`, `30`, `not-yet-valid,damaged`); none: every item",
        ),
    ] = None,
) -> Response:
    names = tuple(deployment) if deployment is not None else None

    def make() -> StatusPages:
        return StatusPages(core.estate_status(store, deployments=deployment))

    pages = _kept(request, store, ("status", names), make)
    try:
        page = pages.page(limit=limit, cursor=cursor, stage=stage)
    except InputError as exc:  # a cursor not made here, a stage no item can be in
        raise ProblemException(422, exc.message, exc.hint, type_="invalid-request") from None
    body = json.dumps(page.to_dict(), separators=(",", ":")).encode()
    return Response(body, media_type="application/json")


class ProbeOut(BaseModel):
    """The newest probe of one endpoint."""

    appliance: str
    kind: str
    address: str
    at: dt.datetime
    verdict: str
    reason: str
    protocol: str | None
    leaf_sha256: str | None
    identity: str | None
    version: int | None
    latency_ms: int | None
    since: dt.datetime | None


@router.get(
    "/deployments/{deployment}/probes",
    response_model=list[ProbeOut],
    tags=["status"],
    summary="Probe results",
)
def probes(deployment: DepName, store: StoreDep, _: Viewer) -> list[ProbeOut]:
    """The newest result of every endpoint probed (``ccapki probe``)."""
    store.use(deployment)
    return [
        ProbeOut(
            appliance=p.appliance,
            kind=p.kind,
            address=p.address,
            at=p.at,
            verdict=p.verdict.value,
            reason=p.reason,
            protocol=p.protocol,
            leaf_sha256=p.leaf_sha256,
            identity=p.identity,
            version=p.version,
            latency_ms=p.latency_ms,
            since=p.since,
        )
        for p in store.probes.latest()
    ]


class ProbeIn(StrictBody):
    """What to probe."""

    target: Literal["auto", "lab", "deployment"] = "auto"
    timeout: float | None = Field(default=None, gt=0, le=60)


@router.post(
    "/deployments/{deployment}/probe",
    response_model=dict[str, Any],
    responses=_JOB_RESPONSE,
    tags=["status"],
    summary="Probe the endpoints (a job)",
)
def probe(
    deployment: DepName, store: StoreDep, user: Operator, body: ProbeIn | None = None
) -> Response | dict[str, Any]:
    """``ccapki probe``: queued as a job (202)."""
    dep = _deployment(store, deployment)
    params: dict[str, object] = {"target": body.target if body else "auto"}
    if body and body.timeout is not None:
        params["timeout"] = body.timeout
    queued = _queued(store, "probe", params, dep.name, user)
    if queued is not None:
        return queued
    # the run's JSON as a plain dict (the route's declared type; ProbeRunDict types it)
    return dict(core.probe_endpoints(store, dep, target=str(params["target"])).to_dict())


@router.get(
    "/deployments/{deployment}/renew/plan",
    response_model=dict[str, Any],
    tags=["status"],
    summary="Renewal plan (dry run)",
    description="`ccapki renew --due` (a dry run): what is due, how each is renewed, the safe "
    "order.",
)
def renew_plan(
    deployment: DepName,
    store: StoreDep,
    _: Viewer,
    name: Annotated[
        list[str] | None, Query(description="Also renew these", max_length=1000)
    ] = None,
    due: bool = True,
) -> dict[str, Any]:
    dep = _deployment(store, deployment)
    return core.plan_renewal(store, dep, names=name or (), due=due).to_dict()


class RenewIn(StrictBody):
    """What to renew."""

    names: list[Annotated[str, Field(max_length=256, pattern=NAME_PATTERN)]] = Field(
        default_factory=list, max_length=10_000
    )
    due: bool = True


@router.post(
    "/deployments/{deployment}/renew",
    response_model=dict[str, Any],
    responses=_JOB_RESPONSE,
    tags=["status"],
    summary="Renew (a job)",
    description="`ccapki renew`: renew what is due (and what is named); a job (202).",
)
def renew(
    deployment: DepName, store: StoreDep, user: Operator, body: RenewIn | None = None
) -> Response | dict[str, Any]:
    dep = _deployment(store, deployment)
    req = body or RenewIn()
    queued = _queued(store, "renew", {"names": req.names, "due": req.due}, dep.name, user)
    if queued is not None:
        return queued
    plan = core.plan_renewal(store, dep, names=req.names, due=req.due)
    return core.commit_renewal(store, dep, plan).to_dict()


# ---- ACME (issue 14): the accounts and orders; an order is a job


class AcmeOrderOut(BaseModel):
    """One ACME order of an identity's certificate."""

    identity: str
    state: str = Field(description="pending, valid, failed or revoked")
    names: list[str]
    order: str | None = Field(description="The order's URL at the CA")
    error: str | None = Field(description="Why it failed")
    updated: dt.datetime


class AcmeAccountOut(BaseModel):
    """An ACME account of the deployment (never its key) and its orders, oldest first."""

    directory: str
    account: str = Field(description="The account's URL at the CA")
    contact: list[str]
    created: dt.datetime
    orders: list[AcmeOrderOut]


@router.get(
    "/deployments/{deployment}/acme",
    response_model=list[AcmeAccountOut],
    tags=["status"],
    summary="ACME accounts and orders",
    description="`ccapki acme status --json`: the accounts and their orders (never a key).",
)
def acme_status(deployment: DepName, store: StoreDep, _: Viewer) -> list[AcmeAccountOut]:
    from ccapki.lifecycle.acme import account_summary

    store.use(deployment)
    return [AcmeAccountOut.model_validate(a) for a in account_summary(store)]


class AcmeOrderIn(StrictBody):
    """What to order."""

    names: list[Annotated[str, Field(max_length=256, pattern=NAME_PATTERN)]] = Field(
        default_factory=list,
        max_length=10_000,
        description="ACME identities ordered now, due or not (empty: those due)",
    )
    due: bool = True


@router.post(
    "/deployments/{deployment}/acme/order",
    response_model=dict[str, Any],
    responses=_JOB_RESPONSE,
    tags=["status"],
    summary="Order ACME certificates (a job)",
    description="`ccapki acme order`: order the named ACME identities, else those due; "
    "a job (202). A name that is not an ACME identity, or a deployment without [acme], is "
    "refused at once (nothing queued).",
)
def acme_order(
    deployment: DepName, store: StoreDep, user: Operator, body: AcmeOrderIn | None = None
) -> Response | dict[str, Any]:
    from ccapki.lifecycle.acme import acme_specs, due_identities, order_identities

    dep = _deployment(store, deployment)
    req = body or AcmeOrderIn()
    if dep.acme is None:
        raise InputError(
            f"deployment {dep.name} has no [acme] table",
            "add [acme] (directory, email, dns) to the deployment file and apply it (docs/acme.md)",
        )
    acme_specs(dep, req.names)  # a name that is not an ACME identity: refused now
    queued = _queued(store, "acme", {"names": req.names, "due": req.due}, dep.name, user)
    if queued is not None:
        return queued
    with store.scoped(dep.name):
        names = req.names or (due_identities(store, dep, store.now()) if req.due else [])
        notes: list[str] = []
        outcomes = order_identities(store, dep, names, report=notes.append) if names else []
    return {
        "notes": notes,
        "orders": [
            {
                "identity": o.prepared.identity,
                "ok": o.ok,
                "version": o.version,
                "error": o.error.message if o.error else None,
                "hint": o.error.hint if o.error else None,
            }
            for o in outcomes
        ],
    }


class AuditOut(BaseModel):
    """One audit-log entry."""

    at: dt.datetime
    action: str
    subject: str
    actor: str | None
    deployment: str | None
    detail: dict[str, Any]


@router.get(
    "/audit",
    response_model=list[AuditOut],
    tags=["status"],
    summary="The audit log, newest first",
)
def audit(
    store: StoreDep, _: Viewer, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[AuditOut]:
    """Who did what, when (every change and every private-key export)."""
    return [
        AuditOut(
            at=e.at,
            action=e.action,
            subject=e.subject,
            actor=e.actor,
            deployment=e.deployment,
            detail=e.detail,
        )
        for e in store.audit.log(limit)
    ]


# ---------------------------------------------------------------------------- admin


class BackupOut(BaseModel):
    """A backup file in the service's backup folder."""

    name: str
    bytes: int
    modified: dt.datetime


def _backup_dir(request: Request) -> Path:
    folder: Path = request.app.state.config.backups
    return folder


@router.get(
    "/backups",
    response_model=list[BackupOut],
    tags=["admin"],
    summary="List the backups made",
)
def list_backups(request: Request, _: Admin) -> list[BackupOut]:
    """The backup files in the service's backup folder (``HOME/backups``), newest first."""
    folder = _backup_dir(request)
    if not folder.is_dir():
        return []
    out = []
    for p in folder.glob("*.backup"):
        st = p.stat()
        out.append(
            BackupOut(
                name=p.name,
                bytes=st.st_size,
                modified=dt.datetime.fromtimestamp(st.st_mtime, dt.UTC),
            )
        )
    return sorted(out, key=lambda b: b.modified, reverse=True)


class BackupIn(StrictBody):
    """How to make a backup."""

    skip_damaged: StrictBool = Field(  # "yes" is not read as true
        default=False,
        description="Back up everything but the keys whose sealed bytes do not open "
        "(`ccapki doctor` lists them), naming them (`ccapki backup create --skip-damaged`); "
        "without it such a key stops the backup",
    )


@router.post(
    "/backups",
    response_model=dict[str, Any],
    responses=_JOB_RESPONSE,
    tags=["admin"],
    summary="Make a backup (a job)",
    description="An encrypted backup of the whole store into the service's backup folder, "
    "under the service's CCAPKI_BACKUP_PASSPHRASE (never sent over HTTP). "
    '`{"skip_damaged": true}` leaves out the keys that do not open, naming them.',
)
def make_backup(
    request: Request, store: StoreDep, user: Admin, body: BackupIn | None = None
) -> Response | dict[str, Any]:
    skip = body is not None and body.skip_damaged
    queued = _queued(store, "backup", {"skip_damaged": True} if skip else {}, None, user)
    if queued is not None:
        return queued
    from ccapki.lifecycle.backups import create_backup

    passphrase = os.environ.get("CCAPKI_BACKUP_PASSPHRASE")
    if not passphrase:
        raise PasswordError(
            "the service has no backup passphrase",
            "start the service with CCAPKI_BACKUP_PASSPHRASE set",
        )
    folder = _backup_dir(request)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    stamp = store.now().strftime("%Y%m%dT%H%M%SZ")
    summary = create_backup(store, folder / f"ccapki-{stamp}.backup", passphrase, skip_damaged=skip)
    return {
        "path": summary.path,
        "bytes": summary.bytes,
        "identities": summary.identities,
        **({"skipped": summary.skipped.as_json()} if summary.skipped else {}),
    }


class UserOut(BaseModel):
    """A service user (never the password)."""

    name: str
    role: Role
    created_at: dt.datetime
    disabled: bool


def _user_out(u: UserRecord) -> UserOut:
    return UserOut(name=u.name, role=u.role, created_at=u.created_at, disabled=not u.active)


class UserIn(StrictBody):
    """A new user."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._@-]+$")
    role: Role
    password: str | None = Field(
        default=None, min_length=8, max_length=1024, description="None: API tokens only"
    )


class UserChange(StrictBody):
    """A change to a user (only the fields given)."""

    role: Role | None = None
    disabled: bool | None = None
    password: str | None = Field(default=None, min_length=8, max_length=1024)


@router.get("/users", response_model=list[UserOut], tags=["admin"], summary="List users")
def list_users(store: StoreDep, _: Admin) -> list[UserOut]:
    """Every user, by name."""
    return [_user_out(u) for u in store.users.list()]


@router.post(
    "/users", response_model=UserOut, status_code=201, tags=["admin"], summary="Add a user"
)
def add_user(body: UserIn, store: StoreDep, _: Admin) -> UserOut:
    """A new user (audited); its password is kept as an Argon2id hash."""
    from ccapki.service.auth import hash_password

    hashed = hash_password(body.password) if body.password else None
    return _user_out(store.users.add(body.name, body.role, hashed))


@router.patch("/users/{name}", response_model=UserOut, tags=["admin"], summary="Change a user")
def change_user(name: UserName, body: UserChange, store: StoreDep, user: Admin) -> UserOut:
    """Change the role, disable or enable, or set the password (audited). Disabling ends
    the user's sessions; an admin cannot demote or disable itself."""
    from ccapki.service.auth import hash_password

    if name.lower() == user.name.lower() and (  # names are unique whatever their case
        body.disabled or (body.role is not None and body.role is not Role.ADMIN)
    ):
        others = [
            u.name
            for u in store.users.list()
            if u.active and u.role is Role.ADMIN and u.name.lower() != user.name.lower()
        ]
        if not others:  # as the store refuses it: the last active admin (409)
            raise ConflictError(
                f"{user.name!r} is the last active admin",
                'make another user admin first (POST /api/v1/users with "role": "admin", '
                'or PATCH /api/v1/users/NAME with "role": "admin"); then that admin may '
                "change this one",
            )
        raise InputError(
            "an admin cannot demote or disable itself",
            f"ask another admin ({', '.join(others[:3])}; so the store always keeps one)",
        )
    hashed = hash_password(body.password) if body.password else None
    return _user_out(
        store.users.update(name, role=body.role, password_hash=hashed, disabled=body.disabled)
    )


class TokenOut(BaseModel):
    """An API token's record (never the token)."""

    id: int
    user: str
    label: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    last_used_at: dt.datetime | None
    revoked: bool


class NewToken(TokenOut):
    """A new API token: ``token`` is shown this once."""

    token: str


class TokenIn(StrictBody):
    """A new token's label and lifetime."""

    label: str = Field(default="", max_length=128, pattern=r"^[^\x00-\x1f\x7f]*$")
    expires_days: int | None = Field(default=None, ge=1, le=3650, description="None: never")


def _token_out(t: TokenRecord, user: str) -> dict[str, Any]:
    return {
        "id": t.id,
        "user": user,
        "label": t.label,
        "created_at": t.created_at,
        "expires_at": t.expires_at,
        "last_used_at": t.last_used_at,
        "revoked": t.revoked_at is not None,
    }


@router.get(
    "/users/{name}/tokens",
    response_model=list[TokenOut],
    tags=["admin"],
    summary="List a user's API tokens",
)
def list_tokens(name: UserName, store: StoreDep, _: Admin) -> list[TokenOut]:
    """The user's tokens (never the tokens themselves)."""
    u = store.users.get(name)
    return [TokenOut(**_token_out(t, u.name)) for t in store.tokens.list(u)]


@router.post(
    "/users/{name}/tokens",
    response_model=NewToken,
    status_code=201,
    tags=["admin"],
    summary="Make an API token",
    description="The token is in this answer only: the store keeps its SHA-256.",
)
def make_token(name: UserName, body: TokenIn, store: StoreDep, _: Admin) -> JSONResponse:
    owner = store.users.get(name)
    token, record = issue_token(store, owner, body.label, body.expires_days)
    out = NewToken(**_token_out(record, owner.name), token=token)
    return JSONResponse(out.model_dump(mode="json"), 201, headers={"Cache-Control": "no-store"})


@router.delete(
    "/tokens/{token_id}",
    status_code=204,
    response_class=Response,
    tags=["admin"],
    summary="Revoke an API token",
)
def revoke_token(token_id: TokenId, store: StoreDep, _: Admin) -> Response:
    """Revoke the token (404: no live token of that id)."""
    store.tokens.revoke(token_id)
    return Response(status_code=204)
