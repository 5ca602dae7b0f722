# Start the services the biobank needs on this machine when they are not running, and
# install them from Debian's packages when they are absent. Sourced by .ci/run (tests)
# and by `bash dev.sh prod` (the production stack on one machine).

start_postgres() {
    if pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1; then
        return
    fi
    if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
        echo "PostgreSQL is not installed; installing it from Debian's packages."
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql
        local conf
        conf=$(ls -d /etc/postgresql/*/main | head -1)
        # Trust local TCP connections, as the development machines do:
        sed -i 's/^\(host\s\+all\s\+all\s\+127.0.0.1\/32\s\+\)\S\+/\1trust/' "$conf/pg_hba.conf"
    fi
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
    for _ in $(seq 1 30); do
        pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1 && return
        sleep 1
    done
    echo "PostgreSQL did not start." >&2
    exit 1
}


broker_listening() {
    timeout 2 bash -c "</dev/tcp/127.0.0.1/$1" >/dev/null 2>&1
}

wait_for_port() {
    for _ in $(seq 1 60); do
        broker_listening "$1" && return
        sleep 1
    done
    echo "$2 did not start." >&2
    exit 1
}

start_redis() {
    if broker_listening 6379; then
        return
    fi
    if ! command -v redis-server >/dev/null; then
        echo "Redis is not installed; installing it from Debian's packages."
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server
    fi
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
        --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
    wait_for_port 6379 Redis
}

start_rabbitmq() {
    if broker_listening 5672; then
        return
    fi
    if ! command -v rabbitmq-server >/dev/null; then
        echo "RabbitMQ is not installed; installing it from Debian's packages."
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server
    fi
    rabbitmq-server -detached
    wait_for_port 5672 RabbitMQ
}

install_chromium() {
    # The browser tests drive Debian's Chromium through Playwright (tests/e2e):
    if command -v chromium >/dev/null; then
        return
    fi
    echo "Chromium is not installed; installing it from Debian's packages."
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
}

ensure_database() {
    # Create the database DATABASE_URL names when the local server lacks it:
    local name=${DATABASE_URL##*/}
    name=${name%%\?*}
    local user=${DATABASE_URL#*://}
    user=${user%%[:@]*}
    if ! psql -h 127.0.0.1 -U "$user" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$name'" | grep -q 1; then
        createdb -h 127.0.0.1 -U "$user" "$name"
    fi
}
