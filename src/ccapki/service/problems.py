"""RFC 9457 problem details: every error the service answers with.

A problem is ``application/problem+json``::

    {"type": "https://ccapki.invalid/problems/not-found", "title": "Not Found",
     "status": 404, "detail": "no identity named 'x'",
     "error": "no identity named 'x'", "hint": "`GET /api/v1/...` lists them"}

``error`` and ``hint`` are what the CLI prints as ``error:`` and ``hint:``. A response never
carries a traceback: an unexpected exception is a 500 problem saying it is a bug.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.applications import Starlette
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

from ccapki.errors import (
    CcapkiError,
    ConflictError,
    DeploymentError,
    FileFormatError,
    InputError,
    KeyNotFoundError,
    NetworkError,
    NotFoundError,
    PasswordError,
    StoreBusy,
    StoreError,
)

if TYPE_CHECKING:
    from ccapki.store.session import Store

__all__ = [
    "BODY_LIMIT_HINT",
    "PROBLEM_BASE",
    "PROBLEM_RESPONSES",
    "STORE_REPLACED",
    "Problem",
    "ProblemException",
    "StrictBody",
    "answer",
    "app_routes",
    "database_busy",
    "database_down",
    "database_unreachable",
    "install_handlers",
    "problem",
    "schema_moved",
    "schema_moved_words",
    "status_of",
    "store_file",
    "store_file_moved",
]

#: Where a problem's ``type`` points (a name, not a page to fetch).
PROBLEM_BASE = "https://ccapki.invalid/problems/"
MEDIA_TYPE = "application/problem+json"

log = logging.getLogger("ccapki.service")


class Problem(BaseModel):
    """An RFC 9457 problem, with the CLI's ``error`` and ``hint``."""

    type: str = Field(description="A URI naming the kind of problem.")
    title: str = Field(description="The HTTP status's phrase.")
    status: int = Field(description="The HTTP status code.")
    detail: str = Field(description="What went wrong (the same as `error`).")
    error: str = Field(description="What went wrong, as the CLI's `error:` line.")
    hint: str = Field(description="The fix, as the CLI's `hint:` line.")
    instance: str | None = Field(default=None, description="The request path.")


class StrictBody(BaseModel):
    """The base of every JSON request body: a field the body does not have is refused (a
    422 naming it), never dropped. Dropped, a misspelt field changed nothing while the
    answer said 200 (``PATCH /users/NAME {"active": false}``: the user still active) or
    made what was not asked (``{"expires": 1}``: a token that never expires)."""

    model_config = ConfigDict(extra="forbid")


#: ``responses=`` for routes: the problems every route may answer with (OpenAPI).
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "content": {MEDIA_TYPE: {}}, "description": text}
    for code, text in (
        (400, "Bad input (problem details)"),
        (401, "Not logged in: no valid token or session"),
        (403, "The user's role does not allow this, or a bad CSRF token"),
        (404, "No such deployment, identity, user or job"),
        (408, "The request body stopped coming (nothing for 30 s)"),
        (409, "A clash with what exists: a user name taken, the last active admin"),
        (413, "The request body is larger than the service takes"),
        (415, "A body of another kind than the route takes (form fields sent as JSON)"),
        (422, "A malformed request, file or deployment"),
        (429, "Too many failed logins"),
        (503, "The store is busy (another writer): try again"),
    )
}


def _slug(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "-").replace("'", "")
    except ValueError:
        return str(status)


