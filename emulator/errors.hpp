#pragma once
// Errors the emulator reports to clients, in AWS terms. The api layer maps each code to an HTTP
// status (api/aws_protocol.cpp); the emulator itself knows nothing of HTTP.

#include <stdexcept>
#include <string>

namespace smlocal {

/// A failure that the request caused: thrown by the emulator, caught once by the api router.
/// `code()` is the AWS error code (`__type`), e.g. "ValidationException".
class service_error : public std::runtime_error {
public:
    service_error(std::string code, const std::string& message)
        : std::runtime_error(message), code_(std::move(code)) {}
    const std::string& code() const noexcept { return code_; }

private:
    std::string code_;
};

// The codes we raise. When adding one here, also map it in api/aws_protocol.cpp (status_for_code).
namespace error_code {
inline constexpr const char* validation = "ValidationException";
inline constexpr const char* resource_not_found = "ResourceNotFound";
inline constexpr const char* resource_in_use = "ResourceInUse";
inline constexpr const char* resource_limit_exceeded = "ResourceLimitExceeded";
inline constexpr const char* serialization = "SerializationException";
inline constexpr const char* unknown_operation = "UnknownOperationException";
// CloudWatch Logs spells its codes differently from SageMaker.
inline constexpr const char* invalid_parameter = "InvalidParameterException";
inline constexpr const char* logs_resource_not_found = "ResourceNotFoundException";
// S3 (emulator/storage/object_store): REST-XML codes; api/s3/s3_service.cpp maps them to statuses.
namespace s3 {
inline constexpr const char* no_such_bucket = "NoSuchBucket";
inline constexpr const char* no_such_key = "NoSuchKey";
inline constexpr const char* no_such_upload = "NoSuchUpload";
inline constexpr const char* bucket_already_owned_by_you = "BucketAlreadyOwnedByYou";
inline constexpr const char* bucket_not_empty = "BucketNotEmpty";
inline constexpr const char* invalid_bucket_name = "InvalidBucketName";
inline constexpr const char* invalid_argument = "InvalidArgument";
inline constexpr const char* invalid_request = "InvalidRequest";
inline constexpr const char* invalid_part = "InvalidPart";
inline constexpr const char* invalid_part_order = "InvalidPartOrder";
inline constexpr const char* entity_too_small = "EntityTooSmall";
inline constexpr const char* invalid_range = "InvalidRange";
inline constexpr const char* key_too_long = "KeyTooLongError";
inline constexpr const char* malformed_xml = "MalformedXML";
inline constexpr const char* access_denied = "AccessDenied";
inline constexpr const char* bad_digest = "BadDigest";
inline constexpr const char* precondition_failed = "PreconditionFailed";
inline constexpr const char* not_implemented = "NotImplemented";
inline constexpr const char* method_not_allowed = "MethodNotAllowed";
}  // namespace s3
}  // namespace error_code

inline service_error validation_error(const std::string& message) {
    return service_error(error_code::validation, message);
}

}  // namespace smlocal
