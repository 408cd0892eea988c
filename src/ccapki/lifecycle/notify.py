"""Notifications of ``ccapki watch``: staged expiry warnings and drift, by webhook and e-mail,
each sent once.

What goes out is decided by pure functions: :func:`expiry_notices` (a status item in a
warning stage: ``60``, ``30``, ``7`` days, ``expired``) and :func:`drift_notices` (an
endpoint serving an unknown or stale certificate, the install-time temporary one, or HA peers
disagreeing). Each :class:`Notice` has a key, (subject, event, stage, fingerprint): the
identity in stage ``30`` with this certificate is told once; its next stage, or a renewed
certificate reaching a stage, is a new notice.

:func:`deliver` sends them: it claims each key in the store (``store.notices.claim``) before
sending, so two watchers never both send it and a restart does not send it again, and
releases the claim when a channel failed, so the next run retries (every channel: a
notification is delivered at least once per channel; a partial failure repeats it on the
channel that worked). A failed send is returned and logged, never raised.

Webhook: a JSON POST of :meth:`Notice.payload` (documented in docs/notifications.md),
``X-Ccapki-Signature: sha256=<hex>``, the HMAC-SHA256 of the exact body under the secret in
the environment variable ``[notify] webhook_secret_env`` names, and ``X-Ccapki-Timestamp``
(the body's ``sent_at`` as Unix seconds; the body is signed, so a receiver checks its age
there). E-mail: one message per notice over SMTP with STARTTLS (the relay's certificate is
verified against the system's trust store; ``SSL_CERT_FILE`` replaces it, as for any
OpenSSL program), with a login when ``smtp_user`` is set.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import smtplib
import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import TYPE_CHECKING, Protocol

from ccapki.errors import InputError
from ccapki.store.records import ProbeRecord, ProbeVerdict

if TYPE_CHECKING:
    from ccapki.store.session import Store
    from ccapki.topology.model import Notify

__all__ = [
    "DRIFT_VERDICTS",
    "PAYLOAD_VERSION",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "Delivery",
    "Notice",
    "Notifier",
    "check_notify",
    "deliver",
    "drift_notices",
    "expiry_notices",
    "sign",
]

log = logging.getLogger("ccapki.watch")

#: The payload's ``version``: a field is only ever added under the same version.
PAYLOAD_VERSION = 1
SIGNATURE_HEADER = "X-Ccapki-Signature"
TIMESTAMP_HEADER = "X-Ccapki-Timestamp"
#: The verdicts of a probe that are drift: the appliance serves what the store did not put
#: there (or not what it holds now).
DRIFT_VERDICTS = (
    ProbeVerdict.UNKNOWN,
    ProbeVerdict.STALE,
    ProbeVerdict.TEMPORARY,
    ProbeVerdict.HA_MISMATCH,
)
#: stages of a status item that are not warnings
_QUIET_STAGES = ("ok", "pending")
#: seconds a webhook POST or an SMTP exchange may take
DEFAULT_TIMEOUT = 10.0


class StatusItemLike(Protocol):
    """What :func:`expiry_notices`, the watcher's metrics and the dashboard read of a
    status item (:class:`ccapki.lifecycle.status.StatusItem`)."""

    @property
    def deployment(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def fingerprint(self) -> str: ...
    @property
    def not_after(self) -> dt.datetime | None: ...
    @property
    def days_left(self) -> int | None: ...
    @property
    def stage(self) -> str: ...
    @property
    def temporary(self) -> bool: ...
    @property
    def in_use(self) -> bool: ...


@dataclass(frozen=True)
class Notice:
    """One notification: an expiry stage reached (``event`` ``"expiry"``) or drift seen at
    an appliance (``"drift"``, ``stage`` is the probe's verdict).

    ``subject``: the identity or CA (trust-root: ``"<appliance>: <label>"``), or the
    appliance for drift. ``key`` is what makes it once-only."""

    deployment: str
    event: str
    subject: str
    stage: str
    fingerprint: str
    kind: str
    text: str
    days_left: int | None = None
    not_after: dt.datetime | None = None
    temporary: bool = False
    #: drift: the endpoints (``kind address``) that showed it, and why
    endpoints: tuple[str, ...] = ()
    reason: str = ""
    #: the command that starts the fix (:func:`next_step`)
    next: str = ""

    @property
    def key(self) -> tuple[str, str, str, str]:
        """(subject, event, stage, fingerprint): the notice goes out once per key."""
        return (self.subject, self.event, self.stage, self.fingerprint)

    @property
    def title(self) -> str:
        """A one-line summary (the e-mail's subject)."""
        return f"[ccapki] {self.deployment}: {self.text}"

    def payload(self, sent_at: dt.datetime) -> dict[str, object]:
        """The webhook's JSON body (docs/notifications.md): stable field names, every field
        always present (null when it does not apply)."""
        return {
            "version": PAYLOAD_VERSION,
            "deployment": self.deployment,
            "event": self.event,
            "subject": self.subject,
            "kind": self.kind,
            "stage": self.stage,
            "days_left": self.days_left,
            "not_after": _iso(self.not_after),
            "fingerprint": self.fingerprint,
            "temporary": self.temporary,
            "endpoints": list(self.endpoints),
            "reason": self.reason or None,
            "text": self.text,
            "next": self.next or None,
            "sent_at": _iso(sent_at),
        }


def _iso(when: dt.datetime | None) -> str | None:
    if when is None:
        return None
    return when.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _when(
    days_left: int | None, not_after: dt.datetime | None, now: dt.datetime | None = None
) -> str:
    if now is not None and not_after is not None:
        # the one wording of every command: hours within 24 h, else whole days
        from ccapki.pki.expiry import expiry_stamp, expiry_words

        return f"{expiry_words(not_after, now)} ({expiry_stamp(not_after, now)})"
    date = f" ({not_after.date().isoformat()})" if not_after else ""
    if days_left is None:
        return f"expires{date}"
    if days_left < 0:
        # whole days since it expired, as every command says it (days_left counts down:
        # -1 in the first day after); without the time, from days_left
        n = (now - not_after) // dt.timedelta(days=1) if now and not_after else -days_left
        if not n:
            return f"expired today{date}"
        return f"expired {n} day{'s' if n != 1 else ''} ago{date}"
    if days_left == 0:
        return f"expires today{date}"
    return f"expires in {days_left} day{'s' if days_left != 1 else ''}{date}"


def expiry_notices(items: Iterable[StatusItemLike], now: dt.datetime | None = None) -> list[Notice]:
    """The notices of status items in a warning stage (any stage but ``ok`` and
    ``pending``) and in use (a CA nothing uses any more warns nobody), in the items'
    order. A trust-store root held by several appliances is one notice per certificate
    and stage, naming the appliances. ``now``: the report's time (an expired item then says
    the whole days since it expired, as every command does). Pure."""
    out = []
    items = list(items)
    holders: dict[str, list[str]] = {}  # trust-root fingerprint -> appliances
    # a true self-signed identity's own certificate, also in its peers' trust stores: one
    # notice, the identity's (as `ccapki status` shows it on one row)
    own = {(it.deployment, it.fingerprint) for it in items if it.kind == "identity"}
    items = [
        it for it in items if it.kind != "trust-root" or (it.deployment, it.fingerprint) not in own
    ]
    for it in items:
        if it.kind == "trust-root":
            holders.setdefault(it.fingerprint, []).append(it.name.partition(": ")[0])
    told: set[tuple[str, str]] = set()
    for it in items:
        if it.stage in _QUIET_STAGES or not it.in_use:
            continue
        subject = it.name
        what = f"{it.kind} {it.name}"
        if it.kind == "trust-root":
            if (it.fingerprint, it.stage) in told:
                continue
            told.add((it.fingerprint, it.stage))
            label = it.name.partition(": ")[2].split(" (sha256 ")[0]
            on = holders[it.fingerprint]
            subject = f"trust root: {label}"
            what = (
                f"trust-store root {label} (sha256 {it.fingerprint[:12]}), held by "
                f"{len(on)} appliance{'s' if len(on) != 1 else ''} ({', '.join(on)}),"
            )
        if it.temporary:
            what += " (the install-time temporary certificate)"
        stage = {
            "expired": "expired",
            "missing": "no certificate",
            "damaged": "stored certificate damaged: run `ccapki doctor`",
            # a CA that can no longer sign a full-validity certificate: what comes next
            "rollover": getattr(it, "note", "") or "CA rollover ahead",
            # a certificate lacking names the file gives (status's UNFIT_STAGE): the fix
            "missing-san": getattr(it, "note", "") or "names missing: a new certificate needed",
            # not valid yet (status's EARLY_STAGE): until when, why and the fix, as doctor
            "not-yet-valid": getattr(it, "note", "") or "not valid yet: check the clock",
        }.get(it.stage, f"{it.stage}-day warning")
        if it.stage == "missing":
            when = "has no certificate yet"
        elif it.stage == "not-yet-valid":  # its expiry is far: not what matters now
            when = "is not valid yet"
        else:
            when = _when(it.days_left, it.not_after, now)
        out.append(
            Notice(
                deployment=it.deployment,
                event="expiry",
                subject=subject,
                stage=it.stage,
                fingerprint=it.fingerprint,
                kind=it.kind,
                text=f"{what} {when} [{stage}]",
                days_left=it.days_left,
                not_after=it.not_after,
                temporary=it.temporary,
                next=_expiry_step(it.deployment, it.kind, it.name, it.stage),
            )
        )
    return out


def _expiry_step(deployment: str, kind: str, name: str, stage: str) -> str:
    """The command that starts the fix of an expiry notice (``name``: the identity or CA,
    a trust root's ``"<appliance>: <label>"``). Pure."""
    cmd = f"ccapki --deployment {deployment}"
    if stage in ("damaged", "not-yet-valid"):
        return f"`{cmd} doctor` says what is wrong and how to fix it"
    if stage in ("missing", "missing-san"):
        return f"`{cmd} status` names the step it waits for"
    if kind == "identity":
        return (
            f"`{cmd} renew {name} --commit` (a new certificate from its source: reissued, "
            f"or a CSR for a third-party CA), then install it on the appliance (`{cmd} "
            f"export {name}`)"
        )
    if kind == "ca":
        return f"`{cmd} renew --due` shows the successor and what it reissues; then --commit"
    return (
        f"`{cmd} status` names the appliances that hold it; add the CA's new root to their "
        f"trust stores (`{cmd} trust add APPLIANCE FILE`) before the old one expires"
    )


_DRIFT_TEXT = {
    ProbeVerdict.UNKNOWN: "serves a certificate the store does not know (installed by hand?)",
    ProbeVerdict.STALE: "serves an older certificate of its identity (not reloaded since "
    "the renewal?)",
    ProbeVerdict.TEMPORARY: "still serves its install-time temporary certificate",
    ProbeVerdict.HA_MISMATCH: "and its HA peer serve different certificates",
}


def drift_notices(deployment: str, records: Iterable[ProbeRecord]) -> list[Notice]:
    """The drift notices of probe results (the newest of each endpoint): one per appliance,
    verdict and certificate, naming every endpoint that showed it. Pure."""
    found: dict[tuple[str, str, str], list[ProbeRecord]] = {}
    for r in records:
        if r.verdict not in DRIFT_VERDICTS:
            continue
        found.setdefault((r.appliance, r.verdict.value, r.leaf_sha256 or "none"), []).append(r)
    out = []
    for (appliance, verdict, fp), recs in found.items():
        v = ProbeVerdict(verdict)
        identity = next((r.identity for r in recs if r.identity), None)
        reason = "; ".join(dict.fromkeys(r.reason for r in recs if r.reason))
        text = f"appliance {appliance} {_DRIFT_TEXT[v]}"
        if identity:
            text += f" [identity {identity}]"
        cmd = f"ccapki --deployment {deployment}"
        exported = f"`{cmd} export {identity or 'IDENTITY'}`"
        step = f"install its current certificate ({exported}), then `{cmd} probe`"
        if v is ProbeVerdict.UNKNOWN:
            step = (
                f"install ccapki's certificate ({exported}), or adopt the one it serves "
                f"(`{cmd} import FILE`); then `{cmd} probe`"
            )
        elif v is ProbeVerdict.HA_MISMATCH:
            step = f"install one current certificate on both peers ({exported}), then `{cmd} probe`"
        out.append(
            Notice(
                deployment=deployment,
                event="drift",
                subject=appliance,
                stage=verdict,
                fingerprint=fp,
                kind="appliance",
                text=text,
                endpoints=tuple(f"{r.kind} {r.address}" for r in recs),
                reason=reason,
                next=step,
            )
        )
    return out


def sign(secret: bytes, body: bytes) -> str:
    """The signature header's value: ``sha256=`` and the HMAC-SHA256 of ``body`` in hex."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def _secret(env: Mapping[str, str], name: str | None, what: str) -> str | None:
    if name is None:
        return None
    value = env.get(name)
    if not value:
        state = "which is empty" if value == "" else "which is not set"
        raise InputError(
            f"[notify] {what} names the environment variable {name}, {state}",
            f"set {name} in the watcher's environment (systemd: Environment= or "
            "LoadCredential=, a container: -e), or remove it from [notify]",
        )
    return value


def check_notify(deployment: str, notify: Notify, env: Mapping[str, str]) -> None:
    """Raise :class:`InputError` when ``notify`` cannot send: a secret's environment
    variable is unset, or a login would send its password without STARTTLS."""
    try:
        _secret(env, notify.webhook_secret_env, "webhook_secret_env")
        if notify.smtp_user:
            _secret(env, notify.smtp_password_env, "smtp_password_env")
    except InputError as exc:
        raise InputError(f"deployment {deployment}: {exc.message}", exc.hint) from None
    if notify.smtp_user and not notify.smtp_starttls:
        raise InputError(
            f"deployment {deployment}: [notify] smtp_user logs in without STARTTLS "
            "(the password would cross the network in clear)",
            "set smtp_starttls = true (the default), or remove smtp_user",
        )
    if notify.smtp_user and not notify.smtp_password_env:
        raise InputError(
            f"deployment {deployment}: [notify] smtp_user without smtp_password_env",
            'add smtp_password_env = "VARIABLE" naming the variable that holds the password',
        )


@dataclass(frozen=True)
class Delivery:
    """What became of one notice: ``sent`` (every channel took it), ``skipped`` (sent
    before: the store holds its claim), or ``failed`` channels with their reasons."""

    notice: Notice
    sent: tuple[str, ...] = ()
    failed: tuple[tuple[str, str], ...] = ()
    skipped: bool = False

    @property
    def ok(self) -> bool:
        return not self.failed


@dataclass
class Notifier:
    """Sends notices to the channels of one deployment's ``[notify]``; ``env`` holds the
    secrets' variables. :meth:`close` ends its SMTP session (one per run)."""

    notify: Notify
    env: Mapping[str, str]
    timeout: float = DEFAULT_TIMEOUT
    user_agent: str = "ccapki"
    _smtp: smtplib.SMTP | None = field(default=None, repr=False)

    @property
    def channels(self) -> tuple[str, ...]:
        """The channels configured: ``webhook`` and/or ``email``."""
        out = []
        if self.notify.webhook:
            out.append("webhook")
        if self.notify.email_to:
            out.append("email")
        return tuple(out)

    def endpoint(self, channel: str) -> str:
        """Where ``channel`` sends: the webhook's or the SMTP server's ``HOST:PORT`` (what
        a failure names). Raises nothing."""
        try:
            if channel == "webhook" and self.notify.webhook:
                import urllib.parse

                url = urllib.parse.urlsplit(self.notify.webhook)
                port = url.port or (443 if url.scheme == "https" else 80)
                host = url.hostname or "?"
            elif channel == "email" and self.notify.smtp:
                from ccapki.topology.loader import split_endpoint

                host, port = split_endpoint(self.notify.smtp)
            else:
                return "?"
        except (ValueError, InputError):
            return "?"
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def send(self, notice: Notice, channel: str, now: dt.datetime) -> None:
        """Send ``notice`` on ``channel``; raises ``OSError`` (or ``smtplib`` / ``ssl``
        errors, :class:`InputError` for a missing secret) when it did not go out."""
        if channel == "webhook":
            self._post(notice, now)
        elif channel == "email":
            self._mail(notice, now)
        else:
            raise ValueError(f"unknown channel {channel!r}")

    # ---------------------------------------------------------------- webhook

    def _post(self, notice: Notice, now: dt.datetime) -> None:
        url = self.notify.webhook
        assert url is not None
        body = json.dumps(notice.payload(now), sort_keys=True, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": self.user_agent,
            TIMESTAMP_HEADER: str(int(now.timestamp())),
            "X-Ccapki-Event": notice.event,
        }
        secret = _secret(self.env, self.notify.webhook_secret_env, "webhook_secret_env")
        if secret is not None:
            headers[SIGNATURE_HEADER] = sign(secret.encode(), body)
        req = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 - http(s) only (the loader checks)
        handlers: list[urllib.request.BaseHandler] = [_NoRedirect()]
        if url.startswith("https:"):
            handlers.append(urllib.request.HTTPSHandler(context=ssl.create_default_context()))
        opener = urllib.request.build_opener(*handlers)
        try:
            with opener.open(req, timeout=self.timeout) as resp:
                resp.read(65536)
                status = int(resp.status)
        except urllib.error.HTTPError as exc:
            if 300 <= exc.code < 400:  # a redirect would resend the POST as a bodiless GET
                where = exc.headers.get("Location", "?")
                raise _SendError(
                    f"the webhook answered HTTP {exc.code} (a redirect to {where}, not "
                    "followed: give the final URL in [notify] webhook)"
                ) from None
            raise _SendError(f"the webhook answered HTTP {exc.code} {exc.reason}") from None
        if not 200 <= status < 300:
            raise _SendError(f"the webhook answered HTTP {status}")

    # ---------------------------------------------------------------- e-mail

    def _connect(self) -> smtplib.SMTP:
        if self._smtp is not None:
            return self._smtp
        from ccapki.topology.loader import split_endpoint

        assert self.notify.smtp is not None
        host, port = split_endpoint(self.notify.smtp)
        smtp = smtplib.SMTP(host, port, timeout=self.timeout)
        try:
            smtp.ehlo()
            if self.notify.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if self.notify.smtp_user:
                password = _secret(self.env, self.notify.smtp_password_env, "smtp_password_env")
                smtp.login(self.notify.smtp_user, password or "")
        except BaseException:
            smtp.close()
            raise
        self._smtp = smtp
        return smtp

    def _mail(self, notice: Notice, now: dt.datetime) -> None:
        msg = EmailMessage()
        msg["Subject"] = notice.title
        msg["From"] = self.notify.email_from or ""
        msg["To"] = ", ".join(self.notify.email_to)
        msg["Date"] = format_datetime(now.astimezone(dt.UTC))
        msg["Message-ID"] = make_msgid(domain="ccapki.invalid")
        msg["X-Ccapki-Event"] = notice.event
        msg["X-Ccapki-Deployment"] = notice.deployment
        lines = [notice.text, ""]
        if notice.next:
            lines += [f"next: {notice.next}", ""]
        for k, v in notice.payload(now).items():
            if v not in (None, [], "") and k not in ("text", "next", "version"):
                lines.append(f"{k}: {', '.join(v) if isinstance(v, list) else v}")
        msg.set_content("\n".join(lines) + "\n")
        smtp = self._connect()
        try:
            smtp.send_message(msg)
        except BaseException:
            self.close()  # a broken session is not reused
            raise

    def close(self) -> None:
        """End the SMTP session, if one is open."""
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Never follow a redirect: the webhook's answer is the verdict (a 3xx is a failure)."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: object,
        code: int,
        msg: str,
        headers: object,
        newurl: str,
    ) -> urllib.request.Request | None:
        return None


class _SendError(OSError):
    """A channel refused the notification (its text says how)."""


def _reason(exc: BaseException, where: str = "?", channel: str = "webhook") -> str:
    """What went wrong in words: a refused connection, a timeout, a name that does not
    resolve named with ``where`` (HOST:PORT) and what to check, never an exception's
    class and errno."""
    if isinstance(exc, _SendError):
        return str(exc)
    if isinstance(exc, InputError):
        return exc.message
    cause = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(cause, smtplib.SMTPServerDisconnected) and isinstance(
        cause.__context__, OSError
    ):  # smtplib words a timeout or a reset so: the socket's error says what happened
        cause = cause.__context__
    receiver = "the mail server" if channel == "email" else "the receiver"
    if isinstance(cause, ConnectionRefusedError):
        return f"connection refused by {where}: is {receiver} running?"
    if isinstance(cause, TimeoutError) or (isinstance(cause, str) and "timed out" in cause.lower()):
        return (
            f"no answer from {where} in time (timed out): is {receiver} up and reachable "
            "(no firewall dropping the connection)?"
        )
    if isinstance(cause, socket.gaierror):
        host = where.rsplit(":", 1)[0].strip("[]")
        return (
            f"the host name {host} does not resolve ({cause.strerror}): check the name in "
            f"[notify] {'smtp' if channel == 'email' else 'webhook'}, and this machine's DNS"
        )
    if isinstance(cause, ConnectionResetError):
        return f"{where} closed the connection (reset): is {receiver} the right service?"
    if isinstance(cause, OSError) and not isinstance(cause, ssl.SSLError) and cause.strerror:
        return f"cannot reach {where}: {cause.strerror[:1].lower()}{cause.strerror[1:]}"
    if isinstance(cause, ssl.SSLCertVerificationError):  # the one a person must act on
        return (
            f"its TLS certificate was not trusted ({cause.reason}: {cause.verify_message}): "
            "install its CA in the system's trust store, or name a bundle holding it in "
            "SSL_CERT_FILE"
        )
    if isinstance(exc, urllib.error.URLError):
        return f"{type(exc.reason).__name__}: {exc.reason}"
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if type(exc).__name__ not in text else text


def deliver(
    store: Store,
    notices: Sequence[Notice],
    notifier: Notifier,
    *,
    now: dt.datetime,
    stop: Callable[[], bool] | None = None,
) -> list[Delivery]:
    """Send each notice not sent before, on every channel of ``notifier``; the store acts
    on the notices' deployment.

    Claims each notice's key in ``store.notices`` first (False: sent before, skipped) and
    releases the claim when a channel failed, so the next run sends it again. Returns what
    became of each; never raises for a failed send (a store error is raised: the run
    failed). ``stop()`` True ends the loop early (a signal): the notices left go out next
    run.
    """
    out: list[Delivery] = []
    channels = notifier.channels
    if not channels:
        return out
    try:
        for n in notices:
            if stop is not None and stop():
                break
            if not store.notices.claim(*n.key, channels):
                out.append(Delivery(n, skipped=True))
                continue
            sent: list[str] = []
            failed: list[tuple[str, str]] = []
            try:
                for ch in channels:
                    try:
                        notifier.send(n, ch, now)
                    except (OSError, smtplib.SMTPException, ssl.SSLError, InputError) as exc:
                        why = _reason(exc, notifier.endpoint(ch), ch)
                        failed.append((ch, why))
                        log.warning(
                            "notification not sent by %s (%s: %s): %s; retried next run",
                            ch,
                            n.deployment,
                            n.subject,
                            why,
                        )
                    else:
                        sent.append(ch)
            finally:
                if failed or len(sent) < len(channels):  # failed, or interrupted mid-way
                    store.notices.release(*n.key)
                else:
                    store.notices.confirm(*n.key)
            if not failed:
                log.info("notified by %s: %s", ", ".join(sent), n.title)
            out.append(Delivery(n, tuple(sent), tuple(failed)))
    finally:
        notifier.close()
    return out
