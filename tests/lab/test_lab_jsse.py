"""The CAM <-> CAS links on the JVM: JSSE with PKIX trust managers on both ends.

One JVM (src/ccapki/lab/java/CcaJsse.java, compiled at first use into a cache keyed by the
source's hash) serves every control endpoint of a lab and makes every status/control link.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import replace
from pathlib import Path

import pytest

from ccapki.lab import ApplianceSpec, EndpointMaterial, Lab, LabSpec, LabStatus
from ccapki.lab.corpus import HOST, build_corpus
from ccapki.lab.jsse import JsseHarness, JsseResult, compile_harness
from ccapki.probe import JAVA_STACK, ProbeResult, ProbeTarget, probe_many
from kit.certs import make_ca, pem
from kit.lab import Deployment, run
from kit.tools import free_port, require_tool

#: makes no store (the handshakes are its subject): the PostgreSQL run leaves it out
pytestmark = pytest.mark.no_store


@pytest.fixture(autouse=True)
def _java() -> None:
    require_tool("javac")
    require_tool("java")


def test_the_harness_compiles_once_per_source_hash(tmp_path: Path) -> None:
    first = compile_harness(tmp_path)
    source = Path("src/ccapki/lab/java/CcaJsse.java").read_bytes()
    assert first.name == hashlib.sha256(source).hexdigest()[:32]
    made = (first / "CcaJsse.class").stat().st_mtime_ns
    again = compile_harness(tmp_path)
    assert again == first
    assert (again / "CcaJsse.class").stat().st_mtime_ns == made
    assert [p.name for p in tmp_path.iterdir()] == [first.name]  # no build leftovers


def test_jsse_reports_the_exception_class_and_the_server_side(deployment: Deployment) -> None:
    other = make_ca("Elsewhere")
    cam, cas = deployment.cam, deployment.pair

    async def go() -> list[JsseResult]:
        async with JsseHarness() as jvm:
            port = await jvm.serve(
                "cam/control",
                cert_chain_pem=cam.chain_pem,
                key_pem=cam.key_pem,
                trust_pem=deployment.trust,
                from_name="cam",
            )
            hello = '{"from": "cas"}'
            args = {"server_name": "cam.example.edu", "hello": hello}
            return [
                await jvm.connect(
                    "127.0.0.1",
                    port,
                    trust_pem=deployment.trust,
                    cert_chain_pem=cas.chain_pem,
                    key_pem=cas.key_pem,
                    **args,
                ),
                await jvm.connect(
                    "127.0.0.1",
                    port,
                    trust_pem=pem(other.root),
                    cert_chain_pem=cas.chain_pem,
                    key_pem=cas.key_pem,
                    **args,
                ),
                await jvm.connect("127.0.0.1", port, trust_pem=deployment.trust, **args),
            ]

    good, untrusted, anonymous = run(go())
    assert good.ok, good.error
    assert '"from": "cam"' in (good.reply or "")
    assert untrusted.ok is False
    assert (untrusted.error or "").startswith("javax.net.ssl.SSLHandshakeException: PKIX path")
    assert anonymous.ok is False
    assert "Empty client certificate chain" in (anonymous.server_error or "")


def test_lab_control_links_run_on_jsse_and_keep_their_ports(deployment: Deployment) -> None:
    spec = deployment.spec()
    assert spec.jsse  # on by default where java and javac exist

    async def go() -> tuple[LabStatus, LabStatus]:
        async with Lab(spec) as lab:
            first = lab.status()
            await lab.reload(spec)
            return first, lab.status()

    first, again = run(go())
    cam_cas = [x for x in first.links if x.kind in ("status", "control")]
    assert cam_cas
    assert {x.stack for x in cam_cas} == {JAVA_STACK}
    assert all(x.ok for x in cam_cas), [(x.name, x.error) for x in cam_cas if not x.ok]
    # the heartbeat is not Java's: strongSwan's IKEv2 where it runs, else the TLS emulation
    assert {x.stack for x in first.links if x.kind == "heartbeat"} <= {
        "strongswan",
        "openssl-strict",
    }
    port = first.endpoint("cam", "control").port
    assert again.endpoint("cam", "control").port == port
    assert all(x.ok for x in again.links if x.kind in ("status", "control"))


def _bare_root_spec(**changes: object) -> LabSpec:
    """CAM and CAS whose identities chain to a root made like `openssl req -x509` (CA:TRUE,
    no keyUsage): Java's PKIX accepts it as an anchor, strict X.509 verification does not."""
    case = next(
        c for c in build_corpus(dt.datetime.now(dt.UTC)) if c.name == "root-without-keyusage"
    )
    m = EndpointMaterial(case.chain_pem(), case.key_pem(), case.roots_pem())
    apps = (
        ApplianceSpec("cam", "cam", m, hostname=HOST),
        ApplianceSpec("cas", "cas", m, hostname=HOST),
    )
    return replace(LabSpec(apps, link_interval=60), **changes)


