"""Defects a new admin's walkthrough of the dashboard found (issue 13): the Apply button
redirects (303) instead of leaving the browser on a POST a reload would send again; the
upload page's hints speak of the web form, not the CLI's options (and the API's of its
fields); amber says "passes with a warning" and speaks of renewal only for expiry."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12

from ccapki.lifecycle.trustops import Cell, Matrix
from ccapki.service.svg import deployment_svg, warn_words
from ccapki.topology.model import Channel
from kit.dashboard import BROKEN, Estate, WebClient, make_app, serve


@pytest.fixture
def operator(estate: Estate) -> Iterator[WebClient]:
    with serve(make_app(estate)) as url, WebClient(url) as c:
        yield c.login("otto")


def test_applying_the_trust_plan_redirects_to_the_trust_page_with_its_result(
    operator: WebClient, estate: Estate
) -> None:
    r = operator.http.post("/trust/apply", data={"csrf_token": operator.csrf})
    assert r.status_code == 303, r.text[:300]
    location = r.headers["location"]
    assert location.startswith("/trust?")
    page = operator.http.get(location)  # what a reload shows: no form sent again
    assert page.status_code == 200
    assert "Applied:" in page.text
    assert "done: " in page.text
    assert BROKEN in page.text
    assert "<script>" not in page.text
    # a reload of the result page changes nothing more
    again = operator.http.get(location)
    assert "Applied:" in again.text


def _p12(password: bytes | None) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    enc = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return pkcs12.serialize_key_and_certificates(b"x", key, None, None, enc)


def test_upload_hints_speak_of_the_form_and_the_api_of_its_fields(
    operator: WebClient, estate: Estate
) -> None:
    r = operator.http.post(
        "/upload",
        files=[("files", ("clinic.pfx", _p12(b"secret-pass")))],
        data={"csrf_token": operator.csrf},
    )
    assert "protected by a password" in r.text
    assert "--password" not in r.text
    assert "in the PKCS#12 or key password field" in r.text
    # (a certificate without its key: see test_web.py's bad upload, in the form's words)


def test_upload_hints_of_the_api_name_its_fields(estate: Estate) -> None:
    from ccapki.service.web import upload_hint

    cli = "give the export password (--password, or answer the prompt)"
    assert "`password`" in upload_hint(cli, api=True)
    assert "--password" not in upload_hint(cli, api=True)
    key_only = "import it together with the certificate: ccapki import CERT --key KEYFILE"
    assert "`files`" in upload_hint(key_only, api=True)
    assert "ccapki import" not in upload_hint(key_only, api=True)
    assert "ccapki import" not in upload_hint(key_only, api=False)


def test_amber_says_passes_with_a_warning_and_renew_only_for_expiry(estate: Estate) -> None:
    lint = "CA Outside Root has no keyUsage extension (web-PKI clients may refuse it)"
    expiring = (
        "identity certificate cam.example.edu expires on 2026-12-01: 3 days left (inside its "
        "30 days renewal window)"
    )
    assert warn_words([lint]) == "passes with a warning"
    assert "renew" in warn_words([expiring])
    assert "renew" in warn_words([lint, expiring])
    where = "cas-annex"  # a standalone CAS: its agent channel is a dot of its box
    linted = Matrix([Cell(where, Channel.AGENT, True, warnings=(lint,))])
    svg = deployment_svg(estate.deployment, linted)
    assert f"{where} agent: passes with a warning\n{lint}" in svg
    assert "due for renewal" not in svg
    assert "renew soon" not in svg
    due = Matrix([Cell(where, Channel.AGENT, True, warnings=(expiring,))])
    assert f"{where} agent: passes with a warning: a certificate is due for renewal" in (
        deployment_svg(estate.deployment, due)
    )
