"""Which identities hold an adopted certificate: one ``ccapki import`` took with its own key
from where it is in service (an appliance's own install-time certificate, the FAQ's
temporary one, or a CA's), not one ccapki issued. A light module (no ``ccapki.trust``):
``status``, ``plan`` and ``apply`` read it."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ccapki.store.session import Store

__all__ = ["IMPORT_ACTION", "adopted_identities"]

#: The audit action of each certificate ``ccapki import`` makes an identity's new version
#: (beside the ``issue`` row every new version has): its ``fingerprint`` and ``key_from``
#: (``batch``: the certificate came with its own key, taken from where it is in service,
#: i.e. adopted; ``store``: the CA's answer to a CSR ccapki made).
IMPORT_ACTION = "import"
#: The import rows of a deployment. The action is written out, not a parameter: the
#: partial index ``ix_audit_import`` (``action = 'import'``) serves only a query whose
#: WHERE says the same.
_ADOPTED_ROWS = "SELECT subject, detail FROM audit WHERE action = 'import' AND deployment = :d"


def adopted_identities(
    store: Store, current: Mapping[str, str] | Callable[[], Mapping[str, str]]
) -> frozenset[str]:
    """The identities of the deployment acted on whose current certificate (``current``:
    identity -> its fingerprint; a callable: called only when the store imported any)
    was adopted: imported with its own key (``ccapki import [--file FILE] cas1.p12``: an
    appliance's own certificate, or a CA's, taken from where it is in service), neither
    issued by ccapki nor the CA's answer to a CSR ccapki made. From the audit log's
    :data:`IMPORT_ACTION` rows (a certificate imported by a ccapki that wrote none counts
    as issued). Reads only; raises what the store raises."""
    # the action written out (not a parameter): the partial index ix_audit_import is
    # used only when the query's WHERE is its own
    rows = store.rows(_ADOPTED_ROWS, {"d": store.deployment})
    if not rows:
        return frozenset()
    fps = current() if callable(current) else current
    found: set[str] = set()
    for subject, detail in rows:
        fp = fps.get(subject)
        if fp is None or subject in found:
            continue
        try:
            said = json.loads(detail)
        except ValueError:
            continue
        if said.get("fingerprint") == fp and said.get("key_from") == "batch":
            found.add(subject)
    return frozenset(found)
