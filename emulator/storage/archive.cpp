// tar.gz packing (model.tar.gz, output.tar.gz) and unpacking (sourcedir.tar.gz) with libarchive.
// Packing never follows symlinks; unpacking refuses members that would land outside the target.

#include "emulator/storage/archive.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

namespace smlocal {

namespace fs = std::filesystem;

namespace {

// Regular files are streamed through a buffer of this size, never loaded whole.
constexpr std::size_t copy_chunk_bytes = 256 * 1024;

struct archive_write_deleter {
    void operator()(struct archive* a) const { archive_write_free(a); }
};
struct archive_read_deleter {
    void operator()(struct archive* a) const { archive_read_free(a); }
};
struct entry_deleter {
    void operator()(archive_entry* e) const { archive_entry_free(e); }
};
using write_handle = std::unique_ptr<struct archive, archive_write_deleter>;
using read_handle = std::unique_ptr<struct archive, archive_read_deleter>;
using entry_handle = std::unique_ptr<archive_entry, entry_deleter>;

[[noreturn]] void fail(struct archive* a, const std::string& what) {
    const char* message = a ? archive_error_string(a) : nullptr;
    throw std::runtime_error(what + ": " + (message ? message : "unknown libarchive error"));
}

[[noreturn]] void fail_errno(const std::string& what, int err) {
    throw std::runtime_error(what + ": " + std::strerror(err));
}

// Closes a POSIX descriptor on every path out of a scope.
class unique_fd {
public:
    explicit unique_fd(int fd) : fd_(fd) {}
    unique_fd(const unique_fd&) = delete;
    unique_fd& operator=(const unique_fd&) = delete;
    ~unique_fd() { reset(); }
    int get() const { return fd_; }
    void reset() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

private:
    int fd_;
};

// Member name -> the file that provides it. std::map order puts every folder before its contents.
using member_map = std::map<std::string, fs::path>;

// Adds everything below `source`; a later source replaces what an earlier one had at the same name.
void collect(const fs::path& source, member_map& members) {
    std::error_code ec;
    const auto status = fs::status(source, ec);
    if (status.type() == fs::file_type::not_found) return;  // e.g. a host that wrote no model
    if (ec) throw std::runtime_error("cannot read '" + source.string() + "': " + ec.message());
    if (!fs::is_directory(status)) throw std::runtime_error("'" + source.string() + "' is not a directory");

    // The default options never descend through directory symlinks.
    fs::recursive_directory_iterator it(source, ec);
    if (ec) throw std::runtime_error("cannot list '" + source.string() + "': " + ec.message());
    for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (ec) throw std::runtime_error("cannot list '" + source.string() + "': " + ec.message());
        const fs::path& path = it->path();
        const std::string name = path.lexically_relative(source).generic_string();
        const auto type = it->symlink_status(ec).type();
        if (ec) throw std::runtime_error("cannot stat '" + path.string() + "': " + ec.message());
        // A non-folder replaces an earlier host's folder of the same name, with all it held.
        if (type != fs::file_type::directory) {
            const std::string prefix = name + "/";
            for (auto child = members.lower_bound(prefix);
                 child != members.end() && child->first.starts_with(prefix);) {
                child = members.erase(child);
            }
        }
        members[name] = path;
    }
    if (ec) throw std::runtime_error("cannot list '" + source.string() + "': " + ec.message());
}

void write_header(struct archive* a, archive_entry* entry, const std::string& name) {
    const int rc = archive_write_header(a, entry);
    // ARCHIVE_WARN covers e.g. a name that is not valid in the locale's charset: still stored.
    if (rc < ARCHIVE_WARN) fail(a, "cannot add '" + name + "' to the archive");
}

// Writes one member; sockets, FIFOs and devices are skipped (they cannot be uploaded to S3).
void add_member(struct archive* a, const std::string& name, const fs::path& path) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
        if (errno == ENOENT) return;  // removed since listing: nothing to pack
        fail_errno("cannot stat '" + path.string() + "'", errno);
    }

    entry_handle entry(archive_entry_new());
    if (!entry) throw std::bad_alloc();
    archive_entry_set_pathname(entry.get(), name.c_str());

    if (S_ISDIR(st.st_mode)) {
        archive_entry_copy_stat(entry.get(), &st);
        archive_entry_set_size(entry.get(), 0);
        write_header(a, entry.get(), name);
        return;
    }
    if (S_ISLNK(st.st_mode)) {
        // Stored as a link, never followed: a link to /etc/passwd must not pull that file in.
        std::error_code ec;
        const fs::path target = fs::read_symlink(path, ec);
        if (ec) throw std::runtime_error("cannot read link '" + path.string() + "': " + ec.message());
        archive_entry_copy_stat(entry.get(), &st);
        archive_entry_set_size(entry.get(), 0);
        archive_entry_set_symlink(entry.get(), target.c_str());
        write_header(a, entry.get(), name);
        return;
    }
    if (!S_ISREG(st.st_mode)) return;

    // O_NOFOLLOW: if the file was swapped for a symlink since lstat, refuse rather than follow.
    unique_fd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (fd.get() < 0) fail_errno("cannot open '" + path.string() + "'", errno);
    if (::fstat(fd.get(), &st) != 0) fail_errno("cannot stat '" + path.string() + "'", errno);
    if (!S_ISREG(st.st_mode)) return;
    archive_entry_copy_stat(entry.get(), &st);
    write_header(a, entry.get(), name);

    // Stream exactly the size in the header; libarchive pads if the file shrank meanwhile.
    std::unique_ptr<char[]> buffer(new char[copy_chunk_bytes]);
    auto remaining = static_cast<std::uint64_t>(st.st_size);
    while (remaining > 0) {
        const std::size_t want = remaining < copy_chunk_bytes ? static_cast<std::size_t>(remaining) : copy_chunk_bytes;
        const ssize_t got = ::read(fd.get(), buffer.get(), want);
        if (got < 0) {
            if (errno == EINTR) continue;
            fail_errno("cannot read '" + path.string() + "'", errno);
        }
        if (got == 0) break;
        if (archive_write_data(a, buffer.get(), static_cast<std::size_t>(got)) < 0)
            fail(a, "cannot write '" + name + "' to the archive");
        remaining -= static_cast<std::uint64_t>(got);
    }
    if (archive_write_finish_entry(a) < ARCHIVE_WARN) fail(a, "cannot finish '" + name + "' in the archive");
}

