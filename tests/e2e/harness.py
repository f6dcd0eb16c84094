"""Shared machinery of the end-to-end tests: start the real smlocal binary, give tests clients that
talk to it, and check every raw response against botocore's service model.

The binary comes from $SMLOCAL_BIN (ctest sets it; default /work/main/build/smlocal).

Response-shape checking: every client made by `Server.client()` (SageMaker, or CloudWatch Logs
with service="logs") registers a `before-parse` handler that sees the raw HTTP response of each
call and checks it against the OUTPUT shape of the operation in that service's botocore model (required members, JSON types, enums, lengths, ranges, patterns, unknown members, nulls).
Error responses are checked for the AWS JSON 1.1 envelope. Mismatches are collected on the Server;
`E2ETestCase.tearDown` fails the test when any were recorded during it. Clients that cannot be
hooked (AWS CLI, JS SDK, raw HTTP) go through `CheckingProxy`, which applies the same checks.
"""

from __future__ import annotations

import http.client
import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import threading
import time
import unittest
import urllib.parse
from typing import Any, Callable, Iterable

import boto3
import botocore
import botocore.config
import botocore.exceptions
import botocore.session

SMLOCAL_BIN = os.environ.get("SMLOCAL_BIN", "/work/main/build/smlocal")
SMLOCAL_SOURCE_DIR = os.environ.get("SMLOCAL_SOURCE_DIR", os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))))
E2E_DIR = os.path.dirname(os.path.abspath(__file__))

REGION = "us-east-1"
ACCOUNT = "123456789012"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/SageMakerRole"
TERMINAL = ("Completed", "Failed", "Stopped")
VALIDATION_METRIC = {"Name": "validation:loss", "Regex": r"validation:loss=([-0-9.eE+]+)"}
TRAIN_METRIC = {"Name": "train:loss", "Regex": r"train:loss=([-0-9.eE+]+)"}
SAGEMAKER_OPERATIONS = ("CreateTrainingJob", "DescribeTrainingJob", "ListTrainingJobs",
                        "StopTrainingJob", "AddTags", "ListTags", "DeleteTags")


def dummy_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A process environment with dummy credentials and no user AWS config."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({
        "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_MAX_ATTEMPTS": "1",
        "AWS_PAGER": "",
    })
    if extra:
        env.update(extra)
    return env


# ---------------------------------------------------------------------------------------------
# Response-shape checking against botocore's service model
# ---------------------------------------------------------------------------------------------

_service_models: dict[str, Any] = {}
# X-Amz-Target prefix -> botocore service name, for checkers that see raw requests.
TARGET_PREFIXES = {"SageMaker": "sagemaker", "Logs_20140328": "logs"}


def service_model(service: str = "sagemaker"):
    """botocore's model of `service` (SageMaker by default; loaded once)."""
    if service not in _service_models:
        _service_models[service] = botocore.session.get_session().get_service_model(service)
    return _service_models[service]


_PATTERN_CACHE: dict[str, Any] = {}
# Java regex classes the model uses that Python's `re` lacks; approximations good enough here.
_UNICODE_CLASSES = {
    r"\p{L}": "A-Za-z\u00aa-\uffff",
    r"\p{Z}": " \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000",
    r"\p{N}": "0-9\u00b2\u00b3\u00b9\u00bc-\u00be\u0660-\u0669",
    r"\p{Alnum}": "A-Za-z0-9",
}


