#!/usr/bin/env python3
"""A hand-written Bitrix pool provider plugin for the bench hoster, in Python 3 with `requests`,
the way hosters write them today. benches/run measures vps-provider against it; it is not used
anywhere else. It keeps the protocol (../shared/PROTOCOL.md): one JSON object on stdout, string
values, {"error": 1, "error_message": ...} on failure, safe task ids, tasks in files.

Installed like any plugin: /opt/webdir/providers/<name>/bin/<name> (a symlink is fine). The site
file <name>/etc/<name>.conf holds `token=...`, and optionally `api_url=...` and `menu=static`
(the fixed plan list below instead of the hoster's). Tasks live in <name>/var/.
"""

import json
import os
import re
import sys
import time

import requests

NAME = os.path.basename(sys.argv[0])
ROOT = os.path.abspath(os.path.join(os.path.dirname(sys.argv[0]), ".."))
CONF = os.path.join(ROOT, "etc", NAME + ".conf")
TASKS = os.path.join(ROOT, "var")
STATIC_PLANS = [
    {"id": "1", "descr": "Bitrix-env, Rocky Linux 9, 1 vCPU, 2 GB RAM, 40 GB SSD, 4.50 EUR/month", "plan": "small"},
    {"id": "2", "descr": "Bitrix-env, Rocky Linux 9, 2 vCPU, 4 GB RAM, 80 GB SSD, 9.00 EUR/month", "plan": "medium"},
    {"id": "3", "descr": "Bitrix-env, Rocky Linux 9, 4 vCPU, 8 GB RAM, 160 GB SSD, 18.25 EUR/month", "plan": "large"},
]
STATES = {"building": "in_progress", "running": "finished", "failed": "error"}


class Failure(Exception):
    pass


def read_conf():
    conf = {"api_url": "https://api.benchhost.example/v1", "menu": "api", "token": ""}
    try:
        with open(CONF) as f:
            for line in f:
                key, sep, value = line.strip().partition("=")
                if sep and not key.startswith("#"):
                    conf[key.strip()] = value.strip()
    except OSError as e:
        raise Failure(f"cannot read {CONF}: {e.strerror}")
    return conf


def api(conf, method, path, body=None):
    try:
        answer = requests.request(
            method,
            conf["api_url"] + path,
            headers={"Authorization": "Bearer " + conf["token"]},
            json=body,
            timeout=30,
        )
    except requests.RequestException as e:
        raise Failure(f"request to the hoster failed: {e}")
    if answer.status_code >= 300:
        try:
            message = answer.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = answer.text[:200]
        raise Failure(f"hoster answered {answer.status_code}: {message}")
    return answer.json()


def size(mb):
    return f"{mb // 1024} GB" if mb >= 1024 else f"{mb} MB"


def plans(conf):
    if conf["menu"] == "static":
        return STATIC_PLANS
    return [
        {
            "id": str(p["number"]),
            "descr": f"Bitrix-env, Rocky Linux 9, {p['cpus']} vCPU, {size(p['memory_mb'])} RAM, "
            f"{p['disk_gb']} GB SSD, {p['price']:.2f} EUR/month",
            "plan": p["slug"],
        }
        for p in api(conf, "GET", "/plans")["plans"]
        if p["price"] < 50
    ]


def enabled(conf):
    if not conf["token"]:
        raise Failure(f"provider is disabled: no token in {CONF}")


def order(conf, config_id):
    enabled(conf)
    if not re.fullmatch(r"[0-9]+", config_id or ""):
        raise Failure(f"usage: {NAME} order CONFIG_ID")
    plan = next((p["plan"] for p in plans(conf) if p["id"] == config_id), None)
    if plan is None:
        raise Failure(f"no config {config_id}")
    os.makedirs(TASKS, mode=0o700, exist_ok=True)
    task_id = int(time.time() * 1000)
    while True:
        try:
            fd = os.open(os.path.join(TASKS, f"{task_id}.json"), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            break
        except FileExistsError:
            task_id += 1
    with os.fdopen(fd, "w") as f:
        try:
            answer = api(conf, "POST", "/servers", {"name": f"bitrix-{task_id}", "plan": plan, "image": "rocky-9"})
        except Failure:
            # Nothing was bought (or the hoster's message says why): no task to keep.
            os.unlink(os.path.join(TASKS, f"{task_id}.json"))
            raise
        task = {
            "task_id": str(task_id),
            "config_id": config_id,
            "server_id": str(answer["server"]["id"]),
            "root_password": answer["root_password"],
            "status": "in_progress",
        }
        json.dump(task, f)
    return {"task_id": str(task_id)}


def order_status(conf, task_id):
    if not re.fullmatch(r"[0-9]+", task_id or ""):
        raise Failure(f"usage: {NAME} order_status TASK_ID")
    path = os.path.join(TASKS, f"{task_id}.json")
    try:
        with open(path) as f:
            task = json.load(f)
    except (OSError, ValueError):
        raise Failure(f"get_task error, no task {task_id}")
    if task["status"] not in ("finished", "error"):
        server = api(conf, "GET", f"/servers/{task['server_id']}")["server"]
        task["status"] = STATES.get(server["status"], "in_progress")
        task["server"] = server.get("ipv4") or ""
        if task["status"] in ("finished", "error"):
            with open(path, "w") as f:
                json.dump(task, f)
    return {
        "task_id": task["task_id"],
        "status": task["status"],
        "server": task["server"],
        "server_password": task["root_password"] if task["status"] == "finished" else "",
    }


def main():
    verb = sys.argv[1] if len(sys.argv) > 1 else ""
    arg = sys.argv[2] if len(sys.argv) > 2 else ""
    try:
        conf = read_conf()
        if verb == "help":
            status = "enabled" if conf["token"] else "disabled"
            reply = {"options": ["help", "configs", "order", "order_status"], "status": status}
        elif verb == "configs":
            enabled(conf)
            reply = {"configurations": [{"id": p["id"], "descr": p["descr"]} for p in plans(conf)], "status": "enabled"}
        elif verb == "order":
            reply = order(conf, arg)
        elif verb == "order_status":
            reply = order_status(conf, arg)
        else:
            raise Failure(f"unknown command {verb}; use help, configs, order or order_status")
    except Failure as e:
        print(json.dumps({"error": 1, "error_message": str(e)}))
        sys.exit(1)
    except Exception as e:  # a plugin must answer in JSON whatever happens
        print(json.dumps({"error": 1, "error_message": f"internal error: {e!r}"}))
        sys.exit(1)
    print(json.dumps(reply))


if __name__ == "__main__":
    main()
