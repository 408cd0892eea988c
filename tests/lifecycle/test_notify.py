"""Issue 12 item 4: notifications of staged expiry warnings and drift, by a signed webhook
and by e-mail over STARTTLS, once per (subject, event, stage, certificate), state in the
store.

Real receivers on 127.0.0.1 (kit.receivers): an HTTP server checking the HMAC of every POST,
an aiosmtpd relay that refuses mail before STARTTLS, with a certificate minted here and
trusted through ``SSL_CERT_FILE``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from pathlib import Path

import pytest

from ccapki.errors import InputError
from ccapki.lifecycle.notify import (
    Notice,
    Notifier,
    check_notify,
    deliver,
    drift_notices,
    expiry_notices,
    sign,
)
from ccapki.lifecycle.status import StatusItem, estate_status
from ccapki.store.records import ProbeRecord, ProbeVerdict
from ccapki.topology.model import Notify
from kit.certs import NOW
from kit.cli import FAQ, Cli, ok, write
from kit.receivers import SmtpRelay, WebhookReceiver

from .conftest import open_store

SECRET = "webhook-secret-for-tests"
SECRET_ENV = {"HOOK_SECRET": SECRET, "SMTP_PASSWORD": "relay-password"}
#: when the FAQ's identities, issued at NOW, expire (their validity: 397 days, and the
#: test below checks it against the store)
EXPIRES = dt.datetime(2027, 12, 29, tzinfo=dt.UTC)
IN_30 = EXPIRES - dt.timedelta(days=20)  # their 30-day stage
IN_7 = EXPIRES - dt.timedelta(days=3)


def _item(name: str, stage: str, *, fp: str = "ab" * 32, in_use: bool = True) -> StatusItem:
    days = {"ok": 200, "60": 55, "30": 20, "7": 3, "expired": -2}.get(stage)
    return StatusItem(
        "campus",
        "identity",
        name,
        fp,
        None if days is None else NOW + dt.timedelta(days=days),
        days,
        stage,
        False,
        in_use=in_use,
    )


def test_expiry_notices_only_warning_stages_in_use() -> None:
    items = [
        _item("a", "ok"),
        _item("b", "pending"),
        _item("c", "30"),
        _item("d", "expired"),
        _item("e", "7", in_use=False),
    ]
    got = expiry_notices(items)
    assert [(n.subject, n.stage) for n in got] == [("c", "30"), ("d", "expired")]
    assert got[0].key == ("c", "expiry", "30", "ab" * 32)
    assert "expires in 20 days" in got[0].text
    assert "expired 2 days ago" in got[1].text


def _probe(appliance: str, kind: str, verdict: ProbeVerdict, leaf: str | None) -> ProbeRecord:
    return ProbeRecord(
        appliance, kind, f"127.0.0.1:{len(kind)}", NOW, verdict, "why", leaf_sha256=leaf
    )


def test_drift_notices_one_per_appliance_verdict_and_certificate() -> None:
    records = [
        _probe("cas-a", "control", ProbeVerdict.UNKNOWN, "11" * 32),
        _probe("cas-a", "admin", ProbeVerdict.UNKNOWN, "11" * 32),  # same cert: one notice
        _probe("cas-b", "control", ProbeVerdict.STALE, "22" * 32),
        _probe("cam-a", "admin", ProbeVerdict.EXPECTED, "33" * 32),
        _probe("cam-b", "admin", ProbeVerdict.UNREACHABLE, None),
        _probe("cas-c", "control", ProbeVerdict.HA_MISMATCH, "44" * 32),
        _probe("cas-d", "control", ProbeVerdict.TEMPORARY, "55" * 32),
    ]
    got = drift_notices("campus", records)
    assert {n.key for n in got} == {
        ("cas-a", "drift", "unknown", "11" * 32),
        ("cas-b", "drift", "stale", "22" * 32),
        ("cas-c", "drift", "ha-mismatch", "44" * 32),
        ("cas-d", "drift", "temporary", "55" * 32),
    }
    unknown = next(n for n in got if n.subject == "cas-a")
    assert unknown.endpoints == ("control 127.0.0.1:7", "admin 127.0.0.1:5")


def test_check_notify_names_the_missing_variable() -> None:
    notify = Notify(webhook="http://127.0.0.1:1/x", webhook_secret_env="HOOK_SECRET")
    with pytest.raises(InputError, match="HOOK_SECRET") as exc:
        check_notify("campus", notify, {})
    assert "HOOK_SECRET" in exc.value.hint
    check_notify("campus", notify, SECRET_ENV)
    clear = Notify(email_to=("a@b.c",), smtp="h:25", smtp_starttls=False, smtp_user="u")
    with pytest.raises(InputError, match="without STARTTLS"):
        check_notify("campus", clear, {"SMTP_PASSWORD": "x"})


def _notice(subject: str = "cas-dorm", stage: str = "30") -> Notice:
    return expiry_notices([_item(subject, stage)])[0]


def test_webhook_post_is_signed_over_the_exact_body() -> None:
    with WebhookReceiver(SECRET) as hook:
        n = Notifier(Notify(webhook=hook.url, webhook_secret_env="HOOK_SECRET"), SECRET_ENV)
        when = dt.datetime(2027, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
        n.send(_notice(), "webhook", when)
    [post] = hook.posts
    assert post.signed is True
    assert post.headers["X-Ccapki-Signature"] == sign(SECRET.encode(), post.body)
    want = "sha256=" + hmac.new(SECRET.encode(), post.body, hashlib.sha256).hexdigest()
    assert post.headers["X-Ccapki-Signature"] == want
    assert post.headers["X-Ccapki-Timestamp"] == str(int(when.timestamp()))
    assert post.headers["Content-Type"] == "application/json"
    body = post.json()
    assert body["sent_at"] == "2027-01-02T03:04:05Z"
    assert {k: body[k] for k in ("deployment", "event", "subject", "stage", "days_left")} == {
        "deployment": "campus",
        "event": "expiry",
        "subject": "cas-dorm",
        "stage": "30",
        "days_left": 20,
    }
    assert set(body) == {
        "version",
        "deployment",
        "event",
        "subject",
        "kind",
        "stage",
        "days_left",
        "not_after",
        "fingerprint",
        "temporary",
        "endpoints",
        "reason",
        "text",
        "next",
        "sent_at",
    }
    assert body["next"] == (
        "`ccapki --deployment campus renew cas-dorm --commit` (a new certificate from its "
        "source: reissued, or a CSR for a third-party CA), then install it on the appliance "
        "(`ccapki --deployment campus export cas-dorm`)"
    )


def test_every_notice_names_the_command_that_starts_its_fix() -> None:
    """A walkthrough: a notification said what expires, not what to run. Each kind and
    stage names a command of the deployment it is about (a store may hold several)."""
    for stage, words in (
        ("30", "renew cas-dorm --commit"),
        ("expired", "renew cas-dorm --commit"),
        ("missing", "status` names the step"),
        ("damaged", "doctor`"),
    ):
        n = _notice(stage=stage)
        assert f"`ccapki --deployment campus {words}" in n.next, (stage, n.next)
    # drift: install what the store holds, then probe again
    records = [
        _probe("cas-a", "control", verdict, "11" * 32)
        for verdict in (
            ProbeVerdict.UNKNOWN,
            ProbeVerdict.STALE,
            ProbeVerdict.HA_MISMATCH,
            ProbeVerdict.TEMPORARY,
        )
    ]
    got = drift_notices("campus", records)
    assert len(got) == 4
    for notice in got:
        assert notice.next.endswith("then `ccapki --deployment campus probe`"), notice.next
        assert "ccapki --deployment campus export" in notice.next


def test_a_tampered_body_fails_the_receivers_check() -> None:
    """The receiver's check can fail: a body signed with another secret is caught."""
    with WebhookReceiver("another secret") as hook:
        n = Notifier(Notify(webhook=hook.url, webhook_secret_env="HOOK_SECRET"), SECRET_ENV)
        n.send(_notice(), "webhook", NOW)
    assert [p.signed for p in hook.posts] == [False]


