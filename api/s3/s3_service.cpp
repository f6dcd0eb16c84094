#include "api/s3/s3_service.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <ctime>
#include <fstream>
#include <map>
#include <sstream>

#include <pugixml.hpp>

#include "api/http/url.hpp"
#include "api/xml.hpp"
#include "emulator/arn.hpp"
#include "emulator/encoding.hpp"
#include "emulator/errors.hpp"

namespace smlocal::api {

namespace http = boost::beast::http;
namespace fs = std::filesystem;
namespace codes = error_code::s3;

namespace {

constexpr const char* xml_namespace = "http://s3.amazonaws.com/doc/2006-03-01/";
constexpr std::string_view default_content_type = "binary/octet-stream";
constexpr std::string_view meta_prefix = "x-amz-meta-";
// The one owner of every bucket (S3 returns the canonical user of the account).
constexpr const char* owner_id = "75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a";
constexpr const char* owner_name = "smlocal";

service_error s3_error(const char* code, const std::string& message) { return service_error(code, message); }

// ----- text helpers --------------------------------------------------------------------------

std::string iso8601(std::chrono::system_clock::time_point t) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
    const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&seconds, &tm);
    char text[64];
    std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
    return text;
}

std::string rfc1123(std::chrono::system_clock::time_point t) {
    const std::time_t seconds = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&seconds, &tm);
    char text[40];
    std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    return text;
}

std::optional<std::int64_t> parse_int(std::string_view text) {
    std::int64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size() || text.empty()) return std::nullopt;
    return value;
}

std::string_view field(const http_request_header& header, std::string_view name) {
    const auto it = header.find(boost::beast::string_view(name.data(), name.size()));
    if (it == header.end()) return {};
    const auto value = it->value();
    return {value.data(), value.size()};
}

bool has_field(const http_request_header& header, std::string_view name) {
    return header.find(boost::beast::string_view(name.data(), name.size())) != header.end();
}

// ----- query string --------------------------------------------------------------------------

struct query_params {
    std::map<std::string, std::string, std::less<>> values;  // first occurrence wins
    bool has(const std::string& name) const { return values.contains(name); }
    std::string get(const std::string& name) const {
        const auto it = values.find(name);
        return it == values.end() ? std::string() : it->second;
    }
};

/// Percent-decoding of a path or header; a broken escape is S3's InvalidURI.
std::string decode_or_throw(std::string_view text) {
    auto decoded = percent_decode(text);
    if (!decoded) throw service_error("InvalidURI", "Couldn't parse the specified URI.");
    return std::move(*decoded);
}

// ----- XML -----------------------------------------------------------------------------------

void add_owner(pugi::xml_node parent) {
    auto owner = parent.append_child("Owner");
    add_xml_text(owner, "ID", owner_id);
    add_xml_text(owner, "DisplayName", owner_name);
}

/// The request's XML body, or MalformedXML.
pugi::xml_document parse_xml(const std::string& body) {
    pugi::xml_document doc;
    if (body.empty() || !doc.load_buffer(body.data(), body.size()))
        throw s3_error(codes::malformed_xml,
                       "The XML you provided was not well-formed or did not validate against our published schema");
    return doc;
}

// ----- responses -----------------------------------------------------------------------------

struct context {
    const http_request& request;
    std::string request_id = random_hex(8, true);
};

http_response base_response(const context& ctx, http::status status) {
    http_response response{status, ctx.request.version()};
    response.set("x-amz-request-id", ctx.request_id);
    response.set("x-amz-id-2", random_hex(32, false));
    response.keep_alive(ctx.request.keep_alive());
    return response;
}

http_response xml_response(const context& ctx, const pugi::xml_document& doc, http::status status = http::status::ok) {
    auto response = base_response(ctx, status);
    response.set(http::field::content_type, "application/xml");
    response.body() = xml_text(doc);
    response.prepare_payload();
    return response;
}

http_response empty_response(const context& ctx, http::status status) {
    auto response = base_response(ctx, status);
    response.body() = std::string();
    response.prepare_payload();
    return response;
}

