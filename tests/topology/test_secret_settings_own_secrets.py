"""A deployment file's secret settings (``[notify] smtp_password_env``, ``webhook_secret_env``,
``[acme] eab_hmac_env``, ``tsig_secret_env``) name the variable whose value goes to a
server. Naming one of ccapki's own secrets there (``smtp_password_env =
"CCAPKI_PASSPHRASE"``: the SMTP relay would receive the store's passphrase) was accepted;
the loader refuses it, for the command line, the Python API and the service alike."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

import ccapki
from ccapki.errors import DeploymentError
from ccapki.service.app import create_app
from ccapki.store.session import Store
from ccapki.topology.secretenv import OWN_SECRETS, WITHHELD_FROM_HOOK
from kit.certs import NOW
from kit.cli import FAQ, Cli, error_with_hint, write
from kit.service import add_users, config_for, make_store, running

SMTP = """
[notify]
email_to = ["noc@example.edu"]
email_from = "ccapki@example.edu"
smtp = "mail.example.edu:587"
smtp_user = "ccapki"
smtp_password_env = "{name}"
"""

WEBHOOK = """
[notify]
webhook = "https://hooks.example.edu/ccapki"
webhook_secret_env = "{name}"
"""

EAB = """
[acme]
directory = "https://127.0.0.1:9/directory"
email = "pki@example.edu"
dns = "hook"
hook = "/usr/local/bin/acme-dns-hook"
eab_kid = "kid-1"
eab_hmac_env = "{name}"
"""

TSIG = """
[acme]
directory = "https://127.0.0.1:9/directory"
email = "pki@example.edu"
dns = "rfc2136"
dns_server = "127.0.0.1"
tsig_key_name = "acme-key."
tsig_secret_env = "{name}"
"""

SETTINGS = {
    "smtp_password_env": SMTP,
    "webhook_secret_env": WEBHOOK,
    "eab_hmac_env": EAB,
    "tsig_secret_env": TSIG,
}


def _file(setting: str, name: str) -> str:
    return FAQ.read_text() + SETTINGS[setting].format(name=name)


@pytest.mark.parametrize("setting", SETTINGS)
@pytest.mark.parametrize("name", list(OWN_SECRETS))
def test_a_secret_setting_naming_an_own_secret_is_refused(setting: str, name: str) -> None:
    text = _file(setting, name)
    with pytest.raises(DeploymentError) as info:
        ccapki.parse_deployment(text, "d.toml")
    e = info.value
    table = "acme" if setting in ("eab_hmac_env", "tsig_secret_env") else "notify"
    line = text.splitlines().index(f'{setting} = "{name}"') + 1
    assert e.message.startswith(f"d.toml:{line}: {table}.{setting}: {name} holds "), e.message
    assert "a secret of ccapki's own" in e.message
    assert f"{setting} = " in e.hint
    assert "a variable of its own" in e.hint


def test_the_command_line_refuses_it_with_error_and_hint(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    f = write(tmp_path / "d.toml", _file("smtp_password_env", "CCAPKI_PASSPHRASE"))
    for args in (("plan", f), ("apply", f)):
        r = error_with_hint(cli(*args))
        assert "notify.smtp_password_env: CCAPKI_PASSPHRASE holds the store's passphrase" in r.err
        assert "the SMTP relay would receive it" in r.err
        assert "hint: name a variable of its own that holds the SMTP password, e.g. " in r.err


def test_the_service_refuses_it(home: Path) -> None:
    make_store(home)
    with Store.open(home, clock=lambda: NOW) as store:
        tokens = add_users(store)
    with running(create_app(config_for(home))) as url:
        r = httpx.post(
            f"{url}/api/v1/deployments",
            headers={"Authorization": f"Bearer {tokens['admin']}"},
            json={"text": _file("smtp_password_env", "CCAPKI_PASSPHRASE")},
        )
    assert r.status_code == 422, r.text
    body = r.json()
    assert "CCAPKI_PASSPHRASE holds the store's passphrase" in body["error"], body
    assert "a variable of its own" in body["hint"]


def test_another_settings_variable_is_refused_and_its_own_is_not() -> None:
    with pytest.raises(DeploymentError) as info:
        ccapki.parse_deployment(_file("smtp_password_env", "CCAPKI_WEBHOOK_SECRET"))
    assert "is the variable of the webhook's signing secret" in info.value.message
    for setting, name in (
        ("smtp_password_env", "CCAPKI_SMTP_PASSWORD"),
        ("webhook_secret_env", "CCAPKI_WEBHOOK_SECRET"),
        ("eab_hmac_env", "ACME_EAB_HMAC"),
        ("tsig_secret_env", "ACME_TSIG_SECRET"),
        ("smtp_password_env", "MY_SMTP_PASSWORD"),
    ):
        ccapki.parse_deployment(_file(setting, name))  # no error


def test_a_dns_hook_is_still_given_none_of_them() -> None:
    from ccapki.lifecycle.acme import _HookPublisher

    assert {"CCAPKI_PASSPHRASE", "CCAPKI_PKCS11_PIN", "CCAPKI_BACKUP_PASSPHRASE"} <= set(
        OWN_SECRETS
    )
    withheld = _HookPublisher(["/bin/true"], 5).withheld
    assert set(OWN_SECRETS) <= withheld
    assert {"CCAPKI_SMTP_PASSWORD", "CCAPKI_WEBHOOK_SECRET"} <= withheld
    assert set(WITHHELD_FROM_HOOK) == withheld
