#include "emulator/storage/staging.hpp"

#include <algorithm>
#include <fstream>
#include <stdexcept>
#include <system_error>

#include <nlohmann/json.hpp>

namespace smlocal {

namespace fs = std::filesystem;

namespace {

// Splits s3://bucket/key (or the https forms) into the bucket folder and the key, through the
// mapper so that the same confinement rules apply.
struct s3_location {
    fs::path bucket_dir;
    std::string key;
};

s3_location locate(const uri_mapper& storage, std::string_view s3_uri) {
    const fs::path full = storage.s3_path(s3_uri);
    const fs::path relative = full.lexically_relative(storage.roots().s3);
    const std::string bucket = relative.begin() == relative.end() ? std::string{} : relative.begin()->string();
    // The mapper drops a trailing '/'; keep it, since it changes which keys match.
    std::string key = relative.string().size() > bucket.size() ? relative.string().substr(bucket.size() + 1) : "";
    if (!s3_uri.empty() && s3_uri.back() == '/' && !key.empty()) key += '/';
    return {storage.roots().s3 / bucket, key};
}

void collect(const fs::path& bucket_dir, const fs::path& start, const std::string& key_prefix,
             std::size_t strip, std::vector<channel_object>& out) {
    std::error_code error;
    if (!fs::is_directory(start, error)) return;
    for (auto it = fs::recursive_directory_iterator(start, fs::directory_options::skip_permission_denied, error);
         it != fs::recursive_directory_iterator(); it.increment(error)) {
        if (error) break;
        if (!it->is_regular_file(error) || it->is_symlink(error)) continue;
        const std::string key = it->path().lexically_relative(bucket_dir).generic_string();
        if (key.compare(0, key_prefix.size(), key_prefix) != 0) continue;
        out.push_back({it->path(), key.substr(strip), it->file_size(error)});
    }
}

void sort_by_key(std::vector<channel_object>& objects) {
    std::sort(objects.begin(), objects.end(),
              [](const channel_object& a, const channel_object& b) { return a.relative < b.relative; });
}

}  // namespace

std::vector<channel_object> list_s3_prefix(const uri_mapper& storage, std::string_view s3_uri) {
    const s3_location where = locate(storage, s3_uri);
    // Names keep their path relative to the prefix's last '/': walk only that folder.
    const std::size_t slash = where.key.rfind('/');
    const std::string folder = slash == std::string::npos ? std::string{} : where.key.substr(0, slash);
    const std::size_t strip = slash == std::string::npos ? 0 : slash + 1;
    std::vector<channel_object> objects;
    collect(where.bucket_dir, folder.empty() ? where.bucket_dir : where.bucket_dir / folder, where.key, strip, objects);
    sort_by_key(objects);
    return objects;
}

std::vector<channel_object> list_manifest(const uri_mapper& storage, std::string_view manifest_uri) {
    const fs::path manifest_file = storage.s3_path(manifest_uri);
    std::ifstream in(manifest_file);
    if (!in) throw std::runtime_error("manifest file " + std::string(manifest_uri) + " does not exist");
    const nlohmann::json manifest = nlohmann::json::parse(in, nullptr, false);
    if (!manifest.is_array() || manifest.empty() || !manifest[0].is_object() || !manifest[0].contains("prefix") ||
        !manifest[0]["prefix"].is_string())
        throw std::runtime_error("manifest file " + std::string(manifest_uri) +
                                 " is not a JSON array starting with {\"prefix\": \"s3://...\"}");
    std::string prefix = manifest[0]["prefix"].get<std::string>();
    if (prefix.empty()) throw std::runtime_error("manifest file " + std::string(manifest_uri) + " has an empty prefix");
    std::vector<channel_object> objects;
    for (std::size_t i = 1; i < manifest.size(); ++i) {
        if (!manifest[i].is_string())
            throw std::runtime_error("manifest file " + std::string(manifest_uri) + ": entry " + std::to_string(i) +
                                     " is not a string");
        const std::string relative = manifest[i].get<std::string>();
        const std::string uri = prefix + relative;
        const fs::path file = storage.s3_path(uri);
        std::error_code error;
        if (!fs::is_regular_file(file, error))
            throw std::runtime_error("object " + uri + " named in manifest " + std::string(manifest_uri) +
                                     " does not exist");
        objects.push_back({file, relative, fs::file_size(file, error)});
    }
    sort_by_key(objects);
    return objects;
}

std::vector<channel_object> shard_for_host(const std::vector<channel_object>& objects, int host_index, int host_count) {
    std::vector<channel_object> share;
    for (std::size_t k = 0; k < objects.size(); ++k)
        if (static_cast<int>(k % static_cast<std::size_t>(host_count)) == host_index - 1) share.push_back(objects[k]);
    return share;
}

bool prefix_is_folder(const uri_mapper& storage, std::string_view s3_uri) {
    const s3_location where = locate(storage, s3_uri);
    std::error_code error;
    return (where.key.empty() || where.key.back() == '/') && fs::is_directory(storage.s3_path(s3_uri), error);
}

void stage_objects(const std::vector<channel_object>& objects, const fs::path& folder) {
    fs::remove_all(folder);
    fs::create_directories(folder);
    for (const auto& object : objects) {
        const fs::path target = folder / object.relative;
        fs::create_directories(target.parent_path());
        std::error_code error;
        fs::create_hard_link(object.file, target, error);
        if (error) fs::copy_file(object.file, target, fs::copy_options::overwrite_existing);
    }
}

}  // namespace smlocal
