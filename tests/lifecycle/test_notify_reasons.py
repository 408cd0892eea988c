"""A notification refused because the webhook's or the relay's TLS certificate is not
trusted says what to do (walkthrough: "SSLCertVerificationError: [SSL:
CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer
certificate (_ssl.c:1006)", with no word of SSL_CERT_FILE)."""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

import pytest

from ccapki.lifecycle.notify import Notifier, deliver, expiry_notices
from ccapki.lifecycle.status import estate_status
from ccapki.topology.model import Notify
from kit.certs import issue, make_ca, utcnow
from kit.cli import FAQ, Cli, ok, write
from kit.receivers import SmtpRelay, WebhookReceiver

from .conftest import open_store


def _https(hook: WebhookReceiver, folder: Path) -> str:
    """Serve ``hook`` over TLS with a certificate of a CA nobody trusts; its URL."""
    ca = make_ca("Webhook Test", now=utcnow())
    leaf = issue(ca, "localhost", ("localhost",), ips=("127.0.0.1",), now=utcnow())
    folder.mkdir(parents=True, exist_ok=True)
    chain, key = folder / "chain.pem", folder / "key.pem"
    chain.write_bytes(leaf.chain_pem)
    key.write_bytes(leaf.key_pem)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(chain, key)
    hook.server.socket = ctx.wrap_socket(hook.server.socket, server_side=True)
    return hook.url.replace("http://", "https://")


def test_an_untrusted_certificate_says_how_to_trust_it(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok(cli("init"))
    ok(cli("apply", write(tmp_path / "faq.toml", FAQ.read_text())))
    assert cli.home is not None
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "an-empty-bundle.pem"))
    (tmp_path / "an-empty-bundle.pem").write_text("")
    hook = WebhookReceiver(None)
    url = _https(hook, tmp_path / "hook")
    with hook, SmtpRelay(tmp_path / "relay") as relay, open_store(cli.home) as store:
        notify = Notify(
            webhook=url,
            email_to=("pki@example.edu",),
            email_from="ccapki@example.edu",
            smtp=relay.address,
        )
        later = utcnow() + dt.timedelta(days=395)  # the identities within their last week
        notices = expiry_notices(estate_status(store, now=later).items)[:1]
        assert notices
        [d] = deliver(store, notices, Notifier(notify, {}, timeout=10), now=later)
    assert not d.ok
    reasons = dict(d.failed)
    assert set(reasons) == {"webhook", "email"}
    for channel, reason in reasons.items():
        assert reason.startswith("its TLS certificate was not trusted ("), (channel, reason)
        assert "CERTIFICATE_VERIFY_FAILED" in reason
        assert "SSL_CERT_FILE" in reason
        assert "_ssl.c" not in reason
    assert hook.posts == []
