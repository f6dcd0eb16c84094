#pragma once
// One model-driven validator: it interprets the trimmed botocore service model
// (api/sagemaker/model.json, made by scripts/extract_model.py) instead of hand-written checks.

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace smlocal::api {

/// The shapes of one service, as botocore describes them.
class service_model {
public:
    /// Parses a model document: {"metadata":…, "operations":{name:{input, output}}, "shapes":{…}}
    /// in botocore's own format. Throws std::runtime_error when it is not one.
    static service_model parse(const nlohmann::json& document);

    bool has_operation(std::string_view operation) const;
    /// Input / output shape names of an operation; empty when it has none or is unknown.
    const std::string& input_shape(std::string_view operation) const;
    const std::string& output_shape(std::string_view operation) const;
    const nlohmann::json& shape(std::string_view name) const;  // throws std::out_of_range

    /// Model patterns RE2 cannot run even after translation from Java syntax, as
    /// "<Shape>: <pattern> (<reason>)". Their pattern check is skipped; everything else still holds.
    const std::vector<std::string>& skipped_patterns() const;

    struct compiled;  // shapes with their RE2 patterns compiled once

private:
    explicit service_model(std::shared_ptr<const compiled> c) : compiled_(std::move(c)) {}
    static service_model compile(const nlohmann::json& document);

    // Shared so that copies are cheap and the shape graph (which points into itself) never moves.
    std::shared_ptr<const compiled> compiled_;
    friend class request_validator;
    friend std::vector<std::string> check_output(const service_model&, std::string_view, const nlohmann::json&);
};

/// The outcome of checking a request.
struct validation_result {
    /// Constraint violations in AWS wording, e.g. "Value 'a_b' at 'trainingJobName' failed to
    /// satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}".
    std::vector<std::string> violations;
    /// A JSON type that cannot be the member's type (string for an integer, and so on): AWS answers
    /// these with SerializationException rather than ValidationException.
    std::vector<std::string> type_errors;
};

class request_validator {
public:
    explicit request_validator(const service_model& model) : model_(model) {}

    /// Checks `request` against the operation's input shape: required members, types, enums,
    /// lengths, value ranges, list and map sizes, and patterns (RE2). Members the model does not
    /// know are removed from `request` (newer clients may send them), so what is stored and echoed
    /// is only what the model defines; `null` optional members are removed too, and ISO-8601
    /// timestamp strings are replaced by epoch seconds. Throws std::out_of_range for an operation
    /// the model does not have.
    validation_result validate(std::string_view operation, nlohmann::json& request) const;

private:
    const service_model& model_;
};

/// "1 validation error detected: <v>" / "N validation errors detected: <v1>; <v2>".
std::string format_validation_message(const std::vector<std::string>& violations);

/// Checks a response body against the operation's output shape (required members present, types,
/// enums, no unknown members, no nulls). Returns a description per problem; empty when it conforms.
/// Timestamps must be JSON numbers here. Throws std::out_of_range for an unknown operation.
/// Used by tests, and by the server under --check-responses.
std::vector<std::string> check_output(const service_model& model, std::string_view operation,
                                      const nlohmann::json& response);

/// The SageMaker model compiled into the binary.
const service_model& sagemaker_model();

/// The CloudWatch Logs model (api/logs/model.json) compiled into the binary.
const service_model& logs_model();

}  // namespace smlocal::api
