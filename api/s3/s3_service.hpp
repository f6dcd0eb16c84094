#pragma once
// The Amazon S3 REST API (REST-XML) subset that notebooks, the AWS CLI and the SageMaker SDK use,
// served over the local S3 folder (emulator/storage/object_store). Path-style (/bucket/key) and
// virtual-host-style (Host: bucket.localhost:port) addressing.
//
// LIMITATIONS vs Amazon S3:
// - No SigV4 verification here, no ACLs, policies, versioning, tagging, lifecycle, website,
//   encryption, object lock, presigned-URL expiry, POST-form uploads or aws-chunked bodies
//   (NotImplemented). botocore sends aws-chunked only over HTTPS.
// - x-amz-checksum-* request headers are not verified and no checksums are returned; Content-MD5
//   is verified.
// - Conditional requests: If-Match / If-None-Match on GET, HEAD and PUT; no date conditions.
// - One region (the options'), one owner.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/http/http_server.hpp"
#include "emulator/storage/object_store.hpp"

namespace smlocal::api {

struct s3_service_options {
    std::string region = "us-east-1";
    std::vector<std::string> virtual_host_domains{"localhost"};  // Host "<bucket>.<domain>[:port]" is virtual-host style
};

class s3_service {
public:
    s3_service(object_store& objects, s3_service_options options);

    /// The bucket a virtual-host-style Host header names ("bucket.localhost:8080"), if any.
    std::optional<std::string> virtual_host_bucket(std::string_view host) const;
    /// Where a request body goes: PutObject/UploadPart stream into a fresh file in the store's incoming folder.
    body_plan plan_body(const http_request_header& header) const;
    /// One S3 request to its response; errors become S3's XML error document (no body for HEAD).
    http_response handle(http_request&& request) const;

    /// Uploads (PutObject, UploadPart) may be this big: S3's single-PUT maximum, 5 GiB.
    static constexpr std::uint64_t max_upload_bytes = 5ull * 1024 * 1024 * 1024;

private:
    struct target;
    target parse_target(const http_request_header& header) const;

    object_store& objects_;
    s3_service_options options_;
};

/// HTTP status of an S3 error code (400 for codes not in the table).
unsigned s3_status_for_code(std::string_view code);

}  // namespace smlocal::api
