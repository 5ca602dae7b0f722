# The servers of `bash dev.sh prod`, run as one stack (docs/deployment.md): a Celery
# worker and gunicorn, until either stops or the script is told to stop. Sourced by
# dev.sh, which sets VENV; tests/biobank/test_prod_stack.py runs it on its own.

# NB: both servers run in the background and the script waits for them: bash holds a
# signal's trap until a foreground command ends, so a TERM to the script (systemd's
# KillMode=process, supervisord, `kill $!`) stopped Celery and left gunicorn serving.
# `wait -n -p` needs bash 5.1 or later (Debian 12 has 5.2).
run_servers() {
    local addr=${BIOBANK_ADDR:-127.0.0.1:8000}
    if address_in_use "$addr"; then
        echo "dev.sh prod: $addr is in use (another dev.sh prod, or another server); stop it or set BIOBANK_ADDR." >&2
        exit 1
    fi

    web='' worker=''
    trap 'stop_servers; exit 129' HUP
    trap 'stop_servers; exit 130' INT
    trap 'stop_servers; exit 143' TERM
    trap stop_servers EXIT
    "$VENV/bin/celery" -A biobank --quiet worker --concurrency "${WORKER_CONCURRENCY:-2}" --loglevel INFO &
    worker=$!
    "$VENV/bin/gunicorn" biobank.wsgi \
        --bind "$addr" \
        --workers "${WEB_WORKERS:-$((2 * $(nproc) + 1))}" \
        --timeout 120 --config deploy/gunicorn.conf.py --forwarded-allow-ips "${FORWARDED_ALLOW_IPS:-127.0.0.1}" &
    web=$!

    # Either server stopping on its own stops the other, and the script fails, so
    # that a supervisor restarts the whole stack:
    local stopped status=0
    wait -n -p stopped "$web" "$worker" || status=$?
    if [ "${stopped:-}" = "$web" ]; then
        echo "dev.sh prod: gunicorn stopped (exit status $status; \"Connection in use\" above means another server holds $addr); stopping the Celery worker." >&2
    else
        echo "dev.sh prod: the Celery worker stopped (exit status $status); stopping gunicorn." >&2
    fi
    stop_servers
    exit $((status == 0 ? 1 : status))
}

stop_servers() {
    # gunicorn first, so that no request queues a job for a worker that is leaving;
    # each finishes what it is doing (gunicorn's graceful timeout, Celery's warm
    # shutdown). A second signal meanwhile is ignored rather than cutting that short.
    trap '' HUP INT TERM
    local pid
    for pid in $web $worker; do
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    web='' worker=''
}

address_in_use() {
    # Whether a server answers on host:port ([::1]:8000 too); a unix: socket passes.
    local host=${1%:*} port=${1##*:}
    case "$1" in unix:*) return 1 ;; esac
    host=${host#[}
    host=${host%]}
    timeout 2 bash -c "</dev/tcp/${host:-127.0.0.1}/$port" >/dev/null 2>&1
}
