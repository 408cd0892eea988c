"""The JSON API: the facade's answers over HTTP, problem details, the audited key export,
the CSR -> certificate round trip with the CLI's diagnoses, OpenAPI."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, pkcs12

import ccapki
from ccapki.errors import ConflictError
from ccapki.service.app import create_app
from ccapki.store.records import Role
from ccapki.store.session import Store
from kit.certs import NOW, OutsideCA, pem
from kit.cli import FAQ
from kit.service import DEPLOYMENT, Service, config_for, running

D = DEPLOYMENT
API = f"/api/v1/deployments/{D}"
PROBLEM = "application/problem+json"


def _problem(r: httpx.Response, status: int) -> dict[str, object]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    body = r.json()
    assert isinstance(body, dict)
    assert set(body) >= {"type", "title", "status", "detail", "error", "hint"}
    assert body["status"] == status
    assert body["detail"] == body["error"]
    assert str(body["type"]).startswith("https://")
    assert "Traceback" not in r.text
    assert 'File "' not in r.text
    return body


# ---------------------------------------------------------------------------- reads


def test_the_inventory_and_inspect_match_the_store(service: Service) -> None:
    c = service.client("viewer")
    listed = c.get(f"{API}/identities").json()["items"]
    with ccapki.open_store(service.home, clock=lambda: NOW) as store:
        current = store.identities.current()
    assert {i["name"] for i in listed} == set(current)
    for item in listed:
        ident = current[item["name"]]
        assert item["fingerprint"] == ident.fingerprint
        assert item["days_left"] == (ident.not_after - NOW).days
    one = c.get(f"{API}/identities/cas-dorm").json()
    assert one["name"] == "cas-dorm"
    assert one["version"] == 1
    leaf, issuer, *_root = one["certificates"]
    assert leaf["sha256"].replace(":", "").lower() == current["cas-dorm"].fingerprint
    assert leaf["signed_by"]
    assert issuer["is_ca"] is True
    # an appliance name means its identity, as on the command line
    assert c.get(f"{API}/identities/cas-dorm-a").json()["name"] == "cas-dorm"


def test_public_parts_download_and_never_a_key(service: Service) -> None:
    c = service.client("viewer")
    cert = c.get(f"{API}/identities/cas-dorm/cert")
    assert cert.headers["content-type"] == "application/x-pem-file"
    parsed = x509.load_pem_x509_certificate(cert.content)
    der = c.get(f"{API}/identities/cas-dorm/cert", params={"encoding": "der"})
    assert x509.load_der_x509_certificate(der.content) == parsed
    full = c.get(f"{API}/identities/cas-dorm/fullchain").content
    assert len(x509.load_pem_x509_certificates(full)) == 2
    for r in (cert, der, c.get(f"{API}/identities/cas-dorm/chain")):
        assert b"PRIVATE KEY" not in r.content
    refused = _problem(c.get(f"{API}/identities/cas-dorm/chain", params={"encoding": "der"}), 400)
    # the hint names the route that answers (a walkthrough: "ask for part=cert", a
    # parameter no route has)
    assert "part=" not in str(refused["hint"])
    assert "/identities/cas-dorm/cert?encoding=der" in str(refused["hint"])
    _problem(c.get(f"{API}/identities/cas-dorm/key"), 422)  # not a public part


def test_trust_check_plan_rotation_status(service: Service) -> None:
    c = service.client("viewer")
    matrix = c.get(f"{API}/trust/check").json()
    assert matrix["ok"] is True
    assert {cell["status"] for cell in matrix["cells"]} <= {"pass", "n/a"}
    assert c.get(f"{API}/trust/plan").json() == []
    rot = c.get(f"{API}/trust/rotation", params={"identity": "cam", "to_source": "self-signed"})
    assert rot.status_code == 200, rot.text
    assert rot.json()["steps"]
    _problem(
        c.get(
            f"{API}/trust/rotation", params={"identity": "cas-clinic", "to_source": "third-party"}
        ),
        400,
    )
    status = c.get("/api/v1/status").json()
    assert status["exit_code"] == 0
    assert status["now"] == NOW.isoformat()
    assert {i["name"] for i in status["items"] if i["kind"] == "identity"} >= {"cam", "cas-dorm"}
    renew = c.get(f"{API}/renew/plan").json()
    assert renew["items"] == []


# ---------------------------------------------------------------------------- problems


def test_not_found_is_a_problem_with_the_cli_hint(service: Service) -> None:
    c = service.client("viewer")
    body = _problem(c.get(f"{API}/identities/nope"), 404)
    assert "nope" in str(body["error"])
    assert body["hint"]
    body = _problem(c.get("/api/v1/deployments/other/plan"), 404)
    assert body["error"] == "this store holds no deployment 'other' (it holds: faq-campus)"
    assert "ccapki deployments" in str(body["hint"])
    body = _problem(c.get("/api/v1/no-such-route"), 404)
    assert body["instance"] == "/api/v1/no-such-route"


def test_validation_errors_are_422_problems(service: Service) -> None:
    c = service.client("admin")
    body = _problem(c.post("/api/v1/users", json={"name": "x"}), 422)
    assert str(body["error"]).startswith("invalid request: body.role")
    # not JSON at all: 400, as docs/service.md says (tests/service/test_problems.py)
    body = _problem(
        c.post("/api/v1/users", content=b"{not json", headers={"content-type": "application/json"}),
        400,
    )
    _problem(c.get("/api/v1/audit", params={"limit": "lots"}), 422)


def test_a_malformed_upload_is_a_problem_naming_the_file(service: Service) -> None:
    c = service.client("operator")
    bad = b"-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n"
    r = c.post(f"{API}/import", files={"files": ("returned.pem", bad)})
    body = _problem(r, 422)
    assert str(body["error"]).startswith("returned.pem: ")
    assert body["hint"]
    assert "/tmp" not in r.text
    assert "ccapki-upload" not in r.text
    assert body["type"] == "https://ccapki.invalid/problems/bad-file"


def test_csr_then_certificate_upload_round_trip(service: Service, outside: OutsideCA) -> None:
    c = service.client("operator")
    made = c.post(f"{API}/csrs", json={"identities": ["cas-clinic"]})
    assert made.status_code == 200, made.text
    (csr_out,) = made.json()
    # an internal identity's CSR: nothing a public CA refuses is said of it
    assert csr_out["warnings"] == []
    csr = x509.load_pem_x509_csr(c.get(f"{API}/csrs/cas-clinic").content)
    assert csr.public_bytes(Encoding.PEM).decode() == csr_out["pem"]
    # a certificate whose key the store never made: the CLI's "private key not found"
    spec = ccapki.load_deployment(FAQ).identity("cas-clinic")
    stranger = ec.generate_private_key(ec.SECP256R1()).public_key()
    wrong = outside.sign(csr.subject, stranger, dns=spec.dns_names)
    body = _problem(
        c.post(
            f"{API}/import",
            files={"files": ("clinic.pem", pem(wrong) + b"".join(pem(x) for x in outside.chain))},
        ),
        422,
    )
    assert "private key not found for clinic.pem" in str(body["error"])
    assert body["type"] == "https://ccapki.invalid/problems/private-key-not-found"
    # the CA's answer to the CSR: imported on the pending key
    cert = outside.sign_csr(csr)
    ok = c.post(
        f"{API}/import",
        files=[
            ("files", ("clinic.pem", pem(cert))),
            ("files", ("chain.pem", b"".join(pem(x) for x in outside.chain))),
        ],
    )
    assert ok.status_code == 200, ok.text
    (imported,) = ok.json()["identities"]
    assert imported["identity"] == "cas-clinic"
    assert imported["key_from"] == "store"
    with ccapki.open_store(service.home, clock=lambda: NOW) as store:
        assert store.identities.get("cas-clinic").certificate == cert  # type: ignore[union-attr]
        entry = next(e for e in store.audit.log(50) if e.action == "csr")
        assert entry.actor == "operator"


# ---------------------------------------------------------------------------- keys


def test_key_export_is_admin_only_and_audited_with_who(service: Service) -> None:
    c = service.client("admin")
    r = c.post(
        f"{API}/identities/cam/export", json={"format": "pkcs12", "password": "export-pw-123"}
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/x-pkcs12"
    assert r.headers["cache-control"] == "no-store"
    key, cert, _chain = pkcs12.load_key_and_certificates(r.content, b"export-pw-123")
    assert key is not None
    assert cert is not None
    with ccapki.open_store(service.home, clock=lambda: NOW) as store:
        assert cert == store.identities.get("cam").certificate  # type: ignore[union-attr]
        (entry,) = [e for e in store.audit.log(50) if e.action == "key-export"]
    assert entry.actor == "admin"  # who
    assert entry.subject == "cam"
    assert entry.detail["format"] == "pkcs12"
    assert entry.detail["version"] == 1
    assert entry.deployment == D
    assert entry.at == NOW  # when
    assert "admin at 127.0.0.1" in str(entry.detail["path"])
    # refused without a password for PKCS#12, and for everyone else
    _problem(c.post(f"{API}/identities/cam/export", json={"format": "pkcs12"}), 400)
    for role in ("viewer", "operator"):
        r = service.client(role).post(f"{API}/identities/cam/export", json={"format": "key"})
        assert r.status_code == 403
        assert b"PRIVATE KEY" not in r.content
    with ccapki.open_store(service.home, clock=lambda: NOW) as store:
        assert len([e for e in store.audit.log(50) if e.action == "key-export"]) == 1


# ---------------------------------------------------------------------------- writes


def test_apply_is_a_job_and_a_dry_run_answers_at_once(service: Service) -> None:
    c = service.client("operator")
    text = FAQ.read_text().replace('name = "faq-campus"', 'name = "second"', 1)
    dry = c.post("/api/v1/deployments", json={"text": text, "dry_run": True})
    assert dry.status_code == 200, dry.text
    assert dry.json()["dry_run"] is True
    assert len(dry.json()["actions"]) == 6
    queued = c.post("/api/v1/deployments", json={"text": text, "path": "second.toml"})
    assert queued.status_code == 202, queued.text
    job = queued.json()
    assert queued.headers["location"] == f"/api/v1/jobs/{job['id']}"
    assert job["kind"] == "apply"
    assert job["state"] == "queued"
    assert job["created_by"] == "operator"
    assert job["deployment"] == "second"
    broken = c.post("/api/v1/deployments", json={"text": "[deployment\nname=", "path": "x.toml"})
    body = _problem(broken, 422)
    assert str(body["error"]).startswith("x.toml")


def test_users_through_the_api(service: Service) -> None:
    c = service.client("admin")
    r = c.post(
        "/api/v1/users", json={"name": "nia", "role": "operator", "password": "nia-password-1"}
    )
    assert r.status_code == 201
    assert r.json()["role"] == "operator"
    _problem(c.post("/api/v1/users", json={"name": "nia", "role": "viewer"}), 409)
    _problem(
        c.post("/api/v1/users", json={"name": "short", "role": "viewer", "password": "x"}), 422
    )
    assert c.patch("/api/v1/users/nia", json={"role": "viewer"}).json()["role"] == "viewer"
    # not itself: the only admin, refused as the last one (409)
    _problem(c.patch("/api/v1/users/admin", json={"role": "viewer"}), 409)
    _problem(c.patch("/api/v1/users/ghost", json={"role": "viewer"}), 404)
    names = {u["name"]: u for u in c.get("/api/v1/users").json()}
    assert names["nia"]["role"] == "viewer"
    assert "password" not in json.dumps(names)
    assert "argon2" not in json.dumps(names)


# ---------------------------------------------------------------------------- OpenAPI


def test_openapi_describes_every_route(service: Service) -> None:
    spec = service.client().get("/openapi.json").json()
    assert spec["info"]["title"] == "ccapki"
    api_paths = [p for p in spec["paths"] if p.startswith("/api/v1/")]
    assert len(api_paths) >= 25
    for path in api_paths:
        for method, op in spec["paths"][path].items():
            where = f"{method.upper()} {path}"
            assert op.get("summary"), where
            assert op.get("tags"), where
            ok = [code for code in op["responses"] if code.startswith("2")]
            assert ok, where
            assert any(op["responses"][code].get("content") or code == "204" for code in ok), where
            if path != "/api/v1/health":
                assert "401" in op["responses"], where
                assert "403" in op["responses"], where
    assert "Problem" in spec["components"]["schemas"]


def test_a_busy_store_is_a_503_with_retry_after(
    service_home: tuple[Path, dict[str, str]],
) -> None:
    """Another writer holds the store's write lock longer than the service waits."""
    home, tokens = service_home
    app = create_app(config_for(home, wait=0.3))
    other = Store.open(home, clock=lambda: NOW)
    with (
        running(app) as url,
        httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {tokens['operator']}"}, timeout=60
        ) as c,
        other,
    ):
        assert c.get("/api/v1/me").status_code == 200  # the token's use noted (to the minute)
        with other.transaction():  # the lock, held by another session of the store
            r = c.post(f"{API}/trust/apply", json={})
        body = _problem(r, 503)
        assert r.headers["retry-after"] == "5"
        assert "gave up waiting" in str(body["error"])
        assert c.post(f"{API}/trust/apply", json={}).status_code == 200  # free again


