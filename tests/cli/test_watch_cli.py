"""Issue 12 item 4: ``ccapki watch`` end to end on a store holding the FAQ deployment.

Its notifications go to real receivers on 127.0.0.1 (kit.receivers): a webhook server that
checks the HMAC of every POST, and an aiosmtpd relay refusing mail before STARTTLS, whose
certificate (minted here) the watcher trusts through ``SSL_CERT_FILE``. The clock is moved
into the identities' warning stages with ``CCAPKI_NOW`` (writes allowed under it in the
suite: ``CCAPKI_NOW_ALLOW_WRITES=1``). The long-running mode runs as a real subprocess,
scraped over HTTP and stopped by a signal.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ccapki.store import Store
from kit.cli import FAQ, Cli, error_with_hint, ok, write
from kit.receivers import SmtpRelay, WebhookReceiver
from kit.tools import free_port

EXPIRES = dt.datetime(2027, 12, 29, tzinfo=dt.UTC)  # the FAQ's identities, issued at NOW
IN_30 = EXPIRES - dt.timedelta(days=20)
IN_7 = EXPIRES - dt.timedelta(days=3)
SECRET = "hook-secret"
CCAPKI = Path(sys.executable).with_name("ccapki")


def _faq(tmp_path: Path, notify: str) -> Path:
    return write(tmp_path / "faq.toml", FAQ.read_text() + "\n[notify]\n" + notify)


def _hook_notify(url: str) -> str:
    return f'webhook = "{url}"\nwebhook_secret_env = "HOOK_SECRET"\n'


def _mail_notify(relay: SmtpRelay) -> str:
    return (
        'email_to = ["pki-team@example.edu"]\nemail_from = "ccapki@example.edu"\n'
        f'smtp = "{relay.address}"\nsmtp_user = "watcher"\nsmtp_password_env = "SMTP_PASSWORD"\n'
    )


def _env(relay: SmtpRelay | None = None) -> dict[str, str | None]:
    env: dict[str, str | None] = {"HOOK_SECRET": SECRET, "SMTP_PASSWORD": "relay-pw"}
    if relay is not None:
        env["SSL_CERT_FILE"] = str(relay.ca_file)
    return env


def _subprocess_env(home: Path, extra: dict[str, str | None], now: dt.datetime) -> dict[str, str]:
    env = dict(os.environ)
    env.update({k: v for k, v in extra.items() if v is not None})
    env["CCAPKI_HOME"] = str(home)
    env["CCAPKI_NOW"] = now.isoformat()
    env["CCAPKI_NOW_ALLOW_WRITES"] = "1"
    return env


def test_help_has_examples_and_exit_codes(cli: Cli) -> None:
    r = ok(cli("watch", "--help"))
    assert "EXAMPLES" in r.out
    assert "EXIT CODES" in r.out
    assert "--metrics-listen" in r.out
    assert "SIGTERM" in r.out
    assert "watch" in ok(cli("--help")).out


def test_once_notifies_each_stage_once_across_runs_and_a_restart(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    with (
        WebhookReceiver(SECRET) as hook,
        SmtpRelay(tmp_path / "relay", user="watcher", password="relay-pw") as relay,
    ):
        ok(cli("apply", _faq(tmp_path, _hook_notify(hook.url) + _mail_notify(relay))))
        env = _env(relay)
        r = ok(cli("watch", "--once", "--no-probe", now=IN_30, env=env))
        # the run did its work (exit 0); the estate is `status`'s exit 1: not "ok"
        assert "faq-campus: needs attention:" in r.out
        assert "6 in a warning stage" in r.out
        assert "notifications: 6 sent" in r.out
        bodies = hook.payloads()  # every POST signed right
        assert sorted(b["subject"] for b in bodies) == sorted(
            ["cam", "cas-dorm", "cas-library", "cas-guest", "cas-clinic", "cas-annex"]
        )
        assert {(b["event"], b["stage"], b["days_left"]) for b in bodies} == {("expiry", "30", 20)}
        assert len(relay.messages) == 6
        assert all(m["From"] == "ccapki@example.edu" for m in relay.messages)
        assert relay.handler.logins == ["watcher"]
        assert all(e[2] for e in relay.handler.envelopes)  # over TLS

        # a second run: nothing again
        r = ok(cli("watch", "--once", "--no-probe", "--json", now=IN_30, env=env))
        doc = r.json()
        assert doc["ok"] is True
        assert [n["result"] for n in doc["runs"][0]["notifications"]] == ["sent before"] * 6
        # a restart: another process on the same home
        proc = subprocess.run(
            [str(CCAPKI), "watch", "--once", "--no-probe"],
            env=_subprocess_env(keyfile_store, env, IN_30),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        assert "6 sent before" in proc.stdout
        assert len(hook.posts) == 6
        assert len(relay.messages) == 6
        # the next stage: each identity once more, once
        ok(cli("watch", "--once", "--no-probe", now=IN_7, env=env))
        ok(cli("watch", "--once", "--no-probe", now=IN_7, env=env))
        assert len(hook.posts) == 12
        assert len(relay.messages) == 12
        assert sorted({b["stage"] for b in hook.payloads()}) == ["30", "7"]
    with Store.open(keyfile_store) as store:
        assert len(store.notices.list()) == 12
        last = store.runs.last("watch")
        assert last is not None
        assert last.ok is True
        assert "notifications: 0 sent, 6 sent before" in last.summary


def test_failed_webhook_is_logged_and_retried_on_the_next_run(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    port = free_port()  # nothing listens there yet
    url = f"http://127.0.0.1:{port}/hook"
    ok(cli("apply", _faq(tmp_path, _hook_notify(url))))
    r = cli("watch", "--once", "--no-probe", now=IN_30, env=_env())
    assert r.code == 1, r.both
    assert "FAILED" in r.out
    assert f"connection refused by 127.0.0.1:{port}: is the receiver running?" in r.out
    assert re.search(r"WARNING notification not sent by webhook .*retried next run", r.err)
    assert "Traceback" not in r.both
    with WebhookReceiver(SECRET, port=port) as hook:
        r = ok(cli("watch", "--once", "--no-probe", now=IN_30, env=_env()))
        assert "notifications: 6 sent" in r.out
        assert len(hook.payloads()) == 6
    with Store.open(keyfile_store) as store:
        assert store.runs.last("watch", ok=False) is not None
        assert len(store.notices.list()) == 6


def test_what_if_clock_is_refused_without_the_test_opt_in(cli: Cli, keyfile_store: Path) -> None:
    ok(cli("apply", FAQ))
    r = error_with_hint(cli("watch", "--once", now=IN_30, env={"CCAPKI_NOW_ALLOW_WRITES": None}))
    assert "writes" in r.err
    with Store.open(keyfile_store) as store:
        assert store.runs.last("watch", ok=None) is None


def test_bad_input_exits_2(cli: Cli, keyfile_store: Path, tmp_path: Path) -> None:
    ok(cli("apply", _faq(tmp_path, _hook_notify("http://127.0.0.1:9/hook"))))
    r = error_with_hint(cli("watch", "--once", env={"HOOK_SECRET": None}))
    assert "HOOK_SECRET" in r.err
    r = error_with_hint(cli("watch", "--once", "--metrics-listen", "localhost", env=_env()))
    assert "HOST:PORT" in r.err
    error_with_hint(cli("--deployment", "nope", "watch", "--once", env=_env()))
    error_with_hint(cli("watch", "--json", env=_env()))
    for bad in ("nan", "inf", "0.5", "-1", "1e9"):  # nan ran the watcher without pause
        r = error_with_hint(cli("watch", "--interval", bad, env=_env()))
        assert "--interval" in r.err
    error_with_hint(cli("watch", "--once", home_dir=tmp_path / "no-store"))
    with socket_taken() as port:
        r = error_with_hint(
            cli("watch", "--once", "--metrics-listen", f"127.0.0.1:{port}", env=_env())
        )
        assert "metrics" in r.err


@contextlib.contextmanager
def socket_taken() -> Iterator[int]:
    """A port on 127.0.0.1 something listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield int(sock.getsockname()[1])


