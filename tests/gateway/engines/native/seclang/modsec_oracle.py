"""libmodsecurity as an oracle: what a transformation produces, which operators match.

A value goes in as a ``text/plain`` request body (so every byte reaches ``REQUEST_BODY``
unchanged); rules on ``REQUEST_BODY`` report through their messages. Transformation output
comes back hex-encoded (``t:hexEncode`` last, ``logdata:%{TX.1}``), so any byte survives.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

from libmodsecurity import ModSecurity, RulesSet, Transaction

_BASE = "SecRuleEngine On\nSecRequestBodyAccess On\nSecRequestBodyLimit 1048576\n"


def _discard(_line: str) -> None:
    """The server log is not needed: matches are read from the rule messages."""


def rule_operator(operator: str) -> str:
    """``operator`` (``@name argument``, one character per byte as the engine gets it) quoted as
    a SecRule operator; the binding wants text, so the bytes are read back as UTF-8."""
    text = operator.encode("latin-1", "replace").decode("utf-8", "replace")
    return '"' + text.replace('"', '\\"') + '"'


class ModSecOracle:
    """One libmodsecurity instance; rule sets are built once per distinct rule list."""

    def __init__(self) -> None:
        self._modsec = ModSecurity()
        self._modsec.set_log_callback(_discard)
        self._sets: dict[tuple[str, ...], RulesSet] = {}

    def _rules(self, key: tuple[str, ...], text: str) -> RulesSet:
        rules = self._sets.get(key)
        if rules is None:
            rules = RulesSet()
            if rules.load(_BASE + text) < 0:
                raise ValueError(rules.get_parser_error())
            self._sets[key] = rules
        return rules

    def _run(self, rules: RulesSet, body: bytes) -> list[tuple[int, str]]:
        tx = Transaction(self._modsec, rules, None)
        tx.process_connection("127.0.0.1", 40000, "127.0.0.1", 80)
        tx.process_uri("/oracle", "POST", "1.1")
        tx.add_request_header("Host", "127.0.0.1")
        tx.add_request_header("Content-Type", "text/plain")
        tx.add_request_header("Content-Length", str(len(body)))
        tx.process_request_headers()
        tx.append_request_body(body)
        tx.process_request_body()
        return [(m.rule_id, m.data) for m in tx.get_rule_messages()]

    def transform(self, names: Sequence[str], body: bytes) -> dict[str, bytes]:
        """Each transformation in ``names`` applied alone to ``body``, by libmodsecurity."""
        key = ("t", *names)
        text = "".join(
            f'SecRule REQUEST_BODY "@rx ^(.*)$" "id:{i},phase:2,t:none,t:{name},t:hexEncode,'
            f'capture,log,pass,logdata:%{{TX.1}}"\n'
            for i, name in enumerate(names, start=1)
        )
        rules = self._rules(key, text)
        return {names[rule_id - 1]: bytes.fromhex(data) for rule_id, data in self._run(rules, body)}

    def matching(self, operators: Sequence[str], body: bytes) -> set[int]:
        """Indexes of the ``operators`` (``@name argument``) that match ``body`` (no transformation)."""
        key = ("o", *operators)
        text = "".join(
            f'SecRule REQUEST_BODY {rule_operator(op)} "id:{i},phase:2,t:none,log,pass"\n'
            for i, op in enumerate(operators, start=1)
        )
        rules = self._rules(key, text)
        return {rule_id - 1 for rule_id, _ in self._run(rules, body)}

    def fired(self, rules: str, body: bytes) -> set[int]:
        """The ids of the logging rules of ``rules`` (SecLang text) that fire on a ``text/plain``
        POST to ``/oracle`` with ``body``."""
        return {rule_id for rule_id, _ in self._run(self._rules(("r", rules), rules), body)}

    @cached_property
    def version(self) -> str:
        return self._modsec.who_am_i()
