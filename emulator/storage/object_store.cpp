#include "emulator/storage/object_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <memory>
#include <set>
#include <system_error>

#include <nlohmann/json.hpp>

#include "emulator/encoding.hpp"
#include "emulator/errors.hpp"
#include "emulator/store.hpp"

namespace smlocal {

namespace fs = std::filesystem;
namespace codes = error_code::s3;
using clock_type = std::chrono::system_clock;

namespace {

constexpr std::size_t max_key_bytes = 1024;
constexpr std::size_t max_segment_bytes = 255;
constexpr int max_part_number = 10000;
constexpr std::string_view empty_md5 = "d41d8cd98f00b204e9800998ecf8427e";
constexpr std::string_view incoming_folder = ".smlocal-incoming";
// Temp files of request bodies and copies; anything with this prefix is ours to clean up.
constexpr std::string_view temp_prefix = "body-";

service_error s3_error(const char* code, const std::string& message) { return service_error(code, message); }

/// A file descriptor closed at scope exit.
struct fd_guard {
    int fd = -1;
    ~fd_guard() {
        if (fd >= 0) ::close(fd);
    }
};

/// A staged file removed at scope exit, unless it was renamed into place first.
struct removed_at_exit {
    fs::path path;
    ~removed_at_exit() {
        std::error_code ignored;
        fs::remove(path, ignored);
    }
};

int open_or_throw(const fs::path& path, int flags) {
    const int fd = ::open(path.c_str(), flags | O_CLOEXEC, 0644);
    if (fd < 0) throw std::system_error(errno, std::generic_category(), "open " + path.string());
    return fd;
}

/// Copies `length` bytes from `in` (at its current offset) to `out`, hashing them on the way.
/// User-space copy on purpose: the MD5 needs the bytes anyway.
void copy_hashing(int in, int out, std::uint64_t length, md5& hash, const fs::path& what) {
    std::vector<char> buffer(1 << 20);
    while (length > 0) {
        const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(length, buffer.size()));
        const ssize_t got = ::read(in, buffer.data(), want);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) throw std::system_error(errno, std::generic_category(), "read " + what.string());
        if (got == 0) throw std::runtime_error("file shrank while being copied: " + what.string());
        hash.update(buffer.data(), static_cast<std::size_t>(got));
        for (ssize_t written = 0; written < got;) {
            const ssize_t n = ::write(out, buffer.data() + written, static_cast<std::size_t>(got - written));
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) throw std::system_error(errno, std::generic_category(), "write");
            written += n;
        }
        length -= static_cast<std::uint64_t>(got);
    }
}

std::string md5_file_hex(const fs::path& path) {
    fd_guard in{open_or_throw(path, O_RDONLY)};
    md5 hash;
    std::vector<char> buffer(1 << 20);
    for (;;) {
        const ssize_t got = ::read(in.fd, buffer.data(), buffer.size());
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) throw std::system_error(errno, std::generic_category(), "read " + path.string());
        if (got == 0) break;
        hash.update(buffer.data(), static_cast<std::size_t>(got));
    }
    return hash.finish_hex();
}

struct file_stat {
    bool exists = false;
    bool directory = false;
    bool regular = false;
    std::uint64_t size = 0;
    std::int64_t mtime_ns = 0;
};

file_stat stat_path(const fs::path& path) {
    struct stat st {};
    file_stat out;
    if (::stat(path.c_str(), &st) != 0) return out;
    out.exists = true;
    out.directory = S_ISDIR(st.st_mode);
    out.regular = S_ISREG(st.st_mode);
    out.size = static_cast<std::uint64_t>(st.st_size);
    out.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
    return out;
}

clock_type::time_point from_ns(std::int64_t ns) {
    return clock_type::time_point(std::chrono::duration_cast<clock_type::duration>(std::chrono::nanoseconds(ns)));
}

std::string quote_etag(std::string_view etag) { return "\"" + std::string(etag) + "\""; }

std::string unquoted(std::string_view etag) {
    if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') etag = etag.substr(1, etag.size() - 2);
    std::string out(etag);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
    return out;
}

