"""The identities API (``GET /api/v1/deployments/D/identities``) notes each identity as
``ccapki status`` does, from the same code and the same facts.

Found in a walkthrough: the API built its notes without the deployment's pending CSRs, so a
third-party identity in a warning stage whose renewal CSR awaited the CA read "next: make
its CSR" there while `ccapki status` said the CSR was pending; and both called every
self-signed identity temporary, also the ones ccapki issued on purpose: only an appliance's
own install-time certificate, adopted by `ccapki import`, is the FAQ's temporary one.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import ccapki
from ccapki.lifecycle.status import StatusItem
from kit.certs import NOW, OutsideCA, key_pem, mint, pem
from kit.cli import FAQ, write
from kit.service import DEPLOYMENT, PASSWORDS, Service, login

INVENTORY = f"/api/v1/deployments/{DEPLOYMENT}/identities"
DAY = dt.timedelta(days=1)

EXTRA = """
[[cas]]
name = "cas-tp"
hostname = "cas-tp.example.edu"
ip = "10.40.0.20"
source = "third-party"

[[cas]]
name = "cas-own"
hostname = "cas-own.example.edu"
ip = "10.40.0.21"
source = "self-signed"

[[cas]]
name = "cas-old"
hostname = "cas-old.example.edu"
ip = "10.40.0.22"
source = "self-signed"
"""


def _status_items(service: Service) -> dict[str, StatusItem]:
    with ccapki.open_store(service.home, clock=lambda: NOW) as store:
        report = ccapki.estate_status(store, now=NOW, deployments=[DEPLOYMENT])
    return {i.name: i for i in report.items if i.kind == "identity"}


def _api_items(service: Service, limit: int) -> dict[str, dict[str, object]]:
    """Every item of the inventory, walked ``limit`` a page."""
    c = service.client("viewer")
    out: dict[str, dict[str, object]] = {}
    params: dict[str, object] = {"limit": limit}
    while True:
        r = c.get(INVENTORY, params=params)
        assert r.status_code == 200, r.text
        out |= {i["name"]: i for i in r.json()["items"]}
        if r.json()["next_cursor"] is None:
            return out
        params = {"limit": limit, "cursor": r.json()["next_cursor"]}


def _agree(service: Service) -> dict[str, dict[str, object]]:
    """The API's items, each asserted to say what status says of it, in pages of any
    size (each page's notes are read for its own rows)."""
    status = _status_items(service)
    for limit in (1000, 1):
        api = _api_items(service, limit)
        assert set(api) == set(status)
        for name, item in status.items():
            said = api[name]
            assert (said["stage"], said["temporary"], said["note"]) == (
                item.stage,
                item.temporary,
                item.note,
            ), (name, limit)
    return api


def test_the_api_notes_each_identity_as_status_does(service: Service, tmp_path: Path) -> None:
    outside = OutsideCA.make()
    dep = ccapki.parse_deployment(FAQ.read_text() + EXTRA, "faq-extra.toml")
    with ccapki.open_store(service.home, clock=lambda: NOW) as store:
        ccapki.apply(store, dep, path="faq-extra.toml")
        # cas-tp: the CA's answer to its CSR, 40 days long: in the 60-day stage
        (first,) = ccapki.make_csrs(store, dep, "cas-tp")
        answer = outside.sign_csr(first.csr, days=40)
        chain = b"".join(pem(c) for c in (answer, *outside.chain))
        ccapki.import_files(store, dep, [write(tmp_path / "cas-tp.pem", chain)])
        # cas-old: the appliance's own install-time certificate, taken with its key
        own = mint(
            "cas-old.example.edu",
            san=["cas-old.example.edu", "10.40.0.22"],
            start=NOW - 200 * DAY,
            days=1826,
        )
        files = [
            write(tmp_path / "cas-old.pem", pem(own.cert)),
            write(tmp_path / "cas-old.key", key_pem(own.key)),
        ]
        ccapki.import_files(store, dep, files)

    api = _agree(service)
    assert api["cas-tp"]["stage"] == "60"
    assert "make its CSR" in str(api["cas-tp"]["note"])  # nothing at the CA yet
    # the appliance's own certificate is temporary; the one ccapki issued is self-signed
    assert api["cas-old"]["temporary"] is True
    assert "temporary: the appliance's own install-time certificate" in str(api["cas-old"]["note"])
    assert api["cas-own"]["temporary"] is False
    assert "temporary" not in str(api["cas-own"]["note"]).lower()
    assert "true self-signed, issued by ccapki" in str(api["cas-own"]["note"])
    # the dashboard's inventory marks the adopted one alone
    web = service.client()
    assert login(web, "viewer", PASSWORDS["viewer"]).status_code in (200, 303)
    page = web.get("/inventory", params={"deployment": DEPLOYMENT}, follow_redirects=True)
    assert page.status_code == 200, page.text
    badge = ' <span class="st st-warn">temporary</span>'
    assert f"cas-old{badge}" in page.text
    assert f"cas-own{badge}" not in page.text
    assert page.text.count(badge) == 1

    with ccapki.open_store(service.home, clock=lambda: NOW) as store:
        ccapki.make_csrs(store, dep, "cas-tp")  # its renewal: the CSR now awaits the CA
    api = _agree(service)
    assert "make its CSR" not in str(api["cas-tp"]["note"])

    # cas-own no longer in the file: kept, unused, on its page as in status
    dropped = FAQ.read_text() + EXTRA.replace(
        'name = "cas-own"\nhostname = "cas-own.example.edu"\nip = "10.40.0.21"\n', ""
    ).replace('[[cas]]\nsource = "self-signed"\n', "")
    smaller = ccapki.parse_deployment(dropped, "faq-smaller.toml")
    assert "cas-own" not in {i.name for i in smaller.identities}
    with ccapki.open_store(service.home, clock=lambda: NOW) as store:
        ccapki.apply(store, smaller, path="faq-smaller.toml")
    api = _agree(service)
    assert str(api["cas-own"]["note"]).startswith("unused: not in the deployment file")
