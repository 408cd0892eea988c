"""Real TLS clients nobody here wrote, against the lab: openssl s_client, gnutls-cli and
headless Chromium (with an NSS database made by certutil).

Findings recorded by these tests (Chromium 156, Debian, Linux):
- the deployment's private root in ``$HOME/.pki/nssdb`` makes the web-login page load;
- without it Chromium refuses with ERR_CERT_AUTHORITY_INVALID and renders no page;
- a CN-only certificate (no SAN) is refused with ERR_CERT_COMMON_NAME_INVALID;
- a five-year certificate chaining to a locally installed private root is ACCEPTED: Chrome on
  Linux does not apply the 398-day (public CA) or 825-day (Apple) validity caps to roots the
  user installed. ``trust check`` must therefore flag five-year certificates for macOS/iOS
  clients, not for Chromium on Linux.
"""

from __future__ import annotations

import datetime as dt
import os
import struct
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ccapki.lab import WEB_LOGIN_TITLE, ApplianceSpec, LabSpec, LabStatus
from ccapki.pki.keys import KeyType, generate_key
from kit.certs import NOW, Ca, Leaf, issue, make_ca
from kit.cli import REPO
from kit.lab import Deployment, LabThread
from kit.tools import require_tool

pytestmark = [pytest.mark.integration, pytest.mark.no_store]

TIMEOUT = 30


def cn_only(ca: Ca, common_name: str) -> Leaf:
    """A server certificate naming its host only in the subject CN: no SAN at all."""
    key = generate_key(KeyType.ECDSA_P256)
    issuer = ca.issuer
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(issuer.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(minutes=5))
        .not_valid_after(NOW + dt.timedelta(days=365))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),  # type: ignore[arg-type]
            False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False), True
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            False,
        )
        .sign(issuer.key, hashes.SHA256())  # type: ignore[arg-type]
    )
    return Leaf(cert, key, ca.chain)


@dataclass(frozen=True)
class RealLab:
    deployment: Deployment
    status: LabStatus
    files: Path

    def port(self, appliance: str, kind: str) -> int:
        return self.status.endpoint(appliance, kind).port


@pytest.fixture(scope="module")
def real_lab(deployment: Deployment, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealLab]:
    """The deployment plus two extra standalone CAS: one with a five-year certificate and one
    with a CN-only certificate. Runs in a thread for the module; always stopped."""
    d = deployment
    five = issue(d.ca, "cas5y.example.edu", days=5 * 365 + 1)
    cn = cn_only(d.ca, "cascn.example.edu")
    base = d.spec()
    spec = LabSpec(
        (
            *base.appliances,
            ApplianceSpec("cas5y", "cas", five.material(d.trust), hostname="cas5y.example.edu"),
            ApplianceSpec("cascn", "cas", cn.material(d.trust), hostname="cascn.example.edu"),
        ),
        link_interval=60,
        link_timeout=3,
    )
    files = tmp_path_factory.mktemp("pki")
    (files / "root.pem").write_bytes(d.trust)
    (files / "other-root.pem").write_bytes(make_ca("Unrelated").root_pem)
    (files / "cas2-leaf.pem").write_bytes(d.cas2.cert_pem)
    (files / "cas2-fullchain.pem").write_bytes(d.cas2.chain_pem)
    (files / "intermediate.pem").write_bytes(d.cas2.chain_pem[len(d.cas2.cert_pem) :])
    key = files / "cas2.key"
    key.touch(mode=0o600)
    key.write_bytes(d.cas2.key_pem)
    with LabThread(spec) as lt:
        yield RealLab(d, lt.status(), files)


def _run(
    cmd: list[str],
    *,
    stdin: bytes = b"",
    env: dict[str, str] | None = None,
    timeout: float = TIMEOUT,
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        cmd, input=stdin, capture_output=True, timeout=timeout, env=env, check=False
    )


# -- openssl s_client ---------------------------------------------------------------------


def _s_client(
    lab: RealLab, port: int, name: str, ca: str, *extra: str, send: bytes = b""
) -> subprocess.CompletedProcess[bytes]:
    openssl = require_tool("openssl")
    return _run(
        [
            openssl,
            "s_client",
            "-connect",
            f"127.0.0.1:{port}",
            "-verify_return_error",
            "-CAfile",
            str(lab.files / ca),
            "-servername",
            name,
            "-verify_hostname",
            name,
            "-ign_eof",
            *extra,
        ],
        stdin=send,
    )