http_response error_response(const context& ctx, std::string_view code, std::string_view message) {
    auto response = base_response(ctx, static_cast<http::status>(s3_status_for_code(code)));
    if (ctx.request.method() == http::verb::head) {
        // HEAD has no body, so the code has nowhere else to go than the status.
        response.content_length(0);
        return response;
    }
    pugi::xml_document doc;
    auto root = doc.append_child("Error");
    add_xml_text(root, "Code", code);
    add_xml_text(root, "Message", message);
    const auto target = ctx.request.target();
    const auto path = target_path(std::string_view(target.data(), target.size()));
    add_xml_text(root, "Resource", percent_decode(path).value_or(std::string(path)));
    add_xml_text(root, "RequestId", ctx.request_id);
    response.set(http::field::content_type, "application/xml");
    response.body() = xml_text(doc);
    response.prepare_payload();
    return response;
}

// ----- request pieces ------------------------------------------------------------------------

object_attributes attributes_of(const http_request& request) {
    object_attributes attributes;
    attributes.content_type = std::string(field(request, "Content-Type"));
    for (const auto& f : request) {
        const auto name = f.name_string();
        if (name.size() > meta_prefix.size() &&
            lower_case(std::string(name.data(), meta_prefix.size())) == meta_prefix) {
            attributes.metadata[lower_case(std::string(name.data() + meta_prefix.size(), name.size() - meta_prefix.size()))] =
                std::string(f.value());
        }
    }
    return attributes;
}

void set_object_headers(http_response& response, const object_info& info) {
    response.set(http::field::etag, info.etag);
    response.set(http::field::last_modified, rfc1123(info.last_modified));
    response.set(http::field::accept_ranges, "bytes");
    const auto& type = info.attributes.content_type;
    response.set(http::field::content_type, type.empty() ? std::string(default_content_type) : type);
    for (const auto& [name, value] : info.attributes.metadata) response.set(std::string(meta_prefix) + name, value);
}

/// The uploaded body as a file in the incoming folder (a text body is written out first), with its MD5.
struct staged_body {
    fs::path path;
    std::string md5_hex;
    ~staged_body() {
        // The server removes files it planned; this covers text bodies written here.
        std::error_code ec;
        if (!path.empty()) fs::remove(path, ec);
    }
};

void stage_body(const object_store& objects, const http_request& request, staged_body& staged) {
    if (field(request, "Content-Encoding").find("aws-chunked") != std::string_view::npos)
        throw s3_error(codes::not_implemented, "aws-chunked uploads (streaming SigV4 payloads) are not supported");
    if (request.body().file) {
        staged.path = request.body().file->path;
        staged.md5_hex = request.body().file->md5_hex;
    } else {
        staged.path = objects.incoming_file();
        std::ofstream out(staged.path, std::ios::binary);
        out.write(request.body().data(), static_cast<std::streamsize>(request.body().size()));
        out.close();
        if (!out) throw std::runtime_error("cannot write " + staged.path.string());
        staged.md5_hex = md5::hex_of(request.body());
    }
    if (const auto content_md5 = field(request, "Content-MD5"); !content_md5.empty()) {
        const auto raw = base64_decode(content_md5);
        if (!raw || raw->size() != 16) throw s3_error("InvalidDigest", "The Content-MD5 you specified was invalid.");
        if (hex_encode(*raw) != staged.md5_hex)
            throw s3_error(codes::bad_digest, "The Content-MD5 you specified did not match what we received.");
    }
}

