// Test that the header file is self-contained.
#include "api/sts/sts_service.hpp"

#include <doctest/doctest.h>

using namespace smlocal::api;
namespace http = boost::beast::http;

namespace {

http_request form_post(std::string body) {
    http_request request{http::verb::post, "/", 11};
    request.set(http::field::content_type, "application/x-www-form-urlencoded; charset=utf-8");
    request.body() = std::move(body);
    return request;
}

}  // namespace

TEST_CASE("sts: GetCallerIdentity answers with the configured account") {
    const sts_service sts("210987654321");
    for (auto request : {form_post("Action=GetCallerIdentity&Version=2011-06-15"),
                         http_request{http::verb::get, "/?Action=GetCallerIdentity&Version=2011-06-15", 11}}) {
        const auto response = sts.handle(request);
        CHECK(response.result() == http::status::ok);
        CHECK(response[http::field::content_type] == "text/xml");
        CHECK(response.body().find("<Account>210987654321</Account>") != std::string::npos);
        CHECK(response.body().find("<Arn>arn:aws:iam::210987654321:root</Arn>") != std::string::npos);
        CHECK(response.body().find("<RequestId>" + std::string(response["x-amzn-RequestId"]) + "</RequestId>") !=
              std::string::npos);
    }
}

TEST_CASE("sts: other actions and broken forms get query-protocol errors") {
    const sts_service sts("210987654321");
    auto response = sts.handle(form_post("Action=AssumeRole&Version=2011-06-15&RoleArn=x"));
    CHECK(response.result() == http::status::bad_request);
    CHECK(response.body().find("<Code>InvalidAction</Code>") != std::string::npos);
    CHECK(response.body().find("AssumeRole") != std::string::npos);

    response = sts.handle(form_post("Action=GetCallerIdentity&Version=1999-01-01"));
    CHECK(response.body().find("<Code>InvalidAction</Code>") != std::string::npos);

    response = sts.handle(form_post("Version=2011-06-15"));
    CHECK(response.body().find("<Code>MissingAction</Code>") != std::string::npos);

    response = sts.handle(form_post("Action=%ZZ"));
    CHECK(response.body().find("<Code>MalformedQueryString</Code>") != std::string::npos);

    SUBCASE("echoed names are escaped") {
        response = sts.handle(form_post("Action=%3Cx%3E"));
        CHECK(response.body().find("&lt;x&gt;") != std::string::npos);
    }
}
