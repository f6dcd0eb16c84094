#include "api/http/payload_body.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "emulator/encoding.hpp"

namespace smlocal::api {
namespace {

// Disk I/O in blocks this large: few syscalls per gigabyte, little memory per connection.
constexpr std::size_t block_size = 1024 * 1024;

boost::beast::error_code last_error() { return {errno, boost::system::system_category()}; }

// Blocks that may wait for the hashing thread: a producer that gets this far ahead waits for one
// block's MD5 (about 2 ms), so memory stays bounded whatever the socket's speed.
constexpr std::size_t hash_queue_depth = 4;

}  // namespace

/// MD5 over a sequence of blocks, computed in order on a thread of its own.
class block_hasher {
public:
    block_hasher() : worker_([this] { run(); }) {}
    ~block_hasher() { close(); }

    void add(std::string block) {
        std::unique_lock lock(mutex_);
        room_.wait(lock, [this] { return queue_.size() < hash_queue_depth; });
        queue_.push_back(std::move(block));
        ready_.notify_one();
    }

    /// Waits for every block, then the digest in hex.
    std::string finish_hex() {
        close();
        return hash_.finish_hex();
    }

private:
    void close() {
        if (!worker_.joinable()) return;
        {
            std::lock_guard lock(mutex_);
            closed_ = true;
        }
        ready_.notify_one();
        worker_.join();
    }

    void run() {
        for (;;) {
            std::string block;
            {
                std::unique_lock lock(mutex_);
                ready_.wait(lock, [this] { return closed_ || !queue_.empty(); });
                if (queue_.empty()) return;  // closed, and everything hashed
                block = std::move(queue_.front());
                queue_.pop_front();
                room_.notify_one();
            }
            hash_.update(block);
        }
    }

    md5 hash_;
    std::mutex mutex_;
    std::condition_variable ready_, room_;
    std::deque<std::string> queue_;
    bool closed_ = false;
    std::thread worker_;  // last: it starts once the members above exist
};

file_sink::file_sink() = default;

file_sink::~file_sink() {
    if (fd_ >= 0) ::close(fd_);
}

void file_sink::open(const std::filesystem::path& path, boost::beast::error_code& ec) {
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) return void(ec = last_error());
    pending_.reserve(block_size);
}

void file_sink::write(const char* data, std::size_t size, boost::beast::error_code& ec) {
    pending_.append(data, size);
    if (pending_.size() >= block_size) {
        flush(ec);
        if (ec) return;
        // A body of more than a block: hash it alongside, block by block.
        if (!hasher_) hasher_ = std::make_unique<block_hasher>();
        hasher_->add(std::move(pending_));
        pending_ = std::string();
        pending_.reserve(block_size);
    }
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
}

std::string file_sink::finish(boost::beast::error_code& ec) {
    flush(ec);
    if (ec) return {};
    if (::close(fd_) != 0) ec = last_error();
    fd_ = -1;
    if (hasher_) {
        hasher_->add(std::move(pending_));
        pending_.clear();
        return hasher_->finish_hex();
    }
    // A body within one block: hashing it here is cheaper than a thread.
    std::string digest = md5::hex_of(pending_);
    pending_.clear();
    return digest;
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
