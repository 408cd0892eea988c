"""Every ``ccapki`` command line a new administrator copies parses as written: the ```sh
blocks of README.md and docs/*.md, the EXAMPLES of every ``--help``, and the container and
systemd files in contrib/ (their entry point's words first). Parsed by click itself, as the
command would be, without running it: an unknown command or option, a missing argument or
extra words are a failure; a value the parser refuses (``...``, a file not on this machine)
is a placeholder and passes. tests/test_docs_options.py checks the options of prose too.

Walkthrough F: ``ccapki deployments --help`` showed ``ccapki --deployment hospital
inspect`` (no TARGET: exit 2), and contrib/Containerfile ``podman run ... ccapki init``,
whose ``init`` the entry point hands to ``ccapki watch`` as an extra argument (exit 2).
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from ccapki.cli.app import cli
from kit.cli import REPO

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
CONTAINERFILE = REPO / "contrib" / "Containerfile"
UNIT = REPO / "contrib" / "ccapki-watch.service"
#: shell words that end one command and start another
SEPARATORS = {"&&", "||", "|", ";", "(", ")", "$(", ">", ">>", "<", "&"}
ASSIGNMENT = re.compile(r"^[A-Z_][A-Z0-9_]*=")
#: podman/docker run options that take a value
PODMAN_VALUED = {"-v", "--volume", "-e", "--env", "-p", "--publish", "--name", "--entrypoint"}


def _commands(line: str) -> Iterator[list[str]]:
    """The ``ccapki`` invocations of one shell line: the words after ``ccapki``."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    words: list[str] = []
    for word in [*lexer, ";"]:
        if word not in SEPARATORS and not set(word) <= set("&|;()<>$"):
            words.append(word)
            continue
        while words and ASSIGNMENT.match(words[0]):
            words.pop(0)
        if words and words[0] == "ccapki":
            yield words[1:]
        words = []


def _shell_lines(text: str) -> Iterator[str]:
    """Each logical line (continuations joined) of ``text``'s ```sh blocks."""
    for block in re.findall(r"^```sh\n(.*?)^```", text, re.S | re.M):
        yield from re.sub(r"\s*\\\n\s*", " ", block).splitlines()


def _help_examples() -> Iterator[tuple[str, str]]:
    """``(command, line)`` for every line of every command's EXAMPLES (its description,
    after two spaces, left out)."""

    def walk(cmd: click.Command, path: list[str]) -> Iterator[tuple[list[str], click.Command]]:
        yield path, cmd
        if isinstance(cmd, click.Group):
            for name in cmd.list_commands(click.Context(cmd)):
                sub = cmd.get_command(click.Context(cmd), name)
                assert sub is not None
                yield from walk(sub, [*path, name])

    for path, cmd in walk(cli, []):
        found = re.search(r"EXAMPLES\n(.*?)(?:\n\s*\n|\Z)", cmd.epilog or "", re.S)
        if not found:
            continue
        text = re.sub(r"\s*\\\n\s*", " ", found.group(1))
        for line in text.splitlines():
            yield " ".join(["ccapki", *path]), re.split(r"\s{2,}", line.strip())[0]


def _container_lines() -> Iterator[str]:
    """The ``podman run`` lines of contrib/Containerfile's comments, as the ``ccapki``
    command each runs: the entry point's words, or ``--entrypoint``'s, then the image's
    arguments."""
    text = CONTAINERFILE.read_text(encoding="utf-8")
    entry = re.search(r"^ENTRYPOINT (\[.*\])$", text, re.M)
    assert entry
    entrypoint: list[str] = json.loads(entry.group(1))  # the exec form: a JSON array
    comments = "\n".join(re.sub(r"^#\s?", "", ln) for ln in text.splitlines() if ln[:1] == "#")
    for line in re.sub(r"\s*\\\n\s*", " ", comments).splitlines():
        if "podman run" not in line:
            continue
        words = shlex.split(line[line.index("podman run") :])[2:]
        program = list(entrypoint)
        while words and words[0].startswith("-"):
            option = words.pop(0)
            if option in PODMAN_VALUED:
                value = words.pop(0)
                if option == "--entrypoint":
                    program = [value]
        image_args = words[1:]
        yield shlex.join([*program, *image_args])


def _usage_error(argv: list[str]) -> str | None:
    """What click says of ``ccapki ARGV`` when it cannot take it as written (None: it can)."""
    try:
        ctx = cli.make_context("ccapki", list(argv))
        cmd: click.Command = cli
        while isinstance(cmd, click.Group):
            rest = [*getattr(ctx, "_protected_args", []), *ctx.args]
            if not rest:
                break
            name, sub, args = cmd.resolve_command(ctx, rest)
            assert sub is not None
            assert name is not None
            ctx = sub.make_context(name, args, parent=ctx)
            cmd = sub
    except click.MissingParameter as exc:
        return exc.format_message()
    except click.BadParameter:
        return None  # a placeholder value: `--password ...`, a file of the reader's own
    except click.UsageError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":
            return None  # a group alone prints its help
        return exc.format_message()
    return None


