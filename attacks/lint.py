"""Corpus lint: docs/CONTRACTS.md's safety rules checked on every case, base and expanded.

Rules (a registry, each a pure function of a case's decoded views):

- ``shell``: command payloads run only ``echo``, ``printf``, ``id``, ``whoami``, ``uname``,
  ``true``, ``cat`` of the lab canary (``secret.txt``) and ``sleep`` of at most one second.
  The payload is parsed as the lab's shell would see it (``sha256sum <payload>``): command
  and arithmetic substitutions are unpacked, quotes removed, separators split.
- ``python``: code payloads only compute strings: no ``os``, ``subprocess``, ``socket``,
  ``open``, ``eval``..., and ``__import__`` only of :data:`PY_MODULES`.
- ``template``: template payloads obey the ``python`` rule inside their delimiters.
- ``yaml``: Python tags in YAML payloads call only :data:`YAML_CALLABLES`.
- ``ssrf``: SSRF cases target only L6.
- ``hosts``: no case (benign ones included) names a real external host: URLs and host names
  must be lab names (``*.lab.test``), ``localhost``, reserved names (``.test``, ``.example``,
  ``.invalid``, ``.localhost``) or IP literals (which the lab sandbox maps to loopback).
- ``placement``: a case sits only where its endpoint reads input.

``python -m rampart.attacks.lint`` lints the whole corpus and exits 1 on any issue.
"""

from __future__ import annotations

import ast
import html
import json
import re
import shlex
import sys
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote

import yaml

from rampart.attacks.cases import Case, HttpRequest
from rampart.attacks.mutators import ENDPOINT_SPECS, wire_query

__all__ = [
    "PY_MODULES",
    "RULES",
    "SHELL_COMMANDS",
    "YAML_CALLABLES",
    "LintIssue",
    "check_host_names",
    "check_python",
    "check_shell",
    "check_template",
    "check_yaml",
    "lint_case",
    "lint_cases",
    "main",
    "views",
]


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


SHELL_COMMANDS = frozenset({"echo", "printf", "id", "whoami", "uname", "true", "cat", "sleep"})
SINK_PREFIX = "sha256sum "  # what L5 prepends; its own command is the only other one allowed
CANARY_NAME = "secret.txt"
MAX_SLEEP = 1.0
PY_MODULES = frozenset({"operator", "string", "math", "functools", "codecs", "base64", "binascii", "types"})
PY_FORBIDDEN = _words(
    "aiohttp asyncio breakpoint builtins_open call check_output chmod chown compile ctypes delattr"
    " environ eval exec execv execve exit file fork getenv globals http httpx import_module importlib"
    " input kill load_module locals makedirs marshal mkdir multiprocessing open os pickle Popen popen"
    " pty putenv quit read readlines remove rename replace_file requests rmdir rmtree run setattr"
    " shelve shutil signal socket spawn spawnv subprocess symlink sys system threading truncate unlink"
    " urllib write writelines"
)
YAML_CALLABLES = _words(
    "base64.b64decode binascii.unhexlify builtins.chr builtins.format builtins.repr builtins.str"
    " builtins.sum codecs.decode functools.reduce operator.add operator.concat operator.mod"
    " operator.mul types.SimpleNamespace"
)
YAML_MODULES = frozenset({"operator", "string", "math"})
_YAML_PLAIN_PYTHON = _words("bool bytes complex dict float int list long none str tuple unicode")
_FOREIGN_TAG_DENY = re.compile(
    r"Runtime|ProcessBuilder|ScriptEngine|ClassLoader|JNDI|JdbcRowSet|Process|exec|system|Kernel|"
    r"IO\.popen|"
    r"Gem::Installer|Gem::Requirement|ERB",
    re.IGNORECASE,
)
RESERVED_TLDS = frozenset({"test", "example", "invalid", "localhost"})
# TLDs that do not collide with common file extensions; any of them in prose is a real host.
REAL_TLDS = _words(
    "ai app au be biz br ca cc ch click cloud club cn co com cz de dev edu email es eu fr gg gov info"
    " int io jp link live ly mil net news ngrok nl online org pl pw ru se shop site space store tech"
    " tk top tv uk us website ws xxx xyz"
)


