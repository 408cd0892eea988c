"""The HA heartbeat by strongSwan: two charon daemons in network namespaces negotiate IKEv2
with the pair's certificate and key, and each outcome is held against ccapki's offline
heartbeat verdict ("HA broken" offline must be an IKE_AUTH failure live, and a good
certificate must bring the IKE_SA up, both ways).

Every store here is made by the CLI (``init`` + ``apply`` of a deployment with one HA pair),
on the machine's clock: charon judges validity by it. Needs root (network namespaces), ``ip``,
``charon``, ``swanctl`` and strongSwan's openssl plugin; skipped without them, failed under CI.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from ccapki.lab import EndpointMaterial
from ccapki.lab.ipsec import (
    CHARON,
    IPSEC_STACK,
    IpsecPair,
    IpsecPeer,
    PairHeartbeat,
    heartbeat_both_ways,
    ipsec_unavailable,
    pair_peers,
)
from ccapki.lifecycle.heartbeat import identity_heartbeat
from ccapki.lifecycle.labspec import build_spec
from ccapki.lifecycle.trustops import check_deployment, load_inventory
from ccapki.pki.keys import public_key_fingerprint
from ccapki.store import Store
from ccapki.topology.loader import load_deployment
from ccapki.topology.model import Channel, Deployment
from ccapki.trust import HaPair, HaPeer, check_ha
from kit.certs import Minted, OutsideCA, key_pem, mint, pem, utcnow
from kit.cli import Cli, ok
from kit.lab import CAS_HA, LabFactory
from kit.tools import need, require_tool

PAIR = "cas-ha"


@pytest.fixture(autouse=True)
def _strongswan() -> None:
    """charon, swanctl, ip and root: skip without them, fail under CI."""
    require_tool(CHARON)
    require_tool("swanctl")
    require_tool("ip")
    why = ipsec_unavailable()
    if why:
        need(f"the strongSwan heartbeat: {why}")


def _deployment(key: str, validity_days: int | None) -> str:
    days = f"validity_days = {validity_days}\n" if validity_days else ""
    return (
        "[deployment]\n"
        'name = "heartbeat"\n'
        'release = "4.8.0"\n'
        'organization = "Heartbeat Test"\n'
        'source = "internal"\n'
        f'key = "{key}"\n\n'
        "[cam]\n"
        'name = "cam"\nhostname = "cam.hb.test"\nip = "192.0.2.1"\n\n'
        "[[cas]]\n"
        f'name = "{PAIR}"\n'
        f'virtual_hostname = "{PAIR}.hb.test"\n'
        'service_ip = "192.0.2.10"\n'
        f'primary = {{ name = "{PAIR}-a", hostname = "{PAIR}-a.hb.test", ip = "192.0.2.11" }}\n'
        f'secondary = {{ name = "{PAIR}-b", hostname = "{PAIR}-b.hb.test", ip = "192.0.2.12" }}\n'
        f"{days}"
    )


def _store(
    cli: Cli,
    tmp_path: Path,
    *,
    key: str = "ecdsa-p256",
    validity_days: int | None = None,
    apply_now: dt.datetime | None = None,
) -> tuple[Path, Path]:
    """A key-file store with the one-pair deployment applied (trust stores synced)."""
    home, dep = tmp_path / "store", tmp_path / "heartbeat.toml"
    dep.write_text(_deployment(key, validity_days), encoding="utf-8")
    ok(cli("init", "--key-file", home_dir=home))
    env: dict[str, str | None] = {}
    if apply_now is not None:
        env = {"CCAPKI_NOW": apply_now.isoformat(), "CCAPKI_NOW_ALLOW_WRITES": "1"}
    ok(cli("apply", dep, home_dir=home, env=env))
    return home, dep


def _open(home: Path) -> Store:
    return Store.open(home, passphrase=lambda: "")


def _offline(home: Path, dep: Deployment) -> dict[str, bool | None]:
    """ccapki's offline heartbeat verdict per member of the pair (``trust check``'s cells)."""
    with _open(home) as store:
        inv = load_inventory(store, dep)
    matrix = check_deployment(inv, utcnow(), ())
    return {
        c.appliance: c.handshake_ok
        for c in matrix.cells
        if c.channel is Channel.HA_HEARTBEAT and c.appliance in CAS_HA
    }


def _live(home: Path, dep: Deployment) -> PairHeartbeat:
    with _open(home) as store:
        return identity_heartbeat(store, dep, PAIR)


def _assert_agree(offline: dict[str, bool | None], run: PairHeartbeat) -> None:
    """Both members' offline cells say what the IKE negotiation did."""
    assert {offline[m] for m in CAS_HA} == {run.ok}, (offline, run.to_dict())
    assert len(run.outcomes) == 2  # both ways: primary first, then the secondary
    assert [(o.initiator, o.responder) for o in run.outcomes] == [CAS_HA, CAS_HA[::-1]]
    for o in run.outcomes:
        # the tunnel after IKE_AUTH: the sandbox kernel may refuse it, never hidden
        assert o.child_sa == "installed" or o.child_sa.startswith(
            ("refused by the kernel", "not negotiated")
        )


