"""``ccapki init``: create the store."""

from __future__ import annotations

import os
import sys

import click

from ccapki.cli.app import Env, pass_env

__all__ = ["init"]


@click.command(
    epilog="""\b
EXAMPLES
  CCAPKI_PASSPHRASE=... ccapki init     keys sealed under a passphrase (scrypt, 8+ characters)
  ccapki --home /srv/ccapki init --key-file
                                        data key in /srv/ccapki/data.key (0600)

\b
EXIT CODES
  0 store created   2 a store is already there, a passphrase too short or empty, or an
                      unusable --home (nothing created)
"""
)
@click.option("--key-file", is_flag=True, help="Keep the data key in a 0600 file.")
@pass_env
def init(env: Env, key_file: bool) -> int:
    """Create a new store (SQLite in the home folder) with an encrypted keyring."""
    from ccapki.errors import PasswordError
    from ccapki.store.session import MIN_PASSPHRASE, Store

    env.refuse_what_if("init")
    if env.database_url is None:  # a FIFO there hung init (it reads what is there)
        env.refuse_odd_database(env.home / "ccapki.db")
    passphrase = None
    if not key_file:
        passphrase = os.environ.get("CCAPKI_PASSPHRASE")
        if passphrase == "":
            raise PasswordError(
                "CCAPKI_PASSPHRASE is set but empty",
                f"set it to a passphrase of at least {MIN_PASSPHRASE} characters, unset it to "
                "be asked, or use `ccapki init --key-file`",
            )
        if passphrase is None and sys.stdin.isatty():
            passphrase = click.prompt(
                "New store passphrase", hide_input=True, confirmation_prompt=True, err=True
            )
    existed = env.home.is_dir()
    with Store.init(
        env.home,
        url=env.database_url,
        passphrase=passphrase,
        key_file=key_file,
        clock=env.now,
    ):
        env.work_done()  # the store exists: a late Ctrl-C no longer makes this an error
    if existed:  # a folder ccapki did not create keeps its mode: say when it is too open
        env.warn_loose_modes()
    key_at = "data.key" if env.database_url is None else str(env.home / "data.key")
    how = f"data key in {key_at} (0600)" if key_file else "keys sealed under your passphrase"
    click.echo(f"created store {env.store_where} ({how})")
    return 0
