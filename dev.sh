#!/usr/bin/env bash
# The project's two commands:
#   bash dev.sh run    set everything up, build the demo biobank, serve on 127.0.0.1:8000
#   bash dev.sh test   set everything up, run the whole test suite (pytest arguments pass on)
# and the production stack on one machine (docs/deployment.md):
#   bash dev.sh prod   PostgreSQL, RabbitMQ, a Celery worker and gunicorn, DEBUG off
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
        # A PostgreSQL DATABASE_URL naming a database its server lacks gets it made:
        "$VENV/bin/python" manage.py ensure_database
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
    setup)
        # Only the install step of the other commands (CI runs it once before running
        # two test suites side by side, which must not both install into .venv):
        ensure_venv
        ;;
    prod)
        # deploy/serve.sh waits with `wait -n -p`; said before anything is migrated:
        if ((BASH_VERSINFO[0] * 100 + BASH_VERSINFO[1] < 501)); then
            echo "dev.sh prod needs bash 5.1 or later (this is $BASH_VERSION)." >&2
            exit 1
        fi
        ensure_venv
        if [ -z "${SECRET_KEY:-}${SECRET_KEY_FILE:-}" ] || [ -z "${BIOBANK_PSEUDONYM_KEY:-}${BIOBANK_PSEUDONYM_KEY_FILE:-}" ]; then
            echo "Set SECRET_KEY and BIOBANK_PSEUDONYM_KEY (or their _FILE forms) first; see docs/deployment.md." >&2
            exit 2
        fi
        export DEBUG=false
        export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/biobank}
        export CELERY_BROKER_URL=${CELERY_BROKER_URL:-amqp://guest:guest@127.0.0.1:5672//}
        export LOG_FORMAT=${LOG_FORMAT:-json} ACCESS_LOG_LEVEL=${ACCESS_LOG_LEVEL:-INFO}
        export DATABASE_CONN_MAX_AGE=${DATABASE_CONN_MAX_AGE:-60}
        # shellcheck source=deploy/services.sh
        source deploy/services.sh
        # Services named on this machine are started here; remote ones are left alone:
        # (each for the host and port its URL names, and only when that is loopback):
        start_postgres "$DATABASE_URL"
        ensure_database "$DATABASE_URL"
        start_broker "$CELERY_BROKER_URL"
        case "$CELERY_BROKER_URL" in memory://*) ;; *) check_broker "$CELERY_BROKER_URL" ;; esac
        "$VENV/bin/python" manage.py check --deploy --fail-level ERROR
        "$VENV/bin/python" manage.py migrate --noinput
        "$VENV/bin/python" manage.py collectstatic --noinput --verbosity 0
        # A Celery worker and gunicorn on BIOBANK_ADDR, until either stops or this
        # script gets TERM, INT or HUP, which stops both:
        # shellcheck source=deploy/serve.sh
        source deploy/serve.sh
        run_servers
        ;;
    *)
        echo "usage: bash dev.sh run | bash dev.sh test [pytest args] | bash dev.sh prod | bash dev.sh setup" >&2
        exit 2
        ;;
esac
