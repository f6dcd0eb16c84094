#include "api/dispatcher.hpp"

#include "api/http/url.hpp"

namespace smlocal::api {
namespace {

namespace http = boost::beast::http;

std::string_view view(boost::beast::string_view text) { return {text.data(), text.size()}; }

// "AKID/20261126/us-east-1/s3/aws4_request" → "s3".
std::optional<std::string> scope_service(std::string_view credential) {
    std::string_view parts[5];
    for (auto& part : parts) {
        const auto slash = credential.find('/');
        part = credential.substr(0, slash);
        if (slash == std::string_view::npos) {
            credential = {};
            break;
        }
        credential = credential.substr(slash + 1);
    }
    if (parts[3].empty() || parts[4] != "aws4_request") return std::nullopt;
    return std::string(parts[3]);
}

}  // namespace

std::optional<std::string> signing_service(const http_request_header& header) {
    const auto authorization = header.find(http::field::authorization);
    if (authorization != header.end()) {
        const std::string_view value = view(authorization->value());
        const auto credential = value.find("Credential=");
        if (credential != std::string_view::npos) {
            std::string_view rest = value.substr(credential + 11);
            return scope_service(rest.substr(0, rest.find_first_of(", ")));
        }
        // Signature version 2 ("AWS AKID:signature") is S3's alone.
        if (value.rfind("AWS ", 0) == 0) return std::string("s3");
        return std::nullopt;
    }
    const auto query = parse_query(target_query(view(header.target())));
    if (!query) return std::nullopt;
    const auto credential = query->find("X-Amz-Credential");
    if (credential == query->end()) return std::nullopt;
    return scope_service(credential->second);
}

endpoint dispatcher::classify(const http_request_header& header) const {
    if (header.find("X-Amz-Target") != header.end()) return endpoint::json;
    if (const auto service = signing_service(header)) {
        if (*service == "s3") return endpoint::s3;
        if (*service == "sts") return endpoint::sts;
        return endpoint::json;
    }
    const std::string_view path = target_path(view(header.target()));
    const bool reads = header.method() == http::verb::get || header.method() == http::verb::head;
    // Bucket names cannot contain "_", so /_smlocal/ never shadows a bucket.
    if (path == "/health" || path.rfind("/_smlocal/", 0) == 0) {
        if (reads && services_.dashboard_handles && services_.dashboard_handles(header)) return endpoint::dashboard;
        return endpoint::json;
    }
    const bool virtual_host = services_.s3_virtual_host && services_.s3_virtual_host(view(header[http::field::host]));
    if (path == "/" && !virtual_host) {
        if (reads && services_.dashboard) return endpoint::dashboard;
        if (header.method() == http::verb::post) {
            const std::string_view type = view(header[http::field::content_type]);
            if (type.rfind("application/x-www-form-urlencoded", 0) == 0) return endpoint::sts;
            return endpoint::json;
        }
    }
    return endpoint::s3;
}

body_plan dispatcher::plan_body(const http_request_header& header) const {
    if (services_.s3_body_plan && classify(header) == endpoint::s3) return services_.s3_body_plan(header);
    return {};
}

http_response dispatcher::handle(http_request&& request) const {
    const auto* service = &services_.json;
    switch (classify(request.base())) {
        case endpoint::json: break;
        case endpoint::s3: service = &services_.s3; break;
        case endpoint::sts: service = &services_.sts; break;
        case endpoint::dashboard: service = &services_.dashboard; break;
    }
    // A service this binary was built without falls back to the JSON router's "no such path".
    if (!*service) service = &services_.json;
    return (*service)(std::move(request));
}

}  // namespace smlocal::api
