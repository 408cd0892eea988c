"""Identities and their versions: every certificate is a new version, never overwritten."""

from __future__ import annotations

import builtins
import datetime as dt
import hashlib
import json
import re
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from ccapki._util import gc_paused
from ccapki.store.records import (
    CertSource,
    IdentityRecord,
    KeyState,
    StoredIdentity,
    certificate_facts,
    pem_text,
    stored_time,
)

if TYPE_CHECKING:
    from cryptography import x509
    from sqlalchemy import ColumnElement, Connection, Subquery

    from ccapki.errors import StoreError
    from ccapki.store.session import Store

__all__ = ["CurrentFact", "IdentityRepository", "chain_fingerprints"]


class CurrentFact(NamedTuple):
    """The certificates-table columns of an identity's newest version (no PEM parsed)."""

    identity: str
    version: int
    fingerprint: str
    spki: str
    not_after: dt.datetime
    source: str
    created_at: dt.datetime | None = None
    not_before: dt.datetime | None = None


# The reads of StoredIdentity rows (their columns as _from_row takes them), in SQL text
# (see Store.rows): a command that only reads loads no SQLAlchemy.
_CURRENT = (
    "SELECT identity, version, pem, chain_pem, source, spki, fingerprint, created_at, "
    "deployment FROM certificates JOIN (SELECT deployment AS d, identity AS i, "
    "max(version) AS v FROM certificates WHERE deployment = :dep "
    "GROUP BY deployment, identity) AS latest "
    "ON deployment = latest.d AND identity = latest.i AND version = latest.v"
)
_VERSIONS = (
    "SELECT identity, version, pem, chain_pem, source, spki, fingerprint, created_at, "
    "deployment FROM certificates WHERE deployment = :dep AND identity = :name "
    "ORDER BY version"
)

#: The rows of the newest version of each identity of deployment ``:d``: a correlated
#: maximum per identity, which ``ix_certificates_current`` covers.
_NEWEST_HERE = (
    "deployment = :d AND version = (SELECT max(newer.version) FROM certificates AS newer "
    "WHERE newer.deployment = certificates.deployment "
    "AND newer.identity = certificates.identity)"
)
# (constant texts joined: nothing of a caller's is in them; values are bound as :d)
_CHAIN_FPS = "SELECT DISTINCT chain_fps FROM certificates WHERE " + _NEWEST_HERE  # noqa: S608
_CHAIN_PEMS_UNNAMED = (
    "SELECT DISTINCT chain_pem FROM certificates WHERE chain_fps IS NULL AND "  # noqa: S608
    + _NEWEST_HERE
)
_CHAIN_HOLDERS = (
    "SELECT identity, chain_fps FROM certificates WHERE chain_fps IS NOT NULL AND "  # noqa: S608
    + _NEWEST_HERE
)
_CHAIN_HOLDERS_UNNAMED = (
    "SELECT identity, chain_pem FROM certificates WHERE chain_fps IS NULL AND "  # noqa: S608
    + _NEWEST_HERE
)
_CHAIN_PEM_OF = (
    "SELECT chain_pem FROM certificates WHERE deployment = :d AND chain_fps = :c LIMIT 1"
)
_VERSION_FPS = (
    "SELECT identity, version, fingerprint FROM certificates "
    "WHERE deployment = :dep AND identity IN :names"
)
_VERSION_SUBJECTS = (
    "SELECT identity, version, subject FROM certificates "
    "WHERE deployment = :dep AND identity IN :names"
)
_CURRENT_FACTS = (
    "SELECT identity, version, fingerprint, spki, not_after, source, created_at, "  # noqa: S608
    "not_before FROM certificates WHERE " + _NEWEST_HERE
)