std::string metadata_json(const user_metadata& metadata) {
    return nlohmann::json(metadata).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

user_metadata parse_metadata(const std::string& text) {
    user_metadata out;
    try {
        const auto parsed = nlohmann::json::parse(text);
        if (!parsed.is_object()) return out;
        for (const auto& [name, value] : parsed.items())
            if (value.is_string()) out[name] = value.get<std::string>();
    } catch (const nlohmann::json::exception&) {
        // An unreadable row only loses its user metadata.
    }
    return out;
}

bool is_lower_or_digit(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// S3's naming rules for general purpose buckets; "" when valid.
std::string bucket_name_problem(std::string_view name) {
    if (name.size() < 3 || name.size() > 63) return "Bucket names must be between 3 and 63 characters long";
    for (char c : name)
        if (!is_lower_or_digit(c) && c != '.' && c != '-')
            return "Bucket names can consist only of lowercase letters, numbers, dots (.), and hyphens (-)";
    if (!is_lower_or_digit(name.front()) || !is_lower_or_digit(name.back()))
        return "Bucket names must begin and end with a letter or number";
    if (name.find("..") != std::string_view::npos) return "Bucket names must not contain two adjacent periods";
    if (name.starts_with("xn--") || name.starts_with("sthree-") || name.ends_with("-s3alias") ||
        name.ends_with("--ol-s3"))
        return "Bucket names must not use a reserved prefix or suffix";
    // Not formatted as an IP address (four dot-separated numbers).
    int dots = 0;
    bool all_digits_or_dots = true;
    for (char c : name) {
        if (c == '.') ++dots;
        else if (!(c >= '0' && c <= '9')) all_digits_or_dots = false;
    }
    if (all_digits_or_dots && dots == 3) return "Bucket names must not be formatted as an IP address";
    return {};
}

// Keys that cannot be a path here are refused with S3 codes before the mapper sees them.
void check_key(const std::string& key) {
    if (key.empty()) throw s3_error(codes::invalid_argument, "The object key must not be empty");
    if (key.size() > max_key_bytes)
        throw s3_error(codes::key_too_long, "Your key is too long: keys are at most 1024 bytes of UTF-8");
    if (key.find('\0') != std::string::npos) throw s3_error(codes::invalid_argument, "Object keys must not contain NUL");
    if (key.starts_with('/'))
        throw s3_error(codes::invalid_argument,
                       "Object key '" + key + "' is an absolute path, which the local S3 folder cannot store");
    std::size_t start = 0;
    while (start < key.size()) {
        const auto end = std::min(key.find('/', start), key.size());
        const std::string_view segment(key.data() + start, end - start);
        if (segment == "..")
            throw s3_error(codes::invalid_argument,
                           "Object key '" + key + "' is not allowed: it leaves the local S3 root ('..' segment)");
        if (segment == ".")
            throw s3_error(codes::invalid_argument, "Object key '" + key + "' has a '.' segment, which a local path cannot hold");
        if (segment.empty())
            throw s3_error(codes::invalid_argument,
                           "Object key '" + key + "' has an empty segment ('//'), which a local path cannot hold");
        if (segment.size() > max_segment_bytes)
            throw s3_error(codes::key_too_long, "Object key '" + key + "' has a segment longer than 255 bytes");
        start = end + 1;
    }
}

bool is_upload_id(std::string_view id) {
    return id.size() == 32 && std::all_of(id.begin(), id.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
           });
}

std::string part_prefix(int number) {
    char text[16];
    std::snprintf(text, sizeof text, "part-%05d-", number);
    return text;
}

struct stored_part {
    int number = 0;
    std::string md5_hex;
    fs::path path;
};

std::vector<stored_part> stored_parts(const fs::path& dir) {
    std::vector<stored_part> parts;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
        const std::string name = entry.path().filename().string();
        // part-NNNNN-<md5 hex>
        if (name.size() != 5 + 5 + 1 + 32 || !name.starts_with("part-")) continue;
        stored_part part;
        part.number = std::atoi(name.substr(5, 5).c_str());
        part.md5_hex = name.substr(11);
        part.path = entry.path();
        parts.push_back(std::move(part));
    }
    std::sort(parts.begin(), parts.end(), [](const auto& a, const auto& b) { return a.number < b.number; });
    return parts;
}

// The continuation token: which element was listed last, hex-encoded (opaque to clients).
std::string make_token(const std::string& last, bool is_prefix) {
    return hex_encode((is_prefix ? "p" : "k") + last);
}

