"""An operator may apply deployment files through the service, but not change what the
service's machine runs or which of its environment's secrets it hands to a server
(walkthrough R): an ``[acme] hook`` is a command the service runs (``/bin/sh -c ...``
would run anything as the service: read the store's key and every private key, which only
an admin may export), a ``*_env`` setting names a variable of the service's environment
whose value goes to a server (``smtp_password_env = "AWS_SECRET_ACCESS_KEY"``; ccapki's
own secrets, ``CCAPKI_PASSPHRASE``..., the loader refuses for everyone), ``[ca]
pkcs11_module`` a library it loads. A file changing any of them needs an admin: 403 naming
the setting, nothing queued, the stored file kept. Sending them unchanged (or a dry run,
which runs nothing) is an operator's to do."""

from __future__ import annotations

from kit.cli import FAQ
from kit.service import DEPLOYMENT, Service

ACME = """
[acme]
directory = "https://127.0.0.1:14000/dir"
email = "pki@example.edu"
dns = "hook"
hook = ["/bin/sh", "-c", "cat \\"$HOME/data.key\\""]
"""

NOTIFY = """
[notify]
email_to = ["pki@example.edu"]
email_from = "ccapki@example.edu"
smtp = "mail.example.net:587"
smtp_user = "ccapki"
smtp_password_env = "AWS_SECRET_ACCESS_KEY"
"""


def _stored(service: Service) -> str:
    with service.store.fork(deployment=DEPLOYMENT) as s:
        kept = s.deployments.latest()
    assert kept is not None
    return kept.text


def test_an_operator_may_not_add_a_hook_or_name_a_secret(service: Service) -> None:
    op = service.client("operator")
    before = _stored(service)
    for extra, setting in ((ACME, "[acme] hook"), (NOTIFY, "[notify] smtp_password_env")):
        r = op.post("/api/v1/deployments", json={"text": FAQ.read_text() + extra})
        assert r.status_code == 403, r.text
        body = r.json()
        assert setting in body["error"]
        assert "admin" in body["error"]
        assert "admin" in body["hint"]
    assert op.get("/api/v1/jobs").json() == []  # nothing queued
    assert _stored(service) == before
    # a dry run runs nothing: an operator may look at what the file would do
    dry = op.post("/api/v1/deployments", json={"text": FAQ.read_text() + ACME, "dry_run": True})
    assert dry.status_code == 200, dry.text


def test_an_admin_may_and_an_operator_may_send_them_unchanged(service: Service) -> None:
    text = FAQ.read_text() + ACME
    r = service.client("admin").post("/api/v1/deployments", json={"text": text})
    assert r.status_code == 202, r.text
    # the admin's file applied (the job run here), an operator sends it again as it is
    from ccapki.service.jobs import JobRunner

    assert JobRunner(service.store, "test").run_once()
    again = service.client("operator").post("/api/v1/deployments", json={"text": text})
    assert again.status_code == 202, again.text
    # the hook changed by an operator: refused again
    changed = text.replace("data.key", "ccapki.db")
    r = service.client("operator").post("/api/v1/deployments", json={"text": changed})
    assert r.status_code == 403, r.text


def test_an_operator_may_not_send_the_smtp_password_elsewhere(service: Service) -> None:
    """The password itself goes to the mail server (SMTP AUTH): keeping
    ``smtp_password_env`` as the admin set it while pointing ``smtp`` (or the login, or
    STARTTLS) elsewhere hands it to a server of the operator's choosing (a walkthrough
    received it on 127.0.0.1). 403, nothing queued; the same file as stored passes."""
    text = FAQ.read_text() + NOTIFY
    r = service.client("admin").post("/api/v1/deployments", json={"text": text})
    assert r.status_code == 202, r.text
    from ccapki.service.jobs import JobRunner

    assert JobRunner(service.store, "test").run_once()
    op = service.client("operator")
    jobs = len(op.get("/api/v1/jobs").json())
    for changed in (
        text.replace("mail.example.net:587", "127.0.0.1:2525"),
        text.replace('smtp_user = "ccapki"', 'smtp_user = "someone"'),
    ):
        r = op.post("/api/v1/deployments", json={"text": changed})
        assert r.status_code == 403, r.text
        assert "[notify] smtp, smtp_user, smtp_starttls" in r.json()["error"]
    assert len(op.get("/api/v1/jobs").json()) == jobs  # nothing queued
    assert _stored(service) == text
    again = op.post("/api/v1/deployments", json={"text": text})
    assert again.status_code == 202, again.text
    assert JobRunner(service.store, "test").run_once()
    # without a password to send, where the mail goes is an operator's to change
    bare = FAQ.read_text() + NOTIFY.replace('smtp_password_env = "AWS_SECRET_ACCESS_KEY"\n', "")
    bare = bare.replace('smtp_user = "ccapki"\n', "")
    for t in (bare, bare.replace("mail.example.net:587", "mail2.example.net:587")):
        r = service.client("admin" if t is bare else "operator").post(
            "/api/v1/deployments", json={"text": t}
        )
        assert r.status_code == 202, r.text
        assert JobRunner(service.store, "test").run_once()
