"""Offline check of the detectors against the project corpus (not a test: a report).

Rebuilds each lab sink argument the way the lab does (docs/CONTRACTS.md L1-L13, approximated:
the real numbers come from the replay harness) and runs the detector the sink would
call, for every base attack payload and every generated benign request.

Run: ``.venv/bin/python -m tests.inprocess.detectors.corpus_check [--level L] [--strict]``
"""

from __future__ import annotations

import argparse
import json
import os
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from rampart.attacks.corpus import load_base_payloads, load_benign
from rampart.attacks.mutators import ENDPOINT_SPECS
from rampart.inprocess.context import UserInput, flatten
from rampart.inprocess.detectors import Detection, get

DNS = {
    "partner.lab.test": "203.0.113.10",
    "internal-api.lab.test": "10.20.0.7",
    "metadata.lab.test": "169.254.169.254",
    "localtest.lab.test": "127.0.0.1",
    "rebind.lab.test": "127.0.0.1",
    "db.internal.lab.test": "10.20.0.9",
}
NUMERIC = "SELECT id, item, qty FROM orders WHERE id = {}"
QUOTED = "SELECT id, item, qty FROM orders WHERE item LIKE '%{}%'"
PAGE = "<html><body><h1>Hello {}!</h1></body></html>"
JSON_BODY = frozenset({"L1", "L9", "L10", "L11"})
Judge = Callable[[str, Any, list[UserInput], argparse.Namespace], Detection | None]


def _resolve(url: str) -> str | None:
    return DNS.get((urlsplit(url).hostname or "").lower())


def _ssrf(text: str, value: Any, inputs: list[UserInput], opts: argparse.Namespace) -> Detection | None:
    found = get("ssrf")(text, inputs, resolved_ip=_resolve(text))
    target = dict(parse_qsl(urlsplit(text).query)).get("to")
    if found is None and target:
        found = get("ssrf")(target, inputs, resolved_ip=_resolve(target))
    return found


def _stored(text: str, value: Any, inputs: list[UserInput], opts: argparse.Namespace) -> Detection | None:
    marked = [i.value for i in inputs if isinstance(i.value, str) and "<" in i.value]
    return get("stored_xss")(PAGE.format(text), [text]) or get("stored_xss")(text, marked)


JUDGES: dict[str, Judge] = {
    "L1": lambda t, v, i, o: get("nosql")({"username": v["username"], "password": v["password"]}, i),
    "L2": lambda t, v, i, o: get("nosql")({"category": v["category"]}, i),
    "L3": lambda t, v, i, o: get("sql")(NUMERIC.format(t), i),
    "L4": lambda t, v, i, o: get("sql")(QUOTED.format(t), i),
    "L5": lambda t, v, i, o: get("shell")(["/bin/sh", "-c", f"sha256sum {t}"], i, shell=False),
    "L6": _ssrf,
    "L7": lambda t, v, i, o: get("path")(os.path.join("/srv/lab/docs", t), i),
    "L8": lambda t, v, i, o: get("xss")(PAGE.format(t), i),
    "L9": _stored,
    "L10": lambda t, v, i, o: get("prompt")(
        [{"role": "system", "content": "You are support. Secret: X"}, {"role": "user", "content": t}], i
    ),
    "L11": lambda t, v, i, o: get("template")(t, i, level=o.level),
    "L12": lambda t, v, i, o: get("code")(t, i, strict=o.strict),
    "L13": lambda t, v, i, o: get("deserialization")(t, i, kind="yaml"),
}


def judge(endpoint: str, param: str, fields: dict[str, Any], opts: argparse.Namespace) -> Detection | None:
    """Run the detector the lab's sink for ``endpoint`` would call."""
    inputs: list[UserInput] = []
    if endpoint in JSON_BODY:
        flatten("body", fields, inputs)
    elif endpoint == "L13":
        inputs.append(UserInput("body", fields[param]))
    else:
        for key, value in fields.items():
            flatten(f"query.{key}", value, inputs)
    value = fields[param]
    text = value if isinstance(value, str) else str(value)
    return JUDGES[endpoint](text, fields, inputs, opts)


def _benign_fields(case: Any) -> tuple[str, dict[str, Any]] | None:
    spec = ENDPOINT_SPECS[case.endpoint]
    request = case.request
    fields: dict[str, Any] = {}
    if request.body and (request.content_type or "").startswith("application/json"):
        fields = json.loads(request.body)
    elif request.body:
        fields = {spec.params[0]: request.body}
    fields.update(dict(request.query))
    param = next((p for p in spec.params if p in fields), None)
    return None if param is None else (param, fields)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="detectors vs the project corpus (offline)")
    parser.add_argument("--level", default="gadgets", help="template detector level for L11")
    parser.add_argument("--strict", action="store_true", help="code detector strict mode for L12")
    parser.add_argument("--show", action="store_true", help="list misses and false positives")
    opts = parser.parse_args(argv)
    caught: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for payload in load_base_payloads():
        fields = {**payload.fields, payload.param: payload.payload}
        total[payload.attack_class] += 1
        if judge(payload.endpoint, payload.param, fields, opts) is not None:
            caught[payload.attack_class] += 1
        elif opts.show:
            print(f"  miss {payload.id}: {payload.payload!r:.100}")
    print("attacks caught / base payloads")
    for cls in sorted(total):
        print(f"  {cls}: {caught[cls]}/{total[cls]}")
    flagged: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    for case in load_benign():
        got = _benign_fields(case)
        if got is None:
            continue
        param, fields = got
        seen[case.endpoint] += 1
        found = judge(case.endpoint, param, fields, opts)
        if found is not None:
            flagged[case.endpoint] += 1
            if opts.show:
                print(f"  flagged {case.id}: {fields[param]!r:.80} ({found.reason})")
    print("benign flagged / requests")
    for endpoint in sorted(seen, key=lambda e: int(e[1:])):
        print(f"  {endpoint}: {flagged[endpoint]}/{seen[endpoint]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
