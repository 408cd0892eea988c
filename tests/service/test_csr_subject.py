"""The service's CSR route makes the CSRs the CLI makes: the deployment file's subject
fields (``[deployment.subject]``: C, ST, L, OU, emailAddress) around O and CN, in order."""

from __future__ import annotations

from pathlib import Path

import httpx
from cryptography import x509
from cryptography.x509.oid import NameOID

import ccapki
from ccapki.service.app import create_app
from ccapki.store.session import Store
from kit.certs import NOW
from kit.cli import deployment as make_deployment
from kit.cli import standalone
from kit.service import add_users, config_for, running

TEXT = make_deployment(
    name="svcsubj", cas=[standalone("cas-tp", "10.8.0.1", source="third-party")]
).replace(
    "\n[cam]\n",
    '\n[deployment.subject]\ncountry = "FR"\nstate = "Côte-d\'Or"\nlocality = "Dijon"\n'
    'organizational_unit = "DSI"\nemail = "pki@example.org"\n\n[cam]\n',
    1,
)


def test_the_csr_route_carries_the_subject_fields(home: Path) -> None:
    dep = ccapki.parse_deployment(TEXT, "svcsubj.toml")
    with ccapki.init_store(home, key_file=True, clock=lambda: NOW) as store:
        ccapki.apply(store, dep, path="svcsubj.toml")
    with Store.open(home, clock=lambda: NOW) as store:
        tokens = add_users(store)
    with (
        running(create_app(config_for(home))) as url,
        httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {tokens['operator']}"}, timeout=60
        ) as c,
    ):
        made = c.post("/api/v1/deployments/svcsubj/csrs", json={"identities": ["cas-tp"]})
        assert made.status_code == 200, made.text
        (out,) = made.json()
    csr = x509.load_pem_x509_csr(out["pem"].encode())
    assert [(a.oid, a.value) for a in csr.subject] == [
        (NameOID.COUNTRY_NAME, "FR"),
        (NameOID.STATE_OR_PROVINCE_NAME, "Côte-d'Or"),
        (NameOID.LOCALITY_NAME, "Dijon"),
        (NameOID.ORGANIZATION_NAME, "Test Org"),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, "DSI"),
        (NameOID.COMMON_NAME, "cas-tp.example.org"),
        (NameOID.EMAIL_ADDRESS, "pki@example.org"),
    ]