// Creates `<archive>.tmp-<random>` exclusively, so two writers never share a temporary file.
std::pair<fs::path, int> create_temporary(const fs::path& archive) {
    std::random_device entropy;
    std::uniform_int_distribution<std::uint64_t> dist;
    for (int attempt = 0; attempt < 16; ++attempt) {
        char suffix[17];
        std::snprintf(suffix, sizeof suffix, "%016llx", static_cast<unsigned long long>(dist(entropy)));
        fs::path temporary = archive;
        temporary += ".tmp-";
        temporary += suffix;
        const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd >= 0) return {temporary, fd};
        if (errno != EEXIST) fail_errno("cannot create '" + temporary.string() + "'", errno);
    }
    throw std::runtime_error("cannot create a temporary file next to '" + archive.string() + "'");
}

// Rejects member names that are absolute or climb with "..", before libarchive sees them.
std::string checked_member_name(const char* raw, const char* kind) {
    if (!raw) throw std::runtime_error(std::string("archive has a ") + kind + " name that cannot be decoded");
    const std::string name(raw);
    if (name.starts_with('/')) throw std::runtime_error(std::string("archive ") + kind + " '" + name + "' is absolute");
    for (const auto& part : fs::path(name)) {
        if (part == "..")
            throw std::runtime_error(std::string("archive ") + kind + " '" + name + "' leaves the destination");
    }
    return fs::path(name).lexically_normal().generic_string();
}

}  // namespace

