"""Logins, sessions, CSRF, throttling, tokens, security headers."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ccapki.service.app import create_app
from ccapki.service.auth import CSP, SESSION_COOKIE, hash_password, verify_password
from kit.certs import NOW
from kit.service import DEPLOYMENT, PASSWORDS, Service, config_for, login, running


class Clock:
    """A clock a test moves."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> dt.datetime:
        return self.now


def _set_cookie(r: httpx.Response, name: str) -> str:
    found = [v for v in r.headers.get_list("set-cookie") if v.startswith(f"{name}=")]
    assert len(found) == 1, r.headers
    return found[0]


# ---------------------------------------------------------------------------- passwords


def test_passwords_are_argon2id_hashes_never_the_password(service: Service) -> None:
    user = service.store.users.get("viewer")
    assert user.password_hash is not None
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORDS["viewer"] not in user.password_hash
    assert verify_password(user.password_hash, PASSWORDS["viewer"])
    assert not verify_password(user.password_hash, "wrong-password")
    assert not verify_password(None, "anything")
    assert hash_password("same-password") != hash_password("same-password")  # salted


# ---------------------------------------------------------------------------- sessions


def test_login_sets_a_strict_httponly_session_and_logout_ends_it(service: Service) -> None:
    c = service.client()
    r = login(c, "operator", PASSWORDS["operator"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["name"] == "operator"
    assert body["role"] == "operator"
    cookie = _set_cookie(r, SESSION_COOKIE).lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert "secure" not in cookie  # plain HTTP here; see test_serve for TLS
    assert r.headers["cache-control"] == "no-store"
    # the session authenticates reads
    me = c.get("/api/v1/me")
    assert me.status_code == 200
    assert me.json()["csrf_token"] == body["csrf_token"]
    # the store keeps only the cookie's SHA-256
    raw = c.cookies[SESSION_COOKIE]
    from ccapki.store.service import secret_hash

    assert service.store.sessions.check(raw) is not None
    from sqlalchemy import select

    from ccapki.store import schema

    with service.store.engine.connect() as conn:
        kept = conn.execute(select(schema.web_sessions.c.session_hash)).scalars().all()
    assert kept == [secret_hash(raw)]
    # logout: a form post with the session's CSRF token
    out = c.post("/logout", data={"csrf_token": body["csrf_token"]}, follow_redirects=False)
    assert out.status_code == 303
    assert out.headers["location"] == "/login"
    c.cookies.set(SESSION_COOKIE, raw)  # a stolen copy of the cookie no longer works
    gone = c.get("/api/v1/me")
    assert gone.status_code == 401
    assert gone.json()["error"] == "the session has ended (expired or logged out)"


def test_a_form_post_without_or_with_a_wrong_csrf_token_is_refused(service: Service) -> None:
    c = service.client()
    body = login(c, "operator", PASSWORDS["operator"]).json()
    url = f"/api/v1/deployments/{DEPLOYMENT}/trust/apply"
    before = len(service.store.audit.log(1000))
    for data in ({}, {"csrf_token": "wrong"}, {"csrf_token": body["csrf_token"] + "x"}):
        r = c.post(url, data=data)
        assert r.status_code == 403, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["error"] == "missing or wrong CSRF token"
    # a JSON call on the session needs the header too
    assert c.post(url, json={}).status_code == 403
    assert c.post(url, json={}, headers={"X-CSRF-Token": "nope"}).status_code == 403
    # logout without the token: refused, the session lives on
    assert c.post("/logout", data={}, follow_redirects=False).status_code == 403
    assert c.get("/api/v1/me").status_code == 200
    assert len(service.store.audit.log(1000)) == before  # nothing was done
    # with the token: done
    ok = c.post(url, json={}, headers={"X-CSRF-Token": body["csrf_token"]})
    assert ok.status_code == 200, ok.text


def test_the_login_form_needs_its_double_submit_csrf_token(service: Service) -> None:
    c = service.client()
    form = {"name": "viewer", "password": PASSWORDS["viewer"]}
    r = c.post("/login", data={**form, "csrf_token": "made-up"})
    assert r.status_code == 403
    assert r.json()["error"] == "missing or wrong login CSRF token"
    token = c.get("/login/csrf").json()["csrf_token"]
    assert c.post("/login", data={**form, "csrf_token": token + "x"}).status_code == 403
    assert SESSION_COOKIE not in c.cookies
    assert c.post("/login", data={**form, "csrf_token": token}).status_code == 200


def test_a_login_sent_as_json_is_told_it_takes_a_form(service: Service) -> None:
    """A walkthrough's script posted JSON to /login and read "body.name: Field required"
    (the fields were there, in the wrong kind of body): it is told the route takes a form,
    and that a script sends an API token instead."""
    c = service.client()
    token = c.get("/login/csrf").json()["csrf_token"]
    body = {"name": "viewer", "password": PASSWORDS["viewer"], "csrf_token": token}
    r = c.post("/login", json=body)
    assert r.status_code == 415, r.text
    problem = r.json()
    assert "takes form fields (`name`, `password`" in problem["error"]
    assert "this request sent application/json" in problem["error"]
    assert "Authorization: Bearer" in problem["hint"]
    assert SESSION_COOKIE not in c.cookies
    # a form missing a field is still told which
    r = c.post("/login", data={"name": "viewer", "csrf_token": token})
    assert r.status_code == 422, r.text
    assert "password" in r.json()["error"]
    assert c.post("/login", data=body).status_code == 200


def test_a_form_sent_to_a_json_route_is_told_it_takes_json(service: Service) -> None:
    """A walkthrough: `curl -d 'text=abc' .../deployments` (a form, curl's default) got a
    422 "body: Input should be a valid dictionary or object to extract fields from". It
    is told the route takes JSON, and how to send it."""
    c = service.client("operator")
    for sent, kind in (
        ({"data": {"text": "abc"}}, "application/x-www-form-urlencoded"),
        ({"content": b"text", "headers": {"content-type": "text/plain"}}, "text/plain"),
    ):
        r = c.post("/api/v1/deployments", **sent)  # type: ignore[arg-type]
        assert r.status_code == 415, r.text
        problem = r.json()
        assert problem["error"] == (
            f"POST /api/v1/deployments takes a JSON body; this request sent {kind}"
        )
        assert "Content-Type: application/json" in problem["hint"]
    # JSON that is not what the route takes: still the fields named (422)
    r = c.post("/api/v1/deployments", json={"txt": "abc"})
    assert r.status_code == 422, r.text
    assert "txt" in r.json()["error"]


def test_a_browser_login_goes_to_next_and_never_off_site(service: Service) -> None:
    c = service.client(follow_redirects=False, headers={"Accept": "text/html"})
    token = c.get("/login/csrf").json()["csrf_token"]
    form = {"name": "viewer", "password": PASSWORDS["viewer"], "csrf_token": token}
    r = c.post("/login", data={**form, "next": "//evil.example/x"})
    assert r.status_code == 303
    assert r.headers["location"] == "/"
    token = c.get("/login/csrf").json()["csrf_token"]
    bad = c.post("/login", data={**form, "csrf_token": token, "password": "nope-nope"})
    assert bad.status_code == 303
    assert bad.headers["location"] == "/login?error=invalid"


def test_disabling_a_user_ends_its_sessions_and_tokens(service: Service) -> None:
    c = service.client()
    assert login(c, "viewer", PASSWORDS["viewer"]).status_code == 200
    token_client = service.client("viewer")
    assert token_client.get("/api/v1/me").status_code == 200
    r = service.client("admin").patch("/api/v1/users/viewer", json={"disabled": True})
    assert r.status_code == 200
    assert r.json()["disabled"] is True
    assert c.get("/api/v1/me").status_code == 401
    assert token_client.get("/api/v1/me").status_code == 401
    again = login(service.client(), "viewer", PASSWORDS["viewer"])
    assert again.status_code == 401


# ---------------------------------------------------------------------------- throttling


@pytest.fixture
def two_instances(
    service_home: tuple[Path, dict[str, str]],
) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    """Two apps (two stores, one database), each served on 127.0.0.1."""
    home, _ = service_home
    a, b = (
        create_app(config_for(home, instance_id="a")),
        create_app(config_for(home, instance_id="b")),
    )
    with (
        running(a) as url_a,
        running(b) as url_b,
        httpx.Client(base_url=url_a) as ca,
        httpx.Client(base_url=url_b) as cb,
    ):
        yield ca, cb


def test_failed_logins_are_throttled_across_instances(
    two_instances: tuple[httpx.Client, httpx.Client],
) -> None:
    ca, cb = two_instances
    for n in range(5):  # the limit: 5 per name or address in 15 minutes, on any instance
        c = ca if n % 2 else cb
        r = login(c, "admin", "not-the-password")
        assert r.status_code == 401, r.text
        assert r.json()["error"] == "wrong name or password (or the user is disabled)"
    for c in (ca, cb):
        r = login(c, "admin", PASSWORDS["admin"])  # even the right password now
        assert r.status_code == 429, r.text
        assert r.headers["retry-after"] == "900"
        assert r.headers["content-type"] == "application/problem+json"
        assert "too many failed logins" in r.json()["error"]
        assert SESSION_COOKIE not in c.cookies
    # the pair (name, address) is locked, not the address: another user still logs in
    assert login(ca, "viewer", PASSWORDS["viewer"]).status_code == 200


def test_throttling_ends_with_its_window(service_home: tuple[Path, dict[str, str]]) -> None:
    home, _ = service_home
    clock = Clock()
    app = create_app(config_for(home, clock=clock))
    with running(app) as url, httpx.Client(base_url=url) as c:
        for _ in range(5):
            assert login(c, "operator", "wrong-password").status_code == 401
        assert login(c, "operator", PASSWORDS["operator"]).status_code == 429
        clock.now += dt.timedelta(minutes=16)
        assert login(c, "operator", PASSWORDS["operator"]).status_code == 200
        failed = [e for e in app.state.store.audit.log(100) if e.action == "login-failed"]
    assert len(failed) == 5
    assert all(e.subject == "operator" for e in failed)


# ---------------------------------------------------------------------------- tokens


def test_tokens_expire_and_can_be_revoked(service_home: tuple[Path, dict[str, str]]) -> None:
    home, tokens = service_home
    clock = Clock()
    app = create_app(config_for(home, clock=clock))
    with running(app) as url:
        admin = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {tokens['admin']}"})
        with admin:
            made = admin.post(
                "/api/v1/users/viewer/tokens", json={"label": "ci", "expires_days": 1}
            )
            assert made.status_code == 201, made.text
            new = made.json()
            assert new["expires_at"] == (NOW + dt.timedelta(days=1)).isoformat().replace(
                "+00:00", "Z"
            )
            listed = admin.get("/api/v1/users/viewer/tokens").json()
            assert all("token" not in t for t in listed)  # shown once, never again
            assert new["token"] not in admin.get("/api/v1/audit").text
            bearer = {"Authorization": f"Bearer {new['token']}"}
            with httpx.Client(base_url=url, headers=bearer) as ci:
                assert ci.get("/api/v1/me").json()["name"] == "viewer"
                clock.now += dt.timedelta(days=1, seconds=1)
                r = ci.get("/api/v1/me")
                assert r.status_code == 401
                assert r.json()["error"] == "the API token is unknown, expired or revoked"
                assert r.headers["www-authenticate"].startswith("Bearer")
            # revocation: the viewer's own token, by an admin
            viewer_id = next(t["id"] for t in listed if t["label"] == "viewer test token")
            assert admin.delete(f"/api/v1/tokens/{viewer_id}").status_code == 204
            assert admin.delete(f"/api/v1/tokens/{viewer_id}").status_code == 404
            with httpx.Client(
                base_url=url, headers={"Authorization": f"Bearer {tokens['viewer']}"}
            ) as v:
                assert v.get("/api/v1/me").status_code == 401
            actions = [e.action for e in app.state.store.audit.log(20)]
            assert "token-revoke" in actions
            assert "token-add" in actions


def test_malformed_authorization_is_401(service: Service) -> None:
    c = service.client()
    for value in ("Basic dXNlcjpwdw==", "Bearer", "Bearer  x y", "Token abc"):
        r = c.get("/api/v1/me", headers={"Authorization": value})
        assert r.status_code == 401, value
        assert r.json()["hint"]


# ---------------------------------------------------------------------------- headers


def test_security_headers_on_every_kind_of_answer(service: Service) -> None:
    c = service.client("viewer")
    answers = [
        c.get("/api/v1/me"),  # JSON
        c.get("/api/v1/deployments/nope"),  # a problem
        service.client().get("/api/v1/me"),  # 401
        c.get("/no/such/route"),  # 404 from the router
        c.get("/openapi.json"),
        c.get("/"),  # a page
    ]
    for r in answers:
        h = r.headers
        assert h["content-security-policy"] == CSP, r.url
        assert "'unsafe-inline'" not in CSP
        assert "script-src 'self'" in CSP
        assert h["x-content-type-options"] == "nosniff"
        assert h["referrer-policy"] == "no-referrer"
        assert h["x-frame-options"] == "DENY"
        assert "strict-transport-security" not in h  # plain HTTP: see test_serve for HSTS


def test_another_user_from_the_same_address_still_logs_in(service: Service) -> None:
    c = service.client()
    for _ in range(5):  # someone guesses the admin's password from this address
        assert login(c, "admin", "not-the-password").status_code == 401
    r = login(c, "admin", PASSWORDS["admin"])
    assert r.status_code == 429, r.text
    assert r.headers["retry-after"] == "900"
    other = service.client()  # the same address (one proxy, one host): not locked out
    assert login(other, "operator", PASSWORDS["operator"]).status_code == 200


def test_an_address_has_a_higher_ceiling_over_every_name(service: Service) -> None:
    c = service.client()
    for n in range(20):  # 20 failures from one address, 2 per name: no pair is locked
        r = login(c, f"nobody{n // 2}", "not-the-password")
        assert r.status_code == 401, (n, r.text)
    r = login(c, "viewer", PASSWORDS["viewer"])
    assert r.status_code == 429, r.text
    assert "from 127.0.0.1" in r.json()["error"]


def test_a_name_guessed_from_many_addresses_is_slowed_not_locked(
    service_home: tuple[Path, dict[str, str]],
) -> None:
    home, _ = service_home
    clock = Clock()
    app = create_app(config_for(home, clock=clock, trusted_proxy="127.0.0.1"))
    with running(app) as url, httpx.Client(base_url=url) as c:
        for n in range(10):  # one failure per address, ten addresses
            xff = {"X-Forwarded-For": f"203.0.113.{n + 1}"}
            token = c.get("/login/csrf").json()["csrf_token"]
            form = {"name": "admin", "password": "nope-nope", "csrf_token": token}
            assert c.post("/login", data=form, headers=xff).status_code == 401
        token = c.get("/login/csrf").json()["csrf_token"]
        form = {"name": "admin", "password": PASSWORDS["admin"], "csrf_token": token}
        xff = {"X-Forwarded-For": "198.51.100.7"}
        r = c.post("/login", data=form, headers=xff)
        assert r.status_code == 429, r.text
        assert 0 < int(r.headers["retry-after"]) <= 30  # a delay, not a 15-minute lock
        clock.now += dt.timedelta(seconds=31)
        assert c.post("/login", data=form, headers=xff).status_code == 200


def test_x_forwarded_for_is_honoured_only_from_the_trusted_proxy(
    service_home: tuple[Path, dict[str, str]],
) -> None:
    home, _ = service_home

    def attempts(c: httpx.Client, address: str, password: str) -> int:
        token = c.get("/login/csrf").json()["csrf_token"]
        form = {"name": "operator", "password": password, "csrf_token": token}
        # a client's own X-Forwarded-For first, the proxy's hop last
        headers = {"X-Forwarded-For": f"192.0.2.99, {address}"}
        return c.post("/login", data=form, headers=headers).status_code

    trusted = create_app(config_for(home, trusted_proxy="127.0.0.1", instance_id="t"))
    with running(trusted) as url, httpx.Client(base_url=url) as c:
        for _ in range(5):
            assert attempts(c, "203.0.113.1", "wrong-password") == 401
        assert attempts(c, "203.0.113.1", PASSWORDS["operator"]) == 429
        assert attempts(c, "203.0.113.2", PASSWORDS["operator"]) == 200  # another client
        failed = [e for e in trusted.state.store.audit.log(50) if e.action == "login-failed"]
        assert {e.detail.get("address") for e in failed} == {"203.0.113.1"}
    # not the peer: the header is the client's own word, ignored (the peer is 127.0.0.1)
    untrusted = create_app(config_for(home, trusted_proxy="10.9.9.9", instance_id="u"))
    with running(untrusted) as url, httpx.Client(base_url=url) as c:
        assert attempts(c, "203.0.113.3", PASSWORDS["operator"]) == 200  # logs in, clears
        for _ in range(5):
            assert attempts(c, "203.0.113.4", "wrong-password") == 401
        assert attempts(c, "203.0.113.5", PASSWORDS["operator"]) == 429  # same 127.0.0.1


# ---------------------------------------------------------------------------- body limits


def test_an_anonymous_body_is_never_parsed(service: Service) -> None:
    c = service.client()
    for content in (b"{not json", b"\xff\xfe\x00", b'{"text": 1}'):
        r = c.post(
            "/api/v1/deployments", content=content, headers={"content-type": "application/json"}
        )
        assert r.status_code == 401, (content, r.text)
        assert r.headers["content-type"] == "application/problem+json"
    # multipart uploads too
    r = c.post(f"/api/v1/deployments/{DEPLOYMENT}/import", files={"files": ("a.pem", b"x")})
    assert r.status_code == 401, r.text


def test_a_body_that_stops_coming_is_refused_with_408(
    service_home: tuple[Path, dict[str, str]],
) -> None:
    """A walkthrough: a client that sent part of an upload and waited held the request
    open for ever (and Ctrl-C of `serve` then printed uvicorn's traceback). A body of
    which nothing arrives for body_timeout seconds gets a 408 problem, and the
    connection is closed; a body that keeps coming, slowly, is read whole."""
    import socket

    home, tokens = service_home
    app = create_app(config_for(home, body_timeout=0.5))
    with running(app) as url:
        port = int(url.rsplit(":", 1)[1])
        head = (
            "POST /api/v1/deployments HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {tokens['operator']}\r\n"
            "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        )
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(head.encode() + b'{"text": "')
            answer = b""
            while chunk := sock.recv(65536):  # the server closes it
                answer += chunk
        status, _, rest = answer.partition(b"\r\n")
        assert status == b"HTTP/1.1 408 Request Timeout", answer[:300]
        assert b"application/problem+json" in rest
        assert b"the request body stopped coming" in rest
        # slow but steady: every part within the timeout, the whole is read (a 4xx about
        # its content, not a 408)
        body = b'{"text": "[deployment]"}'
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(head.replace("100", str(len(body))).encode())
            for i in range(0, len(body), 8):
                time.sleep(0.2)
                sock.sendall(body[i : i + 8])
            answer = sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 4"), answer[:200]
        assert not answer.startswith(b"HTTP/1.1 408"), answer[:300]


def test_bodies_over_the_limit_are_413_by_length_or_while_streaming(
    service_home: tuple[Path, dict[str, str]],
) -> None:
    home, tokens = service_home
    app = create_app(config_for(home, max_body=2048, max_upload_body=8192))
    bearer = {"Authorization": f"Bearer {tokens['operator']}"}
    json_type = {"content-type": "application/json"}
    with running(app) as url, httpx.Client(base_url=url) as c:
        big = b'{"text": "' + b"x" * 4096 + b'"}'
        for headers in ({**json_type}, {**json_type, **bearer}):  # anonymous or not
            r = c.post("/api/v1/deployments", content=big, headers=headers)
            assert r.status_code == 413, r.text
            assert r.headers["content-type"] == "application/problem+json"
            assert "2048" in r.json()["error"]
            assert r.json()["hint"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: chunked
            yield b'{"text": "'
            for _ in range(8):
                yield b"x" * 512
            yield b'"}'

        r = c.post("/api/v1/deployments", content=chunks(), headers={**json_type, **bearer})
        assert r.status_code == 413, r.text
        assert r.json()["hint"]
        # an upload may be larger than JSON, up to its own limit
        files = {"files": ("a.pem", b"y" * 4000)}
        r = c.post(f"/api/v1/deployments/{DEPLOYMENT}/import", files=files, headers=bearer)
        assert r.status_code != 413, r.text
        files = {"files": ("a.pem", b"y" * 9000)}
        r = c.post(f"/api/v1/deployments/{DEPLOYMENT}/import", files=files, headers=bearer)
        assert r.status_code == 413, r.text


def test_authenticated_api_answers_are_never_cached(service: Service) -> None:
    c = service.client("viewer")
    for path in ("/api/v1/me", "/api/v1/deployments", "/api/v1/deployments/nope"):
        assert c.get(path).headers["cache-control"] == "no-store", path
    s = service.client()
    assert login(s, "viewer", PASSWORDS["viewer"]).status_code == 200
    r = s.get("/api/v1/me")
    assert r.json()["csrf_token"]
    assert r.headers["cache-control"] == "no-store"
