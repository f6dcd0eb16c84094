#include "api/logs/logs_service.hpp"

#include <doctest/doctest.h>

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <random>

#include "api/model/validator.hpp"

using namespace smlocal;
using namespace smlocal::api;
using json = nlohmann::json;
namespace fs = std::filesystem;
namespace http = boost::beast::http;

namespace {

constexpr std::int64_t server_start = 1'700'000'000'000;

/// A router serving only the Logs service over a fresh store in the temp dir.
struct logs_fixture {
    fs::path dir;
    std::unique_ptr<store> db;
    std::unique_ptr<log_service> logs;
    router r;
    logs_fixture() {
        static std::atomic<int> counter{0};
        dir = fs::temp_directory_path() / ("smlocal-logs-api-test-" + std::to_string(::getpid()) + "-" +
                                           std::to_string(counter++) + "-" + std::to_string(std::random_device{}()));
        fs::create_directories(dir);
        db = std::make_unique<store>(dir / "state.db");
        logs = std::make_unique<log_service>(*db, "us-east-1", "123456789012", server_start);
        r.add_service(make_logs_service(*logs));
    }
    ~logs_fixture() {
        logs.reset();
        db.reset();
        std::error_code ignored;
        fs::remove_all(dir, ignored);
    }

    /// Calls Logs_20140328.<operation>; returns (status, body). Success bodies must match the
    /// model's output shape.
    std::pair<unsigned, json> call(const std::string& operation, const json& body) {
        http_request request{http::verb::post, "/", 11};
        request.set("X-Amz-Target", "Logs_20140328." + operation);
        request.set(http::field::content_type, "application/x-amz-json-1.1");
        request.body() = body.dump();
        request.prepare_payload();
        http_response response = r.handle(std::move(request));
        json parsed = json::parse(response.body());
        if (response.result_int() == 200) {
            const auto problems = check_output(logs_model(), operation, parsed);
            CHECK_MESSAGE(problems.empty(), operation << ": " << (problems.empty() ? "" : problems.front()));
        } else {
            CHECK(response["X-Amzn-ErrorType"] == parsed["__type"].get<std::string>());
        }
        return {response.result_int(), parsed};
    }
};

const std::string group = "/aws/sagemaker/TrainingJobs";
const std::string stream = "job-1/algo-1-1700000000";

}  // namespace

TEST_CASE("logs api: the embedded model has the served operations") {
    const service_model& model = logs_model();
    for (const char* op : {"DescribeLogGroups", "DescribeLogStreams", "GetLogEvents", "FilterLogEvents"})
        CHECK(model.has_operation(op));
    CHECK_FALSE(model.has_operation("PutLogEvents"));
    CHECK(model.skipped_patterns().empty());
}

