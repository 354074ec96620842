#!/usr/bin/env bash
# One entry point for a fresh checkout: creates .venv and installs regwatch on first use.
#   ./dev.sh demo [--out DIR]   the embedded default: bundled recorded sources, SQLite
#   ./dev.sh test [PYTEST ARGS] the whole test suite: on two workers (pytest-xdist), then the
#                               timing-sensitive tests (marker "alone") by themselves; with
#                               arguments, plain pytest with them
#   ./dev.sh lint               ruff
set -euo pipefail
cd "$(dirname "$0")"

ensure_venv() {
  if [ ! -x .venv/bin/regwatch ] || [ pyproject.toml -nt .venv/.regwatch-installed ]; then
    python3 -m venv .venv
    .venv/bin/pip install -q --upgrade pip
    .venv/bin/pip install -q -e '.[test]'
    touch .venv/.regwatch-installed
  fi
}

cmd="${1:-}"
[ $# -gt 0 ] && shift
case "$cmd" in
  demo) ensure_venv; exec .venv/bin/regwatch demo "$@" ;;
  test)
    ensure_venv
    if [ $# -gt 0 ]; then exec .venv/bin/pytest "$@"; fi
    .venv/bin/pytest -n 2 -m "not alone"
    exec .venv/bin/pytest -m alone ;;
  lint) ensure_venv; exec .venv/bin/ruff check src scrapers migrations tests bench ;;
  *) echo "usage: ./dev.sh demo [--out DIR] | ./dev.sh test [pytest args] | ./dev.sh lint" >&2; exit 2 ;;
esac
