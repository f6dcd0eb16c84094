#pragma once
// The S3 object model over the local S3 folder: bucket = top-level directory, key = relative file
// path. Files that training jobs (or users) put there directly are objects too; what the files
// cannot hold (ETag, Content-Type, x-amz-meta-*) lives in the store, keyed by (bucket, key) with the
// file's size and mtime so that a file changed behind our back is noticed and re-hashed.
//
// LIMITATIONS vs Amazon S3:
// - Keys must map to paths: no "." / ".." / empty segments ("a//b"), no leading '/', no NUL or
//   backslash, no segment over 255 bytes; key "a" and keys under "a/" cannot coexist.
// - A key ending in '/' ("folder marker") must be empty; it is a directory plus a metadata row.
// - Listing walks the folder under the prefix on every page (no index), and hashes files without
//   a cached MD5 (a large foreign model.tar.gz costs one read, then it is cached).
// - No versioning, ACLs, policies, storage classes, checksums other than MD5, or conditional copy.
// - Bucket creation dates come from the directory's birth time (its mtime where unknown).

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "emulator/storage/uri_mapper.hpp"

namespace smlocal {

class store;
struct s3_object_row;

struct bucket_info {
    std::string name;
    std::chrono::system_clock::time_point creation_date;
};

/// x-amz-meta-* members, lower-cased names without the prefix (as S3 returns them).
using user_metadata = std::map<std::string, std::string>;

/// What a PutObject, CreateMultipartUpload or CopyObject (REPLACE) says about the new object.
struct object_attributes {
    std::string content_type;  // "" = none given (served as binary/octet-stream)
    user_metadata metadata;
};

struct object_info {
    std::string key;
    /// The file to serve; empty for a folder marker (a zero-byte key ending in '/').
    std::filesystem::path path;
    std::uint64_t size = 0;
    std::string etag;  // quoted, as on the wire: "\"<hex md5>\"" or "\"<hex>-<parts>\""
    std::chrono::system_clock::time_point last_modified;
    object_attributes attributes;
};

/// ListObjects (v1) and ListObjectsV2 parameters; `after` is StartAfter or Marker.
struct list_objects_request {
    std::string prefix;
    std::string delimiter;
    int max_keys = 1000;
    std::string after;
    std::string continuation_token;  // V2 only; wins over `after`
};

struct list_objects_result {
    std::vector<object_info> contents;
    std::vector<std::string> common_prefixes;
    bool truncated = false;
    std::string next_continuation_token;  // set when truncated
    std::string last_listed;              // the last key or common prefix returned (v1 NextMarker)
};

struct delete_failure {
    std::string key;
    std::string code;
    std::string message;
};

struct multipart_upload_info {
    std::string upload_id;
    std::string bucket;
    std::string key;
    std::chrono::system_clock::time_point initiated;
    object_attributes attributes;
};

struct part_info {
    int number = 0;
    std::uint64_t size = 0;
    std::string etag;  // quoted
    std::chrono::system_clock::time_point last_modified;
};

struct completed_part {
    int number = 0;
    std::string etag;  // quoted or not
};

/// S3 buckets and objects in a local folder. Thread-safe. Every failure a client caused is a
/// service_error with an S3 code (emulator/errors.hpp, error_code::s3).
class object_store {
public:
    /// Objects live under `s3_root` (created if missing); upload temp files under
    /// `<s3_root>/.smlocal-incoming/` (same filesystem, so that a finished upload is a rename).
    /// Leftover temp files of a previous run are removed; multipart uploads survive restarts.
    object_store(std::filesystem::path s3_root, store& db);

    const std::filesystem::path& root() const { return root_; }

    /// A fresh path in the incoming folder for a request body to stream into.
    std::filesystem::path incoming_file() const;

    // Buckets
    /// CreateBucket. Throws InvalidBucketName, BucketAlreadyOwnedByYou.
    void create_bucket(const std::string& bucket);
    /// HeadBucket. Throws NoSuchBucket.
    bucket_info head_bucket(const std::string& bucket) const;
    /// ListBuckets: directories with valid bucket names, by name (dot-dirs and others hidden).
    std::vector<bucket_info> list_buckets() const;
    /// DeleteBucket. Throws NoSuchBucket, BucketNotEmpty (any object, or an upload in progress).
    void delete_bucket(const std::string& bucket);

