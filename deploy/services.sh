# Start the services the biobank needs on this machine when they are not running, and
# install them from Debian's packages when they are absent. Sourced by .ci/run (tests)
# and by `bash dev.sh prod` (the production stack on one machine).

# Sets url_host and url_port to those a service URL names
# (scheme://[user[:password]@]host[:port][/path][?query]); url_port is $2 when it names none.
parse_url() {
    local rest=${1#*://}
    rest=${rest##*@}
    rest=${rest%%[/?]*}
    if [[ $rest == \[* ]]; then
        url_host=${rest%%]*}]
        rest=${rest#"$url_host"}
    else
        url_host=${rest%%:*}
        rest=${rest#"$url_host"}
    fi
    url_port=${rest#:}
    url_port=${url_port:-$2}
}

# Whether the host parse_url found is this machine's loopback (the only one started here):
local_host() {
    case "$url_host" in 127.0.0.1 | localhost | "[::1]") return 0 ;; esac
    return 1
}

start_postgres() {
    # The server $1 names (default: Debian's cluster on 127.0.0.1:5432), if it is one of
    # this machine's clusters that is down; never another cluster than the URL's:
    local url=${1:-postgres://postgres@127.0.0.1:5432/postgres}
    case "$url" in postgres://* | postgresql://*) ;; *) return 0 ;; esac
    parse_url "$url" 5432
    local_host || return 0
    local host=$url_host port=$url_port
    [ "$host" = "[::1]" ] && host=::1
    if pg_isready -h "$host" -p "$port" >/dev/null 2>&1; then
        return
    fi
    if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
        if [ "$port" != 5432 ]; then
            echo "No PostgreSQL answers on $host:$port, which DATABASE_URL names; start that server (one installed here would listen on 5432)." >&2
            exit 1
        fi
        echo "PostgreSQL is not installed; installing it from Debian's packages."
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql
        local conf
        conf=$(ls -d /etc/postgresql/*/main | head -1)
        # Trust local TCP connections, as the development machines do:
        sed -i 's/^\(host\s\+all\s\+all\s\+127.0.0.1\/32\s\+\)\S\+/\1trust/' "$conf/pg_hba.conf"
    fi
    # The cluster of this machine configured for that port (columns: version,
    # name, port, status, ...):
    local cluster
    cluster=$(pg_lsclusters --no-header | awk -v port="$port" '$3 == port { print $1, $2; exit }')
    if [ -z "$cluster" ]; then
        echo "No PostgreSQL answers on $host:$port, which DATABASE_URL names, and no cluster of this machine is set to that port (pg_lsclusters); start that server or correct the URL." >&2
        exit 1
    fi
    # shellcheck disable=SC2086 # version and name, two words
    pg_ctlcluster --skip-systemctl-redirect $cluster start
    for _ in $(seq 1 30); do
        pg_isready -h "$host" -p "$port" >/dev/null 2>&1 && return
        sleep 1
    done
    echo "PostgreSQL did not start on $host:$port." >&2
    exit 1
}

broker_listening() {
    timeout 2 bash -c "</dev/tcp/$1/$2" >/dev/null 2>&1
}

wait_for_port() {
    for _ in $(seq 1 60); do
        broker_listening "$1" "$2" && return
        sleep 1
    done
    echo "$3 did not start on $1:$2." >&2
    exit 1
}

start_broker() {
    # The broker CELERY_BROKER_URL ($1) names, by its scheme:
    case "$1" in
        amqp://* | pyamqp://*) start_rabbitmq "$1" ;;
        redis://*) start_redis "$1" ;;
    esac
}

start_redis() {
    # A Redis on the port $1 names (default redis://127.0.0.1:6379/0), on loopback only:
    parse_url "${1:-redis://127.0.0.1:6379/0}" 6379
    local_host || return 0
    local port=$url_port
    if broker_listening 127.0.0.1 "$port"; then
        return
    fi
    if ! command -v redis-server >/dev/null; then
        echo "Redis is not installed; installing it from Debian's packages."
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server
    fi
    # A password in the URL (redis://:secret@...) is the one the new server asks for:
    local password=${1#*://}
    case "$password" in *@*) password=${password%%@*} password=${password#*:} ;; *) password='' ;; esac
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$port" --save "" \
        --appendonly no --dir /var/lib/redis --logfile "/var/log/redis/ci-$port.log" \
        ${password:+--requirepass "$password"}
    wait_for_port 127.0.0.1 "$port" Redis
}

start_rabbitmq() {
    # The RabbitMQ $1 names (default amqp://guest:guest@127.0.0.1:5672//), on loopback
    # only. A RabbitMQ started here listens on 5672 and has only the guest account and
    # the vhost "/"; check_broker says when the URL needs others.
    parse_url "${1:-amqp://guest:guest@127.0.0.1:5672//}" 5672
    local_host || return 0
    local port=$url_port
    if broker_listening 127.0.0.1 "$port"; then
        return
    fi
    if [ "$port" != 5672 ]; then
        echo "No broker answers on 127.0.0.1:$port, which CELERY_BROKER_URL names; start it (a RabbitMQ started here would listen on 5672) or correct the URL." >&2
        exit 1
    fi
    if ! command -v rabbitmq-server >/dev/null; then
        echo "RabbitMQ is not installed; installing it from Debian's packages."
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server
    fi
    rabbitmq-server -detached
    wait_for_port 127.0.0.1 5672 RabbitMQ
}

check_broker() {
    # Log in to the broker as CELERY_BROKER_URL says (user, password, vhost): a worker
    # refused would otherwise retry for ever, saying so only in its log.
    "$VENV/bin/python" - "$1" <<'PYTHON' || exit 1
import sys

from kombu import Connection

url = sys.argv[1]
with Connection(url, connect_timeout=10) as broker:
    try:
        broker.ensure_connection(max_retries=1)
    except Exception as error:  # noqa: BLE001 - said in one line, whatever it is
        where = broker.as_uri()  # the password masked
        sys.exit(f"The broker of CELERY_BROKER_URL ({where}) refused the connection: {' '.join(str(error).split())}. Check its user, password and vhost (rabbitmqctl add_user, add_vhost, set_permissions).")
PYTHON
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
    # Create the database DATABASE_URL ($1) names on the server it names (host, port,
    # user, password) when that server is this machine's and lacks it:
    case "$1" in postgres://* | postgresql://*) ;; *) return 0 ;; esac
    parse_url "$1" 5432
    local_host || return 0
    "$VENV/bin/python" manage.py ensure_database
}
