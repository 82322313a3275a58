"""MongoDB for the lab through a real driver: pymongo's ``AsyncMongoClient`` or motor.

The lab calls ``find_one``/``find`` on the collections returned here with filters built
from client values as-is; a sink guard that patches either driver sees those calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import re
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rampart.labapp import seed
from rampart.labapp.canaries import LabSecrets
from rampart.labapp.settings import MongoDriver

__all__ = ["EmbeddedMongo", "Mongo", "open_mongo"]


def _pymongo(uri: str) -> Any:
    from pymongo import AsyncMongoClient

    return AsyncMongoClient(uri, directConnection=True, serverSelectionTimeoutMS=5000, tz_aware=False)


def _motor(uri: str) -> Any:
    from motor.motor_asyncio import AsyncIOMotorClient

    return AsyncIOMotorClient(uri, directConnection=True, serverSelectionTimeoutMS=5000)


_DRIVERS: dict[str, Callable[[str], Any]] = {"pymongo": _pymongo, "motor": _motor}


@dataclass
class Mongo:
    """An open client and the lab database (``users``, ``products``, ``comments``)."""

    client: Any
    db: Any
    driver: MongoDriver

    @property
    def users(self) -> Any:
        return self.db["users"]

    @property
    def products(self) -> Any:
        return self.db["products"]

    @property
    def comments(self) -> Any:
        return self.db["comments"]

    async def seed(self, secrets: LabSecrets) -> None:
        """Drop and refill the lab collections (idempotent across starts)."""
        for name in ("users", "products", "comments"):
            await self.db[name].drop()
        await self.users.insert_many(seed.users(secrets))
        await self.products.insert_many(seed.products(secrets))

    async def close(self) -> None:
        result = self.client.close()
        if result is not None:
            await result


async def open_mongo(uri: str, driver: MongoDriver, db_name: str) -> Mongo:
    try:
        factory = _DRIVERS[driver]
    except KeyError:
        raise ValueError(f"unknown Mongo driver {driver!r}; use one of {', '.join(_DRIVERS)}") from None
    client = factory(uri)
    return Mongo(client, client[db_name], driver)


_LISTENING = re.compile(r"secantus listening on (?P<host>[\w.:]+):(?P<port>\d+)")


class EmbeddedMongo:
    """SecantusDB as a child process on 127.0.0.1 (port 0), used when no ``MONGODB_URL`` is
    set. A separate process keeps the database's threads off the lab's GIL, so the lab and
    its database use both cores under load."""

    def __init__(self, storage: Path | None = None, *, throwaway: bool = False) -> None:
        self.throwaway = throwaway or storage is None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if storage is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="rampart-lab-mongo-")
            storage = Path(self._tmp.name)
        self.storage = storage
        self._proc: asyncio.subprocess.Process | None = None
        self._drain: asyncio.Task[None] | None = None
        self.uri = ""

    async def start(self, timeout: float = 30.0) -> None:
        if importlib.util.find_spec("secantus") is None:
            raise RuntimeError(
                "the lab's embedded MongoDB (SecantusDB, GPL-2.0) is not installed: "
                "pip install 'rampart[lab]', or point the lab at a MongoDB with MONGODB_URL"
            )
        self.storage.mkdir(parents=True, exist_ok=True)
        config = self.storage / "secantusd.toml"
        config.write_text("")
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "secantus",
            "--config",
            str(config),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--storage-path",
            str(self.storage / "db"),
            "--standalone",
            "--log-level",
            "INFO",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        assert self._proc.stderr is not None
        seen: list[str] = []
        try:
            async with asyncio.timeout(timeout):
                while True:
                    raw = await self._proc.stderr.readline()
                    if not raw:
                        raise RuntimeError("SecantusDB exited before listening:\n" + "\n".join(seen[-20:]))
                    line = raw.decode("utf-8", "replace").rstrip()
                    seen.append(line)
                    if m := _LISTENING.search(line):
                        self.uri = f"mongodb://127.0.0.1:{m.group('port')}/"
                        break
        except BaseException:
            await self.stop()
            raise
        self._drain = asyncio.create_task(self._discard(self._proc.stderr))

    @staticmethod
    async def _discard(stream: asyncio.StreamReader) -> None:
        while await stream.readline():
            pass

    async def stop(self, grace: float = 10.0) -> None:
        """Stop the server: at once (SIGKILL) when its data is throwaway, else gracefully."""
        proc, self._proc = self._proc, None
        try:
            if proc is not None and proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    if self.throwaway:
                        proc.kill()
                    else:
                        proc.terminate()
                try:
                    await asyncio.wait_for(proc.wait(), grace)
                except TimeoutError:
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
                    await proc.wait()
            if self._drain is not None:
                self._drain.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._drain
        finally:
            if self._tmp is not None:
                self._tmp.cleanup()
