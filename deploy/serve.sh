# The servers of `bash dev.sh prod`, run as one stack (docs/deployment.md): a Celery
# worker and gunicorn, until gunicorn stops, the worker keeps stopping, or the script
# is told to stop. Sourced by dev.sh, which sets VENV; tests/biobank/test_prod_stack.py
# runs it on its own.

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

    local restarts=${WORKER_RESTARTS:-5}
    if ! [[ $restarts =~ ^[0-9]+$ ]]; then
        echo "dev.sh prod: WORKER_RESTARTS must be a whole number (times the Celery worker is started again in a row), not '$restarts'." >&2
        exit 2
    fi

    web='' worker=''
    trap 'stop_servers; exit 129' HUP
    trap 'stop_servers; exit 130' INT
    trap 'stop_servers; exit 143' TERM
    trap stop_servers EXIT
    start_worker
    "$VENV/bin/gunicorn" biobank.wsgi \
        --bind "$addr" \
        --workers "${WEB_WORKERS:-$((2 * $(nproc) + 1))}" \
        --timeout 120 --config deploy/gunicorn.conf.py --forwarded-allow-ips "${FORWARDED_ALLOW_IPS:-127.0.0.1}" &
    web=$!

    # gunicorn stopping on its own stops the worker, and the script fails, so that
    # a supervisor restarts the whole stack. The worker stopping (killed for memory
    # by a large job, a crash) is started again while gunicorn goes on serving: the
    # site stays up, and the jobs it ran go back to the queue (acks_late). A worker
    # that stops again within WORKER_STEADY seconds of its start, more than
    # WORKER_RESTARTS times in a row, will not stay up (the broker or the database
    # refusing it): that stops the stack, saying so, rather than serving uploads
    # that no worker will run.
    local stopped status again=0 pid
    while true; do
        # NB: wait -n misses a server that ended while a foreground command ran
        # (the $(nproc) above), so one ended already is asked for by its pid; kill
        # and [ are builtins, which leave wait -n seeing one that ends meanwhile.
        status=0 stopped=''
        for pid in "$web" "$worker"; do
            kill -0 "$pid" 2>/dev/null || stopped=$pid
        done
        if [ -n "$stopped" ]; then
            wait "$stopped" || status=$?
        else
            wait -n -p stopped "$web" "$worker" || status=$?
        fi
        if [ "${stopped:-}" = "$web" ]; then
            echo "dev.sh prod: gunicorn stopped (exit status $status; \"Connection in use\" above means another server holds $addr); stopping the Celery worker." >&2
            break
        fi
        if ((SECONDS - worker_started >= WORKER_STEADY)); then
            again=0
        fi
        if ((again >= restarts)); then
            echo "dev.sh prod: the Celery worker stopped (exit status $status) after $again restarts in a row (WORKER_RESTARTS=$restarts; a row ends once it runs ${WORKER_STEADY} s); not starting it again: its lines above say why. Stopping gunicorn." >&2
            break
        fi
        again=$((again + 1))
        echo "dev.sh prod: the Celery worker stopped (exit status $status); gunicorn goes on serving, and the worker is started again ($again of $restarts in a row)." >&2
        start_worker
    done
    stop_servers
    exit $((status == 0 ? 1 : status))
}

# Seconds a Celery worker must run for its stopping to count as a new failure, not
# one more of a row:
WORKER_STEADY=60

start_worker() {
    "$VENV/bin/celery" -A biobank --quiet worker --concurrency "${WORKER_CONCURRENCY:-2}" --loglevel INFO &
    worker=$!
    worker_started=$SECONDS
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