def test_openssl_verifies_web_login_with_the_root(real_lab: RealLab) -> None:
    res = _s_client(
        real_lab,
        real_lab.port("cas2", "web-login"),
        "cas2.example.edu",
        "root.pem",
        send=b"GET / HTTP/1.1\r\nHost: cas2\r\nConnection: close\r\n\r\n",
    )
    out = res.stdout.decode(errors="replace")
    assert res.returncode == 0, res.stderr.decode()
    assert "Verify return code: 0 (ok)" in out
    assert WEB_LOGIN_TITLE in out


def test_openssl_refuses_without_the_root(real_lab: RealLab) -> None:
    res = _s_client(
        real_lab, real_lab.port("cas2", "web-login"), "cas2.example.edu", "other-root.pem"
    )
    assert res.returncode != 0
    assert "unable to get local issuer certificate" in (res.stdout + res.stderr).decode()


def test_openssl_mutual_tls_on_the_cam_control_endpoint(real_lab: RealLab) -> None:
    port = real_lab.port("cam", "control")
    hello = b'{"from": "cas2", "kind": "status"}\n'
    f = real_lab.files
    trusted = _s_client(
        real_lab,
        port,
        "cam.example.edu",
        "root.pem",
        "-cert",
        str(f / "cas2-leaf.pem"),
        "-cert_chain",
        str(f / "intermediate.pem"),
        "-key",
        str(f / "cas2.key"),
        send=hello,
    )
    assert b'"ok": true' in trusted.stdout, trusted.stderr.decode()
    assert b'"from": "cam"' in trusted.stdout
    anonymous = _s_client(real_lab, port, "cam.example.edu", "root.pem", send=hello)
    assert b'"ok": true' not in anonymous.stdout
    assert anonymous.returncode != 0
    # the leaf alone, without its intermediate, cannot be verified by the CAM
    leaf_only = _s_client(
        real_lab,
        port,
        "cam.example.edu",
        "root.pem",
        "-cert",
        str(f / "cas2-leaf.pem"),
        "-key",
        str(f / "cas2.key"),
        send=hello,
    )
    assert b'"ok": true' not in leaf_only.stdout


# -- gnutls-cli ---------------------------------------------------------------------------


def _gnutls(
    lab: RealLab, port: int, name: str, ca: str, *extra: str, send: bytes = b""
) -> subprocess.CompletedProcess[bytes]:
    gnutls = require_tool("gnutls-cli")
    return _run(
        [
            gnutls,
            "--x509cafile",
            str(lab.files / ca),
            "-p",
            str(port),
            "--sni-hostname",
            name,
            "--verify-hostname",
            name,
            *extra,
            "127.0.0.1",
        ],
        stdin=send,
    )


def test_gnutls_verifies_agent_endpoint_and_refuses_unknown_issuer(real_lab: RealLab) -> None:
    port = real_lab.port("cas1a", "agent")
    ok = _gnutls(real_lab, port, "cas1a.example.edu", "root.pem")
    out = ok.stdout.decode(errors="replace")
    assert ok.returncode == 0, ok.stderr.decode()
    assert "The certificate is trusted" in out
    assert "Handshake was completed" in out
    bad = _gnutls(real_lab, port, "cas1a.example.edu", "other-root.pem")
    assert bad.returncode != 0
    assert "issuer is unknown" in (bad.stdout + bad.stderr).decode()
    wrong = _gnutls(real_lab, port, "cas2.example.edu", "root.pem")
    assert wrong.returncode != 0
    assert "does not match" in (wrong.stdout + wrong.stderr).decode()


def test_gnutls_mutual_tls_on_the_cam_control_endpoint(real_lab: RealLab) -> None:
    # gnutls-cli hangs up as soon as its stdin ends, so keep stdin open until the reply
    gnutls = require_tool("gnutls-cli")
    f = real_lab.files
    cmd = [
        gnutls,
        "--x509cafile",
        str(f / "root.pem"),
        "-p",
        str(real_lab.port("cam", "control")),
        "--sni-hostname",
        "cam.example.edu",
        "--verify-hostname",
        "cam.example.edu",
        "--x509certfile",
        str(f / "cas2-fullchain.pem"),
        "--x509keyfile",
        str(f / "cas2.key"),
        "127.0.0.1",
    ]
    with subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    ) as proc:
        assert proc.stdin is not None
        assert proc.stdout is not None
        try:
            proc.stdin.write(b'{"from": "cas2"}\n')
            proc.stdin.flush()
            lines = []
            for raw in proc.stdout:  # ends when gnutls-cli exits (peer closed)
                lines.append(raw)
                if b'"ok"' in raw:
                    break
        finally:
            proc.stdin.close()
            try:
                proc.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    assert any(b'"ok": true' in line for line in lines), b"".join(lines).decode()


