"""A notification that did not go out says why in words, naming where it was sent
(HOST:PORT) and what to check: a refused connection, a timeout, a host name that does
not resolve, on the webhook and on SMTP (walkthrough: "ConnectionRefusedError: [Errno
111] Connection refused"). Real sockets on 127.0.0.1."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from ccapki.lifecycle.notify import Notifier, deliver
from ccapki.topology.model import Notify
from kit.cli import Cli

from .conftest import open_store
from .test_notify import IN_30, SECRET_ENV, _expiry, _faq_store

#: a name that never resolves (RFC 6761 reserves .invalid)
NOWHERE = "ccapki-notify-test.invalid"


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port on 127.0.0.1 that takes connections and never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield int(s.getsockname()[1])


@pytest.fixture
def faq_home(cli: Cli, tmp_path: Path) -> Path:
    """A store with the FAQ deployment applied (its notices due at IN_30)."""
    return _faq_store(cli, tmp_path)


def _reasons(home: Path, notify: Notify) -> list[tuple[str, str]]:
    with open_store(home) as store:
        [d] = deliver(store, _expiry(store)[:1], Notifier(notify, SECRET_ENV, timeout=1), now=IN_30)
        assert store.notices.list() == []  # released: sent on a later run
    assert not d.ok
    return list(d.failed)


def _mail(smtp: str) -> Notify:
    return Notify(email_to=("pki@example.edu",), email_from="ccapki@example.edu", smtp=smtp)


def test_a_refused_connection_is_said_in_words(faq_home: Path, closed_port: int) -> None:
    notify = Notify(
        webhook=f"http://127.0.0.1:{closed_port}/hook",
        email_to=("pki@example.edu",),
        email_from="ccapki@example.edu",
        smtp=f"127.0.0.1:{closed_port}",
    )
    assert _reasons(faq_home, notify) == [
        ("webhook", f"connection refused by 127.0.0.1:{closed_port}: is the receiver running?"),
        ("email", f"connection refused by 127.0.0.1:{closed_port}: is the mail server running?"),
    ]


def test_a_timeout_is_said_in_words(faq_home: Path, silent_port: int) -> None:
    hook = Notify(webhook=f"http://127.0.0.1:{silent_port}/hook")
    [(channel, why)] = _reasons(faq_home, hook)
    assert channel == "webhook"
    assert why == (
        f"no answer from 127.0.0.1:{silent_port} in time (timed out): is the receiver up "
        "and reachable (no firewall dropping the connection)?"
    )
    [(channel, why)] = _reasons(faq_home, _mail(f"127.0.0.1:{silent_port}"))
    assert channel == "email"
    assert why == (
        f"no answer from 127.0.0.1:{silent_port} in time (timed out): is the mail server up "
        "and reachable (no firewall dropping the connection)?"
    )


def test_a_name_that_does_not_resolve_is_said_in_words(faq_home: Path) -> None:
    [(channel, why)] = _reasons(faq_home, Notify(webhook=f"https://{NOWHERE}/hook"))
    assert channel == "webhook"
    assert why.startswith(f"the host name {NOWHERE} does not resolve (")
    assert why.endswith("): check the name in [notify] webhook, and this machine's DNS")
    [(channel, why)] = _reasons(faq_home, _mail(f"{NOWHERE}:25"))
    assert channel == "email"
    assert why.endswith("): check the name in [notify] smtp, and this machine's DNS")
    assert "Errno" not in why
    assert "gaierror" not in why


def test_the_endpoint_named_is_the_urls_or_the_smtp_servers() -> None:
    assert Notifier(Notify(webhook="https://hooks.example.edu/x"), {}).endpoint("webhook") == (
        "hooks.example.edu:443"
    )
    assert Notifier(Notify(webhook="http://[::1]:8080/x"), {}).endpoint("webhook") == "[::1]:8080"
    assert Notifier(_mail("mail.example.edu:587"), {}).endpoint("email") == ("mail.example.edu:587")
