"""The dashboard over httpx (a real uvicorn on 127.0.0.1 serving the app over a real store):
every page renders for a viewer, forms need the session's CSRF token and the role, the
trust plan's Apply works and is audited, an upload shows the CLI's diagnoses, and no page
holds inline script (the CSP forbids it)."""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest
from cryptography import x509

import ccapki
from ccapki.pki.certs import fingerprint
from ccapki.service.svg import WIDTH, deployment_svg, expiry_timeline_svg, link_status
from kit.certs import NOW, OutsideCA, pem
from kit.cli import deployment, standalone
from kit.dashboard import BROKEN, THIRD_PARTY, Estate, WebClient

PAGES = ["/", "/inventory", "/trust", "/certificates", "/probes", "/audit", "/jobs"]
SVG = "{http://www.w3.org/2000/svg}"


def client(app: str, name: str | None = None) -> WebClient:
    c = WebClient(app)
    return c.login(name) if name else c


@pytest.fixture
def viewer(app: str) -> Iterator[WebClient]:
    with client(app, "vera") as c:
        yield c


@pytest.fixture
def operator(app: str) -> Iterator[WebClient]:
    with client(app, "otto") as c:
        yield c


def no_inline_code(html: str) -> None:
    """No inline script, no event-handler attribute, no style attribute or element."""
    for tag in re.findall(r"<script\b[^>]*>", html, re.I):
        assert re.search(r"\bsrc=", tag), f"inline script: {tag}"
    assert not re.search(r"<script\b[^>]*>[^<]*\S[^<]*</script>", html, re.I), "a script body"
    assert not re.search(r"\son[a-z]+\s*=", html, re.I), "an inline event handler"
    assert not re.search(r"\sstyle\s*=", html, re.I), "an inline style attribute"
    assert "<style" not in html.lower()
    assert "javascript:" not in html.lower()


def check_csp(headers: object) -> None:
    csp = headers["content-security-policy"]  # type: ignore[index]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp


# ---------------------------------------------------------------------------- pages


def test_pages_need_a_login(app: str) -> None:
    with client(app) as c:
        needs_login(c)


def needs_login(c: WebClient) -> None:
    for path in PAGES:
        r = c.http.get(path)
        assert r.status_code == 303, path
        assert r.headers["location"].startswith("/login?next=")
    page = c.http.get("/login")
    assert page.status_code == 200
    check_csp(page.headers)
    no_inline_code(page.text)
    assert "ccapki_login_csrf" in page.headers["set-cookie"]
    assert "HttpOnly" in page.headers["set-cookie"]


def test_wrong_password_shows_the_login_form_again(app: str) -> None:
    with client(app) as c:
        wrong_password(c)


def wrong_password(c: WebClient) -> None:
    page = c.http.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    r = c.http.post(
        "/login", data={"name": "vera", "password": "not-it-at-all", "csrf_token": token[1]}
    )
    assert r.status_code == 303
    assert r.headers["location"] == "/login?error=invalid"
    again = c.http.get(r.headers["location"])
    assert "wrong name or password" in again.text


def test_every_page_renders_for_a_viewer(viewer: WebClient, estate: Estate) -> None:
    expected = {
        "/": ["faq-campus", "deployment-picture", "Soonest expiries"],
        "/inventory": ["Expiry timeline", "expiry-timeline", "cas-dorm"],
        "/trust": ["Every channel, every appliance", "Trust plan", "cam-cas"],
        "/certificates": ["Make a CSR", THIRD_PARTY, "needs the operator role"],
        "/probes": ["What the appliances serve", "no probe recorded yet"],
        "/audit": ["Audit log", "trust-remove"],
        "/jobs": ["Background jobs"],
    }
    for path in PAGES:
        r = viewer.http.get(path)
        assert r.status_code == 200, (path, r.text[:500])
        assert r.headers["content-type"].startswith("text/html")
        check_csp(r.headers)
        no_inline_code(r.text)
        for text in expected[path]:
            assert text in r.text, (path, text)
        assert "Traceback" not in r.text
    # a viewer sees no Apply button, and the page says why
    trust = viewer.http.get("/trust").text
    assert 'id="apply-trust"' not in trust
    assert "Applying needs the operator role" in trust
    for asset in ("style.css", "app.js", "favicon.svg"):
        r = viewer.http.get(f"/static/{asset}")
        assert r.status_code == 200, asset
    assert viewer.http.get("/static/..%2Fweb.py").status_code == 404


