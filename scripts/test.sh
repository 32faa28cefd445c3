#!/usr/bin/env bash
# The whole suite: lint, types, then pytest on SQLite and PostgreSQL with browser tests.
# Prepares what the tests need: Debian's Chromium for the browser tests and, when PostgreSQL
# answers on 127.0.0.1:5432 and no FLEET_TEST_DATABASE_URL is given, a fresh test database.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing Debian's chromium for the browser tests"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "error: browser tests need /usr/bin/chromium (apt-get install -y chromium)" >&2
    exit 1
  fi
fi

# nginx (and openssl for its throwaway certificate) for the tests of the deploy/ site; the
# tests run it as their own foreground process, so the package's service is kept from starting.
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ] || ! command -v openssl >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing Debian's nginx for the proxy tests"
    added_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
      added_policy=1
    fi
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx openssl >/dev/null
    if [ -n "$added_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
  else
    echo "error: proxy tests need nginx and openssl (apt-get install -y nginx openssl)" >&2
    exit 1
  fi
fi

# The protocol PDF prints Polish letters with DejaVu Sans (tests/runs/test_pdf.py checks them).
if [ ! -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing Debian's fonts-dejavu-core for the protocol PDF"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-dejavu-core >/dev/null
  else
    echo "error: the PDF tests need fonts-dejavu-core (apt-get install -y fonts-dejavu-core)" >&2
    exit 1
  fi
fi

# Debian's swupdate (and openssl, which signs the test images) for the end-to-end DDI tests.
missing=""
command -v swupdate >/dev/null || [ -x /usr/bin/swupdate ] || missing="$missing swupdate"
command -v openssl >/dev/null || missing="$missing openssl"
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing Debian's$missing for the device-client tests"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
  else
    echo "error: the device-client tests need$missing (apt-get install -y$missing)" >&2
    exit 1
  fi
fi

created_db=""
if [ -z "${FLEET_TEST_DATABASE_URL:-}" ] && command -v psql >/dev/null \
   && psql -h 127.0.0.1 -U postgres -d postgres -Atqc 'select 1' >/dev/null 2>&1; then
  created_db="fleet_test_$$"
  psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE $created_db" >/dev/null
  export FLEET_TEST_DATABASE_URL="postgresql://postgres@127.0.0.1:5432/$created_db"
fi
cleanup() {
  if [ -n "$created_db" ]; then
    psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $created_db WITH (FORCE)" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

if [ -n "${FLEET_TEST_DATABASE_URL:-}" ]; then
  echo "database tests run on SQLite and on PostgreSQL"
else
  echo "warning: PostgreSQL not reachable; database tests run on SQLite only" >&2
fi

$BIN/ruff check src tests bench
$BIN/mypy
$BIN/pytest "$@"
