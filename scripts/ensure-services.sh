#!/usr/bin/env bash
# Makes sure the servers the integration tests use are installed and running on this machine:
# PostgreSQL (127.0.0.1:5432, trust auth for local TCP, database "test"), Mosquitto
# (127.0.0.1:1883) and Redis (127.0.0.1:6379, no persistence). Installs missing Debian packages
# when run as root. Idempotent.
set -euo pipefail

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() {  # port, name
  for _ in $(seq 1 60); do
    if listening "$1"; then return 0; fi
    sleep 0.5
  done
  echo "ensure-services: $2 did not start listening on port $1" >&2
  return 1
}

missing=()
command -v pg_ctlcluster >/dev/null 2>&1 || missing+=(postgresql postgresql-client)
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "ensure-services: missing ${missing[*]}; install them (as root: apt-get install ${missing[*]})" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! listening 5432; then
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  hba="/etc/postgresql/$version/main/pg_hba.conf"
  if ! grep -qE '^host\s+all\s+all\s+127\.0\.0\.1/32\s+trust' "$hba"; then
    sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  fi
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
  wait_for 5432 PostgreSQL
fi
if ! psql -h 127.0.0.1 -U postgres -tAc "select 1 from pg_database where datname = 'test'" | grep -q 1; then
  psql -h 127.0.0.1 -U postgres -c "create database test" >/dev/null
fi

if ! listening 1883; then
  mosquitto_bin=$(command -v mosquitto || echo /usr/sbin/mosquitto)
  "$mosquitto_bin" -d -c /etc/mosquitto/mosquitto.conf
  wait_for 1883 Mosquitto
fi
if ! listening 6379; then
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_for 6379 Redis
fi

# The status page is tested in a real headless browser (Debian's chromium, driven by Playwright
# with executable_path; Playwright never downloads a browser) and `weirflow graph` draws SVG/PNG
# with Graphviz's dot.
tools=()
command -v chromium >/dev/null 2>&1 || tools+=(chromium)
command -v dot >/dev/null 2>&1 || tools+=(graphviz)
if [ ${#tools[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "ensure-services: missing ${tools[*]}; install them (as root: apt-get install ${tools[*]})" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${tools[@]}" >/dev/null
fi

echo "ensure-services: PostgreSQL, Mosquitto and Redis are up; chromium and graphviz are installed"
