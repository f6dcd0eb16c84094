-- wrk script for scripts/bench/api.sh: POSTs one fixed AWS JSON 1.1 request, over and over.
--   wrk ... -s aws_json.lua URL -- <Operation> '<json body>'
-- e.g. -- DescribeTrainingJob '{"TrainingJobName":"bench-0"}'
-- The request is formatted once (no request() function), so wrk's own cost per request stays
-- minimal. The Authorization header is a dummy SigV4 one, as a real SDK would send: moto_server
-- routes on its credential scope (without it, moto answers as S3); smlocal and the ceiling ignore it.
-- done() prints one machine-readable line that api.sh parses.

function init(args)
   wrk.method = "POST"
   wrk.path = "/"
   wrk.body = args[2]
   wrk.headers["X-Amz-Target"] = "SageMaker." .. args[1]
   wrk.headers["Content-Type"] = "application/x-amz-json-1.1"
   wrk.headers["Authorization"] = "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/sagemaker/aws4_request, "
      .. "SignedHeaders=content-type;host;x-amz-target, Signature=0000000000000000000000000000000000000000000000000000000000000000"
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "WRK_RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d mean_us=%.1f max_us=%d "
      .. "status_errors=%d connect_errors=%d read_errors=%d write_errors=%d timeouts=%d\n",
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.mean,
      latency.max, e.status, e.connect, e.read, e.write, e.timeout))
end
