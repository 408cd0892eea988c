"""The FastAPI application: :func:`create_app`.

One :class:`~ccapki.store.session.Store` per application (``app.state.store``); each
request works on a fork of it whose audit actor is the user (:func:`ccapki.service.auth.
request_store`). Routers: login/logout (:mod:`.auth`), the JSON API under ``/api/v1``
(:mod:`.api`), background jobs (:mod:`.jobs`) and the dashboard (:mod:`.web`), the last two
when present. The lifespan starts this instance's job runner (``config.jobs_enabled``)
and closes the store.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from fastapi import APIRouter, FastAPI

from ccapki import __version__
from ccapki.errors import PasswordError
from ccapki.service.auth import AuthenticateFirst, BodyLimit, SecurityHeaders
from ccapki.service.auth import router as auth_router
from ccapki.service.config import ServiceConfig
from ccapki.service.problems import install_handlers, store_file

if TYPE_CHECKING:
    from ccapki.store.session import Store

__all__ = ["create_app", "open_service_store"]

DESCRIPTION = """\
The ccapki service: the same operations as the `ccapki` command, over HTTP.

Authenticate with an API token (`Authorization: Bearer TOKEN`; `ccapki users token NAME`
makes one) or a web session (`POST /login`). Roles: **viewer** reads; **operator** also
applies deployments, imports certificates, makes CSRs, applies trust stores and renews;
**admin** also exports private keys, makes backups and manages users.

Every error is an RFC 9457 problem (`application/problem+json`) carrying `error` and
`hint`, as the CLI prints them.
"""

TAGS = [
    {"name": "deployments", "description": "Deployment files, plans, apply"},
    {"name": "identities", "description": "Certificates, public parts, CSRs, import, export"},
    {"name": "trust", "description": "Trust check, plan, apply, CA rotation what-if"},
    {"name": "status", "description": "Estate status, probe results, renewal"},
    {"name": "admin", "description": "Backups, users and API tokens (admin)"},
    {"name": "jobs", "description": "Background jobs"},
    {"name": "auth", "description": "Web login"},
    {"name": "service", "description": "The service itself"},
]


def open_service_store(config: ServiceConfig) -> Store:
    """The store ``config`` names, open, its keyring unlocked when it can be (a key-file
    store, or a passphrase given) so requests never run scrypt.

    Returns the :class:`Store`. Raises :class:`StoreError` when there is no store or it
    is read-only, :class:`PasswordError` for a wrong passphrase.
    """
    from ccapki.store.session import Store

    passphrase = config.passphrase
    store = Store.open(
        config.home,
        url=config.database_url,
        passphrase=(lambda: passphrase) if passphrase is not None else None,
        clock=config.clock,
        wait=config.wait,
        caller="service",  # a busy store's hint: try the request again, no --wait
    )
    if store.read_only is not None:
        # every request writes (a token's last use, a session, the login throttle): a
        # read-only store started, then answered 500 "a ccapki bug" to every request
        from ccapki.store.session import read_only_error

        store.close()
        raise read_only_error(store.home, store.read_only)
    try:
        store.unlock()
    except PasswordError:
        if passphrase is not None:  # a wrong one: refuse to start
            store.close()
            raise
        # locked and no passphrase: reads work; a key operation answers with a problem
    return store


def _optional_router(module: str) -> tuple[APIRouter | None, object]:
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name == module:
            return None, None
        raise
    router = getattr(mod, "router", None)
    return (router if isinstance(router, APIRouter) else None), mod


def create_app(config: ServiceConfig, *, store: Store | None = None) -> FastAPI:
    """The service application for ``config``: opens the store (or uses ``store``, which
    the caller then closes), mounts the routers, the problem handlers and the security
    headers. ``/openapi.json`` is the API's description (no inline-script docs page: the
    CSP forbids it).

    Returns the :class:`FastAPI` app (``app.state.store``, ``app.state.config``). Raises
    what :func:`open_service_store` raises.
    """
    from ccapki.service import api

    owned = store is None
    the_store = open_service_store(config) if store is None else store
    the_store.caller = "service"  # `ccapki serve`'s own: a busy store's hint is a retry
    jobs_router, jobs = _optional_router("ccapki.service.jobs")
    web_router, _web = _optional_router("ccapki.service.web")

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runner = None
        runner_cls = getattr(jobs, "JobRunner", None)
        if config.jobs_enabled and runner_cls is not None:
            runner = runner_cls(the_store, config.instance_id, backup_dir=config.backups)
            runner.start()
        try:
            yield
        finally:
            if runner is not None:
                runner.stop()
            if owned:
                the_store.close()

    app = FastAPI(
        title="ccapki",
        version=__version__,
        description=DESCRIPTION,
        openapi_tags=TAGS,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.config = config
    app.state.store = the_store
    app.state.store_file = store_file(the_store)  # deleted or replaced under it: 503
    install_handlers(app)
    # outermost last: security headers on every answer, then the body limit, then the
    # user (both before any route reads the body)
    app.add_middleware(AuthenticateFirst)
    app.add_middleware(
        BodyLimit,
        max_body=config.max_body,
        max_upload_body=config.max_upload_body,
        body_timeout=config.body_timeout,
    )
    app.add_middleware(SecurityHeaders, hsts=config.tls)
    app.include_router(auth_router)
    app.include_router(api.router)
    if jobs_router is not None:
        app.include_router(jobs_router)
    if web_router is not None:
        app.include_router(web_router)
    return app
