// URI -> local path mapping. Every input here comes from a client, so the rules are strict:
// validate the syntax, reject dot segments, then resolve symlinks ourselves (dangling ones too)
// and require the physical path to stay strictly inside the configured root.

#include "emulator/storage/uri_mapper.hpp"

#include "emulator/errors.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <vector>

namespace smlocal {

namespace fs = std::filesystem;

namespace {

// Linux limits: longest single name, and how many symlinks one resolution may follow.
constexpr std::size_t max_segment_bytes = 255;
constexpr int max_symlink_hops = 40;
// S3 keys are at most 1024 bytes of UTF-8.
constexpr std::size_t max_s3_key_bytes = 1024;

// Client text goes back in error messages: escape control bytes and cap the length.
std::string printable(std::string_view text) {
    constexpr std::size_t max_chars = 1100;
    std::string out;
    for (char c : text.substr(0, max_chars)) {
        auto byte = static_cast<unsigned char>(c);
        if (byte < 0x20 || byte == 0x7f) {
            static constexpr char hex[] = "0123456789abcdef";
            out += "\\x";
            out += hex[byte >> 4];
            out += hex[byte & 0xf];
        } else {
            out += c;
        }
    }
    if (text.size() > max_chars) out += "...";
    return out;
}

service_error invalid_s3(std::string_view uri, const std::string& reason) {
    return validation_error("Invalid S3 URI '" + printable(uri) + "': " + reason);
}

std::vector<std::string_view> split(std::string_view text, char sep) {
    std::vector<std::string_view> parts;
    std::size_t start = 0;
    while (true) {
        auto pos = text.find(sep, start);
        parts.push_back(text.substr(start, pos == std::string_view::npos ? std::string_view::npos : pos - start));
        if (pos == std::string_view::npos) break;
        start = pos + 1;
    }
    return parts;
}

bool is_lower_or_digit(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// S3 bucket naming rules (general purpose buckets); returns the reason, or "" when valid.
std::string bucket_name_problem(std::string_view bucket) {
    if (bucket.empty()) return "the bucket name is empty";
    if (bucket.size() < 3 || bucket.size() > 63) return "bucket names must be 3 to 63 characters long";
    for (char c : bucket) {
        if (!is_lower_or_digit(c) && c != '.' && c != '-')
            return "bucket names may contain only lowercase letters, digits, '.' and '-'";
    }
    if (!is_lower_or_digit(bucket.front()) || !is_lower_or_digit(bucket.back()))
        return "bucket names must begin and end with a letter or digit";
    if (bucket.find("..") != std::string_view::npos) return "bucket names must not contain two adjacent periods";
    return {};
}

// AWS region names such as us-east-1, eu-central-1, us-gov-west-1.
bool is_region(std::string_view text) {
    auto parts = split(text, '-');
    if (parts.size() < 3) return false;
    if (parts.front().size() != 2) return false;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        const auto part = parts[i];
        if (part.empty()) return false;
        const bool last = i + 1 == parts.size();
        for (char c : part) {
            if (last ? !(c >= '0' && c <= '9') : !(c >= 'a' && c <= 'z')) return false;
        }
    }
    return true;
}

struct bucket_and_key {
    std::string bucket;
    std::string key;
};

// https://<host>/<rest>: virtual-hosted (bucket in the host) or path-style (bucket first in rest).
bucket_and_key parse_https(std::string_view uri, std::string_view host, std::string_view rest) {
    if (rest.find_first_of("?#") != std::string_view::npos)
        throw invalid_s3(uri, "query strings and fragments are not supported");

    std::string_view labels_text;
    for (std::string_view suffix : {".amazonaws.com", ".amazonaws.com.cn"}) {
        if (host.size() > suffix.size() && host.ends_with(suffix)) {
            labels_text = host.substr(0, host.size() - suffix.size());
            break;
        }
    }
    const auto labels = labels_text.empty() ? std::vector<std::string_view>{} : split(labels_text, '.');
    const std::size_t n = labels.size();

    // How many trailing labels form the S3 endpoint: s3 | s3-<region> | s3.<region> | s3.dualstack.<region>.
    std::size_t endpoint_labels = 0;
    if (n >= 1 && labels[n - 1] == "s3") {
        endpoint_labels = 1;
    } else if (n >= 1 && labels[n - 1].starts_with("s3-") && is_region(labels[n - 1].substr(3))) {
        endpoint_labels = 1;
    } else if (n >= 2 && labels[n - 2] == "s3" && is_region(labels[n - 1])) {
        endpoint_labels = 2;
    } else if (n >= 3 && labels[n - 3] == "s3" && labels[n - 2] == "dualstack" && is_region(labels[n - 1])) {
        endpoint_labels = 3;
    }
    if (endpoint_labels == 0)
        throw invalid_s3(uri, "'" + printable(host) + "' is not an Amazon S3 endpoint");

    if (n == endpoint_labels) {
        // Path-style: https://s3[.region].amazonaws.com/bucket/key
        const auto slash = rest.find('/');
        if (slash == std::string_view::npos) return {std::string(rest), {}};
        return {std::string(rest.substr(0, slash)), std::string(rest.substr(slash + 1))};
    }
    // Virtual-hosted: the bucket is every label before the endpoint (bucket names may hold dots).
    const std::size_t bucket_labels = n - endpoint_labels;
    std::string bucket;
    for (std::size_t i = 0; i < bucket_labels; ++i) {
        if (i) bucket += '.';
        bucket += labels[i];
    }
    return {std::move(bucket), std::string(rest)};
}

// Physical path of `p` (absolute, no dot segments): every symlink is followed, including dangling
// ones, so a link that points outside the root is caught even when its target does not exist yet.
// Throws std::system_error on loops or unreadable components.
fs::path resolve_physical(const fs::path& p) {
    const fs::path relative = p.relative_path();
    std::deque<fs::path> pending(relative.begin(), relative.end());
    fs::path result = "/";
    int hops = 0;
    while (!pending.empty()) {
        fs::path part = std::move(pending.front());
        pending.pop_front();
        if (part.empty() || part == ".") continue;
        if (part == "..") {
            result = result.parent_path();
            continue;
        }
        fs::path next = result / part;
        // lstat every component, even below a missing one: a target's ".." can climb back into
        // folders that exist (and that a later create_directories would make real).
        struct stat st {};
        if (::lstat(next.c_str(), &st) != 0) {
            if (errno != ENOENT && errno != ENOTDIR)
                throw std::system_error(errno, std::generic_category(), next.string());
        } else if (S_ISLNK(st.st_mode)) {
            if (++hops > max_symlink_hops) throw std::system_error(ELOOP, std::generic_category(), next.string());
            const fs::path target = fs::read_symlink(next);
            if (target.is_absolute()) result = "/";
            // Splice the target's components in front of what is left to resolve.
            const fs::path target_relative = target.relative_path();
            pending.insert(pending.begin(), target_relative.begin(), target_relative.end());
            continue;
        }
        result = std::move(next);
    }
    return result;
}

// True when `candidate` is below `root` (both physical, normalised); the root itself is not inside.
bool strictly_inside(const fs::path& root, const fs::path& candidate) {
    auto r = root.begin();
    auto c = candidate.begin();
    for (; r != root.end(); ++r, ++c) {
        if (r->empty()) break;  // a trailing separator on the root
        if (c == candidate.end() || *r != *c) return false;
    }
    for (; c != candidate.end(); ++c) {
        if (!c->empty()) return true;
    }
    return false;
}

// Why one relative-path segment is refused, or "" when it is fine.
std::string segment_problem(std::string_view segment) {
    if (segment == "..") return "..";
    if (segment == ".") return ".";
    if (segment.size() > max_segment_bytes) return "long";
    return {};
}

fs::path make_root(const fs::path& root, const char* name) {
    if (root.empty()) throw std::invalid_argument(std::string("the local ") + name + " root is empty");
    fs::create_directories(root);
    return fs::canonical(fs::absolute(root));
}

}  // namespace

uri_mapper::uri_mapper(storage_roots roots)
    : roots_{make_root(roots.s3, "S3"), make_root(roots.efs, "EFS"), make_root(roots.fsx, "FSx")} {}

fs::path uri_mapper::s3_path(std::string_view uri) const {
    // Characters that would change meaning in a local path are refused up front.
    if (uri.find('\0') != std::string_view::npos) throw invalid_s3(uri, "it contains a NUL character");
    if (uri.find('\\') != std::string_view::npos) throw invalid_s3(uri, "it contains a backslash");

    bucket_and_key parsed;
    if (uri.starts_with("s3://")) {
        const auto rest = uri.substr(5);
        const auto slash = rest.find('/');
        parsed.bucket = std::string(rest.substr(0, slash));
        if (slash != std::string_view::npos) parsed.key = std::string(rest.substr(slash + 1));
    } else if (uri.starts_with("https://")) {
        const auto rest = uri.substr(8);
        const auto slash = rest.find('/');
        const auto host = rest.substr(0, slash);
        parsed = parse_https(uri, host, slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1));
    } else {
        throw invalid_s3(uri, "it must start with s3:// or https://");
    }

