"""``ccapki status``: every certificate of the estate by days left, with staged warnings.

What it lists, per deployment: every identity (its current version), every CA, every pending
CSR and every trust-store root (trust entries not removed), each with its days left and its
stage: ``ok``, one of the deployment's ``[monitoring] warn_days`` as text (``"60"``, ``"30"``,
``"7"``: at most that many days left), ``expired``, ``not-yet-valid`` (a certificate, CA
or trust-store root whose ``not_before`` column is after ``now``; a CA or root row written
without it is read from its PEM), or ``pending`` (a CSR). Temporary
certificates (an appliance's own install-time certificate, adopted by ``ccapki import``:
source ``self-signed`` or ``perfigo``, not issued by ccapki) are marked, the three-month
ones of CCA 4.7.2 (and the 4.7 releases after it) above all; a ``self-signed`` or
``perfigo`` identity ccapki issued is not temporary (its note says what it means for trust).
For each identity, what its appliances really serve, from the last probe of each endpoint
(``store.probes``): the verdict and since when.

Two halves:

- pure: :func:`stage_for`, :func:`deployment_items` and :func:`build_report` turn plain facts
  (:class:`DeploymentFacts`: the columns the store holds, the last probes) and an explicit
  ``now`` into a :class:`StatusReport`; a test can hand them any facts;
- the IO edge: :func:`read_facts` reads one deployment's facts from the store (columns only:
  no identity certificate is parsed; each current one's PEM is only hashed against its
  row's fingerprint, to report damage), :func:`estate_status` reads every deployment asked
  for.

Exit codes (:attr:`StatusReport.exit_code`): 0 fine, 1 any warning stage, an expiry or a wrong
certificate served. The monitoring-plugin convention (:attr:`StatusReport.nagios_code`): 0 OK,
1 WARNING, 2 CRITICAL (expired, not valid yet, or a wrong certificate served), 3 UNKNOWN (an
error: the CLI).

A CA that no current certificate's chain holds and no trust store holds (an issuer retired
after a rotation) is listed with ``in_use`` False: its expiry warns nobody.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from json.encoder import encode_basestring_ascii as _jstr  # json.dumps' own string encoder
from typing import TYPE_CHECKING, NamedTuple

from ccapki.errors import NotFoundError
from ccapki.store.records import DEFAULT_DEPLOYMENT, SHARED_CAS, ProbeRecord, ProbeVerdict
from ccapki.topology.model import DEFAULT_WARN_DAYS, Source

if TYPE_CHECKING:
    from ccapki.store.identities import CurrentFact
    from ccapki.store.records import CsrRecord, DeploymentRecord
    from ccapki.store.session import Store
    from ccapki.topology.model import Deployment
    from ccapki.topology.plan import Plan

__all__ = [
    "EARLY_STAGE",
    "KINDS",
    "TEMPORARY_SOURCES",
    "UNFIT_STAGE",
    "WRONG_VERDICTS",
    "CaFact",
    "CsrFact",
    "DeploymentFacts",
    "Served",
    "Settings",
    "StatusItem",
    "StatusReport",
    "TrustFact",
    "acme_ip_words",
    "build_report",
    "ca_validity_days",
    "days_left",
    "deployment_items",
    "estate_status",
    "identity_certificates",
    "latest_names",
    "names_missing",
    "new_certificate_step",
    "not_yet_valid_words",
    "read_facts",
    "read_settings",
    "settings_json",
    "settings_of",
    "stage_for",
    "stored_damage",
]

#: The kinds of item, in the order a deployment's items of equal days left are listed.
KINDS = ("identity", "csr", "ca", "chain-ca", "trust-root")
#: The sources of a release's install-time temporary certificate (when adopted, not issued
#: by ccapki: :attr:`DeploymentFacts.adopted`).
TEMPORARY_SOURCES = frozenset({Source.SELF_SIGNED.value, Source.PERFIGO.value})
#: What an endpoint serves that is not the identity's current certificate.
WRONG_VERDICTS = frozenset(
    {ProbeVerdict.STALE, ProbeVerdict.UNKNOWN, ProbeVerdict.TEMPORARY, ProbeVerdict.HA_MISMATCH}
)
#: The stage of an identity whose current certificate lacks names the deployment file gives
#: it (a peer renamed, a hostname or IP changed, and the certificate not reissued): the
#: code of the trust finding behind it (:data:`ccapki.trust.Code.MISSING_SAN`, the finding
#: of ``check-ha``'s names row and of ``import``'s fit check). A warning (exit 1; --nagios
#: WARNING). An identity already in a warn stage or expired keeps that stage; its note says
#: the names too.
UNFIT_STAGE = "missing-san"
#: The stage of an identity whose current certificate is not valid yet (its ``not_before``
#: column is after ``now``: a third-party CA dated it ahead, a restore or ``import --force``
#: took it, or this machine's clock is behind): the appliance would serve a certificate
#: every client refuses. CRITICAL, as ``expired`` (exit 1; --nagios 2); ``ccapki doctor``
#: reports it as its ``not-yet-valid`` error, in the same words
#: (:func:`not_yet_valid_words`).
EARLY_STAGE = "not-yet-valid"
#: A release whose temporary certificate lasts this many days or fewer is "three months"
#: (CCA 4.7.2 and the 4.7 releases after it: 90 days).
_THREE_MONTHS = 92
_DAY = dt.timedelta(days=1)
#: A probe older than this (or than twice the deployment's probe_interval, when longer) is
#: outdated: what it saw is shown with its age, but judges nothing (the lab that served it
#: may be long gone).
_PROBE_KEPT = dt.timedelta(days=7)


# ---------------------------------------------------------------------------- values

_JBOOL = {False: "false", True: "true"}


@lru_cache(maxsize=4096)  # a probe run's times, a batch's expiry: the same few, many times
def _jtime(when: dt.datetime | None) -> str:
    """A time as ``to_dict`` gives it (ISO 8601), in JSON."""
    return "null" if when is None else f'"{when.isoformat()}"'


@dataclass(frozen=True)
class Served:
    """What one endpoint of an identity's appliance presented at its last probe.

    ``since``: since when it presents that certificate (None: nothing presented).
    """

    appliance: str
    kind: str
    address: str
    verdict: ProbeVerdict
    at: dt.datetime
    since: dt.datetime | None
    reason: str
    #: the probe is older than twice the deployment's probe_interval (at least a week):
    #: what it saw is shown, but judges nothing now
    outdated: bool = False

    def __init__(
        self,
        appliance: str,
        kind: str,
        address: str,
        verdict: ProbeVerdict,
        at: dt.datetime,
        since: dt.datetime | None,
        reason: str,
        outdated: bool = False,
    ) -> None:
        # the fields set at once (a frozen dataclass's own __init__ sets each through
        # object.__setattr__: twice as long, for 10,000s of items a report)
        self.__dict__.update(
            appliance=appliance,
            kind=kind,
            address=address,
            verdict=verdict,
            at=at,
            since=since,
            reason=reason,
            outdated=outdated,
        )

    @property
    def wrong(self) -> bool:
        """Whether it served a certificate other than the identity's current one (at a
        probe recent enough to say so)."""
        return self.verdict in WRONG_VERDICTS and not self.outdated

    def to_dict(self) -> dict[str, object]:
        """The JSON form (times in ISO 8601)."""
        return {
            "appliance": self.appliance,
            "kind": self.kind,
            "address": self.address,
            "verdict": self.verdict.value,
            "at": self.at.isoformat(),
            "since": self.since.isoformat() if self.since else None,
            "reason": self.reason,
            "wrong": self.wrong,
            "outdated": self.outdated,
        }

    def to_json(self) -> str:
        """``json.dumps(self.to_dict())``, written directly (a report of 10,000 identities
        spent as long in json's encoder as in reading the store)."""
        return (
            f'{{"appliance": {_jstr(self.appliance)}, "kind": {_jstr(self.kind)}, '
            f'"address": {_jstr(self.address)}, "verdict": {_jstr(self.verdict.value)}, '
            f'"at": {_jtime(self.at)}, "since": {_jtime(self.since)}, '
            f'"reason": {_jstr(self.reason)}, "wrong": {_JBOOL[self.wrong]}, '
            f'"outdated": {_JBOOL[self.outdated]}}}'
        )


@dataclass(frozen=True)
class StatusItem:
    """One certificate (or pending CSR) of a deployment, by days left.

    ``name``: the identity or CA name; a CSR's identity; a trust-store root
    ``"<appliance>: <label>"``. ``fingerprint``: SHA-256 of the certificate DER (a CSR: its
    pending key's SPKI; an identity without a certificate: ``"none"``, null in its JSON).
    ``stage``: ``ok``, a warn_days stage as text, ``expired``, ``pending`` (a CSR),
    ``missing`` (an identity the deployment file plans, without a certificate) or
    ``damaged`` (an identity whose stored certificate is not the one its row names: for
    ``ccapki doctor``; its days left are the row's).
    ``temporary``: a release's install-time temporary certificate.
    ``served``: for an identity, the last probe of each endpoint of its appliances.
    ``note``: what to know beyond the stage (a temporary certificate's lifetime, a CSR pending
    while the certificate it replaces is due). ``in_use``: False for a CA nothing uses any
    more (its stage then warns nobody). ``chain_of``: of a ``chain-ca`` item (a CA
    certificate the identities send after their own, which ccapki neither holds as a CA
    nor has in a trust store: an outside CA's intermediate), the identities whose current
    chain holds it; its JSON has it, as ``chain_of``, on that kind alone.
    """

    deployment: str
    kind: str
    name: str
    fingerprint: str
    not_after: dt.datetime | None
    days_left: int | None
    stage: str
    temporary: bool
    served: tuple[Served, ...] = ()
    note: str = ""
    in_use: bool = True
    chain_of: tuple[str, ...] = ()

    def __init__(
        self,
        deployment: str,
        kind: str,
        name: str,
        fingerprint: str,
        not_after: dt.datetime | None,
        days_left: int | None,
        stage: str,
        temporary: bool,
        served: tuple[Served, ...] = (),
        note: str = "",
        in_use: bool = True,
        chain_of: tuple[str, ...] = (),
    ) -> None:
        self.__dict__.update(  # at once: see Served.__init__
            deployment=deployment,
            kind=kind,
            name=name,
            fingerprint=fingerprint,
            not_after=not_after,
            days_left=days_left,
            stage=stage,
            temporary=temporary,
            served=served,
            note=note,
            in_use=in_use,
            chain_of=chain_of,
        )

    @property
    def three_months(self) -> bool:
        """A temporary certificate of the release's 3-month kind (CCA 4.7.2 to 4.7's last)."""
        return self.temporary and self.note.startswith("TEMPORARY:")

    @property
    def warning(self) -> bool:
        """Whether the item counts as a warning: a warn stage or expired, and in use."""
        return self.in_use and self.stage not in ("ok", "pending")

    @property
    def expired(self) -> bool:
        return self.in_use and self.stage == "expired"

    @property
    def not_yet_valid(self) -> bool:
        """Whether it is in use and not valid yet (stage :data:`EARLY_STAGE`)."""
        return self.in_use and self.stage == EARLY_STAGE

    @property
    def wrong_served(self) -> tuple[Served, ...]:
        """The endpoints serving something other than the current certificate."""
        return tuple(s for s in self.served if s.wrong)

    def hours_left(self, now: dt.datetime) -> int | None:
        """Whole hours from ``now`` to ``not_after``, rounded down as :attr:`days_left` is
        (negative once expired); None without a ``not_after``. Raises nothing."""
        if self.not_after is None:
            return None
        left = self.not_after - now  # days (negative once expired) + seconds in [0, 86400)
        return left.days * 24 + left.seconds // 3600  # == left // 1 hour, but quicker

    def to_dict(self, now: dt.datetime | None = None) -> dict[str, object]:
        """The JSON form (times in ISO 8601); with ``now`` (the report's), ``hours_left``
        too (:meth:`hours_left`: the last day before expiry, or the first after, in
        hours, where ``days_left`` says 0 or -1)."""
        out: dict[str, object] = {
            "deployment": self.deployment,
            "kind": self.kind,
            "name": self.name,
            "fingerprint": None if self.stage == "missing" else self.fingerprint,
            "not_after": self.not_after.isoformat() if self.not_after else None,
            "days_left": self.days_left,
        }
        if now is not None:
            out["hours_left"] = self.hours_left(now)
        out |= {
            "stage": self.stage,
            "temporary": self.temporary,
            "in_use": self.in_use,
            "note": self.note,
            "served": [s.to_dict() for s in self.served],
        }
        if self.kind == "chain-ca":
            out["chain_of"] = list(self.chain_of)
        return out

    def to_json(self, now: dt.datetime | None = None) -> str:
        """``json.dumps(self.to_dict(now))``, written directly (see :meth:`Served.to_json`)."""
        served = ", ".join([s.to_json() for s in self.served]) if self.served else ""
        days = "null" if self.days_left is None else str(self.days_left)
        if now is not None:
            if self.not_after is None:
                days += ', "hours_left": null'
            else:  # as hours_left(now), inline: once per item of 10,000s
                left = self.not_after - now
                days += f', "hours_left": {left.days * 24 + left.seconds // 3600}'
        fp = "null" if self.stage == "missing" else _jstr(self.fingerprint)
        if self.kind == "chain-ca":
            served += f'], "chain_of": [{", ".join(_jstr(n) for n in self.chain_of)}'
        return (
            f'{{"deployment": {_jstr(self.deployment)}, "kind": {_jstr(self.kind)}, '
            f'"name": {_jstr(self.name)}, "fingerprint": {fp}, '
            f'"not_after": {_jtime(self.not_after)}, "days_left": {days}, '
            f'"stage": {_jstr(self.stage)}, "temporary": {_JBOOL[self.temporary]}, '
            f'"in_use": {_JBOOL[self.in_use]}, "note": {_jstr(self.note)}, '
            f'"served": [{served}]}}'
        )


@dataclass(frozen=True)
class StatusReport:
    """Every item of the deployments asked for, each deployment's items by days left.

    ``warn_days``: each deployment's stages (largest first). ``releases``: each
    deployment's CCA release (None: no deployment file stored).
    """

    now: dt.datetime
    items: tuple[StatusItem, ...]
    warn_days: Mapping[str, tuple[int, ...]]
    releases: Mapping[str, str | None] = field(default_factory=dict)

    @property
    def deployments(self) -> tuple[str, ...]:
        return tuple(self.warn_days)

    def rows(self) -> list[StatusItem]:
        """The items as the table shows them: a trust-store root held by several appliances
        of a deployment once (its first item), a true self-signed identity's own
        certificate in trust stores on the identity's row alone, every other item as it
        is."""
        return list(self._rows)

    @cached_property
    def _rows(self) -> tuple[StatusItem, ...]:
        seen: set[tuple[str, str]] = identity_certificates(self.items)
        out: list[StatusItem] = []
        for i in self.items:
            if i.kind == "trust-root":
                key = (i.deployment, i.fingerprint)
                if key in seen:  # held by another appliance, or an identity's own
                    continue
                seen.add(key)
            out.append(i)
        return tuple(out)

    def counts(self) -> dict[str, int]:
        """How many rows (:meth:`rows`: a root once per deployment, however many
        appliances trust it) are in each state: ``expired``, ``warning`` (a warn stage),
        ``ok``, ``pending`` (CSRs), ``damaged`` (identities whose stored certificate is
        damaged), ``not_yet_valid`` (certificates not valid yet),
        ``unused`` (CAs nothing uses), ``temporary``,
        ``temporary_3_months``, ``wrong_served`` (endpoints), ``unreachable`` (endpoints
        that presented nothing), ``items`` (rows), ``listed`` (:attr:`items`, a root once
        per appliance that holds it: what ``--json`` lists)."""
        return dict(self._counts)

    @cached_property
    def _counts(self) -> dict[str, int]:
        stages: Counter[str] = Counter()
        unused = temporary = three_months = wrong = unreachable = 0
        rows = self._rows
        for i in rows:
            if not i.in_use:
                unused += 1
            else:
                stages[i.stage] += 1
            if i.temporary:
                temporary += 1
                if i.three_months:
                    three_months += 1
            for s in i.served:
                if s.wrong:
                    wrong += 1
                elif not s.verdict.served:
                    unreachable += 1
        named = ("expired", "pending", "missing", "damaged", "ok", EARLY_STAGE)
        return {
            "items": len(rows),
            "expired": stages["expired"],
            "missing": stages["missing"],
            "warning": sum(n for stage, n in stages.items() if stage not in named),
            "ok": stages["ok"],
            "pending": stages["pending"],
            "unused": unused,
            "temporary": temporary,
            "temporary_3_months": three_months,
            "wrong_served": wrong,
            "unreachable": unreachable,
            "damaged": stages["damaged"],
            "not_yet_valid": stages[EARLY_STAGE],
            # the items (a root once per appliance holding it): what JSON lists
            "listed": len(self.items),
        }

    def within(self) -> list[tuple[int, int]]:
        """(stage days, how many in-use rows (:meth:`rows`) are in that stage), tightest
        stage first."""
        c = Counter(int(i.stage) for i in self._rows if i.warning and i.stage.isdecimal())
        return sorted(c.items())

    @property
    def min_days_left(self) -> int | None:
        """The fewest days left of any in-use certificate (None: none)."""
        days = [i.days_left for i in self.items if i.in_use and i.days_left is not None]
        return min(days) if days else None

    @property
    def exit_code(self) -> int:
        """0 fine; 1 any warning stage, expiry, certificate not valid yet, wrong certificate
        served, identity planned without a certificate (stage ``missing``) or stored
        certificate damaged."""
        bad = any(i.warning or i.wrong_served for i in self.items)
        return 1 if bad else 0

    @property
    def nagios_code(self) -> int:
        """The monitoring-plugin convention: 0 OK, 1 WARNING (a warn stage), 2 CRITICAL
        (expired, not valid yet, a wrong certificate served, or a stored certificate
        damaged). 3 (UNKNOWN) is the CLI's, for errors."""
        if any(
            i.expired or i.not_yet_valid or i.wrong_served or i.stage == "damaged"
            for i in self.items
        ):
            return 2
        if any(i.warning for i in self.items):
            return 1
        return 0

    def summary(self) -> str:
        """One line: what needs doing, else that all is fine."""
        n = self.counts()
        parts: list[str] = []
        if n["damaged"]:
            parts.append(
                f"{_plural(n['damaged'], 'stored certificate')} damaged (run `ccapki doctor`)"
            )
        if n["expired"]:
            parts.append(f"{n['expired']} expired")
        if n["not_yet_valid"]:
            parts.append(
                f"{n['not_yet_valid']} not valid yet (every client refuses it: see the note)"
            )
        if n["missing"]:
            word = "identity" if n["missing"] == 1 else "identities"
            parts.append(f"{n['missing']} {word} without a certificate")
        parts += [f"{count} within {days} days" for days, count in self.within()]
        if n["wrong_served"]:
            parts.append(f"{_plural(n['wrong_served'], 'wrong certificate')} served")
        temporary, short = n["temporary"], n["temporary_3_months"]
        if temporary:  # as many as --nagios's temporary=N; the release's 3-month kind named
            if short == temporary:
                parts.append(f"{temporary} temporary (3 months)")
            elif short:
                parts.append(f"{temporary} temporary ({short} of them for 3 months)")
            else:
                parts.append(f"{temporary} temporary")
        rollover = sum(1 for i in self._rows if i.in_use and i.stage == "rollover")
        if rollover:
            parts.append(f"{_plural(rollover, 'CA')} to roll over at the next renewal")
        unfit = sum(1 for i in self._rows if i.in_use and i.stage == UNFIT_STAGE)
        if unfit:
            word = "identity" if unfit == 1 else "identities"
            parts.append(
                f"{unfit} {word} whose certificate lacks names the deployment file gives "
                "(a new certificate is needed: see the note)"
            )
        if n["pending"]:
            parts.append(f"{_plural(n['pending'], 'CSR')} pending")
        if n["unreachable"]:
            parts.append(f"{_plural(n['unreachable'], 'endpoint')} not reached at the last probe")
        if not any(i.warning or i.wrong_served for i in self.items):
            widest = {max(w) for w in self.warn_days.values() if w}
            fine = f"{_plural(n['ok'], 'certificate')} fine"
            if len(widest) == 1:
                fine += f", none within {widest.pop()} days"
            elif widest:  # deployments warning at different stages: each by its own
                fine += ", none within its deployment's warning stages"
            parts.insert(0, fine)
        return ", ".join(parts)

    def nagios_line(self) -> str:
        """The monitoring plugin's first line: status, summary, ``|`` performance data."""
        word = ("OK", "WARNING", "CRITICAL")[self.nagios_code]
        n = self.counts()
        perf = [
            f"expired={n['expired']}",
            f"warning={n['warning']}",
            f"wrong_served={n['wrong_served']}",
            f"ok={n['ok']}",
            f"pending={n['pending']}",
            f"temporary={n['temporary']}",
            f"unreachable={n['unreachable']}",
            f"missing={n['missing']}",
        ]
        if n["damaged"]:  # store damage, not a quantity to graph: only when there is some
            perf.append(f"damaged={n['damaged']}")
        if n["not_yet_valid"]:  # alike: a clock or a CA's date to fix, only when there is one
            perf.append(f"not_yet_valid={n['not_yet_valid']}")
        if self.min_days_left is not None:
            perf.append(f"min_days_left={self.min_days_left}")
        return f"CCAPKI {word} - {self.summary()} | {' '.join(perf)}"

    def to_dict(self, *, items: bool = True) -> dict[str, object]:
        """The JSON form of ``ccapki status --json`` (``items=False``: without ``items``,
        which each write their own JSON: :meth:`StatusItem.to_json`)."""
        out: dict[str, object] = {
            "now": self.now.isoformat(),
            "deployments": {
                name: {"release": self.releases.get(name), "warn_days": list(days)}
                for name, days in self.warn_days.items()
            },
            "summary": self.summary(),
            "counts": self.counts(),
            "exit_code": self.exit_code,
            "nagios_code": self.nagios_code,
        }
        if items:
            out["items"] = [i.to_dict(self.now) for i in self.items]
        return out


def identity_certificates(items: Sequence[StatusItem]) -> set[tuple[str, str]]:
    """(deployment, fingerprint) of every identity item's certificate: a trust-root item
    with one of them is a true self-signed identity's own certificate in a peer's trust
    store, reported once, as the identity (its note says where it is trusted)."""
    return {(i.deployment, i.fingerprint) for i in items if i.kind == "identity"}


def _unwritten(store: Store) -> dict[tuple[str, str, dt.datetime], tuple[str, str]]:
    """The CSRs the store keeps, by (identity, key, made), that a `renew --commit` or a
    `csr` stopped before it finished made
    (:func:`~ccapki.lifecycle.csrdelivery.undelivered_csrs`): the file that holds each
    (``-`` when none was written) and the command that made it."""
    from ccapki.lifecycle.csrdelivery import undelivered_csrs

    return {
        (u.identity, u.spki, u.record.created_at): (u.path if u.on_disk else "-", u.by)
        for u in undelivered_csrs(store).values()
    }


def _plural(n: int, word: str) -> str:
    return f"{n} {word if n == 1 else word + 's'}"


# ---------------------------------------------------------------------------- pure facts


class CaFact(NamedTuple):
    """A CA the deployment holds (``kind``: perfigo-root, internal-root, ...).
    ``not_before``: its start of validity (the ``cas`` column, schema 0011; a row written
    without it is read from its PEM by :func:`read_facts`); None: not known. After
    ``now``, stage :data:`EARLY_STAGE`."""

    name: str
    kind: str
    fingerprint: str
    not_after: dt.datetime
    not_before: dt.datetime | None = None


class TrustFact(NamedTuple):
    """One trust-store entry (not removed) of an appliance. ``superseded``: the entry is
    an earlier version of one of the deployment's identities (a self-signed certificate
    trusted directly, renewed since): ``(identity, its version, the current version)``;
    nothing presents it once the appliances are reloaded, so its expiry warns nobody.
    ``not_before``: as :attr:`CaFact.not_before` (the ``trust_entries`` column)."""

    appliance: str
    label: str
    fingerprint: str
    not_after: dt.datetime
    superseded: tuple[str, int, int] | None = None
    not_before: dt.datetime | None = None


class ChainFact(NamedTuple):
    """A CA certificate the current identities' chains hold that the store neither holds as
    a CA nor has in a trust store: an outside CA's intermediate (or its root, where no
    appliance trusts it), sent by each appliance after its own certificate. When it
    expires, clients reject those appliances though their own certificates are valid.
    ``identities``: whose current chain holds it, sorted."""

    name: str
    fingerprint: str
    not_after: dt.datetime
    identities: tuple[str, ...]
    not_before: dt.datetime | None = None


class CsrFact(NamedTuple):
    """A CSR whose key is still pending (no certificate imported for it yet); ``stale``:
    how it differs from what the deployment file now gives its identity (names, key
    type), in words; empty when it does not."""

    identity: str
    spki: str
    created_at: dt.datetime
    stale: str = ""
    #: the `renew --commit` that made it was stopped after the store kept it (see
    #: :mod:`ccapki.lifecycle.csrdelivery`): ``-`` its file was never written, else the
    #: file that holds it
    unwritten: str = ""
    #: the command whose run made that unwritten CSR (``renew --commit``, ``csr``)
    unwritten_by: str = "renew --commit"


@dataclass(frozen=True)
class DeploymentFacts:
    """What :func:`deployment_items` needs of one deployment: plain values.

    ``identities``: the current version of each (store columns). ``appliances``: appliance
    -> its identity (from the deployment file), for probes that name no identity.
    ``chain_fingerprints``: the CA certificates the current identities' chains hold (None:
    not known, every CA counts as in use). ``release`` and ``temporary_days``: the CCA
    release and how long its temporary certificate lasts (None: no deployment file).
    """

    name: str
    warn_days: tuple[int, ...] = DEFAULT_WARN_DAYS
    release: str | None = None
    temporary_days: int | None = None
    identities: tuple[CurrentFact, ...] = ()
    cas: tuple[CaFact, ...] = ()
    csrs: tuple[CsrFact, ...] = ()
    trust: tuple[TrustFact, ...] = ()
    probes: tuple[ProbeRecord, ...] = ()
    appliances: Mapping[str, str] = field(default_factory=dict)
    chain_fingerprints: frozenset[str] | None = None
    #: identity -> source of every identity the deployment file plans (those without a
    #: certificate are reported missing)
    planned: Mapping[str, str] = field(default_factory=dict)
    #: seconds between probes: a probe older than twice this (at least a week) is outdated
    probe_interval: int = 3600
    #: identity -> why its current row's stored certificate is not the certificate the row
    #: names (unreadable, another certificate, not UTF-8): damaged, for `ccapki doctor`
    damaged: Mapping[str, str] = field(default_factory=dict)
    #: CA kind -> the longest validity (days) the identities it signs ask for (the file's):
    #: a CA with less life left gets a successor at the next renewal (stage ``rollover``)
    ca_days: Mapping[str, int] = field(default_factory=dict)
    #: identity -> what its current certificate lacks of the names the deployment file
    #: gives it, in the words of the trust rule that found it (``check-ha``'s names row for
    #: an HA pair, ``import``'s fit check otherwise): stage :data:`UNFIT_STAGE`
    unfit: Mapping[str, str] = field(default_factory=dict)
    #: the path of the deployment file last applied (for the fix's `ccapki apply FILE`)
    file: str | None = None
    #: identity -> the names of :attr:`unfit`'s its current certificate lacks (an ACME
    #: identity lacking an IP address: no order can name it)
    unfit_names: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: the identities whose current certificate was adopted (imported with its own key,
    #: not issued by ccapki): of a :data:`TEMPORARY_SOURCES` source, an appliance's own
    #: install-time certificate, the FAQ's temporary certificate (:func:`adopted_of`)
    adopted: frozenset[str] = frozenset()
    #: the CA certificates of the current chains that are neither :attr:`cas` nor in a
    #: trust store (:class:`ChainFact`): items of kind ``chain-ca``
    chain_cas: tuple[ChainFact, ...] = ()


# ---------------------------------------------------------------------------- pure part


def days_left(not_after: dt.datetime, now: dt.datetime) -> int:
    """Whole days from ``now`` to ``not_after``, rounded down: negative once expired."""
    return (not_after - now) // _DAY


def stage_for(days_left: int, warn_days: Sequence[int]) -> str:
    """The stage of a certificate with ``days_left``: ``expired`` below 0, else the
    tightest of ``warn_days`` it is within (``"30"``: at most 30 days left), else ``ok``."""
    if days_left < 0:
        return "expired"
    for d in sorted(warn_days):
        if days_left <= d:
            return str(d)
    return "ok"


def _stage_words(stage: str, days: int, not_after: dt.datetime, now: dt.datetime) -> str:
    """What the certificate does: "is in the 30-day stage (12 day(s) left)", "expired 2
    days ago", "expired 16 hours ago (2027-11-29 17:00 UTC)" (as every command says it:
    :func:`ccapki.pki.expiry.expiry_words`); "is not valid yet" (:data:`EARLY_STAGE`)."""
    if stage == EARLY_STAGE:
        return "is not valid yet"
    if stage == "expired":
        from ccapki.pki.expiry import expiry_stamp, expiry_words

        words = expiry_words(not_after, now)
        return words if now - not_after >= _DAY else f"{words} ({expiry_stamp(not_after, now)})"
    return f"is in the {stage}-day stage ({days} day{'' if days == 1 else 's'} left)"


def _temporary_note(
    source: str, facts: DeploymentFacts, lifetime: dt.timedelta | None = None
) -> str:
    """What to know of an appliance's own install-time certificate, adopted (the FAQ's
    temporary certificate): a Perfigo-signed one (the pre-4.7 kind), or the release's own
    kind (self-signed from 4.7, Perfigo-signed before), which from 4.7.2 to 4.7's last
    lasts 3 months."""
    fix = 'replace it with a CA-signed one (source = "internal" or "third-party")'
    if source == Source.PERFIGO.value:
        return (
            "temporary: the appliance's own install-time certificate, Perfigo-signed as "
            f"CCA's were before 4.7; {fix}"
        )
    rel = f"CCA {facts.release}" if facts.release else "the release"
    kind = "Perfigo-signed" if _perfigo_release(facts.release) else "self-signed"
    if facts.temporary_days is not None and facts.temporary_days <= _THREE_MONTHS:
        issued = ""
        if lifetime is not None and abs(lifetime.days - facts.temporary_days) > 1:
            issued = f"; this one was issued for {lifetime.days} days"
        return (
            f"TEMPORARY: {rel}'s {kind} install-time certificate lasts 3 months "
            f"({facts.temporary_days} days){issued}; {fix}"
        )
    return f"temporary: the appliance's own install-time certificate ({rel}'s {kind} kind)"


def _perfigo_release(release: str | None) -> bool:
    """Whether ``release`` signs its temporary (and ``self-signed``) certificates with the
    Perfigo root (before 4.7). False when not known or not readable."""
    if not release:
        return False
    from ccapki.errors import InputError
    from ccapki.topology.releases import parse_release, profile_for

    try:
        return profile_for(parse_release(release)).temp_cert_signer == "perfigo"
    except InputError:
        return False


def _own_note(source: str, facts: DeploymentFacts) -> str:
    """What to know of a self-signed or Perfigo-style certificate ccapki issued from the
    deployment file (on purpose, renewed by ccapki: not the release's temporary one), for
    trust: no client trusts it until its root is in the client's trusted root store. Empty
    for other sources."""
    if source not in TEMPORARY_SOURCES:
        return ""
    # before 4.7, a self-signed identity is signed by the Perfigo root
    if source == Source.PERFIGO.value or _perfigo_release(facts.release):
        return (
            "Perfigo-style, issued by ccapki: clients warn of it as untrusted until the "
            "Perfigo root that signs it is in their trusted root store (`ccapki export-roots`)"
        )
    return (
        "true self-signed, issued by ccapki: clients warn of it as untrusted until it (its "
        "own root) is in their trusted root store (`ccapki export-roots`)"
    )


def new_certificate_step(
    name: str,
    source: str,
    path: str | None,
    *,
    ha: bool,
    awaited: bool = False,
    applied: bool = False,
    missing: Sequence[str] = (),
) -> str:
    """Return the step that gives identity ``name`` (``source``: a :class:`Source` value,
    or ``"acme"``) a certificate naming everything the deployment file gives it, when its
    current one lacks some (a peer renamed, a hostname or IP changed): exporting or
    reinstalling the current one cannot help. ``path``: the deployment file to apply;
    ``ha``: install on both peers at once; ``awaited``: a CSR made for the file as it is
    now awaits the CA; ``applied``: ``path`` is already the file the store applied (only
    the steps after ``apply`` are left); ``missing``: the names the certificate lacks (an
    ACME identity lacking an IP address: no order can name it,
    :func:`acme_ip_words`). Raises nothing."""
    from ccapki.pki.certs import parse_ip

    apply_cmd = f"`ccapki apply {path or 'FILE'}`"
    where = "on both peers at once" if ha else f"on {name}"
    if source == "acme":
        ips = [n for n in missing if parse_ip(n) is not None]
        if ips and len(ips) == len(missing):
            return acme_ip_words(name, ips, path)
        how = f"order a new one from the ACME CA (`ccapki acme order {name}`)"
        if ips:
            cannot = acme_ip_words(name, ips, path)
            return f"{how} for the other names, then install it {where}; {cannot}"
    elif source == Source.THIRD_PARTY.value and awaited:
        how = "import the CA's answer to its pending CSR, which names them (`ccapki import FILE`)"
    elif source == Source.THIRD_PARTY.value:
        made = f"`ccapki csr {name}`" if applied else f"{apply_cmd}, then `ccapki csr {name}`"
        how = f"make a new CSR ({made}) and import the CA's answer"
    else:
        how = f"have it reissued ({f'`ccapki renew {name} --commit`' if applied else apply_cmd})"
    return f"{how}, then install the new one {where}"


def acme_ip_words(name: str, ips: Sequence[str], path: str | None) -> str:
    """Return what ``check-ha`` and ``status`` say of ACME identity ``name`` whose
    certificate lacks the IP addresses ``ips``: no ACME order can name one, a source that
    can (``path``: the deployment file to apply once it says so). Raises nothing."""
    return (
        "an ACME order never names an IP address (DNS-01 cannot prove one; public CAs do "
        f"not issue them): {', '.join(ips)}; to name the IPs, give {name} "
        'source = "internal" or "third-party" (a CA that issues IP addresses), then '
        f"`ccapki apply {path or 'FILE'}`"
    )


def not_yet_valid_words(
    name: str,
    not_before: dt.datetime,
    *,
    outside: bool,
    acme: bool = False,
    deployment: str | None = None,
) -> tuple[str, str]:
    """Return (what is wrong, the fix) of identity ``name`` whose current certificate is
    not valid until ``not_before``, as ``ccapki doctor`` (its ``not-yet-valid`` error) and
    ``ccapki status`` (stage :data:`EARLY_STAGE`) both say it. ``outside``: an outside CA
    signed it (third-party or ACME: it comes back through a CSR or an order, never
    ``apply``); ``acme``: ordered by ACME; ``deployment``: named in the commands (a store
    of several). Raises nothing."""

    def command(args: str) -> str:
        return f"ccapki --deployment {deployment} {args}" if deployment else f"ccapki {args}"

    message = (
        f"the current certificate is not valid until {not_before:%Y-%m-%d %H:%M} UTC ("
        + ("its CA dated it ahead, or" if outside else "the issuing clock was ahead, or")
        + " this machine's clock is behind)"
    )
    if not outside:
        return message, "check this machine's clock, then `ccapki apply FILE` reissues it"
    fix = (
        "check this machine's clock; if it is right, it serves only from then "
        "(keep the one installed now until then), or "
        + (
            f"order a new one now (`{command(f'acme order {name}')}`)"
            if acme
            else "have the CA issue a new one now "
            f"(`{command(f'csr {name}')}`, then `ccapki import` what the CA returns)"
        )
    )
    return message, fix


def _early_root_note(not_before: dt.datetime, note: str) -> str:
    """``note``, led by what a CA or trust-store root not valid until ``not_before`` means
    (stage :data:`EARLY_STAGE`): every chain through it fails until then."""
    said = (
        f"not valid until {not_before:%Y-%m-%d %H:%M} UTC (its issuer dated it ahead, or this "
        "machine's clock is behind): every certificate chained to it fails until then; "
        "check this machine's clock, else keep the certificates chained to the one it "
        "replaces installed until then"
    )
    return f"{said}; {note}" if note else said


def _unfit_note(note: str, f: CurrentFact, facts: DeploymentFacts, awaited: set[str]) -> str:
    """``note``, led by what identity ``f``'s certificate lacks of the names the deployment
    file gives it and the step that fixes it (:func:`new_certificate_step`), if it lacks
    any."""
    words = facts.unfit.get(f.identity)
    if words is None:
        return note
    members = sum(1 for owner in facts.appliances.values() if owner == f.identity)
    step = new_certificate_step(
        f.identity,
        facts.planned.get(f.identity, f.source),
        facts.file,
        ha=members > 1,
        awaited=f.identity in awaited,
        applied=True,  # the file status checks against is the one the store applied
        missing=facts.unfit_names.get(f.identity, ()),
    )
    said = f"{words}: {step}"
    return f"{said}; {note}" if note else said


def _csr_step(
    note: str, f: CurrentFact, stage: str, facts: DeploymentFacts, awaited: set[str]
) -> str:
    """``note``, plus, for a third-party identity status warns of whose renewal has no CSR
    at the CA yet, the next step: its CSR (``renew --due`` includes it from this stage)."""
    if (
        stage in ("ok", "pending")
        or f.source != Source.THIRD_PARTY.value
        or facts.planned.get(f.identity, f.source) == "acme"
        or f.identity in awaited
    ):
        return note
    step = (
        f"next: make its CSR and send it to the CA (`ccapki renew --due --commit`, or "
        f"`ccapki csr {f.identity}`): the CA's answer takes time"
    )
    return f"{note}; {step}" if note else step


def _rollover_note(ca: CaFact, facts: DeploymentFacts, now: dt.datetime) -> str:
    """What status says of a signing CA that can no longer sign a certificate for the
    validity its identities ask for (renew's rule, :func:`ccapki.pki.expiry.
    ca_successor_reason`): the next renewal makes its successor; a root's successor is a
    new root clients must trust first. Empty when it can still sign one."""
    from ccapki.pki.expiry import ca_successor_reason

    days = facts.ca_days.get(ca.kind)
    why = None if days is None else ca_successor_reason(ca.name, ca.not_after, now, days)
    if why is None:
        return ""
    generation = sum(1 for c in facts.cas if c.kind == ca.kind) + 1
    base = _GENERATION_SUFFIX.sub("", ca.name)
    successor = f"{base} G{generation}"
    note = (
        f"rollover ahead: {why}: the next renewal (`ccapki renew --due`) makes a successor, "
        f"{successor}"
    )
    if ca.kind.endswith("-root"):
        note += (
            ", a new root every client (agents, web-login and admin-GUI browsers) must trust "
            "before the appliances present what it signs: once made, `ccapki export-roots` "
            "writes it; install it on the clients first"
        )
    return note


#: a CA name's generation suffix (" G2"), as renew names successors
_GENERATION_SUFFIX = re.compile(r" G\d+$")


def _also_root(note: str, appliances: Sequence[str] | None) -> str:
    """``note``, plus, for a true self-signed identity whose own certificate the trust
    stores of ``appliances`` hold, that it is also the root they trust (one row for both)."""
    if not appliances:
        return note
    names = list(dict.fromkeys(appliances))
    more = f" +{len(names) - 4}" if len(names) > 4 else ""
    where = f"{', '.join(names[:4])}{more}"
    also = (
        "also the root its peers and clients trust (true self-signed: in the trust store of "
        f"{len(names)} appliance{'' if len(names) == 1 else 's'}: {where})"
    )
    return f"{note}; {also}" if note else also


def _served(
    probes: Sequence[ProbeRecord],
    current: CurrentFact | None,
    now: dt.datetime | None = None,
    fresh_for: dt.timedelta = 2 * dt.timedelta(hours=1),
) -> tuple[Served, ...]:
    if not probes:
        return ()
    out: list[Served] = []
    ordered = list(probes)
    if len(ordered) > 1:
        ordered.sort(key=lambda r: (r.appliance, r.kind))
    for p in ordered:
        verdict, reason = p.verdict, p.reason
        if (
            verdict is ProbeVerdict.EXPECTED
            and current is not None
            and p.leaf_sha256 is not None
            and p.leaf_sha256 != current.fingerprint
        ):  # renewed since this probe: what it saw then is now an older version
            verdict = ProbeVerdict.STALE
            was = f"version {p.version}" if p.version is not None else "an older version"
            reason = (
                f"served {was} at the last probe; the current is version {current.version}: "
                "reload the appliance and probe again"
            )
        outdated = now is not None and now - p.at > fresh_for
        if outdated:
            assert now is not None
            ago = (now - p.at) // _DAY
            hours = (now - p.at) // dt.timedelta(hours=1)
            age = (
                f"{ago} day{'' if ago == 1 else 's'}"
                if ago
                else f"{hours} hour{'' if hours == 1 else 's'}"
            )
            reason = (
                f"outdated: last probed {age} ago ({p.at:%Y-%m-%d %H:%M} UTC); run "
                f"`ccapki probe`" + (f" ({reason})" if reason else "")
            )
        out.append(Served(p.appliance, p.kind, p.address, verdict, p.at, p.since, reason, outdated))
    return tuple(out)


def deployment_items(facts: DeploymentFacts, now: dt.datetime) -> list[StatusItem]:
    """Every item of one deployment at ``now``, by days left (a CSR beside its identity;
    a CSR of an identity without a certificate last)."""
    dep, warn = facts.name, facts.warn_days
    items: list[StatusItem] = []
    by_identity: dict[str, list[ProbeRecord]] = {}
    for p in facts.probes:
        owner = p.identity or facts.appliances.get(p.appliance)
        if owner is not None:
            by_identity.setdefault(owner, []).append(p)
    stages: dict[str, tuple[str, int]] = {}
    expiry: dict[str, dt.datetime] = {}
    fresh_for = max(2 * dt.timedelta(seconds=facts.probe_interval), _PROBE_KEPT)
    judged: dict[dt.datetime, tuple[str, int]] = {}  # a batch's expiry, a root: many times

    def judge(not_after: dt.datetime) -> tuple[str, int]:
        found = judged.get(not_after)
        if found is None:
            left = days_left(not_after, now)
            found = judged[not_after] = (stage_for(left, warn), left)
        return found

    no_probes: tuple[ProbeRecord, ...] = ()
    # identities the deployment file no longer names (a CAS removed from it, or renamed):
    # kept in the store, neither renewed nor checked, so their expiry warns nobody
    gone = {
        f.fingerprint: f.identity
        for f in facts.identities
        if facts.planned and f.identity not in facts.planned
    }
    # the trust stores of appliances the file no longer has are gone with them
    held_trust = [t for t in facts.trust if not facts.appliances or t.appliance in facts.appliances]
    # a true self-signed identity's own certificate is also the root its peers trust:
    # one row, the identity's, saying where it is trusted (not a trust-root row again)
    own_name = {f.fingerprint: f.identity for f in facts.identities if f.fingerprint not in gone}
    trusted_own: dict[str, list[str]] = {}
    for t in held_trust:
        if t.superseded is None and t.fingerprint in own_name:
            trusted_own.setdefault(t.fingerprint, []).append(t.appliance)
    awaited = {c.identity for c in facts.csrs if not c.stale}  # a CSR the CA answers
    for f in facts.identities:
        if f.fingerprint in gone:
            stage, left = judge(f.not_after)
            note = (
                "unused: not in the deployment file any more (kept, neither renewed nor "
                "checked; name it in the file again to manage it)"
            )
            items.append(
                StatusItem(
                    dep, "identity", f.identity, f.fingerprint, f.not_after, left, stage,
                    False, (), note, False,
                )
            )  # fmt: skip
            continue
        stage, left = stages[f.identity] = judge(f.not_after)
        expiry[f.identity] = f.not_after
        # the appliance's own install-time certificate (adopted): temporary; one ccapki
        # issued from the file on purpose is self-signed (or Perfigo-style), no more
        temporary = f.source in TEMPORARY_SOURCES and f.identity in facts.adopted
        why = facts.damaged.get(f.identity)
        if why is not None:  # its days and expiry are what the row's columns say
            items.append(
                StatusItem(
                    dep, "identity", f.identity, f.fingerprint, f.not_after, left, "damaged",
                    temporary, _served(by_identity.get(f.identity, no_probes), f, now, fresh_for),
                    _also_root(
                        f"the stored certificate {why}: run `ccapki doctor`, which says what "
                        "is damaged and how to restore it",
                        trusted_own.get(f.fingerprint),
                    ),
                )
            )  # fmt: skip
            continue
        note = _csr_step(
            _also_root(
                _temporary_note(
                    f.source, facts, f.not_after - f.not_before if f.not_before else None
                )
                if temporary
                else _own_note(f.source, facts),
                trusted_own.get(f.fingerprint),
            ),
            f,
            stage,
            facts,
            awaited,
        )
        if (
            facts.planned.get(f.identity) == Source.THIRD_PARTY.value
            and f.source not in (Source.THIRD_PARTY.value, "acme")
            and f.identity not in awaited
        ):  # the file moved it to an outside CA: apply renews it no more
            switched = (
                f"the deployment file gives it source third-party now: `apply` no longer "
                f"renews this {f.source} certificate; the next comes from the CA (`ccapki csr "
                f"{f.identity}`, then `ccapki import` the answer)"
            )
            note = f"{switched}; {note}" if note else switched
        if f.identity in facts.unfit:  # a new certificate is needed, whatever its days
            note = _unfit_note(note, f, facts, awaited)
            if stage == "ok":
                stage = UNFIT_STAGE
        if f.not_before is not None and f.not_before > now:  # every client refuses it
            acme = facts.planned.get(f.identity) == "acme"
            said, fix = not_yet_valid_words(  # as doctor says it
                f.identity,
                f.not_before,
                outside=acme or f.source == Source.THIRD_PARTY.value,
                acme=acme,
            )
            stage = EARLY_STAGE
            stages[f.identity] = (stage, left)
            note = f"{said}: {fix}" + (f"; {note}" if note else "")
        items.append(
            StatusItem(
                dep,
                "identity",
                f.identity,
                f.fingerprint,
                f.not_after,
                left,
                stage,
                temporary,
                _served(by_identity.get(f.identity, no_probes), f, now, fresh_for),
                note,
            )
        )
    held = {f.identity for f in facts.identities}
    waiting = {c.identity for c in facts.csrs}
    for name, source in facts.planned.items():
        if name in held:
            continue
        if name in waiting:  # its CSR's row says it: the normal wait for the CA
            continue
        if source == "acme":
            note = (
                f"no certificate yet: order it (`ccapki acme order {name}`, or `ccapki apply "
                "FILE`, which orders what is due)"
            )
        elif source == Source.THIRD_PARTY.value:
            note = (
                f"no certificate yet: make its CSR (`ccapki csr {name}`), send it to the CA, "
                "then `ccapki import FILE`"
            )
        else:
            note = "no certificate yet: issue it (`ccapki apply FILE`)"
        items.append(
            StatusItem(dep, "identity", name, "none", None, None, "missing", False, (), note)
        )
    newest = {c.identity: c for c in facts.csrs}  # oldest first: each identity's last
    for csr in facts.csrs:
        made = f"made {csr.created_at:%Y-%m-%d}"
        had = stages.get(csr.identity)
        by = csr.unwritten_by  # `ccapki csr NAME` writes what a `ccapki csr` kept
        again = f"ccapki csr {csr.identity}" if by == "csr" else "ccapki renew --commit"
        if csr.unwritten == "-" and not csr.stale:
            note = (
                f"{made}; its file was never written (the `ccapki {by}` that made "
                f"it was stopped before; the key is kept): `{again}` writes it "
                "(no new key), then send it to the CA"
            )
        elif csr.unwritten and not csr.stale:
            note = (
                f"{made}; the `ccapki {by}` that made it was stopped before it "
                f"finished (the key is kept): {csr.unwritten} holds it, send it to the CA"
            )
        elif csr.stale:  # the CA's answer to it would not be what the file asks for
            todo = (
                "a newer one is current"
                if not newest[csr.identity].stale
                else f"make a new one (`ccapki csr {csr.identity}`) and send it to the CA"
            )
            note = (
                f"{made}; stale: made for an older version of the deployment file "
                f"({csr.stale}): {todo} (`ccapki import` refuses the answer to this one)"
            )
        elif had is None:
            note = f"{made}; no certificate yet: import the CA's answer (`ccapki import FILE`)"
        elif had[0] in ("ok", "pending"):
            note = f"{made}; the current certificate stays in use until the answer is imported"
        else:
            note = (
                f"{made}; pending while the current certificate "
                f"{_stage_words(*had, expiry[csr.identity], now)}: import the CA's answer "
                "(`ccapki import FILE`)"
            )
        items.append(
            StatusItem(dep, "csr", csr.identity, csr.spki, None, None, "pending", False, (), note)
        )
    used = facts.chain_fingerprints
    trusted = {t.fingerprint for t in held_trust}
    signing = {ca.kind: ca for ca in facts.cas}  # oldest first: the last of a kind signs
    for ca in facts.cas:
        left = days_left(ca.not_after, now)
        in_use = used is None or ca.fingerprint in used or ca.fingerprint in trusted
        note = (
            ""
            if in_use
            else f"unused ({ca.kind}): no current certificate's chain or trust store holds it"
        )
        stage = stage_for(left, warn)
        if in_use and stage == "ok" and signing[ca.kind] is ca:
            rollover = _rollover_note(ca, facts, now)
            if rollover:
                stage, note = "rollover", rollover
        if ca.not_before is not None and ca.not_before > now:  # as an identity's
            stage, note = EARLY_STAGE, _early_root_note(ca.not_before, note)
        items.append(
            StatusItem(
                dep,
                "ca",
                ca.name,
                ca.fingerprint,
                ca.not_after,
                left,
                stage,
                False,
                (),
                note,
                in_use,
            )
        )
    labels = Counter((t.appliance, t.label) for t in held_trust)
    for t in held_trust:
        stage, left = judge(t.not_after)
        name = f"{t.appliance}: {t.label}"
        if labels[(t.appliance, t.label)] > 1:  # e.g. two versions of a self-signed identity
            name += f" (sha256 {t.fingerprint[:12]}, until {t.not_after:%Y-%m-%d})"
        if t.superseded is None and t.fingerprint in trusted_own:
            # --json keeps each appliance's entry; the table, counts and notices have
            # the identity's row alone (:func:`identity_certificates`)
            items.append(
                StatusItem(
                    dep, "trust-root", name, t.fingerprint, t.not_after, left, stage, False,
                    (), f"{own_name[t.fingerprint]}'s own certificate (true self-signed): "
                    "reported on its identity's row",
                )
            )  # fmt: skip
            continue
        if t.superseded is None and t.fingerprint not in gone:
            if t.not_before is not None and t.not_before > now:  # as an identity's
                items.append(
                    StatusItem(
                        dep, "trust-root", name, t.fingerprint, t.not_after, left, EARLY_STAGE,
                        False, (), _early_root_note(t.not_before, ""),
                    )
                )  # fmt: skip
                continue
            items.append(
                StatusItem(dep, "trust-root", name, t.fingerprint, t.not_after, left, stage, False)
            )
            continue
        if t.superseded is None:  # the certificate of an identity the file no longer names
            note = (
                f"unused: {gone[t.fingerprint]}'s certificate, and the deployment file no "
                "longer names it; remove it (`ccapki trust apply --prune`)"
            )
        else:
            identity, version, current = t.superseded
            note = (
                f"unused: {identity} v{version}, renewed since (the current is v{current}); "
                f"once every appliance presents v{current}, remove it (`ccapki trust apply "
                "--prune`)"
            )
        items.append(
            StatusItem(
                dep,
                "trust-root",
                name,
                t.fingerprint,
                t.not_after,
                left,
                stage,
                False,
                (),
                note,
                False,
            )
        )
    gone_names = set(gone.values())
    for c in facts.chain_cas:
        carriers = tuple(i for i in c.identities if i not in gone_names)
        if not carriers:  # only in the chains of identities the file no longer names
            continue
        stage, left = judge(c.not_after)
        note = ""
        if c.not_before is not None and c.not_before > now:
            stage, note = EARLY_STAGE, _early_chain_note(c, carriers)
        elif stage != "ok":
            note = _chain_note(c, carriers, stage, now)
        items.append(
            StatusItem(
                dep, "chain-ca", c.name, c.fingerprint, c.not_after, left, stage, False, (),
                note, True, carriers,
            )
        )  # fmt: skip
    order = {k: i for i, k in enumerate(KINDS)}
    far = 1 << 40

    def key(i: StatusItem) -> tuple[int, int, str]:
        left = i.days_left
        if i.kind == "csr":
            left = stages[i.name][1] if i.name in stages else far
        return (far if left is None else left, order.get(i.kind, len(KINDS)), i.name)

    items.sort(key=key)
    return items


def chain_holders_words(identities: Sequence[str], most: int = 4) -> str:
    """``cas1``; ``cas1 and cas2``; ``5 identities: cas1, cas2, cas3, cas4 +1``."""
    if len(identities) == 1:
        return identities[0]
    if len(identities) == 2:
        return f"{identities[0]} and {identities[1]}"
    more = f" +{len(identities) - most}" if len(identities) > most else ""
    return f"{len(identities)} identities: {', '.join(identities[:most])}{more}"


def _chain_note(c: ChainFact, carriers: Sequence[str], stage: str, now: dt.datetime) -> str:
    """What an outside CA certificate of the chains in a warning stage (or expired) means,
    and the fix."""
    one = len(carriers) == 1
    who, they, its = (
        chain_holders_words(carriers),
        "it" if one else "them",
        "its" if one else "their",
    )
    step = f"`ccapki csr {carriers[0]}`" if one else "`ccapki csr NAME` for each"
    when = _stage_words(stage, days_left(c.not_after, now), c.not_after, now)
    effect = (
        f"clients reject {they} now"
        if stage == "expired"
        else f"once it has expired, clients reject {they}"
    )
    return (
        f"it {when}; {who} send{'s' if one else ''} it after {its} own certificate: {effect} "
        f"though {its} own certificate is valid. Have the CA sign a new certificate under "
        f"its current intermediate ({step}, then `ccapki import` the answer with its chain)"
    )


def _early_chain_note(c: ChainFact, carriers: Sequence[str]) -> str:
    """A chain certificate not valid yet (its issuer's clock, or one made ahead)."""
    assert c.not_before is not None
    who = chain_holders_words(carriers)
    return (
        f"not valid until {c.not_before:%Y-%m-%d %H:%M} UTC: sent by {who}, whom clients "
        "reject until then; import the chain the CA gives now (`ccapki import FILE`)"
    )


def build_report(facts: Sequence[DeploymentFacts], now: dt.datetime) -> StatusReport:
    """The report of these deployments at ``now`` (in the order given)."""
    items: list[StatusItem] = []
    for f in facts:
        items += deployment_items(f, now)
    return StatusReport(
        now=now,
        items=tuple(items),
        warn_days={f.name: tuple(sorted(f.warn_days, reverse=True)) for f in facts},
        releases={f.name: f.release for f in facts},
    )


# ---------------------------------------------------------------------------- IO edge


@dataclass(frozen=True)
class Settings:
    """What status needs of a deployment file: its stages, release, whether it shares the
    store's CAs, and each appliance's identity."""

    warn_days: tuple[int, ...] = DEFAULT_WARN_DAYS
    release: str | None = None
    temporary_days: int | None = None
    shared_ca: bool = False
    appliances: Mapping[str, str] = field(default_factory=dict)
    #: identity -> its source, as the file plans them ("acme" for one ordered by ACME)
    identities: Mapping[str, str] = field(default_factory=dict)
    probe_interval: int = 3600


def settings_of(deployment: Deployment) -> Settings:
    """The :class:`Settings` of a parsed deployment."""
    appliances: dict[str, str] = {}
    for ident in deployment.identities:
        for m in ident.members:
            appliances.setdefault(m.name, ident.name)
    return Settings(
        deployment.monitoring.warn_days,
        str(deployment.release),
        deployment.profile.temp_cert_days,
        deployment.shared_ca,
        appliances,
        {i.name: "acme" if i.acme else i.source.value for i in deployment.identities},
        deployment.monitoring.probe_interval,
    )


def ca_validity_days(deployment: Deployment, plan: Plan | None = None) -> dict[str, int]:
    """Return CA kind -> the longest validity in days the identities it signs ask for
    (``internal-root`` as its ``internal-ca``: a root must outlive the leaves under it),
    as ``renew`` asks a CA to outlive what it signs (``plan``: the deployment's, when the
    caller made it). Raises nothing."""
    from ccapki.topology.plan import INTERNAL_CA, INTERNAL_ROOT, make_plan, signer_for

    out: dict[str, int] = {}
    for p in (plan or make_plan(deployment)).identities:
        signer = signer_for(p, deployment)
        if signer in ("self", "third-party") or p.spec.acme:
            continue
        out[signer] = max(out.get(signer, 0), p.validity_days)
    if INTERNAL_CA in out:
        out[INTERNAL_ROOT] = out[INTERNAL_CA]
    return out


#: The version of :func:`settings_json`'s format (facts of another version are not read).
_FACTS_VERSION = 2


def settings_json(deployment: Deployment, plan: Plan | None = None, *, whole: bool = True) -> str:
    """The facts the store keeps beside a deployment file (``deployments.facts``): its
    name and :class:`Settings` as JSON, read back by :func:`read_settings` instead of
    parsing the file (``plan``: the deployment's, when the caller made it).

    ``whole`` false: only the name and whether the deployment shares the store's CAs,
    which is all a bulk apply reads of them before its workers start; it records the
    whole facts while they issue (those of 10,000 identities take ~0.1 s to make). Such
    facts read as none by :func:`read_settings` (the file's text is read)."""
    import json

    if not whole:
        return json.dumps({"name": deployment.name, "shared_ca": deployment.shared_ca})
    s = settings_of(deployment)
    return json.dumps(
        {
            "v": _FACTS_VERSION,
            "name": deployment.name,
            "warn_days": list(s.warn_days),
            "release": s.release,
            "temporary_days": s.temporary_days,
            "shared_ca": s.shared_ca,
            "appliances": dict(s.appliances),
            "identities": dict(s.identities),
            "probe_interval": s.probe_interval,
            "ca_days": ca_validity_days(deployment, plan),  # read by read_facts, not Settings
            "names": _plan_names_of(deployment),  # read by read_facts, not Settings
        },
        separators=(",", ":"),
        sort_keys=True,
    )


def _from_facts(facts: str) -> Settings | None:
    """The :class:`Settings` in a deployment's facts JSON; None when they are not this
    version's (then the file's text is read)."""
    import json

    try:
        f = json.loads(facts)
        if not isinstance(f, dict) or f.get("v") != _FACTS_VERSION:
            return None
        return Settings(
            tuple(int(d) for d in f["warn_days"]),
            str(f["release"]),
            None if f["temporary_days"] is None else int(f["temporary_days"]),
            f["shared_ca"] is True,
            {str(k): str(v) for k, v in f["appliances"].items()},
            {str(k): str(v) for k, v in f["identities"].items()},
            int(f["probe_interval"]),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def read_settings(
    text: str, source: str = "<stored deployment>", facts: str | None = None
) -> Settings:
    """The :class:`Settings` of a deployment file's text, as :func:`parse_deployment`
    would give them: from ``facts`` (what the store kept with the file, see
    :func:`settings_json`) when given and readable, else from the text.

    The store keeps only files that parsed when applied, so a large one is read for these
    values alone (TOML, the release, ``[monitoring] warn_days``, the appliance names:
    a tenth of a full parse of 10,000 identities); anything unexpected falls back to
    :func:`~ccapki.topology.loader.parse_deployment`, which raises
    :class:`~ccapki.errors.DeploymentError` naming the line.
    """
    import tomllib

    from ccapki.errors import InputError
    from ccapki.topology.fastload import parse_deployment
    from ccapki.topology.releases import parse_release, profile_for

    if facts:
        kept = _from_facts(facts)
        if kept is not None:
            return kept
    cached = _SETTINGS.get(text)
    if cached is not None:
        return cached
    try:
        raw = tomllib.loads(text)
        header = raw["deployment"]
        rel = header["release"]
        if not isinstance(rel, str | float):
            raise TypeError("release")
        release = parse_release(str(rel))
        warn = raw.get("monitoring", {}).get("warn_days", list(DEFAULT_WARN_DAYS))
        if (
            not isinstance(warn, list)
            or not warn
            or not all(type(d) is int and 1 <= d <= 3650 for d in warn)
            or len(set(warn)) != len(warn)
        ):
            raise ValueError("warn_days")
        appliances: dict[str, str] = {}
        planned: dict[str, str] = {}
        default_source = header.get("source", "self-signed")
        interval = raw.get("monitoring", {}).get("probe_interval", 3600)
        if type(interval) is not int:
            raise TypeError("probe_interval")
        for unit in (raw["cam"], *raw.get("cas", ())):
            name = unit["name"]
            if not isinstance(name, str):
                raise TypeError("name")
            source = unit.get("source", default_source)
            if not isinstance(source, str):
                raise TypeError("source")
            planned.setdefault(name, source)
            members = [unit[k]["name"] for k in ("primary", "secondary") if k in unit]
            for m in members or [name]:
                if not isinstance(m, str):
                    raise TypeError("name")
                appliances.setdefault(m, name)
        found = Settings(
            tuple(sorted(warn, reverse=True)),
            str(release),
            profile_for(release).temp_cert_days,
            header.get("ca") == "shared",
            appliances,
            planned,
            interval,
        )
    except (tomllib.TOMLDecodeError, InputError, KeyError, TypeError, ValueError, AttributeError):
        found = settings_of(parse_deployment(text, source))
    if len(_SETTINGS) >= 16:
        _SETTINGS.clear()
    _SETTINGS[text] = found
    return found


def _ca_days(kept: DeploymentRecord | None) -> dict[str, int]:
    """:func:`ca_validity_days` of the stored deployment file ``kept``: from its facts
    (``ca_days``), else parsed from its text (a file kept before they were; cached). Empty
    without a file, or when it no longer parses."""
    import json

    if kept is None:
        return {}
    try:
        days = json.loads(kept.facts or "null")["ca_days"]
        return {str(k): int(v) for k, v in days.items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        pass
    found = _CA_DAYS.get(kept.text)
    if found is None:
        from ccapki.errors import CcapkiError
        from ccapki.topology.fastload import parse_deployment

        try:
            found = ca_validity_days(parse_deployment(kept.text, kept.path or "<stored>"))
        except CcapkiError:
            found = {}
        if len(_CA_DAYS) >= 16:
            _CA_DAYS.clear()
        _CA_DAYS[kept.text] = found
    return found


#: :func:`ca_validity_days` of deployment-file texts read by this process
_CA_DAYS: dict[str, dict[str, int]] = {}


#: Settings read by this process, by deployment-file text (``watch`` asks every run).
_SETTINGS: dict[str, Settings] = {}


def _when(value: object) -> dt.datetime | None:
    """A nullable datetime column's value as read (:func:`~ccapki.store.records.stored_time`)."""
    from ccapki.store.records import stored_time

    return None if value is None else stored_time(value)


def _not_after_from_pems(
    store: Store, fingerprints: set[str]
) -> dict[str, tuple[dt.datetime, dt.datetime]]:
    """The (end, start) of validity of these CA or trust-store certificates, read from
    their PEM: for rows written without their ``not_after`` (before schema 0010) or
    ``not_before`` column (before 0011)."""
    wanted = sorted(fingerprints)
    out: dict[str, tuple[dt.datetime, dt.datetime]] = {}
    from ccapki.store.truststores import TRUST_PEM

    for sql in (
        "SELECT DISTINCT fingerprint, pem FROM cas WHERE fingerprint IN :fps",
        f"SELECT DISTINCT fingerprint, {TRUST_PEM} FROM trust_entries "  # noqa: S608
        "WHERE fingerprint IN :fps",
    ):
        for i in range(0, len(wanted), 500):
            for fp, pem in store.rows(sql, {"fps": wanted[i : i + 500]}):
                if fp not in out:
                    cert = store.parsed(pem)
                    out[fp] = (cert.not_valid_after_utc, cert.not_valid_before_utc)
    return out


_BEGIN, _END = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"


def _stored_pem_problem(pem: str | bytes, fingerprint: str) -> str | None:
    """Why the stored certificate ``pem`` (its bytes when it is no longer UTF-8 text) is
    not the certificate whose SHA-256 is ``fingerprint``; None when it is. From the PEM
    armour alone (base64 and a hash, as
    :func:`~ccapki.store.identities.chain_fingerprints` reads a chain; no X.509 parsing),
    so every current certificate of a large estate is checked."""
    import binascii
    import hashlib

    from ccapki.store.identities import chain_fingerprints

    if isinstance(pem, bytes):
        try:
            pem = pem.decode()
        except UnicodeDecodeError:
            return "is damaged (its text is not UTF-8)"
    text = pem.strip()
    try:
        if text.startswith(_BEGIN) and text.endswith(_END) and text.count("-----") == 4:
            # the usual row, one block: its base64 decoded at once (4x chain_fingerprints)
            found = [hashlib.sha256(binascii.a2b_base64(text[27:-25])).hexdigest()]
        else:
            found = chain_fingerprints(pem)
    except ValueError:  # bad base64 in the armour (binascii.Error)
        found = []
    if not found:
        return "cannot be read (no PEM certificate in its text)"
    if found != [fingerprint]:
        return "is not the one its row names (another certificate, or changed outside ccapki)"
    return None


def _damaged_certificates(store: Store) -> dict[str, str]:
    """identity -> why, for the current versions (of the deployment the store acts on)
    whose stored certificate is not the one the row names (the columns status reads say
    nothing of the PEM): ``ccapki doctor`` tells more. A text that is no longer UTF-8
    (SQLite) is read again as bytes: damage, never an error."""
    from ccapki._util import sqlite_trouble
    from ccapki.store.identities import _NEWEST_HERE

    params = {"d": store.deployment}
    try:
        rows = store.rows(
            "SELECT identity, fingerprint, pem FROM certificates WHERE " + _NEWEST_HERE,  # noqa: S608
            params,
        )
    except Exception as exc:
        trouble = sqlite_trouble(exc)
        if trouble is None or trouble[0] != "damaged":
            raise
        rows = store.rows(  # SQLite alone stores text that is not UTF-8
            "SELECT identity, fingerprint, CAST(pem AS BLOB) FROM certificates WHERE "  # noqa: S608
            + _NEWEST_HERE,
            params,
        )
    out: dict[str, str] = {}
    for identity, fp, pem in rows:
        why = _stored_pem_problem(pem, fp)
        if why is not None:
            out[identity] = why
    return out


def stored_damage(
    store: Store, deployment: str, identities: Sequence[CurrentFact]
) -> dict[str, str]:
    """identity -> why, for these current versions of ``deployment`` (a page of them)
    whose stored certificate is not the one the row names, as :func:`read_facts` finds
    for all of them (stage ``damaged``): each PEM hashed, none parsed. Reads only; raises
    the store's errors."""
    wanted = {f.fingerprint: f.identity for f in identities}
    if not wanted:
        return {}
    # SQLite keeps text that is no longer UTF-8 (damage, never an error): read as bytes
    pem = "CAST(pem AS BLOB)" if store.engine.dialect.name == "sqlite" else "pem"
    sql = (
        f"SELECT fingerprint, {pem} FROM certificates WHERE deployment = :d AND fingerprint IN :fps"  # noqa: S608
    )
    fps = sorted(wanted)
    out: dict[str, str] = {}
    for i in range(0, len(fps), 500):
        for fp, text in store.rows(sql, {"d": deployment, "fps": fps[i : i + 500]}):
            why = _stored_pem_problem(text, fp)
            if why is not None:
                out[wanted[fp]] = why
    return out


def names_missing(
    store: Store,
    deployment: str,
    identities: Sequence[CurrentFact],
    appliances: Mapping[str, str],
) -> dict[str, str]:
    """identity -> what its current certificate lacks of the names the deployment file
    gives it now (stage :data:`UNFIT_STAGE`), for these current versions of
    ``deployment`` (a page of them; ``appliances``: appliance -> identity), as
    :func:`read_facts` finds for all of them. Reads only; raises the store's errors."""
    if not identities:
        return {}
    with store.scoped(deployment):
        kept = store.deployments.latest()
    lacking = _names_missing(store, deployment, kept, identities, appliances)
    return {identity: words for identity, (words, _) in lacking.items()}


def _superseded(
    store: Store, trusted: set[str], current: Mapping[str, CurrentFact]
) -> dict[str, tuple[str, int, int]]:
    """The trusted certificates that are earlier versions of the deployment's identities
    (the store acts on it): fingerprint -> (identity, version, current version)."""
    now_held = {f.fingerprint for f in current.values()}
    wanted = sorted(trusted - now_held)  # a few roots, however many appliances hold them
    out: dict[str, tuple[str, int, int]] = {}
    sql = (
        "SELECT fingerprint, identity, version FROM certificates "
        "WHERE deployment = :d AND fingerprint IN :fps"
    )
    for i in range(0, len(wanted), 500):
        for fp, identity, version in store.rows(
            sql, {"d": store.deployment, "fps": wanted[i : i + 500]}
        ):
            cur = current.get(identity)
            if cur is not None and cur.version > version:
                out[fp] = (identity, version, cur.version)
    return out


def _stale_csrs(kept: DeploymentRecord | None, csrs: Sequence[CsrRecord]) -> dict[str, str]:
    """The ``csrs`` made for an older version of the deployment file ``kept`` (the
    store's last): pending key -> how the CSR differs from what the file gives its
    identity now, in words (:func:`~ccapki.topology.plan.csr_differences`). Empty without
    a file, or when it no longer parses (status says what it can)."""
    if kept is None:
        return {}
    from ccapki.errors import CcapkiError
    from ccapki.topology.fastload import parse_deployment
    from ccapki.topology.plan import csr_differences

    try:
        dep = parse_deployment(kept.text, kept.path or "<stored deployment>")
    except CcapkiError:
        return {}
    specs = {i.name: i for i in dep.identities if i.source is Source.THIRD_PARTY and not i.acme}
    out: dict[str, str] = {}
    for c in csrs:
        spec = specs.get(c.identity)
        if spec is None:
            continue
        try:
            differs = csr_differences(spec, c.csr)
        except ValueError:  # a CSR that no longer parses: not this report's to judge
            continue
        if differs:
            out[c.spki] = "; ".join(differs)
    return out


def _plan_names_of(deployment: Deployment) -> dict[str, str]:
    """identity -> every DNS name and IP address the plan gives it
    (:func:`~ccapki.lifecycle.certfiles.plan_names`), joined by commas (a DNS name or an
    address holds none): what :func:`settings_json` keeps, for :func:`_names_missing`."""
    from ccapki.lifecycle.certfiles import plan_names

    return {i.name: ",".join(plan_names(i)) for i in deployment.identities}


def _names_in(facts: str | None) -> dict[str, str] | None:
    """The ``names`` a deployment version's facts keep (:func:`_plan_names_of`); None when
    they keep none (facts written before they did, or none)."""
    import json

    if not facts:
        return None
    try:
        found = json.loads(facts).get("names")
    except (ValueError, AttributeError):
        return None
    if not isinstance(found, dict):
        return None
    return {str(k): str(v) for k, v in found.items()}


def latest_names(kept: DeploymentRecord) -> dict[str, str]:
    """:func:`_plan_names_of` the stored deployment file ``kept``: from its facts, else
    parsed from its text (a file kept before they were; cached). Empty when it no longer
    parses."""
    found = _names_in(kept.facts)
    if found is not None:
        return found
    found = _NAMES.get(kept.text)
    if found is None:
        from ccapki.errors import CcapkiError
        from ccapki.topology.fastload import parse_deployment

        try:
            found = _plan_names_of(parse_deployment(kept.text, kept.path or "<stored>"))
        except CcapkiError:
            found = {}
        if len(_NAMES) >= 16:
            _NAMES.clear()
        _NAMES[kept.text] = found
    return found


#: :func:`_plan_names_of` of deployment-file texts kept without them, read by this process
_NAMES: dict[str, dict[str, str]] = {}


def _names_missing(
    store: Store,
    name: str,
    kept: DeploymentRecord | None,
    identities: Sequence[CurrentFact],
    appliances: Mapping[str, str],
) -> dict[str, tuple[str, tuple[str, ...]]]:
    """identity -> (what its current certificate lacks of the names the deployment file
    ``kept`` gives it now, the names it lacks), in the words of the trust rule that finds
    it: ``check-ha``'s
    :class:`~ccapki.trust.NamesOnBothPeers` for an HA pair (``appliances``: appliance ->
    identity), ``import``'s :class:`~ccapki.trust.NamesCovered` otherwise.

    A certificate is made for the file in effect when it is made (``apply`` and ``renew``
    issue the plan's names; ``import`` refuses a certificate lacking them): only one whose
    identity the file has given other names since (each version's facts keep the names,
    :func:`_plan_names_of`) is read and checked, so a large estate's status still parses
    no certificate. A version keeping no names (written before they were kept) cannot
    tell: the certificates it may have made are checked. So is one whose row says its
    names were not checked (``names_unchecked``: ``import --force`` took it over its fit
    check), but for the IP addresses of an ACME identity's (no ACME order names one: it
    lacks them by design, as the one its orders bring). Reads only; raises the store's
    errors."""
    if kept is None or not identities:
        return {}
    from ccapki.store.records import stored_time

    latest = latest_names(kept)
    if not latest:
        return {}
    versions: list[tuple[dt.datetime, dict[str, str] | None]] = [
        (stored_time(at), _names_in(facts))
        for at, facts in store.rows(
            "SELECT loaded_at, facts FROM deployments WHERE name = :n ORDER BY id", {"n": name}
        )
    ]
    if versions:  # the last is ``kept``: its names as read above
        versions[-1] = (versions[-1][0], latest)
    since: dict[dt.datetime | None, list[dict[str, str] | None]] = {}

    def relevant(made: dt.datetime | None) -> list[dict[str, str] | None]:
        """The versions from the one in effect when a certificate was made (ties: the
        first of them) to the latest."""
        found = since.get(made)
        if found is None:
            before = [at for at, _ in versions if made is not None and at <= made]
            start = max(before) if before else None
            found = since[made] = [v for at, v in versions if start is None or at >= start]
        return found

    # the few certificates taken without their names checked (a partial index finds them)
    unchecked = {
        (str(identity), str(fp)): str(why)
        for identity, fp, why in store.rows(
            "SELECT identity, fingerprint, names_unchecked FROM certificates "
            "WHERE deployment = :d AND names_unchecked IS NOT NULL",
            {"d": name},
        )
    }
    suspects: dict[str, CurrentFact] = {}
    forced: dict[str, str] = {}  # fingerprint -> how it was taken, unchecked
    for f in identities:
        want = latest.get(f.identity)
        if want is None:  # not in the file any more: neither renewed nor checked
            continue
        if any(v is None or v.get(f.identity, want) != want for v in relevant(f.created_at)):
            suspects[f.fingerprint] = f
        elif (f.identity, f.fingerprint) in unchecked:
            suspects[f.fingerprint] = f
            forced[f.fingerprint] = unchecked[f.identity, f.fingerprint]
    if not suspects:
        return {}
    from cryptography import x509

    from ccapki.pki.certs import covers, parse_ip
    from ccapki.trust import HaPair, HaPeer, NamesCovered, NamesOnBothPeers

    acme: set[str] = set()
    if forced:
        planned = read_settings(kept.text, kept.path or "<stored deployment>", kept.facts)
        acme = {i for i, source in planned.identities.items() if source == "acme"}

    members: Counter[str] = Counter(appliances.values())
    now = store.now()
    out: dict[str, tuple[str, tuple[str, ...]]] = {}
    wanted = sorted(suspects)
    sql = "SELECT fingerprint, pem FROM certificates WHERE deployment = :d AND fingerprint IN :fps"
    for i in range(0, len(wanted), 500):
        for fp, pem in store.rows(sql, {"d": name, "fps": wanted[i : i + 500]}):
            f = suspects[fp]
            try:
                cert = x509.load_pem_x509_certificate(pem.encode())
            except (ValueError, AttributeError):  # damaged: its row says so (doctor)
                continue
            names = tuple(latest[f.identity].split(","))
            how = forced.get(fp)
            if how is not None and f.identity in acme:  # no ACME order names an IP
                names = tuple(n for n in names if parse_ip(n) is None)
            taken = "" if how is None else f" (taken with `ccapki {how}`)"
            lacks = tuple(n for n in names if not covers(cert, n))
            if members[f.identity] > 1:
                rule = NamesOnBothPeers()
                peer = HaPeer(cert, None)  # the store's one certificate, as on both peers
                pair = HaPair(f.identity, names, peer, peer)
                found = rule.evaluate(pair, now)
                if found:
                    out[f.identity] = (
                        f"not fit for HA ({rule.item}: {rule.detail(pair, found)}): "
                        f"{found[0].reason}{taken}",
                        lacks,
                    )
            else:
                found = NamesCovered(f.identity, names).evaluate(cert, now)
                if found:
                    out[f.identity] = (f"{found[0].subject}: {found[0].reason}{taken}", lacks)
    return out


def read_facts(store: Store, name: str) -> DeploymentFacts:
    """Read deployment ``name``'s facts: its stored deployment file (its warn_days, release
    and appliances; defaults without one), the current identities' columns, its CAs, pending
    CSRs, trust entries and the last probe of each endpoint. Reads only.

    Raises :class:`~ccapki.errors.DeploymentError` when the stored deployment file no
    longer parses, :class:`~ccapki.errors.StoreError` for an unusable store.
    """
    with store.scoped(name):
        kept = store.deployments.latest()
        conf = (
            read_settings(kept.text, kept.path or "<stored deployment>", kept.facts)
            if kept
            else Settings()
        )
        identities = tuple(store.identities.current_facts())
        damaged = _damaged_certificates(store)
        chains = store.identities.current_chain_fingerprints()
        current = {f.identity: f for f in identities}
        csrs = awaited_csrs(store, kept, current)
        adopted = adopted_of(store, identities)
        probes = tuple(store.probes.latest(chains=False))
        scope = SHARED_CAS if conf.shared_ca else name
        ca_rows = [
            (n, kind, fp, _when(end), _when(start))
            for n, kind, fp, end, start in store.rows(
                "SELECT name, kind, fingerprint, not_after, not_before FROM cas "
                "WHERE deployment = :d ORDER BY id",
                {"d": scope},
            )
        ]
        trust_rows = [
            (a, label, fp, _when(end), _when(start))
            for a, label, fp, end, start in store.rows(
                "SELECT appliance, label, fingerprint, not_after, not_before FROM trust_entries "
                "WHERE deployment = :d AND removed_at IS NULL ORDER BY id",
                {"d": name},
            )
        ]
        missing = {r[2] for r in (*ca_rows, *trust_rows) if r[3] is None or r[4] is None}
        until = _not_after_from_pems(store, missing) if missing else {}
        old = _superseded(store, {r[2] for r in trust_rows}, current)
        lacking = _names_missing(store, name, kept, identities, conf.appliances)
        # the outside CAs' certificates the chains hold (a third-party CA's intermediate):
        # read, and parsed, only where there are some
        foreign = chains - {r[2] for r in ca_rows} - {r[2] for r in trust_rows}
        chain_cas = _chain_facts(store, foreign) if foreign else ()
    cas = tuple(
        [
            CaFact(n, k, fp, end, start) if end and start else CaFact(n, k, fp, *until[fp])
            for n, k, fp, end, start in ca_rows
        ]
    )
    ca_days = _ca_days(kept) if cas else {}
    trust = tuple(
        [
            TrustFact(a, label, fp, end, old.get(fp), start)
            if end and start
            else TrustFact(a, label, fp, until[fp][0], old.get(fp), until[fp][1])
            for a, label, fp, end, start in trust_rows
        ]
    )
    return DeploymentFacts(
        name=name,
        warn_days=conf.warn_days,
        release=conf.release,
        temporary_days=conf.temporary_days,
        identities=identities,
        cas=cas,
        csrs=csrs,
        trust=trust,
        probes=probes,
        appliances=conf.appliances,
        chain_fingerprints=chains,
        planned=conf.identities,
        probe_interval=conf.probe_interval,
        damaged=damaged,
        ca_days=ca_days,
        unfit={identity: words for identity, (words, _) in lacking.items()},
        unfit_names={identity: names for identity, (_, names) in lacking.items()},
        file=kept.path if kept else None,
        adopted=adopted,
        chain_cas=chain_cas,
    )


def _chain_facts(store: Store, fingerprints: Collection[str]) -> tuple[ChainFact, ...]:
    """:class:`ChainFact` of each of these certificates the current chains hold."""
    from ccapki.pki.certs import display_name

    held = store.identities.current_chain_holders(fingerprints)
    return tuple(
        ChainFact(
            display_name(cert),
            fp,
            cert.not_valid_after_utc,
            identities,
            cert.not_valid_before_utc,
        )
        for fp, (cert, identities) in sorted(held.items())
    )


def awaited_csrs(
    store: Store,
    kept: DeploymentRecord | Callable[[], DeploymentRecord | None] | None,
    current: Mapping[str, CurrentFact],
    only: Collection[str] | None = None,
) -> tuple[CsrFact, ...]:
    """The CSRs of the deployment acted on that await the CA's answer (their key pending,
    or the current key of a renewal on the same key made after the current certificate),
    oldest first, as status lists them: stale when made for an older version of the
    deployment file ``kept`` (the store's last; a callable: read only when a CSR awaits),
    and whether a stopped run left its file unwritten. ``current``: the current
    identities' columns; ``only``: the CSRs of these identities alone (a page of the
    inventory). Reads only; raises what the store raises."""
    from ccapki.store.records import KeyState

    records = store.csrs.list()
    if only is not None:
        records = [c for c in records if c.identity in only]
        if not records:
            return ()
    # read whether or not a CSR is kept: status reads every table it reports from (a
    # damaged keys table is said, not a clean report)
    pending = {k.fingerprint for k in store.keys.list(state=KeyState.PENDING)}
    if not records:
        return ()

    from ccapki.lifecycle.csrdelivery import awaits_the_ca

    # the CSR each current certificate answers: a CSR of that identity made before it is
    # superseded (`import` refuses its answer as the older request's: nothing to await)
    answered: dict[str, dt.datetime] = {}
    for c in records:
        cur = current.get(c.identity)
        if cur is not None and cur.spki == c.spki:
            answered[c.identity] = max(c.created_at, answered.get(c.identity, c.created_at))
    waiting = [
        c
        for c in records
        if awaits_the_ca(c.identity, c.spki, c.created_at, pending, current)
        and not c.created_at < answered.get(c.identity, c.created_at)
    ]
    if not waiting:
        return ()
    unwritten = _unwritten(store)
    stale = _stale_csrs(kept() if callable(kept) else kept, waiting)
    return tuple(
        CsrFact(
            c.identity,
            c.spki,
            c.created_at,
            stale.get(c.spki, ""),
            *unwritten.get((c.identity, c.spki, c.created_at), ("", "renew --commit")),
        )
        for c in waiting
    )


def adopted_of(store: Store, identities: Sequence[CurrentFact]) -> frozenset[str]:
    """Those of ``identities`` (current rows of the deployment acted on) whose certificate
    of a :data:`TEMPORARY_SOURCES` source was adopted, not issued by ccapki: an appliance's
    own install-time certificate, the FAQ's temporary certificate
    (:func:`~ccapki.lifecycle.adopted.adopted_identities`). Reads the audit log only when
    one of them is of such a source."""
    kinds = {f.identity: f.fingerprint for f in identities if f.source in TEMPORARY_SOURCES}
    if not kinds:
        return frozenset()
    from ccapki.lifecycle.adopted import adopted_identities

    return adopted_identities(store, kinds)


def estate_status(
    store: Store, *, now: dt.datetime, deployments: Sequence[str] | None = None
) -> StatusReport:
    """The status of the deployments named (None: every deployment the store holds) at
    ``now``: every identity, CA, pending CSR and trust-store root by days left, with the
    staged warnings of each deployment's ``[monitoring] warn_days``, temporary
    certificates marked, and what each appliance served at its last probe. Reads only.

    Raises :class:`NotFoundError` for a deployment the store does not hold,
    :class:`~ccapki.errors.DeploymentError` when a stored deployment file no longer
    parses, :class:`~ccapki.errors.StoreError` for an unusable store.
    """
    held = store.deployments.names() or [DEFAULT_DEPLOYMENT]
    if deployments is None:
        names = held
    else:
        names = list(dict.fromkeys(deployments))
        missing = [n for n in names if n not in held]
        if missing:
            raise NotFoundError(
                f"this store holds no deployment {missing[0]!r} (it holds: {', '.join(held)})",
                "name one it holds (`ccapki deployments` lists them)",
            )
    from ccapki._util import gc_paused

    with gc_paused():  # many small objects, no cycles: no collector passes over them
        return build_report([read_facts(store, n) for n in names], now)
