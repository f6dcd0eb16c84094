"""Self-test of the response-shape checker in harness.py (no server needed): it must accept a
well-formed response and reject each kind of mismatch, or the other suites prove nothing."""

import json
import unittest

from harness import check_response

HEADERS = {"x-amzn-RequestId": "req-1", "Content-Type": "application/x-amz-json-1.1"}


def describe_body(**changes):
    body = {
        "TrainingJobName": "Job-1",
        "TrainingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/job-1",
        "ModelArtifacts": {"S3ModelArtifacts": "s3://b/o/Job-1/output/model.tar.gz"},
        "TrainingJobStatus": "Completed",
        "SecondaryStatus": "Completed",
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "CreationTime": 1700000000.123,
        "TrainingTimeInSeconds": 3,
        "SecondaryStatusTransitions": [
            {"Status": "Starting", "StartTime": 1700000000, "EndTime": 1700000001,
             "StatusMessage": "Starting the training job"}],
        "FinalMetricDataList": [{"MetricName": "validation:loss", "Value": 1.25,
                                 "Timestamp": 1700000003}],
        "HyperParameters": {"x": "1"},
    }
    for key, value in changes.items():
        if value is KeyError:
            del body[key]
        else:
            body[key] = value
    return json.dumps(body).encode()


class ShapeCheckerSelfTest(unittest.TestCase):
    def check(self, body, operation="DescribeTrainingJob", status=200, headers=HEADERS):
        return check_response(operation, status, headers, body)

    def test_accepts_valid_describe(self):
        self.assertEqual(self.check(describe_body()), [])

    def test_rejects_each_kind_of_mismatch(self):
        cases = {
            "missing required member 'SecondaryStatus'": describe_body(SecondaryStatus=KeyError),
            "expected epoch-seconds number": describe_body(CreationTime="2023-11-14T22:13:20Z"),
            "is not a valid TrainingJobStatus": describe_body(TrainingJobStatus="Done"),
            "unknown member 'Bogus'": describe_body(Bogus=1),
            "null is never allowed": describe_body(FailureReason=None),
            "expected integer number": describe_body(TrainingTimeInSeconds=2.5),
            "below model min 1": describe_body(TrainingTimeInSeconds=0),
            "above model max 1024": describe_body(FailureReason="x" * 1025),
            "expected string": describe_body(HyperParameters={"x": 1}),
            "does not match pattern": describe_body(TrainingJobName="my_job"),
        }
        for expected, body in cases.items():
            with self.subTest(expected=expected):
                problems = self.check(body)
                self.assertTrue(any(expected in p for p in problems), problems)

    def test_missing_request_id_and_wrong_content_type(self):
        problems = self.check(describe_body(), headers={"Content-Type": "text/plain"})
        self.assertTrue(any("x-amzn-RequestId" in p for p in problems), problems)
        self.assertTrue(any("Content-Type" in p for p in problems), problems)

    def test_operation_without_output(self):
        self.assertEqual(self.check(b"{}", operation="StopTrainingJob"), [])
        self.assertTrue(self.check(b'{"a": 1}', operation="StopTrainingJob"))

    def test_error_envelope(self):
        good = {"x-amzn-RequestId": "r", "X-Amzn-ErrorType": "ValidationException"}
        body = b'{"__type": "ValidationException", "message": "bad"}'
        self.assertEqual(self.check(body, status=400, headers=good), [])
        self.assertTrue(self.check(b'{"message": "bad"}', status=400, headers=good))
        self.assertTrue(self.check(body, status=400, headers={"x-amzn-RequestId": "r"}))
        self.assertTrue(self.check(b'{"__type": "ValidationException"}', status=400,
                                   headers=good))


if __name__ == "__main__":
    unittest.main()