    if (auto problem = bucket_name_problem(parsed.bucket); !problem.empty()) throw invalid_s3(uri, problem);
    if (parsed.key.size() > max_s3_key_bytes) throw invalid_s3(uri, "the key is longer than 1024 bytes");
    if (parsed.key.starts_with('/')) throw invalid_s3(uri, "the key is an absolute path");

    // Build the path one checked segment at a time; empty segments ("a//b", a trailing '/') collapse.
    fs::path local = roots_.s3 / parsed.bucket;
    for (auto segment : split(parsed.key, '/')) {
        if (segment.empty()) continue;
        const auto problem = segment_problem(segment);
        if (problem == "..")
            throw validation_error("S3 URI '" + printable(uri) +
                                   "' is not allowed: it leaves the local S3 root ('..' key segment)");
        if (problem == ".") throw invalid_s3(uri, "the key has a '.' segment");
        if (problem == "long") throw invalid_s3(uri, "a key segment is longer than 255 bytes");
        local /= fs::path(std::string(segment));
    }

    // Existing (or dangling) symlinks must not lead out of the root.
    fs::path physical;
    try {
        physical = resolve_physical(local);
    } catch (const std::system_error& e) {
        throw validation_error("S3 URI '" + printable(uri) + "' cannot be resolved locally: " + e.code().message());
    }
    if (!strictly_inside(roots_.s3, physical))
        throw validation_error("S3 URI '" + printable(uri) + "' is not allowed: it leaves the local S3 root");
    return local;
}