def test_the_picture_draws_the_broken_links_red(viewer: WebClient, estate: Estate) -> None:
    r = viewer.http.get("/picture.svg")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("image/svg+xml")
    root = ET.fromstring(r.content)
    assert root.get("viewBox", "").startswith(f"0 0 {WIDTH} ")
    links = {}
    for g in root.iter(f"{SVG}g"):
        classes = g.get("class", "").split()
        if "cam-cas" in classes:
            title = g.find(f"{SVG}title")
            assert title is not None
            assert title.text
            appliance = title.text.split(" \u2194 ")[1].split(" ")[0]
            links[appliance] = next(c for c in classes if c.startswith("st-"))
    assert links[BROKEN] == "st-fail"  # its trust store was emptied
    assert links[THIRD_PARTY] == "st-fail"  # no certificate yet
    assert links["cas-dorm-a"] == "st-pass"
    assert sorted(links) == sorted(a.name for s in estate.deployment.cas for a in s.members)


# ---------------------------------------------------------------------------- forms


def test_forms_are_refused_without_the_csrf_token(operator: WebClient, estate: Estate) -> None:
    posts: list[tuple[str, dict[str, str]]] = [
        ("/trust/apply", {}),
        ("/csr", {"identity": THIRD_PARTY}),
        ("/probe", {}),
        ("/jobs/1/cancel", {}),
        ("/logout", {}),
    ]
    for path, data in posts:
        for token in (None, "not-the-token"):
            form = dict(data) if token is None else {**data, "csrf_token": token}
            r = operator.http.post(path, data=form)
            assert r.status_code == 403, (path, token, r.text[:300])
            assert "CSRF" in r.text
            no_inline_code(r.text)
    r = operator.http.post("/upload", files={"files": ("x.pem", b"x")}, data={"csrf_token": "nope"})
    assert r.status_code == 403
    # nothing happened: the trust plan is still to do, the session still alive
    page = operator.http.get("/trust")
    assert page.status_code == 200
    assert 'id="plan-list"' in page.text
    with estate.open() as store:
        assert {e.action for e in store.audit.log(50) if e.actor == "otto"} == {"login"}


def test_a_viewer_may_not_apply_the_trust_plan(viewer: WebClient) -> None:
    r = viewer.http.post("/trust/apply", data={"csrf_token": viewer.csrf})
    assert r.status_code == 403
    assert "is viewer; this needs operator" in r.text
    assert "hint:" in r.text
    r = viewer.http.post("/csr", data={"csrf_token": viewer.csrf, "identity": THIRD_PARTY})
    assert r.status_code == 403


def test_an_operator_applies_the_trust_plan_and_it_is_audited(
    operator: WebClient, estate: Estate
) -> None:
    with estate.open() as store:
        before = ccapki.check_trust(store, estate.deployment)
    assert any(c.appliance == BROKEN and c.ok is False for c in before.cells)
    page = operator.http.get("/trust")
    assert f"to the Trusted Certificate Authorities of {BROKEN}" in page.text or BROKEN in page.text
    r = operator.http.post("/trust/apply", data={"csrf_token": operator.csrf})
    assert r.status_code == 303, r.text[:500]  # a reload of the result sends nothing
    r = operator.http.get(r.headers["location"])
    assert "Applied:" in r.text
    assert "done: " in r.text
    assert 'id="plan-empty"' in r.text  # nothing left to change
    with estate.open() as store:
        after = ccapki.check_trust(store, estate.deployment)
        entries = [e for e in store.audit.log(100) if e.actor == "otto" and e.action != "login"]
    assert all(c.ok is not False for c in after.cells if c.appliance == BROKEN)
    assert entries, "the trust-store additions are in the audit log"
    assert {e.action for e in entries} == {"trust-add"}
    assert BROKEN in {e.subject for e in entries}
    audit = operator.http.get("/audit").text
    assert "trust-add" in audit
    assert "otto" in audit


def test_a_bad_upload_shows_the_error_and_its_hint(
    operator: WebClient, estate: Estate, outside: OutsideCA
) -> None:
    # a certificate for the third-party CAS whose key the store never made
    from cryptography.hazmat.primitives.asymmetric import ec

    spec = estate.deployment.identity(THIRD_PARTY)
    stranger = ec.generate_private_key(ec.SECP256R1()).public_key()
    cert = outside.sign(
        x509.Name.from_rfc4514_string(f"CN={spec.common_name}"), stranger, dns=spec.dns_names
    )
    r = operator.http.post(
        "/upload",
        files=[("files", ("clinic.pem", pem(cert) + b"".join(pem(c) for c in outside.chain)))],
        data={"csrf_token": operator.csrf},
    )
    assert r.status_code == 422, r.text[:500]
    assert "private key not found for clinic.pem" in r.text
    assert "hint: upload the key saved when the CSR was made together with" in r.text
    assert "ccapki import CERT --key" not in r.text  # the form's words, not the CLI's
    no_inline_code(r.text)
    # an empty file: the parser's diagnosis, naming the file
    r = operator.http.post(
        "/upload", files=[("files", ("empty.crt", b""))], data={"csrf_token": operator.csrf}
    )
    assert r.status_code == 422
    assert "empty.crt: is empty (0 bytes)" in r.text
    assert "hint: check that the file was saved completely" in r.text
    with estate.open() as store, store.scoped(estate.deployment.name):
        assert store.identities.get(THIRD_PARTY) is None  # nothing imported


