#include "emulator/training_jobs.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <random>
#include <thread>

#include "emulator/errors.hpp"

#include "tests/support/temp_dir.hpp"

using namespace smlocal;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

using smlocal_test::temp_dir;

// A runner whose behaviour each test sets: lines to print, an exit code, a failure text, and
// whether it runs until stopped.
class scripted_runner final : public runner {
public:
    std::vector<std::string> lines{"epoch=1 loss=0.5", "epoch=2 loss=0.25"};
    int exit_code = 0;
    std::string failure_text;
    bool until_stopped = false;
    std::atomic<int> runs{0};
    std::atomic<bool> saw_stop{false};
    bool can_reattach = false;
    std::atomic<int> reattached{0};

    run_result reattach(const run_request& request, run_observer& observer, std::stop_token stop) override {
        if (!can_reattach) return runner::reattach(request, observer, stop);
        ++reattached;
        observer.on_log("algo-1", "loss=0.125");
        return {run_result::outcome::exited, 0, "", {}};
    }

    run_result run(const run_request& request, run_observer& observer, std::stop_token stop) override {
        ++runs;
        for (const auto& line : lines) observer.on_log(request.hosts.front().host, line);
        std::ofstream(request.hosts.front().model_dir() / "model.bin") << "weights";
        if (!failure_text.empty()) std::ofstream(request.hosts.front().failure_file()) << failure_text;
        if (until_stopped) {
            while (!stop.stop_requested()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
            saw_stop = true;
            return {run_result::outcome::exited, 143, "algo-1", {}};
        }
        return {run_result::outcome::exited, exit_code, exit_code ? "algo-1" : "", {}};
    }
};

json request_for(const std::string& name, const std::string& image = "simulator/quadratic") {
    return json{{"TrainingJobName", name},
                {"RoleArn", "arn:aws:iam::123456789012:role/R"},
                {"AlgorithmSpecification",
                 {{"TrainingImage", image},
                  {"TrainingInputMode", "File"},
                  {"MetricDefinitions", json::array({{{"Name", "loss"}, {"Regex", "loss=([0-9.]+)"}}})}}},
                {"OutputDataConfig", {{"S3OutputPath", "s3://bucket/output"}}}};
}

struct service_fixture {
    temp_dir dir;
    store db{dir.path / "state.db"};
    uri_mapper storage{{dir.path / "s3", dir.path / "efs", dir.path / "fsx"}};
    scripted_runner simulator;
    scripted_runner containers;
    std::unique_ptr<training_job_service> service;

    explicit service_fixture(bool with_containers = false) { start(with_containers); }

    void start(bool with_containers = false) {
        service = std::make_unique<training_job_service>(emulator_config{"us-east-1", "123456789012", dir.path, false},
                                                         db, storage, wall_clock(),
                                                         runner_set{&simulator, with_containers ? &containers : nullptr});
        service->recover();
    }

