"""Raw HTTP against smlocal (http.client / sockets): health, the AWS JSON 1.1 envelope, request
ids, malformed input, unknown or missing targets, the body limit and keep-alive. Every SageMaker
response seen here is also checked against the service model."""

import http.client
import json
import socket
import threading
import time
import unittest

from harness import E2ETestCase, check_response, job_request, start_class_server, wait_terminal

JSON_11 = "application/x-amz-json-1.1"


class RawHttpTest(E2ETestCase):
    @classmethod
    def setUpClass(cls):
        start_class_server(cls)

    def connect(self, timeout=30):
        return http.client.HTTPConnection(self.server.host, self.server.port, timeout=timeout)

    def call(self, target, body, headers=None, conn=None, check=True):
        """POSTs one request; returns (status, headers dict (lower-case keys), raw body)."""
        own = conn is None
        conn = conn or self.connect()
        all_headers = {"Content-Type": JSON_11}
        if target is not None:
            all_headers["X-Amz-Target"] = target
        all_headers.update(headers or {})
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        try:
            conn.request("POST", "/", body=payload, headers=all_headers)
            response = conn.getresponse()
            data = response.read()
            result = (response.status, {k.lower(): v for k, v in response.getheaders()}, data)
        finally:
            if own:
                conn.close()
        if check and target and target.startswith("SageMaker."):
            operation = target.split(".", 1)[1]
            from harness import service_model
            if operation in service_model().operation_names:
                self.server.shape_log.add(check_response(operation, *result))
        return result

    def assertAwsError(self, result, status, code):
        got_status, headers, data = result
        self.assertEqual(got_status, status, data[:300])
        body = json.loads(data)
        self.assertEqual(body.get("__type"), code, body)
        self.assertIsInstance(body.get("message"), str, body)
        self.assertTrue(body["message"], body)
        self.assertTrue(headers.get("x-amzn-requestid"), headers)
        self.assertEqual(headers.get("x-amzn-errortype", "").split(":")[0], code, headers)
        return body

    # -------------------------------------------------------------------------------------------
    def test_health(self):
        conn = self.connect()
        try:
            conn.request("GET", "/health")
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        self.assertEqual(response.status, 200, data)
        self.assertIsInstance(json.loads(data), dict, data)

    def test_success_has_request_id_and_json_11_content_type(self):
        status, headers, data = self.call("SageMaker.ListTrainingJobs", {})
        self.assertEqual(status, 200, data)
        self.assertTrue(headers.get("x-amzn-requestid"), headers)
        self.assertTrue(headers.get("content-type", "").startswith(JSON_11), headers)
        self.assertIsInstance(json.loads(data)["TrainingJobSummaries"], list)
        second = self.call("SageMaker.ListTrainingJobs", {})
        self.assertNotEqual(headers["x-amzn-requestid"], second[1].get("x-amzn-requestid"),
                            "request ids must differ between requests")

    def test_error_envelope(self):
        body = self.assertAwsError(
            self.call("SageMaker.DescribeTrainingJob", {"TrainingJobName": "raw-missing"}),
            400, "ValidationException")
        self.assertEqual(body["message"], "Requested resource not found.")
        # Modeled exception shapes spell it Message; spec asks for both spellings.
        self.assertEqual(body.get("Message"), body["message"], body)

    def test_malformed_json(self):
        for label, payload in {"truncated": b'{"TrainingJobName": ',
                               "not json": b"this is not json",
                               "trailing garbage": b'{"TrainingJobName": "a"} }'}.items():
            with self.subTest(label):
                self.assertAwsError(self.call("SageMaker.DescribeTrainingJob", payload),
                                    400, "SerializationException")

    def test_unknown_operation(self):
        result = self.call("SageMaker.Nope", {})
        self.assertAwsError(result, 400, "UnknownOperationException")

    def test_missing_target(self):
        status, headers, data = self.call(None, {})
        self.assertGreaterEqual(status, 400, data)
        self.assertLess(status, 500, data)
        body = json.loads(data)
        self.assertTrue(body.get("__type"), body)
        self.assertTrue(headers.get("x-amzn-requestid"), headers)
        self.assertTrue(headers.get("x-amzn-errortype"), headers)

    def test_empty_body_is_an_empty_request(self):
        # Operations without parameters accept {} (and botocore always sends it).
        status, _, data = self.call("SageMaker.ListTrainingJobs", b"{}")
        self.assertEqual(status, 200, data)

    def test_unknown_members_are_ignored(self):
        request = job_request("raw-unknown-member")
        request["SomeFutureMember"] = {"Nested": [1, 2, 3]}
        request["AlgorithmSpecification"]["AnotherNewField"] = True
        status, _, data = self.call("SageMaker.CreateTrainingJob", request)
        self.assertEqual(status, 200, data)
        self.assertIn("TrainingJobArn", json.loads(data))
        status, _, data = self.call("SageMaker.DescribeTrainingJob",
                                    {"TrainingJobName": "raw-unknown-member"})
        self.assertEqual(status, 200, data)
        self.assertNotIn("SomeFutureMember", json.loads(data))
        wait_terminal(self.server.client(), "raw-unknown-member")

    def test_any_or_no_authorization_is_accepted(self):
        for label, headers in {
            "none": {},
            "garbage": {"Authorization": "garbage"},
            "sigv4-shaped": {"Authorization": "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/"
                                              "sagemaker/aws4_request, SignedHeaders=host, "
                                              "Signature=00", "X-Amz-Date": "20240101T000000Z"},
        }.items():
            with self.subTest(label):
                status, _, data = self.call("SageMaker.ListTrainingJobs", {}, headers=headers)
                self.assertEqual(status, 200, data)

    def test_large_body_under_the_limit_is_read(self):
        payload = {"MaxResults": 5, "Padding": "x" * (2 * 1024 * 1024)}
        status, _, data = self.call("SageMaker.ListTrainingJobs", payload)
        self.assertEqual(status, 200, data[:300])

    def test_body_over_the_limit_is_413(self):
        size = 65 * 1024 * 1024
        sock = socket.create_connection((self.server.host, self.server.port), timeout=30)
        head = ("POST / HTTP/1.1\r\n"
                f"Host: {self.server.host}:{self.server.port}\r\n"
                f"X-Amz-Target: SageMaker.ListTrainingJobs\r\n"
                f"Content-Type: {JSON_11}\r\n"
                f"Content-Length: {size}\r\n\r\n").encode()
        received = bytearray()
        done = threading.Event()

        def reader():
            # Read concurrently: the server may answer (and close) before the body is sent.
            try:
                while True:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    received.extend(chunk)
                    if b"\r\n\r\n" in received:
                        time.sleep(0.2)
                        break
            except OSError:
                pass
            finally:
                done.set()

        thread = threading.Thread(target=reader, daemon=True)
        try:
            sock.sendall(head)
            thread.start()
            chunk = b'{"P":"' + b"x" * (1024 * 1024 - 6)
            sent = 0
            try:
                while sent < size and not done.is_set():
                    piece = chunk[:min(len(chunk), size - sent)]
                    sock.sendall(piece)
                    sent += len(piece)
            except OSError:
                pass  # the server closed after answering; the answer is what counts
            done.wait(30)
        finally:
            sock.close()
        text = bytes(received)
        self.assertTrue(text.startswith(b"HTTP/1.1 413"),
                        f"expected 413, got {text[:200]!r} after sending {sent} bytes")
        # The server must still serve other requests afterwards.
        status, _, data = self.call("SageMaker.ListTrainingJobs", {})
        self.assertEqual(status, 200, data)

    def test_keep_alive(self):
        conn = self.connect()
        try:
            first = self.call("SageMaker.ListTrainingJobs", {}, conn=conn)
            sock = conn.sock
            self.assertIsNotNone(sock, "server closed the connection after the first response")
            self.assertNotEqual(first[1].get("connection", "").lower(), "close", first[1])
            second = self.call("SageMaker.DescribeTrainingJob", {"TrainingJobName": "ka-none"},
                               conn=conn)
            self.assertIs(conn.sock, sock, "a new connection was needed for the second request")
            third = self.call("SageMaker.ListTrainingJobs", {}, conn=conn)
            self.assertIs(conn.sock, sock, "the connection did not survive an error response")
        finally:
            conn.close()
        self.assertEqual(first[0], 200)
        self.assertEqual(second[0], 400)
        self.assertEqual(third[0], 200)

    def test_parallel_connections(self):
        results = []

        def worker():
            results.append(self.call("SageMaker.ListTrainingJobs", {"MaxResults": 10})[0])

        threads = [threading.Thread(target=worker) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        self.assertEqual(results, [200] * 16)


if __name__ == "__main__":
    unittest.main()
