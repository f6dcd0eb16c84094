#pragma once
// Routes each request: emulator endpoints (/health) by path, AWS JSON 1.1 operations by the
// X-Amz-Target prefix ("SageMaker.", "Logs_20140328."). It parses and validates the body
// against the service model, calls the operation, and catches every error once.

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "api/http/http_server.hpp"
#include "api/model/validator.hpp"

namespace smlocal::api {

/// What an operation answers: a JSON value, or a body it already serialized (a cached one).
struct operation_output {
    operation_output(nlohmann::json json_value) : value(std::move(json_value)) {}
    operation_output(std::shared_ptr<const std::string> serialized) : body(std::move(serialized)) {}
    nlohmann::json value;
    std::shared_ptr<const std::string> body;
};

/// One operation: a validated request body in, a response body out. Throws service_error.
using operation_handler = std::function<operation_output(nlohmann::json& request)>;

/// An AWS JSON 1.1 service: its target prefix, its model (for validation), its operations.
struct json_service {
    std::string target_prefix;  // e.g. "SageMaker"
    const service_model* model = nullptr;
    std::map<std::string, operation_handler, std::less<>> operations;
};

class router {
public:
    void add_service(json_service service);
    /// Extra JSON facts for GET /health (job counts and the like).
    void set_health_reporter(std::function<nlohmann::json()> reporter) { health_ = std::move(reporter); }

    /// The request_handler given to http_server.
    http_response handle(http_request&& request) const;

private:
    http_response handle_json_operation(const http_request& request, std::string_view target,
                                        const std::string& request_id) const;

    std::map<std::string, json_service, std::less<>> services_;
    std::function<nlohmann::json()> health_;
};

}  // namespace smlocal::api
