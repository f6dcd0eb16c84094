#include "api/http/payload_body.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include <openssl/evp.h>

namespace smlocal::api {
namespace {

// Disk I/O in blocks this large: few syscalls per gigabyte, little memory per connection.
constexpr std::size_t block_size = 1024 * 1024;

boost::beast::error_code last_error() { return {errno, boost::system::system_category()}; }

EVP_MD_CTX* as_md5(void* context) { return static_cast<EVP_MD_CTX*>(context); }

}  // namespace

file_sink::~file_sink() {
    if (fd_ >= 0) ::close(fd_);
    if (md5_) EVP_MD_CTX_free(as_md5(md5_));
}

void file_sink::open(const std::filesystem::path& path, boost::beast::error_code& ec) {
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) return void(ec = last_error());
    md5_ = EVP_MD_CTX_new();
    EVP_DigestInit_ex(as_md5(md5_), EVP_md5(), nullptr);
    pending_.reserve(block_size);
}

void file_sink::write(const char* data, std::size_t size, boost::beast::error_code& ec) {
    EVP_DigestUpdate(as_md5(md5_), data, size);
    pending_.append(data, size);
    if (pending_.size() >= block_size) flush(ec);
}

void file_sink::flush(boost::beast::error_code& ec) {
    std::size_t written = 0;
    while (written < pending_.size()) {
        const auto n = ::write(fd_, pending_.data() + written, pending_.size() - written);
        if (n < 0) {
            if (errno == EINTR) continue;
            return void(ec = last_error());
        }
        written += static_cast<std::size_t>(n);
    }
    pending_.clear();
}

std::string file_sink::finish(boost::beast::error_code& ec) {
    flush(ec);
    if (ec) return {};
    if (::close(fd_) != 0) ec = last_error();
    fd_ = -1;
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_size = 0;
    EVP_DigestFinal_ex(as_md5(md5_), digest, &digest_size);
    static constexpr char hex[] = "0123456789abcdef";
    std::string text;
    for (unsigned int i = 0; i < digest_size; ++i) {
        text += hex[digest[i] >> 4];
        text += hex[digest[i] & 0xf];
    }
    return text;
}

file_source::~file_source() {
    if (fd_ >= 0) ::close(fd_);
}

void file_source::open(const body_file& range, boost::beast::error_code& ec) {
    fd_ = ::open(range.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) return void(ec = last_error());
    position_ = range.offset;
    remaining_ = range.length;
    ::posix_fadvise(fd_, static_cast<off_t>(position_), static_cast<off_t>(remaining_), POSIX_FADV_SEQUENTIAL);
}

boost::asio::const_buffer file_source::next(boost::beast::error_code& ec) {
    block_.resize(static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, block_size)));
    ssize_t n;
    do {
        n = ::pread(fd_, block_.data(), block_.size(), static_cast<off_t>(position_));
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        ec = last_error();
        return {};
    }
    if (n == 0 && !block_.empty()) {
        // The file shrank under us: a short body would leave the client waiting for the rest.
        ec = boost::beast::error_code(EIO, boost::system::system_category());
        return {};
    }
    position_ += static_cast<std::uint64_t>(n);
    remaining_ -= static_cast<std::uint64_t>(n);
    return {block_.data(), static_cast<std::size_t>(n)};
}

}  // namespace smlocal::api
