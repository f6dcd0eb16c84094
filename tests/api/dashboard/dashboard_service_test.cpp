#include "api/dashboard/dashboard_service.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>
#include <thread>

using namespace smlocal;
using namespace smlocal::api;
using json = nlohmann::json;
namespace fs = std::filesystem;
namespace http = boost::beast::http;

namespace {

// Prints two epochs of two metrics, as a training script would.
class metric_runner final : public runner {
public:
    run_result run(const run_request& request, run_observer& observer, std::stop_token) override {
        for (const char* line : {"epoch 1 loss=0.5 acc=0.25", "epoch 2 loss=0.125 acc=0.75", "done"})
            observer.on_log(request.hosts.front().host, line);
        return {run_result::outcome::exited, 0, "", {}};
    }
};

struct dashboard_fixture {
    fs::path dir = fs::temp_directory_path() / ("smlocal-dashboard-test-" + std::to_string(std::random_device{}()));
    std::unique_ptr<store> db;
    uri_mapper storage{{dir / "s3", dir / "efs", dir / "fsx"}};
    metric_runner simulator;
    std::unique_ptr<training_job_service> jobs;
    std::unique_ptr<dashboard_service> dashboard;

    dashboard_fixture() {
        fs::create_directories(dir);
        db = std::make_unique<store>(dir / "state.db");
        jobs = std::make_unique<training_job_service>(emulator_config{"us-east-1", "123456789012", dir, false}, *db,
                                                      storage, wall_clock(), runner_set{&simulator, nullptr});
        dashboard = std::make_unique<dashboard_service>(*jobs);
    }
    ~dashboard_fixture() {
        dashboard.reset();
        jobs.reset();
        db.reset();
        std::error_code ignored;
        fs::remove_all(dir, ignored);
    }