def _wrong(lines: Iterator[tuple[str, str]]) -> list[tuple[str, str, str]]:
    wrong = []
    for where, line in lines:
        for argv in _commands(line):
            said = _usage_error(argv)
            if said is not None:
                wrong.append((where, line, said))
    return wrong


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_command_a_page_shows_parses(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    lines = [(page.name, line) for line in _shell_lines(text)]
    assert lines or "```sh" not in text
    assert _wrong(iter(lines)) == []


def test_every_help_example_parses() -> None:
    examples = list(_help_examples())
    assert len(examples) > 100  # every command has some
    assert _wrong(iter(examples)) == []


def test_the_container_and_the_unit_run_commands_that_parse() -> None:
    lines = [("Containerfile", line) for line in _container_lines()]
    assert len(lines) >= 2  # the watcher, then init (and apply) before it
    exec_start = re.search(r"^ExecStart=(\S*/)?(ccapki .*)$", UNIT.read_text(), re.M)
    assert exec_start
    lines.append(("ccapki-watch.service", exec_start.group(2)))
    assert _wrong(iter(lines)) == []


@pytest.mark.parametrize(("lang", "path"), [("ini", UNIT), ("dockerfile", CONTAINERFILE)])
def test_the_readme_quotes_the_contrib_files(lang: str, path: Path) -> None:
    """README.md's ```ini and ```dockerfile blocks are lines of the files in contrib/."""
    lines = {ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()}
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(rf"^```{lang}\n(.*?)^```", readme, re.S | re.M)
    assert blocks
    quoted = [re.sub(r"\s+#.*", "", ln).strip() for b in blocks for ln in b.splitlines()]
    assert [ln for ln in quoted if ln and ln not in lines] == []


def test_the_readme_names_every_command_that_refuses_the_what_if_clock() -> None:
    """README.md lists the commands that refuse ``CCAPKI_NOW`` (they write): it named 9
    where 20 refuse it (``backup``, ``ca``, ``acme``, ``users``, ``upgrade``, ``serve``...:
    walkthrough U). Each ``env.refuse_what_if("GROUP SUB")`` of the CLI is in that list:
    ``GROUP`` backquoted, and ``SUB`` beside it (``trust add/remove/apply``) unless the
    group is named whole (``users`` (all but ...))."""
    readme = " ".join((REPO / "README.md").read_text(encoding="utf-8").split())
    found = re.search(r"Commands that write \((.*?)\) refuse to run under it", readme)
    assert found, "README.md no longer says which commands refuse CCAPKI_NOW"
    listed = found.group(1)
    src = REPO / "src" / "ccapki" / "cli"
    refusing = {
        m
        for path in src.glob("*.py")
        for m in re.findall(r'refuse_what_if\("([^"]+)"\)', path.read_text(encoding="utf-8"))
    }
    assert len(refusing) >= 20
    missing = []
    for command in sorted(refusing):
        group, _, sub = command.partition(" ")
        spans = re.findall(rf"`{re.escape(group)}(?: ([^`]*))?`", listed)
        whole = any(s == "" for s in spans)
        if not spans or (sub and not whole and not any(sub in s.split("/") for s in spans)):
            missing.append(command)
    assert missing == [], f"README.md's CCAPKI_NOW list lacks {missing}"


def test_the_docs_name_every_status_stage() -> None:
    """A status stage added (``not-yet-valid``, ``missing-san``) was left out of
    docs/api.md's ``estate_status`` row and of docs/service.md's ``?stage=`` classes
    (walkthrough U): each page names every one."""
    from ccapki.lifecycle.status import EARLY_STAGE, UNFIT_STAGE
    from ccapki.lifecycle.status_pages import CLASSES

    stages = {"ok", "expired", "pending", "missing", "damaged", "rollover", EARLY_STAGE}
    stages.add(UNFIT_STAGE)
    api = (REPO / "docs" / "api.md").read_text(encoding="utf-8")
    (row,) = [ln for ln in api.splitlines() if ln.startswith("| `estate_status(")]
    assert sorted(s for s in stages if f'"{s}"' not in row) == []
    service = " ".join((REPO / "docs" / "service.md").read_text(encoding="utf-8").split())
    found = re.search(r"`stage` keeps the items in any of the classes it names(.*?)\. ", service)
    assert found
    assert (
        sorted(c for c in {*CLASSES, *stages} - {"pending"} if f"`{c}`" not in found.group(1)) == []
    )