class _Lines:
    """A subprocess's standard error, line by line, read in a thread."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._q: queue.Queue[str | None] = queue.Queue()
        assert proc.stderr is not None
        stream = proc.stderr

        def pump() -> None:
            for line in stream:
                self._q.put(line)
            self._q.put(None)

        threading.Thread(target=pump, daemon=True).start()

    def until(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        """The first line (from here on) matching ``pattern``; fails if the stream ends
        or ``timeout`` seconds pass (a bound against hanging, not a performance check)."""
        while True:
            try:
                line = self._q.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern!r}: {self.lines}") from None
            if line is None:
                raise AssertionError(f"stream ended before {pattern!r}: {self.lines}")
            self.lines.append(line)
            m = re.search(pattern, line)
            if m:
                return m

    def rest(self) -> str:
        out = []
        while True:
            line = self._q.get(timeout=30)
            if line is None:
                return "".join(self.lines + out)
            out.append(line)


def _scrape(url: str) -> dict[str, list[object]]:
    with urllib.request.urlopen(url, timeout=10) as resp:
        text = resp.read().decode()
    return {f.name: list(f.samples) for f in text_string_to_metric_families(text)}


@pytest.mark.parametrize(
    ("sig", "code"), [(signal.SIGTERM, 0), (signal.SIGINT, 130), (signal.SIGHUP, 0)]
)
def test_long_running_watcher_serves_metrics_and_stops_on_a_signal(
    cli: Cli, keyfile_store: Path, tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    with WebhookReceiver(SECRET) as hook:
        ok(cli("apply", _faq(tmp_path, _hook_notify(hook.url))))
        with subprocess.Popen(
            [
                str(CCAPKI),
                "watch",
                "--interval",
                "1",
                "--no-probe",
                "--metrics-listen",
                "127.0.0.1:0",
            ],
            env=_subprocess_env(keyfile_store, _env(), IN_30),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        ) as proc:
            try:
                err = _Lines(proc)
                url = err.until(r"metrics at (http://127\.0\.0\.1:\d+/metrics)").group(1)
                err.until(r"faq-campus: run done")
                err.until(r"faq-campus: run done")  # the schedule runs it again
                families = _scrape(url)
                assert "ccapki_certificate_days_left" in families
                for other in ("/", "/metrics/x", "/favicon.ico"):  # one page, not every path
                    with pytest.raises(urllib.error.HTTPError) as info:
                        urllib.request.urlopen(url.removesuffix("/metrics") + other, timeout=5)
                    assert info.value.code == 404
                    info.value.close()
                runs = {
                    s.labels["outcome"]: s.value  # type: ignore[attr-defined]
                    for s in families["ccapki_runs"]
                    if s.name == "ccapki_runs_total"  # type: ignore[attr-defined]
                }
                assert runs["ok"] >= 2
                assert "ccapki_last_success_timestamp_seconds" in families
                proc.send_signal(sig)
                proc.wait(timeout=60)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(10)
            rest = err.rest()  # to the end of the stream, before the pipe is closed
        assert proc.returncode == code, rest
        assert f"watch stopped by {sig.name}" in rest
        assert "Traceback" not in rest
        if sig is signal.SIGINT:
            assert "error: interrupted (SIGINT)" in rest
            assert "hint: " in rest
        assert len(hook.payloads()) == 6  # once, whatever the number of runs
    with pytest.raises(OSError):  # the metrics server is gone with the process
        urllib.request.urlopen(url, timeout=5)


def test_a_year_of_watching_notifies_each_stage_once(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    """Item 5's notification part: the clock walks the FAQ deployment through its year;
    five identities are renewed in their 30-day stage, cas-annex is not. Each identity is
    told each stage it reaches once (its 60 and 30; cas-annex also 7 and expired), none
    twice however many runs fall in a stage, and the renewed certificates nothing."""
    renewed = ["cam", "cas-dorm", "cas-library", "cas-guest", "cas-clinic"]
    with WebhookReceiver(SECRET) as hook:
        ok(cli("apply", _faq(tmp_path, _hook_notify(hook.url))))
        start = EXPIRES - dt.timedelta(days=397)
        days = [0, 100, 200, 300, *range(330, 421, 7)]
        renewed_at = None
        for d in days:
            when = start + dt.timedelta(days=d)
            ok(cli("watch", "--once", "--no-probe", now=when, env=_env()))
            if renewed_at is None and (EXPIRES - when).days <= 30:  # told: renew
                ok(cli("renew", *renewed, "--commit", now=when))
                renewed_at = when
        bodies = hook.payloads()  # every one signed right
    assert renewed_at is not None
    keys = [(b["subject"], b["stage"], b["fingerprint"]) for b in bodies]
    assert len(keys) == len(set(keys))  # nothing twice
    stages: dict[str, list[str]] = {}
    for b in bodies:
        stages.setdefault(b["subject"], []).append(b["stage"])
    assert stages == {
        **{name: ["60", "30"] for name in renewed},
        "cas-annex": ["60", "30", "7", "expired"],
    }
    # the renewed ones were told about their old certificate only, before the renewal
    for b in bodies:
        if b["subject"] in renewed:
            assert dt.datetime.fromisoformat(b["sent_at"]) <= renewed_at


def test_watch_on_postgresql_notifies_once(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The claims are the database's unique key: on PostgreSQL too, a second run (another
    process) sends nothing again."""

    from kit.tools import clean_pg_url

    url = clean_pg_url()  # an empty database
    monkeypatch.setenv("CCAPKI_DATABASE_URL", url)
    with WebhookReceiver(SECRET) as hook:
        ok(cli("init", "--key-file"))
        ok(cli("apply", _faq(tmp_path, _hook_notify(hook.url))))
        r = ok(cli("watch", "--once", "--no-probe", now=IN_30, env=_env()))
        assert "notifications: 6 sent" in r.out
        assert cli.home is not None
        proc = subprocess.run(
            [str(CCAPKI), "watch", "--once", "--no-probe"],
            env=_subprocess_env(cli.home, {**_env(), "CCAPKI_DATABASE_URL": url}, IN_30),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        assert "6 sent before" in proc.stdout
        assert len(hook.payloads()) == 6


def test_a_busy_store_fails_the_run_which_is_logged_and_the_next_run_happens(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    with WebhookReceiver(SECRET) as hook:
        ok(cli("apply", _faq(tmp_path, _hook_notify(hook.url))))
        # another writer holds the store's write lock (SQLite's BEGIN IMMEDIATE, PostgreSQL's
        # advisory lock), written nothing yet
        with Store.open(keyfile_store) as other, other.transaction():
            r = cli("--wait", "0.3", "watch", "--once", "--no-probe", now=IN_30, env=_env())
            assert r.code == 1, r.both
            assert re.search(
                r"ERROR faq-campus: run failed: another ccapki is writing to this store \(waited ",
                r.err,
            )
            assert "Traceback" not in r.both
        assert hook.posts == []
        r = ok(cli("watch", "--once", "--no-probe", now=IN_30, env=_env()))
        assert "notifications: 6 sent" in r.out
        assert len(hook.payloads()) == 6
