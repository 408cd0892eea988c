"""The compiled methods of dataclasses kept between runs (ccapki/_classcache.py; issue 9).

Each test runs real Python processes with their own ``PYTHONPYCACHEPREFIX``, as a user's
commands run: the first makes the classes and writes the table, the next ones make them from
it. A class made from the table must be the class ``dataclasses`` makes, and nothing about
the table (missing, damaged, foreign, unwritable, bytecode turned off) may ever be an error.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# a module of dataclasses of every kind the decorator writes code for, and a report of what
# the process compiled and what the classes do
SCRIPT = r"""
import dataclasses, json, sys
from ccapki import _classcache
import ccapki.api  # (which installs it too) makes ccapki's classes

sys.path.insert(0, sys.argv[1])
import shapes

table = _classcache._table
p = shapes.Point(1, 2)
s = shapes.Sorted(b=2, a=1)
bag = shapes.Bag()
bag.items.append(3)
try:
    p.x = 5
    frozen = False
except dataclasses.FrozenInstanceError:
    frozen = True
print(json.dumps({
    "compiled": sorted(table.changed),
    "from_table": sorted(n for n, t in table.used.items() if t),
    "installed": dataclasses.exec == table.exec,
    "repr": [repr(p), repr(s), repr(bag)],
    "eq": [p == shapes.Point(1, 2), p != shapes.Point(2, 1), s < shapes.Sorted(b=1, a=2)],
    "hash": hash(p) == hash(shapes.Point(1, 2)),
    "frozen": frozen,
    "defaults": [shapes.Bag().items, shapes.Point(1).y, shapes.Slotted(4).__slots__],
    "kw_only": shapes.Keyed(a=1, b=2).b,
    "init_false": shapes.Derived(3).twice,
}))
"""

SHAPES = """
from __future__ import annotations
from dataclasses import dataclass, field

@dataclass(frozen=True)
class Point:
    x: int
    y: int = 0

@dataclass(order=True)
class Sorted:
    a: int
    b: int

@dataclass
class Bag:
    items: list[int] = field(default_factory=list)

@dataclass(frozen=True, slots=True)
class Slotted:
    v: int

@dataclass(kw_only=True)
class Keyed:
    a: int
    b: int = 7

@dataclass
class Derived:
    base: int
    twice: int = field(init=False)

    def __post_init__(self) -> None:
        self.twice = 2 * self.base
"""

EXPECTED = {
    "installed": True,
    "repr": ["Point(x=1, y=2)", "Sorted(a=1, b=2)", "Bag(items=[3])"],
    "eq": [True, True, True],
    "hash": True,
    "frozen": True,
    "defaults": [[], 0, ["v"]],
    "kw_only": 2,
    "init_false": 6,
}


def run(tmp_path: Path, *, env: dict[str, str] | None = None) -> dict[str, object]:
    folder = tmp_path / "mods"
    folder.mkdir(exist_ok=True)
    (folder / "shapes.py").write_text(SHAPES)
    environ = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    environ["PYTHONPYCACHEPREFIX"] = str(tmp_path / "pycache")
    environ.update(env or {})
    r = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(folder)],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    report: dict[str, object] = json.loads(r.stdout)
    for key, value in EXPECTED.items():  # the classes are the classes dataclasses makes
        assert report[key] == value, key
    return report


def table_file(tmp_path: Path) -> Path:
    (found,) = (tmp_path / "pycache").rglob("dataclasses.*.code")
    return found


def test_a_second_run_makes_every_class_from_the_table(tmp_path: Path) -> None:
    first = run(tmp_path)
    # the first run compiled the texts of ccapki's classes and of the script's module
    assert "shapes" in first["compiled"]  # type: ignore[operator]
    assert any(str(m).startswith("ccapki.") for m in first["compiled"])  # type: ignore[union-attr]
    path = table_file(tmp_path)
    # beside ccapki's own bytecode, readable as the .pyc files are, not executable
    assert path.parent.name == "ccapki"
    assert path.stat().st_mode & 0o777 == 0o644
    written = path.stat().st_mtime_ns

    second = run(tmp_path)
    assert second["compiled"] == []  # nothing compiled, nothing written
    assert "shapes" in second["from_table"]  # type: ignore[operator]
    assert path.stat().st_mtime_ns == written
    assert not list(path.parent.glob("*.tmp"))


@pytest.mark.parametrize(
    "damage",
    [
        b"",
        b"not a table at all",
        b"\x00" * 64,
        "cut",  # the file's first half
        "foreign",  # a table of another interpreter's bytecode (another magic number)
        "bad blob",  # a good header and outer table, one module's blob garbage
    ],
)
def test_a_damaged_or_foreign_table_is_compiled_around_and_replaced(
    tmp_path: Path, damage: bytes | str
) -> None:
    run(tmp_path)
    path = table_file(tmp_path)
    good = path.read_bytes()
    if damage == "cut":
        path.write_bytes(good[: len(good) // 2])
    elif damage == "foreign":
        path.write_bytes(b"\x00\x00\r\n" + good[4:])
    elif damage == "bad blob":
        import marshal

        from ccapki import _classcache

        head = _classcache._header()
        blobs = marshal.loads(good[len(head) :])
        blobs["shapes"] = b"\xff garbage"
        path.write_bytes(head + marshal.dumps(blobs))
    else:
        assert isinstance(damage, bytes)
        path.write_bytes(damage)

    again = run(tmp_path)
    assert "shapes" in again["compiled"]  # type: ignore[operator]
    after = run(tmp_path)  # the table was written whole again
    assert after["compiled"] == []


def test_no_table_is_written_when_python_writes_no_bytecode(tmp_path: Path) -> None:
    report = run(tmp_path, env={"PYTHONDONTWRITEBYTECODE": "1"})
    assert "shapes" in report["compiled"]  # type: ignore[operator]
    assert not list((tmp_path / "pycache").rglob("dataclasses.*.code"))


def test_a_table_path_that_is_a_folder_is_no_error(tmp_path: Path) -> None:
    run(tmp_path)
    path = table_file(tmp_path)
    path.unlink()
    path.mkdir()  # neither readable as a file nor replaceable (not even by root)
    report = run(tmp_path)
    assert "shapes" in report["compiled"]  # type: ignore[operator]
    assert path.is_dir()
    assert not list(path.parent.glob("*.tmp"))


def test_a_cache_path_that_is_a_file_is_no_error(tmp_path: Path) -> None:
    # (root too cannot make a folder where a file is)
    (tmp_path / "pycache").write_text("a file, not a folder")
    report = run(tmp_path)
    assert "shapes" in report["compiled"]  # type: ignore[operator]
    assert (tmp_path / "pycache").read_text() == "a file, not a folder"


def test_the_code_made_from_a_text_is_the_code_compiling_it_gives(tmp_path: Path) -> None:
    import marshal

    from ccapki import _classcache

    run(tmp_path)
    data = table_file(tmp_path).read_bytes()
    head = _classcache._header()
    assert data.startswith(head)
    blobs = marshal.loads(data[len(head) :])
    texts = 0
    for blob in blobs.values():
        for text, code in marshal.loads(blob).items():
            assert code == compile(text, "<string>", "exec")
            texts += 1
    assert texts > 100  # ccapki's classes (the API makes ~100: ~6 texts each)