# -- headless Chromium --------------------------------------------------------------------


def _nss_home(tmp: Path, root_pem: Path | None) -> Path:
    home = tmp / "home"
    db = home / ".pki" / "nssdb"
    db.mkdir(parents=True)
    certutil = require_tool("certutil")
    subprocess.run(
        [certutil, "-d", f"sql:{db}", "-N", "--empty-password"],
        check=True,
        capture_output=True,
        timeout=TIMEOUT,
    )
    if root_pem is not None:
        subprocess.run(
            [certutil, "-d", f"sql:{db}", "-A", "-t", "C,,", "-n", "ccapki", "-i", str(root_pem)],
            check=True,
            capture_output=True,
            timeout=TIMEOUT,
        )
    return home


def _chromium(home: Path, tmp: Path, host: str, port: int, *mode: str) -> tuple[str, str]:
    chromium = require_tool("chromium")
    profile = tmp / f"profile-{len(list(tmp.iterdir()))}"
    env = {**os.environ, "HOME": str(home)}
    res = _run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            f"--host-resolver-rules=MAP {host} 127.0.0.1",
            *mode,
            f"https://{host}:{port}/",
        ],
        env=env,
        timeout=60,
    )
    return res.stdout.decode(errors="replace"), res.stderr.decode(errors="replace")


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_chromium_loads_web_login_with_the_root_installed(
    real_lab: RealLab, tmp_path: Path
) -> None:
    home = _nss_home(tmp_path, real_lab.files / "root.pem")
    port = real_lab.port("cas2", "web-login")
    dom, err = _chromium(home, tmp_path, "cas2.example.edu", port, "--dump-dom")
    assert f"<title>{WEB_LOGIN_TITLE}</title>" in dom, err[-2000:]
    assert '<form id="login"' in dom
    shot = REPO / "artifacts" / "weblogin.png"
    shot.parent.mkdir(exist_ok=True)
    shot.unlink(missing_ok=True)
    _, err = _chromium(
        home, tmp_path, "cas2.example.edu", port, f"--screenshot={shot}", "--window-size=1024,768"
    )
    assert shot.exists(), err[-2000:]
    assert _png_size(shot) == (1024, 768)
    assert shot.stat().st_size > 10_000  # a rendered page, not a blank image


def test_chromium_refuses_without_the_root(real_lab: RealLab, tmp_path: Path) -> None:
    home = _nss_home(tmp_path, None)
    dom, err = _chromium(
        home, tmp_path, "cas2.example.edu", real_lab.port("cas2", "web-login"), "--dump-dom"
    )
    assert '<form id="login"' not in dom
    assert WEB_LOGIN_TITLE not in dom
    assert "ERR_CERT_AUTHORITY_INVALID" in err


def test_chromium_refuses_a_cn_only_certificate(real_lab: RealLab, tmp_path: Path) -> None:
    home = _nss_home(tmp_path, real_lab.files / "root.pem")
    dom, err = _chromium(
        home, tmp_path, "cascn.example.edu", real_lab.port("cascn", "web-login"), "--dump-dom"
    )
    assert '<form id="login"' not in dom
    assert "ERR_CERT_COMMON_NAME_INVALID" in err


def test_chromium_on_linux_accepts_a_five_year_certificate_from_a_private_root(
    real_lab: RealLab, tmp_path: Path
) -> None:
    # Found empirically (see the module docstring): no validity cap for user-installed roots.
    home = _nss_home(tmp_path, real_lab.files / "root.pem")
    dom, err = _chromium(
        home, tmp_path, "cas5y.example.edu", real_lab.port("cas5y", "web-login"), "--dump-dom"
    )
    assert '<form id="login"' in dom, err[-2000:]


def test_lab_links_agree_with_sans_only_naming(real_lab: RealLab) -> None:
    st = real_lab.status
    ctl = st.link("control:cam->cascn")
    if ctl.stack == "java-pkix":
        # JSSE's HostnameChecker (endpoint identification "HTTPS") falls back to the most
        # specific CN when a certificate has no dNSName: the CAM's Java verifies cascn
        assert ctl.ok, ctl.error
    else:
        # Python's ssl (OpenSSL) ignores the CN as Chromium does: the CAM cannot verify cascn
        assert ctl.ok is False
        assert "Hostname mismatch" in (ctl.error or "")
    assert st.link("status:cascn->cam").ok  # a client certificate needs no name
    assert st.link("control:cam->cas5y").ok
