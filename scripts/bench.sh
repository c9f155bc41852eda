#!/usr/bin/env bash
# Runs the benchmarks (issues 6, 13, 14) and writes docs/benchmarks.md (numbers, the targets,
# two SVG charts next to it, the analysis from bench/NOTES.md) and docs/benchmarks.json.
#   scripts/bench.sh                 full size (push N=1/10/100 x 200 publishes, 1,000-session
#                                    fan-out, reads on SQLite and on MySQL through PyMySQL and
#                                    mysqlclient, 10,000-instance storm, publish throughput, slow
#                                    clients); ~12 minutes on 2 cores
#   scripts/bench.sh --size tiny     a quick smoke run (what CI's test runs)
#   scripts/bench.sh --steps slow_clients   one step (reads while 500 slow + 500 mute
#                                    connections are held), merged into docs/benchmarks.json
#   BENCH_MYSQL_URL=mysql+pymysql://root@127.0.0.1:3306/disconf_bench  (default: that URL when
#                                    MariaDB answers on 127.0.0.1:3306; the database is recreated)
# Extra arguments go to `python -m bench.run` (--out FILE).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null; then
  echo "bench: installing wrk (Debian package)"
  if [[ $(id -u) -eq 0 ]]; then apt-get install -y -qq wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; } || true
  else sudo apt-get install -y -qq wrk >/dev/null || true; fi
  command -v wrk >/dev/null || echo "bench: wrk unavailable, using the Python load generator"
fi

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if [[ -z "${BENCH_MYSQL_URL:-}" ]] && port_open 3306; then
  .venv/bin/python - <<'PY'
import pymysql
connection = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="")
with connection.cursor() as cursor:
    cursor.execute("DROP DATABASE IF EXISTS disconf_bench")
    cursor.execute("CREATE DATABASE disconf_bench CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
connection.close()
PY
  export BENCH_MYSQL_URL="mysql+pymysql://root@127.0.0.1:3306/disconf_bench?charset=utf8mb4"
fi
exec .venv/bin/python -m bench.run "$@"
