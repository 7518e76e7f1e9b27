"""Build the function app's deployment package: a zip of what Core Tools would publish.

The files are the repository's minus the patterns in .funcignore, the file Core Tools and azd read
too, so a release package carries exactly the code `func azure functionapp publish` or `azd deploy`
would. Dependencies are not bundled: the package is for a remote build on Flex Consumption
(`az functionapp deployment source config-zip --build-remote true`, see docs/deploy.md).

    python scripts/package_app.py dist/cartracker-app.zip
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import sys
import zipfile
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parents[1]
# Fixed entry times and modes make the same tree give the same zip, byte for byte.
ENTRY_TIME = (1980, 1, 1, 0, 0, 0)
ENTRY_MODE = 0o644 << 16


def ignore_patterns(root: Path) -> list[str]:
    lines = (root / ".funcignore").read_text(encoding="utf-8").splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    for pattern in patterns:
        # Only the gitignore forms .funcignore uses are understood; refuse the rest rather than guess.
        if pattern.startswith("!") or "/" in pattern.rstrip("/") or "**" in pattern:
            raise ValueError(f".funcignore pattern not supported by this packager: {pattern!r}")
    return patterns


def is_ignored(path: PurePosixPath, patterns: list[str], *, is_dir: bool) -> bool:
    """`name` matches a file or directory anywhere, `name/` a directory anywhere; globs allowed."""
    for pattern in patterns:
        directory_only = pattern.endswith("/")
        if directory_only and not is_dir:
            continue
        if fnmatch.fnmatchcase(path.name, pattern.rstrip("/")):
            return True
    return False


def package_files(root: Path) -> list[PurePosixPath]:
    patterns = ignore_patterns(root)
    found: list[PurePosixPath] = []
    for directory, subdirectories, files in os.walk(root):
        here = PurePosixPath(Path(directory).relative_to(root).as_posix())
        subdirectories[:] = sorted(
            d for d in subdirectories if not is_ignored(here / d, patterns, is_dir=True)
        )
        found.extend(here / f for f in sorted(files) if not is_ignored(here / f, patterns, is_dir=False))
    return sorted(found)


def build(root: Path, output: Path) -> list[PurePosixPath]:
    files = package_files(root)
    output.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for relative in files:
            entry = zipfile.ZipInfo(relative.as_posix(), date_time=ENTRY_TIME)
            entry.external_attr = ENTRY_MODE
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, (root / relative).read_bytes())
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path, help="the zip to write, e.g. dist/cartracker-app.zip")
    args = parser.parse_args(argv)
    files = build(ROOT, args.output)
    print(f"{args.output}: {len(files)} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