def _compile_pattern(pattern: str):
    if pattern not in _PATTERN_CACHE:
        text = pattern
        for java, py in _UNICODE_CLASSES.items():
            text = text.replace(java, py if "[" in pattern else f"[{py}]")
        try:
            _PATTERN_CACHE[pattern] = re.compile(text)
        except re.error:
            _PATTERN_CACHE[pattern] = None
    return _PATTERN_CACHE[pattern]


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def check_value(shape, value: Any, path: str, problems: list[str]) -> None:
    """Checks one JSON value against a botocore shape; appends readable problems."""
    if value is None:
        problems.append(f"{path}: null is never allowed (omit the member instead)")
        return
    kind = shape.type_name
    meta = shape.metadata
    got = _json_type(value)

    def bad_type(expected: str) -> None:
        problems.append(f"{path}: expected {expected} for {kind} shape {shape.name}, got {got} "
                        f"{json.dumps(value)[:120]}")

    if kind == "structure":
        if not isinstance(value, dict):
            return bad_type("object")
        for member in shape.required_members:
            member_shape = shape.members.get(member)
            if member_shape is not None and member_shape.serialization.get("location"):
                continue
            if member not in value:
                problems.append(f"{path}: missing required member {member!r} of {shape.name}")
        for key, item in value.items():
            if key not in shape.members:
                problems.append(f"{path}: unknown member {key!r} (not in shape {shape.name})")
                continue
            check_value(shape.members[key], item, f"{path}.{key}", problems)
    elif kind == "list":
        if not isinstance(value, list):
            return bad_type("array")
        _check_range(meta, len(value), path, "list length", problems)
        for i, item in enumerate(value):
            check_value(shape.member, item, f"{path}[{i}]", problems)
    elif kind == "map":
        if not isinstance(value, dict):
            return bad_type("object")
        _check_range(meta, len(value), path, "map size", problems)
        for key, item in value.items():
            check_value(shape.key, key, f"{path}<key {key!r}>", problems)
            check_value(shape.value, item, f"{path}[{key!r}]", problems)
    elif kind == "string":
        if not isinstance(value, str):
            return bad_type("string")
        enum = meta.get("enum")
        if enum and value not in enum:
            problems.append(f"{path}: {value!r} is not a valid {shape.name} (enum: "
                            f"{', '.join(enum[:20])}{'...' if len(enum) > 20 else ''})")
        _check_range(meta, len(value), path, "string length", problems)
        pattern = meta.get("pattern")
        if pattern:
            compiled = _compile_pattern(pattern)
            if compiled is not None and not compiled.fullmatch(value):
                problems.append(f"{path}: {value!r} does not match pattern {pattern!r}")
    elif kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            return bad_type("integer number")
        _check_range(meta, value, path, "value", problems)
    elif kind in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return bad_type("number")
        _check_range(meta, value, path, "value", problems)
    elif kind == "boolean":
        if not isinstance(value, bool):
            return bad_type("boolean")
    elif kind == "timestamp":
        # AWS JSON 1.1: epoch seconds as a JSON number (never an ISO string).
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return bad_type("epoch-seconds number")
        if not 946684800 <= value <= 4102444800:
            problems.append(f"{path}: timestamp {value} is not plausible epoch seconds")
    elif kind == "blob":
        if not isinstance(value, str):
            return bad_type("base64 string")
    else:
        problems.append(f"{path}: checker does not know shape type {kind}")


def _check_range(meta: dict, number: float, path: str, what: str, problems: list[str]) -> None:
    low, high = meta.get("min"), meta.get("max")
    if low is not None and number < low:
        problems.append(f"{path}: {what} {number} below model min {low}")
    if high is not None and number > high:
        problems.append(f"{path}: {what} {number} above model max {high}")


def _header(headers: Any, name: str) -> str | None:
    for key, value in dict(headers).items():
        if key.lower() == name.lower():
            return value
    return None


