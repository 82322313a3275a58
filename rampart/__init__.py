"""rampart: measure what a perimeter WAF and in-process runtime protection each catch."""

__version__ = "0.1.0"