void rename_or_throw(const fs::path& from, const fs::path& to) {
    if (::rename(from.c_str(), to.c_str()) != 0)
        throw std::system_error(errno, std::generic_category(), "rename " + from.string() + " -> " + to.string());
}

}  // namespace

object_store::object_store(fs::path s3_root, store& db)
    // uri_mapper wants all three roots; only the S3 one is used, so the others repeat it.
    : mapper_(storage_roots{s3_root, s3_root, s3_root}),
      root_(mapper_.roots().s3),
      incoming_(root_ / std::string(incoming_folder)),
      db_(db) {
    fs::create_directories(incoming_ / "uploads");
    // Bodies of requests that a crash interrupted are garbage now.
    for (const auto& entry : fs::directory_iterator(incoming_)) {
        if (entry.path().filename().string().starts_with(temp_prefix)) {
            std::error_code ec;
            fs::remove(entry.path(), ec);
        }
    }
}

fs::path object_store::incoming_file() const { return incoming_ / (std::string(temp_prefix) + random_hex(16)); }

fs::path object_store::bucket_dir(const std::string& bucket) const {
    if (!bucket_name_problem(bucket).empty() || !stat_path(root_ / bucket).directory)
        throw s3_error(codes::no_such_bucket, "The specified bucket does not exist");
    return root_ / bucket;
}

fs::path object_store::object_path(const std::string& bucket, const std::string& key) const {
    check_key(key);
    try {
        return mapper_.s3_path("s3://" + bucket + "/" + key);
    } catch (const service_error& e) {
        // Lexical problems were caught above; what is left is a symlink that leads outside.
        throw s3_error(codes::access_denied, e.what());
    }
}

fs::path object_store::upload_dir(const std::string& upload_id) const { return incoming_ / "uploads" / upload_id; }

// ---------------------------------------------------------------------------------------------
// Buckets
// ---------------------------------------------------------------------------------------------

namespace {

clock_type::time_point birth_time(const fs::path& dir) {
    struct statx stx {};
    if (::statx(AT_FDCWD, dir.c_str(), 0, STATX_BTIME | STATX_MTIME, &stx) == 0) {
        const auto& t = (stx.stx_mask & STATX_BTIME) ? stx.stx_btime : stx.stx_mtime;
        return from_ns(static_cast<std::int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec);
    }
    return from_ns(stat_path(dir).mtime_ns);
}

}  // namespace

void object_store::create_bucket(const std::string& bucket) {
    if (auto problem = bucket_name_problem(bucket); !problem.empty())
        throw s3_error(codes::invalid_bucket_name, "The specified bucket is not valid: " + problem);
    const std::lock_guard lock(mutex_);
    const fs::path dir = root_ / bucket;
    if (::mkdir(dir.c_str(), 0755) != 0) {
        if (errno == EEXIST && stat_path(dir).directory)
            throw s3_error(codes::bucket_already_owned_by_you,
                           "Your previous request to create the named bucket succeeded and you already own it.");
        throw std::system_error(errno, std::generic_category(), "mkdir " + dir.string());
    }
    // Rows of an earlier bucket of the same name (deleted on disk behind our back) are stale.
    db_.delete_s3_bucket_objects(bucket);
}

bucket_info object_store::head_bucket(const std::string& bucket) const {
    return bucket_info{bucket, birth_time(bucket_dir(bucket))};
}

