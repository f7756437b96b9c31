#!/usr/bin/env bash
# Start-up cost of the protocol path, which the panel pays on every call (it runs the plugin
# for every task on every page load). Measured side by side in one run, as ratios to a
# process that does nothing (/bin/true), because this 2-core machine is noisy.
#
#   benches/startup.sh [ITERATIONS]      (default 300)
#
# Prints mean wall time per call for: /bin/true, `help`, `configs` (static list, no network),
# `order_status` of a finished task (answered from the task store), and the release binary's size.
set -euo pipefail
cd "$(dirname "$0")/.."
iterations=${1:-300}
cargo build --release --quiet
bin=$PWD/target/release/vps-provider
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/providers.d" "$work/bin" "$work/state/testhost"
cp tests/fixtures/providers/testhost.yaml "$work/providers.d/"
printf 'token=bench-token-123\n' > "$work/testhost.conf"
chmod 600 "$work/testhost.conf"
ln -s "$bin" "$work/bin/testhost"
cat > "$work/state/testhost/1000.json" <<'JSON'
{"id":"1000","provider":"testhost","config_id":"1","config":{},"created":0,"stage":"finished",
 "password":"x","hoster_id":"42","saved":{},"server":"203.0.113.7","server_password":"pw",
 "last_status":"finished","message":null}
JSON
chmod 600 "$work/state/testhost/1000.json"
export VPS_PROVIDER_DIR=$work/providers.d VPS_PROVIDER_SECRETS=$work/testhost.conf \
  VPS_PROVIDER_STATE_DIR=$work/state VPS_PROVIDER_BASE_URL=http://127.0.0.1:9

mean_us() { # command... → mean microseconds per run
  local start end
  start=$(date +%s%N)
  for ((i = 0; i < iterations; i++)); do "$@" >/dev/null; done
  end=$(date +%s%N)
  echo $(((end - start) / iterations / 1000))
}

# Warm the page cache first.
"$work/bin/testhost" help >/dev/null
baseline=$(mean_us /bin/true)
help=$(mean_us "$work/bin/testhost" help)
configs=$(mean_us "$work/bin/testhost" configs)
status=$(mean_us "$work/bin/testhost" order_status 1000)
ratio() { awk -v a="$1" -v b="$baseline" 'BEGIN { printf "%.1f", a / (b > 0 ? b : 1) }'; }
printf '%-34s %8s %8s\n' "call ($iterations runs each)" "mean us" "x true"
printf '%-34s %8s %8s\n' "/bin/true" "$baseline" "1.0"
printf '%-34s %8s %8s\n' "help" "$help" "$(ratio "$help")"
printf '%-34s %8s %8s\n' "configs (static)" "$configs" "$(ratio "$configs")"
printf '%-34s %8s %8s\n' "order_status (finished, stored)" "$status" "$(ratio "$status")"
printf 'release binary: %s bytes\n' "$(stat -c %s "$bin")"