fs::path uri_mapper::file_system_path(std::string_view type, std::string_view file_system_id,
                                      std::string_view directory_path) const {
    const fs::path* root = nullptr;
    const char* root_name = nullptr;
    if (type == "EFS") {
        root = &roots_.efs;
        root_name = "EFS";
    } else if (type == "FSxLustre") {
        root = &roots_.fsx;
        root_name = "FSx for Lustre";
    } else {
        throw validation_error("Invalid FileSystemType '" + printable(type) + "': must be EFS or FSxLustre");
    }

    // fs-[0-9a-f]{8,}, at most 21 characters as the service model says.
    bool id_ok = file_system_id.starts_with("fs-") && file_system_id.size() >= 11 && file_system_id.size() <= 21;
    for (std::size_t i = 3; id_ok && i < file_system_id.size(); ++i) {
        const char c = file_system_id[i];
        id_ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
    }
    if (!id_ok)
        throw validation_error("Invalid FileSystemId '" + printable(file_system_id) + "': must match fs-[0-9a-f]{8,}");

    const auto where = "DirectoryPath '" + printable(directory_path) + "' of " + std::string(file_system_id);
    if (directory_path.find('\0') != std::string_view::npos)
        throw validation_error("Invalid " + where + ": it contains a NUL character");
    if (directory_path.find('\\') != std::string_view::npos)
        throw validation_error("Invalid " + where + ": it contains a backslash");
    if (!directory_path.starts_with('/'))
        throw validation_error("Invalid " + where + ": it must be an absolute path starting with '/'");

    fs::path local = *root / std::string(file_system_id);
    for (auto segment : split(directory_path, '/')) {
        if (segment.empty()) continue;
        const auto problem = segment_problem(segment);
        if (problem == "..")
            throw validation_error(where + " is not allowed: it leaves the local " + root_name +
                                   " root ('..' segment)");
        if (problem == ".") throw validation_error("Invalid " + where + ": it has a '.' segment");
        if (problem == "long") throw validation_error("Invalid " + where + ": a segment is longer than 255 bytes");
        local /= fs::path(std::string(segment));
    }

    fs::path physical;
    try {
        physical = resolve_physical(local);
    } catch (const std::system_error& e) {
        throw validation_error(where + " cannot be resolved locally: " + e.code().message());
    }
    if (!strictly_inside(*root, physical))
        throw validation_error(where + " is not allowed: it leaves the local " + root_name + " root");
    return local;
}

std::string uri_mapper::s3_uri(const fs::path& local) const {
    const std::string root = roots_.s3.generic_string();
    // A path named with a trailing separator names a "folder": keep that in the key.
    auto relative_to_root = [&](const fs::path& p) -> std::optional<std::string> {
        const std::string text = p.lexically_normal().generic_string();
        if (text.size() <= root.size() + 1 || !text.starts_with(root) || text[root.size()] != '/')
            return std::nullopt;
        return text.substr(root.size() + 1);
    };

    const fs::path absolute = fs::absolute(local);
    auto rel = relative_to_root(absolute);
    if (!rel) {
        // The caller may have named the path through a symlink (e.g. /tmp -> /private/tmp).
        std::error_code ec;
        const bool trailing = !absolute.has_filename();
        fs::path canonical = fs::weakly_canonical(absolute, ec);
        if (!ec) {
            if (trailing) canonical /= "";
            rel = relative_to_root(canonical);
        }
    }
    if (!rel)
        throw std::invalid_argument("path '" + local.string() + "' is not inside the local S3 root '" + root + "'");
    return "s3://" + *rel;
}

}  // namespace smlocal
