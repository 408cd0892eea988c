"""One limit on the size of an uploaded file, the import API's and the dashboard's
(walkthrough G: 1 MiB per file through the import API, "upload it alone, or check it is a
certificate", but 16 MiB, the file parser's limit, through the dashboard's upload, with
the parser's words): the same number, status, error and hint in both."""

from __future__ import annotations

import html

from ccapki.service.config import MAX_UPLOAD_FILE_BYTES
from kit.service import DEPLOYMENT, PASSWORDS, Service, login


def test_the_api_and_the_dashboard_refuse_a_file_one_byte_too_large_alike(
    service: Service,
) -> None:
    api = service.client("operator")
    pem = api.get(f"/api/v1/deployments/{DEPLOYMENT}/identities/cas-dorm/cert").content
    assert pem.startswith(b"-----BEGIN CERTIFICATE-----")
    # PEM allows text around its blocks: the limit itself is taken, one byte more is not
    at_limit = pem + b"#" * (MAX_UPLOAD_FILE_BYTES - len(pem) - 1) + b"\n"
    assert len(at_limit) == MAX_UPLOAD_FILE_BYTES
    over = at_limit + b"\n"

    def files(data: bytes) -> list[tuple[str, tuple[str, bytes, str]]]:
        return [("files", ("big.pem", data, "application/x-pem-file"))]

    kib = MAX_UPLOAD_FILE_BYTES // 1024
    error = (
        f"big.pem is larger than {kib} KiB ({MAX_UPLOAD_FILE_BYTES} bytes): at most that per "
        "uploaded file"
    )

    path = f"/api/v1/deployments/{DEPLOYMENT}/import"
    r = api.post(path, files=files(at_limit))
    assert r.status_code == 200, r.text
    r = api.post(path, files=files(over))
    assert r.status_code == 400, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert (body["type"], body["error"]) == ("https://ccapki.invalid/problems/bad-input", error)
    hint = body["hint"]
    assert "PKCS#12" in hint, hint

    browser = service.client(headers={"Accept": "text/html"})
    assert login(browser, "operator", PASSWORDS["operator"]).status_code == 303
    csrf = browser.get("/api/v1/me").json()["csrf_token"]
    page = browser.get("/certificates")
    assert f"each at most {kib} KiB" in page.text
    r = browser.post("/upload", data={"csrf_token": csrf}, files=files(at_limit))
    assert r.status_code == 200, r.text
    assert 'id="upload-result"' in r.text
    r = browser.post("/upload", data={"csrf_token": csrf}, files=files(over))
    assert r.status_code == 400, r.text
    text = html.unescape(r.text)
    assert f"error:</strong> {error}" in text
    assert f"hint: {hint}" in text
