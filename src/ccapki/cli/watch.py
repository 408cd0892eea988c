"""``ccapki watch``: probe and status on a schedule, Prometheus metrics, notifications."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from types import FrameType
from typing import TYPE_CHECKING, Any

import click

from ccapki.cli.app import Env, pass_env
from ccapki.cli.interrupts import at_a_seam, deliver_again, signal_handler
from ccapki.errors import InputError, Interrupted

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Sequence

    from ccapki.lifecycle.metrics import WatchMetrics
    from ccapki.lifecycle.status import StatusItem
    from ccapki.lifecycle.watch import ProbeFn, WatchRun
    from ccapki.store.records import ProbeRecord
    from ccapki.store.session import Store
    from ccapki.topology.model import Deployment

__all__ = ["watch"]

log = logging.getLogger("ccapki.watch")


def _listen_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT``) of --metrics-listen; port 0 picks a free one."""
    from ccapki.topology.loader import split_endpoint

    host, sep, port = text.rpartition(":")
    try:
        if sep and port == "0":  # a free port, said in the log line
            return split_endpoint(f"{host}:1")[0], 0
        return split_endpoint(text)
    except ValueError as exc:
        raise InputError(
            f"--metrics-listen {text!r}: {exc}",
            "give HOST:PORT, e.g. --metrics-listen 127.0.0.1:9464 ([::1]:9464 for IPv6)",
        ) from None


class _UtcFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created))


@contextlib.contextmanager
def _logging() -> Iterator[None]:
    """The watcher's log lines on standard error (a service's journal), UTC times."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_UtcFormatter("%(asctime)s %(levelname)s %(message)s"))
    logger = logging.getLogger("ccapki.watch")
    before = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(before[0])
        logger.propagate = before[1]


def _finite(value: float | None) -> float | None:
    """Refuse nan (every comparison false: the watcher would run without pause)."""
    if value is not None and value != value:  # nan
        raise click.BadParameter("nan is not a number of seconds; give 1 to 604800")
    return value


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[list[int]]:
    """SIGTERM, SIGHUP and SIGINT set ``stop`` (the watcher ends after the deployment it runs); a
    second signal interrupts at once (:class:`Interrupted`: 130 / 143). Yields the signals
    received."""
    got: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield got
        return

    @signal_handler
    def handler(signum: int, frame: FrameType | None) -> None:
        if got:
            if at_a_seam(frame):  # a transaction beginning or ending: once it has
                deliver_again(signum)
                return
            raise Interrupted(
                signum,
                "the watcher was stopped in the middle of a run: what that run had not "
                "committed is rolled back (a notification not yet sent goes out next run)",
            )
        got.append(signum)
        stop.set()

    # SIGHUP (the terminal or ssh session went away): a clean stop, as SIGTERM
    sigs = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    previous = {sig: signal.signal(sig, handler) for sig in sigs}
    try:
        yield got
    finally:
        for sig, old in previous.items():
            if old is not None:
                signal.signal(sig, old)


def _start_metrics(
    metrics: WatchMetrics, host: str, port: int
) -> tuple[object, threading.Thread, int]:
    import socketserver
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    from prometheus_client import make_wsgi_app

    exposition = make_wsgi_app(metrics.registry)

    def only_metrics(environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") != "/metrics":  # one page; any other path is not it
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"not found: the metrics are at /metrics\n"]
        return exposition(environ, start_response)

    class Server(socketserver.ThreadingMixIn, WSGIServer):
        daemon_threads = True

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # no access log on stderr
            pass

    try:
        server = make_server(host, port, only_metrics, Server, handler_class=Quiet)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
    except OSError as exc:
        raise InputError(
            f"cannot serve metrics on {host}:{port} ({exc.strerror or exc})",
            "pick a free port (--metrics-listen 127.0.0.1:9464), or stop what listens there",
        ) from None
    return server, thread, int(server.server_address[1])


def _deployments_to_watch(store: Store, deployment: str | None) -> list[str]:
    """The deployments to watch (the one named, else every one the store holds); raises
    :class:`InputError` when one's ``[notify]`` cannot send (a secret's variable unset)."""
    from ccapki.lifecycle.notify import check_notify
    from ccapki.lifecycle.watch import stored_deployment

    names = store.deployments.names()
    if deployment is not None:
        if deployment not in names:
            store.use(deployment)  # raises NotFoundError naming those there are
        names = [deployment]
    for name in names:
        with store.scoped(name):
            dep = stored_deployment(store)
        check_notify(name, dep.monitoring.notify, os.environ)
    return names


def _report(result: WatchRun, as_json: bool) -> None:
    if as_json:
        from ccapki.cli.output import print_json

        print_json(
            {
                "ok": result.ok,
                "errors": list(result.errors),
                "runs": [r.to_dict() for r in result.runs],
            }
        )
        return
    for err in result.errors:
        click.echo(f"run failed: {err}")
    for r in result.runs:
        # the run's own state, and the estate's as `ccapki status` judges it: a run that did
        # its work over certificates to act on is no plain "ok"
        state = "run FAILED" if not r.ok else ("needs attention" if r.status_code else "ok")
        click.echo(f"{r.deployment}: {state}: {r.summary()}")


@click.command(
    epilog="""\b
