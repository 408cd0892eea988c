"""``renew --commit`` killed (SIGKILL) around the CSR of a third-party identity it renews.

The CSR file took its name before the store committed the renewal: a ``kill -9`` right
after it left ``cas-tp.csr`` on disk (complete, the run silent) while the store rolled the
new key back: the CA's answer to that CSR could never be installed (its key was in no
store), and nothing said so; the next run replaced the file with another CSR. Now the
file is staged (written under a temporary name) before the commit and takes its name
after it; a run killed between the two leaves the CSR and its key in the store, and
``status``, ``renew --due`` and the next ``renew --commit`` say so, the last writing that
CSR (no new key, no second pending CSR). Each kill is placed exactly: the child's
``os.replace`` of the CSR file (or its staging) sends it SIGKILL.
"""

from __future__ import annotations

import datetime as dt
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

LATER = NOW + dt.timedelta(days=350)  # cas-tp: 15 days left, due; the internal ones not

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
real_stage = getattr(fsutil, "stage_file", None)
def stage_file(*args, **kwargs):
    staged = real_stage(*args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)
if WHERE == "staged":
    fsutil.stage_file = stage_file
from ccapki.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _killed(home: Path, where: str, *args: str) -> None:
    env = {**os.environ, "CCAPKI_NOW": LATER.isoformat()}
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


@pytest.mark.parametrize("where", ["after-rename", "at-rename", "staged"])
@pytest.mark.parametrize("how", [("--due",), ("cas-tp",)], ids=["due", "named"])
def test_a_renewal_killed_at_its_csr_loses_no_key_and_makes_no_second_csr(
    cli: CliRunner,
    third_party: Callable[[str], Path],  # noqa: F811
    outside: OutsideCA,
    home: Path,
    tmp_path: Path,
    where: str,
    how: tuple[str, ...],
) -> None:
    third_party(THIRD_PARTY_DEP)
    before = history(home, "cas-tp")
    out = tmp_path / "renewal"
    csr_file = out / "cas-tp.csr"

    _killed(home, where, "renew", *how, "--commit", "--out", str(out))

    # no CSR file whose key the store lost: a file there is the store's pending key's
    kept = pending(cli, "cas-tp")
    if csr_file.exists():
        assert kept == [_csr_key(csr_file)], "the CSR on disk has no key in the store"
    assert history(home, "cas-tp") == before  # the current certificate stays current
    committed = where != "staged"
    assert len(kept) == (1 if committed else 0)

    st = cli("status", now=LATER)
    assert st.code == 1, st.both  # cas-tp in its 30-day stage: a warning, no crash
    unwritten = "its file was never written (the `ccapki renew --commit` that made it"
    assert (unwritten in st.out) == (where == "at-rename"), st.out
    on_disk = f"was stopped before it finished (the key is kept): {csr_file} holds it"
    assert (on_disk in st.out) == (where == "after-rename"), st.out
    dry = ok(cli("renew", *how, now=LATER))
    stopped = "skipped cas-tp: the run that made its CSR was stopped before it finished"
    assert (stopped in dry.out) == committed, dry.out
    if committed:
        assert "`ccapki renew --commit` writes it: the same CSR and key" in dry.out

    r = ok(cli("renew", *how, "--commit", "--out", out, now=LATER))
    after = pending(cli, "cas-tp")
    assert len(after) == 1, after  # one pending CSR, never a second for one renewal
    assert _csr_key(csr_file) == after[0]
    if committed:
        assert after == kept  # the CSR the killed run kept, written (again)
        assert f"wrote {csr_file} for cas-tp: the CSR a renewal made on" in r.out, r.out
        assert "no new one" in r.out
    else:
        assert f"wrote {csr_file} for cas-tp (key {after[0][:16]} sealed, pending)" in r.out
    assert "next: send each CSR to its CA" in r.out
    assert _temps(out) == []  # the killed run's temporary file went with the next write

    # delivered once: the next run writes nothing more, and the CA's answer installs
    again = ok(cli("renew", "--due", "--commit", "--out", out, now=LATER))
    assert "wrote" not in again.out, again.out
    answer(cli, outside, csr_file, LATER, tmp_path / "v2.pem")
    assert [(v, spki) for v, _, spki in history(home, "cas-tp")][1:] == [(2, after[0])]
    assert pending(cli, "cas-tp") == []
