"""``ccapki csr NAME`` killed (SIGKILL) around the CSR file it writes.

The CSR file took its name before the store committed its key: a ``kill -9`` right after
the rename left ``cas-tp.csr`` on disk (complete, the run silent) while the store rolled
the key back: the CA's answer to that CSR could never be installed ("private key not
found"). Now, as for ``renew --commit`` (:mod:`ccapki.lifecycle.csrdelivery`), the file is
staged before the commit and takes its name after it: a run killed before the commit
leaves no key and no CSR file; one killed after it leaves the CSR and its key in the
store, ``status`` says so (naming ``ccapki csr``), and the next ``ccapki csr NAME`` (or
``renew --commit``) writes that CSR: no second pending key. Each kill is placed exactly:
the child's ``os.replace`` of the CSR file (or its staging) sends it SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509

from ccapki.pki.keys import public_key_fingerprint
from kit.certs import NOW, OutsideCA
from kit.cli import CliRunner, ok
from kit.pgmode import BACKEND, store_url

from .conftest import THIRD_PARTY_DEP
from .test_renew import answer, history, pending, third_party  # noqa: F401 (a fixture)

#: ccapki in a child that SIGKILLs itself at a point of the CSR file's writing (``WHERE``)
_KILLED = """
import os, signal, sys
WHERE = sys.argv.pop(1)
real_replace = os.replace
def replace(src, dst, *args, **kwargs):
    if str(dst).endswith(".csr") and WHERE == "at-rename":
        os.kill(os.getpid(), signal.SIGKILL)
    real_replace(src, dst, *args, **kwargs)
    if str(dst).endswith(".csr") and WHERE == "after-rename":
        os.kill(os.getpid(), signal.SIGKILL)
os.replace = replace
import ccapki.fsutil as fsutil
real_stage = fsutil.stage_file
def stage_file(*args, **kwargs):
    real_stage(*args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)
if WHERE == "staged":
    fsutil.stage_file = stage_file
from ccapki.cli import main
sys.exit(main(sys.argv[1:]))
"""

WHERES = ["after-rename", "at-rename", "staged"]


def _killed(home: Path, where: str, *args: str) -> None:
    env = {**os.environ, "CCAPKI_NOW": NOW.isoformat()}
    if BACKEND == "postgresql":  # the store of home: its schema
        env["CCAPKI_DATABASE_URL"] = store_url(home)
    p = subprocess.run(
        [sys.executable, "-c", _KILLED, where, "--home", str(home), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert p.returncode == -signal.SIGKILL, (p.stdout, p.stderr)


def _csr_key(path: Path) -> str:
    return public_key_fingerprint(x509.load_pem_x509_csr(path.read_bytes()).public_key())


def _temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def _status_of(cli: CliRunner, csr_file: Path, where: str) -> None:
    """``status`` after the kill: it names the CSR kept whose file the run never wrote."""
    st = cli("status")
    assert st.code in (0, 1), st.both  # no crash
    unwritten = (
        "its file was never written (the `ccapki csr` that made it was stopped before; the "
        "key is kept): `ccapki csr cas-tp` writes it (no new key)"
    )
    assert (unwritten in st.out) == (where == "at-rename"), st.out
    on_disk = (
        "the `ccapki csr` that made it was stopped before it finished (the key is kept): "
        f"{csr_file} holds it"
    )
    assert (on_disk in st.out) == (where == "after-rename"), st.out


@pytest.mark.parametrize("where", WHERES)
def test_a_first_csr_killed_at_its_file_loses_no_key_and_the_next_csr_writes_it(
    cli: CliRunner,
    deployed: Callable[[str], Path],
    outside: OutsideCA,
    home: Path,
    tmp_path: Path,
    where: str,
) -> None:
    deployed(THIRD_PARTY_DEP)
    out = tmp_path / "csrs"
    csr_file = out / "cas-tp.csr"

    _killed(home, where, "csr", "cas-tp", "--out", str(out))

    # no CSR file whose key the store lost: a file there is the store's pending key's
    kept = pending(cli, "cas-tp")
    if csr_file.exists():
        assert kept == [_csr_key(csr_file)], "the CSR on disk has no key in the store"
    committed = where != "staged"
    assert len(kept) == (1 if committed else 0), kept
    assert csr_file.exists() == (where == "after-rename")
    _status_of(cli, csr_file, where)

    r = ok(cli("csr", "cas-tp", "--out", out))
    after = pending(cli, "cas-tp")
    assert len(after) == 1, after  # never a second pending key for one request
    assert _csr_key(csr_file) == after[0]
    if committed:
        assert after == kept  # the CSR the killed run kept, written (again)
        assert f"wrote {csr_file} for cas-tp: the CSR a `ccapki csr` made on" in r.out, r.out
        assert "the same CSR and key, no new one" in r.out
    else:
        assert f"wrote {csr_file} for cas-tp (key {after[0][:16]} sealed, pending)" in r.out
    assert _temps(out) == []  # the killed run's temporary file went with the next write
    st = cli("status")
    assert "was stopped before" not in st.out, st.out  # delivered: nothing more to say

    # the CA's answer installs: the key is the store's
    answer(cli, outside, csr_file, NOW, tmp_path / "v1.pem")
    assert [spki for _, _, spki in history(home, "cas-tp")] == after
    assert pending(cli, "cas-tp") == []


@pytest.mark.parametrize("to", ["file", "stdout"])
def test_a_csr_killed_after_its_commit_is_written_to_one_file_or_standard_output(
    cli: CliRunner, deployed: Callable[[str], Path], home: Path, tmp_path: Path, to: str
) -> None:
    deployed(THIRD_PARTY_DEP)
    named = tmp_path / "req.csr"
    _killed(home, "at-rename", "csr", "cas-tp", "--out", str(named))
    kept = pending(cli, "cas-tp")
    assert len(kept) == 1
    assert not named.exists()

    r = ok(cli("csr", "cas-tp", "--out", named if to == "file" else "-"))
    assert pending(cli, "cas-tp") == kept  # no second key
    if to == "file":
        assert _csr_key(named) == kept[0]
        assert f"wrote {named} for cas-tp: the CSR a `ccapki csr` made on" in r.out, r.out
    else:
        csr = x509.load_pem_x509_csr(r.out.encode())
        assert public_key_fingerprint(csr.public_key()) == kept[0]
        assert "wrote <stdout> for cas-tp: the CSR a `ccapki csr` made on" in r.err, r.err


def test_renew_commit_writes_the_csr_a_killed_csr_kept(
    cli: CliRunner,
    third_party: Callable[[str], Path],  # noqa: F811
    home: Path,
    tmp_path: Path,
) -> None:
    """cas-tp has a certificate; a `ccapki csr cas-tp` (a renewal by hand) killed after its
    commit: `renew cas-tp --commit` writes the CSR it kept (no new key)."""
    third_party(THIRD_PARTY_DEP)
    out = tmp_path / "renewal"
    _killed(home, "at-rename", "csr", "cas-tp", "--out", str(out))
    kept = pending(cli, "cas-tp")
    assert len(kept) == 1
    _status_of(cli, out / "cas-tp.csr", "at-rename")

    r = ok(cli("renew", "cas-tp", "--commit", "--out", out))
    assert pending(cli, "cas-tp") == kept, r.out  # the same key, no second pending one
    assert _csr_key(out / "cas-tp.csr") == kept[0]
    assert f"wrote {out / 'cas-tp.csr'} for cas-tp: the CSR a renewal made on" in r.out, r.out