std::vector<bucket_info> object_store::list_buckets() const {
    std::vector<bucket_info> buckets;
    for (const auto& entry : fs::directory_iterator(root_)) {
        const std::string name = entry.path().filename().string();
        if (!bucket_name_problem(name).empty() || !stat_path(entry.path()).directory) continue;
        buckets.push_back(bucket_info{name, birth_time(entry.path())});
    }
    std::sort(buckets.begin(), buckets.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
    return buckets;
}

void object_store::delete_bucket(const std::string& bucket) {
    const fs::path dir = bucket_dir(bucket);
    const std::lock_guard lock(mutex_);
    // Only empty folders may remain (S3 has none): any file, or a folder marker, is an object.
    const auto markers = db_.s3_objects(bucket, "");
    for (const auto& entry : fs::recursive_directory_iterator(dir)) {
        const bool marker = entry.is_directory() &&
                            std::any_of(markers.begin(), markers.end(), [&](const s3_object_row& row) {
                                return row.key == entry.path().lexically_relative(dir).generic_string() + "/";
                            });
        if (!entry.is_directory() || marker)
            throw s3_error(codes::bucket_not_empty, "The bucket you tried to delete is not empty");
    }
    fs::remove_all(dir);
    db_.delete_s3_bucket_objects(bucket);
}

// ---------------------------------------------------------------------------------------------
// Objects
// ---------------------------------------------------------------------------------------------

object_info object_store::describe(const std::string& bucket, const std::string& key, const fs::path& path,
                                   const s3_object_row* known, bool looked_up) {
    std::optional<s3_object_row> row;
    if (known != nullptr) row = *known;
    else if (!looked_up) row = db_.s3_object(bucket, key);

    const file_stat st = stat_path(path);
    const bool marker_key = key.ends_with('/');
    auto from_row = [&](const s3_object_row& r, fs::path file) {
        object_info info;
        info.key = key;
        info.path = std::move(file);
        info.size = static_cast<std::uint64_t>(r.size);
        info.etag = quote_etag(r.etag);
        info.last_modified = from_ns(marker_key ? r.mtime_ns : st.mtime_ns);
        info.attributes.content_type = r.content_type;
        info.attributes.metadata = parse_metadata(r.metadata_json);
        return info;
    };

    // A folder marker: a directory with a row (its mtime is the row's, set when it was put).
    if (marker_key) {
        if (!st.directory || !row) throw s3_error(codes::no_such_key, "The specified key does not exist.");
        return from_row(*row, {});
    }
    if (!st.regular) throw s3_error(codes::no_such_key, "The specified key does not exist.");
    auto current = [&](const std::optional<s3_object_row>& r) {
        return r && static_cast<std::uint64_t>(r->size) == st.size && r->mtime_ns == st.mtime_ns;
    };
    if (current(row)) return from_row(*row, path);

    // A file we did not write (or that changed behind our back): hash it once and cache that.
    // This reads the whole file on the calling thread.
    s3_object_row fresh{bucket, key, static_cast<std::int64_t>(st.size), st.mtime_ns, md5_file_hex(path), "", "{}"};
    {
        const std::lock_guard lock(mutex_);
        // Cache only if nothing changed while we hashed: a put may have replaced the file and
        // written its own row meanwhile.
        const file_stat again = stat_path(path);
        const auto latest = db_.s3_object(bucket, key);
        if (current(latest) && again.size == st.size && again.mtime_ns == st.mtime_ns) return from_row(*latest, path);
        if (again.size == st.size && again.mtime_ns == st.mtime_ns) db_.put_s3_object(fresh);
    }
    return from_row(fresh, path);
}

object_info object_store::commit(const std::string& bucket, const std::string& key, const fs::path& staged,
                                 const std::string& etag_hex, const object_attributes& attributes) {
    const fs::path dir = bucket_dir(bucket);
    const fs::path target = object_path(bucket, key);
    const bool marker_key = key.ends_with('/');
    const file_stat staged_stat = stat_path(staged);
    if (marker_key && staged_stat.size != 0)
        throw s3_error(codes::invalid_argument,
                       "Key '" + key + "' ends in '/': the local S3 folder stores such keys only as empty folder markers");

    const std::lock_guard lock(mutex_);
    // Every folder on the way must be a folder (key "a" and keys under "a/" cannot coexist here).
    for (fs::path p = target.parent_path(); p != dir && p.has_relative_path(); p = p.parent_path()) {
        const file_stat st = stat_path(p);
        if (st.exists && !st.directory)
            throw s3_error(codes::invalid_argument,
                           "Key '" + key + "' cannot be stored: the object '" +
                               p.lexically_relative(dir).generic_string() +
                               "' exists, and the local S3 folder cannot hold both a key and keys under it");
    }
    const file_stat existing = stat_path(target);
    if (marker_key ? (existing.exists && !existing.directory) : existing.directory)
        throw s3_error(codes::invalid_argument,
                       "Key '" + key + "' cannot be stored: " +
                           (marker_key ? "an object of the same name without the '/' exists"
                                       : "other keys start with '" + key + "/', and the local S3 folder cannot "
                                                                          "hold both a key and keys under it"));
    fs::create_directories(marker_key ? target : target.parent_path());

    s3_object_row row{bucket, key, 0, 0, etag_hex, attributes.content_type, metadata_json(attributes.metadata)};
    if (marker_key) {
        // A directory's mtime moves with its entries; the row keeps the marker's own time.
        row.mtime_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now().time_since_epoch()).count();
        row.etag = std::string(empty_md5);
        db_.put_s3_object(row);
        return describe(bucket, key, target, &row);
    }
    // rename keeps the inode's size and mtime, so the row matches the file it describes.
    rename_or_throw(staged, target);
    const file_stat placed = stat_path(target);
    row.size = static_cast<std::int64_t>(placed.size);
    row.mtime_ns = placed.mtime_ns;
    db_.put_s3_object(row);
    object_info info;
    info.key = key;
    info.path = target;
    info.size = placed.size;
    info.etag = quote_etag(etag_hex);
    info.last_modified = from_ns(placed.mtime_ns);
    info.attributes = attributes;
    return info;
}

