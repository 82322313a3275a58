"""The peer-style Starlette app: the same routes as :mod:`benchmarks.peer_flask`; blocking
operations run in plain ``def`` endpoints (Starlette's thread pool), outbound ``httpx`` calls
in an ``async`` endpoint."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from benchmarks.peer_sinks import Sinks

__all__ = ["create_app"]


def create_app(sinks: Sinks) -> Starlette:
    def arg(request: Request, name: str) -> str:
        return request.query_params.get(name, "")

    def sql(request: Request) -> Response:
        return JSONResponse({"rows": sinks.sql(arg(request, "name"))})

    def pg(request: Request) -> Response:
        return JSONResponse({"rows": sinks.pg(arg(request, "name"))})

    async def mongo_login(request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        from starlette.concurrency import run_in_threadpool

        ok = await run_in_threadpool(sinks.mongo_login, body.get("username"), body.get("password"))
        return JSONResponse({"ok": ok})

    def shell(request: Request) -> Response:
        return JSONResponse({"out": sinks.shell(arg(request, "host"))})

    def file(request: Request) -> Response:
        return JSONResponse({"text": sinks.read_file(arg(request, "name"))})

    def fetch(request: Request) -> Response:
        return JSONResponse({"body": sinks.fetch(arg(request, "url"))})

    async def fetch_httpx(request: Request) -> Response:
        return JSONResponse({"body": await sinks.fetch_httpx_async(arg(request, "url"))})

    def greet(request: Request) -> Response:
        return HTMLResponse(sinks.greet(arg(request, "name")))

    def calc(request: Request) -> Response:
        return JSONResponse({"result": sinks.calc(arg(request, "expr"))})

    async def yaml_load(request: Request) -> Response:
        text = (await request.body()).decode("utf-8", "replace")
        return JSONResponse({"value": sinks.yaml_load(text)})

    async def unpickle(request: Request) -> Response:
        text = (await request.body()).decode("utf-8", "replace")
        return JSONResponse({"value": sinks.unpickle(text)})

    def log_failure(request: Request) -> Response:
        return JSONResponse({"result": sinks.log_failure(arg(request, "count"))})

    def model(request: Request) -> Response:
        return JSONResponse(sinks.build_model(arg(request, "field"), arg(request, "value")))

    def page(request: Request) -> Response:
        return HTMLResponse(sinks.page(arg(request, "title"), request.query_params.getlist("item")))

    async def unavailable(request: Request, exc: Exception) -> Response:
        return JSONResponse({"error": str(exc)}, status_code=503)

    routes = [
        Route("/sql", sql),
        Route("/pg", pg),
        Route("/mongo/login", mongo_login, methods=["POST"]),
        Route("/shell", shell),
        Route("/file", file),
        Route("/fetch", fetch),
        Route("/fetch-httpx", fetch_httpx),
        Route("/greet", greet),
        Route("/calc", calc),
        Route("/yaml", yaml_load, methods=["POST"]),
        Route("/pickle", unpickle, methods=["POST"]),
        Route("/log", log_failure),
        Route("/model", model),
        Route("/page", page),
    ]
    return Starlette(routes=routes, exception_handlers={LookupError: unavailable})
