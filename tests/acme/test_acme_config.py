"""The deployment file's [acme] table and source = "acme": strict validation with FILE:LINE
errors; what an order names and reports; the one-line messages of ACME problem documents
(rate limits included) built from the acme library's own error objects."""

from __future__ import annotations

from pathlib import Path

import pytest
from acme import messages

from ccapki.errors import DeploymentError
from ccapki.lifecycle.acme import acme_scope, problem_error
from ccapki.topology.loader import parse_deployment
from ccapki.topology.model import AcmeDnsMethod, Source
from kit.cli import Cli, error_with_hint, write

HEAD = """[deployment]
name = "t"
release = "4.8.0"
source = "internal"

[cam]
name = "cam"
hostname = "cam.example.org"
ip = "10.0.0.1"
source = "acme"
"""

HOOK = """
[acme]
directory = "https://127.0.0.1:9/directory"
email = "pki@example.org"
dns = "hook"
hook = "/usr/local/bin/acme-dns-hook --zone example.org"
"""


def _err(text: str) -> DeploymentError:
    with pytest.raises(DeploymentError) as info:
        parse_deployment(text, "f.toml")
    return info.value


def test_acme_identity_is_third_party_enrolled_by_acme() -> None:
    dep = parse_deployment(HEAD + HOOK)
    assert dep.cam.source is Source.THIRD_PARTY
    assert dep.cam.acme
    assert dep.acme is not None
    assert dep.acme.dns is AcmeDnsMethod.HOOK
    assert dep.acme.hook == ("/usr/local/bin/acme-dns-hook", "--zone", "example.org")


def test_acme_source_without_acme_table() -> None:
    e = _err(HEAD)
    assert 'cam has source = "acme" and the file has no [acme] table' in e.message
    assert e.line == 10
    assert "directory" in e.hint


@pytest.mark.parametrize(
    ("change", "needle", "hint"),
    [
        ('directory = "http://acme.example.org/dir"', "is not an https:// URL", "acme.directory"),
        ('email = "not-an-address"', "is not an e-mail address", "acme.email"),
        ('dns = "dnssec"', "is not a DNS-01 method", "rfc2136"),
        ('dns = "rfc2136"', "needs dns_server, tsig_key_name, tsig_secret_env", "base64 secret"),
        ('eab_kid = "kid-1"', "needs both eab_kid and eab_hmac_env", "eab_hmac_env"),
        ('eab_hmac_env = "bad name"', "is not an environment variable name", "eab_hmac_env"),
        ("propagation_wait = -1", "from 0 to 3600", "acme.propagation_wait"),
        ('propagation_wait = "10"', "is not a number of seconds", "propagation_wait"),
        ("dns_port = 70000", "is not from 1 to 65535", "dns_port"),
        ('tsig_algorithm = "hmac-md4"', "unknown TSIG algorithm", "tsig_algorithm"),
        ('zone = "example.org"', 'zone is for dns = "rfc2136"', "remove zone"),
        ('hmac_key = "c2VjcmV0"', "unknown key 'hmac_key' in acme", "eab_hmac_env"),
    ],
)
def test_bad_acme_settings(change: str, needle: str, hint: str) -> None:
    key = change.split(" =")[0]
    lines = [ln for ln in HOOK.splitlines() if not ln.startswith(f"{key} =")]
    if key == "dns" and "rfc2136" in change:
        lines = [ln for ln in lines if not ln.startswith("hook =")]
    e = _err(HEAD + "\n".join(lines) + "\n" + change + "\n")
    assert needle in e.message, e.message
    assert hint in e.message + e.hint, (e.message, e.hint)
    assert e.line is not None


def test_the_secret_is_never_in_the_file(cli: Cli, keyfile_store: Path, tmp_path: Path) -> None:
    f = write(tmp_path / "d.toml", HEAD + HOOK + 'eab_kid = "kid-1"\neab_hmac_env = "NO_SUCH"\n')
    r = error_with_hint(
        cli("plan", write(tmp_path / "bad.toml", HEAD + HOOK + "tsig_secret = 1\n"))
    )
    assert "unknown key 'tsig_secret'" in r.err
    # named by the file, missing from the environment: said before anything is asked
    cli("apply", f, "--no-acme")
    r = error_with_hint(cli("acme", "order", env={"NO_SUCH": None}))
    assert "NO_SUCH" in r.err
    assert "never goes in it" in r.err


def test_scope_of_an_ha_pair() -> None:
    dep = parse_deployment(
        HEAD.replace(
            'name = "cam"\nhostname = "cam.example.org"\nip = "10.0.0.1"\n',
            'name = "cam"\nvirtual_hostname = "cam.campus.local"\nservice_ip = "10.0.0.10"\n'
            'primary = { name = "cam-a", hostname = "cam-a.example.org", ip = "10.0.0.11" }\n'
            'secondary = { name = "cam-b", hostname = "cam-b.example.org", ip = "10.0.0.12" }\n',
        )
        + HOOK
    )
    scope = acme_scope(dep.cam)
    assert scope.names == ("cam.campus.local", "cam-a.example.org", "cam-b.example.org")
    assert scope.ips_left_out == ("10.0.0.10", "10.0.0.11", "10.0.0.12")
    assert scope.non_public == ("cam.campus.local",)
    report = " ".join(scope.report())
    assert "Service IP" in report
    assert "a public CA will refuse cam.campus.local" in report


@pytest.mark.parametrize(
    ("typ", "detail", "words", "hint"),
    [
        (
            "urn:ietf:params:acme:error:rateLimited",
            "too many certificates (5) already issued for this exact set of domains",
            "the CA refused (rate limited): too many certificates",
            "wait",
        ),
        (
            "urn:ietf:params:acme:error:rejectedIdentifier",
            'Error creating new order :: Cannot issue for "x.corp"',
            "the CA refused (rejectedIdentifier)",
            "will not issue for that name",
        ),
        (
            "urn:ietf:params:acme:error:externalAccountRequired",
            "External Account Binding required",
            "the CA refused (externalAccountRequired)",
            "eab_kid",
        ),
        (
            "urn:ietf:params:acme:error:caa",
            "CAA record for example.org prevents issuance",
            "the CA refused (caa)",
            "CAA",
        ),
    ],
)
def test_problem_documents_are_one_line(typ: str, detail: str, words: str, hint: str) -> None:
    err = problem_error(messages.Error(typ=typ, detail=detail), "ordering cam")
    assert err.message.startswith("ordering cam: ")
    assert words in err.message
    assert "\n" not in err.message
    assert hint in err.hint