    // Objects
    /// PutObject: moves `body` (a file in the incoming folder, `md5_hex` its MD5) into place.
    /// Throws NoSuchBucket, InvalidArgument/KeyTooLongError (bad key or key/folder conflict).
    object_info put_object(const std::string& bucket, const std::string& key, const std::filesystem::path& body,
                           const std::string& md5_hex, const object_attributes& attributes);
    /// HeadObject/GetObject: where the bytes are and what we know of them. Throws NoSuchBucket,
    /// NoSuchKey. A file without (current) metadata is hashed here once and cached.
    object_info head_object(const std::string& bucket, const std::string& key);
    /// DeleteObject: succeeds for a missing key, as S3 does. Empty folders left behind are removed.
    void delete_object(const std::string& bucket, const std::string& key);
    /// DeleteObjects: the keys that could not be deleted, with why.
    std::vector<delete_failure> delete_objects(const std::string& bucket, const std::vector<std::string>& keys);
    /// CopyObject: `replace` set = MetadataDirective REPLACE, else the source's attributes are kept.
    /// A copy onto itself must replace them (InvalidRequest otherwise), as in S3.
    object_info copy_object(const std::string& source_bucket, const std::string& source_key,
                            const std::string& bucket, const std::string& key,
                            const std::optional<object_attributes>& replace);
    /// ListObjects / ListObjectsV2 in UTF-8 byte order of the keys. Throws NoSuchBucket,
    /// InvalidArgument (bad max-keys or continuation token).
    list_objects_result list_objects(const std::string& bucket, const list_objects_request& request);

    // Multipart uploads
    /// CreateMultipartUpload: the upload id.
    multipart_upload_info create_multipart_upload(const std::string& bucket, const std::string& key,
                                                  const object_attributes& attributes);
    /// UploadPart: moves `body` in as part `part_number` (1..10000; a re-upload replaces it).
    /// Returns the part's quoted ETag. Throws NoSuchUpload, InvalidArgument.
    std::string upload_part(const std::string& bucket, const std::string& key, const std::string& upload_id,
                            int part_number, const std::filesystem::path& body, const std::string& md5_hex);
    /// UploadPartCopy: the bytes [first, last] (all when unset) of a source object become a part.
    part_info upload_part_copy(const std::string& source_bucket, const std::string& source_key,
                               std::optional<std::pair<std::uint64_t, std::uint64_t>> range,
                               const std::string& bucket, const std::string& key, const std::string& upload_id,
                               int part_number);
    /// ListParts: the parts uploaded so far, by number.
    std::vector<part_info> list_parts(const std::string& bucket, const std::string& key, const std::string& upload_id) const;
    multipart_upload_info multipart_upload(const std::string& bucket, const std::string& key,
                                           const std::string& upload_id) const;
    /// CompleteMultipartUpload: concatenates the named parts into the object. ETag =
    /// md5(concatenated binary part MD5s) + "-N". Throws NoSuchUpload, InvalidPart,
    /// InvalidPartOrder, EntityTooSmall (a part other than the last under 5 MiB).
    object_info complete_multipart_upload(const std::string& bucket, const std::string& key,
                                          const std::string& upload_id, const std::vector<completed_part>& parts);
    /// AbortMultipartUpload. Throws NoSuchUpload.
    void abort_multipart_upload(const std::string& bucket, const std::string& key, const std::string& upload_id);

    /// Parts other than the last must be at least this big (5 MiB).
    static constexpr std::uint64_t min_part_size = 5ull * 1024 * 1024;

private:
    std::filesystem::path bucket_dir(const std::string& bucket) const;
    std::filesystem::path object_path(const std::string& bucket, const std::string& key) const;
    std::filesystem::path upload_dir(const std::string& upload_id) const;
    /// `known` is the key's row when the caller already read it (listing), else it is looked up.
    object_info describe(const std::string& bucket, const std::string& key, const std::filesystem::path& path,
                         const s3_object_row* known = nullptr, bool looked_up = false);
    object_info commit(const std::string& bucket, const std::string& key, const std::filesystem::path& staged,
                       const std::string& etag_hex, const object_attributes& attributes);
    void prune_empty_parents(const std::string& bucket, const std::filesystem::path& from);

    uri_mapper mapper_;  // the S3 key confinement (symlinks included); only its S3 root is used
    std::filesystem::path root_;  // canonical
    std::filesystem::path incoming_;
    store& db_;
    // Serialises "row + rename" against "re-stat + row" of a lazy hash, and the multipart folders.
    mutable std::mutex mutex_;
};

}  // namespace smlocal
