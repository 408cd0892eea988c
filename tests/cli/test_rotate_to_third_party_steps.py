"""``trust plan --rotate NAME --to-source third-party``: the steps, in an order that works.

Before: the hint said "make the CSR (`ccapki csr cam`), import the certificate, then run
`ccapki trust plan`" for an identity the deployment file still gives another source; following
it, `csr` warned that the next `apply` replaces the outside CA's certificate (the file says
internal). Now, while the file gives another source, the hint starts with the file."""

from __future__ import annotations

from pathlib import Path

import pytest

import ccapki
from ccapki.errors import InputError
from kit.cli import FAQ, Cli, error_with_hint, ok, write


def test_the_steps_start_with_the_file_while_it_gives_another_source(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    ok(cli("apply", FAQ))
    r = error_with_hint(cli("trust", "plan", "--rotate", "cam", "--to-source", "third-party"))
    hint = r.err.splitlines()[1]
    assert hint == (
        'hint: set source = "third-party" for cam in the deployment file and apply it '
        "(`ccapki apply FILE`), then make the CSR (`ccapki csr cam`), import the certificate, "
        "then run `ccapki trust plan` for the trust-store changes"
    ), hint
    # the Python API says the same
    with ccapki.open_store(keyfile_store) as store:
        dep = ccapki.load_deployment(FAQ)
        with pytest.raises(InputError) as caught:
            ccapki.rotation_what_if(store, dep, "cam", to_source="third-party")
    assert caught.value.hint == hint.removeprefix("hint: ")

    # once the file says so: the CSR first
    text = FAQ.read_text().replace('name = "cam"', 'name = "cam"\nsource = "third-party"', 1)
    third = write(tmp_path / "third.toml", text)
    ok(cli("apply", third))
    r = error_with_hint(cli("trust", "plan", "--rotate", "cam", "--to-source", "third-party"))
    assert r.err.splitlines()[1] == (
        "hint: make the CSR (`ccapki csr cam`), import the certificate, then run "
        "`ccapki trust plan` for the trust-store changes"
    ), r.err
