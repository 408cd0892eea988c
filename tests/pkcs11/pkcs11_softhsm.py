"""A SoftHSM2 token made by each test in its own folder (SOFTHSM2_CONF written here), and
the module and PIN ccapki reads from the environment. Skips without SoftHSM2 on a
developer's machine; fails under CI (.ci/run installs softhsm2)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kit.tools import need, require_tool

MODULE = Path("/usr/lib/softhsm/libsofthsm2.so")
#: distinctive, so a test can look for it in the store's bytes and the output
PIN = "pin-7f3a-91c2"
SO_PIN = "so-pin-55e1-0b7d"
LABEL = "ccapki-test"


@dataclass(frozen=True)
class SoftHsm:
    """The token a test made: its label, user PIN, module and configuration file."""

    label: str
    pin: str
    module: Path
    conf: Path

    def session(self) -> object:
        """A logged-in read-write session of the test's own (ccapki's sessions closed
        first: one login per token and process). Close it before ccapki uses the token."""
        from ccapki.hsm import token

        token.close_all()
        lib = token.load_module(str(self.module))
        return lib.get_token(token_label=self.label).open(rw=True, user_pin=self.pin)


def _init_token(tmp: Path, label: str) -> Path:
    tokens = tmp / "tokens"
    tokens.mkdir(parents=True)
    conf = tmp / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n"
        "slots.removable = false\n",
        encoding="utf-8",
    )
    return conf


@pytest.fixture
def softhsm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SoftHsm]:
    """An initialised SoftHSM2 token ``ccapki-test`` (user PIN :data:`PIN`), with
    CCAPKI_PKCS11_MODULE and CCAPKI_PKCS11_PIN set for ccapki."""
    util = require_tool("softhsm2-util")
    if not MODULE.is_file():
        need(f"the SoftHSM2 module {MODULE} is not installed (apt-get install softhsm2)")
    from ccapki.hsm import token

    token.close_all()
    conf = _init_token(tmp_path / "softhsm", LABEL)
    monkeypatch.setenv("SOFTHSM2_CONF", str(conf))
    done = subprocess.run(
        [util, "--init-token", "--free", "--label", LABEL, "--pin", PIN, "--so-pin", SO_PIN],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    monkeypatch.setenv("CCAPKI_PKCS11_MODULE", str(MODULE))
    monkeypatch.setenv("CCAPKI_PKCS11_PIN", PIN)
    yield SoftHsm(LABEL, PIN, MODULE, conf)
    token.close_all()
