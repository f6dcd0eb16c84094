#!/usr/bin/env python3
"""A timestamping pass-through proxy for the Docker Engine API, for scripts/bench/containers.sh.

    containers_docker_proxy.py LISTEN_SOCKET UPSTREAM_SOCKET LOG_FILE

Listens on the unix socket LISTEN_SOCKET and forwards every connection, byte for byte, to
UPSTREAM_SOCKET (the engine's, e.g. /var/run/docker.sock). For every HTTP request seen on a
connection it appends one JSON line to LOG_FILE:

    {"conn": 3, "method": "POST", "path": "/v1.41/containers/create?name=...",
     "sent": <epoch s when the request's first bytes arrived>,
     "answered": <epoch s when the answer's first bytes arrived>, "status": 201,
     "last_byte": <epoch s when the answer's last bytes arrived (a stream's end)>,
     "closed": <epoch s when the connection closed, on the connection's last request>}

It is a diagnostic only: smlocal is pointed at it (DOCKER_HOST=unix://LISTEN_SOCKET) in a
separate, unmeasured pass, to see which Engine API calls a job's time goes to. Requests are
recognised at the start of a chunk from the client, which holds for one-request-per-connection
clients such as smlocal's (a fresh curl handle per call). Runs until SIGTERM/SIGINT.
"""

import asyncio
import json
import os
import re
import signal
import sys
import time

REQUEST_LINE = re.compile(rb"^(GET|POST|PUT|DELETE|HEAD) (\S+) HTTP/1\.[01]\r\n")
STATUS_LINE = re.compile(rb"^HTTP/1\.[01] (\d{3})")


class Log:
    def __init__(self, path):
        self.file = open(path, "a", buffering=1)

    def write(self, record):
        self.file.write(json.dumps(record) + "\n")


async def pump(reader, writer, on_chunk):
    try:
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                break
            on_chunk(chunk)
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        try:
            writer.close()
        except Exception:
            pass


async def main():
    listen, upstream, log_path = sys.argv[1:4]
    log = Log(log_path)
    counter = 0

    async def handle(client_reader, client_writer):
        nonlocal counter
        counter += 1
        conn = counter
        try:
            up_reader, up_writer = await asyncio.open_unix_connection(upstream)
        except OSError:
            client_writer.close()
            return
        pending = []   # requests sent, not answered yet
        current = []   # the request whose answer is arriving (at most one)

        def from_client(chunk):
            m = REQUEST_LINE.match(chunk)
            if m:
                pending.append({"conn": conn, "method": m.group(1).decode(), "path": m.group(2).decode(),
                                "sent": time.time()})

        def from_engine(chunk):
            now = time.time()
            m = STATUS_LINE.match(chunk)
            if m and pending and m.group(1) != b"100":  # 100 Continue is not the answer (101 is)
                if current:
                    log.write(current.pop())
                record = pending.pop(0)
                record["answered"] = now
                record["status"] = int(m.group(1))
                current.append(record)
            if current:
                current[0]["last_byte"] = now

        to_engine = asyncio.ensure_future(pump(client_reader, up_writer, from_client))
        to_client = asyncio.ensure_future(pump(up_reader, client_writer, from_engine))
        await asyncio.wait([to_engine, to_client], return_when=asyncio.FIRST_COMPLETED)
        # The engine closed (end of a stream) or the client did: finish both directions.
        await asyncio.wait([to_engine, to_client], timeout=2)
        for task in (to_engine, to_client):
            task.cancel()
        closed = time.time()
        for record in current + pending:
            record["closed"] = closed
            log.write(record)

    if os.path.exists(listen):
        os.unlink(listen)
    server = await asyncio.start_unix_server(handle, path=listen)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"proxy listening on {listen}", flush=True)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