def test_an_unexpected_error_is_a_500_problem_without_traceback(
    service_home: tuple[Path, dict[str, str]],
) -> None:
    home, _ = service_home
    app = create_app(config_for(home))

    def broken() -> None:
        raise RuntimeError("secret internals /etc/ccapki")

    app.add_api_route("/api/v1/broken", broken)
    with running(app) as url, httpx.Client(base_url=url) as c:
        r = c.get("/api/v1/broken")
    body = _problem(r, 500)
    assert body["error"] == "internal error (RuntimeError)"
    assert "ccapki bug" in str(body["hint"])
    assert "secret internals" not in r.text


# ---------------------------------------------------------------------------- problem hints


def test_an_unparsable_body_is_a_problem_with_a_hint(service: Service) -> None:
    c = service.client("operator")
    for content in (b"\xff\xfe\xfa not utf-8", b"{not json"):
        r = c.post(
            "/api/v1/deployments", content=content, headers={"content-type": "application/json"}
        )
        assert r.status_code in (400, 422), r.text
        body = _problem(r, r.status_code)
        assert body["hint"], body


def test_404_and_405_point_to_what_exists(service: Service) -> None:
    c = service.client("viewer")
    for r in (c.get("/api/v1/nothing-here"), c.put("/api/v1/deployments")):
        hint = str(_problem(r, r.status_code)["hint"])
        assert "/docs " not in hint, hint
        assert not hint.endswith("/docs"), hint
        assert "/openapi.json" in hint
        assert "docs/service.md" in hint
        assert c.get("/docs").status_code == 404  # by design: no inline-script page
    for method in ("PUT", "OPTIONS", "DELETE"):
        r = c.request(method, "/api/v1/deployments")
        _problem(r, 405)
        allowed = {m.strip() for m in r.headers["allow"].split(",")}
        assert allowed >= {"GET", "POST"}, r.headers["allow"]


