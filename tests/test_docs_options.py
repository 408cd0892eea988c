"""Every ``ccapki COMMAND --option`` that README.md and docs/*.md show names a command there
is and an option it takes: a new administrator copies them as written (docs/service.md once
said `ccapki renew --dry-run`, an option renew never had: renew is a dry run without
--commit)."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from ccapki.cli.app import cli
from kit.cli import REPO

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
#: ``ccapki`` then its words (commands, options, values), as the pages write them
COMMAND = re.compile(r"ccapki((?: +[-\w./'=:]+)+)")


def _options_of(words: list[str]) -> tuple[list[str], set[str]]:
    """The command path ``words`` name (``["trust", "plan"]``) and every option it and the
    groups above it take."""
    ctx = click.Context(cli)
    cmd: click.Command = cli
    path: list[str] = []
    opts = {o for p in cli.params for o in (*p.opts, *p.secondary_opts)}
    skip = False
    for word in words:
        if skip or word.startswith("-"):
            # the value of a group's option (`ccapki --deployment hospital export ...`) is
            # not a command name (walkthrough F: such lines were taken for prose)
            valued = {
                o
                for p in cmd.params
                if isinstance(p, click.Option) and not p.is_flag and not p.count
                for o in p.opts
            }
            skip = not skip and word in valued
            continue
        if not isinstance(cmd, click.Group):
            break
        sub = cmd.get_command(ctx, word)
        if sub is None:
            break
        cmd = sub
        path.append(word)
        opts |= {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)}
    return path, opts


def _shown(page: Path) -> list[tuple[str, str, str]]:
    """``(command, option, line)`` for every option the page shows after a command that
    the command does not take."""
    wrong = []
    for line in page.read_text(encoding="utf-8").splitlines():
        for found in COMMAND.finditer(line):
            words = found.group(1).split()
            path, opts = _options_of(words)
            if not path:  # prose ("ccapki waits ..."), not a command
                continue
            for word in words:
                option = word.split("=")[0]
                if option.startswith("--") and option not in opts:
                    wrong.append((" ".join(["ccapki", *path]), option, line.strip()))
    return wrong


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_option_a_page_shows_exists(page: Path) -> None:
    assert _shown(page) == []


#: options of other programs the pages name alone (softhsm2-util, chromium)
OTHERS = {"--init-token", "--host-resolver-rules"}
#: a backquoted span of prose, perhaps broken over two lines: `csr --file FILE`
SPAN = re.compile(r"`([^`\n]+(?:\n[^`\n]+)?)`")


def _every_option() -> set[str]:
    """Every option any command or group takes."""
    found: set[str] = set()

    def walk(cmd: click.Command) -> None:
        params = cmd.get_params(click.Context(cmd))  # --help too
        found.update(o for p in params for o in (*p.opts, *p.secondary_opts))
        if isinstance(cmd, click.Group):
            for name in cmd.list_commands(click.Context(cmd)):
                sub = cmd.get_command(click.Context(cmd), name)
                assert sub is not None
                walk(sub)

    walk(cli)
    return found


def _spans(page: Path) -> list[tuple[str, str]]:
    """``(span, option)`` for every option a backquoted span of prose shows that its command
    (``csr --file FILE``, ``backup create --skip-damaged``) does not take, or, alone
    (``--skip-damaged``), that no command takes."""
    text = re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.S | re.M)
    every = _every_option()
    wrong = []
    for found in SPAN.finditer(text):
        words = found.group(1).split()
        if words[0] == "ccapki":
            words = words[1:]
        if not words:
            continue
        if words[0].startswith("--"):
            for option in words[0].split("=")[0].split("/"):  # `--tls-cert/--tls-key`
                if option not in every | OTHERS:
                    wrong.append((found.group(1), option))
            continue
        if cli.get_command(click.Context(cli), words[0]) is None:
            continue  # not a command (a file, a value, another program)
        _, opts = _options_of(words)
        for word in words:
            option = word.split("=")[0]
            if option.startswith("--") and option not in opts:
                wrong.append((found.group(1), option))
    return wrong


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_option_of_prose_exists(page: Path) -> None:
    """Walkthrough K: prose names options without ``ccapki`` before them (``csr --file
    FILE`` broken over two lines, ``unless --skip-damaged``); each must exist."""
    assert _spans(page) == []


def test_readme_names_every_global_option() -> None:
    """``ccapki --wait SECONDS ...`` (how long a writer waits for a busy store) was in no
    page but the CLI's own hints: each global option is named in README.md."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    names = {o for p in cli.params for o in p.opts if o.startswith("--")} - {"--version"}
    assert {"--home", "--deployment", "--debug", "--wait"} <= names
    assert sorted(o for o in names if not re.search(rf"`(ccapki )?{o}\b", text)) == []
