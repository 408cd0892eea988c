"""The REST API's key export of an earlier version (`"version": N`): undoing a renewal or
a reissue is installing the earlier version again."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

import ccapki
from kit.certs import NOW
from kit.service import DEPLOYMENT, Service


def _spki(key_or_cert: object) -> bytes:
    public = key_or_cert.public_key()  # type: ignore[attr-defined]
    return bytes(
        public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def test_the_rest_api_exports_an_earlier_version(service: Service) -> None:
    home: Path = service.home
    with ccapki.open_store(home, clock=lambda: NOW) as store:
        dep = ccapki.stored_deployment(store)
        plan = ccapki.plan_renewal(store, dep, names=["cam"], due=False)
        ccapki.commit_renewal(store, dep, plan)
        v1, v2 = store.identities.history("cam")
    assert v1.spki != v2.spki
    api = f"/api/v1/deployments/{DEPLOYMENT}/identities/cam"
    c = service.client("admin")
    body = {"format": "pkcs12", "password": "export-pw-123"}
    r = c.post(f"{api}/export", json={**body, "version": 1})
    assert r.status_code == 200, r.text
    key, cert, _ = pkcs12.load_key_and_certificates(r.content, b"export-pw-123")
    assert cert == v1.certificate
    assert key is not None
    assert _spki(key) == _spki(v1.certificate)
    now = c.post(f"{api}/export", json=body)
    assert pkcs12.load_key_and_certificates(now.content, b"export-pw-123")[1] == v2.certificate
    missing = c.post(f"{api}/export", json={**body, "version": 9})
    assert missing.status_code == 404, missing.text
    assert "no version 9" in missing.text
    assert c.post(f"{api}/export", json={"format": "key", "version": 0}).status_code == 422
