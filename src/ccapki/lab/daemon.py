"""The lab as one supervised background process (``ccapki lab up|status|down|reload``).

Run as::

    python -m ccapki.lab.daemon --state-dir DIR --loader pkg.mod:func [--loader-arg ARG]...

``func(*args) -> LabSpec`` is called in the daemon to build the spec, and again on every
reload, so private keys are read from the store inside the daemon and stay in its memory
(the CLI passes the store location as an argument and the passphrase in the environment).

For callers that already hold a :class:`LabSpec`, ``start_background(spec=...)`` writes it
(keys included) 0600 into the 0700 state folder; the daemon's built-in loader
``ccapki.lab.daemon:load_spec_file`` reads it and deletes it before opening any port, so key
material rests on disk only for the daemon's start-up. ``request_reload(state_dir, spec)``
does the same for a reload.

Files in the state folder:

- ``lab.pid``: the daemon's pid while it runs (removed on a clean stop), then one JSON line:
  the lab id it was started with (random, made by ``start_background``) and the device and
  inode of the state folder. A lab belongs to its folder: a copy of the folder (``cp -a`` of
  a home) carries the original's pid file, whose inode is not the copy's, so ``read_state``,
  ``stop_background`` and ``request_reload`` on the copy find no lab (and remove the stale
  files) instead of acting on the original's daemon. Where ``/proc`` shows the process's
  command line, it must be the daemon started with that lab id (a reused pid is not a lab);
- ``state.json``: pid, start time, every endpoint, link, appliance and HA pair (no keys),
  rewritten when the status changes;
- ``lab.log``: the daemon's log (never keys);
- ``reload.request`` / ``reload-spec.json``: a reload asked for by a file instead of SIGHUP.

Signals: SIGTERM and SIGINT stop the lab cleanly (servers closed, pid file removed, final
state written with ``running: false``); SIGHUP reloads.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import importlib
import itertools
import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ccapki.errors import CcapkiError, InputError, StoreError
from ccapki.fsutil import atomic_write
from ccapki.lab._lab import Lab
from ccapki.lab._spec import LabSpec
from ccapki.lab._status import LabStatus

__all__ = [
    "LabState",
    "load_spec_file",
    "main",
    "read_state",
    "request_reload",
    "run_daemon",
    "start_background",
    "stop_background",
]

log = logging.getLogger("ccapki.lab")

PID_FILE = "lab.pid"
STATE_FILE = "state.json"
LOG_FILE = "lab.log"
SPEC_FILE = "spec.json"
RELOAD_REQUEST = "reload.request"
RELOAD_SPEC = "reload-spec.json"
_POLL = 0.2
_FILE_LOADER = "ccapki.lab.daemon:load_spec_file"


@dataclass(frozen=True)
class LabState:
    """What ``read_state`` finds: the daemon's pid, whether it is alive, and the last status
    it wrote."""

    state_dir: Path
    pid: int | None
    alive: bool
    started_at: str | None
    updated_at: str | None
    reloads: int
    status: LabStatus | None
    last_error: str | None = None
    foreign: str | None = None  # why the pid file found here is not this folder's lab
    serves: str | None = None  # the deployment the lab serves, as its starter named it
    #: appliance -> digest of the certificates and trust stores it serves
    #: (:meth:`LabSpec.material_digests`); None from a lab that did not write it
    material: dict[str, str] | None = None
    #: reloads tried, done or failed (``reloads`` counts those done): each attempt changes
    #: the state, so a caller sees it even when it failed as the one before did
    reload_attempts: int = 0
    #: the hint of ``last_error`` (what to do about it), when the lab knows one
    last_hint: str | None = None

    def serves_other(self, deployment: str) -> bool:
        """True when the lab was started for a deployment other than ``deployment`` (a
        lab started without a name serves whatever it was given: never "other")."""
        return self.serves is not None and self.serves != deployment

    @property
    def log_path(self) -> Path:
        return self.state_dir / LOG_FILE

    def to_dict(self) -> dict[str, Any]:
        return {
            "state_dir": str(self.state_dir),
            "pid": self.pid,
            "alive": self.alive,
            "started_at": self.started_at,
            "updated_at": self.updated_at,
            "reloads": self.reloads,
            "reload_attempts": self.reload_attempts,
            "last_error": self.last_error,
            "last_hint": self.last_hint,
            "foreign": self.foreign,
            "serves": self.serves,
            "material": self.material,
            "log": str(self.log_path),
            "status": self.status.to_dict() if self.status else None,
        }


# -- inside the daemon ------------------------------------------------------------------


def load_spec_file(path: str) -> LabSpec:
    """The built-in loader: read a LabSpec JSON file and delete it at once."""
    p = Path(path)
    try:
        text = p.read_bytes()
    except FileNotFoundError:
        raise InputError(
            f"{p}: the lab spec file is gone (it is deleted once read)",
            "give a new spec with request_reload(state_dir, spec)",
        ) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
    return LabSpec.from_json(text)


def resolve_loader(path: str) -> Callable[..., LabSpec]:
    """``pkg.mod:func`` -> the function."""
    mod_name, sep, func_name = path.partition(":")
    if not sep or not mod_name or not func_name:
        raise InputError(
            f"loader {path!r} is not 'package.module:function'", "write it as pkg.mod:func"
        )
    try:
        mod = importlib.import_module(mod_name)
        func = getattr(mod, func_name)
    except (ImportError, AttributeError) as exc:
        raise InputError(
            f"cannot load the spec loader {path}: {exc}", "check the module path and function name"
        ) from None
    if not callable(func):
        raise InputError(f"{path} is not a function", "name a function returning a LabSpec")
    return func  # type: ignore[no-any-return]


def _utc() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class _Daemon:
    def __init__(
        self, spec_loader: Callable[[], LabSpec], state_dir: Path, serves: str | None = None
    ) -> None:
        self.loader = spec_loader
        self.dir = state_dir
        self.serves = serves
        self.lab: Lab | None = None
        self.started_at = _utc()
        self.reloads = 0
        self.reload_attempts = 0
        self.last_error: str | None = None
        self.last_hint: str | None = None
        self._last_written: str | None = None

    def write_state(self, *, running: bool = True) -> None:
        status = self.lab.status() if self.lab is not None else None
        doc: dict[str, Any] = {
            "pid": os.getpid(),
            "running": running,
            "serves": self.serves,
            "started_at": self.started_at,
            "reloads": self.reloads,
            "reload_attempts": self.reload_attempts,
            "last_error": self.last_error,
            "last_hint": self.last_hint,
            "status": status.to_dict() if status else None,
            "material": self.lab.spec.material_digests() if self.lab is not None else None,
        }
        comparable = json.dumps({**doc, "status": _strip_times(doc["status"])}, sort_keys=True)
        if comparable == self._last_written:
            return
        self._last_written = comparable
        doc["updated_at"] = _utc()
        atomic_write(self.dir / STATE_FILE, json.dumps(doc, indent=2).encode())

    def next_spec(self) -> LabSpec:
        reload_spec = self.dir / RELOAD_SPEC
        if reload_spec.exists():
            return load_spec_file(str(reload_spec))
        return self.loader()

    async def reload(self) -> None:
        assert self.lab is not None
        try:
            spec = self.next_spec()
            await self.lab.reload(spec)
            self.reloads += 1
            self.last_error = self.last_hint = None
            log.info("reload %d done", self.reloads)
        except CcapkiError as exc:
            self.last_error, self.last_hint = f"reload failed: {exc.message}", exc.hint
            log.error("%s (%s); the lab keeps its previous certificates", self.last_error, exc.hint)
        except Exception as exc:
            self.last_error, self.last_hint = f"reload failed: {exc}", None
            log.exception("reload failed; the lab keeps its previous certificates")
        # counted once the attempt is over: the state the lab writes while it reloads (its
        # status) must not tell `lab reload` an attempt ended with no reload and no error
        self.reload_attempts += 1
        self.write_state()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        reload_now = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGHUP, reload_now.set)
        try:
            spec = self.loader()
            self.lab = Lab(spec, on_update=self.write_state)
            await self.lab.start()
            self.write_state()
            log.info("lab daemon running (pid %d)", os.getpid())
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), _POLL)
                if stop.is_set():
                    break
                request = self.dir / RELOAD_REQUEST
                if request.exists() or (self.dir / RELOAD_SPEC).exists():
                    with contextlib.suppress(FileNotFoundError):
                        request.unlink()
                    reload_now.set()
                if reload_now.is_set():
                    reload_now.clear()
                    await self.reload()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)
            if self.lab is not None:
                await self.lab.stop()
                self.write_state(running=False)
            log.info("lab daemon stopped")


def _strip_times(status: dict[str, Any] | None) -> Any:
    if status is None:
        return None
    links = [
        {k: v for k, v in x.items() if k not in ("checked_at", "handshake_seconds")}
        for x in status["links"]
    ]
    return {**status, "generated_at": None, "links": links}


def run_daemon(
    spec_loader: Callable[[], LabSpec],
    state_dir: Path,
    *,
    lab_id: str | None = None,
    serves: str | None = None,
) -> int:
    """Run the lab in this process until SIGTERM/SIGINT; returns an exit code.

    Writes ``lab.pid`` (with ``lab_id`` and the folder's identity) and ``state.json`` (with
    ``serves``: the deployment the lab serves, if named) in ``state_dir`` and logs to
    ``lab.log`` there.
    """
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    handler = logging.FileHandler(state_dir / LOG_FILE)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    root = logging.getLogger("ccapki")
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    pid_file = state_dir / PID_FILE
    try:
        other, ident = _read_pid_file(state_dir)
        if (
            other is not None
            and other != os.getpid()
            and _alive(other)
            and _foreign(state_dir, other, ident) is None
        ):
            log.error("another lab daemon (pid %d) runs in %s", other, state_dir)
            return 2
        st = state_dir.stat()
        ident = {
            "lab_id": lab_id,
            "state_dir": str(state_dir.absolute()),
            "dev": st.st_dev,
            "ino": st.st_ino,
        }
        atomic_write(pid_file, f"{os.getpid()}\n{json.dumps(ident)}\n".encode())
        daemon = _Daemon(spec_loader, state_dir, serves)
        try:
            asyncio.run(daemon.run())
        except CcapkiError as exc:
            log.error("lab failed: %s (hint: %s)", exc.message, exc.hint)
            daemon.last_error = f"lab failed: {exc.message}"
            daemon.write_state(running=False)
            return 2
        except Exception as exc:
            log.exception("lab failed")
            daemon.last_error = f"lab failed: {exc}"
            daemon.write_state(running=False)
            return 1
        return 0
    finally:
        with contextlib.suppress(FileNotFoundError):
            if _read_pid(state_dir) == os.getpid():
                pid_file.unlink()
        root.removeHandler(handler)
        handler.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ccapki.lab.daemon")
    parser.add_argument("--state-dir", required=True, type=Path)
    parser.add_argument("--loader", required=True, help="pkg.mod:func returning a LabSpec")
    parser.add_argument("--loader-arg", action="append", default=[], dest="loader_args")
    parser.add_argument("--lab-id", help="the id start_background gave this lab")
    parser.add_argument("--serves", help="the deployment the lab serves (recorded in its state)")
    parser.add_argument(
        "--detach",
        action="store_true",
        help="fork into the background (the parent returns at once)",
    )
    args = parser.parse_args(argv)
    loader_args: list[str] = list(args.loader_args)
    try:
        func = resolve_loader(args.loader)
    except CcapkiError as exc:
        print(f"error: {exc.message}\nhint: {exc.hint}", file=sys.stderr)
        return 2
    if args.detach and os.fork() > 0:
        # the parent returns; the child, reparented to init, is the daemon
        os._exit(0)
    if args.loader == _FILE_LOADER and loader_args:
        # the file is read once; later reloads need a reload-spec.json
        spec_path = loader_args[0]
        once: list[LabSpec] = []

        def loader() -> LabSpec:
            if not once:
                once.append(load_spec_file(spec_path))
                return once[0]
            raise InputError(
                "this lab was started from a spec file, which is deleted once read",
                "reload with request_reload(state_dir, spec)",
            )

        return run_daemon(loader, args.state_dir, lab_id=args.lab_id, serves=args.serves)
    return run_daemon(
        lambda: func(*loader_args), args.state_dir, lab_id=args.lab_id, serves=args.serves
    )


# -- the caller's side (CLI) ------------------------------------------------------------


def _read_pid_file(state_dir: Path) -> tuple[int | None, dict[str, Any]]:
    """The pid and the identity line (lab id, folder device and inode) of ``lab.pid``."""
    try:
        lines = (state_dir / PID_FILE).read_text().splitlines()
        pid = int(lines[0].strip())
    except (FileNotFoundError, ValueError, IndexError):
        return None, {}
    ident: Any = {}
    if len(lines) > 1:
        with contextlib.suppress(ValueError):
            ident = json.loads(lines[1])
    return pid, ident if isinstance(ident, dict) else {}


def _read_pid(state_dir: Path) -> int | None:
    return _read_pid_file(state_dir)[0]


def _cmdline(pid: int) -> list[str] | None:
    """The process's arguments where /proc shows them (None: unknown; empty for a kernel
    thread or a process being replaced, neither of which is a lab daemon)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def _foreign(state_dir: Path, pid: int, ident: dict[str, Any]) -> str | None:
    """Why the live process ``pid`` that ``state_dir``'s pid file names is not this folder's
    lab (None: it is)."""
    try:
        st = state_dir.stat()
    except OSError:
        return f"the lab folder {state_dir} is gone"
    recorded = (ident.get("dev"), ident.get("ino"))
    if recorded != (None, None) and recorded != (st.st_dev, st.st_ino):
        origin = ident.get("state_dir") or "another folder"
        return (
            f"the lab state here was copied from {origin}, whose lab (pid {pid}) is not this home's"
        )
    args = _cmdline(pid)
    if args is None:
        return None
    lab_id = ident.get("lab_id")
    if lab_id:
        if not any(a == "--lab-id" and b == lab_id for a, b in itertools.pairwise(args)):
            return f"pid {pid} is not this lab's daemon (the pid was reused)"
    elif not ident and "ccapki.lab.daemon" not in args:
        return f"pid {pid} is not a ccapki lab daemon (the pid was reused)"
    return None


