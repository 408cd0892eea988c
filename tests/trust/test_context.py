"""TrustContext reuse, the purity of the trust package, and agreement with a real handshake."""

from __future__ import annotations

import datetime as dt
import json
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes

import ccapki.trust._diagnose as diagnose_module
import ccapki.trust._verify as verify_module
from ccapki.trust import Code, TrustContext, Verdict, verify_chain
from kit.certs import Minted, MintedChain

from .conftest import NOW, mint


def test_verifiers_are_reused(pki: MintedChain) -> None:
    ctx = TrustContext([pki.root.cert])
    first = ctx.server_verifier("cas1.example.com", NOW)
    assert ctx.server_verifier("cas1.example.com", NOW) is first
    assert ctx.client_verifier(NOW) is ctx.client_verifier(NOW)
    for _ in range(20):
        assert ctx.verify(pki.leaf.cert, [pki.inter.cert], peer_name="cas1.example.com", at=NOW).ok
        assert ctx.verify(pki.leaf.cert, [pki.inter.cert], purpose="client", at=NOW).ok
    assert ctx.cached_verifiers == 2
    ctx.verify(pki.leaf.cert, [pki.inter.cert], peer_name="10.0.0.11", at=NOW)
    ctx.verify(pki.leaf.cert, [pki.inter.cert], at=NOW)  # default name: its first SAN
    assert ctx.cached_verifiers == 3  # only the new name added one
    ctx.verify(pki.leaf.cert, [pki.inter.cert], at=NOW + dt.timedelta(days=1))
    assert ctx.cached_verifiers == 4  # a new time, a new verifier


def test_analysis_runs_only_on_failure(pki: MintedChain, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = diagnose_module.analyze

    def spy(*args: object, **kwargs: object) -> object:
        calls.append("analyze")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(verify_module, "analyze", spy)
    ctx = TrustContext([pki.root.cert])
    for _ in range(10):
        assert ctx.verify(pki.leaf.cert, [pki.inter.cert], at=NOW).ok
    assert calls == []
    assert not ctx.verify(pki.leaf.cert, [], at=NOW).ok
    assert calls == ["analyze"]


def test_context_candidates_word_the_fix(pki: MintedChain) -> None:
    ctx = TrustContext([pki.root.cert], candidates=[pki.inter.cert])
    v = ctx.verify(pki.leaf.cert, [], at=NOW)
    assert Code.MISSING_INTERMEDIATE in v.codes


def test_importing_trust_is_pure() -> None:
    """``import ccapki.trust`` loads every public name and no framework, ORM or socket user."""
    code = """
import json, sys
import cryptography.x509.verification
base = set(sys.modules)
import ccapki.trust as t
missing = [name for name in t.__all__ if name not in vars(t)]
extra = sorted(set(sys.modules) - base)
print(json.dumps({"missing": missing, "extra": extra}))
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    data = json.loads(out)
    assert data["missing"] == []
    heavy = {"sqlalchemy", "alembic", "click", "rich", "pydantic", "asyncio", "ssl", "http"}
    tops = {m.split(".")[0] for m in data["extra"]}
    assert not (tops & heavy), tops & heavy
    assert not any(m.startswith(("ccapki.store", "ccapki.cli", "ccapki.topology")) for m in
                   data["extra"])  # fmt: skip


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["plan", "--help"], ["trust", "check", "--help"], ["import", "--help"],
     ["check-ha", "--help"], ["plan", "FAQ"], ["inspect", "PEM"]],
)  # fmt: skip
def test_commands_that_need_no_trust_do_not_load_it(argv: list[str], tmp_path: Path) -> None:
    """The trust package is imported whole: help and store-less commands never import it."""
    faq = Path(__file__).parents[2] / "examples" / "faq.toml"
    pem = tmp_path / "cas1.pem"
    pem.write_bytes(_pem([mint("cas1", san=["cas1.example.com"]).cert]))
    args = [{"FAQ": str(faq), "PEM": str(pem)}.get(a, a) for a in argv]
    code = (
        "import sys\n"
        "from ccapki.cli import main\n"
        f"code = main({args!r})\n"
        "print(code, sorted(m for m in sys.modules if m.startswith('ccapki.trust')))\n"
    )
    env = {"CCAPKI_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == "0 []", r.stdout[-2000:]


# -- agreement with a real TLS handshake (stdlib ssl / OpenSSL) on 127.0.0.1 ---------------


def _pem(certs: Sequence[x509.Certificate]) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def _handshake(
    tmp_path: Path,
    chain: Sequence[x509.Certificate],
    key: CertificateIssuerPrivateKeyTypes,
    roots: Sequence[x509.Certificate],
    name: str,
) -> bool:
    """A real TLS 1.2+ handshake: server presents ``chain``; client trusts ``roots``."""
    (tmp_path / "chain.pem").write_bytes(_pem(chain))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (tmp_path / "key.pem").chmod(0o600)
    (tmp_path / "roots.pem").write_bytes(_pem(roots))
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tmp_path / "chain.pem", tmp_path / "key.pem")
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.load_verify_locations(tmp_path / "roots.pem")
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def serve() -> None:
            conn, _ = listener.accept()
            try:
                with server_ctx.wrap_socket(conn, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                pass

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        try:
            with (
                socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
                client_ctx.wrap_socket(raw, server_hostname=name),
            ):
                ok = True
        except ssl.SSLCertVerificationError:
            ok = False
        thread.join(timeout=5)
    return ok


def _both(
    tmp_path: Path,
    leaf: Minted,
    sent: Sequence[x509.Certificate],
    roots: Sequence[x509.Certificate],
    name: str,
) -> tuple[Verdict, bool]:
    # the handshake runs at the real current time: mint these certificates around it
    verdict = verify_chain(leaf.cert, sent, roots, peer_name=name)
    return verdict, _handshake(tmp_path, [leaf.cert, *sent], leaf.key, roots, name)


@pytest.fixture
def live_pki() -> MintedChain:
    """Like ``pki`` but valid today, since OpenSSL checks against the real clock."""
    start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    root = mint("Campus Root CA", ca=True, path_length=1, days=3650, start=start)
    inter = mint("Campus Issuing CA", issuer=root, ca=True, path_length=0, start=start)
    leaf = mint("cas1.example.com", issuer=inter, start=start, days=30)
    return MintedChain(root, inter, leaf)


def test_verdict_agrees_with_real_handshake(tmp_path: Path, live_pki: MintedChain) -> None:
    root, inter, leaf = live_pki.root, live_pki.inter, live_pki.leaf
    start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    cam = mint("cam.example.com", start=start, days=30)  # true self-signed
    cases = {
        "good chain": (leaf, [inter.cert], [root.cert], "cas1.example.com", True),
        "missing intermediate": (leaf, [], [root.cert], "cas1.example.com", False),
        "name mismatch": (leaf, [inter.cert], [root.cert], "cas2.example.com", False),
        "self-signed trusted": (cam, [], [cam.cert], "cam.example.com", True),
        "self-signed untrusted": (cam, [], [root.cert], "cam.example.com", False),
    }
    for label, (who, sent, roots, name, expected) in cases.items():
        sub = tmp_path / label.replace(" ", "-")
        sub.mkdir()
        verdict, handshake_ok = _both(sub, who, sent, roots, name)
        assert verdict.ok is expected, (label, verdict.codes)
        assert handshake_ok is expected, label
