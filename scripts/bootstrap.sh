#!/usr/bin/env bash
# Installs what disconf needs on a Debian machine, then the Python package into .venv.
#   scripts/bootstrap.sh            ZooKeeper jars + Java + .venv   (enough for quickstart)
#   scripts/bootstrap.sh --test     also MariaDB (when nothing answers on 127.0.0.1:3306),
#                                   Chromium for the browser tests, and the dev tools
# Idempotent: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[[ "${1:-}" == "--test" ]] && want_test=1

as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }
apt_updated=0
apt_install() {
  if [[ $apt_updated -eq 0 ]]; then as_root apt-get update -qq; apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

missing=()
command -v java >/dev/null || missing+=(default-jre-headless)
[[ -f /usr/share/java/zookeeper.jar ]] || missing+=(zookeeper)
if [[ $want_test -eq 1 ]]; then
  command -v chromium >/dev/null || missing+=(chromium)
  command -v docker-compose >/dev/null || missing+=(docker-compose)
  command -v node >/dev/null || missing+=(nodejs)
  command -v npm >/dev/null || missing+=(npm)
  if ! port_open 3306; then
    command -v mariadbd >/dev/null || [[ -x /usr/sbin/mariadbd ]] || missing+=(mariadb-server)
  fi
  # Build dependencies of mysqlclient (the C MySQL driver, mysql+mysqldb://) in the dev extra.
  for package in default-libmysqlclient-dev pkg-config build-essential; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" \
      || missing+=("$package")
  done
fi
python3 -m venv --help >/dev/null 2>&1 || missing+=(python3-venv)
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "bootstrap: installing Debian packages: ${missing[*]}"
  apt_install "${missing[@]}"
fi

if [[ $want_test -eq 1 ]] && ! port_open 3306; then
  echo "bootstrap: starting MariaDB on 127.0.0.1:3306"
  as_root mkdir -p /run/mysqld && as_root chown mysql:mysql /run/mysqld 2>/dev/null || true
  as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- \
    --user=mysql --bind-address=127.0.0.1
  for _ in $(seq 1 60); do port_open 3306 && break; sleep 0.5; done
  port_open 3306 || { echo "bootstrap: MariaDB did not start" >&2; exit 1; }
  # A fresh Debian MariaDB lets root in only through the unix socket; the tests connect over
  # TCP as root with an empty password (DISCONF_TEST_MYSQL_URL overrides that).
  as_root mariadb -uroot -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket; FLUSH PRIVILEGES;" || true
fi

if [[ $want_test -eq 1 && ! -d tests/compat/node/node_modules/node-disconf-client ]]; then
  # The unmodified community Node.js Disconf client, for the cross-language compatibility test.
  echo "bootstrap: npm ci in tests/compat/node"
  (cd tests/compat/node && npm ci --no-audit --no-fund --loglevel=error)
fi

if [[ ! -x .venv/bin/python ]]; then
  python3 -m venv .venv
fi
stamp=.venv/.disconf-installed
extras=""
[[ $want_test -eq 1 ]] && extras="[dev]"
if [[ ! -f $stamp || pyproject.toml -nt $stamp || "$(cat $stamp)" != "$extras" ]]; then
  echo "bootstrap: installing disconf${extras} into .venv (log: .venv/pip.log)"
  if ! { .venv/bin/pip install --upgrade pip && .venv/bin/pip install -e ".${extras}"; } \
      > .venv/pip.log 2>&1; then
    tail -n 30 .venv/pip.log >&2
    echo "bootstrap: pip install failed (full log: .venv/pip.log)" >&2
    exit 1
  fi
  echo "$extras" > $stamp
fi