    json wait_terminal(const std::string& name) {
        for (int i = 0; i < 1000; ++i) {
            json d = service->describe(name);
            const std::string status = d["TrainingJobStatus"];
            if (status == "Completed" || status == "Failed" || status == "Stopped") return d;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        FAIL("job did not finish: " << name);
        return {};
    }

    void wait_secondary(const std::string& name, const std::string& secondary) {
        for (int i = 0; i < 1000; ++i) {
            if (service->describe(name)["SecondaryStatus"] == secondary) return;
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        FAIL("job never reached " << secondary);
    }
};

std::vector<std::string> secondary_statuses(const json& describe) {
    std::vector<std::string> out;
    for (const auto& t : describe["SecondaryStatusTransitions"]) out.push_back(t["Status"]);
    return out;
}

}  // namespace

TEST_CASE("a job runs through the secondary statuses to Completed, with metrics and a model") {
    service_fixture f;
    const std::string arn = f.service->create(request_for("Job-A"));
    CHECK(arn == "arn:aws:sagemaker:us-east-1:123456789012:training-job/job-a");
    json d = f.wait_terminal("Job-A");
    CHECK(d["TrainingJobStatus"] == "Completed");
    CHECK(d["SecondaryStatus"] == "Completed");
    CHECK(secondary_statuses(d) ==
          std::vector<std::string>{"Starting", "Downloading", "Training", "Uploading", "Completed"});
    for (const auto& t : d["SecondaryStatusTransitions"]) {
        CHECK(t.contains("StatusMessage"));
        CHECK(t.contains("EndTime"));
    }
    REQUIRE(d["FinalMetricDataList"].size() == 1);
    CHECK(d["FinalMetricDataList"][0]["Value"] == 0.25);
    CHECK(d["TrainingTimeInSeconds"].get<long long>() >= 1);
    CHECK(d["ResourceConfig"]["InstanceCount"] == 1);
    CHECK(fs::exists(f.dir.path / "s3/bucket/output/Job-A/output/model.tar.gz"));
    CHECK(fs::exists(f.dir.path / "s3/bucket/output/Job-A/output/output.tar.gz"));
    CHECK(f.service->metric_series("Job-A").size() == 2);
    auto streams = f.db.log_streams("Job-A/");
    REQUIRE(streams.size() == 1);
    CHECK(streams[0].name.rfind("Job-A/algo-1-", 0) == 0);
    CHECK(streams[0].event_count == 2);
}

TEST_CASE("names are unique, case-insensitively, whatever the status") {
    service_fixture f;
    f.service->create(request_for("dup"));
    f.wait_terminal("dup");
    CHECK_THROWS_WITH_AS(f.service->create(request_for("DUP")),
                         "Training job names must be unique within an AWS account and region, and a training job "
                         "with this name already exists (arn:aws:sagemaker:us-east-1:123456789012:training-job/dup)",
                         service_error);
}

TEST_CASE("unknown jobs are a ValidationException, as the real service answers") {
    service_fixture f;
    CHECK_THROWS_WITH_AS(f.service->describe("nope"), "Requested resource not found.", service_error);
    CHECK_THROWS_WITH_AS(f.service->stop("nope"), "Requested resource not found.", service_error);
}

TEST_CASE("a non-zero exit fails the job with the failure file's text") {
    service_fixture f;
    f.simulator.exit_code = 3;
    f.simulator.failure_text = "bad hyperparameter\n";
    f.service->create(request_for("fails"));
    json d = f.wait_terminal("fails");
    CHECK(d["TrainingJobStatus"] == "Failed");
    CHECK(d["FailureReason"] == "AlgorithmError: bad hyperparameter, exit code: 3");
    CHECK(d["SecondaryStatusTransitions"].back()["StatusMessage"] == d["FailureReason"]);
}

TEST_CASE("a non-zero exit without a failure file names the exit code and the last log lines") {
    service_fixture f;
    f.simulator.exit_code = 3;
    f.service->create(request_for("no-failure-file"));
    json d = f.wait_terminal("no-failure-file");
    CHECK(d["FailureReason"] ==
          "AlgorithmError: no algo-1:/opt/ml/output/failure; last log lines: epoch=1 loss=0.5 | epoch=2 loss=0.25, "
          "exit code: 3");
}

TEST_CASE("Stop: InProgress -> Stopping -> Stopped, artifacts uploaded, terminal jobs refuse") {
    service_fixture f;
    f.simulator.until_stopped = true;
    f.service->create(request_for("long"));
    f.wait_secondary("long", "Training");
    f.service->stop("long");
    CHECK(f.service->describe("long")["TrainingJobStatus"].get<std::string>() != "InProgress");
    CHECK_NOTHROW(f.service->stop("long"));  // stopping again is a no-op until it is Stopped
    json d = f.wait_terminal("long");
    CHECK(d["TrainingJobStatus"] == "Stopped");
    CHECK(d["SecondaryStatus"] == "Stopped");
    CHECK(f.simulator.saw_stop);
    CHECK(fs::exists(f.dir.path / "s3/bucket/output/long/output/model.tar.gz"));
    CHECK_THROWS_WITH_AS(f.service->stop("long"),
                         "The request was rejected because the training job is in status Stopped.", service_error);
}

TEST_CASE("MaxRuntimeInSeconds stops the job as MaxRuntimeExceeded") {
    service_fixture f;
    f.simulator.until_stopped = true;
    json request = request_for("timeout");
    request["StoppingCondition"] = {{"MaxRuntimeInSeconds", 1}};
    f.service->create(request);
    json d = f.wait_terminal("timeout");
    CHECK(d["TrainingJobStatus"] == "Stopped");
    CHECK(d["SecondaryStatus"] == "MaxRuntimeExceeded");
}

TEST_CASE("missing input data fails the job with a ClientError before it runs") {
    service_fixture f;
    json request = request_for("no-data");
    request["InputDataConfig"] = json::array({{{"ChannelName", "train"},
        {"DataSource", {{"S3DataSource", {{"S3DataType", "S3Prefix"}, {"S3Uri", "s3://bucket/missing/"}}}}}}});
    f.service->create(request);
    json d = f.wait_terminal("no-data");
    CHECK(d["TrainingJobStatus"] == "Failed");
    CHECK(d["FailureReason"].get<std::string>().rfind("ClientError: Data download failed: no data found for channel 'train' at s3://bucket/missing/", 0) == 0);
    CHECK(f.simulator.runs == 0);
}

TEST_CASE("URIs that leave their root are refused at create, and nothing is created") {
    service_fixture f;
    json request = request_for("escape");
    request["OutputDataConfig"]["S3OutputPath"] = "s3://bucket/../../etc";
    CHECK_THROWS_AS(f.service->create(request), service_error);
    CHECK_THROWS(f.service->describe("escape"));
}

TEST_CASE("an image without a container runtime fails with a clear reason") {
    service_fixture f;
    f.service->create(request_for("real-image", "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1"));
    json d = f.wait_terminal("real-image");
    CHECK(d["TrainingJobStatus"] == "Failed");
    CHECK(d["FailureReason"].get<std::string>().find("no container runtime") != std::string::npos);
}

TEST_CASE("with a container runtime, non-simulator images go to it") {
    service_fixture f(true);
    f.service->create(request_for("real-image", "my-trainer:latest"));
    CHECK(f.wait_terminal("real-image")["TrainingJobStatus"] == "Completed");
    CHECK(f.containers.runs == 1);
    CHECK(f.simulator.runs == 0);
}

TEST_CASE("list pages over the registry newest first") {
    service_fixture f;
    for (int i = 0; i < 5; ++i) f.service->create(request_for("list-" + std::to_string(i)));
    list_query query;
    query.max_results = 3;
    auto first = f.service->list(query);
    REQUIRE(first.summaries.size() == 3);
    CHECK(first.summaries[0]["TrainingJobName"] == "list-4");
    REQUIRE(first.next_token);
    query.next_token = first.next_token;
    auto second = f.service->list(query);
    CHECK(second.summaries.size() == 2);
    CHECK_FALSE(second.next_token);
    for (int i = 0; i < 5; ++i) f.wait_terminal("list-" + std::to_string(i));
}

TEST_CASE("state survives a restart; running simulator jobs are run again") {
    service_fixture f;
    f.service->create(request_for("done"));
    f.wait_terminal("done");
    f.simulator.until_stopped = true;
    f.service->create(request_for("running"));
    f.wait_secondary("running", "Training");
    // Shut down without recording an outcome, as a SIGTERM'd server does.
    f.service.reset();
    f.simulator.until_stopped = false;
    f.start();
    CHECK(f.service->describe("done")["TrainingJobStatus"] == "Completed");
    CHECK(f.service->describe("done")["FinalMetricDataList"].size() == 1);
    json d = f.wait_terminal("running");
    CHECK(d["TrainingJobStatus"] == "Completed");
}

TEST_CASE("after a restart, container jobs are handed to the runner's reattach") {
    service_fixture f(true);
    f.containers.until_stopped = true;
    f.service->create(request_for("container", "my-trainer:latest"));
    f.wait_secondary("container", "Training");
    f.service.reset();
    SUBCASE("a runner that cannot re-attach fails the job with a clear reason") {
        f.start(true);
        json d = f.wait_terminal("container");
        CHECK(d["TrainingJobStatus"] == "Failed");
        CHECK(d["FailureReason"].get<std::string>().find("restarted") != std::string::npos);
    }
    SUBCASE("a runner that re-attaches sees the job to its end") {
        f.containers.can_reattach = true;
        f.containers.until_stopped = false;
        f.start(true);
        json d = f.wait_terminal("container");
        CHECK(d["TrainingJobStatus"] == "Completed");
        CHECK(f.containers.reattached == 1);
        CHECK(f.containers.runs == 1);  // not run again
    }
}