/// x-amz-copy-source: "[/]bucket/key[?versionId=...]", URL-encoded.
std::pair<std::string, std::string> copy_source(std::string_view header) {
    if (const auto q = header.find("?versionId="); q != std::string_view::npos) header = header.substr(0, q);
    std::string decoded = decode_or_throw(header);
    if (decoded.starts_with('/')) decoded.erase(0, 1);
    const auto slash = decoded.find('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 == decoded.size())
        throw s3_error(codes::invalid_argument, "Copy Source must mention the source bucket and key: sourcebucket/sourcekey");
    return {decoded.substr(0, slash), decoded.substr(slash + 1)};
}

struct byte_range {
    std::uint64_t first = 0;
    std::uint64_t last = 0;
};

/// Range: bytes=a-b | a- | -n. nullopt when absent or not understood (S3 then sends everything);
/// throws InvalidRange when it cannot be satisfied.
std::optional<byte_range> parse_range(std::string_view header, std::uint64_t size) {
    if (!header.starts_with("bytes=")) return std::nullopt;
    const auto spec = header.substr(6);
    if (spec.find(',') != std::string_view::npos) return std::nullopt;
    const auto dash = spec.find('-');
    if (dash == std::string_view::npos) return std::nullopt;
    const auto first_text = spec.substr(0, dash);
    const auto last_text = spec.substr(dash + 1);
    const auto unsatisfiable = [&] {
        return s3_error(codes::invalid_range, "The requested range is not satisfiable");
    };
    if (first_text.empty()) {
        const auto suffix = parse_int(last_text);
        if (!suffix || *suffix < 0) return std::nullopt;
        if (*suffix == 0 || size == 0) throw unsatisfiable();
        const auto n = std::min<std::uint64_t>(static_cast<std::uint64_t>(*suffix), size);
        return byte_range{size - n, size - 1};
    }
    const auto first = parse_int(first_text);
    if (!first || *first < 0) return std::nullopt;
    std::uint64_t last = size == 0 ? 0 : size - 1;
    if (!last_text.empty()) {
        const auto parsed = parse_int(last_text);
        if (!parsed || *parsed < *first) return std::nullopt;
        last = std::min<std::uint64_t>(static_cast<std::uint64_t>(*parsed), last);
    }
    if (static_cast<std::uint64_t>(*first) >= size) throw unsatisfiable();
    return byte_range{static_cast<std::uint64_t>(*first), last};
}

bool etag_matches(std::string_view condition, const std::string& etag) {
    // A list of entity tags, or "*".
    std::size_t start = 0;
    while (start < condition.size()) {
        auto end = std::min(condition.find(',', start), condition.size());
        auto item = condition.substr(start, end - start);
        while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
        while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
        if (item.starts_with("W/")) item.remove_prefix(2);
        if (item == "*") return true;
        const std::string bare = item.starts_with('"') ? std::string(item) : "\"" + std::string(item) + "\"";
        if (bare == etag) return true;
        start = end + 1;
    }
    return false;
}

int max_keys_of(const query_params& query, const char* name, int fallback) {
    if (!query.has(name)) return fallback;
    const auto value = parse_int(query.get(name));
    if (!value || *value < 0 || *value > 2147483647)
        throw s3_error(codes::invalid_argument, std::string("Provided ") + name + " not an integer or within integer range");
    return static_cast<int>(*value);
}

int part_number_of(const query_params& query) {
    const auto value = parse_int(query.get("partNumber"));
    if (!value || *value < 1 || *value > 10000)
        throw s3_error(codes::invalid_argument, "Part number must be an integer between 1 and 10000, inclusive");
    return static_cast<int>(*value);
}

// Sub-resources we do not serve; a request naming one gets NotImplemented rather than being
// mistaken for a plain bucket or object operation.
constexpr std::array unsupported_subresources{
    "acl", "policy", "policyStatus", "cors", "lifecycle", "logging", "notification", "replication", "tagging",
    "versioning", "versions", "website", "encryption", "object-lock", "retention", "legal-hold", "accelerate",
    "requestPayment", "inventory", "metrics", "analytics", "intelligent-tiering", "ownershipControls",
    "publicAccessBlock", "restore", "select", "torrent", "attributes", "renameObject"};

}  // namespace

unsigned s3_status_for_code(std::string_view code) {
    // Also update emulator/errors.hpp (error_code::s3) when adding a code that is not a 400.
    static constexpr std::array<std::pair<std::string_view, unsigned>, 13> table{{
        {"NoSuchBucket", 404},
        {"NoSuchKey", 404},
        {"NoSuchUpload", 404},
        {"BucketAlreadyOwnedByYou", 409},
        {"BucketAlreadyExists", 409},
        {"BucketNotEmpty", 409},
        {"AccessDenied", 403},
        {"MethodNotAllowed", 405},
        {"PreconditionFailed", 412},
        {"InvalidRange", 416},
        {"NotImplemented", 501},
        {"InternalError", 500},
        {"ServiceUnavailable", 503},
    }};
    for (const auto& [name, status] : table)
        if (name == code) return status;
    return 400;
}

struct s3_service::target {
    std::string bucket;  // empty: the service (ListBuckets)
    std::string key;     // empty: the bucket
    bool virtual_host = false;
    std::string query_text;
};

