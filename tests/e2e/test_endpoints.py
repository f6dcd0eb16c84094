"""One port, every service: with nothing but AWS_ENDPOINT_URL set, boto3's sagemaker, logs, s3
and sts clients (and the AWS CLI) all reach smlocal, routed by X-Amz-Target, the SigV4 credential
scope and the request's form. Also STS GetCallerIdentity (query protocol, XML) in detail."""

import json
import subprocess
import sys
import unittest
import urllib.request
import xml.etree.ElementTree as ET

from harness import E2ETestCase, dummy_env, error_of, service_model, start_class_server

ACCOUNT = "210987654321"
AWS_V2 = "/usr/bin/aws"


class EndpointRoutingTest(E2ETestCase):
    @classmethod
    def setUpClass(cls):
        start_class_server(cls, ["--account-id", ACCOUNT])

    def run_python(self, script):
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                                timeout=60, env=dummy_env({"AWS_ENDPOINT_URL": self.server.url}))
        self.assertEqual(result.returncode, 0, result.stderr)
        return json.loads(result.stdout)

    def test_global_endpoint_variable_routes_all_four_clients(self):
        out = self.run_python(
            "import boto3, json\n"
            "sts, sm, logs, s3 = (boto3.client(n) for n in ('sts', 'sagemaker', 'logs', 's3'))\n"
            "s3.create_bucket(Bucket='routing-bucket')\n"
            "s3.put_object(Bucket='routing-bucket', Key='a/b.txt', Body=b'hello')\n"
            "print(json.dumps({\n"
            "  'account': sts.get_caller_identity()['Account'],\n"
            "  'jobs': sm.list_training_jobs()['TrainingJobSummaries'],\n"
            "  'groups': logs.describe_log_groups()['logGroups'],\n"
            "  'buckets': [b['Name'] for b in s3.list_buckets()['Buckets']],\n"
            "  'object': s3.get_object(Bucket='routing-bucket', Key='a/b.txt')['Body'].read().decode(),\n"
            "}))\n")
        self.assertEqual(out["account"], ACCOUNT)
        self.assertEqual(out["jobs"], [])
        self.assertIsInstance(out["groups"], list)
        self.assertIn("routing-bucket", out["buckets"])
        self.assertEqual(out["object"], "hello")

    def test_aws_cli_sts_get_caller_identity(self):
        # CLI v1 (pip) through the global variable; CLI v2 (Debian) through --endpoint-url.
        for command in (["aws", "sts", "get-caller-identity"],
                        [AWS_V2, "--endpoint-url", self.server.url, "sts", "get-caller-identity"]):
            result = subprocess.run([*command, "--output", "json"], capture_output=True, text=True,
                                    timeout=60,
                                    env=dummy_env({"AWS_ENDPOINT_URL": self.server.url}))
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertEqual(json.loads(result.stdout),
                             {"UserId": ACCOUNT, "Account": ACCOUNT,
                              "Arn": f"arn:aws:iam::{ACCOUNT}:root"})

    def test_sts_response_matches_the_model(self):
        request = urllib.request.Request(
            self.server.url + "/", data=b"Action=GetCallerIdentity&Version=2011-06-15",
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
        with urllib.request.urlopen(request, timeout=10) as response:
            self.assertEqual(response.status, 200)
            request_id = response.headers["x-amzn-RequestId"]
            root = ET.fromstring(response.read())
        ns = "{https://sts.amazonaws.com/doc/2011-06-15/}"
        self.assertEqual(root.tag, ns + "GetCallerIdentityResponse")
        result = root.find(ns + "GetCallerIdentityResult")
        members = {child.tag.removeprefix(ns) for child in result}
        output = service_model("sts").operation_model("GetCallerIdentity").output_shape
        self.assertEqual(members, set(output.members))
        self.assertEqual(root.findtext(f"{ns}ResponseMetadata/{ns}RequestId"), request_id)

    def test_sts_unknown_action_is_an_error(self):
        sts = self.server.client(service="sts", check=False)  # XML: botocore parses it
        error = error_of(lambda: sts.assume_role(
            RoleArn=f"arn:aws:iam::{ACCOUNT}:role/r", RoleSessionName="session"))
        self.assertClientError(error, "InvalidAction",
                               message="Could not find operation AssumeRole for version 2011-06-15.")

    def test_unsigned_browser_get_is_the_dashboard_not_s3(self):
        with urllib.request.urlopen(self.server.url + "/", timeout=10) as response:
            self.assertEqual(response.status, 200)
            self.assertTrue(response.headers["Content-Type"].startswith("text/html"))


if __name__ == "__main__":
    unittest.main()
