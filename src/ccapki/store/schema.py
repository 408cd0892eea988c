"""The tables. Alembic migrations (``store/migrations``) create exactly these."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)

from ccapki.store.records import DEFAULT_DEPLOYMENT

__all__ = ["DEFAULT_DEPLOYMENT", "SCHEMA_HEAD", "metadata"]

#: The Alembic revision this code expects; a test checks it equals the migrations' head.
SCHEMA_HEAD = "0002_deployments"


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        return value.astimezone(dt.UTC) if value is not None else None

    def process_result_value(self, value: object, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)  # what DateTime columns hold on every backend
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


metadata = MetaData()

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

deployments = Table(
    "deployments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(128), nullable=False),
    Column("source_text", Text, nullable=False),
    Column("path", Text, nullable=True),
    Column("loaded_at", UTCDateTime, nullable=False),
)

keys = Table(
    "keys",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("fingerprint", String(64), nullable=False, unique=True),  # SHA-256 of SPKI
    Column("key_type", String(32), nullable=False),
    Column("identity", String(128), nullable=True, index=True),
    Column("state", String(16), nullable=False),  # pending | active | superseded | retired | ca
    Column("nonce", LargeBinary, nullable=False),
    Column("sealed", LargeBinary, nullable=False),  # AES-256-GCM(PKCS#8 DER)
    Column("created_at", UTCDateTime, nullable=False),
    # the deployment whose identity (or CA) the key is; a key is one key store-wide
    # (fingerprint unique), held by one deployment
    Column("deployment", String(128), nullable=False),
    Index("ix_keys_deployment", "deployment"),
)

cas = Table(
    "cas",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(256), nullable=False),
    Column("kind", String(32), nullable=False),  # perfigo-root | internal-root | internal-ca
    Column("fingerprint", String(64), nullable=False, unique=True),
    Column("spki", String(64), nullable=False),
    Column("pem", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("deployment", String(128), nullable=False),
    Index("ix_cas_kind", "kind"),
    Index("ix_cas_deployment", "deployment"),
)

certificates = Table(
    "certificates",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("identity", String(128), nullable=False),
    Column("version", Integer, nullable=False),
    Column("fingerprint", String(64), nullable=False),  # SHA-256 of the certificate DER
    Column("spki", String(64), nullable=False, index=True),
    Column("serial", String(64), nullable=False),
    Column("subject", Text, nullable=False),
    Column("issuer", Text, nullable=False),
    Column("not_before", UTCDateTime, nullable=False),
    Column("not_after", UTCDateTime, nullable=False),
    Column("source", String(32), nullable=False),
    Column("pem", Text, nullable=False),
    Column("chain_pem", Text, nullable=False),  # intermediates then root, may be empty
    Column("created_at", UTCDateTime, nullable=False),
    Column("deployment", String(128), nullable=False),
    UniqueConstraint(
        "deployment", "identity", "version", name="uq_certificates_deployment_identity_version"
    ),
)

csrs = Table(
    "csrs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("identity", String(128), nullable=False, index=True),
    Column("spki", String(64), ForeignKey("keys.fingerprint"), nullable=False),
    Column("pem", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("deployment", String(128), nullable=False),
    Index("ix_csrs_deployment", "deployment"),
)

trust_entries = Table(
    "trust_entries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("appliance", String(128), nullable=False, index=True),
    Column("fingerprint", String(64), nullable=False),
    Column("label", Text, nullable=False),
    Column("pem", Text, nullable=False),
    Column("added_at", UTCDateTime, nullable=False),
    Column("removed_at", UTCDateTime, nullable=True),
    Column("deployment", String(128), nullable=False),
    Index("ix_trust_entries_deployment", "deployment"),
)

audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime, nullable=False),
    Column("action", String(64), nullable=False),
    Column("subject", Text, nullable=False),
    Column("detail", Text, nullable=False),
)
