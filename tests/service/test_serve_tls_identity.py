"""``ccapki serve --tls-identity NAME`` for a name the store does not hold lists the
identities it does hold, or says it holds none (then: apply), rather than only hinting
"run apply" (walkthrough: the store held the identity under another name)."""

from __future__ import annotations

from pathlib import Path

from kit.cli import Cli, error_with_hint


def test_an_unknown_tls_identity_lists_those_the_store_holds(
    service_home: tuple[Path, dict[str, str]], cli: Cli
) -> None:
    r = error_with_hint(
        cli("serve", "--listen", "127.0.0.1:0", "--no-jobs", "--tls-identity", "nosuch")
    )
    first, hint = r.err.splitlines()[:2]
    assert first.startswith("error: --tls-identity 'nosuch': no such identity"), r.err
    assert first.endswith(
        "(it holds: cam, cas-annex, cas-clinic, cas-dorm, cas-guest, cas-library)"
    ), r.err  # the FAQ deployment's identities, sorted
    assert hint == "hint: name one of those: --tls-identity cam", r.err
    assert "apply" not in r.err
    assert r.out == ""  # nothing served


def test_an_empty_store_says_it_holds_none_and_hints_apply(cli: Cli, keyfile_store: Path) -> None:
    r = error_with_hint(
        cli("serve", "--listen", "127.0.0.1:0", "--no-jobs", "--tls-identity", "cam")
    )
    assert r.err.startswith(
        "error: --tls-identity 'cam': deployment 'default' holds no identity with a "
        "certificate yet\nhint: run `ccapki apply FILE` first"
    ), r.err
