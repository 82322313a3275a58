"""Read and validate the corpus files; errors name the file, the line, the case and the fix."""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from rampart.attacks.cases import Case
from rampart.attacks.corpus.expand import fingerprint
from rampart.attacks.corpus.schema import BaseFile, BasePayload, BenignFile, BenignGenerator
from rampart.attacks.mutators import ENDPOINT_SPECS, get_placement

__all__ = [
    "BASE_DIR",
    "BENIGN_DIR",
    "DATA_DIR",
    "CorpusError",
    "generate_benign",
    "read_base_file",
    "read_benign_file",
    "read_yaml",
]

DATA_DIR = Path(__file__).resolve().parent / "data"
BASE_DIR = DATA_DIR / "base"
BENIGN_DIR = DATA_DIR / "benign"
SHARED_VOCAB = "_vocab.yaml"
LINE_KEY = "__line__"
_SLOT = re.compile(r"@@([A-Za-z_][A-Za-z0-9_]*|int:\d+-\d+)@@")

_FIXES: dict[str, str] = {
    "string_type": "write a quoted string",
    "int_type": "write a whole number",
    "bool_type": "write true or false",
    "list_type": "write a YAML list",
    "dict_type": "write a YAML mapping",
    "literal_error": "use one of the allowed values shown",
    "string_pattern_mismatch": "use lower-case letters, digits and '-'",
    "greater_than_equal": "raise the number",
    "less_than_equal": "lower the number",
}


class CorpusError(ValueError):
    """A corpus file that cannot be used, with where and how to fix it."""

    def __init__(self, path: Path | str, message: str, *, line: int | None = None, case: str | None = None):
        self.path = Path(path)
        self.line = line
        self.case = case
        where = f"{self.path}:{line}" if line is not None else f"{self.path}"
        who = f" case {case!r}:" if case else ""
        super().__init__(f"{where}:{who} {message}")


