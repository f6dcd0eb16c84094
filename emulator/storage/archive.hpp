#pragma once
// tar.gz packing and unpacking with libarchive, for model.tar.gz / output.tar.gz and sourcedir.

#include <filesystem>
#include <vector>

namespace smlocal {

/// Writes a gzip tar of everything below each of `source_dirs` (members relative to that dir, no
/// leading folder; later dirs win on name clashes, as SageMaker merges hosts' model dirs).
/// Missing source dirs are skipped. Writes to a temporary file and renames, so readers never see
/// a partial archive. Throws std::runtime_error with libarchive's message.
void write_tar_gz(const std::filesystem::path& archive, const std::vector<std::filesystem::path>& source_dirs);

/// Extracts a tar or tar.gz into `destination` (created if missing), refusing members that would
/// land outside it: absolute names, ".." segments, writes through symlinks. Symlink members are
/// restored as links. Throws std::runtime_error (with libarchive's message) on the first refusal.
void extract_archive(const std::filesystem::path& archive, const std::filesystem::path& destination);

}  // namespace smlocal
