#pragma once
// The HTTP/1.1 front door, after Beast's advanced server example (Boost 1.74): one strand per
// connection, keep-alive, a body limit (413), and header/read/idle timeouts so that a slow client
// never holds a thread. It knows nothing of AWS: every request goes to one handler function.

#include <utility>  // before Asio in C++20 (Boost 1.74)

#include <chrono>
#include <cstdint>
#include <functional>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/beast/http/message.hpp>

#include "api/http/payload_body.hpp"

namespace smlocal::api {

using http_request = boost::beast::http::request<payload_body>;
using http_response = boost::beast::http::response<payload_body>;
using http_request_header = boost::beast::http::request_header<>;

/// Where a request's body goes, decided from its header alone (before any of the body is read).
struct body_plan {
    /// Stream the body into this file (request.body().file is then set) instead of memory. The
    /// server removes the file after the handler returns, so a handler that keeps it moves it.
    std::optional<std::filesystem::path> file;
    /// The largest body accepted; 0 means http_server_options::body_limit.
    std::uint64_t limit = 0;
};
using body_planner = std::function<body_plan(const http_request_header&)>;

/// True for requests whose handling blocks on the disk (S3 objects): the server calls the handler
/// for those on its blocking pool rather than on an Asio thread, and sends the answer from there.
using blocking_predicate = std::function<bool(const http_request_header&)>;

/// Turns one request into one response. Runs on the connection's strand (an Asio thread), where it
/// must not block for long, or on the blocking pool for requests a blocking_predicate names. The server sets the version, keep-alive, Content-Length and (if absent) the
/// Server header of what it returns. An exception escaping it becomes a 500 with the JSON body
/// {"__type":"InternalFailure","message":<what()>}. A response to HEAD keeps the Content-Length
/// the handler set and sends no body.
using request_handler = std::function<http_response(http_request&&)>;

/// Where to listen and how much a client may send, and how slowly.
struct http_server_options {
    std::string host = "127.0.0.1";
    std::uint16_t port = 8080;  // 0 picks a free port
    std::uint64_t body_limit = 64 * 1024 * 1024;
    // From connect (first request) or from the first byte (later requests) to a complete header.
    std::chrono::seconds header_timeout{10};
    // From a complete header to a complete body; also the budget for writing the response.
    std::chrono::seconds read_timeout{60};
    // How long a kept-alive connection may wait for the first byte of its next request.
    std::chrono::seconds idle_timeout{75};
    // Threads of the pool that runs blocking requests (see blocking_predicate).
    unsigned blocking_threads = 4;
};

/// The listening socket and its connections. The caller runs the io_context (on any number of
/// threads); the server owns no thread.
class http_server {
public:
    /// Binds and listens at once (throws boost::system::system_error when it cannot).
    /// The host may be an address or a name (the first resolved address is used).
    /// The planner, when given, may send a request's body to a file; requests the predicate
    /// names run on a pool of options.blocking_threads.
    http_server(boost::asio::io_context& io, http_server_options options, request_handler handler,
                body_planner planner = {}, blocking_predicate blocking = {});
    /// Calls stop(). The io_context must outlive the server.
    ~http_server();

    /// The bound port (the real one when options.port was 0).
    std::uint16_t port() const;
    /// Starts accepting connections on the io_context.
    void start();
    /// Stops accepting; open connections finish their current request and then close (idle ones
    /// close at once). Safe from any thread, idempotent. Once every connection is gone the server
    /// holds no work on the io_context, so io_context::run() returns.
    void stop();

private:
    struct impl;
    std::shared_ptr<impl> impl_;
};

}  // namespace smlocal::api
