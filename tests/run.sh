#!/usr/bin/env bash
# Tailor's test command: installs what the tests need on a fresh Debian machine, then runs every test.
#   - Debian's chromium (Playwright drives /usr/bin/chromium; it cannot download browsers here)
#   - Debian's nginx (a real caching proxy in front of Tailor)
#   - Node.js + npm and the tag's build tool (the tag's "build is fresh" test rebuilds it)
#   - the Python package with its test extra
# Extra arguments go to pytest, e.g. `bash tests/run.sh tests/proxy -x`.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/sbin/nginx ] || missing+=(nginx)  # a real shared cache in front of Tailor (tests/proxy/test_shared_cache.py)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "tests/run.sh: installing ${missing[*]} from Debian" >&2
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python3 -m pip install -q --disable-pip-version-check -e '.[test]'
if [ ! -d tag/node_modules ] || [ tag/package-lock.json -nt tag/node_modules ]; then
  npm ci --prefix tag --no-audit --no-fund --loglevel=error
fi

exec python3 -m pytest "$@"
