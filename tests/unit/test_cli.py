"""`python -m cartracker`: each command says what it does; a bad `--db` is one line: the path, the fix."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from cartracker.__main__ import main
from cartracker.db_path import SQLITE_HEADER
from cartracker.localhost import server
from cartracker.settings import SETTING_SQLITE_PATH, SETTING_STORE

COMMANDS = {
    "serve": ["serve", "--port", "0"],
    "demo": ["demo"],
    "rebuild": ["rebuild", "car-list"],
}


def a_directory(tmp: Path) -> Path:
    return tmp


def a_path_through_a_file(tmp: Path) -> Path:
    (tmp / "notes").write_text("not a directory\n")
    return tmp / "notes" / "cartracker.sqlite3"


def a_file_that_is_not_a_database(tmp: Path) -> Path:
    path = tmp / "cartracker.sqlite3"
    path.write_text("make,model,owner\nSaab,900,Eve\n")
    return path


def a_damaged_database(tmp: Path) -> Path:
    path = tmp / "cartracker.sqlite3"
    path.write_bytes(SQLITE_HEADER + b"\xff" * 4080)
    return path


def a_missing_database_with_its_log_left(tmp: Path) -> Path:
    path = tmp / "cartracker.sqlite3"
    Path(f"{path}-wal").write_bytes(b"\x37\x7f\x06\x82" + b"\0" * 28)
    return path


BAD_PATHS: list[tuple[Callable[[Path], Path], str]] = [
    (a_directory, r"is a directory: pass --db a file in it, e\.g\. --db \S+cartracker\.sqlite3$"),
    (a_path_through_a_file, r"notes is a file, not a directory: pass --db a path under a directory$"),
    (a_file_that_is_not_a_database, r"is not a SQLite database: pass --db another file"),
    (a_damaged_database, r"cannot open \S+: .*(damaged|not a database).*: pass --db another file$"),
    (
        a_missing_database_with_its_log_left,
        r"is missing but its write-ahead log cartracker\.sqlite3-wal is still there .*: put the database "
        r"back .*, or delete cartracker\.sqlite3-wal and cartracker\.sqlite3-shm to start empty$",
    ),
]


@pytest.fixture(autouse=True)
def no_server_and_no_lasting_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """`serve` must fail before it listens; and the settings it exports are undone after each test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("serve started listening on a path it should have refused")

    monkeypatch.setattr(server, "serve", refuse)
    monkeypatch.delenv(SETTING_STORE, raising=False)
    monkeypatch.delenv(SETTING_SQLITE_PATH, raising=False)


def one_line_error(capsys: pytest.CaptureFixture[str], command: str) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "cartracker" in line and "error" in line]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    prefix = f"python -m cartracker {command}: error: "
    assert lines[0].startswith(prefix), lines[0]
    return lines[0].removeprefix(prefix)


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(("make_path", "says"), BAD_PATHS, ids=[make.__name__ for make, _ in BAD_PATHS])
def test_a_db_path_the_store_cannot_use_is_one_line_naming_it_and_the_fix(
    command: str,
    make_path: Callable[[Path], Path],
    says: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = make_path(tmp_path)
    if command == "rebuild" and make_path is a_path_through_a_file:
        says = r"^no database at \S+: pass --db the file `serve` and `demo` use$"  # it never creates one
    before = sorted(tmp_path.rglob("*"))
    assert main([*COMMANDS[command], "--db", str(path)]) == 2
    line = one_line_error(capsys, command)
    assert str(path) in line or str(path.parent) in line
    assert re.search(says, line), line
    assert sorted(tmp_path.rglob("*")) == before  # nothing created beside it


def test_rebuild_of_a_database_that_does_not_exist_is_refused_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "nothing.sqlite3"
    assert main(["rebuild", "car-list", "--db", str(path)]) == 2
    assert one_line_error(capsys, "rebuild") == (
        f"no database at {path}: pass --db the file `serve` and `demo` use"
    )
    assert not path.exists()


@pytest.mark.parametrize(
    "command", [[], ["serve"], ["demo"], ["rebuild"]], ids=lambda c: c[0] if c else "top"
)
def test_every_help_says_what_the_command_does(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--help"])
    assert exit_.value.code == 0
    usage, description, *rest = capsys.readouterr().out.split("\n\n")
    assert usage.startswith("usage: python -m cartracker")
    assert not description.startswith(("options:", "positional arguments:")), description
    assert len(description.split()) >= 12, description  # a sentence or two, not a label
    assert rest
