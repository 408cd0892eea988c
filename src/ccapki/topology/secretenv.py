"""The environment variables ccapki reads secrets from, and the ones a deployment file's
secret settings may name (pure: names only, no value is ever read here).

A deployment file never holds a secret: ``[notify] webhook_secret_env`` and
``smtp_password_env``, ``[acme] eab_hmac_env`` and ``tsig_secret_env`` name the variable
that holds it, and what that variable holds goes to a server (the SMTP relay, the webhook's
receiver, the ACME CA, the DNS server). Naming one of ccapki's own secrets there
(``smtp_password_env = "CCAPKI_PASSPHRASE"``) would hand that secret to the server: the
loader refuses it (:func:`borrowed_secret`). A DNS hook is given none of them
(:data:`WITHHELD_FROM_HOOK`).
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "OWN_SECRETS",
    "SETTING_SECRETS",
    "WITHHELD_FROM_HOOK",
    "borrowed_secret",
]

#: The variables ccapki itself reads a secret from, and what each holds.
OWN_SECRETS: Mapping[str, str] = {
    "CCAPKI_PASSPHRASE": "the store's passphrase",
    "CCAPKI_BACKUP_PASSPHRASE": "the backup passphrase",
    "CCAPKI_EXPORT_PASSWORD": "the password of exported keys",
    "CCAPKI_PKCS11_PIN": "the PKCS#11 token's user PIN",
    "CCAPKI_DATABASE_URL": "the store's database URL, with its password",
}

#: Each secret setting of a deployment file: (its table, the variable the docs name for it,
#: what its secret is, who receives it).
SETTING_SECRETS: Mapping[str, tuple[str, str, str, str]] = {
    "smtp_password_env": (
        "notify",
        "CCAPKI_SMTP_PASSWORD",
        "the SMTP password",
        "the SMTP relay would receive it",
    ),
    "webhook_secret_env": (
        "notify",
        "CCAPKI_WEBHOOK_SECRET",
        "the webhook's signing secret",
        "it would key the webhook's signatures, and the receiver must hold it",
    ),
    "eab_hmac_env": (
        "acme",
        "ACME_EAB_HMAC",
        "the External Account Binding HMAC key",
        "it would key the account binding sent to the ACME CA",
    ),
    "tsig_secret_env": (
        "acme",
        "ACME_TSIG_SECRET",
        "the TSIG secret",
        "it would sign the DNS updates, and the DNS server must hold it",
    ),
}

#: Never passed to a DNS hook (least privilege: a hook publishes a TXT record): ccapki's
#: own secrets and the variables the docs name for the deployment file's secrets.
WITHHELD_FROM_HOOK: tuple[str, ...] = (
    *OWN_SECRETS,
    *(spec[1] for spec in SETTING_SECRETS.values() if spec[1].startswith("CCAPKI_")),
)


def borrowed_secret(setting: str, name: str) -> tuple[str, str] | None:
    """Why ``setting`` (``smtp_password_env``...) may not name the variable ``name``, and
    the fix, when ``name`` holds a secret that is not that setting's: one of ccapki's own
    (:data:`OWN_SECRETS`) or the variable the docs name for another secret setting
    (``smtp_password_env = "CCAPKI_WEBHOOK_SECRET"``). Returns ``(why, hint)``, or None
    when ``name`` is fine (or ``setting`` is no secret setting). Raises nothing."""
    spec = SETTING_SECRETS.get(setting)
    if spec is None:
        return None
    table, own_name, what, receiver = spec
    if name in OWN_SECRETS:
        why = f"{name} holds {OWN_SECRETS[name]}, a secret of ccapki's own, not {what}"
    else:
        other = next((k for k, s in SETTING_SECRETS.items() if k != setting and s[1] == name), None)
        if other is None:
            return None
        why = f"{name} is the variable of {SETTING_SECRETS[other][2]} ({other}), not of {what}"
    return (
        f"{why}: {receiver}",
        f"name a variable of its own that holds {what}, e.g. {setting} = "
        f'"{own_name}" in [{table}], and set it in the environment ccapki runs in',
    )
