// Test that the header file is self-contained.
#include "api/dispatcher.hpp"

#include <doctest/doctest.h>

using namespace smlocal::api;
namespace http = boost::beast::http;

namespace {

http_request_header header(http::verb method, std::string target) {
    http_request_header h;
    h.method(method);
    h.target(target);
    h.set(http::field::host, "127.0.0.1:8080");
    return h;
}

std::string sigv4(std::string_view service) {
    return "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261126/us-east-1/" + std::string(service) +
           "/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc";
}

// Each service answers with its own name, so that routing shows in the body.
endpoint_services named_services() {
    auto named = [](std::string name) {
        return [name](http_request&&) {
            http_response response{http::status::ok, 11};
            response.body() = name;
            return response;
        };
    };
    endpoint_services services;
    services.json = named("json");
    services.s3 = named("s3");
    services.sts = named("sts");
    services.dashboard = named("dashboard");
    services.dashboard_handles = [](const http_request_header& h) { return h.target().starts_with("/_smlocal/ui/"); };
    services.s3_virtual_host = [](std::string_view host) { return host.starts_with("bucket.localhost"); };
    services.s3_body_plan = [](const http_request_header&) {
        body_plan plan;
        plan.file = "/tmp/upload";
        return plan;
    };
    return services;
}

}  // namespace

TEST_CASE("dispatcher: signing_service reads the SigV4 credential scope") {
    auto h = header(http::verb::get, "/");
    CHECK_FALSE(signing_service(h));
    h.set(http::field::authorization, sigv4("s3"));
    CHECK(signing_service(h) == "s3");
    h.set(http::field::authorization, "AWS AKID:signature");
    CHECK(signing_service(h) == "s3");
    h.set(http::field::authorization, "Bearer token");
    CHECK_FALSE(signing_service(h));

    auto presigned = header(http::verb::get,
                            "/bucket/key?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20261126%2Fus-east-1%2Fs3%2Faws4_request");
    CHECK(signing_service(presigned) == "s3");
}

TEST_CASE("dispatcher: routes by target, signing scope, then form") {
    const dispatcher dispatch(named_services());
    auto route = [&](http_request_header h) { return dispatch.classify(h); };

    auto sagemaker = header(http::verb::post, "/");
    sagemaker.set("X-Amz-Target", "SageMaker.ListTrainingJobs");
    sagemaker.set(http::field::authorization, sigv4("sagemaker"));
    CHECK(route(sagemaker) == endpoint::json);

    auto s3_list = header(http::verb::get, "/");
    s3_list.set(http::field::authorization, sigv4("s3"));
    CHECK(route(s3_list) == endpoint::s3);

    auto sts = header(http::verb::post, "/");
    sts.set(http::field::authorization, sigv4("sts"));
    CHECK(route(sts) == endpoint::sts);

    auto logs_without_target = header(http::verb::post, "/");
    logs_without_target.set(http::field::authorization, sigv4("logs"));
    CHECK(route(logs_without_target) == endpoint::json);

    SUBCASE("unsigned requests") {
        CHECK(route(header(http::verb::get, "/")) == endpoint::dashboard);
        CHECK(route(header(http::verb::get, "/_smlocal/ui/app.js")) == endpoint::dashboard);
        CHECK(route(header(http::verb::get, "/_smlocal/health")) == endpoint::json);
        CHECK(route(header(http::verb::get, "/health")) == endpoint::json);
        CHECK(route(header(http::verb::get, "/bucket/key")) == endpoint::s3);
        auto form = header(http::verb::post, "/");
        form.set(http::field::content_type, "application/x-www-form-urlencoded; charset=utf-8");
        CHECK(route(form) == endpoint::sts);
        CHECK(route(header(http::verb::post, "/")) == endpoint::json);
        auto virtual_host = header(http::verb::get, "/");
        virtual_host.set(http::field::host, "bucket.localhost:8080");
        CHECK(route(virtual_host) == endpoint::s3);
    }
}

TEST_CASE("dispatcher: only S3 requests get a body plan, and handle() calls the routed service") {
    const dispatcher dispatch(named_services());
    auto put = header(http::verb::put, "/bucket/key");
    CHECK(dispatch.plan_body(put).file == std::filesystem::path("/tmp/upload"));
    auto json = header(http::verb::post, "/");
    json.set("X-Amz-Target", "SageMaker.ListTrainingJobs");
    CHECK_FALSE(dispatch.plan_body(json).file);
    // S3 work touches the disk: it goes to the server's blocking pool; the rest stays inline.
    CHECK(dispatch.is_blocking(put));
    CHECK_FALSE(dispatch.is_blocking(json));

    http_request request{http::verb::get, "/bucket/key", 11};
    CHECK(dispatch.handle(std::move(request)).body() == "s3");
    http_request page{http::verb::get, "/", 11};
    CHECK(dispatch.handle(std::move(page)).body() == "dashboard");

    SUBCASE("a missing service falls back to the JSON router") {
        auto services = named_services();
        services.s3 = nullptr;
        const dispatcher without_s3(std::move(services));
        http_request object{http::verb::get, "/bucket/key", 11};
        CHECK(without_s3.handle(std::move(object)).body() == "json");
    }
}
