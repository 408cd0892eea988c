"""``[monitoring]``, ``[renewal]`` and ``[notify]`` in the deployment file: defaults, values,
and every bad value refused with FILE:LINE and a hint (never the validation library's words)."""

from __future__ import annotations

import pytest

from ccapki.errors import DeploymentError
from ccapki.topology.loader import parse_deployment
from ccapki.topology.model import DEFAULT_WARN_DAYS, KeyPolicy

BASE = """\
[deployment]
name = "t"
release = "4.7.2"

[cam]
name = "cam"
hostname = "cam.example.org"
ip = "10.0.0.10"
"""


def test_defaults_when_the_file_says_nothing() -> None:
    m = parse_deployment(BASE).monitoring
    assert m.warn_days == DEFAULT_WARN_DAYS == (60, 30, 7)
    assert m.key_policy is KeyPolicy.ROTATE
    assert not m.notify.any


def test_every_setting_is_read() -> None:
    dep = parse_deployment(
        BASE
        + """
[monitoring]
warn_days = [14, 90, 3]
probe_interval = 600
probe_timeout = 2.5

[renewal]
key = "keep"

[notify]
webhook = "https://hooks.example.org/ccapki"
webhook_secret_env = "CCAPKI_WEBHOOK_SECRET"
email_to = "noc@example.org"
email_from = "ccapki@example.org"
smtp = "mail.example.org:587"
smtp_user = "ccapki"
smtp_password_env = "SMTP_PASSWORD"
"""
    )
    m = dep.monitoring
    assert m.warn_days == (90, 14, 3)  # largest first, whatever the file's order
    assert (m.probe_interval, m.probe_timeout) == (600, 2.5)
    assert m.key_policy is KeyPolicy.KEEP
    assert m.notify.email_to == ("noc@example.org",)
    assert m.notify.smtp_starttls
    assert m.notify.any


@pytest.mark.parametrize(
    ("extra", "line", "words"),
    [
        ("[monitoring]\nwarn_days = []\n", 11, "at least one stage"),
        ("[monitoring]\nwarn_days = [30, 30]\n", 11, "given twice"),
        ("[monitoring]\nwarn_days = [0]\n", 11, "from 1 to 3650"),
        ("[monitoring]\nprobe_interval = 1\n", 11, "probe_interval"),
        ('[renewal]\nkey = "kept"\n', 11, "not a key policy"),
        ("[renewal]\nrotate = true\n", 11, "unknown key 'rotate' in renewal"),
        ('[notify]\nwebhook = "ftp://x"\n', 11, "not an http:// or https:// URL"),
        ('[notify]\nemail_to = ["noc"]\n', 11, "not an e-mail address"),
        ('[notify]\nemail_to = "noc@example.org"\n', 11, "needs an SMTP relay"),
        ('[notify]\nwebhook_secret_env = "SECRET"\n', 11, "without a webhook"),
        ('[notify]\nwebhook = "http://h/"\nwebhook_secret_env = "a-b"\n', 12, "variable name"),
        ('[notify]\nsmtp = "mail.example.org"\n', 11, "smtp"),
        # caught when the file is read, not first when `watch` runs (a walkthrough)
        ('[notify]\nwebhook = "http://127.0.0.1:99999/x"\n', 11, "port '99999' is not a number"),
        ('[notify]\nwebhook = "https://h:port/x"\n', 11, "port 'port' is not a number"),
        (
            '[notify]\nemail_to = ["a@b.org"]\nemail_from = "c@b.org"\nsmtp = "m.b.org:587"\n'
            'smtp_user = "u"\nsmtp_password_env = "PW"\nsmtp_starttls = false\n',
            16,
            "smtp_user logs in without STARTTLS",
        ),
    ],
)
def test_bad_settings_name_their_line(extra: str, line: int, words: str) -> None:
    with pytest.raises(DeploymentError) as info:
        parse_deployment(BASE + "\n" + extra, "d.toml")
    err = info.value
    assert err.line == line, err.message
    assert words in err.message, err.message
    assert err.hint
    assert "Input should" not in err.message


def test_an_endpoint_written_as_a_url_says_so() -> None:
    text = BASE.replace(
        'ip = "10.0.0.10"', 'ip = "10.0.0.10"\nendpoints = { gui = "https://cam.example.org:443/" }'
    )
    with pytest.raises(DeploymentError) as info:
        parse_deployment(text, "d.toml")
    assert "a URL is not host:port" in info.value.message
    assert "[https" not in info.value.message  # not the IPv6 brackets advice
