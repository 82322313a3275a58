"""Assemble the lab's aiohttp application."""

from __future__ import annotations

from collections.abc import AsyncIterator

import jinja2
from aiohttp import web

from rampart.labapp.endpoints import ROUTES, add_routes
from rampart.labapp.oracle_routes import add_oracle_routes, lab_middleware
from rampart.labapp.state import STATE, LabState
from rampart.labapp.stores.mongo import open_mongo
from rampart.labapp.stores.sql import open_sql

__all__ = ["build_app"]

_PAGES = jinja2.Environment(autoescape=True)
_INDEX = _PAGES.from_string(
    """<!doctype html><html><head><title>Rampart Shop (vulnerable lab)</title></head><body>
<h1>Rampart Shop</h1><p><b>Vulnerable by design.</b> Never expose this lab.</p>
<ul>{% for method, path in routes %}<li><code>{{ method }} {{ path }}</code></li>{% endfor %}</ul>
</body></html>"""
)


async def index(request: web.Request) -> web.Response:
    routes = [(m, p) for m, p, _ in ROUTES]
    return web.Response(text=_INDEX.render(routes=routes), content_type="text/html")


async def _clients(app: web.Application) -> AsyncIterator[None]:
    """Open every client once, after the sink guard (if any) has patched the libraries."""
    import openai

    st = app[STATE]
    st.mongo = await open_mongo(st.mongo_uri, st.settings.mongo_driver, st.settings.mongo_db)
    try:
        await st.mongo.seed(st.secrets)
        st.sql = await open_sql(st.settings.database_url)
        await st.sql.seed(st.secrets)
        st.http = st.sandbox.open_session()
        st.llm = openai.AsyncOpenAI(
            base_url=st.llm_base_url, api_key="lab-not-a-real-key", max_retries=0, timeout=10.0
        )
        st.templates = jinja2.Environment()
        yield
    finally:
        if st.llm is not None:
            await st.llm.close()
        if st.http is not None:
            await st.http.close()
        if st.sql is not None:
            await st.sql.close()
        await st.mongo.close()


def build_app(state: LabState) -> web.Application:
    """The lab app; its clients open when the app starts (see :func:`_clients`)."""
    app = web.Application(middlewares=[lab_middleware], client_max_size=1024 * 1024)
    app[STATE] = state
    app.router.add_get("/", index)
    add_routes(app)
    add_oracle_routes(app)
    app.cleanup_ctx.append(_clients)
    return app
