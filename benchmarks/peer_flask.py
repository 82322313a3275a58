"""The peer-style Flask app: every :class:`~benchmarks.peer_sinks.Sinks` operation behind a
route, the way a small Flask service would expose it (query parameters, JSON and text
bodies). ``create_app(sinks)``; the routes are listed in :data:`ROUTES`."""

from __future__ import annotations

from typing import Any

import flask

from benchmarks.peer_sinks import Sinks

__all__ = ["ROUTES", "create_app"]

ROUTES = (
    "/sql",
    "/pg",
    "/mongo/login",
    "/shell",
    "/file",
    "/fetch",
    "/fetch-httpx",
    "/greet",
    "/calc",
    "/yaml",
    "/pickle",
    "/log",
    "/model",
    "/page",
)


def create_app(sinks: Sinks) -> flask.Flask:
    app = flask.Flask("peer_flask")

    def arg(name: str) -> str:
        return flask.request.args.get(name, "")

    @app.errorhandler(LookupError)
    def unavailable(exc: LookupError) -> Any:
        return flask.jsonify(error=str(exc)), 503

    @app.get("/sql")
    def sql() -> Any:
        return flask.jsonify(rows=sinks.sql(arg("name")))

    @app.get("/pg")
    def pg() -> Any:
        return flask.jsonify(rows=sinks.pg(arg("name")))

    @app.post("/mongo/login")
    def mongo_login() -> Any:
        body = flask.request.get_json(force=True, silent=True) or {}
        return flask.jsonify(ok=sinks.mongo_login(body.get("username"), body.get("password")))

    @app.get("/shell")
    def shell() -> Any:
        return flask.jsonify(out=sinks.shell(arg("host")))

    @app.get("/file")
    def file() -> Any:
        return flask.jsonify(text=sinks.read_file(arg("name")))

    @app.get("/fetch")
    def fetch() -> Any:
        return flask.jsonify(body=sinks.fetch(arg("url")))

    @app.get("/fetch-httpx")
    def fetch_httpx() -> Any:
        return flask.jsonify(body=sinks.fetch_httpx(arg("url")))

    @app.get("/greet")
    def greet() -> Any:
        return sinks.greet(arg("name"))

    @app.get("/calc")
    def calc() -> Any:
        return flask.jsonify(result=sinks.calc(arg("expr")))

    @app.post("/yaml")
    def yaml_load() -> Any:
        return flask.jsonify(value=sinks.yaml_load(flask.request.get_data(as_text=True)))

    @app.post("/pickle")
    def unpickle() -> Any:
        return flask.jsonify(value=sinks.unpickle(flask.request.get_data(as_text=True)))

    @app.get("/log")
    def log_failure() -> Any:
        return flask.jsonify(result=sinks.log_failure(arg("count")))

    @app.get("/model")
    def model() -> Any:
        return flask.jsonify(sinks.build_model(arg("field"), arg("value")))

    @app.get("/page")
    def page() -> Any:
        return sinks.page(arg("title"), flask.request.args.getlist("item"))

    return app
