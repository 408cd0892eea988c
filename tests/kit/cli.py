"""The CLI kit: ``ccapki`` run in process, its result, and the files a test writes for it.

:class:`Cli` is what the ``cli`` fixture (tests/conftest.py) returns; :func:`deployment`,
:func:`standalone` and :func:`ha_pair` write deployment-file text.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ccapki.cli import main

REPO = Path(__file__).resolve().parents[2]
FAQ = REPO / "examples" / "faq.toml"
#: the optional subject fields of a deployment file, every one given (tests of CSRs and
#: the loader)
SUBJECT = """
[deployment.subject]
country = "US"
state = "Illinois"
locality = "Springfield"
organizational_unit = "IT Services"
email = "pki-team@example.org"
"""
#: the passphrase of the tests' passphrase stores
PASSPHRASE = "correct horse battery staple"


@dataclass(frozen=True)
class Result:
    """One in-process ``ccapki`` run: exit code, stdout, stderr, and the arguments."""

    code: int
    out: str
    err: str
    args: tuple[str, ...] = ()

    @property
    def both(self) -> str:
        return self.out + self.err

    def json(self) -> Any:
        return json.loads(self.out)


def ok(r: Result) -> Result:
    """``r``, asserting it exited 0."""
    assert r.code == 0, f"{r.args}: exit {r.code}\n{r.both}"
    return r


def error_with_hint(r: Result, code: int = 2) -> Result:
    """``r``, asserting it failed with ``code``, one ``error:`` line and a ``hint:``."""
    assert r.code == code, f"{r.args}: exit {r.code}\n{r.both}"
    assert r.err.startswith("error: "), r.both
    assert "\nhint: " in r.err, r.both
    assert "Traceback" not in r.both
    return r


_DEFAULT: Any = object()


class Cli:
    """``cli("plan", FILE)`` runs ``ccapki --home HOME plan FILE`` in process.

    ``home_dir=`` another store (``None``: no ``--home``), ``now=`` moves the clock for this
    run, ``env=`` sets (``None``: unsets) variables for this run. :meth:`check` asserts that
    no run printed a traceback (unless ``--debug``) or a private key.
    """

    def __init__(
        self,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
        home: Path | None,
    ) -> None:
        self.capsys = capsys
        self.monkeypatch = monkeypatch
        self.home = home
        self.seen: list[Result] = []

    def __call__(
        self,
        *args: str | Path,
        home_dir: Path | None = _DEFAULT,
        now: dt.datetime | None = None,
        env: dict[str, str | None] | None = None,
    ) -> Result:
        self.capsys.readouterr()  # drop whatever came before
        home = self.home if home_dir is _DEFAULT else home_dir
        argv = [*(["--home", str(home)] if home is not None else []), *(str(a) for a in args)]
        with self.monkeypatch.context() as m:
            for k, v in (env or {}).items():
                if v is None:
                    m.delenv(k, raising=False)
                else:
                    m.setenv(k, v)
            if now is not None:
                m.setenv("CCAPKI_NOW", now.isoformat())
            code = main(argv)
        cap = self.capsys.readouterr()
        result = Result(code, cap.out, cap.err, tuple(argv))
        self.seen.append(result)
        return result

    def check(self) -> None:
        for r in self.seen:
            assert "Traceback" not in r.both or "--debug" in r.args, r.both
            assert "PRIVATE KEY" not in r.both, "a private key reached the terminal"


#: the type of the ``cli`` fixture
CliRunner = Cli


def write(path: Path, data: str | bytes) -> Path:
    """``data`` written to ``path`` (folders made as needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


def line_of(text: str, needle: str, nth: int = 1) -> int:
    """1-based line number of the ``nth`` line containing ``needle``."""
    seen = 0
    for no, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            seen += 1
            if seen == nth:
                return no
    raise AssertionError(f"{needle!r} not in the text")


def db_bytes(home: Path) -> bytes:
    """The store's SQLite file plus any WAL, as raw bytes (on PostgreSQL, see
    :mod:`kit.pgmode`: every row of the store's schema)."""
    from kit import pgmode

    if pgmode.BACKEND == "postgresql":
        return pgmode.dump(home)
    data = (home / "ccapki.db").read_bytes()
    wal = home / "ccapki.db-wal"
    return data + (wal.read_bytes() if wal.exists() else b"")


# ---------------------------------------------------------------------------- deployments


def standalone(name: str, ip: str, **extra: str) -> str:
    """A standalone appliance's TOML body (``[[cas]]`` or ``[cam]`` contents)."""
    lines = [f'name = "{name}"', f'hostname = "{name}.example.org"', f'ip = "{ip}"']
    lines += [f'{k} = "{v}"' for k, v in extra.items()]
    return "\n".join(lines) + "\n"


def ha_pair(name: str, net: str, **extra: str) -> str:
    """An HA pair on ``net`` (e.g. "10.5.0"): Service IP .10, peers .11 and .12."""
    lines = [
        f'name = "{name}"',
        f'virtual_hostname = "{name}.example.org"',
        f'service_ip = "{net}.10"',
        f'primary = {{ name = "{name}-a", hostname = "{name}-a.example.org", ip = "{net}.11" }}',
        f'secondary = {{ name = "{name}-b", hostname = "{name}-b.example.org", ip = "{net}.12" }}',
    ]
    lines += [f'{k} = "{v}"' for k, v in extra.items()]
    return "\n".join(lines) + "\n"


def deployment(
    *,
    name: str = "test",
    organization: str = "Test Org",
    release: str = "4.8.0",
    source: str = "internal",
    key: str = "ecdsa-p256",
    cam: str | None = None,
    cas: Sequence[str] = (),
) -> str:
    """A deployment file: the ``[cam]`` body (default: a standalone CAM at 10.0.0.1) and the
    ``[[cas]]`` bodies given (see :func:`standalone` and :func:`ha_pair`)."""
    parts = [
        "[deployment]",
        f'name = "{name}"',
        f'release = "{release}"',
        f'organization = "{organization}"',
        f'source = "{source}"',
        f'key = "{key}"',
        "",
        "[cam]",
        cam or standalone("cam", "10.0.0.1"),
    ]
    parts += [f"[[cas]]\n{block}" for block in cas]
    return "\n".join(parts) + "\n"


#: A small third-party deployment: the CAM and one CAS (cas-tp), both from an outside CA.
THIRD_PARTY_TP = """\
[deployment]
name = "tp"
release = "4.9.0"
organization = "TP"
source = "third-party"
[cam]
name = "cam"
hostname = "cam.tp.edu"
ip = "10.9.0.1"
[[cas]]
name = "cas-tp"
hostname = "cas-tp.tp.edu"
ip = "10.9.0.2"
"""


def command_paths() -> list[tuple[str, ...]]:
    """Every command and subcommand of ``ccapki``, as the words that run it (``()``: the
    program itself)."""
    import click

    from ccapki.cli.app import COMMANDS
    from ccapki.cli.app import cli as root

    ctx = click.Context(root)
    out: list[tuple[str, ...]] = [()]
    for name in sorted(COMMANDS):
        cmd = root.get_command(ctx, name)
        assert cmd is not None
        out.append((name,))
        if isinstance(cmd, click.Group):
            out += [(name, sub) for sub in sorted(cmd.list_commands(ctx))]
    return out


def third_party_cas1(cli: Cli, tmp_path: Path, outside: Any) -> Path:
    """A deployment of one third-party CAS ``cas1`` applied in ``cli``'s store, its CSR
    signed by ``outside`` (a :class:`kit.certs.OutsideCA`) and the answer imported, trust
    stores filled; returns the deployment file."""
    from cryptography import x509

    from kit.certs import pem

    body = 'name = "cas1"\nhostname = "cas1.example.org"\nip = "10.1.0.1"\n'
    f = write(tmp_path / "d.toml", deployment(cas=[body + 'source = "third-party"\n']))
    ok(cli("apply", f))
    ok(cli("csr", "cas1", "--out", tmp_path / "c1"))
    csr = x509.load_pem_x509_csr((tmp_path / "c1" / "cas1.csr").read_bytes())
    answer = b"".join(pem(c) for c in (outside.sign_csr(csr), *outside.chain))
    ok(cli("import", write(tmp_path / "a1.pem", answer)))
    ok(cli("trust", "apply"))
    return f
