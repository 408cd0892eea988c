"""API tokens (and the service's other secrets) never start with ``-``: a script passes
``--token $TOKEN`` and a token ``-abc...`` would be read as an option (walkthrough: one
token in 64 did). Their strength stays: 32 random bytes, URL-safe base64."""

from __future__ import annotations

import re

from ccapki.service.auth import issue_token, new_secret
from kit.cli import Cli, ok
from kit.service import Service

_URLSAFE = re.compile(r"[A-Za-z0-9_-]{43}")


def test_secrets_never_start_with_a_dash_and_keep_their_strength() -> None:
    # one in 64 started with "-": among 5000, none doing so by chance is odds of e**-78
    made = [new_secret() for _ in range(5000)]
    assert not [s for s in made if s.startswith("-")]
    assert all(_URLSAFE.fullmatch(s) for s in made)  # 43 characters of URL-safe base64
    assert len(set(made)) == len(made)
    # the dash still appears after the first character: the alphabet is the whole of it
    assert set("".join(s[1:] for s in made)) == set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    )


def test_tokens_of_the_cli_and_the_store_never_start_with_a_dash(
    service: Service, cli: Cli
) -> None:
    user = service.store.users.get("viewer")
    made = [issue_token(service.store, user, f"t{i}")[0] for i in range(64)]
    made.append(ok(cli("users", "token", "viewer")).out.strip())
    assert not [s for s in made if s.startswith("-")]
    assert all(_URLSAFE.fullmatch(s) for s in made)
    api = service.client()
    r = api.get("/api/v1/me", headers={"Authorization": f"Bearer {made[-1]}"})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "viewer"