def _forget(state_dir: Path) -> None:
    """Remove the state files of a lab that is not this folder's (stale copies)."""
    for stale in (PID_FILE, STATE_FILE, RELOAD_REQUEST, RELOAD_SPEC):
        with contextlib.suppress(FileNotFoundError):
            (state_dir / stale).unlink()


def _alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        # our own child that already exited would linger as a zombie: reap it
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_state(state_dir: Path) -> LabState | None:
    """The lab's last written state, or None if no lab was ever started there.

    A pid file naming a process that is not this folder's lab (a copied folder, a reused
    pid) is stale: its files are removed and the state says why (``foreign``), not alive.
    """
    state_dir = Path(state_dir)
    pid, ident = _read_pid_file(state_dir)
    if pid is not None and _alive(pid):
        why = _foreign(state_dir, pid, ident)
        if why is not None:
            _forget(state_dir)
            log.info("ignored stale lab state in %s: %s", state_dir, why)
            return LabState(state_dir, None, False, None, None, 0, None, None, foreign=why)
    try:
        doc = json.loads((state_dir / STATE_FILE).read_text())
    except FileNotFoundError:
        doc = None
    except ValueError:
        raise StoreError(
            f"{state_dir / STATE_FILE} is not valid JSON",
            "run 'ccapki lab down' then 'ccapki lab up'",
        ) from None
    if doc is None and pid is None:
        return None
    doc = doc or {}
    alive = pid is not None and _alive(pid)
    status = LabStatus.from_dict(doc["status"]) if doc.get("status") else None
    return LabState(
        state_dir=state_dir,
        pid=pid if pid is not None else doc.get("pid"),
        alive=alive and bool(doc.get("running", True)),
        started_at=doc.get("started_at"),
        updated_at=doc.get("updated_at"),
        reloads=int(doc.get("reloads", 0)),
        status=status,
        last_error=doc.get("last_error"),
        serves=doc.get("serves"),
        material=_material(doc.get("material")),
        reload_attempts=int(doc.get("reload_attempts", 0)),
        last_hint=doc.get("last_hint"),
    )