def check_response(operation: str, status: int, headers: Any, body: bytes,
                   service: str = "sagemaker") -> list[str]:
    """Checks one raw response of `service` (any status) against its model and the wire rules."""
    if service == "s3":
        return check_s3_response(operation, status, headers, body)
    where = f"{operation} (HTTP {status})"
    problems: list[str] = []
    if not _header(headers, "x-amzn-RequestId"):
        problems.append("missing x-amzn-RequestId header")
    try:
        parsed = json.loads(body.decode("utf-8")) if body.strip() else None
    except (UnicodeDecodeError, ValueError) as error:
        return [f"{where}: body is not JSON ({error}): {body[:200]!r}"]
    if status >= 300:
        if not isinstance(parsed, dict):
            problems.append(f"error body is not a JSON object: {body[:200]!r}")
        else:
            code = parsed.get("__type")
            if not isinstance(code, str) or not code:
                problems.append(f"error body lacks a string __type: {parsed}")
            if not isinstance(parsed.get("message"), str):
                problems.append(f"error body lacks a string message: {parsed}")
            for key, value in parsed.items():
                if value is None:
                    problems.append(f"error body member {key!r} is null")
            error_type = _header(headers, "X-Amzn-ErrorType")
            if not error_type:
                problems.append("error response lacks the X-Amzn-ErrorType header")
            elif isinstance(code, str) and error_type.split(":")[0] != code.split("#")[-1]:
                problems.append(f"X-Amzn-ErrorType {error_type!r} disagrees with __type {code!r}")
        return [f"{where}: {p}" for p in problems]
    if status != 200:
        problems.append(f"success status must be 200, got {status}")
    content_type = _header(headers, "Content-Type") or ""
    if not content_type.startswith("application/x-amz-json-1.1"):
        problems.append(f"Content-Type {content_type!r} is not application/x-amz-json-1.1")
    output_shape = service_model(service).operation_model(operation).output_shape
    if output_shape is None:
        if parsed not in (None, {}):
            problems.append(f"operation has no output; body must be {{}} or empty, got {parsed}")
    elif not isinstance(parsed, dict):
        problems.append(f"body must be a JSON object of {output_shape.name}, got {body[:200]!r}")
    else:
        check_value(output_shape, parsed, output_shape.name, problems)
    return [f"{where}: {p}" for p in problems]


_S3_ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
_S3_RFC1123 = re.compile(r"^[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT$")


def _check_s3_xml(shape, element, path: str, problems: list[str]) -> None:
    """One REST-XML element against its botocore shape: known members, required members, scalar
    forms (ISO-8601 with milliseconds for timestamps)."""
    text = element.text or ""
    kind = shape.type_name
    if kind == "structure":
        by_name = {}
        for name, member in shape.members.items():
            if member.serialization.get("location"):
                continue
            xml_name = member.serialization.get("name", name)
            if member.type_name == "list" and member.serialization.get("flattened"):
                xml_name = member.serialization.get("name") or member.member.serialization.get("name", name)
            by_name[xml_name] = member
        seen = set()
        for child in element:
            tag = child.tag.split("}")[-1]
            member = by_name.get(tag)
            if member is None:
                problems.append(f"{path}: unknown element <{tag}>")
                continue
            seen.add(tag)
            if member.type_name == "list":
                if member.serialization.get("flattened"):
                    _check_s3_xml(member.member, child, f"{path}.{tag}", problems)
                else:
                    for item in child:
                        _check_s3_xml(member.member, item, f"{path}.{tag}[]", problems)
            else:
                _check_s3_xml(member, child, f"{path}.{tag}", problems)
        for name in shape.required_members:
            xml_name = shape.members[name].serialization.get("name", name)
            if xml_name not in seen and not shape.members[name].serialization.get("location"):
                problems.append(f"{path}: required member {xml_name} missing")
    elif kind == "timestamp":
        if not _S3_ISO.match(text):
            problems.append(f"{path}: timestamp {text!r} is not ISO-8601 with milliseconds")
    elif kind in ("integer", "long"):
        if not re.fullmatch(r"-?\d+", text):
            problems.append(f"{path}: {text!r} is not an integer")
    elif kind == "boolean":
        if text not in ("true", "false"):
            problems.append(f"{path}: {text!r} is not a boolean")
    elif kind == "string" and shape.enum and text not in shape.enum:
        problems.append(f"{path}: {text!r} is not one of {shape.enum}")


