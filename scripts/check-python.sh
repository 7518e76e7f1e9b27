#!/usr/bin/env bash
# Says in one line (on stdout) what to do when PYTHON cannot make CarTracker's venv; prints nothing
# when it can. The Makefile calls it before it creates a venv, so that an unsupported Python ends
# in this line rather than in pages of pip errors.
# Usage: check-python.sh PYTHON GOALS [VENV]
#   PYTHON  the interpreter the Makefile would use, e.g. python3
#   GOALS   the make goals being run, for the command the line suggests (may be empty)
#   VENV    the venv's directory; once it exists, its own interpreter is what counts
set -uo pipefail
python="${1:?usage: check-python.sh PYTHON GOALS [VENV]}"
goal="${2:-}"
venv="${3:-}"
make_cmd="make${goal:+ $goal}"
supported="3.11-3.13"
here="$(dirname "$0")"

# A supported interpreter to suggest, newest first: its name when it is on PATH, else its path.
suggestion() {
  local minor found
  for minor in 13 12 11; do
    if found=$(bash "$here/find-python.sh" "3.$minor"); then
      if [[ "$(command -v "python3.$minor" 2>/dev/null)" == "$found" ]]; then
        found="python3.$minor"
      fi
      echo "$make_cmd PYTHON=$found"
      return
    fi
  done
  echo "install Python $supported (python.org, or your package manager), then $make_cmd PYTHON=python3.13"
}

version_of() {
  "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null
}

is_supported() {
  [[ "$1" =~ ^3\.(11|12|13)$ ]]
}

if [[ -n "$venv" && -x "$venv/bin/python" ]]; then
  version=$(version_of "$venv/bin/python")
  if ! is_supported "$version"; then
    echo "$venv was made with Python ${version:-that no longer runs}; CarTracker needs $supported: delete it (rm -rf $venv), then run $(suggestion)"
  fi
  exit 0
fi

if ! command -v "$python" >/dev/null 2>&1; then
  echo "$python not found; CarTracker needs Python $supported: run $(suggestion)"
  exit 0
fi
version=$(version_of "$python")
if [[ -z "$version" ]]; then
  echo "$python does not run (a pyenv shim without that version?); CarTracker needs Python $supported: run $(suggestion)"
elif ! is_supported "$version"; then
  echo "Python $version found ($python); CarTracker needs $supported: run $(suggestion)"
elif ! "$python" -c 'import ensurepip, venv' >/dev/null 2>&1; then
  echo "Python $version ($python) cannot make a venv: install its venv module (Debian/Ubuntu: apt install python$version-venv), or run $(suggestion)"
fi
exit 0
