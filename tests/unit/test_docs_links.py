"""Every link and file path the README and docs/ name exists, anchors included.

A reference architecture is read more than it is run: a link to a moved page or a
path to a renamed module misleads the reader silently, so this test fails instead.
"""

from __future__ import annotations

import fnmatch
import re
import subprocess
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted([ROOT / "README.md", ROOT / "CHANGELOG.md", *(ROOT / "docs").glob("*.md")])
# What the repository holds, from git: a file that exists only on this machine (a venv, a local
# bench result) must not satisfy a document that a fresh clone's reader follows.
TRACKED = frozenset(
    subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
)
FOLDERS = frozenset(str(parent) for name in TRACKED for parent in Path(name).parents if str(parent) != ".")
TOP_LEVEL = {name.split("/", 1)[0] for name in TRACKED}


def in_repository(name: str) -> bool:
    name = name.rstrip("/")
    if "*" in name:
        return any(fnmatch.fnmatch(tracked, name) for tracked in TRACKED)
    return name in TRACKED or name in FOLDERS


_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)|!\[[^\]]*\]\(([^)\s]+)\)")
_CODE_SPAN = re.compile(r"`([^`\n]+)`")
_FENCE = re.compile(r"^(```|~~~)")


def prose(path: Path) -> list[tuple[int, str]]:
    """The lines outside fenced code blocks, numbered."""
    lines, fenced = [], False
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if _FENCE.match(line.strip()):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, line))
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    seen: dict[str, int] = {}
    found = set()
    for _, line in prose(path):
        match = re.match(r"^#{1,6} (.+)$", line)
        if not match:
            continue
        base = slug(match.group(1))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return frozenset(found)


def links(path: Path) -> list[tuple[int, str]]:
    found = []
    for number, line in prose(path):
        for match in _LINK.finditer(line):
            target = match.group(1) or match.group(2)
            if not re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto: are not ours
                found.append((number, target))
    return found


def file_references(path: Path) -> list[tuple[int, str]]:
    """Code spans that name a file or folder of this repository, e.g. `cartracker/documents.py`."""
    found = []
    for number, line in prose(path):
        for match in _CODE_SPAN.finditer(line):
            text = match.group(1).strip()
            if " " in text or any(ch in text for ch in "{}<>$…|=\"'"):
                continue  # a command line, a template or a placeholder, not a path
            first = text.split("/", 1)[0]
            if ("/" in text and first in TOP_LEVEL) or (text in TOP_LEVEL and "." in text):
                found.append((number, text.split(":", 1)[0].rstrip(",.")))
    return found


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_leads_somewhere(doc: Path) -> None:
    broken = []
    for number, target in links(doc):
        name, _, anchor = target.partition("#")
        destination = doc if not name else (doc.parent / name).resolve()
        if not destination.exists() or not in_repository(str(destination.relative_to(ROOT))):
            broken.append(f"{doc.name}:{number}: {target} (no such file)")
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
            broken.append(f"{doc.name}:{number}: {target} (no such heading)")
    assert not broken, "\n".join(broken)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_file_a_document_names_exists(doc: Path) -> None:
    missing = [
        f"{doc.name}:{number}: {name}" for number, name in file_references(doc) if not in_repository(name)
    ]
    assert not missing, "\n".join(missing)


def test_the_checks_above_catch_a_broken_link_and_a_missing_file(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Title\n\nSee [x](nowhere.md), [y](#title), `cartracker/nothing_here.py`.\n")
    assert links(page) == [(3, "nowhere.md"), (3, "#title")]
    assert "title" in anchors(page)
    assert file_references(page) == [(3, "cartracker/nothing_here.py")]
    assert not (ROOT / "cartracker/nothing_here.py").exists()


def test_the_readme_stays_short() -> None:
    assert len((ROOT / "README.md").read_text().splitlines()) <= 250