def check_s3_response(operation: str, status: int, headers: Any, body: bytes) -> list[str]:
    """Checks one raw S3 (REST-XML) response: request id, the XML error document, header
    timestamps (RFC 1123) and the XML body against the operation's output shape."""
    import xml.etree.ElementTree as ElementTree

    where = f"{operation} (HTTP {status})"
    problems: list[str] = []
    if not _header(headers, "x-amz-request-id"):
        problems.append("missing x-amz-request-id header")
    if status >= 300 and status != 304:
        if operation.startswith("Head"):
            if body:
                problems.append(f"HEAD error response has a body: {body[:200]!r}")
        else:
            try:
                root = ElementTree.fromstring(body)
            except ElementTree.ParseError as error:
                return [f"{where}: error body is not XML ({error}): {body[:200]!r}"]
            if root.tag != "Error" or not root.findtext("Code") or root.findtext("Message") is None:
                problems.append(f"error body is not an S3 <Error> with Code and Message: {body[:200]!r}")
        return [f"{where}: {p}" for p in problems]
    output = service_model("s3").operation_model(operation).output_shape
    if output is None:
        return [f"{where}: {p}" for p in problems]
    for name, member in output.members.items():
        if member.serialization.get("location") == "header" and member.type_name == "timestamp":
            value = _header(headers, member.serialization.get("name", name))
            if value is not None and not _S3_RFC1123.match(value):
                problems.append(f"header {name}: {value!r} is not an RFC 1123 date")
    payload = output.serialization.get("payload")
    if payload and output.members[payload].type_name in ("blob", "string"):
        return [f"{where}: {p}" for p in problems]  # the object's bytes
    shape = output.members[payload] if payload else output
    has_body_members = any(not m.serialization.get("location") for m in shape.members.values())
    if has_body_members and body.strip():
        try:
            root = ElementTree.fromstring(body)
        except ElementTree.ParseError as error:
            return [f"{where}: body is not XML ({error}): {body[:200]!r}"]
        if not root.tag.startswith("{http://s3.amazonaws.com/doc/2006-03-01/}"):
            problems.append(f"root element {root.tag} lacks the S3 namespace")
        _check_s3_xml(shape, root, shape.name, problems)
    return [f"{where}: {p}" for p in problems]