def _material(value: object) -> dict[str, str] | None:
    """The state file's ``material`` map, or None when absent or not a map of strings."""
    if not isinstance(value, dict):
        return None
    return {str(k): str(v) for k, v in value.items()}


def start_background(
    state_dir: Path,
    *,
    loader: str | None = None,
    loader_args: Sequence[str] = (),
    spec: LabSpec | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 60.0,
    serves: str | None = None,
) -> LabState:
    """Start the lab daemon detached (own session) and wait until it serves.

    Give ``loader`` (``pkg.mod:func``, called with ``loader_args``) or ``spec``; ``serves``
    names the deployment it serves (kept in its state: :attr:`LabState.serves`). Raises
    :class:`StoreError` if a lab already runs there or the daemon fails to start (with the
    end of its log).
    """
    state_dir = Path(state_dir).absolute()  # the daemon's command line names it
    if (loader is None) == (spec is None):
        raise InputError("give either a loader or a spec", "pass loader='pkg.mod:func' or spec=")
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(state_dir, 0o700)
    current = read_state(state_dir)
    if current is not None and current.alive:
        raise StoreError(
            f"a lab already runs (pid {current.pid}) in {state_dir}",
            "run 'ccapki lab down' first, or 'ccapki lab reload'",
        )
    for stale in (STATE_FILE, PID_FILE, RELOAD_REQUEST, RELOAD_SPEC):
        with contextlib.suppress(FileNotFoundError):
            (state_dir / stale).unlink()
    if spec is not None:
        atomic_write(state_dir / SPEC_FILE, spec.to_json().encode(), private=True)
        loader = _FILE_LOADER
        loader_args = (str(state_dir / SPEC_FILE),)
    assert loader is not None
    cmd = [
        sys.executable,
        "-m",
        "ccapki.lab.daemon",
        "--detach",
        "--state-dir",
        str(state_dir),
        "--loader",
        loader,
        "--lab-id",
        secrets.token_hex(16),
    ]
    if serves is not None:
        cmd += ["--serves", serves]
    for a in loader_args:
        cmd += ["--loader-arg", a]
    deadline = time.monotonic() + timeout
    try:
        with open(state_dir / LOG_FILE, "ab") as logf:
            code = subprocess.call(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=logf,
                start_new_session=True,
                env=env,
                close_fds=True,
                timeout=timeout,
            )
        if code != 0:
            raise StoreError(
                f"the lab daemon exited with code {code}: {_log_tail(state_dir)}",
                f"see {state_dir / LOG_FILE}",
            )
        while time.monotonic() < deadline:
            state = read_state(state_dir)
            if state is not None and state.status is not None and state.alive:
                return state
            if (
                state is not None
                and not state.alive
                and (state.last_error or not (state_dir / PID_FILE).exists())
            ):
                raise StoreError(
                    f"the lab daemon stopped: {state.last_error or _log_tail(state_dir)}",
                    f"see {state_dir / LOG_FILE}",
                )
            time.sleep(0.05)
        stop_background(state_dir, timeout=5.0)
        raise StoreError(
            f"the lab did not start within {timeout:.0f} s", f"see {state_dir / LOG_FILE}"
        )
    finally:
        with contextlib.suppress(FileNotFoundError):
            (state_dir / SPEC_FILE).unlink()


