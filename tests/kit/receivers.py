"""Local receivers of ``ccapki watch``'s notifications, on 127.0.0.1, real sockets.

- :class:`WebhookReceiver`: an ``http.server`` in a thread that checks the HMAC-SHA256
  signature of every POST with the secret it was given and keeps what it received.
- :class:`SmtpRelay`: an ``aiosmtpd`` server requiring STARTTLS (a certificate for 127.0.0.1
  minted at test time; :attr:`SmtpRelay.ca_file` is its root, for ``SSL_CERT_FILE``) and,
  when given a user, AUTH; it keeps the messages it received.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import json
import ssl
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from kit.certs import issue, make_ca, pem, utcnow
from kit.tools import free_port

__all__ = ["Post", "SmtpRelay", "WebhookReceiver"]


@dataclass(frozen=True)
class Post:
    """One POST the receiver took: its headers, body, and whether its signature was right
    (None: no signature header)."""

    path: str
    headers: dict[str, str]
    body: bytes
    signed: bool | None
    method: str = "POST"

    def json(self) -> Any:
        return json.loads(self.body)


class WebhookReceiver:
    """``with WebhookReceiver(secret) as hook:`` receives on ``hook.url``; ``hook.posts``
    lists every POST. ``status``: the HTTP status it answers (e.g. 500 to fail sends).
    ``port``: listen there (a receiver started again on the same port)."""

    def __init__(
        self, secret: str | None, *, status: int = 204, port: int = 0, location: str | None = None
    ) -> None:
        self.secret = secret
        self.status = status
        self.location = location  # sent with a 3xx status
        self.posts: list[Post] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                sig = self.headers.get("X-Ccapki-Signature")
                signed = None
                if sig is not None and outer.secret is not None:
                    want = (
                        "sha256="
                        + hmac.new(outer.secret.encode(), body, hashlib.sha256).hexdigest()
                    )
                    signed = hmac.compare_digest(sig, want)
                elif sig is not None:
                    signed = False
                with outer._lock:
                    outer.posts.append(Post(self.path, dict(self.headers.items()), body, signed))
                self.send_response(outer.status)
                if outer.location is not None:
                    self.send_header("Location", outer.location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:  # a client that followed a redirect
                with outer._lock:
                    outer.posts.append(
                        Post(self.path, dict(self.headers.items()), b"", None, "GET")
                    )
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = int(self.server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)

    def payloads(self) -> list[dict[str, Any]]:
        """The JSON bodies received, in order (asserting every one was signed right)."""
        with self._lock:
            posts = list(self.posts)
        assert all(p.signed for p in posts), [(p.signed, p.headers) for p in posts]
        return [p.json() for p in posts]


@dataclass
class _Handler:
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str], bool]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        self.messages.append(msg)
        self.envelopes.append(
            (envelope.mail_from, list(envelope.rcpt_tos), session.ssl is not None)
        )
        return "250 OK"


class SmtpRelay:
    """``with SmtpRelay(tmp_path) as relay:`` an SMTP relay on ``relay.address``
    (``127.0.0.1:PORT``) that refuses mail before STARTTLS; with ``user``/``password`` it
    requires AUTH too. ``relay.ca_file``: the root of its certificate (PEM)."""

    def __init__(self, folder: Path, *, user: str | None = None, password: str = "") -> None:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult

        ca = make_ca("Mail Relay Test", now=utcnow())
        leaf = issue(ca, "localhost", ("localhost",), ips=("127.0.0.1",), now=utcnow())
        folder.mkdir(parents=True, exist_ok=True)
        self.ca_file = folder / "relay-root.pem"
        self.ca_file.write_bytes(pem(ca.root))
        chain, key = folder / "relay-chain.pem", folder / "relay-key.pem"
        chain.write_bytes(leaf.chain_pem)
        key.write_bytes(leaf.key_pem)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(chain, key)
        self.handler = _Handler()
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"

        def authenticate(
            server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
        ) -> AuthResult:
            ok = auth_data.login.decode() == user and auth_data.password.decode() == password
            if ok:
                self.handler.logins.append(user or "")
            return AuthResult(success=ok)

        kwargs: dict[str, Any] = {}
        if user is not None:
            kwargs = {"authenticator": authenticate, "auth_required": True}
        self.controller = Controller(
            self.handler,
            hostname="127.0.0.1",
            port=self.port,
            tls_context=ctx,
            require_starttls=True,
            **kwargs,
        )

    @property
    def messages(self) -> list[EmailMessage]:
        return list(self.handler.messages)

    def __enter__(self) -> SmtpRelay:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()