class ShapeLog:
    """Thread-safe collection of shape problems seen by the checkers of one server."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._problems: list[str] = []
        self.responses_checked = 0

    def add(self, problems: Iterable[str]) -> None:
        with self._lock:
            self.responses_checked += 1
            self._problems.extend(problems)

    def take(self) -> list[str]:
        with self._lock:
            taken, self._problems = self._problems, []
            return taken


def attach_shape_checker(client, log: ShapeLog) -> None:
    """Hooks a botocore client so that each raw response is checked into `log`."""

    model = client.meta.service_model
    service = model.service_name

    def before_parse(operation_model, response_dict, **_):
        log.add(check_response(operation_model.name, response_dict["status_code"],
                               response_dict["headers"], response_dict["body"] or b"", service))

    client.meta.events.register(f"before-parse.{model.service_id.hyphenize()}.*", before_parse)


# ---------------------------------------------------------------------------------------------
# The server under test
# ---------------------------------------------------------------------------------------------

class Server:
    """Runs `smlocal serve --port 0 --data-dir DIR` for the length of a `with` block."""

    def __init__(self, extra_args: list[str] | None = None, data_dir: str | None = None,
                 start_timeout: float = 20.0) -> None:
        self.extra_args = list(extra_args or [])
        self._own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="smlocal-e2e-")
        self.start_timeout = start_timeout
        self.process: subprocess.Popen | None = None
        self.url = ""
        self.host = "127.0.0.1"
        self.port = 0
        self.shape_log = ShapeLog()
        self.output_lines: list[str] = []
        self._stderr_path = ""
        self._reader: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    def __enter__(self) -> "Server":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.stop()
        finally:
            self.cleanup()

    def cleanup(self) -> None:
        """Removes the output log and, when the Server made it, the data dir."""
        if self._stderr_path:
            try:
                os.unlink(self._stderr_path)
            except OSError:
                pass
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def start(self) -> "Server":
        if not os.access(SMLOCAL_BIN, os.X_OK):
            raise RuntimeError(f"smlocal binary not found or not executable: {SMLOCAL_BIN} "
                               "(set SMLOCAL_BIN)")
        os.makedirs(self.data_dir, exist_ok=True)
        fd, self._stderr_path = tempfile.mkstemp(prefix="smlocal-stderr-", suffix=".log")
        os.close(fd)
        args = [SMLOCAL_BIN, "serve", "--host", "127.0.0.1", "--port", "0",
                "--data-dir", self.data_dir, *self.extra_args]
        with open(self._stderr_path, "wb") as stderr:
            self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=stderr,
                                            stdin=subprocess.DEVNULL)
        first_line: list[str] = []
        got_line = threading.Event()

        def read_stdout() -> None:
            assert self.process is not None and self.process.stdout is not None
            for raw in self.process.stdout:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                self.output_lines.append(line)
                if not first_line and "listening on" in line:
                    first_line.append(line)
                    got_line.set()
            got_line.set()

        self._reader = threading.Thread(target=read_stdout, daemon=True)
        self._reader.start()
        got_line.wait(self.start_timeout)
        if not first_line:
            self.kill9()
            raise RuntimeError(f"smlocal did not print 'smlocal listening on ...' within "
                               f"{self.start_timeout}s; args={args}\n{self.diagnostics()}")
        match = re.search(r"smlocal listening on (http://([^:/\s]+):(\d+))", first_line[0])
        if not match:
            self.kill9()
            raise RuntimeError(f"unexpected listening line {first_line[0]!r}")
        self.url, self.host, self.port = match.group(1), match.group(2), int(match.group(3))
        return self

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, then wait; returns the exit code (SIGKILL after `timeout`)."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                self._release()
                raise RuntimeError(f"smlocal ignored SIGTERM for {timeout}s (killed)")
        code = self.process.returncode
        self._release()
        return code

    def kill9(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
        self._release()

    def _release(self) -> None:
        """Forgets the (exited) process, closing its stdout pipe once the reader is done."""
        process, self.process = self.process, None
        if process is not None and process.stdout is not None:
            if self._reader is not None:
                self._reader.join(5)
            process.stdout.close()

    def exited_unexpectedly(self) -> str | None:
        """A report (exit code and output tail) when the server died on its own; else None.
        Reported once per death."""
        if self.process is None or self.process.poll() is None:
            return None
        code = self.process.returncode
        self._release()
        how = f"signal {-code}" if code < 0 else f"exit code {code}"
        return f"smlocal died on its own ({how})\n{self.diagnostics()}"

    def diagnostics(self, lines: int = 40) -> str:
        text = ""
        try:
            with open(self._stderr_path, "rb") as handle:
                text = handle.read().decode("utf-8", "replace")
        except OSError:
            pass
        tail = "\n".join((self.output_lines + text.splitlines())[-lines:])
        return f"--- smlocal output (last {lines} lines) ---\n{tail}"

    # -- clients -------------------------------------------------------------------------------
    def client(self, check: bool = True, validate: bool = True, url: str | None = None,
               signed: bool = True, service: str = "sagemaker", s3_addressing: str = "path"):
        """A boto3 client of `service` ("sagemaker", "logs" or "s3") for this server, with the
        response-shape checker attached (S3: REST-XML checks, `s3_addressing` "path" or "virtual").

        validate=False turns off botocore's client-side parameter validation, so that the
        server's own validation can be exercised; signed=False sends no Authorization header."""
        extra: dict[str, Any] = {} if signed else {"signature_version": botocore.UNSIGNED}
        if service == "s3":
            extra["s3"] = {"addressing_style": s3_addressing}
        config = botocore.config.Config(
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=5, read_timeout=60, parameter_validation=validate, **extra)
        client = boto3.session.Session().client(
            service, endpoint_url=url or self.url, region_name=REGION,
            aws_access_key_id="AKIAIOSFODNN7EXAMPLE",
            aws_secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", config=config)
        if check:
            attach_shape_checker(client, self.shape_log)
        return client

    # -- local storage -------------------------------------------------------------------------
    def s3_path(self, uri: str) -> str:
        """The local file or folder that stands for s3://bucket/key under the data dir."""
        parsed = urllib.parse.urlparse(uri)
        assert parsed.scheme == "s3", uri
        return os.path.join(self.data_dir, "s3", parsed.netloc, parsed.path.lstrip("/"))

    def put_s3(self, uri: str, content: bytes | str) -> str:
        path = self.s3_path(uri)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(content.encode() if isinstance(content, str) else content)
        return path


class CheckingProxy:
    """A loopback HTTP proxy in front of a Server that checks every SageMaker and Logs response.

    Used for clients that cannot be hooked (the AWS CLI, the JS SDK): point them at `url`."""

    def __init__(self, server: Server) -> None:
        self.target_host, self.target_port = server.host, server.port
        self.log = server.shape_log
        self.requests_seen: list[str] = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("host", "connection", "content-length",
                                                "proxy-connection", "keep-alive")}
                upstream = http.client.HTTPConnection(proxy.target_host, proxy.target_port,
                                                      timeout=60)
                try:
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    response = upstream.getresponse()
                    data = response.read()
                    status, out_headers = response.status, response.getheaders()
                finally:
                    upstream.close()
                prefix, _, operation = (self.headers.get("X-Amz-Target") or "").partition(".")
                service = TARGET_PREFIXES.get(prefix)
                if self.command == "POST" and service and operation:
                    proxy.requests_seen.append(operation)
                    if operation in service_model(service).operation_names:
                        proxy.log.add(check_response(operation, status, out_headers, data,
                                                     service))
                self.send_response_only(status)
                for key, value in out_headers:
                    if key.lower() not in ("connection", "transfer-encoding", "content-length",
                                           "keep-alive"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_POST = _forward
            do_GET = _forward

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> "CheckingProxy":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


# ---------------------------------------------------------------------------------------------
# Test helpers
# ---------------------------------------------------------------------------------------------

def job_request(name: str, image: str = "simulator/quadratic",
                hyperparameters: dict[str, str] | None = None,
                output_path: str = "s3://e2e-bucket/output",
                metric_definitions: list[dict] | None = None,
                input_data_config: list[dict] | None = None,
                max_runtime: int = 3600, tags: list[dict] | None = None,
                **extra: Any) -> dict:
    """A complete CreateTrainingJob request (all members that old models required)."""
    request: dict[str, Any] = {
        "TrainingJobName": name,
        "AlgorithmSpecification": {
            "TrainingImage": image,
            "TrainingInputMode": "File",
            "MetricDefinitions": metric_definitions if metric_definitions is not None
            else [VALIDATION_METRIC, TRAIN_METRIC],
        },
        "RoleArn": ROLE_ARN,
        "OutputDataConfig": {"S3OutputPath": output_path},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                           "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": max_runtime},
        "HyperParameters": hyperparameters if hyperparameters is not None
        else {"x": "1.5", "y": "-1", "epochs": "3", "sim_seconds": "0"},
    }
    if input_data_config is not None:
        request["InputDataConfig"] = input_data_config
    if tags is not None:
        request["Tags"] = tags
    request.update(extra)
    return request