    /// Creates a job that defines `loss` and `acc` and waits until it is Completed.
    void run_job(const std::string& name) {
        jobs->create(json{{"TrainingJobName", name},
                          {"RoleArn", "arn:aws:iam::123456789012:role/R"},
                          {"AlgorithmSpecification",
                           {{"TrainingImage", "simulator/quadratic"},
                            {"TrainingInputMode", "File"},
                            {"MetricDefinitions", json::array({{{"Name", "loss"}, {"Regex", "loss=([0-9.]+)"}},
                                                               {{"Name", "acc"}, {"Regex", "acc=([0-9.]+)"}}})}}},
                          {"OutputDataConfig", {{"S3OutputPath", "s3://bucket/output"}}}});
        for (int i = 0; i < 1000; ++i) {
            if (jobs->describe(name)["TrainingJobStatus"] == "Completed") return;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        FAIL("job did not complete: " << name);
    }

    http_response get(const std::string& target, http::verb method = http::verb::get,
                      const std::string& if_none_match = {}) const {
        http_request request{method, target, 11};
        if (!if_none_match.empty()) request.set(http::field::if_none_match, if_none_match);
        REQUIRE(dashboard->handles(request));
        return dashboard->handle(request);
    }
};

http_request_header header_for(http::verb method, const std::string& target) {
    http_request_header header;
    header.method(method);
    header.target(target);
    return header;
}

std::string header_of(const http_response& response, http::field field) {
    const auto it = response.find(field);
    return it == response.end() ? std::string{} : std::string(it->value());
}

std::string file_text(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

const dashboard_asset& asset_named(std::string_view name) {
    for (const auto& asset : dashboard_assets())
        if (asset.name == name) return asset;
    FAIL("no embedded asset " << name);
    throw std::logic_error("unreachable");
}

}  // namespace

TEST_CASE("dashboard: the embedded files are the ones in dashboard/, each with its own ETag") {
    const fs::path source = fs::path(SMLOCAL_SOURCE_DIR) / "dashboard";
    REQUIRE_MESSAGE(fs::is_directory(source), "missing " << source << " (SMLOCAL_SOURCE_DIR)");
    std::vector<std::string> etags;
    for (const char* name : {"index.html", "app.js", "style.css"}) {
        const dashboard_asset& asset = asset_named(name);
        CHECK(asset.content == file_text(source / name));
        CHECK(asset.etag.size() == 18);
        CHECK(asset.etag.front() == '"');
        CHECK(std::find(etags.begin(), etags.end(), asset.etag) == etags.end());
        etags.push_back(asset.etag);
    }
    CHECK(dashboard_assets().size() == 3);
}

TEST_CASE("dashboard: handles GET and HEAD of / and of the /_smlocal/ui/ and /_smlocal/api/ prefixes") {
    dashboard_fixture f;
    for (const char* target : {"/", "/?job=a", "/_smlocal/ui/app.js", "/_smlocal/ui/missing.png",
                               "/_smlocal/api/training-jobs/a/metrics"}) {
        CAPTURE(target);
        CHECK(f.dashboard->handles(header_for(http::verb::get, target)));
        CHECK(f.dashboard->handles(header_for(http::verb::head, target)));
        CHECK_FALSE(f.dashboard->handles(header_for(http::verb::post, target)));
    }
    // Everything else is the router's: AWS operations, health, and look-alike paths.
    for (const char* target : {"/health", "/_smlocal/health", "/index.html", "/_smlocal/ui", "/_smlocal/uix/app.js",
                               "//", "/_smlocal/apis/x"}) {
        CAPTURE(target);
        CHECK_FALSE(f.dashboard->handles(header_for(http::verb::get, target)));
    }
}

TEST_CASE("dashboard: / is the page, which loads only its own embedded files") {
    dashboard_fixture f;
    const auto response = f.get("/");
    CHECK(response.result() == http::status::ok);
    CHECK(header_of(response, http::field::content_type) == "text/html; charset=utf-8");
    CHECK(response.body() == std::string(asset_named("index.html").content));
    CHECK(header_of(response, http::field::etag) == asset_named("index.html").etag);
    CHECK(header_of(response, http::field::cache_control) == "no-cache");
    const std::string policy(response["Content-Security-Policy"]);
    CHECK(policy.find("default-src 'none'") != std::string::npos);
    CHECK(policy.find("script-src 'self'") != std::string::npos);
    CHECK(policy.find("connect-src 'self'") != std::string::npos);

    // Every src/href of the page is an embedded file or inline data: no CDN, no network.
    const std::string page = response.body();
    const std::regex reference(R"re((?:src|href)="([^"]*)")re");
    int references = 0;
    for (auto it = std::sregex_iterator(page.begin(), page.end(), reference); it != std::sregex_iterator(); ++it) {
        const std::string url = (*it)[1];
        CAPTURE(url);
        ++references;
        if (url.rfind("data:", 0) == 0) continue;
        REQUIRE(url.rfind("/_smlocal/ui/", 0) == 0);
        const auto asset = f.get(url);
        CHECK(asset.result() == http::status::ok);
        CHECK_FALSE(asset.body().empty());
    }
    CHECK(references >= 3);
}

TEST_CASE("dashboard: assets have their content type, an ETag, and answer 304 when unchanged") {
    dashboard_fixture f;
    SUBCASE("content types") {
        CHECK(header_of(f.get("/_smlocal/ui/app.js"), http::field::content_type) == "text/javascript; charset=utf-8");
        CHECK(header_of(f.get("/_smlocal/ui/style.css"), http::field::content_type) == "text/css; charset=utf-8");
        CHECK(header_of(f.get("/_smlocal/ui/index.html"), http::field::content_type) == "text/html; charset=utf-8");
        CHECK(header_of(f.get("/_smlocal/ui/app.js?v=2"), http::field::content_type) == "text/javascript; charset=utf-8");
        CHECK(f.get("/_smlocal/ui/app.js")["X-Content-Type-Options"] == "nosniff");
    }
    const std::string etag = asset_named("app.js").etag;
    SUBCASE("If-None-Match with the current ETag, a list holding it, a weak one, or *") {
        for (const std::string& condition : {etag, "\"other\", " + etag, "W/" + etag, std::string("*")}) {
            CAPTURE(condition);
            const auto response = f.get("/_smlocal/ui/app.js", http::verb::get, condition);
            CHECK(response.result() == http::status::not_modified);
            CHECK(response.body().empty());
            CHECK(header_of(response, http::field::etag) == etag);
            CHECK(header_of(response, http::field::cache_control) == "no-cache");
        }
    }
    SUBCASE("a stale ETag gets the file") {
        const auto response = f.get("/_smlocal/ui/app.js", http::verb::get, "\"0000000000000000\"");
        CHECK(response.result() == http::status::ok);
        CHECK(response.body() == std::string(asset_named("app.js").content));
    }
    SUBCASE("HEAD describes the file (the server drops the body)") {
        const auto response = f.get("/_smlocal/ui/style.css", http::verb::head);
        CHECK(response.result() == http::status::ok);
        CHECK(header_of(response, http::field::content_length) ==
              std::to_string(asset_named("style.css").content.size()));
    }
    SUBCASE("unknown files") {
        for (const char* target : {"/_smlocal/ui/", "/_smlocal/ui/nope.js", "/_smlocal/ui/../main.cpp"}) {
            CAPTURE(target);
            CHECK(f.get(target).result() == http::status::not_found);
        }
    }
    SUBCASE("other methods") {
        http_request request{http::verb::put, "/_smlocal/ui/app.js", 11};
        const auto response = f.dashboard->handle(request);
        CHECK(response.result() == http::status::method_not_allowed);
        CHECK(header_of(response, http::field::allow) == "GET, HEAD");
    }
}

TEST_CASE("dashboard api: a training job's metric series") {
    dashboard_fixture f;
    f.run_job("job-1");

    SUBCASE("grouped by metric in order of first appearance, points in order") {
        const auto response = f.get("/_smlocal/api/training-jobs/job-1/metrics");
        REQUIRE(response.result() == http::status::ok);
        CHECK(header_of(response, http::field::content_type) == "application/json");
        CHECK(header_of(response, http::field::cache_control) == "no-store");
        const json body = json::parse(response.body());
        CHECK(body["TrainingJobName"] == "job-1");
        REQUIRE(body["Metrics"].size() == 2);
        CHECK(body["Metrics"][0]["MetricName"] == "loss");
        CHECK(body["Metrics"][1]["MetricName"] == "acc");
        const json& loss = body["Metrics"][0]["Points"];
        REQUIRE(loss.size() == 2);
        CHECK(loss[0]["Value"] == 0.5);
        CHECK(loss[1]["Value"] == 0.125);
        CHECK(loss[0]["Timestamp"].get<double>() > 1.6e9);
        CHECK(loss[0]["Timestamp"].get<double>() <= loss[1]["Timestamp"].get<double>());
        CHECK_FALSE(loss[0].contains("Epoch"));
        CHECK(body["Metrics"][1]["Points"][1]["Value"] == 0.75);
    }
    SUBCASE("a percent-encoded name") {
        CHECK(f.get("/_smlocal/api/training-jobs/job%2D1/metrics").result() == http::status::ok);
    }
    SUBCASE("an unknown job is a 404, not an empty series") {
        const auto response = f.get("/_smlocal/api/training-jobs/job-2/metrics");
        CHECK(response.result() == http::status::not_found);
        CHECK(json::parse(response.body())["message"] == "No training job named job-2.");
    }
    SUBCASE("malformed names and unknown endpoints") {
        CHECK(f.get("/_smlocal/api/training-jobs/job%2/metrics").result() == http::status::bad_request);
        CHECK(f.get("/_smlocal/api/training-jobs/a%2Fb/metrics").result() == http::status::bad_request);
        for (const char* target : {"/_smlocal/api/", "/_smlocal/api/training-jobs//metrics",
                                   "/_smlocal/api/training-jobs/job-1", "/_smlocal/api/training-jobs/job-1/logs"}) {
            CAPTURE(target);
            const auto response = f.get(target);
            CHECK(response.result() == http::status::not_found);
            CHECK(json::parse(response.body()).contains("message"));
        }
    }
}

TEST_CASE("dashboard api: metric_series_json keeps gaps and epochs") {
    const json body = metric_series_json("j", {{"b", 2, 10, 1}, {"a", std::nan(""), 11, std::nullopt},
                                               {"b", INFINITY, 12, 2}, {"a", 3, 13, std::nullopt}});
    CHECK(body == json::parse(R"({"TrainingJobName":"j","Metrics":[
        {"MetricName":"b","Points":[{"Timestamp":10.0,"Value":2.0,"Epoch":1},{"Timestamp":12.0,"Value":null,"Epoch":2}]},
        {"MetricName":"a","Points":[{"Timestamp":11.0,"Value":null},{"Timestamp":13.0,"Value":3.0}]}]})"));
    CHECK(metric_series_json("j", {}) == json::parse(R"({"TrainingJobName":"j","Metrics":[]})"));
}
