"""Issue 8 item 11: ``--out`` replaces only a regular file; ``--out -`` is standard output.

A device, FIFO, socket or folder is refused (and stays what it was); a symbolic link is
refused unless ``--follow-symlink`` writes through it (the link stays a link). ``--out -``
writes a certificate-only format to standard output, and a private key only with
``--force-stdout``.
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12

from kit.cli import PASSPHRASE, CliRunner, Result, ok, standalone
from kit.tools import need

from .conftest import THIRD_PARTY_DEP, deployment, open_store


@pytest.fixture
def one(deployed: Callable[[str], Path]) -> Path:
    return deployed(deployment(cas=[standalone("cas1", "10.1.0.1")]))


def _refused(r: Result, *words: str) -> None:
    assert r.code == 2, r.both
    assert r.err.startswith("error: "), r.err
    assert "\nhint: " in r.err, r.err
    for w in words:
        assert w in r.err, r.err


def _export_cert(cli: CliRunner, out: Path | str, *extra: str) -> Result:
    return cli("export", "cas1", "--format", "cert", "--out", str(out), *extra)


@pytest.fixture
def dev_full() -> Iterator[Path]:
    """/dev/full, put back as the device it is should a failing ccapki replace it."""
    path = Path("/dev/full")
    if not path.exists() or not os.access("/dev", os.W_OK):
        need("the bug needs /dev/full in a writable /dev (run as root)")
    st = path.stat()
    assert stat.S_ISCHR(st.st_mode)
    try:
        yield path
    finally:
        if not stat.S_ISCHR(path.lstat().st_mode):
            path.unlink()
            os.mknod(path, stat.S_IFCHR | 0o666, st.st_rdev)
            os.chmod(path, stat.S_IMODE(st.st_mode))


def test_a_device_stays_a_device(cli: CliRunner, one: Path, dev_full: Path) -> None:
    for fmt in ("cert", "key"):
        r = cli("export", "cas1", "--format", fmt, "--out", "/dev/full")
        _refused(r, "/dev/full", "character device", "nothing was written")
        assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_a_fifo_stays_a_fifo(cli: CliRunner, one: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    _refused(_export_cert(cli, fifo), "FIFO")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    # a folder of files (export-roots, csr) is checked file by file
    roots = tmp_path / "roots"
    roots.mkdir()
    os.mkfifo(roots / "ccapki-roots.pem")
    _refused(cli("export-roots", "--out", str(roots)), "FIFO")
    assert stat.S_ISFIFO(os.lstat(roots / "ccapki-roots.pem").st_mode)


@pytest.fixture
def unix_socket(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    try:
        yield path
    finally:
        s.close()


def test_a_socket_stays_a_socket(cli: CliRunner, one: Path, unix_socket: Path) -> None:
    _refused(_export_cert(cli, unix_socket), "socket")
    assert stat.S_ISSOCK(os.lstat(unix_socket).st_mode)


def test_a_folder_is_refused(cli: CliRunner, one: Path, tmp_path: Path) -> None:
    from ccapki.errors import InputError
    from ccapki.fsutil import atomic_write

    folder = tmp_path / "folder"
    folder.mkdir()
    _refused(_export_cert(cli, folder))
    assert folder.is_dir()
    with pytest.raises(InputError, match="folder"):
        atomic_write(folder, b"x")
    assert folder.is_dir()


def test_a_symlink_is_refused_unless_followed(cli: CliRunner, one: Path, tmp_path: Path) -> None:
    real = tmp_path / "real.crt"
    real.write_bytes(b"old\n")
    link = tmp_path / "link.crt"
    link.symlink_to(real)
    _refused(_export_cert(cli, link), "symbolic link", "--follow-symlink")
    assert link.is_symlink()
    assert real.read_bytes() == b"old\n"
    r = ok(_export_cert(cli, link, "--follow-symlink"))
    assert str(real) in r.out
    assert link.is_symlink()
    assert os.readlink(link) == str(real)
    cert = x509.load_pem_x509_certificate(real.read_bytes())
    assert "cas1" in cert.subject.rfc4514_string()
    # a dangling link is followed to the file it names
    dangling = tmp_path / "dangling.crt"
    dangling.symlink_to(tmp_path / "new.crt")
    _refused(_export_cert(cli, dangling), "symbolic link")
    ok(_export_cert(cli, dangling, "--follow-symlink"))
    assert (tmp_path / "new.crt").is_file()
    assert dangling.is_symlink()
    # following a link never lands on a device or FIFO either
    os.mkfifo(tmp_path / "fifo")
    to_fifo = tmp_path / "to-fifo.crt"
    to_fifo.symlink_to(tmp_path / "fifo")
    _refused(_export_cert(cli, to_fifo, "--follow-symlink"), "FIFO")
    assert stat.S_ISFIFO(os.lstat(tmp_path / "fifo").st_mode)


def test_out_dash_writes_certificates_to_stdout(cli: CliRunner, one: Path, tmp_path: Path) -> None:
    os.chdir(tmp_path)
    r = ok(_export_cert(cli, "-"))
    cert = x509.load_pem_x509_certificate(r.out.encode())
    assert "cas1" in cert.subject.rfc4514_string()
    assert not (tmp_path / "-").exists()
    assert "BEGIN CERTIFICATE" not in r.err
    chain = ok(cli("export", "cas1", "--format", "fullchain", "--out", "-"))
    assert len(x509.load_pem_x509_certificates(chain.out.encode())) == 2
    roots = ok(cli("export-roots", "--out", "-"))
    assert len(x509.load_pem_x509_certificates(roots.out.encode())) == 1
    assert not (tmp_path / "-").exists()


def test_out_dash_refuses_a_private_key_without_force_stdout(
    cli: CliRunner, one: Path, tmp_path: Path, home: Path
) -> None:
    os.chdir(tmp_path)
    for fmt in ("pem-bundle", "key", "pkcs12"):
        r = cli("export", "cas1", "--format", fmt, "--out", "-", "--password", "pw12345678")
        _refused(r, "private key", "--force-stdout")
        assert r.out == ""
    assert not (tmp_path / "-").exists()
    with open_store(home) as store:
        assert not [e for e in store.audit.log() if e.action == "key-export"]


def _ccapki(home: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    exe = shutil.which("ccapki", path=str(Path(sys.executable).parent))
    assert exe is not None
    env = {**os.environ, "CCAPKI_PASSPHRASE": PASSPHRASE}
    return subprocess.run(
        [exe, "--home", str(home), *args], capture_output=True, env=env, timeout=60, check=False
    )


def test_force_stdout_writes_the_key_and_audits_it(one: Path, home: Path) -> None:
    r = _ccapki(home, "export", "cas1", "--format", "key", "--out", "-", "--force-stdout")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert b"PRIVATE KEY" not in r.stderr
    p12 = _ccapki(
        home, "export", "cas1", "--format", "pkcs12", "--password", "pw12345678",
        "--out", "-", "--force-stdout",
    )  # fmt: skip
    assert p12.returncode == 0, p12.stderr
    _key, cert, _chain = pkcs12.load_key_and_certificates(p12.stdout, b"pw12345678")
    assert cert is not None
    assert "cas1" in cert.subject.rfc4514_string()
    with open_store(home) as store:
        paths = [e.detail["path"] for e in store.audit.log() if e.action == "key-export"]
    assert paths == ["<stdout>", "<stdout>"]


def test_csr_out_dash_prints_the_request(
    cli: CliRunner, deployed: Callable[[str], Path], tmp_path: Path
) -> None:
    deployed(THIRD_PARTY_DEP)
    os.chdir(tmp_path)
    r = ok(cli("csr", "cas-tp", "--out", "-"))
    csr = x509.load_pem_x509_csr(r.out.encode())
    assert "cas-tp" in csr.subject.rfc4514_string()
    assert "cas-tp" in r.err  # what was sealed is said on stderr, stdout is the CSR alone
    assert not (tmp_path / "-").exists()


@pytest.mark.skipif(not Path("/proc/version").is_file(), reason="needs Linux /proc")
@pytest.mark.parametrize("out", ["/proc/version", "/proc/ccapki-cas1.pem"])
def test_a_folder_that_takes_no_new_file_is_said_so(cli: CliRunner, one: Path, out: str) -> None:
    """``--out /proc/version`` said "cannot write (No such file or directory)" of a file
    that is there: the temporary file beside it cannot be made (found in a walkthrough)."""
    r = cli("export", "cas1", "--format", "pem-bundle", "--out", out)
    _refused(r, f"{out}: cannot write (/proc takes no new file: ", "nothing was written")
