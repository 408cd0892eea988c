"""Who is asking, and what they may do.

Two ways in: an API token (``Authorization: Bearer TOKEN``, made by ``ccapki users token``
or ``POST /api/v1/users/NAME/tokens``; the store keeps only its SHA-256) or a web session
(the cookie ``ccapki_session`` set by ``POST /login``: HttpOnly, SameSite=Strict, Secure on
TLS; the store keeps only its SHA-256). Roles (:class:`~ccapki.store.records.Role`):
viewer reads, operator also issues, imports, makes CSRs, applies trust stores and renews,
admin also exports private keys, makes backups and manages users.

CSRF: a request authenticated by the session cookie that changes something (any method but
GET, HEAD, OPTIONS) must carry the session's CSRF token, as the form field ``csrf_token``
or the header ``X-CSRF-Token`` (403 otherwise); :func:`current_user` checks it, so no form
can forget. Token-authenticated calls need none (a browser never sends a bearer token by
itself). The login form has no session yet: its token is a double-submit cookie
(``ccapki_login_csrf``, see :func:`login_csrf`).

Failed logins are counted in the store (every instance sees them), within
``login_window`` (15 minutes): 5 for one name from one address lock that pair (429 with
``Retry-After``) but no other user of that address; 20 from one address lock the
address (a lock's ``Retry-After``: until enough of those failures age out of the window
that fewer than the limit are left); 10 for one name from anywhere slow that name to one
attempt per 30 seconds (a delay, never a long lockout). The address is the peer's, or
behind ``trusted_proxy`` the last hop of ``X-Forwarded-For`` (:func:`client_address`).

Authentication comes before the body (:class:`AuthenticateFirst`): a route that needs a
user answers an anonymous request 401 without reading its body; :class:`BodyLimit`
refuses a body over the configured size (413).

Security headers (:class:`SecurityHeaders`): a CSP without inline script, nosniff, no
referrer, no framing, HSTS on TLS.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import ipaddress
import math
import secrets
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlencode

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ccapki.errors import InputError
from ccapki.service.problems import (
    BODY_LIMIT_HINT,
    PROBLEM_RESPONSES,
    STORE_REPLACED,
    ProblemException,
    answer,
    app_routes,
    database_down,
    problem,
    schema_moved,
    schema_moved_words,
)
from ccapki.store.records import Role, SessionRecord, TokenRecord, UserRecord

if TYPE_CHECKING:
    from ccapki.service.config import ServiceConfig
    from ccapki.store.session import Store

__all__ = [
    "CSP",
    "LOGIN_CSRF_COOKIE",
    "SESSION_COOKIE",
    "AuthenticateFirst",
    "BodyLimit",
    "LoginResult",
    "SecurityHeaders",
    "client_address",
    "csrf_check",
    "current_session",
    "current_user",
    "hash_password",
    "issue_token",
    "login_csrf",
    "new_secret",
    "request_store",
    "require",
    "router",
    "throttled_hint",
    "verify_password",
    "wait_words",
]

SESSION_COOKIE = "ccapki_session"
LOGIN_CSRF_COOKIE = "ccapki_login_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})

#: the longest password the login form (and the API) takes, in characters
MAX_PASSWORD = 1024
_hasher = PasswordHasher()  # Argon2id, argon2-cffi's defaults (RFC 9106 low-memory)
#: verified when the name is unknown, so a wrong name takes as long as a wrong password
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


# ---------------------------------------------------------------------------- secrets


def new_secret() -> str:
    """A new random secret (token, session cookie, CSRF token): 32 random bytes,
    URL-safe base64 (43 characters), never starting with ``-`` (a script would pass
    ``--token -abc...`` on as an option). Raises nothing."""
    while True:
        # drawn again when it starts with "-" (1 in 64): 255.98 bits instead of 256, the
        # same length and alphabet as before
        secret = secrets.token_urlsafe(32)
        if not secret.startswith("-"):
            return secret


def hash_password(password: str) -> str:
    """The Argon2id hash of ``password`` (what the store keeps).

    Raises :class:`InputError` for a password shorter than 8 characters, or longer than
    the 1024 the login form takes (a user who could never log in).
    """
    if len(password) < 8:
        raise InputError(
            f"the password is too short ({len(password)} characters)",
            "use at least 8 characters (a few words is best)",
        )
    if len(password) > MAX_PASSWORD:
        raise InputError(
            f"the password is too long ({len(password)} characters): the web login takes at "
            f"most {MAX_PASSWORD}",
            f"use at most {MAX_PASSWORD} characters (a few words is best)",
        )
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches ``password_hash`` (False for a user without a
    password). Takes an Argon2 verification's time either way. Raises nothing."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def issue_token(
    store: Store, user: UserRecord, label: str = "", expires_days: int | None = None
) -> tuple[str, TokenRecord]:
    """Make an API token for ``user``: the token (shown once, never kept) and its record
    (the store keeps its SHA-256; audited). ``expires_days``: None never expires.

    Raises :class:`InputError` for a disabled user or ``expires_days`` below 1.
    """
    if not user.active:
        raise InputError(
            f"user {user.name!r} is disabled",
            f"enable the user first (`ccapki users enable {user.name}`)",
        )
    if expires_days is not None and expires_days < 1:
        raise InputError(
            f"expires_days={expires_days}", "give 1 day or more, or none for no expiry"
        )
    expires = None if expires_days is None else store.now() + dt.timedelta(days=expires_days)
    token = new_secret()
    record = store.tokens.add(user, label, token, expires)
    return token, record


# ---------------------------------------------------------------------------- who asks


def _config(request: HTTPConnection) -> ServiceConfig:
    config: ServiceConfig = request.app.state.config
    return config


def _store(request: Request) -> Store:
    """This request's own fork of the app's store (a :class:`Store` keeps its open
    transaction and deployment: one shared by concurrent requests would mix them)."""
    app_store: Store = request.app.state.store
    store: Store | None = getattr(request.state, "auth_store", None)
    if store is None:
        store = app_store.fork()
        request.state.auth_store = store
    return store


def _unauthenticated(error: str = "not logged in") -> ProblemException:
    return ProblemException(
        401,
        error,
        "log in (POST /login), or send an API token: Authorization: Bearer TOKEN "
        "(`ccapki users token NAME` makes one)",
        type_="unauthenticated",
        headers={"WWW-Authenticate": 'Bearer realm="ccapki"'},
    )


async def _form_token(request: Request) -> str | None:
    ctype = request.headers.get("content-type", "")
    if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


async def csrf_check(request: Request, session: SessionRecord | None) -> None:
    """Refuse (403 problem) a request whose CSRF token (form field ``csrf_token`` or
    header ``X-CSRF-Token``) is not ``session``'s. A request without a session (a token
    call) passes. Returns nothing; raises :class:`ProblemException`."""
    if session is None:
        return
    given = request.headers.get(CSRF_HEADER) or await _form_token(request)
    if not given or not hmac.compare_digest(given.encode(), session.csrf_token.encode()):
        raise ProblemException(
            403,
            "missing or wrong CSRF token",
            "reload the page and submit the form again (scripts: send the session's token "
            "in the X-CSRF-Token header, or use an API token)",
            type_="csrf",
        )


def _authenticate(
    store: Store, authorization: str | None, cookie: str | None
) -> tuple[UserRecord, SessionRecord | None]:
    """The user (and web session, None for a token) behind an ``Authorization`` header
    or a session cookie. Raises :class:`ProblemException` 401."""
    if authorization is not None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthenticated("the Authorization header is not `Bearer TOKEN`")
        found = store.tokens.check(token.strip())
        if found is None:
            raise _unauthenticated("the API token is unknown, expired or revoked")
        return found, None
    if not cookie:
        raise _unauthenticated()
    checked = store.sessions.check(cookie)
    if checked is None:
        raise _unauthenticated("the session has ended (expired or logged out)")
    return checked


#: ``scope["state"]`` key of what :class:`AuthenticateFirst` found: (user, session).
_AUTHENTICATED = "ccapki_authenticated"


async def current_user(request: Request) -> UserRecord:
    """FastAPI dependency: the user behind the request's API token (``Authorization:
    Bearer``) or session cookie (``ccapki_session``), whose CSRF token a changing request
    must carry. Sets ``request.state.user`` and ``request.state.session`` (None for a
    token). Returns the :class:`UserRecord`; raises :class:`ProblemException` 401 (no or
    a dead token or session, a disabled user) or 403 (CSRF)."""
    cached = getattr(request.state, "user", None)
    if isinstance(cached, UserRecord):
        return cached
    found: tuple[UserRecord, SessionRecord | None] | None = getattr(
        request.state, _AUTHENTICATED, None
    )
    if found is None:
        found = await run_in_threadpool(
            _authenticate,
            _store(request),
            request.headers.get("authorization"),
            request.cookies.get(SESSION_COOKIE),
        )
    user, session = found
    if session is not None and request.method not in _SAFE:
        await csrf_check(request, session)
    request.state.user = user
    request.state.session = session
    return user


def current_session(request: Request) -> SessionRecord | None:
    """The web session :func:`current_user` found (None: a token call, or not yet
    authenticated). Raises nothing."""
    session = getattr(request.state, "session", None)
    return session if isinstance(session, SessionRecord) else None


def require(role: Role) -> Callable[..., Awaitable[UserRecord]]:
    """A FastAPI dependency: the request's user (see :func:`current_user`) when its role
    allows what ``role`` may do; 403 problem otherwise. Use as
    ``user: UserRecord = Depends(require(Role.OPERATOR))``."""
    needed = Role(role)

    async def dependency(user: Annotated[UserRecord, Depends(current_user)]) -> UserRecord:
        if not user.role.allows(needed):
            raise ProblemException(
                403,
                f"user {user.name!r} is {user.role.value}; this needs {needed.value}",
                f"ask an admin for the {needed.value} role (`ccapki users set-role "
                f"{user.name} {needed.value}`)",
                type_="forbidden",
            )
        return user

    dependency.__name__ = f"require_{needed.value}"
    return dependency


def request_store(
    request: Request, user: Annotated[UserRecord, Depends(current_user)]
) -> Iterator[Store]:
    """FastAPI dependency: a :class:`Store` for this request (a fork of the app's: the same
    pool and unlocked keyring, its own transaction), whose audit actor is the user.
    Returns (yields) it; raises nothing."""
    app_store: Store = request.app.state.store
    store = app_store.fork(actor=user.name)
    try:
        yield store
    finally:
        store.close()


# ---------------------------------------------------------------------------- login


def login_csrf(request: Request, response: Response) -> str:
    """The login form's CSRF token: the ``ccapki_login_csrf`` cookie's (set on ``response``
    when the browser has none). The login page puts it in its form's ``csrf_token`` field;
    ``POST /login`` checks the two are equal. Returns the token; raises nothing."""
    token = request.cookies.get(LOGIN_CSRF_COOKIE)
    if not token or len(token) < 32:
        token = new_secret()
        response.set_cookie(
            LOGIN_CSRF_COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=_config(request).secure_cookies,
            path="/",
        )
    return token


def client_address(request: HTTPConnection) -> str:
    """The client's address: the peer's, or, when the peer is the configured
    ``trusted_proxy``, the last hop of ``X-Forwarded-For`` (what that proxy saw; earlier
    hops are the client's own word). Returns ``"unknown"`` without a peer; raises
    nothing."""
    peer = request.client.host if request.client else "unknown"
    proxy = _config(request).trusted_proxy
    if proxy is None or not _same_address(peer, proxy):
        return peer
    hops = ",".join(request.headers.getlist("x-forwarded-for")).split(",")
    last = hops[-1].strip()
    try:
        return str(ipaddress.ip_address(last))
    except ValueError:
        return peer


def _same_address(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return a == b


def _throttled(
    config: ServiceConfig, store: Store, name: str, address: str
) -> tuple[str, int] | None:
    """Why a login for ``name`` from ``address`` is refused now, and the seconds to wait
    (``Retry-After``); None: it may be tried."""
    pair, from_address, for_name, last = store.logins.counts(name, address, config.login_window)

    def wait(count: int, limit: int, *, only_address: bool = False) -> int:
        # a lock ends when fewer than ``limit`` failures are left within the window: when
        # the (count - limit + 1)-th oldest ages out, not a whole window from now
        at = store.logins.oldest(
            config.login_window,
            name=None if only_address else name,
            address=address,
            skip=count - limit,
        )
        left = config.login_window.total_seconds()
        if at is not None:
            left = (at + config.login_window - store.now()).total_seconds()
        return max(1, math.ceil(left))

    if pair >= config.login_limit:
        return f"for {name!r} from {address}", wait(pair, config.login_limit)
    if from_address >= config.login_address_limit:
        return f"from {address}", wait(from_address, config.login_address_limit, only_address=True)
    if for_name >= config.login_name_limit and last is not None:
        left = (last + config.login_name_delay - store.now()).total_seconds()
        if left > 0:
            return f"for {name!r} (from several addresses)", max(1, math.ceil(left))
    return None


def wait_words(seconds: int) -> str:
    """``seconds`` (a ``Retry-After``) in words, exactly: "1 second", "30 seconds", "15
    minutes", "2 minutes 30 seconds". Raises nothing."""
    seconds = max(1, int(seconds))
    minutes, rest = divmod(seconds, 60)
    if seconds < 120 and rest:  # under two minutes (but one): in seconds
        return "1 second" if seconds == 1 else f"{seconds} seconds"
    words = ["1 minute" if minutes == 1 else f"{minutes} minutes"]
    if rest:
        words.append("1 second" if rest == 1 else f"{rest} seconds")
    return " ".join(words)


def throttled_hint(seconds: int) -> str:
    """The hint of a throttled login (the API's 429 and the login page alike): the wait
    its ``Retry-After`` says (``seconds``), in words. Raises nothing."""
    return f"wait {wait_words(seconds)}, or ask an admin to check the audit log"


class LoginResult(BaseModel):
    """A successful login (the session cookie is set as well)."""

    name: str
    role: str
    csrf_token: str = Field(description="Send it as X-CSRF-Token (or the form field csrf_token)")
    expires_at: dt.datetime


class CsrfToken(BaseModel):
    """The login form's CSRF token (also set as the cookie ``ccapki_login_csrf``)."""

    csrf_token: str


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def _local(path: str | None) -> str:
    """``path`` when it is a path on this site, else ``/`` (no open redirect)."""
    if path and path.startswith("/") and not path.startswith("//") and "\\" not in path:
        return path
    return "/"


router = APIRouter(tags=["auth"])


@router.get(
    "/login/csrf",
    response_model=CsrfToken,
    summary="A login CSRF token",
    description="For scripted logins: sets the `ccapki_login_csrf` cookie and returns the "
    "token to post with `POST /login` (the login page does this itself).",
)
def login_csrf_token(request: Request) -> JSONResponse:
    response = JSONResponse({})
    token = login_csrf(request, response)
    response.body = response.render({"csrf_token": token})
    response.headers["content-length"] = str(len(response.body))
    response.headers["cache-control"] = "no-store"
    return response


@router.post(
    "/login",
    response_model=LoginResult,
    responses={
        303: {"description": "Logged in (a browser form): to `next`"},
        **PROBLEM_RESPONSES,
    },
    summary="Log in",
    description="Form fields `name`, `password`, `csrf_token` (the `ccapki_login_csrf` "
    "cookie's). Sets the session cookie `ccapki_session`. Failed logins are throttled: "
    "429 with Retry-After.",
)
def login(
    request: Request,
    name: Annotated[str, Form(max_length=128, pattern=r"^[^\x00-\x1f\x7f]*$")],
    password: Annotated[str, Form(max_length=1024)],
    csrf_token: Annotated[str, Form(max_length=256)] = "",
    next: Annotated[str, Form(max_length=2048)] = "/",
) -> Response:
    config = _config(request)
    store = _store(request)
    cookie_token = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie_token or not hmac.compare_digest(cookie_token.encode(), csrf_token.encode()):
        if _wants_html(request):  # a stale form (another tab logged in): a fresh one
            query = urlencode({"error": "csrf", "next": _local(next)})
            return RedirectResponse(f"/login?{query}", 303)
        raise ProblemException(
            403,
            "missing or wrong login CSRF token",
            "reload the login page and log in again (scripts: GET /login/csrf first)",
            type_="csrf",
        )
    address = client_address(request)
    key = name.lower()  # names are unique whatever their case: so are their failures
    refused = _throttled(config, store, key, address)
    if refused is not None:
        why, retry = refused
        if _wants_html(request):  # the page says the same wait (throttled_hint)
            return RedirectResponse(
                f"/login?error=throttled&retry={retry}", 303, headers={"Retry-After": str(retry)}
            )
        raise ProblemException(
            429,
            f"too many failed logins {why}",
            throttled_hint(retry),
            type_="throttled",
            headers={"Retry-After": str(retry)},
        )
    user = store.users.find(name)
    ok = verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.active:
        store.logins.failed(key, address)
        if _wants_html(request):
            return RedirectResponse("/login?error=invalid", 303)
        raise _unauthenticated("wrong name or password (or the user is disabled)")
    store.logins.clear(key, address)
    cookie, csrf = new_secret(), new_secret()
    session = store.fork(actor=user.name).sessions.add(user, cookie, csrf, config.session_lifetime)
    response: Response
    if _wants_html(request):
        response = RedirectResponse(_local(next), 303)
    else:
        body = LoginResult(
            name=user.name, role=user.role.value, csrf_token=csrf, expires_at=session.expires_at
        )
        response = JSONResponse(body.model_dump(mode="json"))
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=int(config.session_lifetime.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=config.secure_cookies,
        path="/",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    response.headers["cache-control"] = "no-store"
    return response


@router.post(
    "/logout",
    status_code=303,
    response_class=Response,
    responses={303: {"description": "Logged out: to /login"}, **PROBLEM_RESPONSES},
    summary="Log out",
    description="Ends the session on every instance. Needs the session's CSRF token "
    "(form field `csrf_token` or header X-CSRF-Token).",
)
async def logout(request: Request) -> Response:
    cookie = request.cookies.get(SESSION_COOKIE)
    store = _store(request)
    if cookie:
        checked = store.sessions.check(cookie)
        if checked is not None:
            await csrf_check(request, checked[1])
        store.sessions.end(cookie)
    response = RedirectResponse("/login", 303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# ---------------------------------------------------------------------------- headers


class SecurityHeaders:
    """ASGI middleware adding the security headers to every HTTP response: CSP (no inline
    script), ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer``,
    ``X-Frame-Options: DENY``, and ``Strict-Transport-Security`` when ``hsts``; and
    ``Cache-Control: no-store`` (unless the answer sets its own) on everything under
    ``/api/`` and every answer to a request carrying a token or session cookie (a CSRF
    token, a user's data: never kept by a cache)."""

    def __init__(self, app: ASGIApp, *, hsts: bool = False) -> None:
        self.app = app
        self.headers: list[tuple[bytes, bytes]] = [
            (b"content-security-policy", CSP.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"x-frame-options", b"DENY"),
            (b"cross-origin-opener-policy", b"same-origin"),
        ]
        if hsts:
            self.headers.append((b"strict-transport-security", b"max-age=31536000"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        asked = Headers(scope=scope)
        path: str = scope.get("path", "")
        private = path.startswith("/api/") or bool(
            asked.get("authorization") or SESSION_COOKIE in asked.get("cookie", "")
        )

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw: list[tuple[bytes, bytes]] = list(message.get("headers", []))
                present = {k.lower() for k, _ in raw}
                raw += [(k, v) for k, v in self.headers if k not in present]
                if private and b"cache-control" not in present:
                    raw.append((b"cache-control", b"no-store"))  # a user's answer: not kept
                message = {**message, "headers": raw}
            await send(message)

        await self.app(scope, receive, send_with_headers)


# ---------------------------------------------------------------------------- before the body


class _BodyTooLarge(HTTPException):
    """A request body over its limit (a 413 problem; FastAPI passes it through)."""

    def __init__(self, limit: int, what: str) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes ({what})")


class _BodyTimeout(HTTPException):
    """A request body that stopped coming (a 408 problem)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            408, f"the request body stopped coming: nothing of it arrived for {seconds:g} s"
        )


class BodyLimit:
    """ASGI middleware refusing (413 problem) a request body over ``max_body`` bytes, or
    ``max_upload_body`` for ``multipart/form-data``: at once by ``Content-Length``, else
    while a chunked body streams in (never reading more than the limit and one chunk).
    A body of which nothing arrives for ``body_timeout`` seconds is refused (408): a
    client that sends a few bytes and waits holds no worker for ever."""

    def __init__(
        self, app: ASGIApp, *, max_body: int, max_upload_body: int, body_timeout: float = 30.0
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.max_upload_body = max_upload_body
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        upload = headers.get("content-type", "").lower().startswith("multipart/form-data")
        limit = self.max_upload_body if upload else self.max_body
        what = "uploads" if upload else "JSON and forms"
        length = headers.get("content-length")
        if length is not None:
            if not length.strip().isdigit():
                await problem(
                    400,
                    f"Content-Length {length[:40]!r} is not a number",
                    "send a valid Content-Length, or a chunked body",
                    type_="bad-request",
                    instance=scope.get("path"),
                )(scope, receive, send)
                return
            if int(length) > limit:
                await _too_large(scope, receive, send, _BodyTooLarge(limit, what))
                return
        seen = 0
        started = False
        whole = False  # the body's last part has come (then a receive waits for a disconnect)

        async def limited() -> Message:
            nonlocal seen, whole
            if whole:
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.body_timeout)
            except TimeoutError:
                raise _BodyTimeout(self.body_timeout) from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _BodyTooLarge(limit, what)
                whole = not message.get("more_body", False)
            else:
                whole = True
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited, watched)
        except _BodyTooLarge as exc:
            if started:
                raise
            await _too_large(scope, receive, send, exc)
        except _BodyTimeout as exc:
            if started:
                raise
            page = answer(
                Request(scope),
                408,
                str(exc.detail),
                "send the whole body without pausing (a slow link: a smaller file), then try again",
                type_="body-timeout",
                headers={"Connection": "close"},
            )
            await page(scope, receive, send)


async def _too_large(scope: Scope, receive: Receive, send: Send, exc: _BodyTooLarge) -> None:
    page = answer(Request(scope), 413, str(exc.detail), BODY_LIMIT_HINT, type_="body-too-large")
    await page(scope, receive, send)


def _needs_user(route: object) -> bool:
    """Whether ``route``'s dependencies include :func:`current_user`."""
    dependant = getattr(route, "dependant", None)
    todo = list(getattr(dependant, "dependencies", []))
    while todo:
        dep = todo.pop()
        if dep.call is current_user:
            return True
        todo.extend(dep.dependencies)
    return False


class AuthenticateFirst:
    """ASGI middleware: a request to a route that needs a user (:func:`current_user` among
    its dependencies: every ``/api/v1`` route but ``/health``) is authenticated before
    anything reads its body. Anonymous, or with a dead token or session, it is answered
    401 at once (its body never read or parsed); else what was found is kept for
    :func:`current_user`, which still checks the CSRF token and the role."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._routes: list[tuple[Any, bool]] | None = None  # (route, needs a user)

    def _route_needs_user(self, scope: Scope) -> bool:
        if self._routes is None:  # the app's routes are all there by its first request
            self._routes = [(r, _needs_user(r)) for r in app_routes(scope["app"])]
        for route, needs in self._routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return needs
        return False  # 404, 405: nothing reads a body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._route_needs_user(scope):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        app_store: Store = scope["app"].state.store
        store = app_store.fork()
        try:
            moved = await run_in_threadpool(schema_moved, scope["app"].state, store)
            if moved is not None:  # another ccapki upgraded the store: touch nothing
                error, hint = schema_moved_words(moved)
                kind = "store-replaced" if moved == STORE_REPLACED else "store-upgraded"
                await answer(request, 503, error, hint, type_=kind)(scope, receive, send)
                return
            found = await run_in_threadpool(
                _authenticate,
                store,
                request.headers.get("authorization"),
                request.cookies.get(SESSION_COOKIE),
            )
        except ProblemException as exc:
            await problem(
                exc.status,
                exc.error,
                exc.hint,
                type_=exc.type_,
                instance=scope.get("path"),
                headers=exc.headers,
            )(scope, receive, send)
            return
        except Exception as exc:  # outside the app's handlers: the database away is a 503
            down = database_down(request, exc)
            if down is None:
                raise
            await down(scope, receive, send)
            return
        finally:
            store.close()
        scope.setdefault("state", {})[_AUTHENTICATED] = found
        await self.app(scope, receive, send)
