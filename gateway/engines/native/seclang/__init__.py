"""OWASP CRS's rule language (SecLang) on rampart's executor. Its hot modules may load
compiled (:mod:`rampart.accel`): the package then searches its ``_compiled/`` folder first."""

from rampart.accel import extend

__path__ = extend(__path__, __name__)
