"""``ccapki ca``: the deployment's own CAs: create them (keys in a PKCS#11 token or in the
store) and list where each key is."""

from __future__ import annotations

import click

from ccapki.cli.app import Env, pass_env

__all__ = ["ca"]


@click.group(
    invoke_without_command=True,
    epilog="""\b
EXAMPLES
  ccapki ca create examples/faq.toml --root-pkcs11-uri 'pkcs11:token=ccapki;object=root' \\
      --intermediate-pkcs11-uri 'pkcs11:token=ccapki;object=appliance-ca'
  ccapki ca list                      every CA and where its key is (store or token)
  ccapki ca set-token 'Campus Root CA' --pkcs11-uri 'pkcs11:token=new-label;object=campus-root'

\b
EXIT CODES
  0 success   2 bad input, a token failure (error: and hint:)
""",
)
@click.pass_context
def ca(ctx: click.Context) -> None:
    """The deployment's own CAs: create them (keys in a PKCS#11 token or the store), list
    where each key is, change the token place of a key (see docs/pkcs11.md)."""
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


@ca.command(
    "create",
    epilog="""\b
EXAMPLES
  CCAPKI_PKCS11_MODULE=/usr/lib/softhsm/libsofthsm2.so CCAPKI_PKCS11_PIN=... \\
  ccapki ca create examples/faq.toml \\
      --root-pkcs11-uri 'pkcs11:token=ccapki;object=campus-root' \\
      --intermediate-pkcs11-uri 'pkcs11:token=ccapki;object=campus-ca'
  ccapki ca create examples/faq.toml        as the file's [ca] says (or keys in the store)

\b
Creates the internal root (ECDSA P-384) and intermediate (ECDSA P-256) CAs the store does
not hold yet. A key whose PKCS#11 URI (RFC 7512: token=, object=, id=) is given is
generated in that token, sensitive and not extractable, or used as it is when the token
holds it already; the store records where it is, never the key or the PIN. Without a
URI the key is made and sealed in the store. The user PIN comes from CCAPKI_PKCS11_PIN or
is asked in a terminal; the module from CCAPKI_PKCS11_MODULE, ?module-path= in the URI,
--pkcs11-module or [ca] pkcs11_module. `ccapki apply` creates the same CAs on first use.

\b
EXIT CODES
  0 created (or both held already)   2 bad input, a URI for a CA the store holds, a token
      failure (module, token, PIN, object; nothing written)
""",
)
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option("--root-pkcs11-uri", metavar="URI", help="The root CA's key in this token.")
@click.option(
    "--intermediate-pkcs11-uri", metavar="URI", help="The intermediate CA's key in this token."
)
@click.option(
    "--pkcs11-module", metavar="PATH", help="The PKCS#11 library (default: CCAPKI_PKCS11_MODULE)."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_env
def create(
    env: Env,
    file: str | None,
    root_pkcs11_uri: str | None,
    intermediate_pkcs11_uri: str | None,
    pkcs11_module: str | None,
    as_json: bool,
) -> int:
    """Create the deployment's internal root and intermediate CAs."""
    from ccapki.cli.common import load_deployment_arg
    from ccapki.hsm.uri import parse_pkcs11_uri
    from ccapki.lifecycle.cakeys import ca_key_places, create_internal_cas
    from ccapki.topology.model import CaKeys

    env.refuse_what_if("ca create")
    root = str(parse_pkcs11_uri(root_pkcs11_uri)) if root_pkcs11_uri else None
    inter = str(parse_pkcs11_uri(intermediate_pkcs11_uri)) if intermediate_pkcs11_uri else None
    dep, path = load_deployment_arg(env, file)
    with env.open_store() as store:
        created = create_internal_cas(
            store, dep, env.now(), overrides=CaKeys(root, inter, pkcs11_module), path=path
        )
        places = ca_key_places(store)
        reused = [str(k.uri) for k in store.token_keys.reused] if created else []
    env.work_done()
    if as_json:
        from ccapki.cli.output import print_json

        print_json({"created": created, "cas": [_place_json(p) for p in places], "reused": reused})
        return 0
    if not created:
        click.echo(f"nothing created: deployment {dep.name} has its internal CAs already")
    for p in places:
        if p.name in created:
            click.echo(
                f"created {p.kind} CA {p.name} (expires {p.not_after:%Y-%m-%d}): {_where(p)}"
            )
    for uri in reused:
        click.echo(
            f"note: the token held the key {uri} already: the new CA uses it as it is "
            "(nothing was generated there)"
        )
    return 0


def _where(p: object) -> str:
    from ccapki.lifecycle.cakeys import CaKeyPlace

    assert isinstance(p, CaKeyPlace)
    if p.where == "token":
        return f"key in the PKCS#11 token {p.uri}"
    if p.where == "store":
        return "key sealed in the store"
    return "no key here (an outside CA)"


def _place_json(p: object) -> dict[str, object]:
    from ccapki.lifecycle.cakeys import CaKeyPlace

    assert isinstance(p, CaKeyPlace)
    return {
        "name": p.name,
        "kind": p.kind,
        "fingerprint": p.fingerprint,
        "not_after": p.not_after.isoformat(),
        "key": p.where,
        "uri": p.uri,
        "module": p.module,
    }


@ca.command(
    "list",
    epilog="""\b
EXAMPLES
  ccapki ca list              each CA of the deployment, and where its key is
  ccapki ca list --json

\b
EXIT CODES
  0 listed   2 no store there
""",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_env
def list_cas(env: Env, as_json: bool) -> int:
    """Every CA of the deployment and where its key is (store, PKCS#11 token, none)."""
    from ccapki.lifecycle.cakeys import ca_key_places

    with env.open_store() as store:
        places = ca_key_places(store)
    if as_json:
        from ccapki.cli.output import print_json

        print_json([_place_json(p) for p in places])
        return 0
    if not places:
        click.echo("no CA yet: `ccapki ca create FILE` or `ccapki apply FILE` makes them")
    for p in places:
        click.echo(f"{p.kind:<14} {p.name} (expires {p.not_after:%Y-%m-%d}): {_where(p)}")
    return 0


@ca.command(
    "set-token",
    epilog="""\b
EXAMPLES
  ccapki ca set-token 'Campus Root CA' \\
      --pkcs11-uri 'pkcs11:token=ccapki-ca-2;object=campus-root'    the token was re-initialised
  ccapki ca set-token internal-ca --pkcs11-uri 'pkcs11:token=ccapki-ca;object=campus-ca' \\
      --pkcs11-module /opt/hsm/lib/libvendor-pkcs11.so              the module moved

\b
Changes where the store says a CA's key is in a PKCS#11 token (its URI and module), when
the token was re-initialised under another label or serial, the key object relabelled,
or the module moved. Before anything is recorded, the key the new URI names is reached
(the module loads, the token is there, the user PIN from CCAPKI_PKCS11_PIN or the prompt
logs in), its public key must be the CA certificate's and it must sign what that public
key verifies. CA_NAME is the CA's name (`ccapki ca list`) or its kind (internal-root,
internal-ca). --pkcs11-module (or ?module-path= in the URI) is used before
CCAPKI_PKCS11_MODULE and recorded. Logged in the audit log (ca-set-token).

\b
EXIT CODES
  0 recorded (or already so)   2 bad input (URI, unknown CA, a key not in a token), a
      token failure, or a key that is not the CA's (nothing changed)
""",
)
@click.argument("ca_name", metavar="CA_NAME")
@click.option(
    "--pkcs11-uri", "uri", metavar="URI", required=True, help="Where the CA's key is now."
)
@click.option(
    "--pkcs11-module",
    metavar="PATH",
    help="The PKCS#11 library (default: CCAPKI_PKCS11_MODULE, else the one recorded).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_env
def set_token(env: Env, ca_name: str, uri: str, pkcs11_module: str | None, as_json: bool) -> int:
    """Record a new PKCS#11 URI (and module) of a CA key in a token, once checked."""
    from ccapki.lifecycle.catoken import set_ca_token

    env.refuse_what_if("ca set-token")
    with env.open_store() as store:
        move = set_ca_token(store, ca_name, uri, pkcs11_module)
    env.work_done()
    if as_json:
        from ccapki.cli.output import print_json

        print_json(move.to_dict())
        return 0
    if not move.changed:
        click.echo(
            f"nothing changed: CA {move.ca}'s key is recorded at {move.uri} already "
            "(checked: the token's key is the CA's)"
        )
        return 0
    module = f" (module {move.module})" if move.module else ""
    was = f" (module {move.old_module})" if move.old_module else ""
    click.echo(
        f"CA {move.ca} ({move.kind}): its key is now recorded at {move.uri}{module}; "
        f"was {move.old_uri}{was}. Checked: the key is the CA's and signs."
    )
    return 0