_PEM_CERTIFICATE = re.compile(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", re.S)


def chain_fingerprints(text: str) -> list[str]:
    """The fingerprints (SHA-256 of the DER, lowercase hex) of the certificates of a PEM
    chain as the store keeps it, in its order: read from the PEM armour (base64 of the
    DER); nothing is parsed, no X.509 code loaded."""
    import ssl

    return [
        hashlib.sha256(ssl.PEM_cert_to_DER_cert(block)).hexdigest()
        for block in _PEM_CERTIFICATE.findall(text)
    ]


def _load_pems(text: str) -> tuple[x509.Certificate, ...]:
    from cryptography import x509

    return tuple(x509.load_pem_x509_certificates(text.encode())) if text.strip() else ()


def _damaged(name: str, version: int) -> StoreError:
    """The error of an identity whose stored certificate (or chain) does not parse."""
    from ccapki.errors import StoreError

    return StoreError(
        f"the stored certificate of {name} (version {version}) is damaged: it does not "
        "parse as a certificate",
        "`ccapki status` names it DAMAGED and `ccapki doctor` says what else is; restore it "
        f"from a backup (`ccapki backup restore FILE --identity {name}`), or issue it again "
        f"(`ccapki renew {name} --commit`; a third-party identity: a new CSR)",
    )


#: Where a row's fingerprint goes in the audit details :meth:`IdentityRepository.add`
#: encodes once for many rows (a text no fingerprint, time, source or number is), and
#: that text as JSON
_FP_MARK = "\x00fingerprint\x00"
_FP_MARK_JSON = json.dumps(_FP_MARK)


class IdentityRepository:
    """``store.identities``: the identities of the deployment the store acts on (another
    deployment's identity of the same name is another identity)."""

    def __init__(self, store: Store) -> None:
        self._s = store

    def add(
        self,
        records: Sequence[IdentityRecord],
        *,
        newest: Mapping[str, StoredIdentity] | None = None,
    ) -> builtins.list[StoredIdentity]:
        """Persist many issued identities in one transaction (keys sealed, versions bumped,
        one audit row each); returns each as the store now holds it (its version, when it
        was stored), in their order.

        ``newest``: the newest stored version of each identity of ``records`` that holds
        one, from a caller that knows it is still so (it read them, and no other writer has
        committed since: :meth:`Store.change_mark`); the store is not asked again. An
        identity of ``records`` absent from it holds no version yet.

        The key of each identity's previous version leaves ``active`` for ``superseded``
        (kept sealed, never deleted) unless a current version still holds it: a new
        certificate on the same key, or another identity on that key.
        """
        if not records:
            return []
        from sqlalchemy import func, select

        from ccapki.pki.certs import fingerprint
        from ccapki.store import schema as t
        from ccapki.store.bulk import insert_many

        s = self._s
        now = s.now()
        dep = s.deployment
        with gc_paused(), s.transaction() as c:
            names = {r.identity for r in records}
            previous: dict[str, str] = {}  # identity -> the SPKI of its newest version
            if newest is not None:
                held = [newest[n] for n in names if n in newest]
                versions = {i.name: i.version for i in held}
                previous = {i.name: i.spki for i in held}
            else:
                versions = dict(
                    c.execute(
                        select(t.certificates.c.identity, func.max(t.certificates.c.version))
                        .where(t.certificates.c.deployment == dep)
                        .where(t.certificates.c.identity.in_(names))
                        .group_by(t.certificates.c.identity)
                    ).all()
                )
                if versions:  # the identities that hold a version already
                    previous = self._current_spkis(c, set(versions))
            key_rows: builtins.list[dict[str, object]] = []
            cert_rows: builtins.list[dict[str, object]] = []
            stored: builtins.list[StoredIdentity] = []
            stored_at = now.astimezone(dt.UTC)  # as the column reads it back
            # the chains repeat (one per CA): encode each once, not once per identity
            chain_pems: dict[tuple[int, ...], tuple[str, str]] = {}
            for r in records:
                cert = r.certificate
                facts = r.facts or certificate_facts(cert)
                # a record's key is the certificate's (issued with it, or matched to it by
                # this very fingerprint), so one SPKI hash serves both rows
                key_material = r.key if r.key is not None else r.key_sealed or r.key_der
                if key_material is not None:
                    key_rows.append(
                        s.keys.sealed_row(
                            key_material,
                            r.key_type,
                            r.identity,
                            KeyState.ACTIVE,
                            spki=facts.spki,
                            now=now,
                            deployment=dep,
                        )
                    )
                version = versions.get(r.identity, 0) + 1
                versions[r.identity] = version
                chain_key = tuple(id(x) for x in r.chain)
                chain = chain_pems.get(chain_key)
                if chain is None:
                    chain = chain_pems[chain_key] = (
                        "".join(pem_text(x) for x in r.chain),
                        " ".join(fingerprint(x) for x in r.chain),
                    )
                chain_pem, chain_fps = chain
                s.remember(facts.pem, cert)
                source = CertSource(r.source)
                stored.append(
                    StoredIdentity(
                        r.identity,
                        version,
                        cert,
                        r.chain,
                        source,
                        facts.spki,
                        facts.fingerprint,
                        stored_at,
                        dep,
                    )
                )
                cert_rows.append(
                    {
                        **facts.row(),
                        "identity": r.identity,
                        "version": version,
                        "source": source.value,
                        "chain_pem": chain_pem,
                        "chain_fps": chain_fps,
                        "created_at": now,
                        "deployment": dep,
                    }
                )
            if key_rows:
                insert_many(c, t.keys, key_rows)
            insert_many(c, t.certificates, cert_rows)
            self._supersede(c, set(previous.values()) - {str(r["spki"]) for r in cert_rows})
            # one audit row per identity (every change is logged), in one statement; the
            # rows share a few (expiry, source, version): the JSON of each is made once, with
            # a mark where each row's fingerprint goes (the same text as encoding each)
            audit = self._s.audit
            frames: dict[tuple[object, object, object], str] = {}
            rows = []
            for row in cert_rows:
                shared = (row["not_after"], row["source"], row["version"])
                frame = frames.get(shared)
                if frame is None:
                    frame = frames[shared] = audit.encode(
                        {
                            "fingerprint": _FP_MARK,
                            "not_after": str(row["not_after"]),
                            "source": row["source"],
                            "version": row["version"],
                        }
                    )
                detail = frame.replace(_FP_MARK_JSON, json.dumps(str(row["fingerprint"])), 1)
                rows.append(audit.row("issue", str(row["identity"]), {}, now, encoded=detail))
            insert_many(c, t.audit, rows)
        return stored

    @staticmethod
    def _latest(deployment: str | None) -> Subquery:
        """The newest version of every identity of ``deployment`` (None: of every
        deployment): a subquery of deployment, identity, v."""
        from sqlalchemy import func, select

        from ccapki.store import schema as t

        q = select(
            t.certificates.c.deployment,
            t.certificates.c.identity,
            func.max(t.certificates.c.version).label("v"),
        ).group_by(t.certificates.c.deployment, t.certificates.c.identity)
        if deployment is not None:
            q = q.where(t.certificates.c.deployment == deployment)
        return q.subquery()

    @staticmethod
    def _is_latest(latest: Subquery) -> ColumnElement[bool]:
        """The join condition of a certificate row with :meth:`_latest`."""
        from ccapki.store import schema as t

        return (
            (t.certificates.c.deployment == latest.c.deployment)
            & (t.certificates.c.identity == latest.c.identity)
            & (t.certificates.c.version == latest.c.v)
        )

    def _current_spkis(self, c: Connection, names: builtins.set[str]) -> dict[str, str]:
        """identity -> the public-key fingerprint of its newest version (those named)."""
        from sqlalchemy import select

        from ccapki.store import schema as t

        latest = self._latest(self._s.deployment)
        q = (
            select(t.certificates.c.identity, t.certificates.c.spki)
            .join(latest, self._is_latest(latest))
            .where(t.certificates.c.identity.in_(names))
        )
        return {r.identity: r.spki for r in c.execute(q)}

    def _supersede(self, c: Connection, spkis: builtins.set[str]) -> None:
        """Mark these active keys ``superseded``, but for those a current version holds
        (in any deployment)."""
        if not spkis:
            return
        from sqlalchemy import select, update

        from ccapki.store import schema as t

        latest = self._latest(None)
        held = {
            r.spki
            for r in c.execute(
                select(t.certificates.c.spki)
                .join(latest, self._is_latest(latest))
                .where(t.certificates.c.spki.in_(spkis))
            )
        }
        gone = builtins.list(spkis - held)
        for i in range(0, len(gone), 500):
            c.execute(
                update(t.keys)
                .where(t.keys.c.fingerprint.in_(gone[i : i + 500]))
                .where(t.keys.c.state == KeyState.ACTIVE.value)
                .values(state=KeyState.SUPERSEDED.value)
            )

    def mark_names_unchecked(self, certificates: Sequence[tuple[str, str]], why: str) -> None:
        """Record on these certificates of the deployment, as (identity, certificate
        fingerprint), that their names were not checked against the deployment file when
        they were taken (``why``: the command that took them, ``"import --force"``):
        ``status`` then reads them to judge their names (stage ``missing-san``), as it
        reads those whose identity the file has given other names since."""
        if not certificates:
            return
        from sqlalchemy import update

        from ccapki.store import schema as t

        col = t.certificates.c
        with self._s.transaction() as c:
            for identity, fp in certificates:
                c.execute(
                    update(t.certificates)
                    .where(col.deployment == self._s.deployment)
                    .where(col.identity == identity)
                    .where(col.fingerprint == fp)
                    .values(names_unchecked=why)
                )

    def chain_certificates(self) -> builtins.list[x509.Certificate]:
        """Every CA certificate of the stored identities' chains, each once (the chains are
        few: read each distinct one once)."""
        sql = "SELECT DISTINCT chain_pem FROM certificates WHERE deployment = :dep"
        texts = [r[0] for r in self._s.rows(sql, {"dep": self._s.deployment})]
        seen: dict[bytes, x509.Certificate] = {}
        for text in texts:
            for cert in _load_pems(text):
                seen.setdefault(cert.tbs_certificate_bytes + cert.signature, cert)
        return builtins.list(seen.values())

    def _from_row(
        self,
        r: tuple[Any, ...],
        chains: dict[str, tuple[x509.Certificate, ...]] | None = None,
    ) -> StoredIdentity:
        """A row of :data:`_CURRENT` or :data:`_VERSIONS`, as a stored identity (its
        certificate parsed)."""
        name, version, pem, chain_pem, source, spki, fp, created_at, deployment = r
        try:
            if chains is None:
                chain = _load_pems(chain_pem)
            else:  # identities share a few chains: parse each once
                chain = chains.get(chain_pem) or chains.setdefault(chain_pem, _load_pems(chain_pem))
            certificate = self._s.parsed(pem)
        except ValueError:  # the stored text is not a certificate (damaged on disk)
            raise _damaged(name, version) from None
        return StoredIdentity(
            name=name,
            version=version,
            certificate=certificate,
            chain=chain,
            source=CertSource(source),
            spki=spki,
            fingerprint=fp,
            created_at=stored_time(created_at),
            deployment=deployment,
        )

    def current(self) -> dict[str, StoredIdentity]:
        """The newest version of every identity: name -> version."""
        chains: dict[str, tuple[x509.Certificate, ...]] = {}
        rows = self._s.rows(_CURRENT, {"dep": self._s.deployment})
        return {r[0]: self._from_row(r, chains) for r in rows}

    def newest_fingerprints(self, names: Sequence[str]) -> dict[str, str]:
        """identity -> the certificate fingerprint of its newest version, for those named
        that hold one (what a writer compares with what it decided on)."""
        wanted = builtins.list(dict.fromkeys(names))
        newest: dict[str, tuple[int, str]] = {}
        dep = self._s.deployment
        for i in range(0, len(wanted), 500):
            # every version of those named (an index covers it), the newest kept here: a
            # bulk apply asks this of each batch it commits
            for name, version, fp in self._s.rows(
                _VERSION_FPS, {"dep": dep, "names": wanted[i : i + 500]}
            ):
                held = newest.get(name)
                if held is None or version > held[0]:
                    newest[name] = (version, fp)
        return {name: fp for name, (_, fp) in newest.items()}

    def subject_changes(self, names: Sequence[str]) -> dict[str, tuple[str | None, str]]:
        """identity -> (the subject DN of its version before the newest, None when it has
        one version; the newest one's), as RFC 4514 text, for those named that hold a
        version: what a bulk apply tells of each CAS whose DN the CAM must allow anew, from
        the stored columns (no certificate parsed)."""
        wanted = builtins.list(dict.fromkeys(names))
        last: dict[str, builtins.list[tuple[int, str]]] = {}
        dep = self._s.deployment
        for i in range(0, len(wanted), 500):
            for name, version, subject in self._s.rows(
                _VERSION_SUBJECTS, {"dep": dep, "names": wanted[i : i + 500]}
            ):
                held = last.setdefault(name, [])
                held.append((version, subject))
                if len(held) > 2:
                    held.sort()
                    del held[0]
        out: dict[str, tuple[str | None, str]] = {}
        for name, held in last.items():
            held.sort()
            out[name] = (held[0][1] if len(held) > 1 else None, held[-1][1])
        return out

    def get(self, name: str) -> StoredIdentity | None:
        """The newest version of identity ``name``, or None if it has none."""
        found = self._versions(_VERSIONS + " DESC LIMIT 1", name)
        return found[0] if found else None

    def history(self, name: str) -> builtins.list[StoredIdentity]:
        """Every version of identity ``name``, oldest first."""
        return self._versions(_VERSIONS, name)

    def _versions(self, sql: str, name: str) -> builtins.list[StoredIdentity]:
        rows = self._s.rows(sql, {"dep": self._s.deployment, "name": name})
        return [self._from_row(r) for r in rows]

    def versions_on_keys(self, spkis: Sequence[str]) -> dict[str, builtins.list[tuple[str, int]]]:
        """Certificates the deployment holds on these public keys: certificate fingerprint
        -> every (identity, version) holding it. A certificate is looked up by its key
        (indexed)."""
        from sqlalchemy import select

        from ccapki.store import schema as t

        out: dict[str, builtins.list[tuple[str, int]]] = {}
        wanted = builtins.list(dict.fromkeys(spkis))
        dep = self._s.deployment
        with self._s.connection() as c:
            for i in range(0, len(wanted), 500):
                q = (
                    select(
                        t.certificates.c.fingerprint,
                        t.certificates.c.identity,
                        t.certificates.c.version,
                    )
                    .where(t.certificates.c.spki.in_(wanted[i : i + 500]))
                    .where(t.certificates.c.deployment == dep)
                    .order_by(t.certificates.c.id)
                )
                for r in c.execute(q):
                    out.setdefault(r.fingerprint, []).append((r.identity, r.version))
        return out

    def current_facts(self) -> builtins.list[CurrentFact]:
        """The newest version of every identity as its stored columns (fingerprint,
        not_after, source...), without parsing a certificate: what a report over many
        identities reads (from the covering index ``ix_certificates_current``: no
        certificate row, with its PEMs, is read)."""
        return [
            CurrentFact(
                name,
                version,
                fp,
                spki,
                stored_time(end),
                source,
                None if made is None else stored_time(made),
                None if start is None else stored_time(start),
            )
            for name, version, fp, spki, end, source, made, start in self._s.rows(
                _CURRENT_FACTS, {"d": self._s.deployment}
            )
        ]

    def current_chain_holders(
        self, fingerprints: Collection[str]
    ) -> dict[str, tuple[x509.Certificate, tuple[str, ...]]]:
        """Of ``fingerprints``, the certificates the newest versions' chains hold: each
        (by fingerprint) with the certificate, parsed from one chain that holds it, and the
        identities whose newest chain holds it, sorted. Reads the identities' chain
        fingerprints from ``ix_certificates_current`` and one chain PEM per certificate
        found (rows written before schema 0010: their chain's PEM)."""
        wanted = set(fingerprints)
        if not wanted:
            return {}
        params = {"d": self._s.deployment}
        holders: dict[str, builtins.list[str]] = {}
        texts: dict[str, str] = {}  # fingerprint -> a chain PEM that holds it (old rows)
        named: dict[str, str] = {}  # fingerprint -> a chain_fps value that holds it
        for identity, fps in self._s.rows(_CHAIN_HOLDERS, params):
            for fp in set(fps.split()) & wanted:
                holders.setdefault(fp, []).append(identity)
                named.setdefault(fp, fps)
        for identity, text in self._s.rows(_CHAIN_HOLDERS_UNNAMED, params):
            for fp in set(chain_fingerprints(text)) & wanted:
                holders.setdefault(fp, []).append(identity)
                texts.setdefault(fp, text)
        out: dict[str, tuple[x509.Certificate, tuple[str, ...]]] = {}
        for fp, identities in holders.items():
            text = texts.get(fp)
            if text is None:
                found = self._s.rows(_CHAIN_PEM_OF, {**params, "c": named[fp]})
                text = found[0][0] if found else ""
            for cert_fp, cert in zip(chain_fingerprints(text), _load_pems(text), strict=False):
                if cert_fp == fp:
                    out[fp] = (cert, tuple(sorted(identities)))
                    break
        return out

    def current_chain_fingerprints(self) -> frozenset[str]:
        """The certificates the newest versions' chains hold (the CAs the current
        certificates need), by fingerprint: read from ``ix_certificates_current`` (a row
        written without its ``chain_fps`` from its chain's PEM). Parses no certificate."""
        params = {"d": self._s.deployment}
        named = [r[0] for r in self._s.rows(_CHAIN_FPS, params)]
        out: builtins.set[str] = set()
        if None in named:  # rows written before schema 0010's writers
            for (text,) in self._s.rows(_CHAIN_PEMS_UNNAMED, params):
                out.update(chain_fingerprints(text))
        for fps in named:
            if fps:
                out.update(fps.split())
        return frozenset(out)
