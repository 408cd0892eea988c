"""Two administrators running ``ccapki init`` on the same store at once (walkthrough R):
both find no store, then both make one. The second used to replace the first's data.key
(its store then opened under a key that sealed nothing of it, or had no data.key at all
once the second cleaned up after itself, while the first said "created store"), or to
stop at the database with exit 70 ("internal error: FileExistsError", or PostgreSQL's
IntegrityError printing the wrapped key). Now each file is made exclusively: the second
says the store exists (another init made it meanwhile), leaves the first's files as they
are, and keeps nothing of its own.

:meth:`Store._create` is the step after ``init``'s checks: called on a store made
meanwhile, it is the second init at the moment it loses the race."""

from __future__ import annotations

from pathlib import Path

import pytest

from ccapki.errors import StoreError
from ccapki.home import DB_NAME, KEY_FILE, sqlite_url
from ccapki.store import Store
from kit.jobs import pg_schema

RACE = "another `ccapki init` made it at the same time"


@pytest.mark.sqlite_only  # the SQLite file and data.key of one home
def test_the_second_init_of_one_home_refuses_and_keeps_the_first_whole(tmp_path: Path) -> None:
    home = tmp_path / "store"
    with Store.init(home, key_file=True):
        pass
    key = (home / KEY_FILE).read_bytes()
    with pytest.raises(StoreError, match=RACE) as err:
        Store._create(home, home / DB_NAME, sqlite_url(home), None, None, True, None)
    assert "ccapki init" in err.value.hint or "use it" in err.value.hint
    assert (home / KEY_FILE).read_bytes() == key  # never replaced, never removed
    with Store.open(home) as s:
        s.unlock()
    # a passphrase store: its database made meanwhile is refused the same way (was exit 70)
    other = tmp_path / "pass"
    with Store.init(other, passphrase="first-passphrase"):
        pass
    with pytest.raises(StoreError, match=RACE):
        Store._create(other, other / DB_NAME, sqlite_url(other), None, "second-pass", False, None)
    assert not (other / KEY_FILE).exists()
    with Store.open(other, passphrase=lambda: "first-passphrase") as s:
        s.unlock()


def test_the_second_init_of_one_database_refuses_and_keeps_nothing(tmp_path: Path) -> None:
    with pg_schema() as url:
        first, second = tmp_path / "a", tmp_path / "b"
        with Store.init(first, url=url, passphrase="first-passphrase"):
            pass
        second.mkdir()
        with pytest.raises(StoreError, match=RACE):
            Store._create(second, second / DB_NAME, url, url, None, True, None)
        assert not (second / KEY_FILE).exists()  # its own data.key removed again
        with Store.open(first, url=url, passphrase=lambda: "first-passphrase") as s:
            s.unlock()
