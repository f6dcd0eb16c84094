#include "api/router.hpp"

#include "api/aws_protocol.hpp"
#include "emulator/errors.hpp"

namespace smlocal::api {

namespace http = boost::beast::http;
using json = nlohmann::json;

void router::add_service(json_service service) {
    std::string prefix = service.target_prefix;
    services_.emplace(std::move(prefix), std::move(service));
}

http_response router::handle(http_request&& request) const {
    const std::string request_id = new_request_id();
    const auto target_header = request.find("X-Amz-Target");
    if (target_header != request.end())
        return handle_json_operation(request, std::string_view(target_header->value().data(), target_header->value().size()), request_id);

    const std::string_view path(request.target().data(), request.target().size());
    if (path == "/health" || path == "/_smlocal/health") {
        json body{{"status", "ok"}, {"service", "smlocal"}};
        if (health_) body.update(health_());
        auto response = json_response(request, body.dump(), request_id);
        response.set(http::field::content_type, "application/json");
        return response;
    }
    if (request.method() == http::verb::post)
        return error_response(request, error_code::unknown_operation,
                              "Missing X-Amz-Target header: smlocal cannot tell which operation this is.", request_id);
    return error_response(request, "NotFound", "No such path: " + std::string(path), request_id);
}

http_response router::handle_json_operation(const http_request& request, std::string_view target,
                                            const std::string& request_id) const {
    const auto dot = target.find('.');
    const std::string_view prefix = target.substr(0, dot);
    const std::string_view operation = dot == std::string_view::npos ? std::string_view{} : target.substr(dot + 1);
    auto service = services_.find(prefix);
    const operation_handler* handler = nullptr;
    if (service != services_.end()) {
        auto op = service->second.operations.find(operation);
        if (op != service->second.operations.end()) handler = &op->second;
    }
    if (!handler)
        return error_response(request, error_code::unknown_operation,
                              "Unknown operation " + std::string(target) + ".", request_id);

    try {
        // An empty body is an empty input: some clients send nothing for parameterless calls.
        json body = request.body().empty() ? json::object() : json::parse(request.body(), nullptr, false);
        if (body.is_discarded() || !body.is_object())
            return error_response(request, error_code::serialization,
                                  body.is_discarded() ? "Malformed request body: not valid JSON."
                                                      : "Malformed request body: expected a JSON object.",
                                  request_id);
        if (const service_model* model = service->second.model) {
            const validation_result result = request_validator(*model).validate(operation, body);
            if (!result.type_errors.empty())
                return error_response(request, error_code::serialization, result.type_errors.front(), request_id);
            if (!result.violations.empty())
                return error_response(request, error_code::validation, format_validation_message(result.violations),
                                      request_id);
        }
        operation_output output = (*handler)(body);
        return json_response(request,
                             output.body ? *output.body
                                         : output.value.dump(-1, ' ', false, json::error_handler_t::replace),
                             request_id);
    } catch (const service_error& error) {
        return error_response(request, error.code(), error.what(), request_id);
    } catch (const std::exception& error) {
        // Only our own bugs land here; clients retry a 500.
        return error_response(request, "InternalFailure", std::string("Internal error: ") + error.what(), request_id);
    }
}

}  // namespace smlocal::api
