"""The native engine's wing: rampart's YAML rule engine (:mod:`.engine`) and the SecLang engine
(:mod:`.seclang`) that runs OWASP CRS, with the parsing, rule sets, exclusions, operators and
transformations that only they use."""

from rampart.accel import extend

__path__ = extend(__path__, __name__)  # compiled modules first, when current (rampart.accel)