def request_reload(state_dir: Path, spec: LabSpec | None = None, *, wait: float = 30.0) -> LabState:
    """Ask the running daemon to reload (SIGHUP; with ``spec``, from that spec) and wait
    until it has tried. Returns its state once reloaded; raises :class:`StoreError` when no
    lab runs, when the lab says the reload failed (its reason; it keeps serving what it
    served before), or when it did not answer within ``wait`` seconds."""
    state_dir = Path(state_dir)
    state = read_state(state_dir)
    if state is None or not state.alive or state.pid is None:
        why = f" ({state.foreign}; its stale state was removed)" if state and state.foreign else ""
        raise StoreError(f"no lab runs in {state_dir}{why}", "start one with 'ccapki lab up'")
    before, tried = state.reloads, state.reload_attempts
    if spec is not None:
        atomic_write(state_dir / RELOAD_SPEC, spec.to_json().encode(), private=True)
    log_from = _log_size(state_dir)
    os.kill(state.pid, signal.SIGHUP)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        now = read_state(state_dir)
        failed = now is not None and (now.last_error or "").startswith("reload failed")
        # a lab an older ccapki started counts no attempts: its state's time then tells,
        # or its log (it leaves its state as it was when it fails as before, and its time
        # counts whole seconds): a store upgraded under it fails every reload alike
        older = (
            failed
            and now is not None
            and now.reload_attempts == 0
            and (now.updated_at != state.updated_at or _logged_reload_failure(state_dir, log_from))
        )
        if now is not None and (now.reloads > before or now.reload_attempts > tried or older):
            if now.reloads == before and failed:
                assert now.last_error is not None
                why = now.last_error.removeprefix("reload failed: ")
                also = f" ({now.last_hint})" if now.last_hint else ""
                raise StoreError(
                    f"the lab did not reload: {why}",
                    "the lab keeps serving what it served before; fix that"
                    f"{also}, then `ccapki lab reload` again (the lab's log: "
                    f"{state_dir / LOG_FILE})",
                )
            return now
        time.sleep(0.05)
    raise StoreError(f"the lab did not reload within {wait:.0f} s", f"see {state_dir / LOG_FILE}")


