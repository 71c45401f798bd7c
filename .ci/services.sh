# Sourced by .ci/test and .ci/run: makes sure the C libraries the test build links and both
# database servers are there and running, creates their `test` databases, and exports
# PG_DATABASE_URL and MYSQL_DATABASE_URL. Installs through apt only what is missing, so it is
# safe on a fresh Debian machine and on a developer's machine alike.

log() { printf '\n==> %s\n' "$*"; }
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# ---------------------------------------------------------------------------- packages
# The test build links libpq (PostgreSQL) and libmysqlclient/libmariadb (MySQL): their -dev
# packages give the linker the unversioned library and pkg-config the flags.
if command -v dpkg-query >/dev/null; then
  missing=()
  for pkg in pkg-config libpq-dev default-libmysqlclient-dev; do
    have_pkg "$pkg" || missing+=("$pkg")
  done
  command -v pg_ctlcluster >/dev/null || missing+=(postgresql)
  [ -x /usr/sbin/mariadbd ] || command -v mysqld >/dev/null || missing+=(mariadb-server)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    as_root apt-get update -qq
    # Packages must not try to start services through systemd here; we start them below.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
      as_root chmod +x /usr/sbin/policy-rc.d
      trap 'as_root rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
elif ! pkg-config --exists libpq || ! { pkg-config --exists mysqlclient || pkg-config --exists libmariadb; }; then
  echo "The test build needs libpq and libmysqlclient (or libmariadb) with pkg-config;" >&2
  echo "install them with your package manager (Debian: libpq-dev default-libmysqlclient-dev)." >&2
  exit 1
fi

# ---------------------------------------------------------------------------- PostgreSQL
export PG_DATABASE_URL="${PG_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
pg_ready() { psql "postgres://postgres@127.0.0.1:5432/postgres" -Atqc 'SELECT 1' >/dev/null 2>&1; }
if ! pg_ready; then
  log "starting PostgreSQL"
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  hba="/etc/postgresql/$version/main/pg_hba.conf"
  # A fresh cluster asks for passwords over TCP; the test server trusts loopback.
  if ! as_root grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
    as_root sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
  fi
  # Start it, or, if it was running but refusing loopback connections, reload the new rule.
  if as_root pg_ctlcluster --skip-systemctl-redirect "$version" main status >/dev/null 2>&1; then
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main reload
  else
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
  fi
  for _ in $(seq 60); do pg_ready && break; sleep 0.5; done
  pg_ready || { echo "PostgreSQL did not come up" >&2; exit 1; }
fi
if ! psql "postgres://postgres@127.0.0.1:5432/postgres" -Atqc "SELECT 1 FROM pg_database WHERE datname = 'test'" | grep -q 1; then
  psql "postgres://postgres@127.0.0.1:5432/postgres" -qc 'CREATE DATABASE test'
fi

# ---------------------------------------------------------------------------- MariaDB
export MYSQL_DATABASE_URL="${MYSQL_DATABASE_URL:-mysql://root@127.0.0.1:3306/test}"
my_ready() { mariadb -uroot -h127.0.0.1 -P3306 -e 'SELECT 1' >/dev/null 2>&1; }
if ! my_ready; then
  log "starting MariaDB"
  as_root mkdir -p /run/mysqld
  as_root chown mysql:mysql /run/mysqld
  # mariadbd refuses to run as root without --user.
  as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
  for _ in $(seq 60); do
    my_ready && break
    # A fresh install lets root in through the socket only; open loopback with no password.
    as_root mariadb -uroot -e "ALTER USER root@localhost IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket;
      CREATE USER IF NOT EXISTS root@'127.0.0.1' IDENTIFIED BY '';
      GRANT ALL PRIVILEGES ON *.* TO root@'127.0.0.1' WITH GRANT OPTION" >/dev/null 2>&1 || true
    sleep 0.5
  done
  my_ready || { echo "MariaDB did not come up" >&2; exit 1; }
fi
mariadb -uroot -h127.0.0.1 -P3306 -e 'CREATE DATABASE IF NOT EXISTS test'