def test_csr_download_then_upload_imports_the_certificate(
    operator: WebClient, estate: Estate, outside: OutsideCA
) -> None:
    r = operator.http.post("/csr", data={"csrf_token": operator.csrf, "identity": THIRD_PARTY})
    assert r.status_code == 200, r.text[:500]
    assert r.headers["content-type"] == "application/pkcs10"
    assert f'filename="{THIRD_PARTY}.csr"' in r.headers["content-disposition"]
    csr = x509.load_pem_x509_csr(r.content)
    assert b"PRIVATE KEY" not in r.content
    cert = outside.sign_csr(csr)
    bundle = pem(cert) + b"".join(pem(c) for c in outside.chain)
    r = operator.http.post(
        "/upload",
        files=[("files", ("clinic-signed.pem", bundle))],
        data={"csrf_token": operator.csrf},
    )
    assert r.status_code == 200, r.text[:800]
    assert "Imported." in r.text
    assert THIRD_PARTY in r.text
    with estate.open() as store, store.scoped(estate.deployment.name):
        held = store.identities.get(THIRD_PARTY)
    assert held is not None
    assert held.certificate == cert
    # its public certificate can be downloaded (no key)
    r = operator.http.get(f"/identities/{THIRD_PARTY}/cert.pem")
    assert r.status_code == 200
    assert b"BEGIN CERTIFICATE" in r.content
    assert b"PRIVATE KEY" not in r.content


def test_logout_ends_the_session(operator: WebClient) -> None:
    r = operator.http.get("/login?next=/trust")
    assert r.status_code == 303  # logged in already
    assert r.headers["location"] == "/trust"
    assert operator.http.get("/login?next=//evil.example").headers["location"] == "/"
    r = operator.http.post("/logout", data={"csrf_token": operator.csrf})
    assert r.status_code == 303
    assert operator.http.get("/").status_code == 303


def test_an_unknown_deployment_is_an_error_page(viewer: WebClient) -> None:
    r = viewer.http.get("/?deployment=nope")
    assert r.status_code == 404
    assert "the store holds no deployment &#39;nope&#39;" in r.text
    assert "hint: use one of: faq-campus" in r.text
    no_inline_code(r.text)


# ---------------------------------------------------------------------------- the pictures


def test_an_unchecked_picture_is_grey_and_escapes_its_text(estate: Estate) -> None:
    svg = deployment_svg(estate.deployment, None, title='<b>&"x"</b>')
    root = ET.fromstring(svg)  # well-formed XML
    statuses = {
        c
        for g in root.iter(f"{SVG}g")
        if "legend-item" not in g.get("class", "")
        for c in g.get("class", "").split()
        if c.startswith("st-")
    }
    assert statuses == {"st-unchecked"}
    assert "<b>" not in svg
    assert "trust not checked" in svg
    assert link_status([]).status == "unchecked"


def test_the_picture_limits_a_large_deployment(estate: Estate) -> None:
    svg = deployment_svg(estate.deployment, None, limit=2)
    assert "+3 more CAS identities" in svg
    assert "cas-clinic" not in svg


def test_the_timeline_orders_by_expiry_and_colours_by_stage(estate: Estate) -> None:
    with estate.open() as store:
        report = ccapki.estate_status(store, NOW)
    svg = expiry_timeline_svg(report.items, NOW, warn_days=(60, 30, 7))
    root = ET.fromstring(svg)
    bars = [g for g in root.iter(f"{SVG}g") if "bar" in g.get("class", "")]
    dated = [i for i in report.items if i.not_after is not None]
    assert len(bars) == min(40, len(dated))
    titles = [g.find(f"{SVG}title").text or "" for g in bars]  # type: ignore[union-attr]
    dates = [re.search(r"expires (\S+)", t)[1] for t in titles]  # type: ignore[index]
    assert dates == sorted(dates)
    assert all("stage-ok" in g.get("class", "") for g in bars)


