#!/usr/bin/env python3
# Writes the fuzz targets' seed corpora (fuzz/seeds/<target>/) from the project's own files:
# the shipped provider files, the test provider file and the recorded hoster answers. Seeds
# start the fuzzer from real inputs instead of from nothing; rerun after those files change.
# Input shapes (parts split at 0xFF) are described in fuzz/src/lib.rs.

import hashlib
import json
import pathlib
import re
import shutil

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
SEEDS = ROOT / "fuzz" / "seeds"
DICTS = ROOT / "fuzz" / "dicts"
SEP = b"\xff"

PROVIDERS = sorted((ROOT / "providers.d").glob("*.yaml")) + sorted(
    (ROOT / "tests" / "fixtures" / "providers").glob("*.yaml")
)


def write(target, data):
    """Stores one seed under its content's hash, as libFuzzer names corpus files."""
    folder = SEEDS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / hashlib.sha1(data).hexdigest()).write_bytes(data)


def strings(node, at=()):
    """Every (path, text) leaf of a YAML document."""
    if isinstance(node, str):
        yield at, node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from strings(value, at + (str(key),))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from strings(value, at + (i,))


def first_object_in_list(node):
    """The first object inside a list somewhere in a hoster answer (a plan, a server)."""
    if isinstance(node, list):
        for item in node:
            if isinstance(item, dict):
                return item
    if isinstance(node, dict):
        for value in node.values():
            found = first_object_in_list(value)
            if found is not None:
                return found
    return None


def fixtures(name):
    folder = ROOT / "tests" / "fixtures" / "hosters" / name
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def main():
    shutil.rmtree(SEEDS, ignore_errors=True)
    # Answers of every hoster, for providers without their own (demo, testhost).
    every_answer = sorted((ROOT / "tests" / "fixtures" / "hosters").glob("*/*.json"))
    for provider in PROVIDERS:
        text = provider.read_bytes()
        write("provider_file", text)
        document = yaml.safe_load(text)
        answers = fixtures(provider.stem) or every_answer[:6]
        plans = next((a for a in answers if a.name == "plans.json"), answers[0])
        item = first_object_in_list(json.loads(plans.read_text())) or {}
        context = {
            "settings": document.get("settings") or {},
            "secrets": {name: "secret-" + name for name in document.get("secrets") or {}},
            "task": {"id": "1795667540109", "config_id": "3", "password": "Pw-1x!"},
            "config": {"id": "3", "descr": "a config"},
            "item": item,
            "saved": {"server_id": 42},
            "polled": {"state": "running", "ip": "203.0.113.7"},
        }
        context_bytes = json.dumps(context).encode()

        # Templates: every text with `{{` in the file, with a context like a run's.
        for _, value in strings(document):
            if "{{" in value:
                write("template", value.encode() + SEP + context_bytes)

        # JSONPaths: every one the file writes, over each answer of its hoster.
        paths = set()
        for at, value in strings(document):
            key = at[-1] if at else ""
            if value.startswith("$") and (
                "extract" in at or key in ("items", "next", "error_message")
            ):
                paths.add(value)
        status = (document.get("order_status") or {}).get("status") or {}
        keys = [str(k) for k in (status.get("map") or {})]
        states = keys[:3] or ["running"]
        # Each path over three of the answers (rotating), enough to start from.
        for i, path in enumerate(sorted(paths)):
            for j in range(min(3, len(answers))):
                answer = answers[(i + j) % len(answers)]
                state = states[(i + j) % len(states)].replace("*", "x")
                parts = [path.encode(), answer.read_bytes(), state.encode()]
                parts += [k.encode() for k in keys]
                write("extract", SEP.join(parts))

    # Hostile shapes the bad-input tests use, so the fuzzer starts next to them: an alias
    # bomb and deep nesting in a provider file, deep blocks in a template, a deep JSONPath.
    bomb = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 9):
        prev = f"*a{level - 1}"
        bomb.append(f"a{level}: &a{level} [{', '.join([prev] * 9)}]")
    write("provider_file", ("settings:\n" + "\n".join("  " + l for l in bomb) + "\n").encode())
    write("provider_file", b"settings:\n  deep: " + b"[" * 200 + b"]" * 200 + b"\n")
    write("template", b"{{#if a}}" * 50 + b"x" + b"{{/if}}" * 50 + SEP + b'{"a": true}')
    write("template", b"{{concat " + b"(concat " * 30 + b"a" + b")" * 30 + b"}}" + SEP + b"{}")
    write("extract", b"$[?" + b"(" * 40 + b"@.a" + b")" * 40 + b"]" + SEP + b'[{"a": [1]}]')