def test_user_names_are_unique_whatever_their_case(service: Service) -> None:
    c = service.client("admin")
    r = c.post("/api/v1/users", json={"name": "Nia", "role": "viewer"})
    assert r.status_code == 201, r.text
    for name in ("Nia", "nia", "NIA"):
        body = _problem(c.post("/api/v1/users", json={"name": name, "role": "viewer"}), 409)
        assert "'Nia'" in str(body["error"])  # the stored spelling
    assert [u["name"] for u in c.get("/api/v1/users").json()].count("Nia") == 1


def test_the_last_active_admin_cannot_be_demoted_or_disabled(service: Service) -> None:
    c = service.client("admin")
    assert c.post("/api/v1/users", json={"name": "zed", "role": "admin"}).status_code == 201
    zed = service.store.users.get("zed")
    # another admin may demote zed: one admin (admin) is left
    assert c.patch("/api/v1/users/zed", json={"disabled": True}).status_code == 200
    store = service.store.fork(actor="zed")
    try:
        with pytest.raises(ConflictError) as caught:
            store.users.update("admin", role=Role.VIEWER)
        assert caught.value.hint
        with pytest.raises(ConflictError):
            store.users.update("admin", disabled=True)
    finally:
        store.close()
    assert zed.role is Role.ADMIN
    assert service.store.users.get("admin").role is Role.ADMIN


def test_a_csr_naming_a_private_address_comes_with_the_warning_the_cli_gives(
    service: Service,
) -> None:
    from kit.cli import THIRD_PARTY_TP

    # applied beside the service (through it, an apply is a job for a runner)
    with ccapki.open_store(service.home, clock=lambda: NOW) as store:
        ccapki.apply(store, ccapki.parse_deployment(THIRD_PARTY_TP, "tp.toml"))
    c = service.client("operator")
    made = c.post("/api/v1/deployments/tp/csrs", json={"identities": ["cas-tp"]})
    assert made.status_code == 200, made.text
    (csr_out,) = made.json()
    (warning,) = csr_out["warnings"]
    assert warning.startswith(
        "the CSR of cas-tp names a private or reserved IP address (10.9.0.2), which a public "
        "CA refuses"
    ), warning
    assert "san_ips = false" in warning