object_info object_store::put_object(const std::string& bucket, const std::string& key, const fs::path& body,
                                     const std::string& md5_hex, const object_attributes& attributes) {
    bucket_dir(bucket);
    return commit(bucket, key, body, md5_hex, attributes);
}

object_info object_store::head_object(const std::string& bucket, const std::string& key) {
    bucket_dir(bucket);
    return describe(bucket, key, object_path(bucket, key));
}

void object_store::prune_empty_parents(const std::string& bucket, const fs::path& from) {
    const fs::path dir = root_ / bucket;
    for (fs::path p = from; p != dir && p.has_relative_path() && p.native().size() > dir.native().size();
         p = p.parent_path()) {
        const std::string key = p.lexically_relative(dir).generic_string() + "/";
        if (db_.s3_object(bucket, key)) return;  // a folder marker keeps its folder
        // rmdir fails on a non-empty folder, which ends the climb.
        if (::rmdir(p.c_str()) != 0) return;
    }
}

void object_store::delete_object(const std::string& bucket, const std::string& key) {
    bucket_dir(bucket);
    const fs::path path = object_path(bucket, key);
    const std::lock_guard lock(mutex_);
    const file_stat st = stat_path(path);
    db_.delete_s3_object(bucket, key);
    if (key.ends_with('/')) {
        if (st.directory) prune_empty_parents(bucket, path);
        return;
    }
    if (!st.exists || st.directory) return;  // S3 deletes of missing keys succeed
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
        throw std::system_error(errno, std::generic_category(), "unlink " + path.string());
    prune_empty_parents(bucket, path.parent_path());
}

std::vector<delete_failure> object_store::delete_objects(const std::string& bucket, const std::vector<std::string>& keys) {
    bucket_dir(bucket);
    std::vector<delete_failure> failures;
    for (const auto& key : keys) {
        try {
            delete_object(bucket, key);
        } catch (const service_error& e) {
            failures.push_back(delete_failure{key, e.code(), e.what()});
        }
    }
    return failures;
}

object_info object_store::copy_object(const std::string& source_bucket, const std::string& source_key,
                                      const std::string& bucket, const std::string& key,
                                      const std::optional<object_attributes>& replace) {
    bucket_dir(source_bucket);
    const object_info source = describe(source_bucket, source_key, object_path(source_bucket, source_key));
    bucket_dir(bucket);
    if (source_bucket == bucket && source_key == key && !replace)
        throw s3_error(codes::invalid_request,
                       "This copy request is illegal because it is trying to copy an object to itself without "
                       "changing the object's metadata, storage class, website redirect location or encryption "
                       "attributes.");
    const fs::path staged = incoming_file();
    const removed_at_exit cleanup{staged};
    // A copy is never a hard link: the new object must not change with the old one.
    md5 hash;
    {
        fd_guard out{open_or_throw(staged, O_WRONLY | O_CREAT | O_TRUNC)};
        if (!source.path.empty()) {
            fd_guard in{open_or_throw(source.path, O_RDONLY)};
            copy_hashing(in.fd, out.fd, source.size, hash, source.path);
        }
    }
    return commit(bucket, key, staged, hash.finish_hex(), replace ? *replace : source.attributes);
}

