-- wrk script for scripts/bench/api.sh: creates exactly N training jobs with unique names, then stops.
--   wrk -t T -c C -d <upper bound> -s create_jobs.lua URL -- <N> <T> <name prefix> <marker dir>
-- Thread k (1..T) creates its share of N, named <prefix>-<k>-<i>, one CreateTrainingJob per request
-- (wrk.format per request). Once its share is all sent, a connection that comes free sends a cheap
-- GET /health instead (paced by delay()), and the thread stops as soon as every one of its creates
-- has been answered. The first request() call of each thread also returns GET /health: wrk calls
-- request() once on the first thread's state before the run, to check the request, and throws that
-- one away, so a create made there would never be sent.
-- A thread that is done writes <marker dir>/thread-<k>.done. wrk itself always runs for the full -d,
-- so api.sh waits for every marker and then ends wrk with SIGINT, on which wrk reports as usual.
-- done() prints how many creates succeeded and failed (api.sh checks the store afterwards too) and
-- the create rate over the wall time from the first create sent to the last one answered (taken
-- with clock_gettime(CLOCK_MONOTONIC) through LuaJIT's FFI, comparable across threads).

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock_id, bench_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local timespec = ffi.new("bench_timespec")
local function now()
   ffi.C.clock_gettime(CLOCK_MONOTONIC, timespec)
   return tonumber(timespec.tv_sec) + tonumber(timespec.tv_nsec) * 1e-9
end

local threads = {}
local next_id = 1

function setup(thread)
   thread:set("id", next_id)
   table.insert(threads, thread)
   next_id = next_id + 1
end

local create_headers = {
   ["X-Amz-Target"] = "SageMaker.CreateTrainingJob",
   ["Content-Type"] = "application/x-amz-json-1.1",
}
local body_format = '{"TrainingJobName":"%s",'
   .. '"RoleArn":"arn:aws:iam::123456789012:role/SageMakerRole",'
   .. '"AlgorithmSpecification":{"TrainingImage":"simulator/quadratic","TrainingInputMode":"File"},'
   .. '"HyperParameters":{"x":"1","y":"-2","sim_seconds":"0","epochs":"1"},'
   .. '"OutputDataConfig":{"S3OutputPath":"s3://bench-bucket/output"},'
   .. '"ResourceConfig":{"InstanceType":"ml.m5.large","InstanceCount":1,"VolumeSizeInGB":10},'
   .. '"StoppingCondition":{"MaxRuntimeInSeconds":600}}'

local quota, prefix, health, marker
local first_call = true
issued, ok, failed = 0, 0, 0
first_sent, last_answered = 0, 0  -- monotonic seconds

function init(args)
   local total, nthreads = tonumber(args[1]), tonumber(args[2])
   prefix = args[3]
   marker = string.format("%s/thread-%d.done", args[4], id)
   quota = math.floor(total / nthreads)
   if id <= total % nthreads then quota = quota + 1 end
   health = wrk.format("GET", "/health")
end

function request()
   if first_call then
      first_call = false
      return health
   end
   if issued < quota then
      if issued == 0 then first_sent = now() end
      issued = issued + 1
      local name = string.format("%s-%d-%d", prefix, id, issued)
      return wrk.format("POST", "/", create_headers, string.format(body_format, name))
   end
   return health
end

function delay()
   if issued < quota then return 0 end
   return 2  -- ms: keep the /health filler at the end of the run from loading the server
end

function response(status, headers, body)
   if body:find('"service":"smlocal"', 1, true) then return end  -- a /health filler
   if status == 200 and body:find('"TrainingJobArn"', 1, true) then
      ok = ok + 1
   else
      failed = failed + 1
   end
   if ok + failed >= quota then
      last_answered = now()
      local file = io.open(marker, "w")
      if file then file:close() end
      wrk.thread:stop()
   end
end

function done(summary, latency, requests)
   local total_ok, total_failed, total_issued = 0, 0, 0
   local start, finish = math.huge, 0
   for _, thread in ipairs(threads) do
      total_ok = total_ok + thread:get("ok")
      total_failed = total_failed + thread:get("failed")
      total_issued = total_issued + thread:get("issued")
      local first, last = thread:get("first_sent"), thread:get("last_answered")
      if first > 0 and first < start then start = first end
      if last == 0 then finish = math.huge elseif last > finish then finish = last end
   end
   local wall = finish - start  -- inf when a thread never finished: no rate then
   io.write(string.format(
      "WRK_RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d mean_us=%.1f max_us=%d "
      .. "created=%d create_failed=%d create_sent=%d create_wall_s=%.3f "
      .. "timeouts=%d read_errors=%d write_errors=%d connect_errors=%d\n",
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.mean,
      latency.max, total_ok, total_failed, total_issued, wall == math.huge and -1 or wall,
      summary.errors.timeout, summary.errors.read, summary.errors.write, summary.errors.connect))
end
