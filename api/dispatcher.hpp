#pragma once
// One port serves every service. A request is routed by, in order:
//   1. X-Amz-Target → the AWS JSON 1.1 router (SageMaker, CloudWatch Logs);
//   2. the SigV4 credential scope's service (Authorization header, or X-Amz-Credential of a
//      presigned URL): s3 → S3, sts → STS, anything else → the JSON router;
//   3. unsigned requests by form: /health and /_smlocal/* → the dashboard or the router, GET "/"
//      on the plain host → the dashboard (a browser), a form POST to "/" → STS, the rest → S3
//      (containers fetch objects unsigned).
// The services are functions, so that the routing is tested apart from them.

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "api/http/http_server.hpp"

namespace smlocal::api {

enum class endpoint { json, s3, sts, dashboard };

struct endpoint_services {
    std::function<http_response(http_request&&)> json;  // also answers /health and unknown paths
    std::function<http_response(http_request&&)> s3;
    std::function<http_response(http_request&&)> sts;
    std::function<http_response(http_request&&)> dashboard;
    /// Whether the dashboard serves this (GET/HEAD) path.
    std::function<bool(const http_request_header&)> dashboard_handles;
    /// Whether a Host header names a bucket (virtual-host style): then "/" is a bucket listing.
    std::function<bool(std::string_view host)> s3_virtual_host;
    /// Where an S3 request's body goes (uploads stream to files).
    std::function<body_plan(const http_request_header&)> s3_body_plan;
};

/// The signing name in a SigV4 credential scope (".../20261126/us-east-1/s3/aws4_request"), from
/// the Authorization header or a presigned URL's X-Amz-Credential. nullopt for unsigned requests.
std::optional<std::string> signing_service(const http_request_header& header);

class dispatcher {
public:
    explicit dispatcher(endpoint_services services) : services_(std::move(services)) {}

    endpoint classify(const http_request_header& header) const;
    /// The body_planner given to http_server.
    body_plan plan_body(const http_request_header& header) const;
    /// The blocking_predicate given to http_server: S3 requests stat, rename, hash and copy files.
    bool is_blocking(const http_request_header& header) const { return classify(header) == endpoint::s3; }
    /// The request_handler given to http_server.
    http_response handle(http_request&& request) const;

private:
    endpoint_services services_;
};

}  // namespace smlocal::api
