"""A script using the Python API, killed (SIGKILL) around the CSR it hands over.

``ccapki.make_csrs(..., deliver=...)`` and ``commit_renewal(..., deliver=...)`` ran the
caller's ``deliver`` (its file write) BEFORE the store committed: a script killed between
its own write and the commit left a CSR file whose key is in no store (the CA's answer:
"private key not found"), and one killed before its write left nothing, the next call
making a new key. Now, as for ``ccapki csr`` (:mod:`ccapki.lifecycle.csrdelivery`), the
CSR is handed over after the commit (``deliver``, or ``out=FOLDER`` staged and renamed):
a script killed there leaves the CSR and its key in the store, ``status`` says so, and the
next call hands the same CSR over (``again``): no second pending key. Each kill is placed
exactly: in ``deliver``, or at the ``os.replace`` of the CSR file.
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
from kit.cli import PASSPHRASE, CliRunner
from kit.pgmode import BACKEND, store_url

from .conftest import THIRD_PARTY_DEP
from .test_renew import answer, history, pending, third_party  # noqa: F401 (a fixture)

#: a script on the API that SIGKILLs itself at a point of the CSR's handing over
#: (``WHERE``): ``python -c SCRIPT WHERE STEP HOME DEPLOYMENT OUT``; ``none``: no kill,
#: each CSR handed over printed as ``identity spki again path``
_SCRIPT = """
import datetime as dt, os, signal, sys
from pathlib import Path
import ccapki
where, step, home, dep_file, out = sys.argv[1:6]
now = dt.datetime.fromisoformat(os.environ["CCAPKI_NOW"])
real_replace = os.replace
def replace(src, dst, *args, **kwargs):
    if str(dst).endswith(".csr") and where == "at-rename":
        os.kill(os.getpid(), signal.SIGKILL)
    real_replace(src, dst, *args, **kwargs)
os.replace = replace
def deliver(c):
    if where == "after-write":  # the script's own file, then killed
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / f"{c.identity}.csr").write_bytes(c.pem)
    if where != "none":
        os.kill(os.getpid(), signal.SIGKILL)
    print("delivered", c.identity)
dep = ccapki.load_deployment(dep_file)
url = os.environ.get("CCAPKI_DATABASE_URL")
with ccapki.open_store(home, os.environ["PASSPHRASE"], url=url, clock=lambda: now) as store:
    how = {"out": out} if where in ("at-rename", "none") else {"deliver": deliver}
    if step == "csr":
        done = ccapki.make_csrs(store, dep, ["cas-tp"], **how)
    else:
        plan = ccapki.plan_renewal(store, dep, now, names=["cas-tp"])
        done = list(ccapki.commit_renewal(store, dep, plan, now, **how).csrs)
for c in done:
    print(c.identity, c.spki, c.again, c.path)
