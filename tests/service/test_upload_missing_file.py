"""A script posting ``/upload`` (or the API's import) without the ``files`` field hears
which form field is missing and how to send it (walkthrough: the problem only pointed at
/openapi.json)."""

from __future__ import annotations

from kit.service import Service


def test_upload_without_a_file_names_the_field_and_shows_curl(service: Service) -> None:
    c = service.client("operator")
    dep = c.get("/api/v1/deployments").json()[0]["name"]
    for path, data in (
        ("/upload", {"password": "x"}),  # a form, but no file in it
        ("/upload", None),  # no body at all
        (f"/api/v1/deployments/{dep}/import", {"force": "true"}),
    ):
        r = c.post(path, data=data)
        assert r.status_code == 422, r.text
        assert r.headers["content-type"] == "application/problem+json"
        body = r.json()
        assert body["error"] == "no file uploaded: the multipart/form-data field `files` is missing"
        assert body["hint"] == (
            "send each file as a `files` field of a multipart/form-data body, e.g. "
            "curl -H 'Authorization: Bearer TOKEN' -F files=@cert.pem -F files=@key.pem "
            f"{service.url.rstrip('/')}{path}"
        ), body
        assert "openapi" not in body["hint"]


def test_other_mistakes_still_get_the_general_answer(service: Service) -> None:
    c = service.client("operator")
    dep = c.get("/api/v1/deployments").json()[0]["name"]
    # no file and an identity too long: both named, as before
    r = c.post(f"/api/v1/deployments/{dep}/import", data={"identity": "x" * 300})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert "body.files: Field required" in error, error
    assert "body.identity" in error, error
