"""A deployment file not applied yet, and ``ccapki csr``: which works from the file the store
last applied, so a CSR made before applying an edited file names the old names (stale at
once). ``plan FILE`` names the right order (``ccapki apply FILE``, then ``ccapki csr NAME``)
and ``csr --file FILE`` refuses what would differ."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ccapki.store.session import Store
    from ccapki.topology.model import Deployment, IdentitySpec

__all__ = ["csr_differs", "edited_since_applied", "unapplied_words"]


def edited_since_applied(store: Store, command: str) -> str | None:
    """The note for ``ccapki COMMAND`` run without FILE (it works from the file the store
    last applied, as it was then) when that file was edited on disk since: the edit is not
    read, and ``ccapki COMMAND FILE`` reads it. None when the file is unchanged, gone or
    unreadable (nothing to say), or none was applied. Raises nothing."""
    from pathlib import Path

    kept = store.deployments.latest()
    if kept is None or not kept.path:
        return None
    try:
        now = Path(kept.path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if now == kept.text:
        return None
    return (
        f"note: {kept.path} changed on disk since it was applied; this {command} works from "
        f"the file as applied then, without the edit: `ccapki {command} {kept.path}` reads it "
        "as it is now"
    )


def _asks(dep: Deployment, spec: IdentitySpec) -> dict[str, object]:
    """What a CSR for ``spec`` asks for (and whether ccapki makes one: its source)."""
    return {
        "CN": spec.common_name.lower().rstrip("."),
        "DNS names": sorted(n.lower().rstrip(".") for n in spec.dns_names),
        "IP addresses": sorted(str(i) for i in spec.ip_addresses),
        "key type": spec.key_type.value,
        "subject": (dep.organization, spec.subject),
        "source": "acme" if spec.acme else spec.source.value,
    }


def csr_differs(applied: Deployment | None, given: Deployment, name: str) -> str:
    """How a CSR ``ccapki csr NAME`` makes now (from ``applied``, the file the store last
    applied; None: none applied) would differ from one for ``given``'s identity ``name``,
    in words of the file last applied ("it differs for cas-clinic in its CN, DNS
    names"); empty when it would not. Pure; raises nothing."""
    if applied is None:
        return f"no file of deployment {given.name} is applied yet"
    new = next((i for i in given.identities if i.name == name), None)
    old = next((i for i in applied.identities if i.name == name), None)
    if new is None:
        return ""
    if old is None:
        return f"it does not name {name}"
    was, now = _asks(applied, old), _asks(given, new)
    changed = [k for k in now if was[k] != now[k]]
    if not changed:
        return ""
    return f"it differs for {name} in its {', '.join(changed)}"


def unapplied_words(file: str, name: str, why: str, *, edited: bool = False) -> tuple[str, str]:
    """The error and hint of ``ccapki csr`` for identity ``name`` of ``file``, not applied
    yet (``why``: :func:`csr_differs`; ``edited``: ``file`` is the one last applied, edited
    since)."""
    what = (
        f"{file} was edited since the store applied it"
        if edited
        else f"{file} is not the deployment file the store last applied"
    )
    return (
        f"{what}, and `ccapki csr` works from the file last applied ({why}): the CSR would "
        f"ask the CA for {name}'s old values; nothing was written",
        f"apply the file first: `ccapki apply {file}`, then `ccapki csr {name}`",
    )