def s3_channel(name: str, uri: str) -> dict:
    return {"ChannelName": name, "DataSource": {"S3DataSource": {
        "S3DataType": "S3Prefix", "S3Uri": uri, "S3DataDistributionType": "FullyReplicated"}}}


def job_arn(name: str) -> str:
    return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/{name.lower()}"


def wait_for(predicate: Callable[[], Any], timeout: float, interval: float = 0.2,
             what: str = "condition") -> Any:
    """Polls `predicate` until it returns a truthy value; raises AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def wait_terminal(client, name: str, timeout: float = 30.0) -> dict:
    """Describes `name` until its status is Completed, Failed or Stopped; returns the Describe."""
    holder: dict[str, Any] = {}

    def done() -> bool:
        holder["d"] = client.describe_training_job(TrainingJobName=name)
        return holder["d"]["TrainingJobStatus"] in TERMINAL

    try:
        wait_for(done, timeout, what=f"{name} to reach a terminal status")
    except AssertionError:
        described = holder.get("d", {})
        raise AssertionError(
            f"{name} not terminal after {timeout}s: status="
            f"{described.get('TrainingJobStatus')}/{described.get('SecondaryStatus')}")
    return holder["d"]


def error_of(call: Callable[[], Any]) -> botocore.exceptions.ClientError:
    """Runs `call`, which must fail with a ClientError; returns the error."""
    try:
        call()
    except botocore.exceptions.ClientError as error:
        return error
    raise AssertionError("expected a ClientError, but the call succeeded")


def read_model_tar(path: str) -> dict[str, bytes]:
    """Member name (without a leading ./) -> content of the regular files in a .tar.gz."""
    members: dict[str, bytes] = {}
    with tarfile.open(path, "r:gz") as archive:
        for member in archive.getmembers():
            if member.isfile():
                handle = archive.extractfile(member)
                assert handle is not None
                name = member.name[2:] if member.name.startswith("./") else member.name
                members[name] = handle.read()
    return members


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class E2ETestCase(unittest.TestCase):
    """Base class: tests use `self.server` (set by the subclass) and get shape problems asserted
    at the end of each test."""

    server: Server | None = None
    maxDiff = None

    def servers_under_test(self) -> list[Server]:
        """Servers whose shape logs are checked after each test (override for several)."""
        return [self.server] if self.server is not None else []

    def tearDown(self) -> None:
        servers = self.servers_under_test()
        problems: list[str] = []
        for server in servers:
            problems.extend(server.shape_log.take())
            death = server.exited_unexpectedly()
            if death:
                self.fail(death)
        if problems:
            shown = "\n  ".join(problems[:40])
            more = f"\n  ... and {len(problems) - 40} more" if len(problems) > 40 else ""
            self.fail(f"{len(problems)} response(s) do not match the botocore service model:\n"
                      f"  {shown}{more}")

    def assertClientError(self, error: botocore.exceptions.ClientError, code: str,
                          message: str | None = None, message_prefix: str | None = None,
                          status: int = 400) -> None:
        got_code = error.response["Error"]["Code"]
        got_message = error.response["Error"].get("Message", "")
        got_status = error.response["ResponseMetadata"]["HTTPStatusCode"]
        summary = f"got {got_status} {got_code}: {got_message!r}"
        self.assertEqual(got_code, code, summary)
        self.assertEqual(got_status, status, summary)
        if message is not None:
            self.assertEqual(got_message, message, summary)
        if message_prefix is not None:
            self.assertTrue(got_message.startswith(message_prefix),
                            f"message should start with {message_prefix!r}; {summary}")
        self.assertTrue(error.response["ResponseMetadata"].get("RequestId"),
                        "error response without x-amzn-RequestId")


def start_class_server(cls, extra_args: list[str] | None = None) -> None:
    """setUpClass helper: one server for every test of the class, stopped at class teardown."""
    cls.server = Server(extra_args=extra_args)
    cls.server.start()
    cls.addClassCleanup(_stop_class_server, cls.server)


def start_class_proxy(cls) -> "CheckingProxy":
    """setUpClass helper: a CheckingProxy in front of cls.server for the whole class (for clients
    that cannot be hooked), closed at class teardown."""
    cls.proxy = CheckingProxy(cls.server).__enter__()
    cls.addClassCleanup(cls.proxy.__exit__, None, None, None)
    return cls.proxy


def _stop_class_server(server: Server) -> None:
    try:
        server.stop()
    finally:
        server.cleanup()


# ---------------------------------------------------------------------------------------------
# Docker: the engine and the fixture images the container tests need
# ---------------------------------------------------------------------------------------------

DOCKER = shutil.which("docker") or "docker"
BUILD_FIXTURES = os.path.join(SMLOCAL_SOURCE_DIR, "scripts", "build-fixtures.sh")


def docker(*args: str, check: bool = True, timeout: float = 60) -> str:
    """Runs the docker CLI; its stdout. A failure raises unless check=False."""
    result = subprocess.run([DOCKER, *args], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed ({result.returncode}): "
                             f"{result.stderr.strip()}")
    return result.stdout


def _docker_answers() -> bool:
    try:
        return subprocess.run([DOCKER, "info"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def ensure_docker_and_fixtures(*fixtures: str) -> None:
    """setUpModule of the container tests: starts dockerd when none answers (as scripts/setup.sh
    does; pgrep guards against a second daemon) and builds the fixture images (all, or the named
    ones). build-fixtures.sh is idempotent (a hash label per image), so this is ~0.2 s when the
    images are up to date. Never a skip: CI must run these tests."""
    if not _docker_answers():
        subprocess.run("pgrep dockerd || (nohup dockerd >/var/log/smlocal-dockerd.log 2>&1 &)",
                       shell=True, check=False)
        wait_for(_docker_answers, 60, interval=1, what="dockerd to answer `docker info`")
    result = subprocess.run([BUILD_FIXTURES, *fixtures], capture_output=True, text=True,
                            timeout=1200)
    if result.returncode != 0:
        raise RuntimeError(f"{BUILD_FIXTURES} failed ({result.returncode}):\n"
                           f"{result.stdout}\n{result.stderr}")