list_objects_result object_store::list_objects(const std::string& bucket, const list_objects_request& request) {
    const fs::path dir = bucket_dir(bucket);
    if (request.max_keys < 0) throw s3_error(codes::invalid_argument, "max-keys cannot be negative");
    const int max_keys = std::min(request.max_keys, 1000);

    // Where to resume: after a key, or after every key under a common prefix.
    std::string resume = request.after;
    bool resume_is_prefix = false;
    if (!request.continuation_token.empty()) {
        auto raw = hex_decode(request.continuation_token);
        if (!raw || raw->empty() || ((*raw)[0] != 'k' && (*raw)[0] != 'p'))
            throw s3_error(codes::invalid_argument, "The continuation token provided is incorrect");
        resume_is_prefix = (*raw)[0] == 'p';
        resume = raw->substr(1);
    }

    const std::string& prefix = request.prefix;
    list_objects_result result;
    // Only the folder that the prefix names up to its last '/' can hold matching keys.
    const std::string folder_part = prefix.substr(0, prefix.rfind('/') == std::string::npos ? 0 : prefix.rfind('/') + 1);
    fs::path start = dir;
    if (!folder_part.empty()) {
        try {
            start = object_path(bucket, folder_part);
        } catch (const service_error&) {
            return result;  // no stored key can have such a prefix
        }
    }

    std::map<std::string, s3_object_row> rows;
    for (auto& row : db_.s3_objects(bucket, prefix)) {
        std::string k = row.key;
        rows.emplace(std::move(k), std::move(row));
    }

    std::vector<std::string> keys;
    if (!folder_part.empty() && rows.contains(folder_part) && stat_path(start).directory) keys.push_back(folder_part);
    std::error_code ec;
    if (stat_path(start).directory) {
        fs::recursive_directory_iterator it(start, fs::directory_options::skip_permission_denied, ec), end;
        for (; !ec && it != end; it.increment(ec)) {
            const auto& entry = *it;
            std::string rel = entry.path().lexically_relative(dir).generic_string();
            if (entry.is_symlink()) {
                // A link may lead out of the root; such a file is not an object here.
                std::error_code link_ec;
                const fs::path target = fs::canonical(entry.path(), link_ec);
                const auto inside = target.lexically_relative(root_);
                if (link_ec || inside.empty() || *inside.begin() == "..") continue;
            }
            if (entry.is_directory()) {
                std::string as_folder = rel + "/";
                // Skip folders that cannot hold a key with the prefix.
                if (!as_folder.starts_with(prefix) && !prefix.starts_with(as_folder)) {
                    it.disable_recursion_pending();
                    continue;
                }
                if (as_folder.starts_with(prefix) && rows.contains(as_folder)) keys.push_back(std::move(as_folder));
            } else if (entry.is_regular_file() && rel.starts_with(prefix)) {
                keys.push_back(std::move(rel));
            }
        }
    }
    // Full keys in byte order: a directory walk order would put "a/b" before "a-b".
    std::sort(keys.begin(), keys.end());

    int count = 0;
    bool last_is_prefix = false;
    for (const auto& key : keys) {
        if (!resume.empty() && (key <= resume || (resume_is_prefix && key.starts_with(resume)))) continue;
        if (!request.delimiter.empty()) {
            const auto pos = key.find(request.delimiter, prefix.size());
            if (pos != std::string::npos) {
                std::string common = key.substr(0, pos + request.delimiter.size());
                if (!result.common_prefixes.empty() && result.common_prefixes.back() == common) continue;
                if (count == max_keys) {
                    result.truncated = true;
                    break;
                }
                result.common_prefixes.push_back(common);
                result.last_listed = std::move(common);
                last_is_prefix = true;
                ++count;
                continue;
            }
        }
        if (count == max_keys) {
            result.truncated = true;
            break;
        }
        const auto row = rows.find(key);
        try {
            result.contents.push_back(describe(bucket, key, dir / key, row == rows.end() ? nullptr : &row->second, true));
        } catch (const service_error&) {
            continue;  // deleted while we listed
        }
        result.last_listed = key;
        last_is_prefix = false;
        ++count;
    }
    if (result.truncated) result.next_continuation_token = make_token(result.last_listed, last_is_prefix);
    return result;
}

// ---------------------------------------------------------------------------------------------
// Multipart uploads
// ---------------------------------------------------------------------------------------------

