#!/usr/bin/env bash
# Start what the test suite needs and is not running: PostgreSQL on 127.0.0.1:5432, Debian's
# Chromium for the browser tests. The AWS emulator is started by the tests themselves (moto server).
set -euo pipefail

pg_answers() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }
if command -v pg_isready >/dev/null 2>&1 && ! pg_answers; then
  if ls /etc/postgresql >/dev/null 2>&1; then
    echo "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    for _ in $(seq 1 30); do pg_answers && break; sleep 1; done
  fi
fi
if ! command -v pg_isready >/dev/null 2>&1 || ! pg_answers; then
  echo "warning: PostgreSQL is not answering on 127.0.0.1:5432 (PostgreSQL tests fail under CI=1)" >&2
fi

if [ -n "$(ls tests/e2e/test_*.py 2>/dev/null)" ] && [ ! -x /usr/bin/chromium ]; then
  echo "installing Debian's chromium for the browser tests"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
