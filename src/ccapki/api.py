"""The Python API of ccapki: what the ``ccapki`` command does, for scripts.

Every name here is also importable from the package itself (``from ccapki import
load_deployment, open_store, apply``); docs/api.md shows three complete scripts::

    import ccapki

    dep = ccapki.load_deployment("campus.toml")
    with ccapki.open_store("~/.local/share/ccapki", passphrase="...") as store:
        result = ccapki.apply(store, dep)
        matrix = ccapki.check_trust(store, dep)

The CLI runs these same functions (``plan``, ``apply``, ``import``, ``export``, ``trust
check``). Every error a caller can cause is a :class:`CcapkiError` with a one-line
``message`` and a ``hint`` naming the fix; nothing is half-written when one is raised
(each change to the store is one transaction).

Deployments: a store holds any number, by name. A function given a :class:`Deployment`
acts on that deployment's part of the store (its ``[deployment] name``; ``apply`` of a new
name makes a new deployment); the others (``export``, ``client_roots``) act on the store's
deployment: ``open_store(deployment=...)``, implied when the store holds one.

Times: every function that judges validity takes ``now`` (an aware ``datetime``); ``None``
means the store's clock (``open_store(clock=...)``), else the current time.

This module imports the database layer only when a store is used, so loading a deployment
and making a plan stay cheap.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Protocol, TypeVar

import ccapki._classcache  # noqa: F401 - installs before the modules below make their classes
from ccapki.errors import (
    CcapkiError,
    DeploymentError,
    FileFormatError,
    InputError,
    Interrupted,
    KeyNotFoundError,
    NetworkError,
    NotFoundError,
    PasswordError,
    StoreBusy,
    StoreError,
    TokenError,
)
from ccapki.topology.model import Channel, Deployment
from ccapki.topology.plan import Action, ActionKind, Plan

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

    from ccapki.lifecycle.apply import ApplyResult
    from ccapki.lifecycle.backups import BackupSummary
    from ccapki.lifecycle.cakeys import CaKeyPlace
    from ccapki.lifecycle.certfiles import ClientRoot, CsrResult
    from ccapki.lifecycle.csrdelivery import CallerHandover, Undelivered
    from ccapki.lifecycle.exports import ExportFormat
    from ccapki.lifecycle.importing import Held, ImportResult
    from ccapki.lifecycle.inventory import InventoryPage
    from ccapki.lifecycle.probing import ProbeRun
    from ccapki.lifecycle.renew import CsrMade, RenewalPlan, RenewalResult
    from ccapki.lifecycle.status import StatusReport
    from ccapki.lifecycle.trustops import Matrix
    from ccapki.pki.formats import Material
    from ccapki.pki.inspect import CertInfo
    from ccapki.store.session import Store
    from ccapki.trust._cases import Change

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

#: Result types whose modules need the database layer: imported when first asked for.
_LAZY = {
    "ApplyResult": "ccapki.lifecycle.apply",
    "BackupSummary": "ccapki.lifecycle.backups",
    "CaKeyPlace": "ccapki.lifecycle.cakeys",
    # what a script annotates with: read_files, inspect_identity, inventory_page,
    # plan_trust/apply_trust return these; commit_renewal's deliver is given a CsrMade
    "CertInfo": "ccapki.pki.inspect",
    "Change": "ccapki.trust._cases",
    "CsrMade": "ccapki.lifecycle.renew",
    "InventoryPage": "ccapki.lifecycle.inventory",
    "Material": "ccapki.pki.formats",
    "ClientRoot": "ccapki.lifecycle.certfiles",
    "CsrResult": "ccapki.lifecycle.certfiles",
    "ImportResult": "ccapki.lifecycle.importing",
    "Held": "ccapki.lifecycle.importing",
    "Matrix": "ccapki.lifecycle.trustops",
    "RenewalPlan": "ccapki.lifecycle.renew",
    "ProbeRun": "ccapki.lifecycle.probing",
    "RenewalResult": "ccapki.lifecycle.renew",
    "StatusReport": "ccapki.lifecycle.status",
    "Store": "ccapki.store.session",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


def _now(store: Store | None, now: dt.datetime | None, name: str = "now") -> dt.datetime:
    if now is not None and not isinstance(now, dt.datetime):
        raise InputError(
            f"{name}={_shown(now)} is not a datetime",
            "pass an aware datetime (datetime.now(datetime.UTC)), or None for the store's clock",
        )
    if now is not None:
        if now.tzinfo is None:
            raise InputError(
                f"{name}={now.isoformat()} has no time zone",
                "pass an aware datetime, e.g. datetime.now(datetime.UTC)",
            )
        return now
    return store.now() if store is not None else dt.datetime.now(dt.UTC)


def _deployment(deployment: object) -> None:
    """Refuse what is not a :class:`Deployment` (a name, a path) with an InputError."""
    if not isinstance(deployment, Deployment):
        raise InputError(
            f"deployment={_shown(deployment)} is not a Deployment",
            "pass ccapki.load_deployment(FILE) (or ccapki.stored_deployment(store, NAME))",
        )


# A wrong type of argument (None, a number, bytes where a path or a name goes; a name where
# a Store goes) is refused with an InputError naming the parameter and what it takes, as a
# string where a time goes is: never a bare TypeError or AttributeError from inside.


def _shown(value: object) -> str:
    """``repr(value)``, cut short (a file's bytes passed by mistake stay one line)."""
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def _wrong(name: str, value: object, what: str, hint: str) -> InputError:
    return InputError(f"{name}={_shown(value)} is not {what}", hint)


def _path(value: object, name: str, example: str) -> str:
    """``value`` as a path string: a ``str`` or a ``str`` path-like (``pathlib.Path``).
    Raises :class:`InputError` for anything else (None, a number, bytes)."""
    hint = f"pass the path as a str or a pathlib.Path, e.g. {example}"
    text = os.fspath(value) if isinstance(value, os.PathLike) else value
    if text == "":  # Path("") is the current folder: never meant
        raise InputError(f"{name}='' is an empty path", hint)
    if isinstance(text, str):
        if "\0" in text:  # the system's calls raise ValueError ("embedded null byte")
            raise InputError(
                f"{name}={_shown(value)} holds a NUL character, which no path can",
                f"{hint} (a NUL there is usually bytes of a file or a C string passed whole)",
            )
        return text
    if isinstance(value, bytes | os.PathLike):
        hint += " (a bytes path: decode it first, os.fsdecode(path))"
    raise _wrong(name, value, "a path", hint)


def _paths(value: object, name: str, example: str) -> list[str]:
    """One path, or an iterable of paths, as a list of path strings (a string is one path,
    never its letters). Raises :class:`InputError` for anything else."""
    if isinstance(value, str | os.PathLike):
        return [_path(value, name, example)]
    if isinstance(value, bytes) or not isinstance(value, Iterable):
        _path(value, name, example)  # raises, saying what a path is
    assert isinstance(value, Iterable)
    return [_path(v, name, example) for v in value]


def _text(value: object, name: str, hint: str, *, none: bool = False) -> str | None:
    """``value`` when it is a ``str`` (or None, when ``none``). Raises :class:`InputError`."""
    if isinstance(value, str) or (none and value is None):
        return value
    raise _wrong(name, value, "a string", hint)


def _name(value: object, name: str, hint: str) -> str:
    """``value`` when it is a ``str``. Raises :class:`InputError`."""
    if isinstance(value, str):
        return value
    raise _wrong(name, value, "a name (a string)", hint)


def _name_list(value: object, name: str, hint: str) -> list[str]:
    """One name, or an iterable of names, as a list (a string is one name, never its
    letters). Raises :class:`InputError` for anything else (a number, bytes, None)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, bytes) or not isinstance(value, Iterable):
        raise _wrong(name, value, "a name or a list of names", hint)
    names = list(value)
    for n in names:
        if not isinstance(n, str):
            raise _wrong(name, n, "a name (a string)", hint)
    return names


def _flag(value: object, name: str) -> bool:
    """``value`` when it is a ``bool`` (a string such as "no" would be true). Raises
    :class:`InputError`."""
    if isinstance(value, bool):
        return value
    raise _wrong(name, value, "True or False", f"pass {name}=True or {name}=False")


def _integer(value: object, name: str, hint: str) -> int:
    """``value`` when it is an ``int`` (not a bool). Raises :class:`InputError`."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise _wrong(name, value, "a whole number", hint)


def _seconds(value: object, name: str, *, none: bool = False) -> float | None:
    """``value`` when it is a number of seconds, 0 or more (or None, when ``none``).
    Raises :class:`InputError`."""
    if none and value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    raise _wrong(name, value, "a number of seconds", f"pass {name} as seconds, e.g. {name}=60")


def _callable(value: object, name: str, what: str) -> None:
    """Refuse what is neither None nor callable with an :class:`InputError`."""
    if value is not None and not callable(value):
        raise _wrong(name, value, "a function", f"pass {name} as {what}, or None")


def _secret(value: object, name: str, *, raw: bool = False) -> None:
    """Refuse a ``name`` that is not a str (or bytes, when ``raw``) or None with a
    :class:`PasswordError`, as a wrong-typed passphrase or PIN is."""
    kinds: tuple[type, ...] = (str, bytes) if raw else (str,)
    if value is not None and not isinstance(value, kinds):
        what = "a str or bytes" if raw else "a str"
        raise PasswordError(
            f"{name} must be {what} (got {type(value).__name__})", f"pass {name} as {what}, or None"
        )


def _store(store: object) -> None:
    """Refuse what is not an open :class:`Store` (a home folder's path, None) with an
    :class:`InputError`. Imports nothing: a Store exists only once its module is loaded."""
    session = sys.modules.get("ccapki.store.session")
    if session is None or not isinstance(store, session.Store):
        raise _wrong(
            "store",
            store,
            "a Store",
            "pass the store ccapki.open_store(HOME) returns: "
            "`with ccapki.open_store(HOME) as store: ...`",
        )


# ---------------------------------------------------------------------------- deployment


def load_deployment(path: str | os.PathLike[str]) -> Deployment:
    """Read a deployment file (TOML).

    Returns the frozen :class:`Deployment`. Raises :class:`DeploymentError` (``message``
    starts with ``FILE:LINE:``) for a broken file, :class:`InputError` when it cannot be
    read (a folder, no such file) or ``path`` is not a path (None, a number, bytes).
    """
    from ccapki.topology.loader import load_deployment as _load

    return _load(_path(path, "path", "ccapki.load_deployment('campus.toml')"))


def parse_deployment(text: str, source: str = "<deployment>") -> Deployment:
    """A deployment from TOML text; ``source`` names it in error messages.

    Returns the frozen :class:`Deployment`. Raises :class:`DeploymentError` for a broken
    deployment, :class:`InputError` when ``text`` or ``source`` is not a string (bytes:
    decode them first).
    """
    from ccapki.topology.loader import parse_deployment as _parse

    if not isinstance(text, str):
        raise _wrong(
            "text",
            text,
            "a string",
            "pass the TOML text as a str (bytes: data.decode('utf-8')), or a file's path "
            "to ccapki.load_deployment(FILE)",
        )
    _text(source, "source", "pass source as a str: the name error messages give the text")
    return _parse(text, source)


def make_plan(deployment: Deployment) -> Plan:
    """The certificate plan: one certificate per CAM and per CAS, one per HA pair.

    Returns a :class:`Plan`: ``certificates_needed`` and ``identities`` (each with its
    names, key type, validity, source and channels). Raises nothing: a loaded deployment
    is consistent; :class:`InputError` when ``deployment`` is not a :class:`Deployment`.
    """
    _deployment(deployment)
    from ccapki.topology.plan import make_plan as _make_plan

    return _make_plan(deployment)


def pending_actions(
    store: Store, deployment: Deployment | Plan, now: dt.datetime | None = None
) -> tuple[Action, ...]:
    """What :func:`apply` would do for each identity of the plan, against what the store
    holds at ``now``. Changes nothing.

    Returns one :class:`Action` per identity, in plan order (``ActionKind.NOTHING`` when
    it is issued and current). Raises :class:`StoreError` for an unusable store,
    :class:`InputError` for an argument of the wrong type.
    """
    _store(store)
    if not isinstance(deployment, Plan):
        _deployment(deployment)
    from ccapki.lifecycle.apply import current_state
    from ccapki.lifecycle.certfiles import with_pending_csrs
    from ccapki.topology.plan import pending_actions as _pending

    plan = deployment if isinstance(deployment, Plan) else make_plan(deployment)
    with store.scoped(plan.deployment.name):
        # a pending CSR made for an older version of the file is said stale, not awaited
        current = with_pending_csrs(store, current_state(store))
        return _pending(plan, current, _now(store, now))


# ---------------------------------------------------------------------------- store


Passphrase = str | Callable[[], str] | None


def _passphrase(passphrase: object) -> None:
    """Refuse a passphrase that is neither a str, a function returning one, nor None."""
    if passphrase is not None and not isinstance(passphrase, str) and not callable(passphrase):
        raise PasswordError(
            f"passphrase must be a str or a function returning one (got "
            f"{type(passphrase).__name__})",
            "pass the store's passphrase as a str (e.g. os.environ['CCAPKI_PASSPHRASE']), "
            "or None for a store made with key_file=True",
        )


def _provider(passphrase: Passphrase) -> Callable[[], str] | None:
    if passphrase is None:
        return None
    if callable(passphrase):
        given = passphrase

        def checked() -> str:  # what it returns is checked when the store asks for it
            value: object = given()
            if not isinstance(value, str):
                raise PasswordError(
                    f"the passphrase function returned {type(value).__name__}, not a str",
                    "return the store's passphrase as a str from it (e.g. lambda: "
                    "os.environ['CCAPKI_PASSPHRASE'])",
                )
            return value

        return checked
    text = passphrase
    return lambda: text


def store_exists(home: str | os.PathLike[str], url: str | None = None) -> bool:
    """Whether there is a store to open. Imports no database code.

    Returns True when ``url`` is given or ``home`` holds a store. Raises
    :class:`InputError` only when ``home`` is not a path (None, a number, bytes) or ``url``
    not a string.
    """
    from ccapki.home import expand_home
    from ccapki.home import store_exists as _exists

    home = _path(home, "home", "ccapki.store_exists('/srv/ccapki')")
    _text(url, "url", "pass the database URL as a str, or None", none=True)
    try:
        folder = expand_home(home, "home")
    except InputError:  # "~nosuchuser/ccapki" holds no store
        return bool(url)
    return _exists(folder, url)


def open_store(
    home: str | os.PathLike[str],
    passphrase: Passphrase = None,
    *,
    url: str | None = None,
    clock: Callable[[], dt.datetime] | None = None,
    deployment: str | None = None,
    wait: float = 60.0,
    upgrade: bool = False,
) -> Store:
    """Open the store in the folder ``home`` (or the database at ``url``, e.g.
    ``postgresql+psycopg://...``). Use it as a context manager: ``with open_store(...) as
    store:`` closes it at the end.

    A store made by an older ccapki is refused (nothing changed) unless ``upgrade``: it
    is then migrated to this version's schema, as ``ccapki upgrade`` does (a SQLite
    store's database copied first; ``store.upgraded`` says what was done).

    ``deployment`` names the deployment that the functions given no :class:`Deployment`
    (``export``, ``client_roots``) act on; without it, the store's only one
    (``store.deployments.summary()`` lists them). A store holding several raises
    :class:`InputError` when one of those functions is called without it.

    ``passphrase`` (a string, or a function returning one) unseals the private keys; it is
    asked for only when a key is first needed, and not at all for a store made with
    ``key_file=True``. ``clock`` is the store's time (default: now, UTC). ``wait``: how
    many seconds a change waits for another process writing to the store (then
    :class:`StoreError`).

    Returns the open :class:`Store`. Raises :class:`StoreError` when there is no store, it
    is not a ccapki store, its schema is another version's (older: see ``upgrade``) or the
    database cannot be reached, :class:`NotFoundError` when
    it holds no ``deployment`` of that name, :class:`InputError` when ``home`` starts with
    a ``~USER`` that names no user or an argument is of the wrong type (``home`` not a
    path); a wrong passphrase raises
    :class:`PasswordError` when a key is first unsealed.
    """
    from ccapki.home import expand_home

    home = _path(home, "home", "ccapki.open_store('/srv/ccapki')")
    _passphrase(passphrase)
    _text(url, "url", "pass the database URL as a str (postgresql+psycopg://...)", none=True)
    _callable(clock, "clock", "a function returning an aware datetime")
    _text(deployment, "deployment", "pass the deployment's name as a str, or None", none=True)
    wait = _seconds(wait, "wait") or 0.0
    _flag(upgrade, "upgrade")
    from ccapki.store.session import Store

    store = Store.open(
        expand_home(home, "home"),
        url=url,
        passphrase=_provider(passphrase),
        clock=clock,
        wait=wait,
        upgrade=upgrade,
    )
    try:
        store.use(deployment)
    except BaseException:
        store.close()
        raise
    return store


def init_store(
    home: str | os.PathLike[str],
    *,
    passphrase: str | None = None,
    key_file: bool = False,
    url: str | None = None,
    clock: Callable[[], dt.datetime] | None = None,
) -> Store:
    """Create a new store in ``home`` (made 0700).

    Returns the new :class:`Store`, open (use it with ``with``). The private keys are
    sealed with a data key wrapped by ``passphrase`` (at least 8 characters), or, with
    ``key_file=True``, kept in ``home/data.key`` (0600). Raises
    :class:`StoreError` when a store already exists there (one is never overwritten) or
    the database cannot be reached, :class:`PasswordError` for a missing or short
    passphrase, :class:`InputError` when ``home`` starts with a ``~USER`` that names no
    user, an argument is of the wrong type (``home`` not a path), or both a passphrase
    and ``key_file=True`` are given.
    """
    from ccapki.home import expand_home

    home = _path(home, "home", "ccapki.init_store('/srv/ccapki', passphrase=...)")
    if passphrase is not None and not isinstance(passphrase, str):
        raise PasswordError(
            f"passphrase must be a str (got {type(passphrase).__name__})",
            "pass the store's passphrase as a str (at least 8 characters), or key_file=True",
        )
    _flag(key_file, "key_file")
    if key_file and passphrase is not None:  # which one seals the keys? never a guess
        raise InputError(
            "init_store() was given both a passphrase and key_file=True; the keys are "
            "sealed by one of them",
            "pass passphrase=... (a passphrase store), or key_file=True without a "
            "passphrase (a data.key file beside the store)",
        )
    _text(url, "url", "pass the database URL as a str (postgresql+psycopg://...)", none=True)
    _callable(clock, "clock", "a function returning an aware datetime")
    from ccapki.store.session import Store

    return Store.init(
        expand_home(home, "home"), url=url, passphrase=passphrase, key_file=key_file, clock=clock
    )


# ---------------------------------------------------------------------------- issuing


def apply(
    store: Store,
    deployment: Deployment,
    now: dt.datetime | None = None,
    *,
    dry_run: bool = False,
    path: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    report: dict[str, object] | None = None,
    roll_back: bool = False,
) -> ApplyResult:
    """Issue (or renew, or reissue) what the plan needs, from each identity's source, and
    fill the appliances' trust stores; idempotent (a second run changes nothing).

    Decided under the store's write lock (another writer at once waits, see
    :meth:`Store.transaction`) and committed in batches, each identity whole (certificate
    and key): an error or interruption keeps the batches committed before it (its hint
    says how many) and a second run issues the rest. ``dry_run`` only computes the
    actions. ``path`` is recorded as where the deployment file came from. ``progress`` is
    told (identities issued, identities to issue) as issuing goes. With ``roll_back``,
    interrupted before any identity was kept, it rolls back the deployment file version
    and the CAs it wrote; ``report`` (a dict) is filled with what was kept, also on an
    error or interruption (see :func:`ccapki.lifecycle.apply.apply_plan`).

    Returns an :class:`ApplyResult` (``actions``, ``issued`` identity names,
    ``created_cas``, ``trust_added``). Raises :class:`PasswordError` for a wrong
    passphrase (before anything is written), :class:`StoreError` for an unusable store,
    :class:`InputError` for an argument of the wrong type.
    """
    _store(store)
    _deployment(deployment)
    _flag(dry_run, "dry_run")
    _flag(roll_back, "roll_back")
    if path is not None:
        path = _path(path, "path", "path='campus.toml' (where the file came from)")
    _callable(progress, "progress", "a function given (issued, to issue)")
    if report is not None and not isinstance(report, dict):
        raise _wrong("report", report, "a dict", "pass report={} (it is filled), or None")
    from ccapki.lifecycle.apply import apply_plan

    return apply_plan(
        store,
        deployment,
        _now(store, now),
        dry_run=dry_run,
        path=path,
        progress=progress,
        report=report,
        roll_back=roll_back,
    )


def create_cas(
    store: Store,
    deployment: Deployment,
    now: dt.datetime | None = None,
    *,
    root_pkcs11_uri: str | None = None,
    intermediate_pkcs11_uri: str | None = None,
    pkcs11_module: str | None = None,
    pin: str | Callable[[str], str] | None = None,
    path: str | None = None,
) -> list[CaKeyPlace]:
    """Create the deployment's internal root and intermediate CAs that the store does not
    hold yet, as ``ccapki ca create`` does: each key in the PKCS#11 token its URI names
    (RFC 7512, ``pkcs11:token=LABEL;object=KEY``: these arguments, else the file's
    ``[ca]``), generated there sensitive and not extractable (or used as it is when the
    token holds it), else made and sealed in the store. One transaction; the store records
    where a token key is, never the key or the PIN. ``apply`` creates the same CAs on
    first use.

    ``pin``: the token's user PIN, or a function given the token's label that returns it;
    ``None`` reads ``CCAPKI_PKCS11_PIN`` (the PKCS#11 settings are the API's environment
    exception, with ``CCAPKI_PKCS11_MODULE``, which wins over ``pkcs11_module`` as on the
    command line). ``path`` is recorded as where the deployment file came from.

    Returns one :class:`CaKeyPlace` per CA created (``name``, ``kind``, ``where``:
    ``"token"`` or ``"store"``, ``uri``, ``module``), empty when both were there. Raises
    :class:`InputError` for a bad URI or a URI given for a CA the store holds already,
    :class:`TokenError` for a token failure (module, token, PIN, key object),
    :class:`PasswordError` for a wrong store passphrase, :class:`StoreError` for an
    unusable store; nothing is written when it raises.
    """
    _store(store)
    _deployment(deployment)
    for name, value in (
        ("root_pkcs11_uri", root_pkcs11_uri),
        ("intermediate_pkcs11_uri", intermediate_pkcs11_uri),
    ):
        _text(value, name, "pass a PKCS#11 URI as a str (pkcs11:token=LABEL;object=KEY)", none=True)
    _text(pkcs11_module, "pkcs11_module", "pass the PKCS#11 library's path as a str", none=True)
    if pin is not None and not isinstance(pin, str) and not callable(pin):
        raise PasswordError(
            f"pin must be a str or a function returning one (got {type(pin).__name__})",
            "pass the token's user PIN as a str, or None to read CCAPKI_PKCS11_PIN",
        )
    if path is not None:
        path = _path(path, "path", "path='campus.toml' (where the file came from)")
    from ccapki.hsm.uri import parse_pkcs11_uri
    from ccapki.lifecycle.cakeys import ca_key_places, create_internal_cas
    from ccapki.topology.model import CaKeys

    root = str(parse_pkcs11_uri(root_pkcs11_uri)) if root_pkcs11_uri else None
    inter = str(parse_pkcs11_uri(intermediate_pkcs11_uri)) if intermediate_pkcs11_uri else None
    before = store.token_keys.pin
    if pin is not None:
        secret = pin
        store.token_keys.pin = secret if callable(secret) else (lambda _token: secret)
    try:
        created = create_internal_cas(
            store,
            deployment,
            _now(store, now),
            overrides=CaKeys(root, inter, pkcs11_module),
            path=path,
        )
        with store.scoped(deployment.name):
            places = ca_key_places(store)
    finally:
        store.token_keys.pin = before
    return [p for p in places if p.name in created]


def make_csrs(
    store: Store,
    deployment: Deployment,
    identities: Iterable[str] | str | None = None,
    *,
    deliver: Callable[[CsrResult], None] | None = None,
    out: str | os.PathLike[str] | None = None,
    follow_symlink: bool = False,
) -> list[CsrResult]:
    """For each identity (a list of names, or one name; default: every third-party
    identity of the plan), a new private key, sealed in the store as *pending*, and a
    PKCS#10 CSR with the plan's names.

    Older pending keys are kept, so a certificate answering an older request still finds
    its key. Each CSR is handed over only once the store has committed its key: ``out``
    (a folder: ``NAME.csr`` in it, made if missing; a path ending in ``.csr`` for one
    identity; ``-`` for standard output) is written as ``ccapki csr --out`` writes it
    (staged before the commit, renamed after: a script killed in between leaves no CSR
    whose key is lost); ``deliver`` runs for each result after the commit. A CSR that an
    earlier run (a script, ``ccapki csr``, ``renew --commit``) made and the store kept but
    never handed over (killed after its commit, or ``deliver`` raised) is handed over
    again instead of a new key being made: its result has ``again`` set.

    Returns one :class:`CsrResult` per identity, in the order named (``.pem`` is the CSR;
    ``.path`` the file written, with ``out``). Raises :class:`NotFoundError` for a name
    the deployment does not have, :class:`InputError` when there is no identity to make a
    CSR for, an argument is of the wrong type, both ``deliver`` and ``out`` are given, or
    ``out`` cannot be written (checked before any key is made); what ``deliver`` raises
    (the key and CSR stay kept: the next call hands that CSR over again).
    """
    _store(store)
    _deployment(deployment)
    _callable(deliver, "deliver", "a function given each CsrResult")
    folder = None if out is None else _path(out, "out", "out='csrs/'")
    _flag(follow_symlink, "follow_symlink")
    if folder is not None and deliver is not None:
        raise InputError(
            "make_csrs: both deliver and out given",
            "pass out='csrs/' to have ccapki write the files, or deliver=FUNCTION to get "
            "each CsrResult once the store committed, not both",
        )
    from dataclasses import replace
    from pathlib import Path

    from ccapki.lifecycle.certfiles import make_csrs as _make_csrs
    from ccapki.topology.model import Source

    if identities is None:
        names = [i.name for i in deployment.identities if i.source is Source.THIRD_PARTY]
    else:
        # one name, never its letters
        given = _name_list(identities, "identities", "name identities: ['cas-clinic'], or None")
        names = [deployment.identity(n).name for n in dict.fromkeys(given)]
    if not names:
        if identities is None:  # the default: every third-party identity, and there is none
            raise InputError(
                f"deployment {deployment.name} has no third-party identity: no CSR to make",
                "name the identities a CSR is for: make_csrs(store, deployment, ['cas-clinic'])",
            )
        raise InputError(
            "make_csrs: no identity named (an empty list)",
            "name the identities a CSR is for: make_csrs(store, deployment, ['cas-clinic']), "
            "or identities=None for every third-party identity",
        )
    from ccapki.lifecycle.csrdelivery import CallerHandover, CsrHandover, undelivered_for

    handover: CsrHandover | None = None
    if folder is not None:
        from ccapki.fsutil import STDOUT, check_output_folder

        one_file = folder != STDOUT and folder.lower().endswith(".csr")
        one_file = one_file and not Path(folder).is_dir()
        if one_file and len(names) != 1:
            raise InputError(
                f"out={folder} names one file, but {len(names)} CSRs are to be made; "
                "nothing was written",
                "give a folder for several CSRs (out='csrs/'), or name one identity",
            )
        if folder != STDOUT:  # before a key is made
            check_output_folder(Path(folder).parent if one_file else folder, target=folder)
        handover = CsrHandover(
            store,
            deployment.name,
            folder,
            one_file=one_file,
            follow_symlink=follow_symlink,
            command="csr",
        )
    caller = CallerHandover(store, deployment.name, command="csr")
    stage = caller.stage if handover is None else handover.stage

    def staged(result: CsrResult) -> None:
        stage(result.identity, result.spki, result.pem)

    with store.scoped(deployment.name):
        again = undelivered_for(store, deployment, names)
        make = [n for n in names if n not in again]
        try:
            made = _make_csrs(store, deployment, make, staged) if make else []
        except BaseException:
            if handover is not None:
                handover.discard()
            raise
        results = made + [_csr_again(store, u) for u in again.values()]
    order = {n: i for i, n in enumerate(names)}
    if handover is not None:  # staged first, then the CSRs again: as results
        handed = handover.place(tuple(again.values()))
        results = [replace(r, path=h.path) for r, h in zip(results, handed, strict=True)]
        return sorted(results, key=lambda r: order[r.identity])
    results.sort(key=lambda r: order[r.identity])
    _hand_over(results, deliver, caller)
    return results


class _HandedCsr(Protocol):
    """What :func:`_hand_over` reads of a CSR made (CsrResult, CsrMade)."""

    @property
    def identity(self) -> str: ...
    @property
    def spki(self) -> str: ...
    @property
    def pem(self) -> bytes: ...
    @property
    def again(self) -> bool: ...


_C = TypeVar("_C", bound=_HandedCsr)


def _hand_over(
    csrs: Sequence[_C], deliver: Callable[[_C], object] | None, caller: CallerHandover
) -> None:
    """Give each of ``csrs`` to ``deliver`` (if any), in order, and log those handed over
    (also when ``deliver`` raises: the rest are handed over again by the next call)."""
    done: list[tuple[str, str, bytes, bool]] = []
    try:
        for c in csrs:
            if deliver is not None:
                deliver(c)
            done.append((c.identity, c.spki, c.pem, c.again))
    finally:
        caller.handed(done)


def _csr_again(store: Store, u: Undelivered) -> CsrResult:
    """The :class:`CsrResult` of a CSR the store kept and a stopped run never handed
    over. Raises what the store raises."""
    from ccapki.lifecycle.certfiles import CsrResult
    from ccapki.store.records import KeyState

    keys = store.keys.list(identity=u.identity, state=KeyState.PENDING)
    older = sum(1 for k in keys if k.fingerprint != u.spki)
    return CsrResult(u.identity, u.record.csr, u.spki, older, again=True)


def read_files(
    paths: Iterable[str | os.PathLike[str]] | str | os.PathLike[str],
    password: str | bytes | None = None,
    *,
    skipped: list[tuple[str, str]] | None = None,
) -> list[Material]:
    """Parse certificate and key files (PEM, DER, PKCS#7, PKCS#12; folders recursively).

    ``paths`` is a list of paths, or one path (a string is one path, never its letters).
    Returns one :class:`Material` per file. Raises :class:`FileFormatError` (naming the
    file) at the first bad one, so a caller can refuse the whole batch,
    :class:`PasswordError` for a wrong PKCS#12 password, :class:`InputError` for a path
    that does not exist or cannot be read (or no path at all). With ``skipped`` (a list), a file
    inside a folder that holds no certificate or key material at all (a README) is left out
    and appended as ``(path, reason)`` instead. A path that is not one (None, a number,
    bytes), or a password neither str nor bytes, raises :class:`InputError` too.
    """
    from ccapki.pki.formats import parse_files

    # a string is iterable too: "/srv/returned" would be read as "/", "s", "r", ...
    given = _paths(paths, "paths", "ccapki.read_files(['returned/'])")
    _secret(password, "password", raw=True)
    if skipped is not None and not isinstance(skipped, list):
        raise _wrong("skipped", skipped, "a list", "pass skipped=[] (it is filled), or None")
    pw = password.encode() if isinstance(password, str) else password
    return parse_files(given, pw or None, skipped=skipped)


def import_materials(
    store: Store,
    deployment: Deployment,
    materials: Sequence[Material],
    now: dt.datetime | None = None,
    *,
    force: bool = False,
    identity: str | None = None,
) -> ImportResult:
    """Import parsed files (see :func:`read_files`): all or nothing.

    Each certificate is matched to the deployment's identity by its names and to its
    private key by public key (a key of the batch, else a pending key from
    :func:`make_csrs`); a certificate the store holds already is left as it is (``held``).
    ``force`` imports a certificate that does not fit the plan; ``identity`` names the
    identity when the names do not say.

    Returns an :class:`ImportResult`. Raises :class:`KeyNotFoundError` when a certificate
    matches no key, :class:`InputError` when one does not fit the plan (nothing is
    imported then), or for an argument of the wrong type (``materials`` not what
    :func:`read_files` returns).
    """
    _store(store)
    _deployment(deployment)
    from ccapki.pki.formats import Material

    hint = "pass what ccapki.read_files(PATHS) returns (or call ccapki.import_files)"
    if isinstance(materials, str | bytes | os.PathLike) or not isinstance(materials, Iterable):
        raise _wrong("materials", materials, "a list of Material", hint)
    materials = list(materials)
    for m in materials:
        if not isinstance(m, Material):
            raise _wrong("materials", m, "a Material", hint)
    _flag(force, "force")
    _text(identity, "identity", "pass the identity's name as a str, or None", none=True)
    from ccapki.lifecycle import importing

    with store.scoped(deployment.name):
        return importing.import_materials(
            store, deployment, materials, _now(store, now), force=force, identity=identity
        )


def import_files(
    store: Store,
    deployment: Deployment,
    paths: Iterable[str | os.PathLike[str]] | str | os.PathLike[str],
    password: str | bytes | None = None,
    *,
    now: dt.datetime | None = None,
    force: bool = False,
    identity: str | None = None,
    skipped: list[tuple[str, str]] | None = None,
) -> ImportResult:
    """Read the files (or folders) at ``paths`` (a list, or one path) and import them:
    :func:`read_files` then :func:`import_materials`. All or nothing.

    With ``skipped`` (a list), a file inside a folder that holds no certificate or key at
    all (a README, an image) is left out and appended as ``(path, reason)``, as
    ``ccapki import FOLDER`` does; without it such a file refuses the batch.

    Returns the :class:`ImportResult`. Raises what those two raise:
    :class:`FileFormatError`, :class:`PasswordError`, :class:`KeyNotFoundError`,
    :class:`NotFoundError` (an ``identity`` the deployment does not have),
    :class:`InputError` (a path that does not exist or cannot be read, a certificate that
    does not fit the plan, an argument of the wrong type); nothing is imported then.
    """
    _store(store)
    _deployment(deployment)  # before any file is read
    materials = read_files(paths, password, skipped=skipped)
    return import_materials(store, deployment, materials, now, force=force, identity=identity)


def export(
    store: Store,
    identity: str,
    format: ExportFormat = "pem-bundle",
    *,
    password: str | bytes | None = None,
    include_root: bool = False,
    legacy: bool = False,
    destination: str = "<returned by ccapki.export>",
    version: int | None = None,
) -> bytes:
    """The current certificate of ``identity`` as one file: the name the plan gives it, or
    one of its appliances' (an HA peer's name means its pair), as ``ccapki export`` takes
    it; with ``version``, that earlier version (kept whole after a renewal or reissue:
    installing it again undoes one).

    Returns the file's bytes. Formats: ``pem-bundle`` (certificate, chain, key: the
    FAQ's upload file), ``cert``, ``chain``, ``fullchain``, ``key``, ``der``, ``pkcs12``
    (needs ``password``; ``legacy`` for 3DES/SHA-1). ``password`` encrypts the key of
    ``pem-bundle`` and ``key``. A format holding the private key is written to the audit
    log (who: the store's ``actor``; where it went: ``destination``).

    Raises :class:`NotFoundError` when the store holds no certificate for ``identity`` (or
    not that ``version``), :class:`InputError` for an unknown format, a PKCS#12 without a
    password or an argument of the wrong type.
    """
    _store(store)
    _name(identity, "identity", "pass the identity's name (or an appliance's) as a str")
    _text(format, "format", "pass the format's name, e.g. 'pem-bundle'")
    _secret(password, "password", raw=True)
    _flag(include_root, "include_root")
    _flag(legacy, "legacy")
    _text(destination, "destination", "pass where the file goes as a str (for the audit log)")
    if version is not None and (
        isinstance(version, bool) or not isinstance(version, int) or version < 1
    ):
        raise InputError(
            f"version must be a version number (1 or more), not {version!r}",
            "pass an int, e.g. version=1, or None for the current version",
        )
    from ccapki.lifecycle.exports import (
        KEY_FORMATS,
        MIN_EXPORT_PASSWORD,
        check_export_password,
        export_identity,
        record_key_export,
    )

    pw = password.encode() if isinstance(password, str) else password
    # the password's refusals in this API's words (export_identity's name the CLI's options)
    if format == "pkcs12" and not pw:
        raise InputError(
            "a PKCS#12 file needs a password", f"pass password= ({MIN_EXPORT_PASSWORD}+ characters)"
        )
    if pw and format in KEY_FORMATS:
        check_export_password(
            pw, "a PKCS#12 file" if format == "pkcs12" else "the key", ways="password="
        )
    if store.identities.get(identity) is None:  # an appliance's name: its identity's
        held: Deployment | None = None
        with contextlib.suppress(CcapkiError):  # no deployment file: export_identity says
            held = stored_deployment(store)
        if held is not None:  # a name the file does not have: said as the CLI says it
            identity = held.identity(identity).name
    exported = export_identity(
        store,
        identity,
        format,
        password=pw or None,
        include_root=include_root,
        legacy=legacy,
        version=version,
    )
    record_key_export(store, exported, destination, encrypted=bool(pw))
    return exported.data


# ---------------------------------------------------------------------------- renewal


def plan_renewal(
    store: Store,
    deployment: Deployment,
    now: dt.datetime | None = None,
    *,
    names: Sequence[str] | str = (),
    due: bool = True,
    started: dt.datetime | None = None,
) -> RenewalPlan:
    """What ``ccapki renew`` would do at ``now``; writes nothing (a dry run).

    ``due``: every identity whose certificate, or an issuer of its chain, is inside its
    renewal window (a third of its life, at most 30 days) or expired; ``names``: identities
    (a list, or one name; an appliance name means its identity: an HA pair is one) renewed
    even when not due.

    Returns a :class:`RenewalPlan`: ``items`` (one per identity: how it is renewed, on which
    key by the deployment's ``[renewal] key`` policy), ``new_issuers`` (successors of CAs
    that would not outlive what they sign), ``steps`` (the safe order: trust-store
    additions, identities, retiring the old issuer), ``skipped`` (with what to do), and
    ``to_dict()``. ``started``: when the run began by the machine's clock (default: now);
    :func:`commit_renewal` leaves alone an identity another run renewed after it.
    Raises :class:`InputError` for a name the deployment does not have, or an argument of
    the wrong type.
    """
    _store(store)
    _deployment(deployment)
    from ccapki.lifecycle.renew import plan_renewal as _plan_renewal

    # one name, never its letters
    given = tuple(_name_list(names, "names", "name identities: names=['cam'], or ()"))
    _flag(due, "due")
    if started is not None:  # an aware datetime, as ``now``
        started = _now(store, started, "started")
    return _plan_renewal(
        store, deployment, now=_now(store, now), names=given, due=due, started=started
    )


def commit_renewal(
    store: Store,
    deployment: Deployment,
    plan: RenewalPlan,
    now: dt.datetime | None = None,
    *,
    deliver: Callable[[CsrMade], None] | None = None,
    out: str | os.PathLike[str] | None = None,
) -> RenewalResult:
    """Carry out a :func:`plan_renewal` plan: reissue internal, self-signed and
    Perfigo-style identities (new versions; a new key, or the same key under the ``keep``
    policy), make a CSR for each third-party one (a new pending key, or signed with the
    current key under ``keep``; its current certificate stays current until the new one
    is imported), add what the trust stores need, and log each renewal in the audit log.

    Issued outside the store's write lock, written in one transaction under it after
    checking nothing changed since the plan (an identity another writer changed, or
    renewed after the plan's run began, is left alone: ``renewed_elsewhere``);
    each CSR is handed over only once the store has committed its key: ``out`` (a folder,
    made if missing, ``NAME.csr`` in it; ``-`` for standard output) is written as ``renew
    --commit --out`` writes it; ``deliver`` runs for each CSR after the commit. The CSRs
    an earlier run made and never handed over (``plan.undelivered``) are handed over too
    (``again`` set, in ``csrs``: the same CSR and key, no new one); with ``out`` each
    CSR's ``path`` is its file. If ``deliver`` raises, the renewal stays committed and
    the CSRs not yet handed over are handed over by the next call.

    Returns a :class:`RenewalResult` (``renewed``, ``csrs``, ``created_cas``,
    ``trust_added``, ``retire``: removals to make once the appliances serve the new
    certificates). Raises :class:`PasswordError` (before anything is written),
    :class:`StoreError` when the store's CAs changed since the plan; nothing is written
    then, nor on an interruption; :class:`InputError` for an argument of the wrong type
    (``plan`` not what :func:`plan_renewal` returns, both ``deliver`` and ``out``), or
    ``out`` that cannot be written (checked before anything is written).
    """
    _store(store)
    _deployment(deployment)
    from ccapki.lifecycle.renew import RenewalPlan
    from ccapki.lifecycle.renew import commit_renewal as _commit_renewal

    if not isinstance(plan, RenewalPlan):
        raise _wrong(
            "plan",
            plan,
            "a RenewalPlan",
            "pass what ccapki.plan_renewal(store, deployment) returns",
        )
    _callable(deliver, "deliver", "a function given each CsrMade")
    folder = None if out is None else _path(out, "out", "out='renewal/'")
    if folder is not None and deliver is not None:
        raise InputError(
            "commit_renewal: both deliver and out given",
            "pass out='renewal/' to have ccapki write the CSR files, or deliver=FUNCTION "
            "to get each CsrMade once the store committed, not both",
        )
    from dataclasses import replace

    from ccapki.fsutil import STDOUT, check_output_folder
    from ccapki.lifecycle.csrdelivery import CallerHandover, CsrHandover
    from ccapki.lifecycle.renew import CsrMade
    from ccapki.store.records import KeyState

    at = _now(store, now)
    handover: CsrHandover | None = None
    if folder is not None:
        if folder != STDOUT and (plan.undelivered or any(i.action == "csr" for i in plan.items)):
            check_output_folder(folder)
        handover = CsrHandover(store, deployment.name, folder)
    caller = CallerHandover(store, deployment.name)
    stage = caller.stage if handover is None else handover.stage

    def staged(c: CsrMade) -> None:
        stage(c.identity, c.spki, c.pem)

    try:
        result = _commit_renewal(store, deployment, plan, now=at, deliver=staged)
    except BaseException:
        if handover is not None:
            handover.discard()
        raise
    with store.scoped(deployment.name):
        pending = {k.fingerprint for k in store.keys.list(state=KeyState.PENDING)}
    csrs = [
        *result.csrs,
        *(
            CsrMade(u.identity, u.record.csr, u.spki, u.spki in pending, again=True)
            for u in plan.undelivered
        ),
    ]
    if handover is not None:  # staged first, then the CSRs again: as csrs
        handed = handover.place(plan.undelivered)
        csrs = [replace(c, path=h.path) for c, h in zip(csrs, handed, strict=True)]
    else:
        _hand_over(csrs, deliver, caller)
    return replace(result, csrs=tuple(csrs))


# ---------------------------------------------------------------------------- trust


def check_trust(
    store: Store,
    deployment: Deployment,
    now: dt.datetime | None = None,
    *,
    clients: str | os.PathLike[str] = "installed",
) -> Matrix:
    """Every channel of the deployment on every appliance: pass, fail (with findings) or
    not applicable, what ``ccapki trust check`` prints.

    ``clients`` is the client root store the client channels are judged against:
    ``"installed"`` (the OS roots plus those ccapki says to install), ``"mozilla"`` (the OS
    roots only) or a bundle file. Returns a :class:`Matrix`: ``cells`` (one per appliance
    and channel, ``ok`` True/False/None), ``ok`` (nothing fails), ``clean`` (and nothing is
    due for renewal), ``warnings`` (all), ``renewals`` (what a renewal fixes) and
    ``strictness`` (web-PKI refusals the channels' stacks accept: they leave ``clean``
    true). Raises :class:`FileFormatError` for a bad bundle file, :class:`InputError` for a
    ``clients`` that is neither ``"installed"``, ``"mozilla"`` nor a readable file (a
    folder, no such file, not a path at all), or another argument of the wrong type.
    """
    _store(store)
    _deployment(deployment)
    bundle = _path(clients, "clients", "clients='installed', 'mozilla' or 'roots.pem'")
    from ccapki.lifecycle.trustops import check_deployment, client_trust_roots, load_inventory

    with store.scoped(deployment.name):
        inv = load_inventory(store, deployment)
        roots, public = client_trust_roots(bundle, inv)
        return check_deployment(inv, _now(store, now), roots, public_fingerprints=public)


def client_roots(store: Store) -> list[ClientRoot]:
    """The roots clients (browsers, agents) need to trust the appliances.

    Returns one :class:`ClientRoot` per distinct anchor: ``certificate``, the
    ``identities`` behind it, and whether the common OS stores hold it (``public``)
    already. Raises :class:`InputError` when the store holds several deployments and
    :func:`open_store` named none or ``store`` is not a :class:`Store`,
    :class:`StoreError` for an unusable store.
    """
    _store(store)
    from ccapki.lifecycle.certfiles import client_roots as _client_roots

    return _client_roots(store)


# ---------------------------------------------------------------------------- status


def estate_status(
    store: Store,
    now: dt.datetime | None = None,
    *,
    deployments: Sequence[str] | str | None = None,
) -> StatusReport:
    """What ``ccapki status`` reports: every identity (its current version), CA, pending
    CSR and trust-store root of the deployments named (a list of names, or one name; None:
    every deployment the store holds), by days left at ``now``. Reads only; needs no
    passphrase.

    Returns a :class:`StatusReport`: ``items`` (``kind``, ``name``, ``fingerprint``,
    ``not_after``, ``days_left``, ``stage``: ``ok``, one of the deployment's
    ``[monitoring] warn_days`` as text such as ``"30"``, ``expired`` or ``pending`` for a
    CSR; ``temporary`` for an appliance's own install-time certificate, adopted with
    ``import``, not one ccapki issued; ``served``: what each
    endpoint presented at its last probe, and since when), ``warn_days`` per deployment,
    ``summary()``, ``exit_code`` (0 fine, 1 a warning, an expiry or a wrong certificate
    served), ``nagios_code`` (0 OK, 1 WARNING, 2 CRITICAL) and ``to_dict()``. Raises
    :class:`NotFoundError` for a deployment the store does not hold, :class:`StoreError`
    for an unusable store, :class:`InputError` for an argument of the wrong type.
    """
    _store(store)
    from ccapki.lifecycle.status import estate_status as _estate_status

    names = None
    if deployments is not None:
        # a string is a sequence too: "campus" would be read as "c", "a", "m", ...
        names = _name_list(deployments, "deployments", "name deployments: ['campus'], or None")
    return _estate_status(store, now=_now(store, now), deployments=names)


def inventory_page(
    store: Store,
    deployment: str | Deployment,
    now: dt.datetime | None = None,
    *,
    limit: int = 100,
    cursor: str | None = None,
) -> InventoryPage:
    """One page of a deployment's identities by expiry (what the service's inventory
    lists): at most ``limit`` (1 to 1000) current identities after ``cursor`` (None: from
    the first), ordered by ``not_after`` then name, each with its ``days_left`` and
    ``stage`` at ``now`` as :func:`estate_status` gives them; then those the deployment
    file plans without a certificate (stage ``missing``), by name. Reads one page of
    columns: no certificate is parsed. Reads only.

    ``deployment`` is its name or its :class:`Deployment`.

    Returns an :class:`~ccapki.lifecycle.inventory.InventoryPage`: ``items``, ``total``
    (every identity of the deployment), ``limit``, ``next_cursor`` (None on the last
    page). Raises :class:`InputError` for a limit out of range or a cursor not made by
    this function, :class:`NotFoundError` for a deployment the store does not hold,
    :class:`DeploymentError` when its stored file no longer parses.
    """
    from ccapki.lifecycle.inventory import inventory_page as _inventory_page

    _store(store)
    if isinstance(deployment, Deployment):  # as every other function takes it
        deployment = deployment.name
    elif not isinstance(deployment, str):
        _deployment(deployment)
    _integer(limit, "limit", "pass limit as a whole number from 1 to 1000")
    _text(cursor, "cursor", "pass the next_cursor of the page before, or None", none=True)
    return _inventory_page(store, deployment, now=_now(store, now), limit=limit, cursor=cursor)


def store_revision(store: Store) -> tuple[int, ...]:
    """A fingerprint of what :func:`estate_status` reads (the newest id and row count of
    the audit log and of each table a status report reads), from one cheap query: equal
    fingerprints mean no write landed in between, so a report kept under it (and the
    clock's minute) may be served again.

    Returns the tuple of integers. Raises :class:`StoreError` for an unusable store,
    :class:`InputError` when ``store`` is not a :class:`Store`.
    """
    _store(store)
    from ccapki.lifecycle.inventory import store_revision as _store_revision

    return _store_revision(store)


def probe_endpoints(
    store: Store,
    deployment: Deployment,
    *,
    target: str = "auto",
    concurrency: int = 256,
    timeout: float | None = None,
    retries: int = 1,
) -> ProbeRun:
    """What ``ccapki probe`` does for one deployment: connect to every endpoint of its
    appliances (``target``: ``lab``, the lab running for the store's home; ``deployment``,
    the ``endpoints = {...}`` its file gives; ``auto``, the file's when it gives any),
    record the chain each presents, its protocol and latency, compare it with the store
    (expected, stale, unknown, temporary, ha-mismatch, unreachable, not-tls,
    handshake-error), and keep the results in the store (``store.probes``; ``status``
    shows them with since when). Handshakes run on the real clock.

    Returns a :class:`~ccapki.lifecycle.probing.ProbeRun` (``records``, ``exit_code``,
    ``to_dict()``). Never raises for network or TLS trouble (each endpoint's is in its
    record). Raises :class:`InputError` when there is nothing to probe (no lab runs for the
    store and the file gives no endpoints), a setting is out of range or an argument is of
    the wrong type.
    """
    _store(store)
    _deployment(deployment)
    _integer(concurrency, "concurrency", "pass concurrency as a whole number, e.g. 64")
    _integer(retries, "retries", "pass retries as a whole number, e.g. 1")
    _seconds(timeout, "timeout", none=True)
    from ccapki.lab.daemon import read_state
    from ccapki.lifecycle.probing import endpoints_for, probe_deployment

    if not isinstance(target, str) or target not in ("auto", "lab", "deployment"):
        raise InputError(f"target={target!r}", "use target='auto', 'lab' or 'deployment'")
    state = None if target == "deployment" else read_state(store.home / "lab")
    lab = state.status if state is not None and state.alive else None
    other = lab is not None and state is not None and state.serves_other(deployment.name)
    if other:  # its certificates are another deployment's, never this one's drift
        lab = None
    found = endpoints_for(deployment, target, lab)  # type: ignore[arg-type]
    if found is None and other:
        assert state is not None
        raise InputError(
            f"the lab serves deployment {state.serves!r}, not {deployment.name!r}",
            f"probe {state.serves!r}, or serve {deployment.name!r} (`ccapki lab down`, then "
            f"`ccapki --deployment {deployment.name} lab up`); or give endpoints per "
            'appliance in the deployment file (endpoints = { control = "host:port", ... })',
        )
    if found is None:
        raise InputError(
            f"no endpoint to probe for deployment {deployment.name!r}",
            "start the lab (`ccapki lab up`), or give endpoints per appliance in the "
            'deployment file (endpoints = { control = "host:port", ... })',
        )
    endpoints, _real = found
    with store.scoped(deployment.name):
        return probe_deployment(
            store,
            deployment,
            endpoints,
            now=dt.datetime.now(dt.UTC),
            concurrency=concurrency,
            timeout=timeout,
            retries=retries,
        )


# ---------------------------------------------------------------------------- service


def create_backup(
    store: Store,
    path: str | os.PathLike[str],
    passphrase: str,
    *,
    skip_damaged: bool = False,
) -> BackupSummary:
    """What ``ccapki backup create --out PATH [--skip-damaged]`` does: one encrypted archive
    of everything the store holds, written 0600 and atomically (a failure leaves no file),
    logged in the audit log (``backup-create``).

    ``passphrase`` is the backup's own (not the store's). With ``skip_damaged`` a key whose
    sealed bytes do not open is left out (with its CSRs) and listed in the summary's
    ``skipped``. Returns a :class:`BackupSummary` (``path``, ``bytes``, ``identities``,
    ``counts``, ``created_at``, ``skipped``). Raises :class:`InputError` (a short
    passphrase, an ``path`` in a missing folder or not a regular file), :class:`PasswordError`
    (the store's passphrase), :class:`StoreError` (a read-only store, a damaged key without
    ``skip_damaged``, another writer holding the store).
    """
    from ccapki.fsutil import check_output_file
    from ccapki.lifecycle.backups import create_backup as _create
    from ccapki.lifecycle.exports import refuse_unaudited_key_export

    _store(store)
    path = _path(path, "path", "ccapki.create_backup(store, 'nightly.backup', PASSPHRASE)")
    _flag(skip_damaged, "skip_damaged")
    if not isinstance(passphrase, str):
        raise PasswordError(
            "the backup passphrase must be a string",
            "pass the backup passphrase as str (it is not the store's passphrase)",
        )
    check_output_file(path)
    refuse_unaudited_key_export(store, "backup create")
    return _create(store, path, passphrase, skip_damaged=skip_damaged)


def stored_deployment(store: Store, name: str | None = None) -> Deployment:
    """The deployment file the store last applied of deployment ``name`` (None: the
    store's deployment, see :func:`open_store`), parsed.

    Returns the :class:`Deployment`. Raises :class:`NotFoundError` when the store holds
    no deployment ``name`` or no file of it, :class:`InputError` when ``name`` is None and
    the store holds several (none named at :func:`open_store`), :class:`DeploymentError`
    when the kept file no longer parses, :class:`InputError` for an argument of the wrong
    type.
    """
    _store(store)
    _text(name, "name", "pass the deployment's name as a str, or None", none=True)
    view = store.fork(deployment=None)
    # None: the deployment the store acts on (open_store(deployment=...), else its only one)
    view.use(name if name is not None else store.deployment)
    kept = view.deployments.latest()
    if kept is None:
        raise NotFoundError(
            f"the store holds no deployment file of {view.deployment!r}",
            "apply the deployment's file first (`ccapki apply FILE`)",
        )
    return parse_deployment(kept.text, kept.path or "<stored deployment>")


def inspect_identity(
    store: Store, deployment: Deployment, identity: str, now: dt.datetime | None = None
) -> list[CertInfo]:
    """What ``ccapki inspect IDENTITY`` shows of the current certificate of ``identity``
    (the name the plan gives it, or an appliance's), then of each certificate of its chain.

    Returns one :class:`~ccapki.pki.inspect.CertInfo` per certificate (``to_json()``).
    Raises :class:`NotFoundError` when the deployment has no such identity or the store
    holds no certificate for it, :class:`InputError` for an argument of the wrong type.
    """
    _store(store)
    _deployment(deployment)
    _name(identity, "identity", "pass the identity's name (or an appliance's) as a str")
    from ccapki.pki.inspect import KnownCA, describe

    name = deployment.identity(identity).name
    with store.scoped(deployment.name):
        ident = store.identities.get(name)
        known = [KnownCA(c.name, c.kind, c.certificate) for c in store.cas.list()]
    if ident is None:
        raise NotFoundError(
            f"the store holds no certificate for {name!r}",
            "issue it (`ccapki apply FILE`), or import its certificate (`ccapki import`)",
        )
    certs = [ident.certificate, *ident.chain]
    when = _now(store, now)
    return [describe(c, now=when, known=known, chain=certs[i + 1 :]) for i, c in enumerate(certs)]


def plan_trust(store: Store, deployment: Deployment, *, prune: bool = False) -> list[Change]:
    """What ``ccapki trust plan`` prints: the smallest set of trust-store changes that makes
    every channel of the deployment pass (``prune``: also removals of what no channel needs
    any more). Changes nothing.

    Returns the changes (``action`` add or remove, ``appliance``, ``certificate``,
    ``str(change)`` in the appliance GUI's words). Raises :class:`StoreError` for an
    unusable store, :class:`InputError` for an argument of the wrong type.
    """
    _store(store)
    _deployment(deployment)
    _flag(prune, "prune")
    from ccapki.lifecycle.trustops import load_inventory, trust_changes

    with store.scoped(deployment.name):
        return trust_changes(load_inventory(store, deployment), prune=prune)


def apply_trust(store: Store, deployment: Deployment, *, prune: bool = False) -> list[Change]:
    """What ``ccapki trust apply`` does: carry out :func:`plan_trust` in the store, decided
    and written in one transaction under the store's write lock.

    Returns the changes made (empty: nothing to change). Raises :class:`StoreError` for an
    unusable or busy store (nothing written), :class:`InputError` for an argument of the
    wrong type.
    """
    _store(store)
    _deployment(deployment)
    _flag(prune, "prune")
    from ccapki.lifecycle.trustops import apply_changes, load_inventory, trust_changes

    with store.scoped(deployment.name), store.transaction():
        changes = trust_changes(load_inventory(store, deployment), prune=prune)
        apply_changes(store, changes)
    return changes


def rotation_what_if(
    store: Store,
    deployment: Deployment,
    identity: str,
    *,
    to_source: str | None = None,
    now: dt.datetime | None = None,
) -> tuple[list[str], list[tuple[int, str]]]:
    """What ``ccapki trust plan --rotate IDENTITY [--to-source S]`` prints: if ``identity``
    were replaced now by a new certificate from ``to_source`` (default: its own source),
    what breaks, and the safe order of steps. Writes nothing (the CAs it would create are
    made and rolled back).

    Returns ``(breaks, steps)``: each break as text, each step as ``(order, text)``.
    Raises :class:`NotFoundError` for an identity the deployment does not have,
    :class:`InputError` for a third-party replacement (its issuer is unknown until the CA
    answers), an unknown source or an argument of the wrong type.
    """
    _store(store)
    _deployment(deployment)
    _name(identity, "identity", "pass the identity's name (or an appliance's) as a str")
    _text(to_source, "to_source", "pass a source's name: 'internal' or 'self-signed'", none=True)
    from ccapki.lifecycle.apply import ensure_issuers, issue_one, signer_for
    from ccapki.lifecycle.trustops import load_inventory, rotation_plan, third_party_steps
    from ccapki.topology.model import Source
    from ccapki.topology.plan import with_source

    spec = deployment.identity(identity)
    try:
        source = Source(to_source) if to_source else spec.source
    except ValueError:
        raise InputError(
            f"unknown source {to_source!r}",
            "use internal, third-party, self-signed or perfigo",
        ) from None
    if source is Source.THIRD_PARTY:
        raise InputError(
            "a third-party certificate's issuer is known only once the CA returns it",
            third_party_steps(spec.name, switching=spec.source is not Source.THIRD_PARTY),
        )
    when = _now(store, now)
    plan = make_plan(deployment)
    p = plan.get(spec.name)
    p = with_source(p, deployment, source)  # that source's validity too
    signer = signer_for(p, deployment)
    with store.scoped(deployment.name):
        inv = load_inventory(store, deployment)
        with store.transaction():
            # a what-if: CAs it would create are minted, used, and rolled back
            issuers, created = ensure_issuers(store, plan, when, needed={signer} - {"self"})
            record = issue_one(p, signer, issuers, when)
            chain = [record.certificate, *record.chain]
            breaks, steps = rotation_plan(inv, spec.name, chain, when, created=created)
            store.rollback()
    return breaks, [(s.order, s.text) for s in steps]


def service_certificate(
    store: Store,
    names: Sequence[str],
    *,
    days: int = 30,
    now: dt.datetime | None = None,
    self_signed: bool = False,
) -> tuple[list[x509.Certificate], PrivateKeyTypes]:
    """A TLS server certificate for ``ccapki serve``: a new ECDSA P-256 key and a
    certificate for ``names`` (host names and IP addresses) valid ``days`` days, signed by
    the internal CA of the store's deployment, so clients that trust the store's root
    (``ccapki export-roots``) trust the service. Neither is kept in the store; the issue is
    written to the audit log (``serve-certificate``).

    ``self_signed``: a certificate signed by its own key instead (for a store without an
    internal CA; clients must be told to trust it).

    Returns ``(chain, key)``: the certificate, then the CA certificates up to the root
    (none when self-signed); the private key. Raises :class:`NotFoundError` when the
    deployment has no internal CA (no identity of source ``internal`` was issued) and
    ``self_signed`` is false, :class:`InputError` for no names,
    :class:`PasswordError` when the store's keys cannot be unsealed, :class:`InputError`
    for an argument of the wrong type (``names``: a list of names, or one name).
    """
    _store(store)
    # one name, never its letters
    names = _name_list(names, "names", "pass host names or addresses: ['ccapki.example.org']")
    days = _integer(days, "days", "pass days as a whole number, e.g. 30")
    if days < 1:
        raise InputError(f"days={days}: a certificate lasts a day at least", "pass days=1 or more")
    _flag(self_signed, "self_signed")
    import ipaddress

    from ccapki.pki.certs import fingerprint
    from ccapki.pki.issue import IdentityRequest, issue_identity
    from ccapki.pki.keys import KeyType, generate_key
    from ccapki.topology.plan import INTERNAL_CA, INTERNAL_ROOT

    if not names:
        raise InputError("no name for the service's certificate", "give its host name or address")
    dns: list[str] = []
    ips: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
    from ccapki.topology.loader import is_dns_name

    for n in dict.fromkeys(names):
        try:
            ips.append(ipaddress.ip_address(n))
            continue
        except ValueError:
            pass
        if not is_dns_name(n):
            raise InputError(
                f"names: {n[:80]!r} is neither a DNS name nor an IP address",
                "give host names (letters, digits and '-' between dots, e.g. "
                "'ccapki.example.org'; '*.' before one at most) or IP addresses "
                "('10.0.0.5', '::1')",
            )
        dns.append(n)
    issuer = None if self_signed else store.cas.issuer(INTERNAL_CA)
    if issuer is None and not self_signed:
        raise NotFoundError(
            f"deployment {store.deployment!r} has no internal CA to sign the service's certificate",
            "apply a deployment with an internal identity first, or give the service its "
            "own certificate (`ccapki serve --tls-cert FILE --tls-key FILE`, or "
            "--tls-identity NAME)",
        )
    key = generate_key(KeyType.ECDSA_P256)
    request = IdentityRequest(
        common_name=dns[0] if dns else str(ips[0]),
        dns_names=tuple(dns),
        ip_addresses=tuple(ips),
        organization="ccapki service",
    )
    if issuer is None:
        cert = issue_identity(
            request,
            key.public_key(),
            now=_now(store, now),
            days=days,
            self_key=key,
            client_auth=False,
        )
        chain = [cert]
    else:
        cert = issue_identity(
            request,
            key.public_key(),
            now=_now(store, now),
            days=days,
            issuer=issuer,
            client_auth=False,
        )
        chain = [cert, issuer.certificate]
        roots = [c.certificate for c in store.cas.list(INTERNAL_ROOT)]
        root = next((r for r in roots if r.subject == issuer.certificate.issuer), None)
        if root is not None and root != issuer.certificate:
            chain.append(root)
    with store.transaction():
        store.audit.record(
            "serve-certificate",
            request.common_name,
            fingerprint=fingerprint(cert),
            names=list(dict.fromkeys(names)),
            days=days,
            self_signed=issuer is None,
        )
    return chain, key