def problem(
    status: int,
    error: str,
    hint: str = "",
    *,
    type_: str | None = None,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A problem response: ``status``, the ``error`` message and its ``hint``.

    Returns a :class:`JSONResponse` of media type ``application/problem+json``; ``type_``
    is a slug (``"not-found"``) or a URI (default: the status's phrase). Raises nothing.
    """
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    kind = type_ or _slug(status)
    body = Problem(
        type=kind if ":" in kind else PROBLEM_BASE + kind,
        title=title,
        status=status,
        detail=error,
        error=error,
        hint=hint,
        instance=instance,
    )
    return JSONResponse(
        body.model_dump(exclude_none=True), status, headers=headers, media_type=MEDIA_TYPE
    )


def _wants_page(request: Request) -> bool:
    """Whether ``request`` is a browser's asking for a page (not the API, not a script)."""
    path = request.url.path
    api = path.startswith("/api/") or path == "/openapi.json"
    return not api and "text/html" in request.headers.get("accept", "")


def answer(
    request: Request,
    status: int,
    error: str,
    hint: str = "",
    *,
    type_: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """The answer to a request that failed: a :func:`problem` for the API and scripts; for
    a browser asking for a page (``Accept: text/html``, not under ``/api/``), the
    dashboard's error page with the same ``error:`` and ``hint:`` in words. Returns the
    response; raises nothing."""
    if _wants_page(request):
        from ccapki.service.web import error_page  # the dashboard imports this module

        page = error_page(request, status, error, hint)
        page.headers.update(headers or {})
        return page
    return problem(status, error, hint, type_=type_, instance=request.url.path, headers=headers)


class ProblemException(Exception):
    """Raise to answer with a problem (``status``, ``error``, ``hint``, extra headers)."""

    def __init__(
        self,
        status: int,
        error: str,
        hint: str = "",
        *,
        type_: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.hint = hint
        self.type_ = type_
        self.headers = headers


def status_of(exc: CcapkiError) -> int:
    """The HTTP status a :class:`CcapkiError` is answered with.

    Not found 404; a clash with what exists (a name taken, the last admin) 409; a
    malformed file or deployment, a certificate without its key, a wrong password given
    in the request 422; other bad input 400; a busy store 503; an unusable store 500; an
    unreachable host 502; anything else 400. Raises nothing.
    """
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, ConflictError):
        return 409
    if isinstance(exc, FileFormatError | DeploymentError | KeyNotFoundError | PasswordError):
        return 422
    if isinstance(exc, InputError):
        return 400
    if isinstance(exc, StoreBusy):
        return 503
    if isinstance(exc, StoreError):
        return 500
    if isinstance(exc, NetworkError):
        return 502
    return 400


_KINDS: tuple[tuple[type[CcapkiError], str], ...] = (
    (KeyNotFoundError, "private-key-not-found"),
    (DeploymentError, "bad-deployment"),
    (FileFormatError, "bad-file"),
    (PasswordError, "bad-password"),
    (NotFoundError, "not-found"),
    (ConflictError, "conflict"),
    (StoreBusy, "store-busy"),
    (StoreError, "store-error"),
    (NetworkError, "unreachable"),
    (InputError, "bad-input"),
)


def _kind(exc: CcapkiError) -> str:
    for cls, slug in _KINDS:
        if isinstance(exc, cls):
            return slug
    return "error"


async def _ccapki_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CcapkiError)
    status = status_of(exc)
    headers = {"Retry-After": "5"} if isinstance(exc, StoreBusy) else None
    return answer(request, status, exc.message, exc.hint, type_=_kind(exc), headers=headers)


async def _problem_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemException)
    return answer(request, exc.status, exc.error, exc.hint, type_=exc.type_, headers=exc.headers)


def database_busy(exc: BaseException) -> StoreBusy | None:
    """The :class:`StoreBusy` (its hint the service's) when ``exc`` is SQLite refusing a
    write because another connection holds the store's write lock ("database is locked": a
    write outside :meth:`Store.transaction` that waited out SQLite's busy timeout): a busy
    store, answered and logged as one, not an unreachable database. None for any other
    exception. Raises nothing."""
    import sqlite3

    from sqlalchemy.exc import OperationalError

    orig = exc.orig if isinstance(exc, OperationalError) else None
    if not isinstance(orig, sqlite3.OperationalError):
        return None
    code = getattr(orig, "sqlite_errorcode", None)  # extended: SQLITE_BUSY_SNAPSHOT...
    if code is None or code & 0xFF not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return None
    from ccapki.store.session import BUSY_HINTS

    return StoreBusy(
        f"the store is busy: another writer holds its write lock (SQLite: {orig}); nothing "
        "was changed",
        BUSY_HINTS["service"],
    )


def database_unreachable(exc: BaseException) -> tuple[str, str] | None:
    """Why the database could not be used, and the fix, when ``exc`` is a lost, refused or
    failing connection to it (SQLAlchemy's ``OperationalError`` or ``InterfaceError``: the
    server stopped, a wrong port, the network); None for any other exception, and for a
    busy SQLite store (:func:`database_busy`). The password is never in the words (libpq
    does not repeat it). Raises nothing."""
    from sqlalchemy.exc import InterfaceError, OperationalError

    if not isinstance(exc, OperationalError | InterfaceError) or database_busy(exc) is not None:
        return None
    from ccapki.store.urls import connect_failure

    why, hint = connect_failure(exc)
    return f"the database did not answer ({why})", hint


#: How often a server looks whether another ccapki upgraded its store (seconds).
SCHEMA_CHECK_EVERY = 2.0


#: What :func:`schema_moved` says when the store's SQLite file was deleted or replaced
#: under the server (not a schema revision).
STORE_REPLACED = "(the database file was removed or replaced)"

#: A SQLite store's database file and its identity (st_dev, st_ino) when it was opened.
StoreFile = tuple[str, tuple[int, int] | None]


def store_file(store: Store) -> StoreFile | None:
    """The SQLite database file ``store`` reads and its identity now (call it when the
    store is opened); None on a database server. Raises nothing."""
    import os

    from ccapki.home import DB_NAME

    try:
        url = store.engine.url
        if store.engine.dialect.name != "sqlite":
            return None
    except Exception:  # no engine can be made: nothing to watch
        return None
    database = url.database
    path = database if database and database != ":memory:" else str(store.home / DB_NAME)
    try:
        st = os.stat(path)
    except OSError:
        return path, None
    return path, (st.st_dev, st.st_ino)


def store_file_moved(opened: StoreFile | None) -> bool:
    """Whether the database file ``opened`` (:func:`store_file` at open) is no longer the
    file at its path: deleted, or replaced (``mv new.db ccapki.db``, a restore by copy).
    A server still reads and writes the old file through its open connections: what it
    answers is stale and what it writes is lost with it. Raises nothing."""
    import os

    if opened is None or opened[1] is None:
        return False
    path, identity = opened
    try:
        st = os.stat(path)
    except OSError:
        return True
    return (st.st_dev, st.st_ino) != identity


def schema_moved(app_state: Any, store: Store) -> str | None:
    """The store's schema revision when another ccapki upgraded it under this server (see
    :meth:`Store.schema_moved`), or :data:`STORE_REPLACED` when its SQLite file was
    deleted or replaced (``app_state.store_file``, see :func:`store_file`), looked up at
    most every :data:`SCHEMA_CHECK_EVERY` seconds (kept on ``app_state``); None while it
    is this ccapki's. Raises what reading the database raises."""
    import time

    now = time.monotonic()
    checked = getattr(app_state, "schema_checked_at", None)
    if checked is not None and now - checked < SCHEMA_CHECK_EVERY:
        return getattr(app_state, "schema_moved", None)
    if store_file_moved(getattr(app_state, "store_file", None)):
        moved: str | None = STORE_REPLACED
    else:
        moved = store.schema_moved()
    app_state.schema_moved, app_state.schema_checked_at = moved, now
    return moved


def schema_moved_words(revision: str) -> tuple[str, str]:
    """The error and hint of a server whose store another ccapki upgraded (or whose
    database file was removed or replaced: :data:`STORE_REPLACED`)."""
    from ccapki.store.schema import SCHEMA_HEAD

    if revision == STORE_REPLACED:
        return (
            "the store's database file was removed or replaced while this server ran: "
            "it still holds the old file open, so it answers nothing from it and writes "
            "nothing to it; nothing was done",
            "restart `ccapki serve` to open the file that is there now; stop every ccapki "
            "(serve, watch) before moving, restoring or deleting ccapki.db, and move its "
            "ccapki.db-wal and ccapki.db-shm with it (a mismatched log damages a store)",
        )
    return (
        f"the store's schema is now {revision}, not this server's ({SCHEMA_HEAD}): another "
        "ccapki upgraded it while this one ran; nothing was done",
        "restart `ccapki serve` with the ccapki that upgraded the store (the one that ran "
        "`ccapki upgrade`)",
    )


def database_down(request: Request, exc: BaseException) -> Response | None:
    """The answer (503 with ``Retry-After``, logged as one line: no traceback, a state of
    the database, not a ccapki bug) when ``exc`` says the database is unreachable (see
    :func:`database_unreachable`), or busy (:func:`database_busy`: answered as a
    :class:`StoreBusy` is); None for any other exception. Raises nothing."""
    busy = database_busy(exc)
    if busy is not None:
        log.warning("%s %s: %s", request.method, request.url.path, busy.message)
        return answer(
            request,
            status_of(busy),
            busy.message,
            busy.hint,
            type_=_kind(busy),
            headers={"Retry-After": "5"},
        )
    found = database_unreachable(exc)
    if found is None:
        return None
    why, hint = found
    log.error("%s %s: %s", request.method, request.url.path, why)
    return answer(
        request,
        503,
        why,
        f"{hint}, then send the request again (a change is made whole or not at all)",
        type_="store-unreachable",
        headers={"Retry-After": "5"},
    )


async def _database_down(request: Request, exc: Exception) -> Response:
    down = database_down(request, exc)
    return down if down is not None else await _unexpected(request, exc)


#: Where the routes are described (``/docs`` is no page: the CSP forbids its script).
ROUTES_HINT = "/openapi.json describes every route (docs/service.md explains them)"

_HTTP_HINTS = {
    400: "send what /openapi.json describes for this route (docs/service.md)",
    401: "log in, or send an API token: Authorization: Bearer TOKEN",
    403: "ask an admin for a role that allows this",
    404: f"check the path: {ROUTES_HINT}",
    405: f"use a method the Allow header names: {ROUTES_HINT}",
    413: "send less: the limits are the service's --max-body (JSON, forms) and "
    "--max-upload-body (multipart uploads) settings, see docs/service.md",
}
#: The hint of a 413 (a body over the limit).
BODY_LIMIT_HINT = _HTTP_HINTS[413]

#: FastAPI's words for a body it could not read (not UTF-8, a broken form...).
_UNPARSED = "There was an error parsing the body"


def app_routes(app: Starlette) -> list[Any]:
    """Every route of ``app``, those of included routers too (FastAPI nests them), each
    with ``matches(scope)``, ``methods`` and, for an API route, ``dependant``. Raises
    nothing."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # a FastAPI that keeps its routes flat
        return list(app.router.routes)
    return list(iter_route_contexts(app.router.routes))


def _allowed(request: Request) -> str | None:
    """The methods the routes matching the request's path take (``Allow`` of a 405),
    None when no route matches it."""
    methods: set[str] = set()
    for route in app_routes(request.app):
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return ", ".join(sorted(methods)) if methods else None


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    hint = _HTTP_HINTS.get(exc.status_code, "")
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no route {request.url.path}"
    if exc.status_code == 400 and detail == _UNPARSED:
        detail = "the request body could not be read (not UTF-8 JSON, or a broken form)"
        hint = (
            "send UTF-8 JSON with Content-Type: application/json (or the form or upload "
            "/openapi.json describes for this route; docs/service.md)"
        )
    headers = dict(exc.headers) if exc.headers else {}
    if exc.status_code == 405:
        allowed = _allowed(request)
        if allowed:
            headers["Allow"] = allowed
        detail = f"{request.method} is not a method of {request.url.path}"
    return answer(
        request,
        exc.status_code,
        detail,
        hint,
        type_="body-too-large" if exc.status_code == 413 else None,
        headers=headers or None,
    )


def _where(loc: object) -> str:
    if isinstance(loc, list | tuple):
        return ".".join(str(p) for p in loc)
    return str(loc)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    broken = next((e for e in errors if e.get("type") == "json_invalid"), None)
    if broken is not None:  # a body that is not JSON is unreadable (400), not invalid (422)
        loc = broken.get("loc", ())
        at = loc[-1] if isinstance(loc, list | tuple) and loc else None
        where = f" (at character {at})" if isinstance(at, int) else ""
        return answer(
            request,
            400,
            f"the request body is not JSON{where}: {broken.get('ctx', {}).get('error', 'invalid')}",
            "send UTF-8 JSON with Content-Type: application/json (what /openapi.json "
            "describes for this route; docs/service.md)",
        )
    fields = _form_sent_otherwise(request, errors)
    if fields:
        sent = request.headers.get("content-type", "").split(";")[0].strip() or "no type"
        return answer(
            request,
            415,
            f"{request.method} {request.url.path} takes form fields ("
            + ", ".join(f"`{f}`" for f in fields)
            + f"), sent as application/x-www-form-urlencoded; this request sent {sent}",
            "send the fields as a form (curl --data-urlencode name=... ); a script "
            "needs no login: it sends an API token (Authorization: Bearer TOKEN; "
            "`ccapki users token NAME` makes one)",
            type_="invalid-request",
        )
    if _json_sent_otherwise(request, errors):
        sent = request.headers.get("content-type", "").split(";")[0].strip()
        return answer(
            request,
            415,
            f"{request.method} {request.url.path} takes a JSON body; this request sent {sent}",
            "send UTF-8 JSON with Content-Type: application/json (what /openapi.json "
            "describes for this route; docs/service.md)",
            type_="invalid-request",
        )
    missing = _missing_files(request, errors)
    if missing:
        return answer(
            request,
            422,
            "no file uploaded: the multipart/form-data field "
            + " and ".join(f"`{m}`" for m in missing)
            + " is missing",
            _UPLOAD_FORM_HINT if _wants_page(request) else _upload_example(request, missing[0]),
            type_="invalid-request",
        )
    parts = [f"{_where(e.get('loc', ()))}: {_words(e)}" for e in errors[:5]]
    text = "; ".join(parts) or "the request is not valid"
    if _wants_page(request):  # a browser's form or address: its words, not the schema's
        return answer(
            request,
            422,
            "the form or address was not valid: "
            + ("; ".join(_page_words(e) for e in errors[:5]) or "the request is not valid"),
            "go back, correct what is named (reload the page first if it was open long), "
            "then send it again",
            type_="invalid-request",
        )
    return answer(
        request,
        422,
        f"invalid request: {text}",
        "see /openapi.json for what this route takes (docs/service.md)",
        type_="invalid-request",
    )


#: Where a part of a request is, in a browser user's words (its ``loc``'s first part).
_PAGE_PLACES = {"body": "the form's field", "query": "the address's", "path": "the address's"}


def _page_words(error: Any) -> str:
    """One invalid part of a browser's request, in words: where (the form's field
    `name`, the address's `deployment`), then what is wrong. Raises nothing."""
    loc = error.get("loc", ())
    parts = [str(p) for p in loc] if isinstance(loc, list | tuple) else [str(loc)]
    place = _PAGE_PLACES.get(parts[0], "") if parts else ""
    name = ".".join(parts[1:] if place else parts)
    what = "missing or empty" if error.get("type") == "missing" else _words(error)
    return f"{place} `{name}`: {what}".strip()


#: The hint of an upload form sent without a file (a browser sends an empty part).
_UPLOAD_FORM_HINT = (
    "choose the certificate file (and its key, if the CSR was not made here) in the "
    "upload form, then upload"
)


def _words(error: Any) -> str:
    """Pydantic's words for one invalid part of a request; a field the body's model does
    not have (a misspelt name would otherwise be dropped without a word) says so."""
    if error.get("type") == "extra_forbidden":
        return "no such field (a misspelt name? nothing was done)"
    return str(error.get("msg", "invalid"))


def _form_sent_otherwise(request: Request, errors: Any) -> list[str]:
    """The form fields (``Form()``) of the request's route, when the request is not a
    form (JSON, say) and what is wrong is only that fields are missing (else empty).
    Raises nothing."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return []
    dependant = getattr(request.scope.get("route"), "dependant", None)
    if dependant is None:
        return []
    from fastapi import params

    body = list(getattr(dependant, "body_params", ()))
    fields = [f.alias for f in body if isinstance(getattr(f, "field_info", None), params.Form)]
    if (
        not fields
        or len(fields) != len(body)
        or any(isinstance(getattr(f, "field_info", None), params.File) for f in body)
    ):
        return []  # (an upload's form is multipart: the general answers say so)
    for e in errors:
        loc = e.get("loc")
        if e.get("type") != "missing" or not (
            isinstance(loc, list | tuple) and len(loc) == 2 and loc[0] == "body"
        ):
            return []
    return fields


#: Bodies that are no JSON document, whatever they hold.
_NOT_JSON_KINDS = ("application/x-www-form-urlencoded", "multipart/form-data", "text/plain")


def _json_sent_otherwise(request: Request, errors: Any) -> bool:
    """Whether the request's route takes a JSON body and the request sent a form (or
    plain text) instead, and what is wrong is all in the body. Raises nothing."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in _NOT_JSON_KINDS:
        return False
    dependant = getattr(request.scope.get("route"), "dependant", None)
    body = list(getattr(dependant, "body_params", ()))
    from fastapi import params

    if not body or any(isinstance(getattr(f, "field_info", None), params.Form) for f in body):
        return False
    for e in errors:
        loc = e.get("loc")
        if not (isinstance(loc, list | tuple) and loc and loc[0] == "body"):
            return False
    return True


