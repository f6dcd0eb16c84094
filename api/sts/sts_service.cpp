#include "api/sts/sts_service.hpp"

#include <string_view>

#include "api/aws_protocol.hpp"
#include "api/http/url.hpp"

namespace smlocal::api {
namespace {

namespace http = boost::beast::http;

constexpr std::string_view sts_namespace = "https://sts.amazonaws.com/doc/2011-06-15/";
constexpr std::string_view api_version = "2011-06-15";

http_response xml_response(const http_request& request, http::status status, std::string body,
                           const std::string& request_id) {
    http_response response{status, request.version()};
    response.set(http::field::content_type, "text/xml");
    response.set("x-amzn-RequestId", request_id);
    response.body() = std::move(body);
    response.keep_alive(request.keep_alive());
    return response;
}

// The query protocol's error shape, which botocore's QueryParser reads (Error/Code, Error/Message).
http_response sts_error(const http_request& request, http::status status, std::string_view code,
                        std::string_view message, const std::string& request_id) {
    std::string body = "<ErrorResponse xmlns=\"" + std::string(sts_namespace) + "\"><Error><Type>Sender</Type><Code>" +
                       std::string(code) + "</Code><Message>" + std::string(message) + "</Message></Error><RequestId>" +
                       request_id + "</RequestId></ErrorResponse>";
    return xml_response(request, status, std::move(body), request_id);
}

// Parameter values we echo into XML are action names; escape them all the same.
std::string xml_escape(std::string_view text) {
    std::string out;
    for (const char c : text) {
        switch (c) {
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '&': out += "&amp;"; break;
            case '"': out += "&quot;"; break;
            default: out += c;
        }
    }
    return out;
}

}  // namespace

sts_service::sts_service(std::string account_id) : account_id_(std::move(account_id)) {}

http_response sts_service::handle(const http_request& request) const {
    const std::string request_id = new_request_id();
    const std::string_view target(request.target().data(), request.target().size());
    auto parameters = parse_query(target_query(target));
    if (parameters && request.method() == http::verb::post) {
        auto form = parse_query(request.body());
        if (!form) parameters.reset();
        else parameters->merge(*form);
    }
    if (!parameters)
        return sts_error(request, http::status::bad_request, "MalformedQueryString",
                         "The request's query string or form body has a broken percent escape.", request_id);

    const auto action = parameters->find("Action");
    if (action == parameters->end())
        return sts_error(request, http::status::bad_request, "MissingAction", "Missing Action parameter.", request_id);
    const auto version = parameters->find("Version");
    if (action->second != "GetCallerIdentity" || (version != parameters->end() && version->second != api_version))
        return sts_error(request, http::status::bad_request, "InvalidAction",
                         "Could not find operation " + xml_escape(action->second) + " for version " +
                             (version == parameters->end() ? std::string(api_version) : xml_escape(version->second)) +
                             ".",
                         request_id);

    // The account's root identity: smlocal has no IAM users.
    std::string body = "<GetCallerIdentityResponse xmlns=\"" + std::string(sts_namespace) +
                       "\"><GetCallerIdentityResult><Arn>arn:aws:iam::" + account_id_ + ":root</Arn><UserId>" +
                       account_id_ + "</UserId><Account>" + account_id_ +
                       "</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>" + request_id +
                       "</RequestId></ResponseMetadata></GetCallerIdentityResponse>";
    return xml_response(request, http::status::ok, std::move(body), request_id);
}

}  // namespace smlocal::api
