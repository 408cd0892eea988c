"""Lab input validation, JSON round trips, reload edge cases."""

from __future__ import annotations

from dataclasses import replace

import pytest
from cryptography.hazmat.primitives import serialization

from ccapki.errors import InputError
from ccapki.lab import ApplianceSpec, EndpointMaterial, Lab, LabSpec, LabStatus
from kit.certs import issue
from kit.lab import Deployment, run, with_appliance

#: makes no store (the handshakes are its subject): the PostgreSQL run leaves it out
pytestmark = pytest.mark.no_store


def test_material_refuses_bad_pem_and_hides_the_key(deployment: Deployment) -> None:
    leaf = deployment.cas2
    m = leaf.material(deployment.trust)
    assert "PRIVATE" not in repr(m)
    assert (
        m.fingerprint
        == __import__("hashlib")
        .sha256(leaf.cert.public_bytes(serialization.Encoding.DER))
        .hexdigest()
    )
    with pytest.raises(InputError, match="no PEM certificate"):
        EndpointMaterial(b"junk", leaf.key_pem)
    encrypted = leaf.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),
    )
    with pytest.raises(InputError, match="unencrypted"):
        EndpointMaterial(leaf.chain_pem, encrypted)
    with pytest.raises(InputError, match="trust store"):
        EndpointMaterial(leaf.chain_pem, leaf.key_pem, b"not pem")


def test_spec_validation(deployment: Deployment) -> None:
    spec = deployment.spec()
    cam = spec.appliance("cam")
    with pytest.raises(InputError, match="duplicate"):
        LabSpec((cam, cam))
    lone = spec.appliance("cas1a")
    with pytest.raises(InputError, match="one primary and one secondary"):
        LabSpec((cam, lone))
    with pytest.raises(InputError, match="one CAM"):
        LabSpec((cam, replace(cam, name="cam2")))
    with pytest.raises(InputError, match="pair and ha_role"):
        ApplianceSpec("x", "cas", cam.identity, pair="p")
    with pytest.raises(InputError, match="role"):
        ApplianceSpec("x", "nac", cam.identity)  # type: ignore[arg-type]


def test_spec_and_status_json_round_trip(deployment: Deployment) -> None:
    spec = deployment.spec()
    assert LabSpec.from_json(spec.to_json()) == spec
    with pytest.raises(InputError, match="not valid"):
        LabSpec.from_json("{}")

    async def go() -> LabStatus:
        async with Lab(spec) as lab:
            return lab.status()

    st = run(go())
    assert LabStatus.from_dict(st.to_dict()) == st


def test_key_not_matching_certificate_is_input_error(deployment: Deployment) -> None:
    wrong = EndpointMaterial(deployment.cas2.chain_pem, deployment.cam.key_pem, deployment.trust)
    bad = with_appliance(deployment.spec(), "cas2", identity=wrong)
    with pytest.raises(InputError, match="cas2"):
        run(Lab(bad).start())

    async def reload_keeps_old() -> LabStatus:
        async with Lab(deployment.spec()) as lab:
            with pytest.raises(InputError):
                await lab.reload(bad)
            await lab.run_links_now()
            return lab.status()

    assert run(reload_keeps_old()).all_ok


def test_reload_adds_and_removes_appliances(deployment: Deployment) -> None:
    spec = deployment.spec()
    cas3 = issue(deployment.ca, "cas3.example.edu")
    bigger = replace(
        spec,
        appliances=(
            *spec.appliances,
            ApplianceSpec(
                "cas3", "cas", cas3.material(deployment.trust), hostname="cas3.example.edu"
            ),
        ),
    )
    smaller = replace(spec, appliances=tuple(a for a in spec.appliances if a.name != "cas2"))

    async def go() -> tuple[LabStatus, LabStatus]:
        async with Lab(spec) as lab:
            await lab.reload(bigger)
            grown = lab.status()
            await lab.reload(smaller)
            return grown, lab.status()

    grown, shrunk = run(go())
    assert grown.all_ok
    assert grown.appliance("cas3").state == "Connected"
    assert "status:cas3->cam" in {x.name for x in grown.links}
    assert shrunk.all_ok
    assert "cas2" not in {e.appliance for e in shrunk.endpoints}
    assert "status:cas2->cam" not in {x.name for x in shrunk.links}