def dict_entry(token):
    """One line of a libFuzzer dictionary: the token (bytes) quoted, with `"`, `\\` and
    bytes outside printable ASCII escaped as `\\xNN`."""
    out = []
    for byte in token:
        char = chr(byte)
        if char in '"\\' or not 0x20 <= byte < 0x7F:
            out.append(f"\\x{byte:02x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def write_dict(target, tokens):
    DICTS.mkdir(parents=True, exist_ok=True)
    lines = [f"# {target}: written by make_seeds.py, do not edit"]
    as_bytes = {t if isinstance(t, bytes) else t.encode() for t in tokens}
    lines += [dict_entry(t) for t in sorted(as_bytes) if t]
    (DICTS / f"{target}.dict").write_text("\n".join(lines) + "\n")


def words_of_schema():
    """Every property name and enum value of the provider file's JSON Schema."""
    found = set()

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "properties" and isinstance(value, dict):
                    found.update(value)
                if key == "enum" and isinstance(value, list):
                    found.update(v for v in value if isinstance(v, str))
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads((ROOT / "schemas" / "provider.schema.json").read_text()))
    return found


def helper_names():
    """The project's template helpers, read from the table in src/template.rs."""
    source = (ROOT / "src" / "template.rs").read_text()
    table = source.split("const VALUE_HELPERS", 1)[1]
    return {"password"} | set(re.findall(r'^    \("(\w+)", ', table, re.M))


# Handlebars' own words, and those of the JSONPath dialect (jsonpath-rust, RFC 9535).
HANDLEBARS = ["{{", "}}", "{{{", "}}}", "{{#", "{{/", "{{else}}", "{{^", "{{!", "{{~", "~}}",
              "(", ")", "../", "this", "@index", "@key", "@first", "@last", "@root", " as |x|",
              "if", "unless", "each", "with", "lookup", "log", "eq", "ne", "gt", "gte", "lt",
              "lte", "and", "or", "not", "len", "=", "\"", "'", "\\"]
JSONPATH = ["$", "$.", "$..", "@", "@.", "[*]", "[0]", "[-1]", "[0:2]", "[::-1]", "[?",
            "[?@.", "[?(@.", ")]", "]", "['", "']", '["', '"]', "==", "!=", "<", "<=", ">",
            ">=", "&&", "||", "!", "true", "false", "null", "length(", "count(", "match(",
            "search(", "value(", "1e3", "-0", "\\u00e9", "\\ud83d\\ude00"]
YAML = [": ", "- ", "\n  ", "\n    ", "---\n", "&a ", "*a", "<<: ", "!!str ", "!!int ", "|\n",
        ">-\n", "? ", "{", "}", "[", "]", ", ", "'", '"', "# ", "~", "null", "0x1F", "1e9",
        ".inf", "yes", "no"]


def write_dicts():
    """Dictionaries (`-dict=`): words a mutation of bytes rarely makes by chance."""
    schema = words_of_schema()
    helpers = helper_names()
    write_dict("provider_file", [w + ":" for w in schema] + list(schema) + YAML
               + HANDLEBARS + list(helpers) + JSONPATH)
    write_dict("template", HANDLEBARS + list(helpers)
               + ["settings", "secrets", "task", "config", "item", "saved", "polled", "id"])
    write_dict("extract", JSONPATH + [SEP, "*", "?", "[a-z]"])


if __name__ == "__main__":
    main()
    write_dicts()