multipart_upload_info object_store::create_multipart_upload(const std::string& bucket, const std::string& key,
                                                            const object_attributes& attributes) {
    bucket_dir(bucket);
    object_path(bucket, key);
    multipart_upload_info upload{random_hex(16), bucket, key, clock_type::now(), attributes};
    const fs::path dir = upload_dir(upload.upload_id);
    fs::create_directories(dir);
    // The upload's own record sits with its parts, so that it survives a restart with them.
    const nlohmann::json manifest{
        {"bucket", bucket},
        {"key", key},
        {"initiated_ns", std::chrono::duration_cast<std::chrono::nanoseconds>(upload.initiated.time_since_epoch()).count()},
        {"content_type", attributes.content_type},
        {"metadata", attributes.metadata}};
    const fs::path staged = dir / "upload.json.tmp";
    {
        fd_guard out{open_or_throw(staged, O_WRONLY | O_CREAT | O_TRUNC)};
        const std::string text = manifest.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        if (::write(out.fd, text.data(), text.size()) != static_cast<ssize_t>(text.size()))
            throw std::system_error(errno, std::generic_category(), "write " + staged.string());
    }
    rename_or_throw(staged, dir / "upload.json");
    return upload;
}

multipart_upload_info object_store::multipart_upload(const std::string& bucket, const std::string& key,
                                                     const std::string& upload_id) const {
    bucket_dir(bucket);
    const auto missing = [] {
        return s3_error(codes::no_such_upload,
                        "The specified upload does not exist. The upload ID may be invalid, or the upload may have "
                        "been aborted or completed.");
    };
    if (!is_upload_id(upload_id)) throw missing();
    nlohmann::json manifest;
    try {
        std::string text;
        {
            fd_guard in{::open((upload_dir(upload_id) / "upload.json").c_str(), O_RDONLY | O_CLOEXEC)};
            if (in.fd < 0) throw missing();
            char buffer[4096];
            for (ssize_t n; (n = ::read(in.fd, buffer, sizeof buffer)) > 0;) text.append(buffer, static_cast<std::size_t>(n));
        }
        manifest = nlohmann::json::parse(text);
        if (manifest.at("bucket") != bucket || manifest.at("key") != key) throw missing();
        multipart_upload_info upload;
        upload.upload_id = upload_id;
        upload.bucket = bucket;
        upload.key = key;
        upload.initiated = from_ns(manifest.at("initiated_ns").get<std::int64_t>());
        upload.attributes.content_type = manifest.value("content_type", "");
        upload.attributes.metadata = manifest.value("metadata", user_metadata{});
        return upload;
    } catch (const nlohmann::json::exception&) {
        throw missing();
    }
}

namespace {

void check_part_number(int part_number) {
    if (part_number < 1 || part_number > max_part_number)
        throw s3_error(codes::invalid_argument, "Part number must be an integer between 1 and 10000, inclusive");
}

}  // namespace

std::string object_store::upload_part(const std::string& bucket, const std::string& key, const std::string& upload_id,
                                      int part_number, const fs::path& body, const std::string& md5_hex) {
    check_part_number(part_number);
    multipart_upload(bucket, key, upload_id);
    const fs::path dir = upload_dir(upload_id);
    const std::string name = part_prefix(part_number) + md5_hex;
    const std::lock_guard lock(mutex_);
    rename_or_throw(body, dir / name);
    // A re-uploaded part replaces the earlier one of the same number.
    for (const auto& part : stored_parts(dir)) {
        if (part.number == part_number && part.path.filename() != name) {
            std::error_code ec;
            fs::remove(part.path, ec);
        }
    }
    return quote_etag(md5_hex);
}

part_info object_store::upload_part_copy(const std::string& source_bucket, const std::string& source_key,
                                         std::optional<std::pair<std::uint64_t, std::uint64_t>> range,
                                         const std::string& bucket, const std::string& key,
                                         const std::string& upload_id, int part_number) {
    check_part_number(part_number);
    multipart_upload(bucket, key, upload_id);
    bucket_dir(source_bucket);
    const object_info source = describe(source_bucket, source_key, object_path(source_bucket, source_key));
    std::uint64_t first = 0;
    std::uint64_t length = source.size;
    if (range) {
        if (range->first > range->second || range->second >= source.size)
            throw s3_error(codes::invalid_argument,
                           "Range specified is not valid for source object of size: " + std::to_string(source.size));
        first = range->first;
        length = range->second - range->first + 1;
    }
    const fs::path staged = incoming_file();
    md5 hash;
    try {
        fd_guard out{open_or_throw(staged, O_WRONLY | O_CREAT | O_TRUNC)};
        if (!source.path.empty() && length > 0) {
            fd_guard in{open_or_throw(source.path, O_RDONLY)};
            if (::lseek(in.fd, static_cast<off_t>(first), SEEK_SET) < 0)
                throw std::system_error(errno, std::generic_category(), "seek " + source.path.string());
            copy_hashing(in.fd, out.fd, length, hash, source.path);
        }
    } catch (...) {
        std::error_code ec;
        fs::remove(staged, ec);
        throw;
    }
    const std::string etag = upload_part(bucket, key, upload_id, part_number, staged, hash.finish_hex());
    return part_info{part_number, length, etag, clock_type::now()};
}

