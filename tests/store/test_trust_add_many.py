"""``store.trust.add_many`` adds each (appliance, certificate) its store lacks, whether it
names a few appliances (it asks for theirs) or thousands (it reads the deployment's entries
and keeps those of the appliances named): the same answer either way, an entry removed
is added again, and another deployment's entries are not this one's."""

from __future__ import annotations

import pytest

from ccapki.store import Store, truststores
from kit.certs import OutsideCA


@pytest.mark.parametrize("named_at_most", [0, 10_000])
def test_add_many_adds_what_each_store_lacks(
    store: Store, outside: OutsideCA, monkeypatch: pytest.MonkeyPatch, named_at_most: int
) -> None:
    monkeypatch.setattr(truststores, "_NAMED_AT_MOST", named_at_most)
    root, inter = outside.root, outside.inter
    with store.scoped("other"):  # another deployment's entries: not this one's
        assert store.trust.add_many([("cas1", root, "r"), ("cas2", inter, "i")]) == [True, True]
    with store.scoped("campus"):
        first = [(f"cas{i}", root, "root") for i in range(100)]
        assert store.trust.add_many(first) == [True] * 100
        assert store.trust.remove("cas6", store.trust.entries("cas6")[0].fingerprint) == 1
        again = [(f"cas{i}", c, "x") for i in range(0, 120, 3) for c in (root, inter)]
        added = store.trust.add_many(again)
        # cas0..cas99 hold the root (but cas6, removed) and no intermediate; cas100+ nothing
        want = [c is inter or i >= 100 or i == 6 for i in range(0, 120, 3) for c in (root, inter)]
        assert added == want
        # the same entry twice in one call: added once
        assert store.trust.add_many([("cas200", root, "a"), ("cas200", root, "b")]) == [
            True,
            False,
        ]
        assert len(store.trust.entries("cas3")) == 2
        assert len(store.trust.entries("cas6")) == 2
    with store.scoped("other"):
        assert [len(store.trust.entries(a)) for a in ("cas1", "cas2", "cas3")] == [1, 1, 0]