"""


def _run(home: Path, where: str, step: str, dep: Path, out: Path, now: dt.datetime) -> str:
    env = {**os.environ, "CCAPKI_NOW": now.isoformat(), "PASSPHRASE": PASSPHRASE}
    if BACKEND == "postgresql":  # the store of home: its schema
        env["CCAPKI_DATABASE_URL"] = store_url(home)
    p = subprocess.run(
        [sys.executable, "-c", _SCRIPT, where, step, str(home), str(dep), str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    if where == "none":
        assert p.returncode == 0, (p.stdout, p.stderr)
    else:
        assert p.returncode == -signal.SIGKILL, (p.stdout, p.stderr)
    return p.stdout


def _csr_key(path: Path) -> str:
    return public_key_fingerprint(x509.load_pem_x509_csr(path.read_bytes()).public_key())


WHERES = ["after-write", "before-write", "at-rename"]


@pytest.mark.parametrize("where", WHERES)
def test_an_api_script_killed_handing_its_csr_over_loses_no_key_and_the_next_call_hands_it(
    cli: CliRunner,
    deployed: Callable[[str], Path],
    outside: OutsideCA,
    home: Path,
    tmp_path: Path,
    where: str,
) -> None:
    dep = deployed(THIRD_PARTY_DEP)
    out = tmp_path / "csrs"
    csr_file = out / "cas-tp.csr"

    _run(home, where, "csr", dep, out, NOW)

    kept = pending(cli, "cas-tp")
    if csr_file.exists():  # a file there is the store's pending key's
        assert kept == [_csr_key(csr_file)], "the CSR on disk has no key in the store"
    assert len(kept) == 1, kept  # committed before the CSR was handed over
    assert csr_file.exists() == (where == "after-write")
    st = cli("status")
    assert st.code in (0, 1), st.both
    assert "its file was never written (the `ccapki csr` that made it" in st.out, st.out

    shown = _run(home, "none", "csr", dep, out, NOW)
    assert shown.split() == ["cas-tp", kept[0], "True", str(csr_file)], shown
    assert pending(cli, "cas-tp") == kept  # never a second pending key for one request
    assert _csr_key(csr_file) == kept[0]
    assert sorted(p.name for p in out.iterdir()) == ["cas-tp.csr"]  # no temporary left
    assert "was stopped before" not in cli("status").out  # handed over: nothing to say

    # the CA's answer installs: the key is the store's
    answer(cli, outside, csr_file, NOW, tmp_path / "v1.pem")
    assert [spki for _, _, spki in history(home, "cas-tp")] == kept
    assert pending(cli, "cas-tp") == []

    # handed over once: the next call makes a new CSR (a new pending key)
    again = _run(home, "none", "csr", dep, out, NOW).split()
    assert again[2] == "False", again
    assert again[1] != kept[0], again


@pytest.mark.parametrize("where", ["before-write", "at-rename"])
def test_an_api_renewal_killed_handing_its_csr_over_keeps_it_for_the_next_commit(
    cli: CliRunner,
    third_party: Callable[[str], Path],  # noqa: F811
    home: Path,
    tmp_path: Path,
    where: str,
) -> None:
    path = third_party(THIRD_PARTY_DEP)
    later = NOW + dt.timedelta(days=390)  # cas-tp expired: due
    out = tmp_path / "renewal"

    _run(home, where, "renew", path, out, later)
    kept = pending(cli, "cas-tp")
    assert len(kept) == 1, kept  # the renewal committed before its CSR was handed over
    assert not (out / "cas-tp.csr").exists()

    shown = _run(home, "none", "renew", path, out, later)
    assert f"cas-tp {kept[0]} True {out / 'cas-tp.csr'}" in shown, shown
    assert pending(cli, "cas-tp") == kept  # the same key, no second pending one
    assert _csr_key(out / "cas-tp.csr") == kept[0]
    assert [spki for _, _, spki in history(home, "cas-tp")][-1] != kept[0]


def test_a_deliver_that_raises_keeps_the_csr_and_the_next_call_hands_it_over(
    cli: CliRunner, deployed: Callable[[str], Path], home: Path, tmp_path: Path
) -> None:
    import ccapki

    path = deployed(THIRD_PARTY_DEP)
    dep = ccapki.load_deployment(path)

    def refuse(_: object) -> None:
        raise OSError("disk full")

    with ccapki.open_store(home, PASSPHRASE) as store:
        with pytest.raises(ccapki.InputError) as both:
            ccapki.make_csrs(store, dep, "cas-tp", deliver=print, out=tmp_path / "csrs")
        assert both.value.message == "make_csrs: both deliver and out given"
        assert pending(cli, "cas-tp") == []  # refused before any key was made
        with pytest.raises(OSError, match="disk full"):
            ccapki.make_csrs(store, dep, "cas-tp", deliver=refuse)
        kept = pending(cli, "cas-tp")
        assert len(kept) == 1  # committed before deliver ran
        got: list[ccapki.CsrResult] = []
        (again,) = ccapki.make_csrs(store, dep, "cas-tp", deliver=got.append)
        assert got == [again]
        assert (again.again, again.spki, again.pending_before) == (True, kept[0], 0)
        assert pending(cli, "cas-tp") == kept  # the same CSR and key
        (new,) = ccapki.make_csrs(store, dep, "cas-tp")  # handed over: a new one now
        assert not new.again
        assert new.spki != kept[0]
        assert new.pending_before == 1
