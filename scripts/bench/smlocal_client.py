"""A keep-alive AWS JSON 1.1 client for smlocal, shared by the benchmark helpers."""

import http.client
import json
from urllib.parse import urlparse


class Client:
    """Plain http.client over one connection: smlocal needs no signing. `target_prefix` is the
    service's X-Amz-Target prefix: "SageMaker", or "Logs_20140328" for CloudWatch Logs."""

    def __init__(self, url, timeout=30, target_prefix="SageMaker"):
        parsed = urlparse(url)
        assert parsed.hostname in ("127.0.0.1", "localhost"), "loopback only"
        self.conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=timeout)
        self.target_prefix = target_prefix

    def call(self, operation, body):
        status, data = self.call_raw(operation, body)
        return status, json.loads(data) if data else {}

    def call_raw(self, operation, body):
        """(status, the response body's bytes), unparsed: for timing the server rather than json.loads."""
        payload = json.dumps(body)
        headers = {"X-Amz-Target": f"{self.target_prefix}.{operation}", "Content-Type": "application/x-amz-json-1.1"}
        for attempt in range(2):  # one retry on a dropped keep-alive connection
            try:
                self.conn.request("POST", "/", payload, headers)
                response = self.conn.getresponse()
                return response.status, response.read()
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")