class _LineLoader(yaml.CSafeLoader if hasattr(yaml, "CSafeLoader") else yaml.SafeLoader):  # type: ignore[misc]
    """Safe loader that records each mapping's 1-based line under ``__line__``."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    mapping = loader.construct_mapping(node, deep=True)
    mapping[LINE_KEY] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml(path: Path) -> Any:
    """Parse ``path`` with line numbers; a syntax error becomes a :class:`CorpusError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CorpusError(path, f"cannot read the file ({exc.strerror}); check the path") from None
    try:
        return yaml.load(text, Loader=_LineLoader)  # noqa: S506  (a safe loader subclass)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise CorpusError(path, f"YAML syntax error: {problem}; fix the YAML there", line=line) from None


def _strip_lines(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_lines(v) for k, v in value.items() if k != LINE_KEY}
    if isinstance(value, list):
        return [_strip_lines(v) for v in value]
    return value


def _explain(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"]
        if err["type"] == "value_error":
            # our own validators already say what to do
            text = msg.removeprefix("Value error, ")
            parts.append(f"{loc}: {text}" if loc else text)
            continue
        if err["type"] == "missing":
            fix = f"add the key {loc!r}"
        elif err["type"] == "extra_forbidden":
            fix = f"remove {loc!r} or fix its spelling"
        else:
            fix = _FIXES.get(err["type"], "correct the value")
        parts.append(f"{loc or '(top level)'}: {msg} (fix: {fix})")
    return "; ".join(parts)


def _file_level(path: Path, raw: Any, keys: Sequence[str]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise CorpusError(
            path,
            f"the file must be a mapping with keys {', '.join(keys)}; it holds {type(raw).__name__}",
            line=1,
        )
    return raw


def read_base_file(path: Path) -> list[BasePayload]:
    """Validate one ``<class>.yaml`` file of base payloads."""
    raw = _file_level(path, read_yaml(path), ("class", "provenance", "payloads"))
    try:
        head = BaseFile.model_validate(
            _strip_lines({k: v for k, v in raw.items() if k != "payloads"}) | {"payloads": []}
        )
    except ValidationError as exc:
        raise CorpusError(path, _explain(exc), line=raw.get(LINE_KEY)) from None
    if path.stem != head.attack_class:
        raise CorpusError(
            path,
            f"the file declares class {head.attack_class!r}; rename the file to "
            f"{head.attack_class}.yaml or fix 'class'",
            line=raw.get(LINE_KEY),
        )
    items = raw.get("payloads")
    if not isinstance(items, list) or not items:
        raise CorpusError(
            path, "'payloads' must be a non-empty list of payload mappings", line=raw.get(LINE_KEY)
        )
    out: list[BasePayload] = []
    seen: dict[str, int | None] = {}
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise CorpusError(path, f"payloads[{i}] must be a mapping (id, endpoint, param, payload, expect)")
        line = item.get(LINE_KEY)
        case = item.get("id") if isinstance(item.get("id"), str) else f"payloads[{i}]"
        data = (
            {"class": head.attack_class, "provenance": head.provenance} | _strip_lines(item) | {"line": line}
        )
        try:
            base = BasePayload.model_validate(data)
        except ValidationError as exc:
            raise CorpusError(path, _explain(exc), line=line, case=case) from None
        if base.id in seen:
            raise CorpusError(
                path,
                f"duplicate id (first at line {seen[base.id]}); give each payload its own id",
                line=line,
                case=base.id,
            )
        seen[base.id] = line
        out.append(base)
    return out


def read_benign_file(
    path: Path, shared_vocab: dict[str, list[str]]
) -> tuple[BenignFile, list[BenignGenerator]]:
    """Validate one ``<endpoint>.yaml`` benign file and its generators."""
    raw = _file_level(path, read_yaml(path), ("endpoint", "vocab", "generators"))
    try:
        head = BenignFile.model_validate(_strip_lines(raw))
    except ValidationError as exc:
        raise CorpusError(path, _explain(exc), line=raw.get(LINE_KEY)) from None
    vocab = shared_vocab | head.vocab
    spec = ENDPOINT_SPECS[head.endpoint]
    gens: list[BenignGenerator] = []
    names: set[str] = set()
    for i, item in enumerate(raw["generators"]):
        line = item.get(LINE_KEY) if isinstance(item, dict) else None
        case = item.get("name") if isinstance(item, dict) else f"generators[{i}]"
        try:
            gen = BenignGenerator.model_validate(_strip_lines(item) | {"line": line})
        except ValidationError as exc:
            raise CorpusError(path, _explain(exc), line=line, case=case) from None
        if gen.name in names:
            raise CorpusError(path, "duplicate generator name; rename one", line=line, case=gen.name)
        names.add(gen.name)
        for field, template in gen.fields.items():
            if field not in spec.params:
                raise CorpusError(
                    path,
                    f"field {field!r} is not read by {head.endpoint}; it reads {', '.join(spec.params)}",
                    line=line,
                    case=gen.name,
                )
            for slot in _SLOT.findall(template):
                if not slot.startswith("int:") and slot not in vocab:
                    raise CorpusError(
                        path,
                        f"template slot @@{slot}@@ has no word list; add '{slot}' "
                        f"under vocab (or to {SHARED_VOCAB})",
                        line=line,
                        case=gen.name,
                    )
        gens.append(gen)
    return head.model_copy(update={"vocab": vocab}), gens


def _fill(template: str, vocab: dict[str, list[str]], rng: random.Random) -> str:
    def one(m: re.Match[str]) -> str:
        slot = m.group(1)
        if slot.startswith("int:"):
            lo, hi = (int(x) for x in slot[4:].split("-"))
            return str(rng.randint(lo, hi))
        return rng.choice(vocab[slot])

    for _ in range(4):  # word lists may hold slots of their own
        if "@@" not in template:
            break
        template = _SLOT.sub(one, template)
    return template


def generate_benign(
    path: Path,
    head: BenignFile,
    gens: Iterable[BenignGenerator],
    *,
    seed: int,
    seen: set[tuple[Any, ...]],
) -> list[Case]:
    """Fill each generator's templates until it has ``count`` distinct requests."""
    spec = ENDPOINT_SPECS[head.endpoint]
    place = get_placement(spec.placements[0])
    out: list[Case] = []
    for gen in gens:
        rng = random.Random(f"{seed}:{head.endpoint}:{gen.name}")
        made = 0
        for _attempt in range(gen.count * 30):
            if made == gen.count:
                break
            values = {k: _fill(t, head.vocab, rng) for k, t in gen.fields.items()}
            param = next(p for p in spec.params if p in values)
            fields = {k: v for k, v in values.items() if k != param}
            request = place.build(spec, param, values[param], fields, {})
            key = fingerprint(request)
            if key in seen:
                continue
            seen.add(key)
            made += 1
            out.append(
                Case.model_validate(
                    {
                        "id": f"benign.{head.endpoint.lower()}.{gen.name}.{made:03d}",
                        "label": "benign",
                        "endpoint": head.endpoint,
                        "request": request,
                        "placement": place.name,
                        "hard": gen.hard,
                        "provenance": "rampart benign templates",
                        "tags": ["hard"] if gen.hard else [],
                        "notes": gen.notes,
                    }
                )
            )
        if made < gen.count:
            raise CorpusError(
                path,
                f"only {made} distinct requests out of {gen.count}; add words to its lists or lower 'count'",
                line=gen.line,
                case=gen.name,
            )
    return out