@dataclass(frozen=True, slots=True)
class LintIssue:
    case: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.case}: [{self.rule}] {self.message}"


# ------------------------------------------------------------------ decoding


def _full_decode(text: str) -> str:
    """Undo percent-encoding (any depth), ``%uXXXX`` and HTML character references."""
    for _ in range(4):
        nxt = re.sub(r"%u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)
        nxt = html.unescape(unquote(nxt))
        if nxt == text:
            break
        text = nxt
    return unicodedata.normalize("NFKC", text)


def _json_strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _json_strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _json_strings(v)


def _request_values(req: HttpRequest) -> list[str]:
    out = [unquote(req.path)]
    query = wire_query(req)
    if query:
        for k, v in parse_qsl(query, keep_blank_values=True):
            out.extend((k, v))
    out.extend(req.headers.values())
    out.extend(req.cookies.values())
    if req.body is not None:
        text = req.body
        if req.content_type in (None, "application/json", "text/plain"):
            try:
                out.extend(_json_strings(json.loads(text)))
                return out
            except ValueError:
                pass
        out.append(text)
    return out


def views(case: Case) -> list[str]:
    """What the sinks may see: every value as the app decodes it, and fully decoded again."""
    requests = [case.request, *case.setup] + ([case.follow_up] if case.follow_up else [])
    once = [v for r in requests for v in _request_values(r) if v]
    out: list[str] = []
    for v in once:
        out.append(v)
        full = _full_decode(v)
        if full != v:
            out.append(full)
    return out


def _payload_views(case: Case) -> list[str]:
    """The views of the request's own input values (not the follow-up page)."""
    out: list[str] = []
    for v in _request_values(case.request):
        if v and v != case.request.path:
            out.append(v)
            full = _full_decode(v)
            if full != v:
                out.append(full)
    return out


# ------------------------------------------------------------------ shell

_ARITH = re.compile(r"\$\(\((?:[^()]|\([^()]*\))*\)\)")
_IFS = re.compile(r"\$\{IFS\}|\$IFS\$9|\$IFS(?![A-Za-z0-9_])")
_EMPTY = re.compile(r"\$@|\$\*|\$\{@\}")
_ASSIGN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_SEPARATORS = frozenset({";", "&&", "||", "|", "&", "(", ")", ";;", "|&", "{", "}", "\n"})
_BRACE_EXPANSION = re.compile(r"^\{([^{}]*,[^{}]*)\}$")


def _substitutions(text: str) -> tuple[str, list[str]]:
    """Replace ``$(...)`` and backticks by a placeholder word; return the inner commands."""
    inner: list[str] = []
    out: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith("$(", i):
            depth, j = 1, i + 2
            while j < len(text) and depth:
                depth += {"(": 1, ")": -1}.get(text[j], 0)
                j += 1
            inner.append(text[i + 2 : j - 1])
            out.append(" __SUBST__ ")
            i = j
        elif text[i] == "`":
            j = text.find("`", i + 1)
            j = len(text) if j < 0 else j
            inner.append(text[i + 1 : j])
            out.append(" __SUBST__ ")
            i = j + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out), inner


def _tokens(text: str) -> list[str]:
    lex = shlex.shlex(text.replace("\r", " ").replace("\n", " ; "), posix=True, punctuation_chars=";&|()<>")
    lex.whitespace_split = True
    lex.commenters = "#"
    return list(lex)


def _is_canary(path: str) -> bool:
    return path.rstrip("/").rsplit("/", 1)[-1] == CANARY_NAME


