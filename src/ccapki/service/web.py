"""The web dashboard: server-rendered HTML pages over :mod:`ccapki.api` (``router``).

Pages (every one needs a login; the role each action needs is the API's):

- ``GET /login``: the login form (``POST /login`` and ``POST /logout`` are
  :mod:`ccapki.service.auth`'s);
- ``GET /``: the deployment as a picture (:mod:`ccapki.service.svg`: CAM, CAS, HA pairs and
  the trust links from ``trust check``) and what needs doing;
- ``GET /inventory``: every certificate by days left, and the expiry timeline;
- ``GET /trust``: the channel matrix, the findings, the trust plan; ``POST /trust/apply``
  (operator) carries the plan out;
- ``GET /certificates``: the identities; ``POST /csr`` (operator) makes a CSR and downloads
  it; ``POST /upload`` (operator) imports what a CA sent, showing the CLI's diagnoses;
- ``GET /probes``: what each appliance serves and since when; ``POST /probe`` (operator)
  queues a probe job;
- ``GET /audit``: the audit log; ``GET /jobs``: background jobs, ``POST /jobs/ID/cancel``;
- ``GET /picture.svg``, ``GET /identities/NAME/cert.pem``: the picture and a certificate.

A page picks the deployment with ``?deployment=NAME`` (default: the store's only one, else
the first). A session-authenticated form post carries the session's CSRF token (checked by
:func:`ccapki.service.auth.current_user`). No inline script or style anywhere (the CSP
forbids both): one stylesheet and one small script under ``/static/``. Errors are pages
showing the CLI's ``error:`` and ``hint:``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from ccapki import __version__, api
from ccapki.errors import CcapkiError, NotFoundError
from ccapki.service.auth import (
    current_session,
    current_user,
    login_csrf,
    require,
    throttled_hint,
    wait_words,
)
from ccapki.service.config import (
    MAX_UPLOAD_FILE_BYTES,
    MAX_UPLOAD_FILES,
    ServiceConfig,
    check_upload_count,
    check_upload_size,
)
from ccapki.service.problems import ProblemException, status_of
from ccapki.service.svg import deployment_svg, expiry_timeline_svg, stage_class, warn_words
from ccapki.store.records import Role, UserRecord
from ccapki.topology.model import Channel

if TYPE_CHECKING:
    from ccapki.lifecycle.status import StatusItem, StatusReport
    from ccapki.store.session import Store
    from ccapki.topology.model import Deployment

__all__ = ["STATIC", "TEMPLATES", "error_page", "router", "upload_hint"]

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
#: the content types of the static files served
_STATIC_TYPES = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}
#: at most this many rows in the inventory table (the rest: ``ccapki status --json``)
INVENTORY_ROWS = 500
#: at most this many audit entries on the audit page
AUDIT_ROWS = 200

templates = Jinja2Templates(directory=str(TEMPLATES))
router = APIRouter(include_in_schema=False)


# ---------------------------------------------------------------------------- who asks


async def page_user(request: Request) -> UserRecord | None:
    """Dependency: the logged-in user (:func:`current_user`: session or token; a form post
    must carry the session's CSRF token), or None, keeping why in
    ``request.state.page_problem`` (a page answers with the login form or an error page,
    never JSON). Raises nothing."""
    try:
        return await current_user(request)
    except ProblemException as exc:
        request.state.page_problem = exc
        return None


def page_role(role: Role) -> Callable[..., Any]:
    """Dependency factory: the user when :func:`require` ``(role)`` lets them through,
    else None (why in ``request.state.page_problem``). Raises nothing."""
    check = require(role)

    async def dependency(request: Request) -> UserRecord | None:
        user = await page_user(request)
        if user is None:
            return None
        try:
            return await check(user)
        except ProblemException as exc:
            request.state.page_problem = exc
            return None

    dependency.__name__ = f"page_{role.value}"
    return dependency


Viewer = Annotated[UserRecord | None, Depends(page_role(Role.VIEWER))]
Operator = Annotated[UserRecord | None, Depends(page_role(Role.OPERATOR))]
DeploymentQuery = Annotated[str | None, Query(max_length=200)]


def _refused(request: Request) -> Response:
    """The answer when :func:`page_user` found no user: to the login form (a page that
    needs a login), or an error page (a bad CSRF token, a role that does not allow it)."""
    problem = getattr(request.state, "page_problem", None)
    if isinstance(problem, ProblemException) and problem.status != 401:
        user = getattr(request.state, "user", None)
        return _error_page(
            request,
            user if isinstance(user, UserRecord) else None,
            problem.status,
            problem.error,
            problem.hint,
        )
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET":
        target = "/"
    query = {"next": target}
    if isinstance(problem, ProblemException) and problem.error.startswith("the session has"):
        # a session cookie the store no longer knows: the login page says why (and, for a
        # form, that it was not carried out)
        query["error"] = "ended" if request.method == "GET" else "ended-form"
    return RedirectResponse("/login?" + urlencode(query), 303)


# ---------------------------------------------------------------------------- rendering


@dataclass(frozen=True)
class Message:
    """A message on top of a page: ``kind`` ``ok``, ``info`` or ``error``."""

    kind: str
    title: str
    text: str = ""
    hint: str = ""
    lines: tuple[str, ...] = ()


_NAV = (
    ("overview", "Overview", "/"),
    ("inventory", "Inventory", "/inventory"),
    ("trust", "Trust", "/trust"),
    ("certificates", "CSRs & upload", "/certificates"),
    ("probes", "Served", "/probes"),
    ("audit", "Audit log", "/audit"),
)


def _jobs_enabled() -> bool:
    import importlib.util

    return importlib.util.find_spec("ccapki.service.jobs") is not None


def _stage_words(item: StatusItem) -> str:
    if item.stage == "pending":
        return "CSR pending"
    if item.stage == "expired":
        return "expired"
    if item.stage == "missing":
        return "no certificate"
    if item.stage == "damaged":  # the stored certificate is not the row's
        return "stored certificate damaged (run ccapki doctor)"
    if item.stage == "not-yet-valid" and item.in_use:  # its note says until when, the fix
        return "not valid yet (every client refuses it: see the note)"
    if not item.in_use:
        return "unused"
    days = f"{item.days_left} days" if item.days_left is not None else "no date"
    if item.stage == "rollover":  # a CA that will get a successor at the next renewal
        return f"{days} (successor at the next renewal)"
    if item.stage == "missing-san":  # lacks names the file gives: see its note
        return f"{days} (names missing: a new certificate is needed)"
    return days if item.stage == "ok" else f"{days} (\u2264 {item.stage})"


def _render(
    request: Request,
    template: str,
    user: UserRecord | None,
    *,
    title: str,
    active: str = "",
    status: int = 200,
    deployment: str | None = None,
    deployments: Sequence[str] = (),
    messages: Sequence[Message] = (),
    **context: Any,
) -> HTMLResponse:
    session = current_session(request)
    warn_days = context.get("warn_days") or (60, 30, 7)
    carry = deployment if len(deployments) > 1 else None

    def url(path: str) -> str:
        return f"{path}?deployment={quote(carry)}" if carry else path

    nav = list(_NAV)
    if _jobs_enabled():
        nav.append(("jobs", "Jobs", "/jobs"))
    response = templates.TemplateResponse(
        request,
        template,
        {
            "title": title,
            "user": user,
            "active": active,
            "nav": nav,
            "csrf_token": session.csrf_token if session is not None else "",
            "deployment": deployment,
            "deployments": list(deployments),
            "messages": list(messages),
            "url": url,
            "static": lambda name: f"/static/{name}?v={__version__}",
            "stage_class": lambda i: stage_class(i.stage, warn_days, in_use=i.in_use),
            "stage_words": _stage_words,
            "warn_words": lambda matrix: warn_words(matrix.warnings),
            **context,
        },
        status_code=status,
    )
    response.headers["cache-control"] = "no-store"
    return response


def _error_page(
    request: Request, user: UserRecord | None, status: int, error: str, hint: str
) -> HTMLResponse:
    return _render(
        request,
        "error.html",
        user,
        title="Error" if status != 403 else "Not allowed",
        status=status,
        error=error,
        hint=hint,
    )


def error_page(request: Request, status: int, error: str, hint: str) -> HTMLResponse:
    """The error page (``error:`` and ``hint:`` in words, status ``status``) for a request
    the service refused before a page could answer it (a stale login form, an upload too
    large or with no file, the database away...), as the user found so far sees it.
    Returns the page; raises nothing."""
    user = getattr(request.state, "user", None)
    found = user if isinstance(user, UserRecord) else None
    return _error_page(request, found, status, error, hint)


# ---------------------------------------------------------------------------- data


@dataclass
class _Ctx:
    """One page's store (a fork acting for the user) and deployment."""

    store: Store
    deployments: list[str]
    name: str
    dep: Deployment


@contextlib.contextmanager
def _context(request: Request, user: UserRecord, wanted: str | None) -> Iterator[_Ctx]:
    """The request's store (a fork of the app's, the user as its audit actor) and the
    deployment asked for (default: the first the store holds a file of). Raises
    :class:`NotFoundError` when the store holds no such deployment (or none at all)."""
    app_store: Store = request.app.state.store
    store = app_store.fork(actor=user.name)
    try:
        names = [s.name for s in store.deployments.summary() if s.last_applied is not None]
        if wanted is not None and wanted not in names:
            raise NotFoundError(
                f"the store holds no deployment {wanted!r}",
                f"use one of: {', '.join(names)}" if names else "apply a deployment first",
            )
        if not names:
            raise NotFoundError(
                "the store holds no deployment yet",
                "apply a deployment file first: `ccapki apply FILE` (or POST it to the API)",
            )
        name = wanted or names[0]
        dep = api.stored_deployment(store, name)
        yield _Ctx(store.fork(deployment=name, actor=user.name), names, name, dep)
    finally:
        store.close()


def _trust(ctx: _Ctx) -> tuple[Any, Message | None]:
    """The deployment's trust matrix, or None and the error as a message."""
    try:
        return api.check_trust(ctx.store, ctx.dep), None
    except CcapkiError as exc:
        return None, Message("error", "trust not checked:", exc.message, exc.hint)


def _failing(matrix: Any) -> int:
    return 0 if matrix is None else sum(1 for c in matrix.cells if c.ok is False)


def _picture(ctx: _Ctx, matrix: Any) -> Markup:
    # deployment_svg escapes every text it draws: the markup is safe to embed
    return Markup(deployment_svg(ctx.dep, matrix))  # noqa: S704


# ---------------------------------------------------------------------------- pages


@router.get("/static/{name}")
def static_file(name: str) -> Response:
    """One file of the dashboard's static folder (no listing, no sub-folders)."""
    path = STATIC / name
    if "/" in name or "\\" in name or name.startswith(".") or not path.is_file():
        raise ProblemException(404, f"no static file {name!r}", "")
    media = _STATIC_TYPES.get(path.suffix, "application/octet-stream")
    return FileResponse(path, media_type=media, headers={"cache-control": "max-age=3600"})


def _longest_wait(request: Request) -> str:
    """A throttled login's hint when the wait is not known (a link without ``retry``): the
    longest a throttle lasts, the service's login window."""
    config: ServiceConfig = request.app.state.config
    window = int(config.login_window.total_seconds())
    return f"wait up to {wait_words(window)}, or ask an admin to check the audit log"


@router.get("/login", response_class=HTMLResponse)
def login_page(
    request: Request,
    user: Annotated[UserRecord | None, Depends(page_user)],
    error: Annotated[str | None, Query(max_length=40)] = None,
    next: Annotated[str, Query(max_length=2048)] = "/",
    retry: Annotated[int | None, Query(ge=1, le=366 * 86400)] = None,
) -> Response:
    """The login form (its CSRF token is the double-submit cookie's); a user logged in
    already goes on to ``next``. After a throttled login (``error=throttled``), ``retry``
    is the seconds its ``Retry-After`` said: the page says that wait."""
    local = next.startswith("/") and not next.startswith("//") and "\\" not in next
    safe_next = next if local else "/"
    if user is not None and error in (None, "csrf", "ended", "ended-form"):
        return RedirectResponse(safe_next, 303)  # "csrf", "ended": another tab logged in
    messages = []
    if error in ("ended", "ended-form"):  # a page or form sent with an ended session
        messages.append(
            Message(
                "error",
                "error:",
                "your session has ended (it expired, or you logged out)"
                + (": the form you sent was not carried out" if error == "ended-form" else ""),
                "log in again" + (", then send the form again" if error == "ended-form" else ""),
            )
        )
    if error == "invalid":
        messages.append(
            Message("error", "error:", "wrong name or password", "check both and try again")
        )
    elif error == "csrf":
        messages.append(
            Message(
                "error",
                "error:",
                "the login form had expired (it was old, or another tab logged in)",
                "type your name and password again in this new form",
            )
        )
    elif error == "throttled":
        messages.append(
            Message(
                "error",
                "error:",
                "too many failed logins",
                throttled_hint(retry) if retry is not None else _longest_wait(request),
            )
        )
    cookies = Response()
    token = login_csrf(request, cookies)  # sets the cookie on ``cookies`` when new
    response = _render(
        request,
        "login.html",
        None,
        title="Log in",
        messages=messages,
        next=safe_next,
        csrf_token=token,
    )
    for key, value in cookies.raw_headers:
        if key == b"set-cookie":
            response.headers.append("set-cookie", value.decode("latin-1"))
    return response


def _trusted_on(report: StatusReport) -> dict[str, str]:
    """fingerprint -> where a trust-store root row (:meth:`StatusReport.rows`: one per
    root) is trusted, as ``ccapki status`` says it: "on cam-a", "on 10 appliances: cam-a,
    cam-b, cas-annex, cas-clinic +6". Raises nothing."""
    held: dict[str, list[str]] = {}
    for i in report.items:
        if i.kind == "trust-root":
            held.setdefault(i.fingerprint, []).append(i.name.partition(": ")[0])
    out: dict[str, str] = {}
    for fp, names in held.items():
        if len(names) == 1:
            out[fp] = f"on {names[0]}"
        else:
            more = f" +{len(names) - 4}" if len(names) > 4 else ""
            out[fp] = f"on {len(names)} appliances: {', '.join(names[:4])}{more}"
    return out


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, user: Viewer, deployment: DeploymentQuery = None) -> Response:
    """The deployment's picture and what needs doing."""
    if user is None:
        return _refused(request)
    try:
        with _context(request, user, deployment) as ctx:
            matrix, trouble = _trust(ctx)
            report = api.estate_status(ctx.store, deployments=[ctx.name])
            plan = api.plan_trust(ctx.store, ctx.dep)
            soonest = [i for i in report.rows() if i.in_use and i.not_after is not None]
            soonest.sort(key=lambda i: i.days_left if i.days_left is not None else 10**9)
            return _render(
                request,
                "overview.html",
                user,
                title=f"Overview: {ctx.name}",
                active="overview",
                deployment=ctx.name,
                deployments=ctx.deployments,
                messages=[trouble] if trouble else [],
                dep=ctx.dep,
                matrix=matrix,
                failing=_failing(matrix),
                picture=_picture(ctx, matrix),
                report=report,
                counts=report.counts(),
                warn_days=report.warn_days.get(ctx.name, (60, 30, 7)),
                soonest=soonest[:6],
                plan_count=len(plan),
            )
    except CcapkiError as exc:
        return _error_page(request, user, status_of(exc), exc.message, exc.hint)