TEST_CASE("logs api: responses in the model's shapes, timestamps in milliseconds") {
    logs_fixture f;
    f.db->append_log_events(stream, {{server_start, server_start + 1, "simulator: objective=quadratic"},
                                     {server_start + 10, server_start + 11, "epoch=1#011loss=4"}});

    auto [status, groups] = f.call("DescribeLogGroups", json::object());
    CHECK(status == 200);
    CHECK(groups["logGroups"][0]["logGroupName"] == group);
    CHECK(groups["logGroups"][0]["creationTime"] == server_start);
    CHECK_FALSE(groups.contains("nextToken"));

    auto [s2, streams] = f.call("DescribeLogStreams", {{"logGroupName", group}, {"logStreamNamePrefix", "job-1/"}});
    CHECK(s2 == 200);
    REQUIRE(streams["logStreams"].size() == 1);
    const json& item = streams["logStreams"][0];
    CHECK(item["logStreamName"] == stream);
    CHECK(item["creationTime"] == server_start);
    CHECK(item["firstEventTimestamp"] == server_start);
    CHECK(item["lastEventTimestamp"] == server_start + 10);
    CHECK(item["lastIngestionTime"] == server_start + 11);
    CHECK(item["storedBytes"] == 0);
    CHECK(item["arn"] == "arn:aws:logs:us-east-1:123456789012:log-group:" + group + ":log-stream:" + stream);
    CHECK_FALSE(streams.contains("nextToken"));

    auto [s3, events] = f.call("GetLogEvents", {{"logGroupName", group}, {"logStreamName", stream}, {"startFromHead", true}});
    CHECK(s3 == 200);
    REQUIRE(events["events"].size() == 2);
    CHECK(events["events"][1] == json{{"timestamp", server_start + 10}, {"message", "epoch=1#011loss=4"},
                                      {"ingestionTime", server_start + 11}});
    CHECK(events["nextForwardToken"].is_string());
    CHECK(events["nextBackwardToken"].is_string());
    // Following the forward token at the end: no events, the same token.
    auto [s4, end] = f.call("GetLogEvents", {{"logGroupIdentifier", group}, {"logStreamName", stream},
                                             {"startFromHead", true}, {"nextToken", events["nextForwardToken"]}});
    CHECK(s4 == 200);
    CHECK(end["events"].empty());
    CHECK(end["nextForwardToken"] == events["nextForwardToken"]);

    auto [s5, filtered] = f.call("FilterLogEvents", {{"logGroupName", group}, {"filterPattern", "epoch"}});
    CHECK(s5 == 200);
    REQUIRE(filtered["events"].size() == 1);
    CHECK(filtered["events"][0]["logStreamName"] == stream);
    CHECK(filtered["events"][0]["timestamp"] == server_start + 10);
    CHECK(filtered["events"][0]["eventId"].is_string());
    CHECK(filtered["searchedLogStreams"][0] == json{{"logStreamName", stream}, {"searchedCompletely", true}});
    CHECK_FALSE(filtered.contains("nextToken"));
}

TEST_CASE("logs api: errors") {
    logs_fixture f;
    f.db->append_log_events(stream, {{server_start, 0, "a"}});

    SUBCASE("semantic errors are the Logs codes") {
        auto [status, body] = f.call("GetLogEvents", {{"logGroupName", group}, {"logStreamName", "job-1/algo-9-1"}});
        CHECK(status == 400);
        CHECK(body["__type"] == "ResourceNotFoundException");
        CHECK(body["message"] == "The specified log stream does not exist.");
        std::tie(status, body) = f.call("DescribeLogStreams", {{"logGroupName", "/aws/sagemaker/Endpoints/x"}});
        CHECK(body["__type"] == "ResourceNotFoundException");
        CHECK(body["message"] == "The specified log group does not exist.");
        std::tie(status, body) =
            f.call("GetLogEvents", {{"logGroupName", group}, {"logStreamName", stream}, {"nextToken", "f/1"}});
        CHECK(body["__type"] == "InvalidParameterException");
        std::tie(status, body) = f.call("DescribeLogStreams", {{"logGroupName", group},
                                                               {"logStreamNamePrefix", "job-1/"},
                                                               {"orderBy", "LastEventTime"}});
        CHECK(body["__type"] == "InvalidParameterException");
    }
    SUBCASE("model violations keep the generic envelope") {
        auto [status, body] = f.call("DescribeLogStreams", {{"logGroupName", group}, {"limit", 51}});
        CHECK(status == 400);
        CHECK(body["__type"] == "ValidationException");
        CHECK(body["message"] ==
              "1 validation error detected: Value '51' at 'limit' failed to satisfy constraint: "
              "Member must have value less than or equal to 50");
        std::tie(status, body) = f.call("GetLogEvents", {{"logGroupName", group}});
        CHECK(body["__type"] == "ValidationException");
        std::tie(status, body) =
            f.call("GetLogEvents", {{"logGroupName", group}, {"logStreamName", stream}, {"startTime", "yesterday"}});
        CHECK(body["__type"] == "SerializationException");
    }
    SUBCASE("operations we do not serve") {
        auto [status, body] = f.call("PutLogEvents", json::object());
        CHECK(status == 400);
        CHECK(body["__type"] == "UnknownOperationException");
    }
}