s3_service::s3_service(object_store& objects, s3_service_options options)
    : objects_(objects), options_(std::move(options)) {}

std::optional<std::string> s3_service::virtual_host_bucket(std::string_view host) const {
    // Drop the port (an IPv6 literal never names a bucket).
    if (host.starts_with('[')) return std::nullopt;
    if (const auto colon = host.rfind(':'); colon != std::string_view::npos) host = host.substr(0, colon);
    const std::string name = lower_case(std::string(host));
    for (const auto& domain : options_.virtual_host_domains) {
        const std::string suffix = "." + lower_case(domain);
        if (name.size() > suffix.size() && name.ends_with(suffix)) return name.substr(0, name.size() - suffix.size());
    }
    return std::nullopt;
}

s3_service::target s3_service::parse_target(const http_request_header& header) const {
    target t;
    const auto raw = header.target();
    std::string_view text(raw.data(), raw.size());
    // An absolute-form target (through a proxy) carries the host too.
    if (text.starts_with("http://") || text.starts_with("https://")) {
        const auto path_start = text.find('/', text.find("//") + 2);
        text = path_start == std::string_view::npos ? std::string_view("/") : text.substr(path_start);
    }
    t.query_text = std::string(target_query(text));
    std::string decoded = decode_or_throw(target_path(text));
    if (decoded.starts_with('/')) decoded.erase(0, 1);

    if (auto bucket = virtual_host_bucket(field(header, "Host"))) {
        t.bucket = std::move(*bucket);
        t.key = std::move(decoded);
        t.virtual_host = true;
        return t;
    }
    const auto slash = decoded.find('/');
    t.bucket = decoded.substr(0, slash);
    if (slash != std::string::npos) t.key = decoded.substr(slash + 1);
    return t;
}

body_plan s3_service::plan_body(const http_request_header& header) const {
    if (header.method() != http::verb::put || has_field(header, "x-amz-copy-source")) return {};
    try {
        const target t = parse_target(header);
        if (t.bucket.empty() || t.key.empty()) return {};
    } catch (const service_error&) {
        return {};  // handle() reports the bad target
    }
    return body_plan{objects_.incoming_file(), max_upload_bytes};
}

