#pragma once
// AWS STS over the query protocol (form-encoded Action=...&Version=..., XML answers). Only
// GetCallerIdentity: the SageMaker Python SDK and many scripts ask it for the account id.

#include <string>

#include "api/http/http_server.hpp"

namespace smlocal::api {

class sts_service {
public:
    explicit sts_service(std::string account_id);
    /// Takes the parameters from the query string (GET) and the form body (POST).
    http_response handle(const http_request& request) const;

private:
    std::string account_id_;
};

}  // namespace smlocal::api
