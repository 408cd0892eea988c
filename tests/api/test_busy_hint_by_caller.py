"""A busy store's hint fits its caller.

``StoreBusy`` (another writer held the store's write lock longer than this one waits) said
"wait longer with `ccapki --wait SECONDS ...`" to every caller: to a script on the Python
API, which has no such option (its way is ``open_store(..., wait=SECONDS)``), and to a
client of the REST service, which can only send the request again. The command line keeps
its words (tests/lifecycle/test_concurrent_writers.py checks them whole).
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

import ccapki
from ccapki.service.app import create_app
from kit.certs import NOW
from kit.cli import FAQ
from kit.service import add_users, config_for, running


@pytest.fixture
def faq(home: Path) -> tuple[Path, ccapki.Deployment, dict[str, str]]:
    dep = ccapki.load_deployment(FAQ)
    with ccapki.init_store(home, key_file=True, clock=lambda: NOW) as store:
        ccapki.apply(store, dep)
        tokens = add_users(store)
    return home, dep, tokens


def _no_cli_words(hint: str) -> None:
    assert "--wait" not in hint, hint
    assert "ccapki " not in hint.replace("ccapki.open_store", ""), hint


def test_the_api_names_open_stores_wait(faq: tuple[Path, ccapki.Deployment, object]) -> None:
    home, dep, _ = faq
    with (
        ccapki.open_store(home, clock=lambda: NOW, wait=0.3) as store,
        ccapki.open_store(home, clock=lambda: NOW) as other,
    ):
        plan = ccapki.plan_renewal(store, dep, names="cas-dorm", due=False)
        with other.transaction():  # another writer holds the lock
            with pytest.raises(ccapki.StoreError, match="gave up waiting") as err:
                ccapki.apply_trust(store, dep)
            _no_cli_words(err.value.hint)
            assert "ccapki.open_store(..., wait=SECONDS)" in err.value.hint
            with pytest.raises(ccapki.StoreError, match="gave up waiting") as err:
                ccapki.commit_renewal(store, dep, plan)
            _no_cli_words(err.value.hint)
            assert "nothing was renewed" in err.value.hint
            assert "open_store(..., wait=SECONDS)" in err.value.hint
        # a fork (a thread's store) keeps its caller's words
        assert store.fork().caller == "api"
        assert ccapki.apply_trust(store, dep) == []  # free again


def test_the_service_says_to_send_the_request_again(
    faq: tuple[Path, ccapki.Deployment, dict[str, str]],
) -> None:
    home, _, tokens = faq
    app = create_app(config_for(home, wait=0.3))
    headers = {"Authorization": f"Bearer {tokens['operator']}"}
    with (
        ccapki.open_store(home, clock=lambda: NOW) as other,
        running(app) as url,
        httpx.Client(base_url=url, headers=headers, timeout=60) as c,
    ):
        assert c.get("/api/v1/me").status_code == 200  # the token's use noted (to the minute)
        with other.transaction():
            r = c.post("/api/v1/deployments/faq-campus/trust/apply", json={})
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"] == "5"
    body = r.json()
    assert "gave up waiting" in body["error"]
    _no_cli_words(body["hint"])
    assert "open_store" not in body["hint"]
    assert "request again" in body["hint"]