@router.get("/picture.svg")
def picture_svg(request: Request, user: Viewer, deployment: DeploymentQuery = None) -> Response:
    """The deployment's picture as an SVG file."""
    if user is None:
        return _refused(request)
    try:
        with _context(request, user, deployment) as ctx:
            matrix, _ = _trust(ctx)
            svg = deployment_svg(ctx.dep, matrix)
    except CcapkiError as exc:
        return _error_page(request, user, status_of(exc), exc.message, exc.hint)
    return Response(
        '<?xml version="1.0" encoding="UTF-8"?>\n' + svg,
        media_type="image/svg+xml",
        headers={"cache-control": "no-store"},
    )


@router.get("/inventory", response_class=HTMLResponse)
def inventory(
    request: Request,
    user: Viewer,
    deployment: DeploymentQuery = None,
    kind: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    """Every certificate by days left, with the expiry timeline."""
    if user is None:
        return _refused(request)
    try:
        with _context(request, user, deployment) as ctx:
            report = api.estate_status(ctx.store, deployments=[ctx.name])
    except CcapkiError as exc:
        return _error_page(request, user, status_of(exc), exc.message, exc.hint)
    warn_days = report.warn_days.get(ctx.name, (60, 30, 7))
    rows = report.rows()  # as `ccapki status` lists them: a root once, where it is trusted
    items = [i for i in rows if not kind or i.kind == kind]
    timeline = expiry_timeline_svg(rows, report.now, warn_days=warn_days)
    return _render(
        request,
        "inventory.html",
        user,
        title=f"Inventory: {ctx.name}",
        active="inventory",
        deployment=ctx.name,
        deployments=ctx.deployments,
        report=report,
        warn_days=warn_days,
        items=items[:INVENTORY_ROWS],
        total=len(items),
        more=len(items) > INVENTORY_ROWS,
        kinds=sorted({i.kind for i in report.items}),
        kind=kind or "",
        trusted_on=_trusted_on(report),
        timeline=Markup(timeline),  # noqa: S704 (expiry_timeline_svg escapes its texts)
    )


@dataclass(frozen=True)
class _WhatIf:
    """A rotation what-if asked on the trust page: its question and answer (or error)."""

    identity: str
    to_source: str
    breaks: tuple[str, ...] = ()
    steps: tuple[tuple[int, str], ...] = ()
    error: CcapkiError | None = None


def _what_if(ctx: _Ctx, identity: str | None, to_source: str | None) -> _WhatIf | None:
    if not identity:
        return None
    try:
        breaks, steps = api.rotation_what_if(
            ctx.store, ctx.dep, identity, to_source=to_source or None
        )
    except CcapkiError as exc:
        return _WhatIf(identity, to_source or "", error=exc)
    return _WhatIf(identity, to_source or "", tuple(breaks), tuple(steps))


def _trust_page(
    request: Request,
    user: UserRecord,
    ctx: _Ctx,
    *,
    prune: bool,
    applied: list[str] | None = None,
    status: int = 200,
    what_if: _WhatIf | None = None,
) -> HTMLResponse:
    matrix, trouble = _trust(ctx)
    changes = api.plan_trust(ctx.store, ctx.dep, prune=prune)
    cells = {} if matrix is None else {(c.appliance, c.channel): c for c in matrix.cells}
    return _render(
        request,
        "trust.html",
        user,
        title=f"Trust: {ctx.name}",
        active="trust",
        status=status,
        deployment=ctx.name,
        deployments=ctx.deployments,
        dep=ctx.dep,
        matrix=matrix,
        trust_error=trouble.text if trouble else None,
        trust_hint=trouble.hint if trouble else None,
        failing=_failing(matrix),
        picture=_picture(ctx, matrix),
        channels=list(Channel),
        cells=cells,
        failures=[] if matrix is None else [c for c in matrix.cells if c.ok is False],
        warnings=[] if matrix is None else list(matrix.warnings.items()),
        changes=changes,
        prune=prune,
        applied=applied,
        what_if=what_if,
        sources=("internal", "self-signed", "perfigo"),
        can_operate=user.role.allows(Role.OPERATOR),
    )


@router.get("/trust", response_class=HTMLResponse)
def trust(
    request: Request,
    user: Viewer,
    deployment: DeploymentQuery = None,
    prune: Annotated[bool, Query()] = False,
    rotate: Annotated[str | None, Query(max_length=200)] = None,
    to_source: Annotated[str | None, Query(max_length=40)] = None,
    applied: Annotated[int | None, Query(ge=0, le=1_000_000)] = None,
) -> Response:
    """The channel matrix, its findings, the trust plan (with its Apply button), and the
    rotation what-if of ``rotate`` (to ``to_source``); ``applied``: the number of changes
    the Apply button just made (where it redirects to), shown from the audit log."""
    if user is None:
        return _refused(request)
    try:
        with _context(request, user, deployment) as ctx:
            what_if = _what_if(ctx, rotate, to_source)
            done = None if applied is None else _trust_changes_made(ctx, user, applied)
            return _trust_page(request, user, ctx, prune=prune, what_if=what_if, applied=done)
    except CcapkiError as exc:
        return _error_page(request, user, status_of(exc), exc.message, exc.hint)


#: The trust page lists at most this many of the changes the Apply button made.
_APPLIED_SHOWN = 200


def _trust_changes_made(ctx: _Ctx, user: UserRecord, count: int) -> list[str]:
    """The newest ``count`` trust-store changes ``user`` made in ``ctx``'s deployment (at
    most :data:`_APPLIED_SHOWN`), in words, from the audit log."""
    count = min(count, _APPLIED_SHOWN)
    if count == 0:
        return []
    out: list[str] = []
    for e in ctx.store.audit.log(count * 2 + 100):
        if e.actor != user.name or e.deployment not in (ctx.name, None):
            continue
        what = str(e.detail.get("label") or e.detail.get("fingerprint") or "")
        if e.action == "trust-add":
            out.append(f"add {what} to the trust store of {e.subject}")
        elif e.action == "trust-remove":
            out.append(f"remove {what} from the trust store of {e.subject}")
        if len(out) == count:
            break
    return out[::-1]


@router.post("/trust/apply", response_class=HTMLResponse)
def trust_apply(
    request: Request,
    user: Operator,
    deployment: DeploymentQuery = None,
    prune: Annotated[bool, Form()] = False,
) -> Response:
    """Carry out the trust plan in the store (operator; audited, as ``trust apply``), then
    redirect (303) to the trust page, which shows what was done (a reload sends nothing)."""
    if user is None:
        return _refused(request)
    try:
        with _context(request, user, deployment) as ctx:
            changes = api.apply_trust(ctx.store, ctx.dep, prune=prune)
            query: dict[str, str | int] = {}
            if deployment is not None or len(ctx.deployments) > 1:
                query["deployment"] = ctx.name
            if prune:
                query["prune"] = 1
            query["applied"] = len(changes)
            return RedirectResponse("/trust?" + urlencode(query) + "#plan", 303)
    except CcapkiError as exc:
        return _error_page(request, user, status_of(exc), exc.message, exc.hint)


def _certificates_page(
    request: Request,
    user: UserRecord,
    ctx: _Ctx,
    *,
    result: Any = None,
    upload_error: CcapkiError | None = None,
    status: int = 200,
) -> HTMLResponse:
    from ccapki.lifecycle.importing import source_warning
    from ccapki.topology.model import Source

    report = api.estate_status(ctx.store, deployments=[ctx.name])
    current = {i.name: i for i in report.items if i.kind == "identity"}
    # what `ccapki csr` warns of a CSR for an identity ccapki issues itself
    source_warnings = {
        spec.name: source_warning(spec.name, spec.source)
        for spec in ctx.dep.identities
        if spec.source is not Source.THIRD_PARTY
    }
    return _render(
        request,
        "certificates.html",
        user,
        title=f"CSRs and certificates: {ctx.name}",
        active="certificates",
        status=status,
        deployment=ctx.name,
        deployments=ctx.deployments,
        dep=ctx.dep,
        current=current,
        warn_days=report.warn_days.get(ctx.name, (60, 30, 7)),
        result=result,
        upload_error=upload_error,
        source_warnings=source_warnings,
        can_operate=user.role.allows(Role.OPERATOR),
        max_files=MAX_UPLOAD_FILES,
        max_file_kib=MAX_UPLOAD_FILE_BYTES // 1024,
    )


@router.get("/certificates", response_class=HTMLResponse)
def certificates(request: Request, user: Viewer, deployment: DeploymentQuery = None) -> Response:
    """The identities, the CSR form and the upload form."""
    if user is None:
        return _refused(request)
    try:
        with _context(request, user, deployment) as ctx:
            return _certificates_page(request, user, ctx)
    except CcapkiError as exc:
        return _error_page(request, user, status_of(exc), exc.message, exc.hint)


@router.post("/csr")
def make_csr(
    request: Request,
    user: Operator,
    identity: Annotated[str, Form(max_length=200)],
    deployment: DeploymentQuery = None,
) -> Response:
    """A new pending key and a CSR for ``identity``, downloaded as ``IDENTITY.csr``."""
    if user is None:
        return _refused(request)
    try:
        with _context(request, user, deployment) as ctx:
            (made,) = api.make_csrs(ctx.store, ctx.dep, [identity])
    except CcapkiError as exc:
        return _error_page(request, user, status_of(exc), exc.message, exc.hint)
    filename = f"{made.identity}.csr"
    return Response(
        made.pem,
        media_type="application/pkcs10",
        headers={
            "content-disposition": f'attachment; filename="{filename}"',
            "cache-control": "no-store",
        },
    )


#: The CLI's words in an import's hints -> (the upload form's, the import API's).
_UPLOAD_WORDS: tuple[tuple[str, str, str], ...] = (
    (
        "give the export password (--password, or answer the prompt)",
        "type the export password in the PKCS#12 or key password field and upload again",
        "send the export password in the `password` form field",
    ),
    (
        "import it together with the certificate: ccapki import CERT --key KEYFILE",
        "upload it together with the certificate (choose both files at once)",
        "send it together with the certificate (both files in the `files` field of one request)",
    ),
    (
        "import the key saved when the CSR was made (`ccapki import CERT --key KEYFILE`)",
        "upload the key saved when the CSR was made together with the certificate (choose "
        "both files at once)",
        "send the key saved when the CSR was made together with the certificate (both "
        "files in the `files` field of one request)",
    ),
    (
        "make a new CSR (`ccapki csr IDENTITY`)",
        "make a new CSR (Download the CSR, above)",
        "make a new CSR (POST /api/v1/deployments/{deployment}/csrs)",
    ),
    (
        "import anyway with --force",
        "upload again with \u201cimport even if it does not fit the plan\u201d ticked",
        "send again with the `force` form field true",
    ),
    (
        "with --identity NAME",
        "in the Identity field",
        "in the `identity` form field",
    ),
)


def upload_hint(hint: str, *, api: bool = False) -> str:
    """An import's hint with the CLI's options and commands in the words of the upload
    form (or, ``api``, of the import API's fields). Raises nothing."""
    for cli, form, fields in _UPLOAD_WORDS:
        hint = hint.replace(cli, fields if api else form)
    return hint


def _read_upload(files: Sequence[tuple[str, bytes]], password: str | None) -> list[Any]:
    """The uploaded files parsed in memory (an uploaded private key never touches the
    disk) as :func:`ccapki.api.read_files` parses files on disk, each named by its file
    name in every message. Raises what that raises."""
    from ccapki.pki.formats import parse_material

    pw = password.encode() if password else None
    return [parse_material(data, source=name, password=pw) for name, data in files]


@router.post("/upload", response_class=HTMLResponse)
def upload(
    request: Request,
    user: Operator,
    files: Annotated[list[UploadFile], File()],
    password: Annotated[str, Form(max_length=1024)] = "",
    identity: Annotated[str, Form(max_length=200)] = "",
    force: Annotated[bool, Form()] = False,
    deployment: DeploymentQuery = None,
) -> Response:
    """Import what a CA sent (``ccapki import``): all or nothing; a refusal shows the
    CLI's error and hint (e.g. "private key not found")."""
    if user is None:
        return _refused(request)
    try:
        with _context(request, user, deployment) as ctx:
            try:
                check_upload_count(len(files))  # the import API's limit and words too
                named = []
                for n, f in enumerate(files, start=1):
                    # one byte over the limit, so it is refused saying why
                    name = Path(f.filename or "").name or f"upload-{n}"
                    data = f.file.read(MAX_UPLOAD_FILE_BYTES + 1)
                    check_upload_size(name, len(data))  # the import API's limit and words
                    named.append((name, data))
                materials = _read_upload(named, password or None)
                result = api.import_materials(
                    ctx.store, ctx.dep, materials, force=force, identity=identity or None
                )
            except CcapkiError as exc:
                exc.hint = upload_hint(exc.hint)
                return _certificates_page(
                    request, user, ctx, upload_error=exc, status=status_of(exc)
                )
            return _certificates_page(request, user, ctx, result=result)
    except CcapkiError as exc:
        return _error_page(request, user, status_of(exc), exc.message, exc.hint)


@router.get("/identities/{name}/cert.pem")
def certificate_pem(
    request: Request, name: str, user: Viewer, deployment: DeploymentQuery = None
) -> Response:
    """The current certificate of identity ``name`` with its chain (PEM; no key)."""
    if user is None:
        return _refused(request)
    try:
        with _context(request, user, deployment) as ctx:
            spec = ctx.dep.identity(name)
            data = api.export(ctx.store, spec.name, "fullchain")
    except CcapkiError as exc:
        return _error_page(request, user, status_of(exc), exc.message, exc.hint)
    return Response(
        data,
        media_type="application/x-pem-file",
        headers={"content-disposition": f'attachment; filename="{spec.name}.pem"'},
    )


@router.get("/probes", response_class=HTMLResponse)
def probes(request: Request, user: Viewer, deployment: DeploymentQuery = None) -> Response:
    """What each appliance's endpoints served at their last probe, and since when."""
    if user is None:
        return _refused(request)
    try:
        with _context(request, user, deployment) as ctx:
            report = api.estate_status(ctx.store, deployments=[ctx.name])
    except CcapkiError as exc:
        return _error_page(request, user, status_of(exc), exc.message, exc.hint)
    served = [(i, s) for i in report.items if i.kind == "identity" for s in i.served]
    return _render(
        request,
        "probes.html",
        user,
        title=f"Served: {ctx.name}",
        active="probes",
        deployment=ctx.name,
        deployments=ctx.deployments,
        served=served,
        jobs_enabled=_jobs_enabled(),
        can_operate=user.role.allows(Role.OPERATOR),
    )


@router.post("/probe")
def probe(request: Request, user: Operator, deployment: DeploymentQuery = None) -> Response:
    """Queue a probe of the deployment's endpoints (a background job), then the jobs page."""
    if user is None:
        return _refused(request)
    try:
        from ccapki.service import jobs

        with _context(request, user, deployment) as ctx:
            jobs.submit(ctx.store, "probe", {"target": "auto"}, deployment=ctx.name, user=user)
    except CcapkiError as exc:
        return _error_page(request, user, status_of(exc), exc.message, exc.hint)
    except ImportError:
        return _error_page(request, user, 404, "background jobs are not available", "")
    return RedirectResponse("/jobs", 303)


@router.get("/audit", response_class=HTMLResponse)
def audit(request: Request, user: Viewer) -> Response:
    """The newest entries of the audit log: who did what, when."""
    if user is None:
        return _refused(request)
    app_store: Store = request.app.state.store
    entries = app_store.audit.log(AUDIT_ROWS)
    return _render(request, "audit.html", user, title="Audit log", active="audit", entries=entries)


@router.get("/jobs", response_class=HTMLResponse)
def jobs_page(request: Request, user: Viewer) -> Response:
    """The newest background jobs of every instance."""
    if user is None:
        return _refused(request)
    app_store: Store = request.app.state.store
    return _render(
        request,
        "jobs.html",
        user,
        title="Jobs",
        active="jobs",
        jobs=app_store.jobs.list(limit=100),
        can_operate=user.role.allows(Role.OPERATOR),
    )


@router.post("/jobs/{job_id}/cancel")
def cancel_job(request: Request, job_id: int, user: Operator) -> Response:
    """Cancel a job (operator; audited, as ``POST /api/v1/jobs/ID/cancel``)."""
    if user is None:
        return _refused(request)
    try:
        from ccapki.service import jobs

        jobs.cancel_job(request, job_id, user)
    except CcapkiError as exc:
        return _error_page(request, user, status_of(exc), exc.message, exc.hint)
    return RedirectResponse("/jobs", 303)
