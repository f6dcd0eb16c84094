#pragma once
// The AWS JSON 1.1 envelope: response headers, the error body, and the one table that maps error
// codes to HTTP statuses.

#include <string>
#include <string_view>

#include "api/http/http_server.hpp"

namespace smlocal::api {

inline constexpr std::string_view amz_json_content_type = "application/x-amz-json-1.1";

/// HTTP status for an AWS error code: 400 for client faults, 500 for InternalFailure.
unsigned status_for_code(std::string_view code);

/// A fresh request id (UUID v4 form), sent as x-amzn-RequestId; botocore copies it into
/// ResponseMetadata.RequestId.
std::string new_request_id();

/// 200 with a JSON body.
http_response json_response(const http_request& request, std::string body, const std::string& request_id);

/// The error envelope: status from the table, body {"__type","message","Message"}, and the code
/// in X-Amzn-ErrorType too (JS v3 and Go v2 read the header).
http_response error_response(const http_request& request, std::string_view code, std::string_view message,
                             const std::string& request_id);

}  // namespace smlocal::api

#include <optional>
#include <nlohmann/json_fwd.hpp>

namespace smlocal::api {

/// A request timestamp as epoch seconds: a JSON number (botocore's default) or an ISO-8601 string.
/// nullopt for anything else.
std::optional<double> parse_timestamp(const nlohmann::json& value);

}  // namespace smlocal::api
