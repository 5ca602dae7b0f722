#!/usr/bin/env bash
# The project's two commands:
#   bash dev.sh run    set everything up, build the demo biobank, serve on 127.0.0.1:8000
#   bash dev.sh test   set everything up, run the whole test suite (pytest arguments pass on)
# Needs only Python 3.11 on the PATH (python3.11 or python3).
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
VENV=.venv

ensure_venv() {
    if [ ! -x "$VENV/bin/python" ]; then
        "$PYTHON" -m venv "$VENV"
    fi
    # Reinstall only when the pinned requirements changed since the last install:
    local stamp="$VENV/.requirements.sha256"
    local want
    want=$(cat requirements.txt requirements-dev.txt requirements-pyradiomics.txt | sha256sum | cut -d' ' -f1)
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        "$VENV/bin/python" -m pip install --quiet --upgrade pip
        "$VENV/bin/python" -m pip install --quiet -r requirements-dev.txt
        # PyRadiomics compiles its C extension against the numpy installed above: its
        # build tools (lines marked "# build") first, then the rest without isolation.
        "$VENV/bin/python" -m pip install --quiet $(sed -n 's/ *# build$//p' requirements-pyradiomics.txt)
        "$VENV/bin/python" -m pip install --quiet --no-build-isolation -r requirements-pyradiomics.txt
        echo "$want" > "$stamp"
    fi
}

cmd=${1:-}
shift || true
case "$cmd" in
    run)
        ensure_venv
        mkdir -p var
        "$VENV/bin/python" manage.py migrate --noinput
        # BIOBANK_DEMO=0 serves a database without adding the demo project and user:
        if [ "${BIOBANK_DEMO:-1}" != "0" ]; then
            "$VENV/bin/python" manage.py build_demo
        fi
        exec "$VENV/bin/python" manage.py runserver "${BIOBANK_ADDR:-127.0.0.1:8000}"
        ;;
    test)
        ensure_venv
        exec "$VENV/bin/python" -m pytest "$@"
        ;;
    *)
        echo "usage: bash dev.sh run | bash dev.sh test [pytest args]" >&2
        exit 2
        ;;
esac
