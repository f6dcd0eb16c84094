"""A keep-alive AWS JSON 1.1 client for smlocal, shared by the benchmark helpers."""

import http.client
import json
from urllib.parse import urlparse


class Client:
    """Plain http.client over one connection: smlocal needs no signing."""

    def __init__(self, url, timeout=30):
        parsed = urlparse(url)
        assert parsed.hostname in ("127.0.0.1", "localhost"), "loopback only"
        self.conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=timeout)

    def call(self, operation, body):
        payload = json.dumps(body)
        headers = {"X-Amz-Target": f"SageMaker.{operation}", "Content-Type": "application/x-amz-json-1.1"}
        for attempt in range(2):  # one retry on a dropped keep-alive connection
            try:
                self.conn.request("POST", "/", payload, headers)
                response = self.conn.getresponse()
                data = response.read()
                return response.status, json.loads(data) if data else {}
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")