def _check_command(words: list[str], first: bool) -> list[str]:
    while words and _ASSIGN.match(words[0]):
        words = words[1:]
    if not words:
        return []
    name, args = words[0], words[1:]
    if m := _BRACE_EXPANSION.match(name):
        parts = m.group(1).split(",")
        name, args = parts[0], parts[1:] + args
    if first and name == SINK_PREFIX.strip():
        return []
    if name not in SHELL_COMMANDS:
        return [f"runs {name!r}; commands are limited to {', '.join(sorted(SHELL_COMMANDS))}"]
    if name == "cat":
        files = [a for a in args if not a.startswith("-")]
        bad = [a for a in files if not _is_canary(a)]
        if bad:
            return [f"cat reads {bad[0]!r}; only the lab canary {CANARY_NAME} may be read"]
    if name == "sleep":
        for a in args:
            try:
                seconds = float(a.rstrip("s"))
            except ValueError:
                return [f"sleep {a!r} is not a plain number of seconds"]
            if seconds > MAX_SLEEP:
                return [f"sleep {a} exceeds {MAX_SLEEP:g} second"]
    return []


def check_shell(payload: str, *, prefix: str = SINK_PREFIX, _depth: int = 0) -> list[str]:
    """Problems with a shell payload as the L5 sink runs it (``prefix`` + payload)."""
    if _depth > 4:
        return ["command substitutions nested too deep"]
    text = _EMPTY.sub("", _IFS.sub(" ", prefix + payload))
    text = _ARITH.sub("0", text)
    text, inner = _substitutions(text)
    problems: list[str] = []
    for sub in inner:
        problems += check_shell(sub, prefix="", _depth=_depth + 1)
    try:
        tokens = _tokens(text)
    except ValueError as exc:
        return [*problems, f"cannot be parsed as shell ({exc}); simplify the quoting"]
    words: list[str] = []
    first = bool(prefix)
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok in _SEPARATORS or set(tok) <= set(";&|()"):
            problems += _check_command(words, first)
            words, first = [], False
        elif set(tok) <= set("<>&") and tok:
            target = tokens[i + 1] if i + 1 < len(tokens) else ""
            if tok.startswith(">") or tok.endswith(">"):
                if target not in ("/dev/null", "&1", "&2") and not target.isdigit():
                    problems.append(f"redirects output to {target!r}; only /dev/null and 2>&1 are allowed")
            elif tok == "<" and not _is_canary(target):
                problems.append(f"reads {target!r} as input; only the lab canary may be read")
            i += 1
        elif tok.isdigit() and i + 1 < len(tokens) and set(tokens[i + 1]) <= set("<>&"):
            pass
        elif tok == "__SUBST__" and not words:
            problems.append("a computed command name ($(...) in command position) cannot be checked")
        else:
            words.append(tok)
        i += 1
    problems += _check_command(words, first)
    return problems


# ------------------------------------------------------------------ python / templates

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_IMPORT_ARG = re.compile(r"""__import__\s*\(\s*(['"])(?P<mod>[^'"]*)\1""")


def _forbidden_words(text: str) -> list[str]:
    return sorted({w for w in _IDENT.findall(text) if w in PY_FORBIDDEN})


