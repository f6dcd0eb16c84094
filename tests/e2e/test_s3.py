"""S3 on smlocal's port: boto3 (path and virtual-host addressing, multipart transfers), the AWS CLI
(`aws s3 cp/sync/ls/rm`), errors, key confinement, files put into the folder directly, and
metadata that survives a restart. Every boto3 response is checked against botocore's s3 model."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import tempfile
import unittest
from unittest import mock

import boto3.s3.transfer

from harness import E2ETestCase, Server, dummy_env, error_of, start_class_server

MB = 1024 * 1024


def run_cli(server: Server, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["aws", "--endpoint-url", server.url, *args], capture_output=True, text=True,
                            env=dummy_env(), timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"aws {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result


def random_bytes(size: int) -> bytes:
    return os.urandom(size)


class S3Test(E2ETestCase):
    @classmethod
    def setUpClass(cls) -> None:
        start_class_server(cls)

    def setUp(self) -> None:
        self.s3 = self.server.client(service="s3")

    def make_bucket(self, name: str) -> str:
        self.s3.create_bucket(Bucket=name)
        return name

    # -- buckets -------------------------------------------------------------------------------
    def test_buckets(self) -> None:
        self.make_bucket("bucket-basics")
        self.s3.head_bucket(Bucket="bucket-basics")
        names = [b["Name"] for b in self.s3.list_buckets()["Buckets"]]
        self.assertIn("bucket-basics", names)
        self.assertNotIn(".smlocal-incoming", names)
        again = error_of(lambda: self.s3.create_bucket(Bucket="bucket-basics"))
        self.assertClientError(again, "BucketAlreadyOwnedByYou", status=409)
        location = self.s3.get_bucket_location(Bucket="bucket-basics")
        self.assertIsNone(location.get("LocationConstraint"))
        self.s3.put_object(Bucket="bucket-basics", Key="x", Body=b"1")
        full = error_of(lambda: self.s3.delete_bucket(Bucket="bucket-basics"))
        self.assertClientError(full, "BucketNotEmpty", status=409)
        self.s3.delete_object(Bucket="bucket-basics", Key="x")
        self.s3.delete_bucket(Bucket="bucket-basics")
        missing = error_of(lambda: self.s3.head_bucket(Bucket="bucket-basics"))
        self.assertEqual(missing.response["Error"]["Code"], "404")
        bad = error_of(lambda: self.s3.create_bucket(Bucket="Bad_Name"))
        self.assertClientError(bad, "InvalidBucketName")

    # -- objects -------------------------------------------------------------------------------
    def test_put_get_range_head_delete(self) -> None:
        bucket = self.make_bucket("objects")
        body = b"0123456789" * 10
        put = self.s3.put_object(Bucket=bucket, Key="dir/a file+name.txt", Body=body, ContentType="text/plain",
                                 Metadata={"color": "blue"})
        self.assertEqual(put["ETag"], f'"{hashlib.md5(body).hexdigest()}"')
        with open(self.server.s3_path("s3://objects/dir/a file+name.txt"), "rb") as handle:
            self.assertEqual(handle.read(), body)

        got = self.s3.get_object(Bucket=bucket, Key="dir/a file+name.txt")
        self.assertEqual(got["Body"].read(), body)
        self.assertEqual(got["ContentType"], "text/plain")
        self.assertEqual(got["Metadata"], {"color": "blue"})
        self.assertEqual(got["ETag"], put["ETag"])

        ranged = self.s3.get_object(Bucket=bucket, Key="dir/a file+name.txt", Range="bytes=2-5")
        self.assertEqual(ranged["ResponseMetadata"]["HTTPStatusCode"], 206)
        self.assertEqual(ranged["ContentRange"], "bytes 2-5/100")
        self.assertEqual(ranged["Body"].read(), body[2:6])
        self.assertEqual(self.s3.get_object(Bucket=bucket, Key="dir/a file+name.txt",
                                            Range="bytes=-3")["Body"].read(), body[-3:])
        beyond = error_of(lambda: self.s3.get_object(Bucket=bucket, Key="dir/a file+name.txt",
                                                     Range="bytes=500-"))
        self.assertClientError(beyond, "InvalidRange", status=416)

        head = self.s3.head_object(Bucket=bucket, Key="dir/a file+name.txt")
        self.assertEqual(head["ContentLength"], 100)
        self.assertEqual(head["ETag"], put["ETag"])

        self.s3.delete_object(Bucket=bucket, Key="dir/a file+name.txt")
        missing = error_of(lambda: self.s3.get_object(Bucket=bucket, Key="dir/a file+name.txt"))
        self.assertClientError(missing, "NoSuchKey", status=404)
        # S3 has no empty folders: the emptied dir is gone.
        self.assertFalse(os.path.exists(self.server.s3_path("s3://objects/dir")))
        head_missing = error_of(lambda: self.s3.head_object(Bucket=bucket, Key="nope"))
        self.assertEqual(head_missing.response["Error"]["Code"], "404")
        no_bucket = error_of(lambda: self.s3.get_object(Bucket="no-such-bucket-here", Key="k"))
        self.assertClientError(no_bucket, "NoSuchBucket", status=404)

    def test_copy_and_delete_objects(self) -> None:
        bucket = self.make_bucket("copies")
        other = self.make_bucket("copies-target")
        self.s3.put_object(Bucket=bucket, Key="src/a b.txt", Body=b"payload", ContentType="text/plain",
                           Metadata={"k": "v"})
        copied = self.s3.copy_object(Bucket=other, Key="dst.txt",
                                     CopySource={"Bucket": bucket, "Key": "src/a b.txt"})
        self.assertEqual(copied["CopyObjectResult"]["ETag"], f'"{hashlib.md5(b"payload").hexdigest()}"')
        head = self.s3.head_object(Bucket=other, Key="dst.txt")
        self.assertEqual((head["ContentType"], head["Metadata"]), ("text/plain", {"k": "v"}))
        self.s3.copy_object(Bucket=other, Key="dst.txt", CopySource=f"{bucket}/src/a b.txt",
                            MetadataDirective="REPLACE", ContentType="application/json")
        head = self.s3.head_object(Bucket=other, Key="dst.txt")
        self.assertEqual((head["ContentType"], head["Metadata"]), ("application/json", {}))

        for i in range(5):
            self.s3.put_object(Bucket=bucket, Key=f"many/{i}", Body=b"x")
        deleted = self.s3.delete_objects(Bucket=bucket, Delete={"Objects": [
            {"Key": f"many/{i}"} for i in range(5)] + [{"Key": "never-existed"}]})
        self.assertEqual(sorted(d["Key"] for d in deleted["Deleted"]),
                         [f"many/{i}" for i in range(5)] + ["never-existed"])
        self.assertNotIn("Contents", self.s3.list_objects_v2(Bucket=bucket, Prefix="many/"))

    def test_listing_order_delimiter_and_pages(self) -> None:
        bucket = self.make_bucket("listing")
        # Files put into the folder directly are objects too (as training outputs are).
        expected = []
        for i in range(1100):
            key = f"bulk/{i:05d}"
            self.server.put_s3(f"s3://listing/{key}", str(i))
            expected.append(key)
        for key in ("a-b", "a/b", "a/c/d", "b"):
            self.s3.put_object(Bucket=bucket, Key=key, Body=key.encode())

        pages = list(self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="bulk/"))
        self.assertEqual(len(pages), 2)
        self.assertEqual([o["Key"] for p in pages for o in p["Contents"]], expected)
        self.assertEqual(pages[0]["Contents"][1]["ETag"], f'"{hashlib.md5(b"1").hexdigest()}"')

        top = self.s3.list_objects_v2(Bucket=bucket, Delimiter="/")
        self.assertEqual([o["Key"] for o in top["Contents"]], ["a-b", "b"])
        self.assertEqual([p["Prefix"] for p in top["CommonPrefixes"]], ["a/", "bulk/"])
        # '-' sorts before '/': full keys in byte order, not the directory walk.
        small = list(self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, PaginationConfig={"PageSize": 2}, Prefix="a"))
        self.assertEqual([o["Key"] for p in small for o in p.get("Contents", [])], ["a-b", "a/b", "a/c/d"])
        after = self.s3.list_objects_v2(Bucket=bucket, StartAfter="a/b", Prefix="a")
        self.assertEqual([o["Key"] for o in after["Contents"]], ["a/c/d"])
        v1 = self.s3.list_objects(Bucket=bucket, Prefix="a/", Delimiter="/")
        self.assertEqual([o["Key"] for o in v1["Contents"]], ["a/b"])
        self.assertEqual([p["Prefix"] for p in v1["CommonPrefixes"]], ["a/c/"])

    def test_multipart_upload_and_download(self) -> None:
        bucket = self.make_bucket("transfers")
        data = random_bytes(20 * MB)
        with tempfile.TemporaryDirectory() as tmp:
            source = os.path.join(tmp, "source.bin")
            with open(source, "wb") as handle:
                handle.write(data)
            config = boto3.s3.transfer.TransferConfig(multipart_threshold=8 * MB, multipart_chunksize=8 * MB)
            self.s3.upload_file(source, bucket, "model/big.bin", Config=config)
            head = self.s3.head_object(Bucket=bucket, Key="model/big.bin")
            self.assertEqual(head["ContentLength"], len(data))
            digests = b"".join(hashlib.md5(data[i:i + 8 * MB]).digest() for i in range(0, len(data), 8 * MB))
            self.assertEqual(head["ETag"], f'"{hashlib.md5(digests).hexdigest()}-3"')
            target = os.path.join(tmp, "target.bin")
            self.s3.download_file(bucket, "model/big.bin", target, Config=config)
            with open(target, "rb") as handle:
                self.assertEqual(hashlib.md5(handle.read()).digest(), hashlib.md5(data).digest())
        self.assertFalse([n for n in os.listdir(os.path.join(self.server.data_dir, "s3", ".smlocal-incoming"))
                          if n.startswith("body-")], "upload temp files left behind")

    def test_virtual_host_addressing(self) -> None:
        self.make_bucket("vhost-bucket")
        real_getaddrinfo = socket.getaddrinfo

        # *.localhost does not resolve here; send it to the loopback address as browsers do.
        def resolve(host, *args, **kwargs):
            if isinstance(host, str) and host.endswith(".localhost"):
                host = "127.0.0.1"
            return real_getaddrinfo(host, *args, **kwargs)

        client = self.server.client(service="s3", url=f"http://localhost:{self.server.port}",
                                    s3_addressing="virtual")
        sent_urls: list[str] = []
        client.meta.events.register("before-send.s3.*", lambda request, **_: sent_urls.append(request.url))
        with mock.patch("socket.getaddrinfo", resolve):
            client.put_object(Bucket="vhost-bucket", Key="k/v.txt", Body=b"virtual")
            self.assertEqual(client.get_object(Bucket="vhost-bucket", Key="k/v.txt")["Body"].read(), b"virtual")
            listed = client.list_objects_v2(Bucket="vhost-bucket")
        self.assertEqual([o["Key"] for o in listed["Contents"]], ["k/v.txt"])
        self.assertTrue(sent_urls[0].startswith(f"http://vhost-bucket.localhost:{self.server.port}/"), sent_urls[0])
        # Path style sees the same object.
        self.assertEqual(self.s3.get_object(Bucket="vhost-bucket", Key="k/v.txt")["Body"].read(), b"virtual")

    def test_key_confinement(self) -> None:
        bucket = self.make_bucket("confined")
        escape = error_of(lambda: self.s3.put_object(Bucket=bucket, Key="../escaped.txt", Body=b"x"))
        self.assertClientError(escape, "InvalidArgument")
        deep = error_of(lambda: self.s3.put_object(Bucket=bucket, Key="a/../../../escaped.txt", Body=b"x"))
        self.assertClientError(deep, "InvalidArgument")
        for path in (os.path.join(self.server.data_dir, "s3", "escaped.txt"),
                     os.path.join(self.server.data_dir, "escaped.txt")):
            self.assertFalse(os.path.exists(path), path)

    def test_aws_cli(self) -> None:
        data = random_bytes(20 * MB)
        with tempfile.TemporaryDirectory() as tmp:
            source = os.path.join(tmp, "big.bin")
            with open(source, "wb") as handle:
                handle.write(data)
            run_cli(self.server, "s3", "mb", "s3://cli-bucket")
            run_cli(self.server, "s3", "cp", source, "s3://cli-bucket/up/big.bin")
            with open(self.server.s3_path("s3://cli-bucket/up/big.bin"), "rb") as handle:
                self.assertEqual(hashlib.md5(handle.read()).digest(), hashlib.md5(data).digest())
            down = os.path.join(tmp, "down.bin")
            run_cli(self.server, "s3", "cp", "s3://cli-bucket/up/big.bin", down)
            with open(down, "rb") as handle:
                self.assertEqual(hashlib.md5(handle.read()).digest(), hashlib.md5(data).digest())

            tree = os.path.join(tmp, "tree")
            for rel in ("a.txt", "sub/b.txt", "sub/deeper/c.txt"):
                os.makedirs(os.path.dirname(os.path.join(tree, rel)), exist_ok=True)
                with open(os.path.join(tree, rel), "w") as handle:
                    handle.write(rel)
            run_cli(self.server, "s3", "sync", tree, "s3://cli-bucket/tree")
            # A second sync has nothing to do: sizes and times match.
            self.assertEqual(run_cli(self.server, "s3", "sync", tree, "s3://cli-bucket/tree").stdout.strip(), "")
            back = os.path.join(tmp, "back")
            run_cli(self.server, "s3", "sync", "s3://cli-bucket/tree", back)
            with open(os.path.join(back, "sub/deeper/c.txt")) as handle:
                self.assertEqual(handle.read(), "sub/deeper/c.txt")

            buckets = run_cli(self.server, "s3", "ls").stdout
            self.assertIn("cli-bucket", buckets)
            listing = run_cli(self.server, "s3", "ls", "--recursive", "s3://cli-bucket").stdout
            keys = [line.split()[-1] for line in listing.splitlines()]
            self.assertEqual(keys, ["tree/a.txt", "tree/sub/b.txt", "tree/sub/deeper/c.txt", "up/big.bin"])
            top = run_cli(self.server, "s3", "ls", "s3://cli-bucket/").stdout
            self.assertIn("PRE tree/", top)

            run_cli(self.server, "s3", "rm", "s3://cli-bucket/up/big.bin")
            run_cli(self.server, "s3", "rm", "--recursive", "s3://cli-bucket/tree")
            self.assertEqual(run_cli(self.server, "s3", "ls", "--recursive", "s3://cli-bucket",
                                     check=False).stdout.strip(), "")
            missing = run_cli(self.server, "s3", "cp", "s3://cli-bucket/none", down, check=False)
            self.assertNotEqual(missing.returncode, 0)
            self.assertIn("404", missing.stderr)


class S3RestartTest(E2ETestCase):
    def test_restart_keeps_etags_and_metadata(self) -> None:
        data_dir = tempfile.mkdtemp(prefix="smlocal-e2e-s3-")
        self.addCleanup(lambda: __import__("shutil").rmtree(data_dir, ignore_errors=True))
        self.server = Server(data_dir=data_dir)
        self.server.start()
        s3 = self.server.client(service="s3")
        s3.create_bucket(Bucket="durable")
        s3.put_object(Bucket="durable", Key="plain.txt", Body=b"plain", ContentType="text/markdown",
                      Metadata={"owner": "me"})
        config = boto3.s3.transfer.TransferConfig(multipart_threshold=5 * MB, multipart_chunksize=5 * MB)
        with tempfile.NamedTemporaryFile() as handle:
            handle.write(random_bytes(11 * MB))
            handle.flush()
            s3.upload_file(handle.name, "durable", "multi.bin", Config=config)
        before = {key: s3.head_object(Bucket="durable", Key=key) for key in ("plain.txt", "multi.bin")}
        self.assertTrue(before["multi.bin"]["ETag"].endswith('-3"'))
        self.server.stop()

        self.server = Server(data_dir=data_dir)
        self.server.start()
        self.addCleanup(self.server.stop)
        s3 = self.server.client(service="s3")
        for key, head in before.items():
            after = s3.head_object(Bucket="durable", Key=key)
            self.assertEqual(after["ETag"], head["ETag"], key)
            self.assertEqual(after["ContentType"], head["ContentType"], key)
            self.assertEqual(after["Metadata"], head["Metadata"], key)
        self.assertEqual(before["plain.txt"]["Metadata"], {"owner": "me"})


if __name__ == "__main__":
    unittest.main()
