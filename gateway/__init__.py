"""The perimeter layer: a reverse proxy with a native rule engine and the OWASP CRS engine."""