void write_tar_gz(const fs::path& archive, const std::vector<fs::path>& source_dirs) {
    // List first, so the temporary file can never end up inside the archive.
    member_map members;
    for (const auto& source : source_dirs) collect(source, members);

    const fs::path target = fs::absolute(archive);
    if (target.has_parent_path()) {
        std::error_code ec;
        fs::create_directories(target.parent_path(), ec);
        if (ec) throw std::runtime_error("cannot create '" + target.parent_path().string() + "': " + ec.message());
    }

    auto [temporary, raw_fd] = create_temporary(target);
    unique_fd fd(raw_fd);
    try {
        write_handle a(archive_write_new());
        if (!a) throw std::bad_alloc();
        // pax restricted: plain ustar headers unless a name or size needs an extension.
        if (archive_write_set_format_pax_restricted(a.get()) != ARCHIVE_OK) fail(a.get(), "cannot set tar format");
        if (archive_write_add_filter_gzip(a.get()) != ARCHIVE_OK) fail(a.get(), "cannot enable gzip");
        if (archive_write_open_fd(a.get(), fd.get()) != ARCHIVE_OK) fail(a.get(), "cannot open '" + temporary.string() + "'");

        for (const auto& [name, path] : members) add_member(a.get(), name, path);

        if (archive_write_close(a.get()) != ARCHIVE_OK) fail(a.get(), "cannot finish '" + temporary.string() + "'");
        // Durable before visible: the rename must not publish data still in the page cache.
        if (::fsync(fd.get()) != 0) fail_errno("cannot flush '" + temporary.string() + "'", errno);
        fd.reset();
        fs::rename(temporary, target);
    } catch (...) {
        fd.reset();
        std::error_code ignored;
        fs::remove(temporary, ignored);
        throw;
    }
}

void extract_archive(const fs::path& archive, const fs::path& destination) {
    std::error_code ec;
    fs::create_directories(destination, ec);
    if (ec) throw std::runtime_error("cannot create '" + destination.string() + "': " + ec.message());
    // Canonical: no symlink or ".." in the prefix, so libarchive's per-component checks apply
    // only to what the archive itself creates.
    const fs::path root = fs::canonical(destination, ec);
    if (ec) throw std::runtime_error("cannot resolve '" + destination.string() + "': " + ec.message());

    read_handle in(archive_read_new());
    if (!in) throw std::bad_alloc();
    // tar (ustar, pax, GNU), plain or gzip; only in-process decoders, no external programs.
    archive_read_support_format_tar(in.get());
    archive_read_support_format_gnutar(in.get());
    archive_read_support_filter_gzip(in.get());
    if (archive_read_open_filename(in.get(), archive.c_str(), copy_chunk_bytes) != ARCHIVE_OK)
        fail(in.get(), "cannot open '" + archive.string() + "'");

    write_handle out(archive_write_disk_new());
    if (!out) throw std::bad_alloc();
    // Member paths are made absolute below (no chdir: the server is multi-threaded), so the
    // absolute-path check is ours; libarchive still refuses ".." and writes through symlinks.
    // No ARCHIVE_EXTRACT_UNLINK: it would silently replace a planted symlink instead of refusing.
    // No ARCHIVE_EXTRACT_OWNER: files belong to us, and set-id bits are dropped.
    archive_write_disk_set_options(out.get(), ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM |
                                                  ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                                                  ARCHIVE_EXTRACT_SECURE_SYMLINKS);

    archive_entry* entry = nullptr;
    while (true) {
        const int rc = archive_read_next_header(in.get(), &entry);
        if (rc == ARCHIVE_EOF) break;
        if (rc < ARCHIVE_WARN) fail(in.get(), "cannot read '" + archive.string() + "'");

        const std::string name = checked_member_name(archive_entry_pathname(entry), "member");
        if (name.empty() || name == ".") continue;  // "./" would retouch the destination itself
        archive_entry_set_pathname(entry, (root / name).c_str());
        if (const char* link = archive_entry_hardlink(entry)) {
            const std::string link_name = checked_member_name(link, "hard link target");
            archive_entry_set_hardlink(entry, (root / link_name).c_str());
        }

        if (archive_write_header(out.get(), entry) < ARCHIVE_WARN) fail(out.get(), "cannot extract '" + name + "'");
        if (archive_entry_size(entry) > 0) {
            const void* block = nullptr;
            size_t size = 0;
            la_int64_t offset = 0;
            while (true) {
                const int data_rc = archive_read_data_block(in.get(), &block, &size, &offset);
                if (data_rc == ARCHIVE_EOF) break;
                if (data_rc < ARCHIVE_WARN) fail(in.get(), "cannot read '" + name + "'");
                if (archive_write_data_block(out.get(), block, size, offset) < ARCHIVE_WARN)
                    fail(out.get(), "cannot write '" + name + "'");
            }
        }
        if (archive_write_finish_entry(out.get()) < ARCHIVE_WARN) fail(out.get(), "cannot finish '" + name + "'");
    }
    // Applies deferred folder times and permissions.
    if (archive_write_close(out.get()) < ARCHIVE_WARN) fail(out.get(), "cannot finish extracting '" + archive.string() + "'");
}

}  // namespace smlocal
