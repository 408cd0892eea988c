"""A request with an API token reads while another ccapki writes (walkthrough R): the
token's use, noted at most once a minute, is a write of its own, and it waited for the
other writer's lock, then failed the read with a 503 saying the database "did not answer"
(check that the server is running) whenever a CLI command held a SQLite store for more
than 5 s (a restore, a big import). The note is left for a later request instead: the
read answers at once."""

from __future__ import annotations

import subprocess
import sys

from kit.pgmode import store_url
from kit.service import Service

#: holds the store's write lock (as a long `ccapki backup restore` does) until stdin closes
HOLD = """
import sys
from pathlib import Path
import ccapki
with ccapki.open_store(Path(sys.argv[1]), url=sys.argv[2]) as s, s.transaction():
    print("holding", flush=True)
    sys.stdin.read()
"""


def test_a_token_reads_while_another_ccapki_holds_the_write_lock(service: Service) -> None:
    with subprocess.Popen(
        [sys.executable, "-c", HOLD, str(service.home), store_url(service.home)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        assert holder.stdin is not None
        assert holder.stdout is not None
        try:
            assert holder.stdout.readline().strip() == "holding"
            r = service.client("viewer").get("/api/v1/deployments")
            assert r.status_code == 200, r.text
            assert [d["name"] for d in r.json()] == ["faq-campus"]
        finally:
            holder.stdin.close()
            assert holder.wait() == 0
    # the store free again, the next request notes the token's use
    assert service.client("viewer").get("/api/v1/me").status_code == 200
    (token,) = [t for t in service.store.tokens.list() if t.label == "viewer test token"]
    assert token.last_used_at is not None