def _missing_files(request: Request, errors: Any) -> list[str]:
    """The file fields (``File()``) of the request's route that the request lacks (a
    script's POST without its file), in the route's order, when that is all that is wrong
    (else empty). Raises nothing."""
    dependant = getattr(request.scope.get("route"), "dependant", None)
    if dependant is None:
        return []
    from fastapi import params

    files = [
        f.alias
        for f in getattr(dependant, "body_params", ())
        if isinstance(getattr(f, "field_info", None), params.File)
    ]
    lacking = set()
    for e in errors:
        loc = e.get("loc")
        if not (isinstance(loc, list | tuple) and len(loc) >= 2 and loc[0] == "body"):
            return []
        missing = e.get("type") == "missing" and len(loc) == 2
        # a browser's form sent with no file chosen: a part with no file name, not a file
        empty = len(loc) == 3 and "UploadFile" in str(e.get("msg", ""))
        if not ((missing or empty) and loc[1] in files):
            return []  # another mistake too: the general answer names them all
        lacking.add(loc[1])
    return [f for f in files if f in lacking]


def _upload_example(request: Request, field: str) -> str:
    """How to send ``field`` with curl to the request's URL (an API token; a browser's
    form sends it itself)."""
    url = str(request.url.replace(query=None, fragment=None))
    return (
        f"send each file as a `{field}` field of a multipart/form-data body, e.g. "
        f"curl -H 'Authorization: Bearer TOKEN' -F {field}=@cert.pem -F {field}=@key.pem "
        f"{url}"
    )


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.error("internal error on %s %s: %s", request.method, request.url.path, type(exc).__name__)
    return answer(
        request,
        500,
        f"internal error ({type(exc).__name__})",
        "this is a ccapki bug: the service's log has the details; please report it",
        type_="internal-error",
    )


def install_handlers(app: FastAPI) -> None:
    """Answer every error of ``app`` with a problem: :class:`CcapkiError` (its message and
    hint), :class:`ProblemException`, HTTP errors, request validation errors (422), an
    unreachable database (503) and any other exception (500, no traceback); a browser
    asking for a page gets the same words as an HTML page (:func:`answer`). Returns
    nothing; raises nothing."""
    app.add_exception_handler(CcapkiError, _ccapki_error)
    app.add_exception_handler(ProblemException, _problem_exception)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(RequestValidationError, _validation_error)
    from sqlalchemy.exc import InterfaceError, OperationalError

    app.add_exception_handler(OperationalError, _database_down)
    app.add_exception_handler(InterfaceError, _database_down)
    app.add_exception_handler(Exception, _unexpected)