namespace {

// ----- operations ----------------------------------------------------------------------------

struct operation_context {
    const context& ctx;
    object_store& objects;
    const s3_service_options& options;
    const std::string& bucket;
    const std::string& key;
    const query_params& query;
};

http_response list_buckets(const operation_context& op) {
    pugi::xml_document doc;
    auto root = add_xml_root(doc, "ListAllMyBucketsResult", xml_namespace);
    add_owner(root);
    auto buckets = root.append_child("Buckets");
    for (const auto& bucket : op.objects.list_buckets()) {
        auto node = buckets.append_child("Bucket");
        add_xml_text(node, "Name", bucket.name);
        add_xml_text(node, "CreationDate", iso8601(bucket.creation_date));
    }
    return xml_response(op.ctx, doc);
}

http_response create_bucket(const operation_context& op) {
    // An optional CreateBucketConfiguration: its LocationConstraint is accepted as given.
    if (!op.ctx.request.body().empty() && !op.ctx.request.body().file) {
        auto doc = parse_xml(op.ctx.request.body());
        if (!doc.child("CreateBucketConfiguration"))
            throw s3_error(codes::malformed_xml,
                           "The XML you provided was not well-formed or did not validate against our published schema");
    }
    op.objects.create_bucket(op.bucket);
    auto response = empty_response(op.ctx, http::status::ok);
    response.set(http::field::location, "/" + op.bucket);
    return response;
}

http_response get_bucket_location(const operation_context& op) {
    op.objects.head_bucket(op.bucket);
    pugi::xml_document doc;
    auto root = add_xml_root(doc, "LocationConstraint", xml_namespace);
    // us-east-1 is spelled as no constraint at all.
    if (op.options.region != "us-east-1") root.text().set(op.options.region.c_str());
    return xml_response(op.ctx, doc);
}

void add_object_entry(pugi::xml_node parent, const object_info& info, bool url_encoding, bool owner) {
    auto node = parent.append_child("Contents");
    add_xml_text(node, "Key", url_encoding ? percent_encode(info.key) : info.key);
    add_xml_text(node, "LastModified", iso8601(info.last_modified));
    add_xml_text(node, "ETag", info.etag);
    add_xml_text(node, "Size", std::to_string(info.size));
    if (owner) add_owner(node);
    add_xml_text(node, "StorageClass", "STANDARD");
}

http_response list_objects(const operation_context& op, bool v2) {
    const std::string encoding = op.query.get("encoding-type");
    if (!encoding.empty() && encoding != "url")
        throw s3_error(codes::invalid_argument, "Invalid Encoding Method specified in Request");
    const bool url_encoding = encoding == "url";
    const auto enc = [&](const std::string& text) { return url_encoding ? percent_encode(text) : text; };

    list_objects_request request;
    request.prefix = op.query.get("prefix");
    request.delimiter = op.query.get("delimiter");
    request.max_keys = max_keys_of(op.query, "max-keys", 1000);
    request.after = op.query.get(v2 ? "start-after" : "marker");
    if (v2) request.continuation_token = op.query.get("continuation-token");
    if (v2 && op.query.has("continuation-token") && request.continuation_token.empty())
        throw s3_error(codes::invalid_argument, "The continuation token provided is incorrect");
    const auto result = op.objects.list_objects(op.bucket, request);

    pugi::xml_document doc;
    auto root = add_xml_root(doc, "ListBucketResult", xml_namespace);
    add_xml_text(root, "Name", op.bucket);
    add_xml_text(root, "Prefix", enc(request.prefix));
    if (!v2) add_xml_text(root, "Marker", enc(request.after));
    if (!request.delimiter.empty()) add_xml_text(root, "Delimiter", enc(request.delimiter));
    add_xml_text(root, "MaxKeys", std::to_string(request.max_keys));
    if (url_encoding) add_xml_text(root, "EncodingType", "url");
    add_xml_text(root, "IsTruncated", result.truncated ? "true" : "false");
    if (v2) {
        add_xml_text(root, "KeyCount", std::to_string(result.contents.size() + result.common_prefixes.size()));
        if (op.query.has("continuation-token")) add_xml_text(root, "ContinuationToken", request.continuation_token);
        if (result.truncated) add_xml_text(root, "NextContinuationToken", result.next_continuation_token);
        if (op.query.has("start-after")) add_xml_text(root, "StartAfter", enc(request.after));
    } else if (result.truncated && !request.delimiter.empty()) {
        // V1 gives NextMarker only with a delimiter; without one, clients resume after the last key.
        add_xml_text(root, "NextMarker", enc(result.last_listed));
    }
    const bool owner = !v2 || op.query.get("fetch-owner") == "true";
    for (const auto& info : result.contents) add_object_entry(root, info, url_encoding, owner);
    for (const auto& prefix : result.common_prefixes) add_xml_text(root.append_child("CommonPrefixes"), "Prefix", enc(prefix));
    return xml_response(op.ctx, doc);
}

http_response delete_objects(const operation_context& op) {
    auto doc = parse_xml(op.ctx.request.body());
    const auto del = doc.child("Delete");
    if (!del) throw s3_error(codes::malformed_xml, "The XML you provided was not well-formed or did not validate against our published schema");
    const bool quiet = std::string_view(del.child_value("Quiet")) == "true";
    std::vector<std::string> keys;
    for (auto object : del.children("Object")) keys.emplace_back(object.child_value("Key"));
    if (keys.empty() || keys.size() > 1000)
        throw s3_error(codes::malformed_xml, "The XML you provided was not well-formed or did not validate against our published schema");
    const auto failures = op.objects.delete_objects(op.bucket, keys);

    pugi::xml_document out;
    auto root = add_xml_root(out, "DeleteResult", xml_namespace);
    for (const auto& key : keys) {
        const bool failed = std::any_of(failures.begin(), failures.end(), [&](const auto& f) { return f.key == key; });
        if (!failed && !quiet) add_xml_text(root.append_child("Deleted"), "Key", key);
    }
    for (const auto& failure : failures) {
        auto node = root.append_child("Error");
        add_xml_text(node, "Key", failure.key);
        add_xml_text(node, "Code", failure.code);
        add_xml_text(node, "Message", failure.message);
    }
    return xml_response(op.ctx, out);
}

http_response get_object(const operation_context& op, bool head) {
    const auto& request = op.ctx.request;
    const object_info info = op.objects.head_object(op.bucket, op.key);

    // Conditions first, as S3 does: If-Match fails with 412, If-None-Match with 304.
    if (has_field(request, "If-Match") && !etag_matches(field(request, "If-Match"), info.etag))
        throw s3_error(codes::precondition_failed, "At least one of the pre-conditions you specified did not hold");
    if (has_field(request, "If-None-Match") && etag_matches(field(request, "If-None-Match"), info.etag)) {
        auto response = base_response(op.ctx, http::status::not_modified);
        response.set(http::field::etag, info.etag);
        response.set(http::field::last_modified, rfc1123(info.last_modified));
        response.content_length(0);
        return response;
    }

    const auto range = parse_range(field(request, "Range"), info.size);
    auto response = base_response(op.ctx, range ? http::status::partial_content : http::status::ok);
    set_object_headers(response, info);
    // response-* query parameters override the stored headers (presigned downloads use them).
    static constexpr std::array<std::pair<const char*, http::field>, 6> overrides{{
        {"response-content-type", http::field::content_type},
        {"response-content-disposition", http::field::content_disposition},
        {"response-content-encoding", http::field::content_encoding},
        {"response-content-language", http::field::content_language},
        {"response-cache-control", http::field::cache_control},
        {"response-expires", http::field::expires},
    }};
    for (const auto& [name, header] : overrides)
        if (op.query.has(name)) response.set(header, op.query.get(name));

    std::uint64_t offset = 0;
    std::uint64_t length = info.size;
    if (range) {
        offset = range->first;
        length = range->last - range->first + 1;
        response.set(http::field::content_range, "bytes " + std::to_string(range->first) + "-" +
                                                     std::to_string(range->last) + "/" + std::to_string(info.size));
    }
    if (head) {
        response.content_length(length);
        return response;
    }
    // The server streams the byte range from disk; an empty object has no file to stream.
    if (length > 0 && !info.path.empty()) response.body().file = body_file{info.path, offset, length, {}};
    response.prepare_payload();
    return response;
}

void check_put_conditions(const operation_context& op) {
    const auto& request = op.ctx.request;
    if (!has_field(request, "If-None-Match") && !has_field(request, "If-Match")) return;
    std::optional<object_info> existing;
    try {
        existing = op.objects.head_object(op.bucket, op.key);
    } catch (const service_error& e) {
        if (e.code() != codes::no_such_key) throw;
    }
    if (has_field(request, "If-None-Match") && existing && etag_matches(field(request, "If-None-Match"), existing->etag))
        throw s3_error(codes::precondition_failed, "At least one of the pre-conditions you specified did not hold");
    if (has_field(request, "If-Match") && (!existing || !etag_matches(field(request, "If-Match"), existing->etag))) {
        if (!existing) throw s3_error(codes::no_such_key, "The specified key does not exist.");
        throw s3_error(codes::precondition_failed, "At least one of the pre-conditions you specified did not hold");
    }
}

http_response put_object(const operation_context& op) {
    staged_body staged;
    stage_body(op.objects, op.ctx.request, staged);
    check_put_conditions(op);
    const object_info info = op.objects.put_object(op.bucket, op.key, staged.path, staged.md5_hex, attributes_of(op.ctx.request));
    auto response = empty_response(op.ctx, http::status::ok);
    response.set(http::field::etag, info.etag);
    return response;
}

http_response copy_object(const operation_context& op) {
    const auto& request = op.ctx.request;
    const auto [source_bucket, source_key] = copy_source(field(request, "x-amz-copy-source"));
    const std::string directive(field(request, "x-amz-metadata-directive"));
    if (!directive.empty() && directive != "COPY" && directive != "REPLACE")
        throw s3_error(codes::invalid_argument, "Unknown metadata directive.");
    std::optional<object_attributes> replace;
    if (directive == "REPLACE") replace = attributes_of(request);
    const object_info info = op.objects.copy_object(source_bucket, source_key, op.bucket, op.key, replace);
    pugi::xml_document doc;
    auto root = add_xml_root(doc, "CopyObjectResult", xml_namespace);
    add_xml_text(root, "LastModified", iso8601(info.last_modified));
    add_xml_text(root, "ETag", info.etag);
    return xml_response(op.ctx, doc);
}

http_response create_multipart_upload(const operation_context& op) {
    const auto upload = op.objects.create_multipart_upload(op.bucket, op.key, attributes_of(op.ctx.request));
    pugi::xml_document doc;
    auto root = add_xml_root(doc, "InitiateMultipartUploadResult", xml_namespace);
    add_xml_text(root, "Bucket", op.bucket);
    add_xml_text(root, "Key", op.key);
    add_xml_text(root, "UploadId", upload.upload_id);
    return xml_response(op.ctx, doc);
}

http_response upload_part(const operation_context& op) {
    const int number = part_number_of(op.query);
    const auto& request = op.ctx.request;
    if (has_field(request, "x-amz-copy-source")) {
        const auto [source_bucket, source_key] = copy_source(field(request, "x-amz-copy-source"));
        std::optional<std::pair<std::uint64_t, std::uint64_t>> range;
        if (const auto text = field(request, "x-amz-copy-source-range"); !text.empty()) {
            const auto dash = text.find('-');
            std::int64_t first = -1;
            std::int64_t last = -1;
            if (text.starts_with("bytes=") && dash != std::string_view::npos) {
                first = parse_int(text.substr(6, dash - 6)).value_or(-1);
                last = parse_int(text.substr(dash + 1)).value_or(-1);
            }
            if (first < 0 || last < first)
                throw s3_error(codes::invalid_argument, "The x-amz-copy-source-range value must be of the form bytes=first-last");
            range.emplace(static_cast<std::uint64_t>(first), static_cast<std::uint64_t>(last));
        }
        const auto part = op.objects.upload_part_copy(source_bucket, source_key, range, op.bucket, op.key,
                                                      op.query.get("uploadId"), number);
        pugi::xml_document doc;
        auto root = add_xml_root(doc, "CopyPartResult", xml_namespace);
        add_xml_text(root, "LastModified", iso8601(part.last_modified));
        add_xml_text(root, "ETag", part.etag);
        return xml_response(op.ctx, doc);
    }
    staged_body staged;
    stage_body(op.objects, request, staged);
    const std::string etag =
        op.objects.upload_part(op.bucket, op.key, op.query.get("uploadId"), number, staged.path, staged.md5_hex);
    staged.path.clear();  // moved into the upload
    auto response = empty_response(op.ctx, http::status::ok);
    response.set(http::field::etag, etag);
    return response;
}

http_response complete_multipart_upload(const operation_context& op) {
    auto doc = parse_xml(op.ctx.request.body());
    const auto complete = doc.child("CompleteMultipartUpload");
    if (!complete)
        throw s3_error(codes::malformed_xml, "The XML you provided was not well-formed or did not validate against our published schema");
    std::vector<completed_part> parts;
    for (auto part : complete.children("Part")) {
        const auto number = parse_int(part.child_value("PartNumber"));
        if (!number || *number < 1 || *number > 10000)
            throw s3_error(codes::malformed_xml, "The XML you provided was not well-formed or did not validate against our published schema");
        parts.push_back(completed_part{static_cast<int>(*number), part.child_value("ETag")});
    }
    const object_info info = op.objects.complete_multipart_upload(op.bucket, op.key, op.query.get("uploadId"), parts);
    pugi::xml_document out;
    auto root = add_xml_root(out, "CompleteMultipartUploadResult", xml_namespace);
    const std::string host(field(op.ctx.request, "Host"));
    add_xml_text(root, "Location", "http://" + host + "/" + op.bucket + "/" + percent_encode(op.key));
    add_xml_text(root, "Bucket", op.bucket);
    add_xml_text(root, "Key", op.key);
    add_xml_text(root, "ETag", info.etag);
    return xml_response(op.ctx, out);
}

http_response list_parts(const operation_context& op) {
    const std::string upload_id = op.query.get("uploadId");
    const int max_parts = std::min(max_keys_of(op.query, "max-parts", 1000), 1000);
    const int marker = max_keys_of(op.query, "part-number-marker", 0);
    const auto parts = op.objects.list_parts(op.bucket, op.key, upload_id);
    pugi::xml_document doc;
    auto root = add_xml_root(doc, "ListPartsResult", xml_namespace);
    add_xml_text(root, "Bucket", op.bucket);
    add_xml_text(root, "Key", op.key);
    add_xml_text(root, "UploadId", upload_id);
    auto initiator = root.append_child("Initiator");
    add_xml_text(initiator, "ID", owner_id);
    add_xml_text(initiator, "DisplayName", owner_name);
    add_owner(root);
    add_xml_text(root, "StorageClass", "STANDARD");
    add_xml_text(root, "PartNumberMarker", std::to_string(marker));
    int count = 0;
    int last = marker;
    bool truncated = false;
    std::vector<const part_info*> shown;
    for (const auto& part : parts) {
        if (part.number <= marker) continue;
        if (count == max_parts) {
            truncated = true;
            break;
        }
        shown.push_back(&part);
        last = part.number;
        ++count;
    }
    add_xml_text(root, "NextPartNumberMarker", std::to_string(last));
    add_xml_text(root, "MaxParts", std::to_string(max_parts));
    add_xml_text(root, "IsTruncated", truncated ? "true" : "false");
    for (const auto* part : shown) {
        auto node = root.append_child("Part");
        add_xml_text(node, "PartNumber", std::to_string(part->number));
        add_xml_text(node, "LastModified", iso8601(part->last_modified));
        add_xml_text(node, "ETag", part->etag);
        add_xml_text(node, "Size", std::to_string(part->size));
    }
    return xml_response(op.ctx, doc);
}

[[noreturn]] void method_not_allowed() {
    throw s3_error(codes::method_not_allowed, "The specified method is not allowed against this resource.");
}

http_response dispatch(const operation_context& op) {
    const auto method = op.ctx.request.method();
    const auto& q = op.query;
    for (const char* name : unsupported_subresources)
        if (q.has(name)) throw s3_error(codes::not_implemented, std::string("smlocal does not implement the '") + name + "' sub-resource");

    if (op.bucket.empty()) {
        if (method == http::verb::get) return list_buckets(op);
        method_not_allowed();
    }
    if (op.key.empty()) {
        switch (method) {
        case http::verb::put: return create_bucket(op);
        case http::verb::head: {
            op.objects.head_bucket(op.bucket);
            auto response = empty_response(op.ctx, http::status::ok);
            response.set("x-amz-bucket-region", op.options.region);
            return response;
        }
        case http::verb::delete_:
            op.objects.delete_bucket(op.bucket);
            return empty_response(op.ctx, http::status::no_content);
        case http::verb::get:
            if (q.has("location")) return get_bucket_location(op);
            if (q.has("uploads"))
                throw s3_error(codes::not_implemented, "smlocal does not implement ListMultipartUploads");
            return list_objects(op, q.get("list-type") == "2");
        case http::verb::post:
            if (q.has("delete")) return delete_objects(op);
            method_not_allowed();
        default: method_not_allowed();
        }
    }
    switch (method) {
    case http::verb::put:
        if (q.has("partNumber") || q.has("uploadId")) return upload_part(op);
        if (has_field(op.ctx.request, "x-amz-copy-source")) return copy_object(op);
        return put_object(op);
    case http::verb::get:
        if (q.has("uploadId")) return list_parts(op);
        return get_object(op, false);
    case http::verb::head: return get_object(op, true);
    case http::verb::delete_:
        if (q.has("uploadId")) {
            op.objects.abort_multipart_upload(op.bucket, op.key, q.get("uploadId"));
        } else {
            op.objects.delete_object(op.bucket, op.key);
        }
        return empty_response(op.ctx, http::status::no_content);
    case http::verb::post:
        if (q.has("uploads")) return create_multipart_upload(op);
        if (q.has("uploadId")) return complete_multipart_upload(op);
        method_not_allowed();
    default: method_not_allowed();
    }
}

}  // namespace

http_response s3_service::handle(http_request&& request) const {
    context ctx{request};
    try {
        const target t = parse_target(request);
        auto parsed = parse_query(t.query_text);
        if (!parsed) throw service_error("InvalidURI", "Couldn't parse the specified URI.");
        const query_params query{std::move(*parsed)};
        return dispatch(operation_context{ctx, objects_, options_, t.bucket, t.key, query});
    } catch (const service_error& e) {
        return error_response(ctx, e.code(), e.what());
    } catch (const std::exception& e) {
        return error_response(ctx, "InternalError", std::string("We encountered an internal error: ") + e.what());
    }
}

}  // namespace smlocal::api
