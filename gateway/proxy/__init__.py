"""The reverse proxy: header rewriting, engine runs, the handler, WebSocket relay, pages."""

from rampart.gateway.proxy.handler import Gateway, ProxyHandler

__all__ = ["Gateway", "ProxyHandler"]
