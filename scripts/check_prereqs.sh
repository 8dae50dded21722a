#!/usr/bin/env bash
# Fail fast, with a message a newcomer can act on, when the machine lacks what `make` needs.
set -u
PYTHON=${PYTHON:-python3}
MIN_FREE_GB=${MIN_FREE_GB:-4}
fail() { echo "gato_ros: $*" >&2; exit 1; }

command -v "$PYTHON" >/dev/null 2>&1 \
  || fail "no '$PYTHON' found: install Python 3.10 or newer (or run make PYTHON=/path/to/python3)."
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
  || fail "$("$PYTHON" --version 2>&1) is too old: gato_ros needs Python 3.10 or newer."
"$PYTHON" -c 'import venv, ensurepip' 2>/dev/null \
  || fail "'$PYTHON -m venv' is unavailable: install the python3-venv package."
for tool in cc c++ cmake make; do
  command -v "$tool" >/dev/null 2>&1 \
    || fail "no '$tool' found: message generation needs a C/C++ compiler and CMake (apt-get install build-essential cmake)."
done
free_kb=$(df -Pk . | awk 'NR==2 {print $4}')
[ "${free_kb:-0}" -ge $((MIN_FREE_GB * 1024 * 1024)) ] \
  || fail "only $((free_kb / 1024)) MiB free here: the environment needs about ${MIN_FREE_GB} GiB."
exit 0
