#pragma once
// Local folders that stand in for S3, EFS and FSx for Lustre. Every URI is normalised and confined
// to its root: ".." segments, absolute-path tricks and symlinks that lead outside are rejected.

#include <filesystem>
#include <string>
#include <string_view>

namespace smlocal {

struct storage_roots {
    std::filesystem::path s3;   // s3://bucket/key  <-> <s3>/bucket/key
    std::filesystem::path efs;  // fs-id + /path    <-> <efs>/<fs-id>/path
    std::filesystem::path fsx;  // fs-id + /path    <-> <fsx>/<fs-id>/path
};

class uri_mapper {
public:
    /// Roots are created if missing and made absolute and canonical (symlinks resolved), so the
    /// confinement checks compare physical paths. Throws std::invalid_argument for an empty root
    /// and std::filesystem::filesystem_error when a root cannot be created.
    explicit uri_mapper(storage_roots roots);

    /// s3://bucket/key (or https://bucket.s3.../key, as the model's pattern allows) -> local path.
    /// The key may be empty or end in '/'. Throws service_error(ValidationException) when the URI
    /// is malformed or escapes the root (lexically, or through an existing symlink).
    std::filesystem::path s3_path(std::string_view uri) const;

    /// FileSystemDataSource -> local path. `type` is "EFS" or "FSxLustre". Same confinement rules.
    std::filesystem::path file_system_path(std::string_view type, std::string_view file_system_id,
                                           std::string_view directory_path) const;

    /// The inverse of s3_path for a path under the S3 root (used to name artifacts); a trailing
    /// separator gives a key ending in '/'. Throws std::invalid_argument for any other path.
    std::string s3_uri(const std::filesystem::path& local) const;

    const storage_roots& roots() const { return roots_; }

private:
    storage_roots roots_;
};

}  // namespace smlocal
