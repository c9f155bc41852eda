#!/usr/bin/env bash
# The whole test suite: installs what is missing, then lint, format check, types and pytest
# against a real ZooKeeper and a real MariaDB/MySQL. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh --test
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy --strict disconf_core disconf_client disconf_web
set +e
.venv/bin/pytest "$@"
status=$?
set -e
if [[ $status -eq 5 ]]; then
  echo "test.sh: pytest collected no tests: that is a failure" >&2
  exit 1
fi
exit $status
