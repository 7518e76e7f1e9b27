#!/usr/bin/env bash
# Prints the path of a working python<VERSION> (e.g. 3.13), or nothing and exit 1.
# Looks on PATH first; a pyenv shim that answers "command not found" does not count, so it then
# asks pyenv for the newest installed <VERSION>.x.
set -uo pipefail
version="${1:?usage: find-python.sh 3.13}"
name="python${version}"

if command -v "$name" >/dev/null 2>&1 && "$name" -c 'import sys' >/dev/null 2>&1; then
  command -v "$name"
  exit 0
fi
if command -v pyenv >/dev/null 2>&1; then
  installed=$(pyenv versions --bare 2>/dev/null | grep -E "^${version//./\\.}\.[0-9]+$" | sort -V | tail -n 1)
  if [[ -n "$installed" ]]; then
    path=$(PYENV_VERSION="$installed" pyenv which "$name" 2>/dev/null) && [[ -x "$path" ]] && {
      echo "$path"
      exit 0
    }
  fi
fi
exit 1