@pytest.mark.parametrize(
    ("key", "scheme"), [("ecdsa-p256", "ECDSA_WITH_SHA256"), ("rsa-2048", "RSA")]
)
def test_good_pair_brings_the_ike_sa_up_both_ways(
    cli: Cli, tmp_path: Path, key: str, scheme: str
) -> None:
    home, path = _store(cli, tmp_path, key=key)
    dep = load_deployment(path)
    offline = _offline(home, dep)
    run = _live(home, dep)
    assert offline == {f"{PAIR}-a": True, f"{PAIR}-b": True}
    assert run.ok, run.to_dict()
    for o in run.outcomes:
        assert o.established
        assert o.refused_by is None
        assert scheme in o.reason  # each peer verified the other's signature with that key
        assert any("authentication of" in line and "successful" in line for line in o.log)
    _assert_agree(offline, run)
    assert run.errors == ()
    # the harness tore everything down: no namespace of this process is left
    assert not [n for n in _netns() if n.startswith(f"ccapki-hb{os.getpid()}-")]


def _netns() -> list[str]:
    r = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    return [line.split()[0] for line in r.stdout.splitlines() if line.strip()]


def _processes_in(folder: Path) -> list[int]:
    """The processes whose environment names ``folder`` (each charon's STRONGSWAN_CONF)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if str(folder).encode() in (proc / "environ").read_bytes():
                    found.append(int(proc.name))
            except OSError:
                continue
    return found


def test_everything_is_torn_down_when_the_caller_fails(cli: Cli, tmp_path: Path) -> None:
    home, path = _store(cli, tmp_path)
    with _open(home) as store:
        spec = build_spec(store, load_deployment(path))
    pair = IpsecPair(*pair_peers(spec, PAIR))
    seen: list[tuple[tuple[str, ...], Path]] = []

    def run_and_fail() -> None:
        with pair:
            folder = pair.workdir
            assert folder is not None
            seen.append((pair.namespaces, folder))
            assert set(pair.namespaces) <= set(_netns())
            assert len(_processes_in(folder)) == 2  # one charon per peer
            key = folder / pair.namespaces[0] / "private" / "identity.key"
            assert key.stat().st_mode & 0o777 == 0o600
            raise RuntimeError("caller failed")

    with pytest.raises(RuntimeError, match="caller failed"):
        run_and_fail()
    ((made, folder),) = seen
    assert not set(made) & set(_netns())
    assert not folder.exists()
    assert _processes_in(folder) == []
    assert (pair.namespaces, pair.workdir) == ((), None)


def test_expired_pair_certificate_fails_ike_auth(cli: Cli, tmp_path: Path) -> None:
    # valid for one day, issued three days ago (RSA: the other key type fails too)
    home, path = _store(
        cli, tmp_path, key="rsa-2048", validity_days=1, apply_now=utcnow() - dt.timedelta(days=3)
    )
    dep = load_deployment(path)
    offline = _offline(home, dep)
    run = _live(home, dep)
    assert offline == {f"{PAIR}-a": False, f"{PAIR}-b": False}
    assert not run.ok
    for o in run.outcomes:
        assert not o.established
        # the responder checks the initiator's certificate first, and refuses it
        assert o.refused_by == o.responder
        assert "subject certificate invalid" in o.reason
    _assert_agree(offline, run)
    assert all(IPSEC_STACK in e and "IKE_AUTH failed" in e for e in run.errors)


def test_wrong_ca_in_the_trust_store_fails_ike_auth(cli: Cli, tmp_path: Path) -> None:
    home, path = _store(cli, tmp_path)
    dep = load_deployment(path)
    assert _offline(home, dep) == {f"{PAIR}-a": True, f"{PAIR}-b": True}
    # the secondary trusts another CA instead of the pair's root
    secondary = CAS_HA[1]
    listed = ok(cli("trust", "list", secondary, home_dir=home)).out.split()
    ok(cli("trust", "remove", secondary, listed[0], home_dir=home))
    other = OutsideCA.make("Unrelated", now=utcnow(), intermediate=False)
    (tmp_path / "other.pem").write_bytes(pem(other.root))
    ok(cli("trust", "add", secondary, tmp_path / "other.pem", home_dir=home))

    offline = _offline(home, dep)
    run = _live(home, dep)
    assert offline == {f"{PAIR}-a": False, f"{PAIR}-b": False}
    assert not run.ok
    # whichever side initiates, the secondary is the one that refuses
    assert [o.refused_by for o in run.outcomes] == [secondary, secondary]
    assert all("constraint check failed" in o.reason for o in run.outcomes)
    assert all("Unrelated" in o.reason for o in run.outcomes)
    _assert_agree(offline, run)


def test_certificate_without_the_service_ip_still_authenticates(cli: Cli, tmp_path: Path) -> None:
    """The heartbeat identifies each peer by the certificate's DN, as the offline heartbeat
    verdict does: a certificate lacking the Service IP and a peer's name still brings the
    IKE_SA up, and both verdicts agree. `check-ha` flags the missing names, for the clients
    that connect by them after a failover, not for the heartbeat."""
    home, path = _store(cli, tmp_path)
    outside = OutsideCA.make("Outside HA", now=utcnow())
    ok(cli("csr", PAIR, "--out", tmp_path / "csr", home_dir=home))
    csr = x509.load_pem_x509_csr((tmp_path / "csr" / f"{PAIR}.csr").read_bytes())
    # the primary's name and IP only: no Service IP, no virtual hostname, no secondary
    cert = outside.sign_csr(csr, dns=[f"{PAIR}-a.hb.test"], ips=["192.0.2.11"])
    (tmp_path / "ha.pem").write_bytes(pem(cert) + b"".join(pem(c) for c in outside.chain))
    ok(cli("import", tmp_path / "ha.pem", "--force", home_dir=home))
    ok(cli("trust", "apply", home_dir=home))
    dep = load_deployment(path)

    with _open(home) as store:
        current = store.identities.current()[PAIR]
    assert current.certificate == cert
    names = x509.SubjectAlternativeName
    sans = cert.extensions.get_extension_for_class(names).value
    assert "192.0.2.10" not in {str(i) for i in sans.get_values_for_type(x509.IPAddress)}

    offline = _offline(home, dep)
    run = _live(home, dep)
    assert offline == {f"{PAIR}-a": True, f"{PAIR}-b": True}
    assert run.ok, run.to_dict()
    _assert_agree(offline, run)
    peer = HaPeer(cert, public_key_fingerprint(cert.public_key()))
    rows = check_ha(HaPair(PAIR, ("192.0.2.10", f"{PAIR}.hb.test"), peer, peer), utcnow())
    assert [r.item for r in rows if not r.ok] == [
        "names the Service IP, virtual hostname and both peers"
    ]


def test_peer_with_another_pairs_certificate_fails_ike_auth(cli: Cli, tmp_path: Path) -> None:
    """The store holds one identity per pair, so a secondary presenting another identity's
    certificate exists only on the appliance: the offline verdict for it is `check-ha`'s
    (the trust engine's HA rules), against what each peer holds."""
    home, path = _store(cli, tmp_path)
    dep = load_deployment(path)
    with _open(home) as store:
        spec = build_spec(store, dep)
    cam = spec.appliance("cam")
    secondary = spec.appliance(CAS_HA[1])
    # the CAM's certificate and key, from the same internal CA: trusted, but not the pair's
    wrong = EndpointMaterial(
        cam.identity.cert_chain_pem, cam.identity.key_pem, secondary.identity.trust_pem
    )
    spec = dataclasses.replace(
        spec,
        appliances=tuple(
            dataclasses.replace(a, heartbeat=wrong) if a.name == secondary.name else a
            for a in spec.appliances
        ),
    )
    a, b = pair_peers(spec, PAIR)
    run = heartbeat_both_ways(a, b, pair=PAIR)

    def peer(chain_pem: bytes) -> HaPeer:
        leaf = x509.load_pem_x509_certificates(chain_pem)[0]
        return HaPeer(leaf, public_key_fingerprint(leaf.public_key()))

    pair = HaPair(PAIR, (), peer(a.cert_chain_pem), peer(b.cert_chain_pem))
    rows = check_ha(pair, utcnow())
    assert not all(r.ok for r in rows)  # offline: HA broken
    assert "same certificate on both peers" in [r.item for r in rows if not r.ok]
    assert not run.ok  # live: no IKE_SA either way
    assert all(not o.established and o.refused_by == o.responder for o in run.outcomes)
    # each peer expects the pair's DN and meets another
    assert all("no matching peer config found" in o.reason for o in run.outcomes)


def test_verify_live_judges_heartbeat_cells_by_strongswan(cli: Cli, make_lab: LabFactory) -> None:
    lab = make_lab()
    # cas-ha-a trusts nothing: its heartbeat (and CAM/CAS) cells fail, live and offline
    fp = ok(cli("trust", "list", "cas-ha-a", home_dir=lab.home)).out.split()[0]
    ok(cli("trust", "remove", "cas-ha-a", fp, home_dir=lab.home))
    ok(cli("lab", "reload", home_dir=lab.home))
    code, doc = lab.verify(cli)
    assert (code, doc["agree"]) == (1, True), doc
    cells = {(c["appliance"], c["channel"]): c for c in doc["cells"]}
    heartbeat = {k: c for k, c in cells.items() if k[1] == "ha-heartbeat" and c["live"] != "n/a"}
    assert set(heartbeat) == {(a, "ha-heartbeat") for a in ("cam-a", "cam-b", *CAS_HA)}
    assert {c["live_stack"] for c in heartbeat.values()} == {"strongswan"}
    assert {k[0] for k, c in heartbeat.items() if c["live"] == "fail"} == set(CAS_HA)
    assert all(
        "IKE_AUTH failed" in e for a in CAS_HA for e in cells[(a, "ha-heartbeat")]["live_errors"]
    )
    runs = {h["pair"]: h for h in doc["heartbeats"]}
    assert (runs["cam"]["ok"], runs[PAIR]["ok"]) == (True, False)
    assert doc["ike_unavailable"] is None
    # the tunnel's fate after IKE_AUTH is reported (this sandbox's kernel may refuse it)
    assert runs["cam"]["child_sa"]

    text = cli("verify", "--live", home_dir=lab.home)
    assert f"ha-heartbeat: {IPSEC_STACK}" in text.out

    # without strongSwan the heartbeat cells stay on the lab's TLS emulation, marked so
    missing: dict[str, str | None] = {"CCAPKI_CHARON": str(lab.home / "no-charon")}
    r = cli("verify", "--live", "--json", home_dir=lab.home, env=missing)
    doc = r.json()
    assert (r.code, doc["agree"]) == (1, True), doc
    assert doc["heartbeats"] == []
    assert "no-charon" in doc["ike_unavailable"]
    stacks = {
        c["live_stack"]
        for c in doc["cells"]
        if c["channel"] == "ha-heartbeat" and c["live"] != "n/a"
    }
    assert stacks
    assert "strongswan" not in stacks
    text = cli("verify", "--live", home_dir=lab.home, env=missing)
    assert "ha-heartbeat: TLS emulation" in text.out


def _peers(chain: list[Minted], trust: list[Minted]) -> tuple[IpsecPeer, IpsecPeer]:
    chain_pem = b"".join(pem(m.cert) for m in chain)
    trust_pem = b"".join(pem(m.cert) for m in trust)
    return (
        IpsecPeer(CAS_HA[0], chain_pem, key_pem(chain[0].key), trust_pem),
        IpsecPeer(CAS_HA[1], chain_pem, key_pem(chain[0].key), trust_pem),
    )


def test_strongswan_ignores_extended_key_usage() -> None:
    """What strongSwan decides where web-PKI would not (evidence for the strongswan stack
    model): a pair certificate for code signing only still authenticates IKE."""
    now = utcnow()
    root = mint("HB Root", ca=True, now=now)
    leaf = mint("cas-ha.hb.test", issuer=root, eku=[ExtendedKeyUsageOID.CODE_SIGNING], now=now)
    run = heartbeat_both_ways(*_peers([leaf], [root]), pair=PAIR)
    assert run.ok, run.to_dict()


def test_strongswan_accepts_the_issuing_ca_as_the_only_anchor() -> None:
    """A trust store holding the issuing CA and not its root is enough, as for Java PKIX
    and cryptography: the peer's chain reaches a trusted certificate (charon says "reached
    end of incomplete trust chain"). Without the intermediate in what the peer sends, the
    chain cannot reach the root the store holds."""
    now = utcnow()
    root = mint("HB Root", ca=True, now=now)
    inter = mint("HB Issuing", issuer=root, ca=True, now=now)
    leaf = mint("cas-ha.hb.test", issuer=inter, now=now)
    run = heartbeat_both_ways(*_peers([leaf, inter], [inter]), pair=PAIR)
    assert run.ok, run.to_dict()
    assert any("incomplete trust chain" in line for o in run.outcomes for line in o.log)
    assert heartbeat_both_ways(*_peers([leaf, inter], [root]), pair=PAIR).ok
    alone = heartbeat_both_ways(*_peers([leaf], [root]), pair=PAIR)
    assert not alone.ok
    assert all("peer not authenticated by CA" in o.reason for o in alone.outcomes)