def test_a_keyusage_less_root_is_trusted_by_jsse_and_refused_by_strict_openssl() -> None:
    async def go(spec: LabSpec) -> LabStatus:
        async with Lab(spec) as lab:
            return lab.status()

    java = run(go(_bare_root_spec(jsse=True)))
    strict = run(go(_bare_root_spec(jsse=False, strict_x509=True)))
    assert {x.name: (x.ok, x.stack) for x in java.links} == {
        "status:cas->cam": (True, JAVA_STACK),
        "control:cam->cas": (True, JAVA_STACK),
    }
    assert {x.name: (x.ok, x.stack) for x in strict.links} == {
        "status:cas->cam": (False, "openssl-strict"),
        "control:cam->cas": (False, "openssl-strict"),
    }


def test_dn_authorization_is_enforced_by_the_cams_jvm(deployment: Deployment) -> None:
    spec = deployment.spec()
    allowed = spec.appliance("cas1a").identity.subject
    spec = replace(spec, dn_authorization=(allowed,))

    async def go() -> LabStatus:
        async with Lab(spec) as lab:
            return lab.status()

    st = run(go())
    assert st.link("status:cas1a->cam").ok, st.link("status:cas1a->cam").error
    refused = st.link("status:cas2->cam")
    assert refused.ok is False
    assert refused.stack == JAVA_STACK
    assert "is not authorized on the CAM" in (refused.server_error or "")


def test_probes_of_control_links_use_a_jsse_client(deployment: Deployment) -> None:
    spec = deployment.spec()
    other = make_ca("Elsewhere")
    cas = spec.appliance("cas2").identity

    async def go() -> list[ProbeResult]:
        async with Lab(spec) as lab:
            ep = lab.status().endpoint("cam", "control")
            base = ProbeTarget(
                ep.host,
                ep.port,
                "cam.example.edu",
                cas.trust_pem,
                client_cert_pem=cas.cert_chain_pem,
                client_key_pem=cas.key_pem,
                stack=JAVA_STACK,
            )
            closed = replace(base, port=free_port())  # nothing listens there
            untrusted = replace(base, trust_pem=pem(other.root))
            return list(await probe_many([base, untrusted, closed]))

    ok, bad, refused = run(go())
    assert ok.ok, ok.error
    assert ok.tls_version == "TLSv1.3"
    assert ok.peer_fingerprint == spec.appliance("cam").identity.fingerprint
    assert bad.ok is False
    assert "SunCertPathBuilderException" in (bad.error or "")
    assert bad.peer_chain_der  # fetched for the explanation
    # a port nobody listens on is refused, in the words the Python prober uses
    assert (refused.ok, refused.error, refused.error_kind) == (
        False,
        "connection refused",
        "refused",
    )


def test_an_empty_trust_store_is_said_in_plain_words(deployment: Deployment) -> None:
    """JSSE's own words for an empty trust store ("Unexpected error: ...
    InvalidAlgorithmParameterException: the trustAnchors parameter must be non-empty") get
    their meaning in front, on the client's side and on the server's."""
    empty = replace(deployment.cas2.material(deployment.trust), trust_pem=b"")
    spec = deployment.spec()
    apps = tuple(replace(a, identity=empty) if a.name == "cas2" else a for a in spec.appliances)

    async def go() -> LabStatus:
        async with Lab(replace(spec, appliances=apps, jsse=True)) as lab:
            return lab.status()

    st = run(go())
    status = st.link("status:cas2->cam")  # cas2 is the JSSE client
    assert (status.error or "").startswith("the trust store is empty: JSSE trusts no certificate")
    control = st.link("control:cam->cas2")  # cas2's JSSE server checks the CAM's certificate
    assert "the trust store is empty" in f"{control.error} {control.server_error}"
