#pragma once
// The body type of every request and response: text in memory, or bytes on disk. S3 objects run
// to gigabytes, so an upload's body streams into a file (with its MD5 computed on the way) and a
// download streams a byte range of a file; everything else stays a string.
//
// The value type derives from std::string so that the many text bodies read and assign like one
// (`res.body() = json.dump()`); the file case is the extra member. It is never used through a
// std::string pointer.

#include <utility>  // before Asio in C++20 (Boost 1.74)

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/buffers_range.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/optional.hpp>

namespace smlocal::api {

/// A file as a body. For a request: where the body is written (created or truncated); the server
/// fills `length` and `md5_hex` once the body is in. For a response: the bytes
/// [offset, offset + length) of the file are sent.
struct body_file {
    std::filesystem::path path;
    std::uint64_t offset = 0;
    std::uint64_t length = 0;
    std::string md5_hex;  // requests only: the MD5 of what was written, lower-case hex
};

class block_hasher;

/// Writes a request body to a file in large blocks, hashing it with MD5 as it goes. Past the first
/// block the MD5 runs on a thread of its own, overlapping the socket and the disk (MD5 alone runs
/// at about a sixth of a page-cache copy).
class file_sink {
public:
    file_sink();
    file_sink(const file_sink&) = delete;
    file_sink& operator=(const file_sink&) = delete;
    ~file_sink();
    void open(const std::filesystem::path& path, boost::beast::error_code& ec);
    void write(const char* data, std::size_t size, boost::beast::error_code& ec);
    /// Flushes, closes, and returns the MD5 (hex) of everything written.
    std::string finish(boost::beast::error_code& ec);

private:
    void flush(boost::beast::error_code& ec);
    int fd_ = -1;
    std::unique_ptr<block_hasher> hasher_;  // from the first full block on
    std::string pending_;
};

/// Reads a byte range of a file in large blocks.
class file_source {
public:
    file_source() = default;
    file_source(const file_source&) = delete;
    file_source& operator=(const file_source&) = delete;
    ~file_source();
    void open(const body_file& range, boost::beast::error_code& ec);
    /// The next block, or an empty buffer at the end of the range.
    boost::asio::const_buffer next(boost::beast::error_code& ec);
    bool done() const { return remaining_ == 0; }

private:
    int fd_ = -1;
    std::uint64_t position_ = 0;
    std::uint64_t remaining_ = 0;
    std::string block_;
};

struct payload_body {
    struct value_type : std::string {
        using std::string::string;
        using std::string::operator=;
        value_type() = default;
        value_type(std::string text) : std::string(std::move(text)) {}
        /// Set: the body is this file rather than the text (see body_file).
        std::optional<body_file> file;
    };

    static std::uint64_t size(const value_type& body) { return body.file ? body.file->length : body.std::string::size(); }

    class reader {
    public:
        template <bool isRequest, class Fields>
        explicit reader(boost::beast::http::header<isRequest, Fields>&, value_type& body) : body_(body) {}

        void init(const boost::optional<std::uint64_t>& content_length, boost::beast::error_code& ec) {
            ec = {};
            if (body_.file) {
                body_.file->length = 0;
                sink_.emplace();
                sink_->open(body_.file->path, ec);
            } else if (content_length) {
                body_.reserve(static_cast<std::size_t>(*content_length));
            }
        }

        template <class ConstBufferSequence>
        std::size_t put(const ConstBufferSequence& buffers, boost::beast::error_code& ec) {
            ec = {};
            std::size_t total = 0;
            for (const auto buffer : boost::beast::buffers_range_ref(buffers)) {
                const auto* data = static_cast<const char*>(buffer.data());
                if (sink_) {
                    sink_->write(data, buffer.size(), ec);
                    if (ec) return total;
                    body_.file->length += buffer.size();
                } else {
                    body_.append(data, buffer.size());
                }
                total += buffer.size();
            }
            return total;
        }

        void finish(boost::beast::error_code& ec) {
            ec = {};
            if (sink_) body_.file->md5_hex = sink_->finish(ec);
        }

    private:
        value_type& body_;
        std::optional<file_sink> sink_;
    };

    class writer {
    public:
        using const_buffers_type = boost::asio::const_buffer;

        template <bool isRequest, class Fields>
        explicit writer(const boost::beast::http::header<isRequest, Fields>&, const value_type& body) : body_(body) {}

        void init(boost::beast::error_code& ec) {
            ec = {};
            if (body_.file) {
                source_.emplace();
                source_->open(*body_.file, ec);
            }
        }

        boost::optional<std::pair<const_buffers_type, bool>> get(boost::beast::error_code& ec) {
            ec = {};
            if (!source_) return std::make_pair(const_buffers_type(body_.data(), body_.std::string::size()), false);
            if (source_->done()) return boost::none;
            const auto block = source_->next(ec);
            if (ec) return boost::none;
            return std::make_pair(block, !source_->done());
        }

    private:
        const value_type& body_;
        std::optional<file_source> source_;
    };
};

}  // namespace smlocal::api
