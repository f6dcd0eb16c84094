#pragma once
// Which local files an S3 channel delivers, and per-host staging folders of hard links for the
// cases a plain read-only bind mount cannot express (partial-name prefixes, ShardedByS3Key,
// manifests). Zero copy: files are hard-linked, and copied only across devices.

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "emulator/storage/uri_mapper.hpp"

namespace smlocal {

/// One S3 object of a channel: the local file and the name it gets inside the channel folder.
struct channel_object {
    std::filesystem::path file;
    std::string relative;  // path below /opt/ml/input/data/<channel>/
    std::uintmax_t size = 0;
};

/// Every object under an S3Prefix URI, sorted by key. As on the real service, a key is matched by
/// prefix (s3://b/data/train also matches data/train-2.csv) and keeps its path relative to the
/// prefix's last '/'. Only regular files count (S3 has no symlinks or devices).
std::vector<channel_object> list_s3_prefix(const uri_mapper& storage, std::string_view s3_uri);

/// The objects a ManifestFile names: a JSON array whose first element is {"prefix": "s3://..."}
/// and whose other elements are keys relative to it. Each object keeps its path relative to the
/// prefix. Throws std::runtime_error (unreadable or malformed manifest, a missing object) with a
/// message fit for a ClientError FailureReason.
std::vector<channel_object> list_manifest(const uri_mapper& storage, std::string_view manifest_uri);

/// The share of host `host_index` (1-based) of `host_count` under ShardedByS3Key: objects sorted
/// by key, object k going to host (k mod host_count) + 1. A host may get none.
std::vector<channel_object> shard_for_host(const std::vector<channel_object>& objects, int host_index, int host_count);

/// True when an S3Prefix channel can be bind-mounted as is: the URI names a folder (ends in '/',
/// or is a bucket) that exists.
bool prefix_is_folder(const uri_mapper& storage, std::string_view s3_uri);

/// Fills `folder` (created, emptied first) with `objects` at their relative names: hard links,
/// or copies where the link would cross devices.
void stage_objects(const std::vector<channel_object>& objects, const std::filesystem::path& folder);

}  // namespace smlocal
