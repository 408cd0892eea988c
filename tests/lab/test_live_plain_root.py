"""Issue 10, items 2 and 5 end to end: a third-party CAS whose root has no keyUsage (as
`openssl req -x509` makes it) passes the CAM/CAS channel offline (Java PKIX) and live (the
lab's JSSE), and the browser channels offline (Chromium) and live (OpenSSL's default mode);
`verify --live --json` names the stacks of every cell."""

from __future__ import annotations

import subprocess
from pathlib import Path

from cryptography import x509

from kit.cli import Cli, ok
from kit.lab import LabHome, stop_lab
from kit.tools import require_tool

DEP = """[deployment]
name = "plain"
release = "4.8.0"
organization = "Plain Root Test"
source = "internal"

[cam]
name = "cam"
hostname = "cam.lab.test"
ip = "10.0.0.1"

[[cas]]
name = "cas-tp"
hostname = "cas-tp.lab.test"
ip = "10.6.0.1"
source = "third-party"
"""


def _openssl(*args: str | Path) -> None:
    subprocess.run(
        [require_tool("openssl"), *map(str, args)], check=True, capture_output=True, timeout=60
    )


def test_plain_root_agrees_live_and_offline(cli: Cli, tmp_path: Path) -> None:
    home, dep = tmp_path / "home", tmp_path / "dep.toml"
    dep.write_text(DEP, "utf-8")
    ok(cli("init", "--key-file", home_dir=home))
    ok(cli("apply", dep, home_dir=home))
    ok(cli("csr", "cas-tp", "--out", tmp_path / "csr", home_dir=home))
    key, root = tmp_path / "root.key", tmp_path / "root.pem"
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", root,
        "-subj", "/CN=Plain Root", "-days", "3650",
    )  # fmt: skip
    ext = tmp_path / "ext.cnf"
    ext.write_text(
        "subjectAltName=DNS:cas-tp.lab.test,IP:10.6.0.1\n"
        "extendedKeyUsage=serverAuth,clientAuth\nkeyUsage=digitalSignature\n"
    )
    leaf = tmp_path / "cas-tp.pem"
    _openssl(
        "x509", "-req", "-in", tmp_path / "csr" / "cas-tp.csr", "-CA", root, "-CAkey", key,
        "-CAcreateserial", "-out", leaf, "-days", "300", "-extfile", ext,
    )  # fmt: skip
    assert not any(
        isinstance(e.value, x509.KeyUsage)
        for e in x509.load_pem_x509_certificate(root.read_bytes()).extensions
    )
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(leaf.read_bytes() + root.read_bytes())
    ok(cli("import", bundle, home_dir=home))
    ok(cli("trust", "apply", home_dir=home))
    lab = LabHome(home, dep)
    ok(cli("lab", "up", home_dir=home))
    try:
        code, doc = lab.verify(cli)
    finally:
        stop_lab(cli, lab)
    assert (code, doc["agree"], doc["ok"]) == (0, True, True), doc
    cells = {(c["appliance"], c["channel"]): c for c in doc["cells"]}
    cam_cas = cells[("cas-tp", "cam-cas")]
    assert (cam_cas["offline"], cam_cas["live"], cam_cas["offline_stack"]) == (
        "pass",
        "pass",
        "java-pkix",
    )
    assert cam_cas["live_stack"]
    web = cells[("cas-tp", "web-login")]
    assert (web["offline"], web["live"], web["offline_stack"], web["live_stack"]) == (
        "pass",
        "pass",
        "chromium",
        "openssl-default",
    )
    # web-PKI's refusal is not hidden: trust check warns on the channels
    check = cli("trust", "check", "--json", home_dir=home).json()
    warn = next(
        c for c in check["cells"] if (c["appliance"], c["channel"]) == ("cas-tp", "cam-cas")
    )
    assert warn["status"] == "warn"
    assert any("web-PKI refuses" in w for w in warn["warnings"])
