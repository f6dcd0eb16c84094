#include "api/router.hpp"

#include <doctest/doctest.h>

#include <stdexcept>

#include "emulator/errors.hpp"

using namespace smlocal;
using namespace smlocal::api;
using json = nlohmann::json;
namespace http = boost::beast::http;

namespace {

http_request aws_request(const std::string& target, const std::string& body) {
    http_request request{http::verb::post, "/", 11};
    request.set("X-Amz-Target", target);
    request.set(http::field::content_type, "application/x-amz-json-1.1");
    request.body() = body;
    request.prepare_payload();
    return request;
}

router make_router() {
    json_service service;
    service.target_prefix = "SageMaker";
    service.model = &sagemaker_model();
    service.operations["DescribeTrainingJob"] = [](json& request) -> json {
        const std::string name = request.at("TrainingJobName");
        if (name == "missing") throw validation_error("Requested resource not found.");
        if (name == "crash") throw std::runtime_error("boom");
        return json{{"echo", name}};
    };
    service.operations["ListTrainingJobs"] = [](json& request) { return json{{"got", request}}; };
    router r;
    r.add_service(std::move(service));
    r.set_health_reporter([] { return json{{"training_jobs", 3}}; });
    return r;
}

json body_of(const http_response& response) { return json::parse(response.body()); }

}  // namespace

TEST_CASE("operations dispatch on X-Amz-Target and answer with a request id") {
    router r = make_router();
    auto response = r.handle(aws_request("SageMaker.DescribeTrainingJob", R"({"TrainingJobName":"abc"})"));
    CHECK(response.result() == http::status::ok);
    CHECK(body_of(response)["echo"] == "abc");
    CHECK(response[http::field::content_type] == "application/x-amz-json-1.1");
    CHECK(response["x-amzn-RequestId"].size() == 36);
}

TEST_CASE("an empty body is an empty input") {
    router r = make_router();
    auto response = r.handle(aws_request("SageMaker.ListTrainingJobs", ""));
    CHECK(response.result() == http::status::ok);
    CHECK(body_of(response)["got"] == json::object());
}

TEST_CASE("errors use the AWS JSON 1.1 envelope") {
    router r = make_router();
    SUBCASE("unknown operation") {
        auto response = r.handle(aws_request("SageMaker.Nope", "{}"));
        CHECK(response.result() == http::status::bad_request);
        CHECK(body_of(response)["__type"] == "UnknownOperationException");
        CHECK(response["X-Amzn-ErrorType"] == "UnknownOperationException");
        CHECK(response["x-amzn-RequestId"].size() == 36);
    }
    SUBCASE("unknown service prefix") {
        CHECK(body_of(r.handle(aws_request("Other.Describe", "{}")))["__type"] == "UnknownOperationException");
    }
    SUBCASE("malformed JSON") {
        auto response = r.handle(aws_request("SageMaker.DescribeTrainingJob", "{not json"));
        CHECK(response.result() == http::status::bad_request);
        CHECK(body_of(response)["__type"] == "SerializationException");
    }
    SUBCASE("a JSON array is not an input") {
        CHECK(body_of(r.handle(aws_request("SageMaker.DescribeTrainingJob", "[]")))["__type"] ==
              "SerializationException");
    }
    SUBCASE("model validation comes before the handler") {
        auto response = r.handle(aws_request("SageMaker.DescribeTrainingJob", R"({"TrainingJobName":"my_job"})"));
        CHECK(response.result() == http::status::bad_request);
        json body = body_of(response);
        CHECK(body["__type"] == "ValidationException");
        CHECK(body["message"].get<std::string>().rfind(
                  "1 validation error detected: Value 'my_job' at 'trainingJobName' failed to satisfy constraint: "
                  "Member must satisfy regular expression pattern: ", 0) == 0);
        CHECK(body["Message"] == body["message"]);
    }
    SUBCASE("service errors keep their code and message") {
        json body = body_of(r.handle(aws_request("SageMaker.DescribeTrainingJob", R"({"TrainingJobName":"missing"})")));
        CHECK(body == json{{"__type", "ValidationException"}, {"message", "Requested resource not found."},
                           {"Message", "Requested resource not found."}});
    }
    SUBCASE("our own bugs are a 500 InternalFailure") {
        auto response = r.handle(aws_request("SageMaker.DescribeTrainingJob", R"({"TrainingJobName":"crash"})"));
        CHECK(response.result() == http::status::internal_server_error);
        CHECK(body_of(response)["__type"] == "InternalFailure");
    }
    SUBCASE("POST without a target") {
        http_request request{http::verb::post, "/", 11};
        CHECK(body_of(r.handle(std::move(request)))["__type"] == "UnknownOperationException");
    }
}

TEST_CASE("GET /health reports JSON") {
    router r = make_router();
    http_request request{http::verb::get, "/health", 11};
    auto response = r.handle(std::move(request));
    CHECK(response.result() == http::status::ok);
    json body = body_of(response);
    CHECK(body["status"] == "ok");
    CHECK(body["training_jobs"] == 3);
}
