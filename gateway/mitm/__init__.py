"""The mitmproxy addon (``mitmdump -s gateway/mitm/addon.py``): flow to request, Outcome to response."""
