#pragma once
// CloudWatch Logs operations (X-Amz-Target: Logs_20140328.<Op>): thin handlers that read the
// validated request, call the log service, and shape the response (lowerCamelCase members,
// timestamps in epoch milliseconds). LIMITATIONS vs real CloudWatch Logs are listed in
// emulator/log_service.hpp.

#include "api/router.hpp"
#include "emulator/log_service.hpp"

namespace smlocal::api {

/// The CloudWatch Logs service for the router: prefix "Logs_20140328", the embedded logs model,
/// and DescribeLogGroups, DescribeLogStreams, GetLogEvents, FilterLogEvents.
json_service make_logs_service(log_service& logs);

}  // namespace smlocal::api