std::vector<part_info> object_store::list_parts(const std::string& bucket, const std::string& key,
                                                const std::string& upload_id) const {
    multipart_upload(bucket, key, upload_id);
    std::vector<part_info> parts;
    for (const auto& part : stored_parts(upload_dir(upload_id))) {
        const file_stat st = stat_path(part.path);
        if (!st.regular) continue;
        parts.push_back(part_info{part.number, st.size, quote_etag(part.md5_hex), from_ns(st.mtime_ns)});
    }
    return parts;
}

object_info object_store::complete_multipart_upload(const std::string& bucket, const std::string& key,
                                                    const std::string& upload_id,
                                                    const std::vector<completed_part>& parts) {
    const multipart_upload_info upload = multipart_upload(bucket, key, upload_id);
    if (parts.empty())
        throw s3_error(codes::malformed_xml,
                       "The XML you provided was not well-formed or did not validate against our published schema");
    const fs::path dir = upload_dir(upload_id);
    std::map<int, stored_part> stored;
    for (auto& part : stored_parts(dir)) stored[part.number] = std::move(part);

    // Check every named part first: nothing is written unless the whole list is good.
    std::vector<std::pair<stored_part, std::uint64_t>> chosen;
    int previous = 0;
    for (const auto& part : parts) {
        if (part.number <= previous)
            throw s3_error(codes::invalid_part_order,
                           "The list of parts was not in ascending order. Parts must be ordered by part number.");
        previous = part.number;
        const auto found = stored.find(part.number);
        if (found == stored.end() || found->second.md5_hex != unquoted(part.etag))
            throw s3_error(codes::invalid_part,
                           "One or more of the specified parts could not be found. The part may not have been "
                           "uploaded, or the specified entity tag may not match the part's entity tag.");
        chosen.emplace_back(found->second, stat_path(found->second.path).size);
    }
    for (std::size_t i = 0; i + 1 < chosen.size(); ++i) {
        if (chosen[i].second < min_part_size)
            throw s3_error(codes::entity_too_small, "Your proposed upload is smaller than the minimum allowed size");
    }

    // Concatenate in the kernel (copy_file_range), and build the multipart ETag from the part MD5s.
    const fs::path staged = incoming_file();
    const removed_at_exit cleanup{staged};
    md5 etag_md5;
    {
        fd_guard out{open_or_throw(staged, O_WRONLY | O_CREAT | O_TRUNC)};
        for (const auto& [part, size] : chosen) {
            const auto raw = hex_decode(part.md5_hex);
            if (raw) etag_md5.update(raw->data(), raw->size());
            fd_guard in{open_or_throw(part.path, O_RDONLY)};
            for (std::uint64_t left = size; left > 0;) {
                const ssize_t n = ::copy_file_range(in.fd, nullptr, out.fd, nullptr, static_cast<std::size_t>(left), 0);
                if (n < 0 && errno == EINTR) continue;
                if (n < 0) throw std::system_error(errno, std::generic_category(), "copy_file_range " + part.path.string());
                if (n == 0) throw std::runtime_error("part shrank while being assembled: " + part.path.string());
                left -= static_cast<std::uint64_t>(n);
            }
        }
    }
    const std::string etag = etag_md5.finish_hex() + "-" + std::to_string(chosen.size());
    object_info info = commit(bucket, key, staged, etag, upload.attributes);
    std::error_code ec;
    fs::remove_all(dir, ec);
    return info;
}

void object_store::abort_multipart_upload(const std::string& bucket, const std::string& key, const std::string& upload_id) {
    multipart_upload(bucket, key, upload_id);
    const std::lock_guard lock(mutex_);
    fs::remove_all(upload_dir(upload_id));
}

}  // namespace smlocal
