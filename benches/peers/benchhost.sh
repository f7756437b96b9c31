#!/bin/bash
# A hand-written Bitrix pool provider plugin for the bench hoster, in Bash with curl and jq, the
# way hosters write them today. benches/run measures vps-provider against it; it is not used
# anywhere else. It keeps the protocol (../shared/PROTOCOL.md): one JSON object on stdout,
# string values, `{"error":1,"error_message":...}` on failure, safe task ids, tasks in files.
#
# Installed like any plugin: /opt/webdir/providers/<name>/bin/<name> (a symlink is fine). The
# site file <name>/etc/<name>.conf holds `token=...`, and optionally `api_url=...` and
# `menu=static` (the fixed plan list below instead of the hoster's). Tasks live in <name>/var/.

set -u
root=$(cd "$(dirname "$0")/.." && pwd)
name=$(basename "$0")
conf=$root/etc/$name.conf
tasks=$root/var

fail() {
    jq -cn --arg m "$1" '{error: 1, error_message: $m}'
    exit 1
}

token=
api_url=https://api.benchhost.example/v1
menu=api
[ -r "$conf" ] || fail "no config file $conf"
while IFS='=' read -r key value; do
    case $key in
    token) token=$value ;;
    api_url) api_url=$value ;;
    menu) menu=$value ;;
    esac
done <"$conf"
status=enabled
[ -n "$token" ] || status=disabled

# api METHOD PATH [BODY]: the answer's body on stdout; an error object when it fails.
api() {
    local out code
    out=$(curl -sS --max-time 30 -X "$1" -H "Authorization: Bearer $token" \
        -H 'Content-Type: application/json' ${3:+--data "$3"} -w '\n%{http_code}' \
        "$api_url$2" 2>&1) || fail "request to the hoster failed: $out"
    code=${out##*$'\n'}
    out=${out%$'\n'*}
    if [ "$code" -ge 300 ]; then
        fail "hoster answered $code: $(jq -r '.error.message? // empty' <<<"$out" 2>/dev/null)"
    fi
    printf '%s' "$out"
}

# The menu as [{id, descr, plan}].
plans() {
    if [ "$menu" = static ]; then
        cat <<'JSON'
[{"id":"1","descr":"Bitrix-env, Rocky Linux 9, 1 vCPU, 2 GB RAM, 40 GB SSD, 4.50 EUR/month","plan":"small"},
 {"id":"2","descr":"Bitrix-env, Rocky Linux 9, 2 vCPU, 4 GB RAM, 80 GB SSD, 9.00 EUR/month","plan":"medium"},
 {"id":"3","descr":"Bitrix-env, Rocky Linux 9, 4 vCPU, 8 GB RAM, 160 GB SSD, 18.25 EUR/month","plan":"large"}]
JSON
        return
    fi
    local answer
    answer=$(api GET /plans) || { echo "$answer"; exit 1; }
    jq -c '
      def gb: if . >= 1024 then "\(. / 1024 | floor) GB" else "\(.) MB" end;
      def money: (. * 100 | round) as $c | "\($c / 100 | floor).\($c % 100 | tostring | if length < 2 then "0" + . else . end)";
      [.plans[] | select(.price < 50) | {
        id: (.number | tostring),
        descr: "Bitrix-env, Rocky Linux 9, \(.cpus) vCPU, \(.memory_mb | gb) RAM, \(.disk_gb) GB SSD, \(.price | money) EUR/month",
        plan: .slug}]' <<<"$answer"
}

case ${1:-} in
help)
    echo "{\"options\":[\"help\",\"configs\",\"order\",\"order_status\"],\"status\":\"$status\"}"
    ;;
configs)
    [ "$status" = enabled ] || fail "provider is disabled: no token in $conf"
    list=$(plans) || { echo "$list"; exit 1; }
    jq -c '{configurations: map({id, descr}), status: "enabled"}' <<<"$list"
    ;;
order)
    [ "$status" = enabled ] || fail "provider is disabled: no token in $conf"
    config_id=${2:-}
    [[ $config_id =~ ^[0-9]+$ ]] || fail "usage: $name order CONFIG_ID"
    list=$(plans) || { echo "$list"; exit 1; }
    plan=$(jq -r --arg id "$config_id" '.[] | select(.id == $id) | .plan' <<<"$list")
    [ -n "$plan" ] || fail "no config $config_id"
    mkdir -p "$tasks" && chmod 700 "$tasks"
    task_id=$(date +%s%3N)
    while ! (set -C; : >"$tasks/$task_id.json") 2>/dev/null; do task_id=$((task_id + 1)); done
    body=$(jq -cn --arg name "bitrix-$task_id" --arg plan "$plan" '{name: $name, plan: $plan, image: "rocky-9"}')
    answer=$(api POST /servers "$body") || { rm -f "$tasks/$task_id.json"; echo "$answer"; exit 1; }
    jq -c --arg id "$task_id" --arg config "$config_id" \
        '{task_id: $id, config_id: $config, server_id: (.server.id | tostring), root_password, status: "in_progress"}' \
        <<<"$answer" >"$tasks/$task_id.json"
    chmod 600 "$tasks/$task_id.json"
    echo "{\"task_id\":\"$task_id\"}"
    ;;
order_status)
    task_id=${2:-}
    [[ $task_id =~ ^[0-9]+$ ]] || fail "usage: $name order_status TASK_ID"
    file=$tasks/$task_id.json
    [ -s "$file" ] || fail "get_task error, no task $task_id"
    task=$(cat "$file")
    case $(jq -r .status <<<"$task") in
    finished | error)
        jq -c '{task_id, status, server, server_password: .root_password}' <<<"$task"
        exit 0
        ;;
    esac
    answer=$(api GET "/servers/$(jq -r .server_id <<<"$task")") || { echo "$answer"; exit 1; }
    task=$(jq -c --argjson s "$answer" '.status = ({building: "in_progress", running: "finished", failed: "error"}[$s.server.status] // "in_progress")
        | .server = ($s.server.ipv4 // "")' <<<"$task")
    case $(jq -r .status <<<"$task") in
    finished | error) printf '%s\n' "$task" >"$file" ;;
    esac
    jq -c '{task_id, status, server, server_password: (if .status == "finished" then .root_password else "" end)}' <<<"$task"
    ;;
*)
    fail "unknown command ${1:-}; use help, configs, order or order_status"
    ;;
esac
