"""The root command group, the shared environment and the error boundary.

Exit codes: 0 success; 1 findings (a check that found problems); 2 bad input (every
``error:``/``hint:``); 70 an internal error (a ccapki bug: run again with ``--debug``).
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from ccapki import __version__
from ccapki.errors import CcapkiError, InputError, PasswordError

__all__ = ["Env", "cli", "run"]

#: command name -> "module:attribute"; imported only when the command runs or help lists it.
COMMANDS: dict[str, str] = {
    "init": "ccapki.cli.init:init",
    "plan": "ccapki.cli.plan:plan",
    "apply": "ccapki.cli.apply:apply",
    "inspect": "ccapki.cli.inspect:inspect_cmd",
    "demo": "ccapki.cli.demo:demo",
    "csr": "ccapki.cli.files:csr",
    "import": "ccapki.cli.files:import_cmd",
    "export": "ccapki.cli.files:export",
    "export-roots": "ccapki.cli.files:export_roots",
    "check-ha": "ccapki.cli.files:check_ha",
    "keys": "ccapki.cli.files:keys",
    "trust": "ccapki.cli.trust:trust",
    "lab": "ccapki.cli.lab:lab",
    "verify": "ccapki.cli.lab:verify",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        mod, _, attr = target.partition(":")
        cmd = getattr(importlib.import_module(mod), attr)
        assert isinstance(cmd, click.Command)
        return cmd


@dataclass
class Env:
    """What every command shares: where the store is, the clock, the passphrase."""

    home_option: str | None = None
    debug: bool = False
    _now: dt.datetime | None = field(default=None, repr=False)
    _asked: str | None = field(default=None, repr=False)

    @property
    def home(self) -> Path:
        from ccapki.store.db import resolve_home

        return resolve_home(self.home_option)

    def now(self) -> dt.datetime:
        """The clock: real time, or ``CCAPKI_NOW`` (ISO 8601) for what-if runs and tests."""
        if self._now is None:
            text = os.environ.get("CCAPKI_NOW")
            if text:
                try:
                    value = dt.datetime.fromisoformat(text)
                except ValueError:
                    raise InputError(
                        f"CCAPKI_NOW={text!r} is not an ISO 8601 time",
                        "use a form like 2026-11-27T12:00:00+00:00, or unset CCAPKI_NOW",
                    ) from None
                self._now = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
            else:
                self._now = dt.datetime.now(dt.UTC)
        return self._now

    def passphrase(self) -> str:
        env = os.environ.get("CCAPKI_PASSPHRASE")
        if env is not None:
            return env
        if self._asked is not None:  # ask once per command
            return self._asked
        if sys.stdin.isatty():
            value: str = click.prompt("Store passphrase", hide_input=True, err=True)
            self._asked = value
            return value
        raise PasswordError(
            "the store is locked by a passphrase and none was given",
            "set CCAPKI_PASSPHRASE, or run the command in a terminal to be asked",
        )

    def open_store(self) -> Any:
        from ccapki.store.db import Store

        return Store.open(self.home, self.passphrase, self.now)

    def store_exists(self) -> bool:
        from ccapki.store.db import Store

        return Store.exists(self.home)


pass_env = click.make_pass_decorator(Env)


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="""\b
EXAMPLES
  ccapki demo                         the whole workflow on the FAQ's example deployment
  ccapki init --key-file              create the store (or use CCAPKI_PASSPHRASE)
  ccapki plan examples/faq.toml       how many certificates, for which names
  ccapki apply examples/faq.toml      issue them
  ccapki inspect cas-dorm             what the store holds for an identity

\b
EXIT CODES
  0 success   1 findings   2 bad input (error: and hint:)   70 internal error
""",
)
@click.option(
    "--home",
    metavar="DIR",
    help="Store folder (default: $CCAPKI_HOME, else $XDG_DATA_HOME/ccapki).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.version_option(__version__, "-V", "--version", prog_name="ccapki")
@click.pass_context
def cli(ctx: click.Context, home: str | None, debug: bool) -> None:
    """ccapki: every certificate of a Cisco Clean Access deployment, managed."""
    ctx.obj = Env(home_option=home, debug=debug)


def _say_error(message: str, hint: str | None) -> None:
    click.echo(f"error: {message}", err=True)
    if hint:
        click.echo(f"hint: {hint}", err=True)


def run(args: list[str]) -> int:
    """Run the CLI; turn every known error into ``error:`` + ``hint:`` and an exit code."""
    debug = "--debug" in args
    try:
        rv = cli.main(args, prog_name="ccapki", standalone_mode=False)
    except CcapkiError as exc:
        if debug:
            import traceback

            traceback.print_exc()
        _say_error(exc.message, exc.hint)
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.exceptions.Abort:
        _say_error("aborted", None)
        return 130
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.format_message(), err=True)
        return 2
    except click.UsageError as exc:
        cmd = exc.ctx.command_path if exc.ctx else "ccapki"
        _say_error(exc.format_message(), f"see `{cmd} --help` for usage and examples")
        return 2
    except click.ClickException as exc:
        _say_error(exc.format_message(), None)
        return exc.exit_code
    except KeyboardInterrupt:
        _say_error("interrupted", None)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:
        if debug:
            raise
        _say_error(
            f"internal error: {type(exc).__name__}: {exc}",
            "this is a ccapki bug: run again with --debug and report the traceback",
        )
        return 70
    return rv if isinstance(rv, int) else 0