EXAMPLES
  ccapki watch --metrics-listen 127.0.0.1:9464     run until stopped; /metrics on :9464
  ccapki watch --once --no-probe                   one run of every deployment, then exit
  ccapki watch --interval 600                      every 10 minutes, whatever the files say
  ccapki --deployment campus watch --once --json   one deployment, the run as JSON

\b
Each run, for every deployment of the store (or the one --deployment names): probe its
endpoints (the lab's, or the real ones of its file, as `ccapki probe`), read its status
and trust check, update the metrics, send the notifications due ([notify] in its file:
webhook and/or e-mail; each stage of each certificate and each drift once, state kept in
the store) and record the run (store.runs). Log lines go to standard error.
Runs repeat every [monitoring] probe_interval seconds of each deployment (--interval for
all). A failed run (store busy, database down, a notification not sent) is logged and
retried at the next run. SIGTERM (systemd, `docker stop`) ends the watcher once the run
in progress is done.

\b
CCAPKI_NOW: watch writes (notification state, probe results, runs), so it refuses the
what-if clock unless CCAPKI_NOW_ALLOW_WRITES=1 (test suites); then every run's clock is
CCAPKI_NOW (the probes' handshakes still run on the real one).

\b
EXIT CODES
  0 stopped by SIGTERM or SIGHUP (a service's clean stop); --once: every run did all its work
  1 --once: a run failed (see the log lines: a notification not sent, the store busy)
  2 bad input: no store, an unknown deployment, a [notify] secret variable not set,
    the metrics address in use
  130 stopped by Ctrl-C (SIGINT), after the run in progress
  143 a second SIGTERM while stopping: stopped at once
""",
)
@click.option(
    "--metrics-listen",
    metavar="HOST:PORT",
    help="Serve Prometheus metrics at http://HOST:PORT/metrics (default: not served; port 0 "
    "picks a free one, named in the log).",
)
@click.option(
    "--interval",
    metavar="SECONDS",
    type=click.FloatRange(min=1, max=7 * 86400),
    callback=lambda _ctx, _param, v: _finite(v),
    help="Seconds between two runs of each deployment, 1 to 604800 (default: its "
    "[monitoring] probe_interval).",
)
@click.option("--once", is_flag=True, help="Run every deployment once, then exit.")
@click.option("--no-probe", is_flag=True, help="Do not probe: status from the last probe kept.")
@click.option("--json", "as_json", is_flag=True, help="With --once: print the runs as JSON.")
@pass_env
def watch(
    env: Env,
    metrics_listen: str | None,
    interval: float | None,
    once: bool,
    no_probe: bool,
    as_json: bool,
) -> int:
    """Watch every deployment: probe, status, metrics and notifications on a schedule."""
    from ccapki import __version__
    from ccapki.lifecycle.metrics import WatchMetrics
    from ccapki.lifecycle.notify import Notifier
    from ccapki.lifecycle.watch import Watcher, watch_clock
    from ccapki.store.session import Store

    if as_json and not once:
        raise InputError("--json reports one run", "add --once, or drop --json")
    # `--metrics-listen "$ADDR"` with ADDR unset: an error, never a watcher without metrics
    listen = _listen_address(metrics_listen) if metrics_listen is not None else None
    env.refuse_what_if("watch")
    clock = watch_clock(env.now() if os.environ.get("CCAPKI_NOW") else None)

    def open_store() -> Store:
        return Store.open(
            env.home,
            url=env.database_url,
            passphrase=env.passphrase,
            clock=clock,
            wait=env.wait,
            caller="cli",
        )

    with env.open_store() as store:  # no store, an unknown deployment: exit 2 here
        if store.read_only is not None:
            # every run writes (its record, notification state, probe results): a
            # read-only store failed every run, logged, for as long as it ran
            from ccapki.store.session import read_only_error

            raise read_only_error(store.home, store.read_only)
        names = _deployments_to_watch(store, env.deployment_option)
    metrics = WatchMetrics(__version__)
    watcher = Watcher(
        open_store=open_store,
        status=_status,
        clock=clock,
        probe=None if no_probe else _prober(env),
        trust=_trust,
        metrics=metrics,
        env=os.environ,
        deployments=[env.deployment_option] if env.deployment_option else None,
        interval=interval,
        notifier=lambda notify, secrets: Notifier(
            notify, secrets, user_agent=f"ccapki/{__version__}"
        ),
    )
    stop = threading.Event()
    result: WatchRun | None = None
    with _logging(), _stop_on_signals(stop) as got:
        server = None
        if listen is not None:
            server, thread, port = _start_metrics(metrics, *listen)
            host = f"[{listen[0]}]" if ":" in listen[0] else listen[0]
            log.info("metrics at http://%s:%d/metrics", host, port)
        try:
            log.info(
                "watching %s (%s)%s",
                ", ".join(names) or "no deployment yet",
                f"every {interval:g} s" if interval else "each at its probe_interval",
                "" if watcher.probe else ", not probing",
            )
            if once:
                result = watcher.run_once(stop)
            else:
                watcher.serve(stop)
        finally:
            if server is not None:
                server.shutdown()  # type: ignore[attr-defined]
                server.server_close()  # type: ignore[attr-defined]
                thread.join(5)
        env.work_done()  # stopped: what it did is committed; a late signal changes nothing
        if got:
            log.info("watch stopped by %s", signal.Signals(got[0]).name)
    if result is not None:
        _report(result, as_json)
    if got and got[0] == signal.SIGINT:
        raise Interrupted(
            signal.SIGINT,
            "the watcher stopped after its run in progress; what it sent is kept in the "
            "store (nothing is sent twice when it starts again)",
        )
    if got or result is None:  # SIGTERM: a service's clean stop
        return 0
    return 0 if result.ok else 1


def _status(store: Store, dep: Deployment, now: dt.datetime) -> Sequence[StatusItem]:
    """The deployment's status items (``ccapki status``)."""
    from ccapki.lifecycle.status import estate_status

    return estate_status(store, now=now, deployments=[dep.name]).items


def _trust(store: Store, dep: Deployment, now: dt.datetime) -> tuple[int, int]:
    """The trust check's failing and warning channels (``ccapki trust check``)."""
    from ccapki.api import check_trust

    matrix = check_trust(store, dep, now)
    failing = sum(1 for c in matrix.cells if c.ok is False)
    # due for renewal (the gauge's meaning): stack-accepted web-PKI refusals are not
    warning = sum(1 for c in matrix.cells if c.ok and c.renewals)
    return failing, warning


def _prober(env: Env) -> ProbeFn:
    """Probe a deployment as ``ccapki probe`` does (target auto): the real endpoints its
    file names, else the lab's when one runs for this store and serves this deployment
    (read again every run)."""

    def probe(store: Store, dep: Deployment, now: dt.datetime) -> Sequence[ProbeRecord] | None:
        from ccapki.lab.daemon import read_state
        from ccapki.lifecycle.probing import endpoints_for, probe_deployment

        state = read_state(env.home / "lab")
        lab = state.status if state is not None and state.alive else None
        if state is not None and state.serves_other(dep.name):
            lab = None  # it serves another deployment: its certificates are not dep's drift
        found = endpoints_for(dep, "auto", lab)
        if found is None:
            return None
        return probe_deployment(store, dep, found[0], now=now).records

    return probe
