"""A request body that is not JSON is a 400, as docs/service.md says ("a body that is not
UTF-8 JSON ... 400"); walkthrough: broken JSON was a 422 "body.9: JSON decode error"."""

from __future__ import annotations

from kit.service import Service


def test_broken_json_is_a_400_saying_so(service: Service) -> None:
    c = service.client("operator")
    for content in (b'{"text": ', b"not json", b"\xff\xfe not utf-8"):
        r = c.post(
            "/api/v1/deployments", content=content, headers={"content-type": "application/json"}
        )
        assert r.status_code == 400, r.text
        assert r.headers["content-type"] == "application/problem+json"
        body = r.json()
        assert body["status"] == 400
        assert "JSON" in body["error"], body
        assert "Content-Type: application/json" in body["hint"], body
    r = c.post("/api/v1/deployments", json=[1, 2])  # JSON, but not what the route takes
    assert r.status_code == 422, r.text
