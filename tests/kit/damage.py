"""Damage a SQLite store's rows as a flipped byte on disk does (for the tests of what
ccapki says and repairs then)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ccapki.store import Store

__all__ = ["damage_active_key", "damage_key_in"]


def damage_active_key(store: Store, identity: str) -> str:
    """Flips four bytes in the middle of ``identity``'s active sealed key (of the
    deployment ``store`` acts on), in its SQLite file; returns the key's fingerprint."""
    (key,) = [k for k in store.keys.list(identity=identity) if k.state.value == "active"]
    con = sqlite3.connect(store.home / "ccapki.db")
    try:
        (sealed,) = con.execute(
            "SELECT sealed FROM keys WHERE fingerprint = ?", (key.fingerprint,)
        ).fetchone()
        damaged = sealed[:20] + bytes(b ^ 0x5A for b in sealed[20:24]) + sealed[24:]
        con.execute("UPDATE keys SET sealed = ? WHERE fingerprint = ?", (damaged, key.fingerprint))
        con.commit()
    finally:
        con.close()
    return key.fingerprint


def damage_key_in(home: Path, identity: str) -> str:
    """:func:`damage_active_key` of the store in ``home`` (opened and closed here)."""
    with Store.open(home) as s:
        return damage_active_key(s, identity)
