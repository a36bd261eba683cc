#!/bin/sh
# Container entrypoint: a config on first start, migrations on every start, then the bot.
#
#   COMMONS_CONFIG   the config file (default /data/commons-bot.yaml, on the volume)
#   COMMONS_BOT      the commons-bot command (default: commons-bot on PATH)
# Arguments are passed to `commons-bot run` (e.g. --log-format json).
set -eu

CONFIG="${COMMONS_CONFIG:-/data/commons-bot.yaml}"
BOT="${COMMONS_BOT:-commons-bot}"
DIR="$(dirname "$CONFIG")"

if [ ! -f "$CONFIG" ]; then
    # First start: a console-only config on the volume; edit it (or mount your own) and
    # restart. Secrets come from the container's environment (docker run -e / --env-file).
    echo "entrypoint: no $CONFIG yet; writing a starting config there" >&2
    (cd "$DIR" && "$BOT" init --non-interactive --name "${COMMONS_NAME:-Our commons}" \
        --platforms "${COMMONS_PLATFORMS:-console}" \
        --database "${COMMONS_DATABASE_URL:-sqlite:///$DIR/commons.sqlite3}")
    if [ "$(basename "$CONFIG")" != commons-bot.yaml ]; then
        mv "$DIR/commons-bot.yaml" "$CONFIG"
    fi
fi

cd "$DIR"
"$BOT" db upgrade --config "$CONFIG"
exec "$BOT" run --config "$CONFIG" "$@"
