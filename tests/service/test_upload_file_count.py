"""One limit on the files of one upload, the import API's and the dashboard's (walkthrough:
the API refused 33 files, "upload at most 32 at once", where the dashboard took 50): the
same number, the same status and the same error and hint in both."""

from __future__ import annotations

import html

from ccapki.service.config import MAX_UPLOAD_FILES
from kit.service import DEPLOYMENT, PASSWORDS, Service, login


def test_the_api_and_the_dashboard_take_as_many_files_and_refuse_one_more_alike(
    service: Service,
) -> None:
    api = service.client("operator")
    pem = api.get(f"/api/v1/deployments/{DEPLOYMENT}/identities/cas-dorm/cert").content
    assert pem.startswith(b"-----BEGIN CERTIFICATE-----")

    def files(n: int) -> list[tuple[str, tuple[str, bytes, str]]]:
        return [("files", (f"cert{i}.pem", pem, "application/x-pem-file")) for i in range(n)]

    error = f"{MAX_UPLOAD_FILES + 1} files uploaded: at most {MAX_UPLOAD_FILES} in one upload"
    hint = (
        f"split them over several uploads of at most {MAX_UPLOAD_FILES} files, each "
        "certificate with its key"
    )
    # the import API: the limit itself is taken (the certificate is held already) ...
    path = f"/api/v1/deployments/{DEPLOYMENT}/import"
    r = api.post(path, files=files(MAX_UPLOAD_FILES))
    assert r.status_code == 200, r.text
    assert r.json()["held"], r.text
    # ... one more is a 400 problem with the error and hint of every endpoint
    r = api.post(path, files=files(MAX_UPLOAD_FILES + 1))
    assert r.status_code == 400, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert (body["type"], body["error"], body["hint"]) == (
        "https://ccapki.invalid/problems/bad-input",
        error,
        hint,
    )

    # the dashboard's upload: the same limit, status and words
    browser = service.client(headers={"Accept": "text/html"})
    assert login(browser, "operator", PASSWORDS["operator"]).status_code == 303  # a form
    csrf = browser.get("/api/v1/me").json()["csrf_token"]
    page = browser.get("/certificates")
    assert f"at most {MAX_UPLOAD_FILES} files at once" in page.text
    r = browser.post("/upload", data={"csrf_token": csrf}, files=files(MAX_UPLOAD_FILES))
    assert r.status_code == 200, r.text
    assert 'id="upload-result"' in r.text
    r = browser.post("/upload", data={"csrf_token": csrf}, files=files(MAX_UPLOAD_FILES + 1))
    assert r.status_code == 400, r.text
    text = html.unescape(r.text)
    assert f"error:</strong> {error}" in text
    assert f"hint: {hint}" in text
