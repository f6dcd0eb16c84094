#include "api/sts/sts_service.hpp"

#include <string_view>

#include "api/aws_protocol.hpp"
#include "api/http/url.hpp"
#include "api/xml.hpp"

namespace smlocal::api {
namespace {

namespace http = boost::beast::http;

constexpr const char* sts_namespace = "https://sts.amazonaws.com/doc/2011-06-15/";
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
    pugi::xml_document doc;
    auto root = add_xml_root(doc, "ErrorResponse", sts_namespace);
    auto error = root.append_child("Error");
    add_xml_text(error, "Type", "Sender");
    add_xml_text(error, "Code", code);
    add_xml_text(error, "Message", message);
    add_xml_text(root, "RequestId", request_id);
    return xml_response(request, status, xml_text(doc), request_id);
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
                         "Could not find operation " + action->second + " for version " +
                             (version == parameters->end() ? std::string(api_version) : version->second) +
                             ".",
                         request_id);

    // The account's root identity: smlocal has no IAM users.
    pugi::xml_document doc;
    auto root = add_xml_root(doc, "GetCallerIdentityResponse", sts_namespace);
    auto result = root.append_child("GetCallerIdentityResult");
    add_xml_text(result, "Arn", "arn:aws:iam::" + account_id_ + ":root");
    add_xml_text(result, "UserId", account_id_);
    add_xml_text(result, "Account", account_id_);
    add_xml_text(root.append_child("ResponseMetadata"), "RequestId", request_id);
    std::string body = xml_text(doc);
    return xml_response(request, http::status::ok, std::move(body), request_id);
}

}  // namespace smlocal::api
