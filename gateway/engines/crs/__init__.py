"""The ``crs`` engine's wing: OWASP CRS through libmodsecurity.

``engine`` (the engine), ``config`` (which CRS files load, in which order, and the SecLang
rampart adds), ``mapping`` (libmodsecurity messages as rule matches) and ``pool`` (inspection
in worker processes, built from an engine factory). Only ``engine`` and ``pool`` load
libmodsecurity, so ``config`` and ``mapping`` serve the ``seclang`` engine too.
"""