def test_a_store_of_several_deployments_picks_one(app: str, estate: Estate) -> None:
    text = deployment(name="branch", cas=[standalone("cas-branch", "10.9.0.1")])
    with estate.open() as store:
        ccapki.apply(store, ccapki.parse_deployment(text, "branch.toml"))
    with client(app, "vera") as c:
        first = c.http.get("/")
        assert first.status_code == 200
        assert 'id="dep-select"' in first.text
        assert "cas-branch" in first.text  # the first by name
        assert "cas-dorm" not in first.text
        r = c.http.get("/?deployment=faq-campus")
        assert r.status_code == 200
        assert "cas-dorm" in r.text
        assert 'href="/trust?deployment=faq-campus"' in r.text  # the links keep the choice
        assert "cas-branch" not in r.text


def test_an_operator_queues_a_probe_and_cancels_it(operator: WebClient, estate: Estate) -> None:
    r = operator.http.post("/probe", data={"csrf_token": operator.csrf})
    assert r.status_code == 303
    assert r.headers["location"] == "/jobs"
    page = operator.http.get("/jobs").text
    assert "probe" in page
    assert "queued" in page  # this app runs no job runner
    with estate.open() as store:
        (job,) = store.jobs.list()
    r = operator.http.post(f"/jobs/{job.id}/cancel", data={"csrf_token": operator.csrf})
    assert r.status_code == 303
    with estate.open() as store:
        assert store.jobs.get(job.id).state.value == "cancelled"
        cancels = [e for e in store.audit.log(20) if e.action == "job-cancel"]
    assert [e.actor for e in cancels] == ["otto"]
    r = operator.http.post("/jobs/999/cancel", data={"csrf_token": operator.csrf})
    assert r.status_code == 404
    assert "no job 999" in r.text


def test_the_served_page_shows_each_endpoint_since_when(viewer: WebClient, estate: Estate) -> None:
    from ccapki.store.records import ProbeRecord, ProbeVerdict

    with estate.open() as store, store.scoped(estate.deployment.name):
        cam = store.identities.get("cam")
        assert cam is not None
        store.probes.add(
            [
                ProbeRecord(
                    "cam-a",
                    "gui",
                    "10.10.0.11:443",
                    NOW,
                    ProbeVerdict.EXPECTED,
                    leaf_sha256=fingerprint(cam.certificate),
                    identity="cam",
                ),
                ProbeRecord(
                    BROKEN, "gui", "10.31.0.10:443", NOW, ProbeVerdict.UNREACHABLE, "refused"
                ),
            ]
        )
    page = viewer.http.get("/probes")
    assert page.status_code == 200
    rows = re.findall(r"<tr>.*?</tr>", page.text, re.S)
    cam_row = next(r for r in rows if "cam-a" in r)
    assert "expected" in cam_row
    assert NOW.strftime("%Y-%m-%d %H:%M") in cam_row  # since when
    annex_row = next(r for r in rows if BROKEN in r)
    assert "unreachable" in annex_row
    assert "refused" in annex_row
    no_inline_code(page.text)


def test_a_link_due_for_renewal_is_amber(estate: Estate) -> None:
    later = NOW + dt.timedelta(days=380)  # inside the identities' renewal window
    with estate.open() as store:
        matrix = ccapki.check_trust(store, estate.deployment, later)
    root = ET.fromstring(deployment_svg(estate.deployment, matrix))
    dorm = [
        g
        for g in root.iter(f"{SVG}g")
        if "cam-cas" in g.get("class", "")
        and (g.findtext(f"{SVG}title") or "").startswith("cam \u2194 cas-dorm-a ")
    ]
    assert len(dorm) == 1
    assert "st-warn" in dorm[0].get("class", "")
    title = dorm[0].findtext(f"{SVG}title") or ""
    assert "due for renewal" in title
    assert "days" in title  # the warning itself, as trust check words it


def test_the_rotation_what_if_changes_nothing(viewer: WebClient, estate: Estate) -> None:
    with estate.open() as store:
        before = store.count("cas")
    r = viewer.http.get("/trust?rotate=cam&to_source=self-signed")
    assert r.status_code == 200
    assert 'id="what-if-steps"' in r.text
    assert "If cam switched to self-signed now" in r.text
    steps = re.search(r'<ol id="what-if-steps">(.*?)</ol>', r.text, re.S)
    assert steps
    assert steps[1].count("<li") >= 1
    with estate.open() as store:
        assert store.count("cas") == before  # what-if CAs rolled back
    r = viewer.http.get(f"/trust?rotate={THIRD_PARTY}")
    assert r.status_code == 200
    assert "known only once the CA returns it" in r.text
    assert "hint: make the CSR" in r.text
