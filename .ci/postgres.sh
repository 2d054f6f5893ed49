# Sourced by .ci/run: installs PostgreSQL from Debian's packages, starts a throwaway server on
# 127.0.0.1 and exports the DAGSTER_PG_* variables that dagster.postgres.yaml and the tests read.
# CI runs as root and PostgreSQL refuses to run as root, so the server runs as the `postgres` user
# (created by the Debian package) from its own data folder; the default cluster is left alone.
export DEBIAN_FRONTEND=noninteractive
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi
pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
# A free port, so a server already running on this machine (a developer's) is no obstacle.
free_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export DAGSTER_PG_HOST=127.0.0.1 DAGSTER_PG_PORT=${DAGSTER_PG_PORT:-$free_port}
export DAGSTER_PG_USERNAME=dagster DAGSTER_PG_DB=dagster
export DAGSTER_PG_PASSWORD=${DAGSTER_PG_PASSWORD:-$(head -c 18 /dev/urandom | base64 | tr -d '/+=')}
pg_data=$(mktemp -d /tmp/calllog-pg.XXXXXX)
chown postgres "$pg_data"
# Local socket connections (the setup below) are trusted; TCP connections need the password.
runuser -u postgres -- "$pg_bin/initdb" -D "$pg_data" -U postgres --auth-local=trust \
    --auth-host=scram-sha-256 >/dev/null
runuser -u postgres -- "$pg_bin/pg_ctl" -D "$pg_data" -l "$pg_data/server.log" -w start \
    -o "-c listen_addresses=127.0.0.1 -p $DAGSTER_PG_PORT -k $pg_data -c max_connections=200" >/dev/null
trap 'runuser -u postgres -- "$pg_bin/pg_ctl" -D "$pg_data" -m fast stop >/dev/null' EXIT
# The password travels on stdin, not the command line.
printf "CREATE ROLE %s LOGIN CREATEDB PASSWORD '%s';\nCREATE DATABASE %s OWNER %s;\n" \
    "$DAGSTER_PG_USERNAME" "$DAGSTER_PG_PASSWORD" "$DAGSTER_PG_DB" "$DAGSTER_PG_USERNAME" |
    runuser -u postgres -- "$pg_bin/psql" -q -h "$pg_data" -p "$DAGSTER_PG_PORT" -U postgres -v ON_ERROR_STOP=1 >/dev/null
echo "PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') on $DAGSTER_PG_HOST:$DAGSTER_PG_PORT"