def _log_size(state_dir: Path) -> int:
    try:
        return (state_dir / LOG_FILE).stat().st_size
    except OSError:
        return 0


def _logged_reload_failure(state_dir: Path, offset: int) -> bool:
    """Whether the lab's log says, after ``offset``, that a reload failed."""
    try:
        with open(state_dir / LOG_FILE, "rb") as f:
            f.seek(offset)
            return b"reload failed" in f.read()
    except OSError:
        return False


def _terminate(pid: int, timeout: float) -> bool:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.1)
    return not _alive(pid)


def stop_background(state_dir: Path, *, timeout: float = 15.0) -> bool:
    """Stop the lab daemon (SIGTERM, SIGKILL after ``timeout``). False if none was running."""
    state_dir = Path(state_dir)
    pid, ident = _read_pid_file(state_dir)
    if pid is None or not _alive(pid):
        with contextlib.suppress(FileNotFoundError):
            (state_dir / PID_FILE).unlink()
        return False
    if _foreign(state_dir, pid, ident) is not None:
        _forget(state_dir)  # another folder's lab, or a reused pid: never signal it
        return False
    _terminate(pid, timeout)
    with contextlib.suppress(FileNotFoundError):
        (state_dir / PID_FILE).unlink()
    return True


def _log_tail(state_dir: Path, lines: int = 5) -> str:
    try:
        text = (state_dir / LOG_FILE).read_text(errors="replace")
    except FileNotFoundError:
        return "no log"
    return " | ".join(text.strip().splitlines()[-lines:])


if __name__ == "__main__":
    sys.exit(main())