def _strings(node: ast.AST) -> Iterator[str]:
    """String constants, and the folded value of ``'a' + 'b'`` chains."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str | bytes):
            yield sub.value if isinstance(sub.value, str) else sub.value.decode("latin-1")
        elif isinstance(sub, ast.BinOp) and isinstance(sub.op, ast.Add):
            folded = _fold(sub)
            if folded is not None:
                yield folded


def _fold(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "chr"
        and len(node.args) == 1
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, int)
    ):
        return chr(node.args[0].value)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _fold(node.left), _fold(node.right)
        if left is not None and right is not None:
            return left + right
    return None


def check_python(expr: str) -> list[str]:
    """Problems with a Python expression payload (string computation only)."""
    text = unicodedata.normalize("NFKC", expr)
    problems: list[str] = []
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        tree = None
    if tree is None:
        problems += [f"uses {w!r}" for w in _forbidden_words(text)]
        for m in _IMPORT_ARG.finditer(text):
            if m.group("mod") not in PY_MODULES:
                problems.append(
                    f"imports {m.group('mod')!r}; allowed modules: {', '.join(sorted(PY_MODULES))}"
                )
        return problems
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in PY_FORBIDDEN:
            problems.append(f"uses {node.id!r}")
        elif isinstance(node, ast.Attribute) and node.attr in PY_FORBIDDEN:
            problems.append(f"uses attribute {node.attr!r}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "__import__":
            arg = node.args[0] if node.args else None
            mod = _fold(arg) if arg is not None else None
            if mod not in PY_MODULES:
                problems.append(
                    f"imports {mod if mod is not None else 'a computed name'!r}; allowed modules: "
                    f"{', '.join(sorted(PY_MODULES))}"
                )
    for s in _strings(tree):
        problems += [f"names {w!r} in a string" for w in _forbidden_words(s)]
    return sorted(set(problems))


_TEMPLATE_CODE = re.compile(r"\{\{(.*?)\}\}|\{%(.*?)%\}|\$\{(.*?)\}|<%=?(.*?)%>|\{([^{}]*)\}", re.DOTALL)


def check_template(template: str) -> list[str]:
    """Problems inside a template's code blocks (Jinja, and other engines' syntax)."""
    problems: list[str] = []
    for m in _TEMPLATE_CODE.finditer(unicodedata.normalize("NFKC", template)):
        code = next(g for g in m.groups() if g is not None)
        problems += [f"uses {w!r}" for w in _forbidden_words(code)]
        if re.search(r"\bimport\b", code) and "__import__" not in code:
            problems.append("uses an import statement")
        for im in _IMPORT_ARG.finditer(code):
            if im.group("mod") not in PY_MODULES:
                problems.append(f"imports {im.group('mod')!r}")
    return sorted(set(problems))


# ------------------------------------------------------------------ yaml

_YAML_STD = "tag:yaml.org,2002:"
_YAML_STD_TYPES = _words("binary bool float int map merge null omap pairs seq set str timestamp value")
_PY_TAG = _YAML_STD + "python/"
_PY_TAG_TEXT = re.compile(r"python/(object/apply|object/new|object|name|module):([\w.]+)")


def _yaml_tags(text: str) -> list[str] | None:
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError:
        return None
    tags: list[str] = []
    stack: list[yaml.Node] = [n for n in nodes if n is not None]
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        tags.append(node.tag)
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                stack.extend((k, v))
    return tags


def _check_python_tag(kind: str, name: str) -> list[str]:
    if kind == "module":
        return (
            []
            if name in YAML_MODULES
            else [f"loads module {name!r}; allowed: {', '.join(sorted(YAML_MODULES))}"]
        )
    if name in YAML_CALLABLES:
        return []
    return [f"python/{kind}:{name} is not allowed; allowed callables: {', '.join(sorted(YAML_CALLABLES))}"]


def check_yaml(text: str) -> list[str]:
    """Problems with the Python tags of a YAML payload (only harmless callables)."""
    problems: list[str] = []
    tags = _yaml_tags(text)
    if tags is None:
        for m in _PY_TAG_TEXT.finditer(text):
            problems += _check_python_tag(m.group(1), m.group(2))
        return problems
    for tag in tags:
        if tag.startswith(_PY_TAG):
            rest = tag[len(_PY_TAG) :]
            if rest in _YAML_PLAIN_PYTHON:
                continue
            kind, _, name = rest.partition(":")
            problems += _check_python_tag(kind, name)
        elif tag.removeprefix(_YAML_STD) not in _YAML_STD_TYPES and _FOREIGN_TAG_DENY.search(tag):
            problems.append(f"tag {tag!r} names a code-running gadget")
    return sorted(set(problems))


# ------------------------------------------------------------------ hosts

_HOST_TOKEN = re.compile(
    r"(?<![\w.-])((?:[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?\.)+([a-z][a-z0-9-]{0,62}))\.?(?![\w-])",
    re.IGNORECASE,
)
_URL_HOST = re.compile(
    r"[a-z][a-z0-9+.-]+:[/\\]{1,3}(?:[^\s/?#@\\]*@)?(?P<host>\[[^\]\s]*\]|[^\s/?#:\\@]+)", re.IGNORECASE
)


def _allowed_host(host: str) -> bool:
    name = host.strip("[]").rstrip(".").lower()
    if not name or name == "localhost" or name.endswith(".localhost"):
        return True
    if name == "lab.test" or name.endswith(".lab.test"):
        return True
    if all(c in "0123456789abcdefx.:" for c in name) and not re.search(r"[g-wyz]", name):
        return True  # IP literals in any notation (decimal, octal, hex, IPv6)
    return name.rsplit(".", 1)[-1] in RESERVED_TLDS


_TAG_URI = re.compile(r"tag:yaml\.org,\d{4}:")


def check_host_names(text: str) -> list[str]:
    """Real external host names in ``text`` (URL hosts and bare names under real TLDs)."""
    problems: set[str] = set()
    text = _TAG_URI.sub("tag:", text)
    for m in _URL_HOST.finditer(text):
        host = m.group("host")
        if not _allowed_host(host):
            problems.add(f"targets external host {host!r}; use a *.lab.test name or an IP literal")
    for m in _HOST_TOKEN.finditer(text):
        if m.group(2).lower() in REAL_TLDS and not _allowed_host(m.group(1)):
            problems.add(f"names external host {m.group(1)!r}; use *.lab.test or a .example name")
    return sorted(problems)


# ------------------------------------------------------------------ rules

Rule = Callable[[Case], Iterable[str]]
RULES: dict[str, Rule] = {}


def _rule(name: str) -> Callable[[Rule], Rule]:
    def deco(fn: Rule) -> Rule:
        RULES[name] = fn
        return fn

    return deco


def _per_value(case: Case, cls: str, check: Callable[[str], list[str]]) -> list[str]:
    if case.label != "attack" or case.attack_class != cls:
        return []
    out: list[str] = []
    for value in _payload_views(case):
        out += check(value)
    return sorted(set(out))


@_rule("shell")
def _shell(case: Case) -> list[str]:
    return _per_value(case, "command_injection", check_shell)


@_rule("python")
def _python(case: Case) -> list[str]:
    return _per_value(case, "code_injection", check_python)


@_rule("template")
def _template(case: Case) -> list[str]:
    return _per_value(case, "ssti", check_template)


@_rule("yaml")
def _yaml(case: Case) -> list[str]:
    return _per_value(case, "deserialization", check_yaml)


@_rule("ssrf")
def _ssrf(case: Case) -> list[str]:
    if case.attack_class == "ssrf" and case.endpoint != "L6":
        return [f"SSRF cases must target the sandboxed preview endpoint L6, not {case.endpoint}"]
    return []


@_rule("hosts")
def _hosts(case: Case) -> list[str]:
    out: set[str] = set()
    for value in views(case):
        out.update(check_host_names(value))
    return sorted(out)


@_rule("placement")
def _placement(case: Case) -> list[str]:
    spec = ENDPOINT_SPECS.get(case.endpoint)
    if spec is None or case.placement in spec.placements:
        return []
    reads = ", ".join(spec.placements)
    return [f"{case.endpoint} does not read input through {case.placement!r}; it reads {reads}"]


def lint_case(case: Case) -> list[LintIssue]:
    """Every rule's complaints about one case."""
    return [LintIssue(case.id, name, msg) for name, rule in RULES.items() for msg in rule(case)]


def lint_cases(cases: Iterable[Case]) -> list[LintIssue]:
    return [issue for case in cases for issue in lint_case(case)]


def main(argv: list[str] | None = None) -> int:
    """Lint the whole corpus; print the issues; exit 1 if there are any."""
    from rampart.attacks.corpus import load_cases

    cases = load_cases()
    issues = lint_cases(cases)
    for issue in issues:
        print(issue)
    print(f"{len(cases)} cases, {len(issues)} issues", file=sys.stderr)
    return 1 if issues else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
