"""Subject fields of the deployment file (audit: a CSR carried only O and CN, while CCA's
own CSR form and the CAs issuing OV certificates ask for C, ST, L, OU and an e-mail
address): ``[deployment.subject]`` for every identity, ``subject = { ... }`` (or a
``[cas.subject]`` table) of one identity over it, key by key. Bad values are one
``error: FILE:LINE`` naming the key with a hint; a file without them plans today's
subject; the deployment facts the store keeps do not change."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from ccapki.errors import DeploymentError
from ccapki.lifecycle.status import settings_json
from ccapki.topology import fastload, loader
from ccapki.topology.model import SubjectFields
from ccapki.topology.plan import make_plan
from kit.cli import FAQ, SUBJECT, CliRunner, error_with_hint, line_of, ok, standalone, write
from kit.cli import deployment as make_deployment

PLAIN = make_deployment(
    name="subj",
    source="third-party",
    cas=[
        standalone("cas-1", "10.6.0.1")
        + 'subject = { locality = "Shelbyville", email = "cas-1@example.org" }\n',
        standalone("cas-2", "10.6.0.2") + '\n[cas.subject]\norganizational_unit = "Clinic"\n',
        standalone("cas-3", "10.6.0.3"),
    ],
)
TEXT = PLAIN.replace("\n[cam]\n", SUBJECT + "\n[cam]\n", 1)


def test_the_subject_table_is_read_and_an_identity_overrides_it_key_by_key() -> None:
    dep = loader.parse_deployment(TEXT, "d.toml")
    everyone = SubjectFields("US", "Illinois", "Springfield", "IT Services", "pki-team@example.org")
    assert dep.subject == everyone
    assert dep.identity("cam").subject == everyone
    assert dep.identity("cas-3").subject == everyone
    assert dep.identity("cas-1").subject == SubjectFields(
        "US", "Illinois", "Shelbyville", "IT Services", "cas-1@example.org"
    )
    assert dep.identity("cas-2").subject == SubjectFields(
        "US", "Illinois", "Springfield", "Clinic", "pki-team@example.org"
    )
    # the fast path hands such a file to the full loader: the same deployment
    assert fastload.parse_deployment(TEXT, "d.toml") == dep
    # the subject the plan asks for: C, ST, L, O, OU, CN, emailAddress, one per RDN
    name = make_plan(dep).get("cas-1").request.subject
    assert [(a.oid, a.value) for a in name] == [
        (NameOID.COUNTRY_NAME, "US"),
        (NameOID.STATE_OR_PROVINCE_NAME, "Illinois"),
        (NameOID.LOCALITY_NAME, "Shelbyville"),
        (NameOID.ORGANIZATION_NAME, "Test Org"),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, "IT Services"),
        (NameOID.COMMON_NAME, "cas-1.example.org"),
        (NameOID.EMAIL_ADDRESS, "cas-1@example.org"),
    ]
    assert len(name.rdns) == 7


def test_only_some_fields_and_an_identity_alone_giving_them() -> None:
    text = PLAIN.replace("\n[cam]\n", '\n[deployment.subject]\ncountry = "DE"\n\n[cam]\n', 1)
    dep = loader.parse_deployment(text, "d.toml")
    assert dep.subject == SubjectFields(country="DE")
    assert dep.identity("cas-1").subject == SubjectFields(
        country="DE", locality="Shelbyville", email="cas-1@example.org"
    )
    name = make_plan(dep).get("cas-3").request.subject
    assert [a.oid for a in name] == [
        NameOID.COUNTRY_NAME,
        NameOID.ORGANIZATION_NAME,
        NameOID.COMMON_NAME,
    ]
    # no [deployment.subject]: an identity's own fields alone
    dep = loader.parse_deployment(PLAIN, "d.toml")
    assert dep.subject == SubjectFields()
    assert dep.identity("cas-2").subject == SubjectFields(organizational_unit="Clinic")


def test_absent_fields_plan_todays_subject() -> None:
    for parse in (fastload.load_deployment, loader.load_deployment):
        dep = parse(FAQ)
        assert dep.subject == SubjectFields()
        for p in make_plan(dep).identities:
            assert p.spec.subject == SubjectFields()
            assert p.request.subject == x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example University"),
                    x509.NameAttribute(NameOID.COMMON_NAME, p.spec.common_name),
                ]
            )


def test_the_deployment_facts_the_store_keeps_do_not_change() -> None:
    with_fields = loader.parse_deployment(TEXT, "d.toml")
    without = loader.parse_deployment(
        "\n".join(
            line
            for line in PLAIN.splitlines()
            if "subject" not in line and "organizational_unit" not in line
        ),
        "d.toml",
    )
    assert settings_json(with_fields) == settings_json(without)


def test_the_bounds_of_x520_count_bytes_of_utf8() -> None:
    def parse(key: str, value: str) -> SubjectFields:
        text = PLAIN.replace("\n[cam]\n", f'\n[deployment.subject]\n{key} = "{value}"\n\n[cam]\n')
        return loader.parse_deployment(text, "d.toml").subject

    assert parse("state", "x" * 128).state == "x" * 128
    assert parse("organizational_unit", "é" * 32).organizational_unit == "é" * 32
    assert parse("locality", "Zürich").locality == "Zürich"
    for key, value in (("state", "x" * 129), ("organizational_unit", "é" * 33)):
        with pytest.raises(DeploymentError, match="bytes"):
            parse(key, value)


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ('country = "us"', '"us" is written in lower case: write "US"'),
        ('country = "UK"', 'write "GB"'),
        ('country = "USA"', "not a two-letter country code (ISO 3166-1 alpha-2)"),
        ('country = "United States"', "not a two-letter country code"),
        ('country = "ZZ"', "not an assigned ISO 3166-1 country code"),
        ('country = ""', "not a two-letter country code"),
        ("country = 1", "1 is a number, not a string"),
        ('state = ""', "is empty"),
        ('state = "   "', "is empty"),
        ('locality = "Spring\\nfield"', "control or invisible character (U+000A)"),
        ('locality = "Spring\\tfield"', "control or invisible character (U+0009)"),
        ('organizational_unit = "IT\\u202eServices"', "(U+202E)"),
        ('locality = " Springfield"', "starts or ends with a space"),
        ('organizational_unit = "' + "x" * 65 + '"', "holds 1 to 64"),
        ('state = "' + "x" * 129 + '"', "holds 1 to 128"),
        ('email = "pki-team"', '"pki-team" is not an e-mail address'),
        ('email = "pki team@example.org"', "is not an e-mail address"),
        ('email = "pki@exa_mple.org"', "is not an e-mail address"),
        ('email = "pkï@example.org"', "is not ASCII"),
        ("email = true", "true is a boolean (true/false), not a string"),
    ],
)
def test_a_bad_value_is_an_error_naming_the_key_with_a_hint(
    cli: CliRunner, tmp_path: Path, line: str, words: str
) -> None:
    key = line.split(" =", 1)[0]
    text = TEXT.replace(next(x for x in SUBJECT.splitlines() if x.startswith(key + " ")), line)
    path = write(tmp_path / "d.toml", text)
    r = error_with_hint(cli("plan", str(path)))
    first, hint = r.err.splitlines()[:2]
    assert first.startswith(f"error: {path}:{line_of(text, line)}: deployment.subject.{key}: "), (
        first
    )
    assert words in first, first
    assert hint.startswith(f"hint: write it like {key} = "), hint
    assert len(r.err.splitlines()) == 2, r.err
    for parse in (fastload.parse_deployment, loader.parse_deployment):
        with pytest.raises(DeploymentError):
            parse(text, str(path))


def test_an_identity_s_bad_value_names_its_own_key(cli: CliRunner, tmp_path: Path) -> None:
    bad = 'subject = { locality = "Shelbyville", country = "gb" }'
    text = TEXT.replace('subject = { locality = "Shelbyville", email = "cas-1@example.org" }', bad)
    path = write(tmp_path / "d.toml", text)
    r = error_with_hint(cli("plan", str(path)))
    assert r.err.startswith(
        f'error: {path}:{line_of(text, bad)}: cas[0].subject.country: "gb" is written in '
        'lower case: write "GB"\nhint: write it like country = "US"'
    ), r.err


@pytest.mark.parametrize(
    ("key", "hint"),
    [
        ("organization", "hint: the organization (O) is set once, in [deployment]: organization"),
        ("common_name", "hint: the common name (CN) is the identity's (virtual) hostname"),
        ("city", "hint: remove it or fix its spelling; allowed keys: country, email, locality"),
    ],
)
def test_an_unknown_subject_key_says_which_there_are(
    cli: CliRunner, tmp_path: Path, key: str, hint: str
) -> None:
    text = TEXT.replace('country = "US"', f'{key} = "X"')
    path = write(tmp_path / "d.toml", text)
    r = error_with_hint(cli("plan", str(path)))
    at = line_of(text, f'{key} = "X"')
    assert r.err.startswith(f"error: {path}:{at}: unknown key {key!r} in deployment.subject"), r.err
    assert hint in r.err, r.err


def test_a_file_with_subject_fields_plans(cli: CliRunner, tmp_path: Path) -> None:
    path = write(tmp_path / "d.toml", TEXT)
    plan = ok(cli("plan", str(path), "--json")).json()
    subjects = {i["name"]: i["subject"] for i in plan["identities"]}
    assert subjects["cas-2"] == (
        "1.2.840.113549.1.9.1=pki-team@example.org,CN=cas-2.example.org,OU=Clinic,"
        "O=Test Org,L=Springfield,ST=Illinois,C=US"
    )
