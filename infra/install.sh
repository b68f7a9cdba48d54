#!/usr/bin/env bash
# What Streamwise needs from Debian's packages, in one list for `make run`, `make test` and CI.
#   infra/install.sh run    Python's venv (the embedded demo needs nothing else)
#   infra/install.sh test   also a JDK 17 and Maven (Kafka), redis-server, Prometheus, Chromium, kcat
# Installs what is missing with apt-get as root (or with sudo when it needs no password); otherwise
# stops naming the one command that does.
set -euo pipefail
want=${1:-test}
missing=()
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
if [[ $want == test ]]; then
  command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null || missing+=(maven)
  command -v redis-server >/dev/null || missing+=(redis-server)
  command -v prometheus >/dev/null || missing+=(prometheus)  # the real-scraper test and `make up`
  [[ -x /usr/bin/chromium ]] || missing+=(chromium)  # the dashboard's browser test
  command -v kcat >/dev/null || missing+=(kcat)  # interop and bad-input tests: a client nobody here wrote
fi
((${#missing[@]})) || exit 0

sudo=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
  else
    echo "install.sh: missing ${missing[*]}; install them with: sudo infra/install.sh $want" >&2
    exit 1
  fi
fi
command -v apt-get >/dev/null || { echo "install.sh: missing ${missing[*]} (Debian packages; no apt-get here)" >&2; exit 1; }
echo "install.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