def _mail_notify(relay: SmtpRelay, *, user: str | None = "watcher") -> Notify:
    return Notify(
        email_to=("pki-team@example.edu", "noc@example.edu"),
        email_from="ccapki@example.edu",
        smtp=relay.address,
        smtp_user=user,
        smtp_password_env="SMTP_PASSWORD" if user else None,
    )


def test_email_over_starttls_with_login(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with SmtpRelay(tmp_path / "relay", user="watcher", password="relay-password") as relay:
        monkeypatch.setenv("SSL_CERT_FILE", str(relay.ca_file))
        n = Notifier(_mail_notify(relay), SECRET_ENV)
        n.send(_notice("cas-dorm"), "email", NOW)
        n.send(_notice("cas-guest", "7"), "email", NOW)  # the same session
        n.close()
    assert relay.handler.logins == ["watcher"]
    assert [e[2] for e in relay.handler.envelopes] == [True, True]  # over TLS
    first, second = relay.messages
    assert first["Subject"] == "[ccapki] campus: identity cas-dorm expires in 20 days " + (
        f"({(NOW + dt.timedelta(days=20)).date()}) [30-day warning]"
    )
    assert first["To"] == "pki-team@example.edu, noc@example.edu"
    assert relay.handler.envelopes[0][1] == ["pki-team@example.edu", "noc@example.edu"]
    assert "stage: 30" in first.get_content()
    assert "cas-guest" in second["Subject"]


def test_email_to_an_untrusted_relay_fails_and_is_released(
    tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The relay's certificate is verified: without its root in SSL_CERT_FILE the send
    fails, is reported, and its claim released (sent on a later run)."""
    home = _faq_store(cli, tmp_path)
    with SmtpRelay(tmp_path / "relay") as relay:
        monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "no-such-bundle.pem"))
        with open_store(home) as store:
            notice = _expiry(store)[0]
            [d] = deliver(store, [notice], Notifier(_mail_notify(relay, user=None), {}), now=NOW)
            assert not d.ok
            assert d.failed[0][0] == "email"
            assert "CERTIFICATE_VERIFY_FAILED" in d.failed[0][1]
            assert not store.notices.sent(*notice.key)
        monkeypatch.setenv("SSL_CERT_FILE", str(relay.ca_file))
        with open_store(home) as store:
            [d] = deliver(store, [notice], Notifier(_mail_notify(relay, user=None), {}), now=NOW)
            assert d.ok
            assert d.sent == ("email",)
    assert len(relay.messages) == 1


def _faq_store(cli: Cli, tmp_path: Path) -> Path:
    ok(cli("init"))
    ok(cli("apply", write(tmp_path / "faq.toml", FAQ.read_text())))
    assert cli.home is not None
    return cli.home


def _expiry(store: object, when: dt.datetime = IN_30) -> list[Notice]:
    from ccapki.store.session import Store

    assert isinstance(store, Store)
    return expiry_notices(estate_status(store, now=when).items)


def test_sent_once_across_runs_and_a_restart(cli: Cli, tmp_path: Path) -> None:
    home = _faq_store(cli, tmp_path)
    with WebhookReceiver(SECRET) as hook:
        notify = Notify(webhook=hook.url, webhook_secret_env="HOOK_SECRET")
        with open_store(home) as store:
            ident = [i for i in estate_status(store, now=NOW).items if i.kind == "identity"]
            assert {i.not_after for i in ident} == {EXPIRES}
            notices = _expiry(store)
            assert len(notices) == 6  # the FAQ's six identities, in their 30-day stage
            first = deliver(store, notices, Notifier(notify, SECRET_ENV), now=IN_30)
            assert [d.sent for d in first] == [("webhook",)] * 6
            again = deliver(store, _expiry(store), Notifier(notify, SECRET_ENV), now=IN_30)
            assert all(d.skipped for d in again)
        with open_store(home) as store:  # a restart: another Store on the same home
            again = deliver(store, _expiry(store), Notifier(notify, SECRET_ENV), now=IN_30)
            assert all(d.skipped for d in again)
            # the next stage is a new notice, once
            seven = _expiry(store, IN_7)
            assert {n.stage for n in seven} == {"7"}
            assert all(
                d.sent for d in deliver(store, seven, Notifier(notify, SECRET_ENV), now=IN_7)
            )
            assert all(
                d.skipped for d in deliver(store, seven, Notifier(notify, SECRET_ENV), now=IN_7)
            )
            assert len(store.notices.list()) == 12
    bodies = hook.payloads()  # every one signed right
    assert len(bodies) == 12
    assert sorted((b["subject"], b["stage"]) for b in bodies) == sorted(
        (n.subject, s) for n in notices for s in ("30", "7")
    )


def test_failed_webhook_is_retried_next_run(cli: Cli, tmp_path: Path) -> None:
    home = _faq_store(cli, tmp_path)
    down = WebhookReceiver(SECRET)  # bound, then closed: nothing listens on its port
    port = down.port
    down.server.server_close()
    notify = Notify(webhook=f"http://127.0.0.1:{port}/hook", webhook_secret_env="HOOK_SECRET")
    with open_store(home) as store:
        notices = _expiry(store)
        failed = deliver(store, notices, Notifier(notify, SECRET_ENV, timeout=5), now=IN_30)
        assert all(not d.ok for d in failed)
        assert failed[0].failed[0][1] == (
            f"connection refused by 127.0.0.1:{port}: is the receiver running?"
        )
        assert store.notices.list() == []  # every claim released
    with WebhookReceiver(SECRET, status=500, port=port) as hook, open_store(home) as store:
        failed = deliver(store, notices, Notifier(notify, SECRET_ENV), now=IN_30)
        assert [d.failed[0][1] for d in failed][:1] == [
            "the webhook answered HTTP 500 Internal Server Error"
        ]
        assert store.notices.list() == []
        hook.status = 204
        sent = deliver(store, notices, Notifier(notify, SECRET_ENV), now=IN_30)
        assert all(d.ok and not d.skipped for d in sent)
    assert len(hook.payloads()) == 12  # 6 answered 500, then 6 taken


def test_a_redirect_is_a_failed_send_not_followed(cli: Cli, tmp_path: Path) -> None:
    """A 3xx answer (e.g. http -> https) was followed as a bodiless GET and counted sent."""
    home = _faq_store(cli, tmp_path)
    with WebhookReceiver(SECRET, status=302, location="/moved") as hook:
        notify = Notify(webhook=hook.url, webhook_secret_env="HOOK_SECRET")
        with open_store(home) as store:
            notices = _expiry(store)[:1]
            [d] = deliver(store, notices, Notifier(notify, SECRET_ENV), now=IN_30)
            assert not d.ok
            assert "HTTP 302" in d.failed[0][1]
            assert "/moved" in d.failed[0][1]
            assert store.notices.list() == []  # released: retried next run
        assert [p.method for p in hook.posts] == ["POST"]  # no GET to /moved


def test_a_claim_abandoned_by_a_killed_watcher_is_taken_over(cli: Cli, tmp_path: Path) -> None:
    """A watcher killed while sending left its claim: the notice was never sent again."""
    from ccapki.store import Store
    from ccapki.store.monitoring import CLAIM_TTL

    from .conftest import PASSPHRASE

    home = _faq_store(cli, tmp_path)
    clock = {"now": IN_30}
    with Store.open(home, passphrase=lambda: PASSPHRASE, clock=lambda: clock["now"]) as store:
        [n] = _expiry(store)[:1]
        assert store.notices.claim(*n.key, ["webhook"])  # the killed watcher's claim
        with WebhookReceiver(SECRET) as hook:
            notify = Notify(webhook=hook.url, webhook_secret_env="HOOK_SECRET")
            [d] = deliver(store, [n], Notifier(notify, SECRET_ENV), now=clock["now"])
            assert d.skipped  # it may still be sending: not sent twice at once
            clock["now"] += CLAIM_TTL + dt.timedelta(seconds=1)
            [d] = deliver(store, [n], Notifier(notify, SECRET_ENV), now=clock["now"])
            assert d.ok
            assert not d.skipped
            assert store.notices.sent(*n.key)
            [d] = deliver(store, [n], Notifier(notify, SECRET_ENV), now=clock["now"])
            assert d.skipped  # confirmed: never again
        assert len(hook.payloads()) == 1


def test_one_notice_per_trust_root_certificate_and_missing_said_plainly() -> None:
    """A walkthrough saw 18 notices for two certificates: one per appliance and version."""

    def root(appliance: str, fp: str, stage: str) -> StatusItem:
        item = _item(f"{appliance}: the CAM cam's certificate", stage, fp=fp)
        return StatusItem(
            item.deployment,
            "trust-root",
            item.name,
            item.fingerprint,
            item.not_after,
            item.days_left,
            item.stage,
            False,
        )

    items = [
        root("cas-1", "aa" * 32, "7"),
        root("cas-2", "aa" * 32, "7"),
        root("cas-3", "aa" * 32, "7"),
        root("cas-1", "bb" * 32, "30"),
        StatusItem("campus", "identity", "cas-pub", "none", None, None, "missing", False),
    ]
    got = expiry_notices(items)
    assert [(n.subject, n.stage) for n in got] == [
        ("trust root: the CAM cam's certificate", "7"),
        ("trust root: the CAM cam's certificate", "30"),
        ("cas-pub", "missing"),
    ]
    assert "held by 3 appliances (cas-1, cas-2, cas-3)" in got[0].text
    assert got[2].text == "identity cas-pub has no certificate yet [no certificate]"
