"""The tables. Alembic migrations (``store/migrations``) create exactly these."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

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
    func,
)

from ccapki.store.records import DEFAULT_DEPLOYMENT, SCHEMA_HEAD, stored_time

__all__ = ["DEFAULT_DEPLOYMENT", "SCHEMA_HEAD", "metadata"]


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

    def result_processor(
        self, dialect: Dialect, coltype: object
    ) -> Callable[[object], dt.datetime | None] | None:
        """On SQLite, the stored text read in one C call by :func:`stored_time` (a status
        of 10,000 identities reads 50,000 of them: SQLAlchemy's own parser and then
        :meth:`process_result_value` took three times as long)."""
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)

        def process(value: object) -> dt.datetime | None:
            return None if value is None else stored_time(value)

        return process


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
    # what status, apply and the CA scope read of the file (JSON, written with it by
    # lifecycle.status.settings_json; NULL in rows older than 0009: the text is parsed)
    Column("facts", Text, nullable=True),
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
    # the certificate's end of validity (0010; NULL on a row written without it: read its
    # PEM), so `status` parses no certificate
    Column("not_after", UTCDateTime, nullable=True),
    # its start of validity (0011, as not_after): `status` says a CA dated ahead
    # not-yet-valid
    Column("not_before", UTCDateTime, nullable=True),
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
    # chain_pem's certificates by fingerprint, space-separated (0010; NULL on a row written
    # without it: read its chain_pem), so `status` finds the CAs in use in an index
    Column("chain_fps", Text, nullable=True),
    # why the certificate's names were not checked against the deployment file when it was
    # taken (0011): "import --force"; NULL when they were (issued by ccapki from the plan,
    # or imported without --force), the usual row. `status` reads these few certificates
    Column("names_unchecked", String(64), nullable=True),
    UniqueConstraint(
        "deployment", "identity", "version", name="uq_certificates_deployment_identity_version"
    ),
    # the inventory by expiry, one page at a time (a covering index: no PEM row is read)
    Index("ix_certificates_expiry", "deployment", "not_after", "identity", "version"),
    # every identity's newest version as its columns (`status`, 0010: a covering index)
    Index(
        "ix_certificates_current",
        "deployment",
        "identity",
        "version",
        "fingerprint",
        "spki",
        "not_after",
        "source",
        "created_at",
        "not_before",
        "chain_fps",
    ),
)
# the few certificates taken without their names checked (0011): a partial index, so
# `status` finds them without reading the certificate rows, and an apply's rows (NULL)
# cost it nothing
Index(
    "ix_certificates_unchecked",
    certificates.c.deployment,
    sqlite_where=certificates.c.names_unchecked.isnot(None),
    postgresql_where=certificates.c.names_unchecked.isnot(None),
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
    Column("not_after", UTCDateTime, nullable=True),  # as cas.not_after (0010)
    Column("not_before", UTCDateTime, nullable=True),  # as cas.not_before (0011)
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
    # the deployment acted on (None: the whole store, or a row from before revision 0003)
    Column("deployment", String(128), nullable=True),
    # who: the operating-system user of a CLI run, or a service user (None before 0003)
    Column("actor", String(128), nullable=True),
)
# the few rows of certificates `ccapki import` took (lifecycle.adopted): plan, apply and
# status find the adopted ones without scanning the whole log; the many rows an apply
# writes (action "issue") cost this partial index nothing
Index(
    "ix_audit_import",
    audit.c.deployment,
    sqlite_where=audit.c.action == "import",
    postgresql_where=audit.c.action == "import",
)

# what each endpoint served, each time it was probed (``ccapki probe``, ``ccapki watch``)
probe_results = Table(
    "probe_results",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("deployment", String(128), nullable=False),
    Column("appliance", String(128), nullable=False),
    Column("kind", String(32), nullable=False),  # control | heartbeat | agent | web-login | gui
    Column("address", String(300), nullable=False),  # host:port
    Column("at", UTCDateTime, nullable=False),
    Column("verdict", String(32), nullable=False),  # see records.ProbeVerdict
    Column("reason", Text, nullable=False),  # why it failed, or what it found ("" when fine)
    Column("protocol", String(16), nullable=True),  # TLSv1.3 ...
    Column("leaf_sha256", String(64), nullable=True),
    Column("chain_pem", Text, nullable=True),  # what it presented, leaf first
    Column("identity", String(128), nullable=True),  # the identity it should serve
    Column("version", Integer, nullable=True),  # the version it served, when the store's
    Column("latency_ms", Integer, nullable=True),
    Column("since", UTCDateTime, nullable=True),  # first probe that saw this certificate there
    Index("ix_probe_results_endpoint", "deployment", "appliance", "kind", "id"),
)

# notifications sent (once per subject, event and stage: state that survives restarts)
notifications = Table(
    "notifications",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("deployment", String(128), nullable=False),
    Column("subject", String(256), nullable=False),  # identity, CA or appliance
    Column("event", String(32), nullable=False),  # expiry | drift | ...
    Column("stage", String(64), nullable=False),  # 60 | 30 | 7 | expired | a fingerprint ...
    Column("fingerprint", String(64), nullable=False),  # the certificate the event is about
    Column("at", UTCDateTime, nullable=False),  # claimed (by a watcher about to send it)
    Column("sent_at", UTCDateTime, nullable=True),  # sent on every channel (None: in flight)
    Column("channels", Text, nullable=False),  # where it went: webhook, email
    UniqueConstraint(
        "deployment",
        "subject",
        "event",
        "stage",
        "fingerprint",
        name="uq_notifications_once",
    ),
)

# runs of probe / status / watch (the last successful one is a metric)
runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("deployment", String(128), nullable=False),
    Column("kind", String(32), nullable=False),  # probe | watch
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("ok", Integer, nullable=True),  # 1 finished fine, 0 failed, NULL running
    Column("summary", Text, nullable=False),
    Index("ix_runs_deployment_kind", "deployment", "kind", "id"),
)

# ---------------------------------------------------------------- the service (ccapki serve)

# people and programs using the service; passwords hashed (Argon2id), never stored
users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("role", String(16), nullable=False),  # viewer | operator | admin
    Column("password_hash", Text, nullable=True),  # None: API tokens only
    Column("created_at", UTCDateTime, nullable=False),
    Column("disabled_at", UTCDateTime, nullable=True),
)

# user names unique whatever their case (issue 13, migration 0006_users_name): the
# database refuses "ANN" beside "ann" whoever writes
Index("ix_users_name_lower", func.lower(users.c.name), unique=True)

# API tokens: only their SHA-256 is kept (the token is shown once, when made)
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False, index=True),
    Column("label", String(128), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=True),
    Column("last_used_at", UTCDateTime, nullable=True),
    Column("revoked_at", UTCDateTime, nullable=True),
)

# web sessions: only the SHA-256 of the cookie is kept; any instance can check one
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("session_hash", String(64), nullable=False, unique=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)

# failed logins, for throttling across instances
login_failures = Table(
    "login_failures",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(128), nullable=False),
    Column("address", String(64), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Index("ix_login_failures_name_at", "name", "at"),
    Index("ix_login_failures_address_at", "address", "at"),
)

# background jobs (apply of thousands, probe, backup): any instance claims any job
jobs = Table(
    "jobs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("deployment", String(128), nullable=True),
    Column("params", Text, nullable=False),  # JSON
    Column("state", String(16), nullable=False),  # queued | running | done | failed | cancelled
    Column("created_by", String(128), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("owner", String(128), nullable=True),  # the instance running it
    Column("lease_until", UTCDateTime, nullable=True),  # a running job whose lease ran out
    Column("attempts", Integer, nullable=False),  # is claimed again by another instance
    Column("started_at", UTCDateTime, nullable=True),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("cancel_requested", Integer, nullable=False),
    Column("progress", Text, nullable=False),  # JSON: {"done": n, "total": m, ...}
    Column("result", Text, nullable=True),  # JSON
    Column("error", Text, nullable=True),
    Index("ix_jobs_state_id", "state", "id"),
)

# ---- ACME enrollment (issue 14): the account per (deployment, directory), its key sealed
# like every other (store.keys.sealed_row: AES-256-GCM, AAD the key's SPKI fingerprint),
# and each order with the pending key it was made for
acme_accounts = Table(
    "acme_accounts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("deployment", String(128), nullable=False),
    Column("directory", Text, nullable=False),
    Column("uri", Text, nullable=False),  # the account URL (the JWS "kid")
    Column("contact", Text, nullable=False),  # JSON list of mailto: URIs
    Column("fingerprint", String(64), nullable=False, unique=True),  # SHA-256 of the SPKI
    Column("key_type", String(32), nullable=False),
    Column("nonce", LargeBinary, nullable=False),
    Column("sealed", LargeBinary, nullable=False),  # AES-256-GCM(PKCS#8 DER)
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_acme_accounts_deployment", "deployment"),
)

acme_orders = Table(
    "acme_orders",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("deployment", String(128), nullable=False),
    Column("identity", String(128), nullable=False),
    Column("account_id", Integer, ForeignKey("acme_accounts.id"), nullable=False),
    Column("uri", Text, nullable=True),  # the order URL, once the CA made it
    Column("names", Text, nullable=False),  # JSON list of the DNS names ordered
    Column("spki", String(64), ForeignKey("keys.fingerprint"), nullable=False),
    Column("state", String(16), nullable=False),  # pending | valid | failed | revoked
    Column("error", Text, nullable=True),  # the one-line reason of a failed order
    Column("certificate", String(64), nullable=True),  # fingerprint of what it brought
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_acme_orders_deployment_identity", "deployment", "identity"),
)
# ---- end ACME

# ---- CA keys in a PKCS#11 token (issue 14): where a CA's private key lives when the store
# does not hold it (the URI names token, object and id; never a PIN), and the module it was
# reached through; the key itself never leaves the token
ca_token_keys = Table(
    "ca_token_keys",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("fingerprint", String(64), nullable=False, unique=True),  # SHA-256 of the SPKI
    Column("key_type", String(32), nullable=False),
    Column("uri", Text, nullable=False),  # RFC 7512, without pin-value / module-path
    Column("module", Text, nullable=True),  # the PKCS#11 library path (None: from env)
    Column("created_at", UTCDateTime, nullable=False),
    Column("deployment", String(128), nullable=False),
    Index("ix_ca_token_keys_deployment", "deployment"),
)
# ---- end PKCS#11
