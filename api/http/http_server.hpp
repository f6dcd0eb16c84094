#pragma once
// The HTTP/1.1 front door, after Beast's advanced server example (Boost 1.74): one strand per
// connection, keep-alive, a body limit (413), and header/read/idle timeouts so that a slow client
// never holds a thread. It knows nothing of AWS: every request goes to one handler function.

#include <utility>  // before Asio in C++20 (Boost 1.74)

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

namespace smlocal::api {

using http_request = boost::beast::http::request<boost::beast::http::string_body>;
using http_response = boost::beast::http::response<boost::beast::http::string_body>;

/// Turns one request into one response. Runs on an Asio thread: it must not block for long.
/// Exceptions escaping it become a bare 500.
using request_handler = std::function<http_response(http_request&&)>;

struct http_server_options {
    std::string host = "127.0.0.1";
    std::uint16_t port = 8080;  // 0 picks a free port
    std::uint64_t body_limit = 64 * 1024 * 1024;
    std::chrono::seconds header_timeout{10};  // time to receive a complete header
    std::chrono::seconds read_timeout{60};    // time to receive a complete request
    std::chrono::seconds idle_timeout{75};    // keep-alive connection with no request
};

class http_server {
public:
    /// Binds and listens at once (throws boost::system::system_error when it cannot).
    http_server(boost::asio::io_context& io, http_server_options options, request_handler handler);
    ~http_server();

    /// The bound port (the real one when options.port was 0).
    std::uint16_t port() const;
    /// Starts accepting connections on the io_context.
    void start();
    /// Stops accepting; open connections finish their current request and then close.
    void stop();

private:
    struct impl;
    std::shared_ptr<impl> impl_;
};

}  // namespace smlocal::api
