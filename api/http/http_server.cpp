// The HTTP/1.1 server: a listener that accepts onto one strand per connection, and a session per
// connection that runs the keep-alive loop (read, handle, write) with its timeouts. The shape
// follows Beast's advanced server example as of Boost 1.74.

#include "api/http/http_server.hpp"

#include <utility>  // before Asio in C++20 (Boost 1.74)

#include <atomic>
#include <algorithm>
#include <exception>
#include <filesystem>
#include <iostream>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <nlohmann/json.hpp>

namespace smlocal::api {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

// Bytes asked of the socket per read: a signed AWS request (header and body) fits in one.
constexpr std::size_t read_chunk = 8 * 1024;
// Bodies larger than this (S3 objects) are read this much at a time.
constexpr std::size_t large_body_read = 1024 * 1024;
// How long a connection we close after an error response keeps reading (and discarding) what the
// client still sends. Closing with unread bytes makes the kernel send a RST, which can destroy the
// response before the client reads it.
constexpr auto linger_timeout = std::chrono::seconds(2);
// Pause before accepting again after an accept error (EMFILE, ENFILE), so that we do not spin.
constexpr auto accept_retry_delay = std::chrono::milliseconds(50);
constexpr char json_content_type[] = "application/x-amz-json-1.1";
constexpr std::string_view continue_response = "HTTP/1.1 100 Continue\r\n\r\n";

// Errors that are the ordinary end of a connection, not worth a log line.
bool is_routine(beast::error_code const& ec) {
    return ec == net::error::operation_aborted || ec == beast::error::timeout ||
           ec == http::error::end_of_stream || ec == http::error::partial_message ||
           ec == net::error::eof || ec == net::error::connection_reset ||
           ec == net::error::connection_aborted || ec == net::error::broken_pipe;
}

// Reports an unexpected failure on the async path.
void fail(beast::error_code const& ec, char const* what) {
    if (is_routine(ec)) return;
    // One insertion per line, so that lines from several threads do not interleave.
    std::cerr << (std::string("smlocal http: ") + what + ": " + ec.message() + "\n");
}

// A response in the AWS JSON 1.1 error shape, for failures the handler never sees.
http_response error_response(http::status status, unsigned version, char const* type,
                             std::string const& message) {
    http_response res{status, version};
    res.set(http::field::content_type, json_content_type);
    // Replace invalid UTF-8 (from an exception text, say) rather than throw while reporting.
    res.body() = nlohmann::json{{"__type", type}, {"message", message}}.dump(
        -1, ' ', false, nlohmann::json::error_handler_t::replace);
    return res;
}

class session;

// What the listener and every session share. Outlives both (each holds a shared_ptr).
struct server_state {
    server_state(http_server_options o, request_handler h, body_planner p, blocking_predicate b,
                 std::optional<net::thread_pool::executor_type> pool)
        : options(std::move(o)), handler(std::move(h)), planner(std::move(p)), is_blocking(std::move(b)),
          blocking(std::move(pool)) {}

    http_server_options const options;
    request_handler const handler;
    body_planner const planner;
    blocking_predicate const is_blocking;
    // The server's blocking pool (it outlives every session: ~http_server joins it last).
    std::optional<net::thread_pool::executor_type> const blocking;
    // Set by stop(): sessions answer no further request.
    std::atomic<bool> stopping{false};
    // Live sessions, so that stop() can close the idle ones.
    std::mutex sessions_mutex;
    std::unordered_map<session const*, std::weak_ptr<session>> sessions;
};

//------------------------------------------------------------------------------

// One connection: the keep-alive loop. Every member function but run() and notify_stop() runs on
// the connection's strand.
class session : public std::enable_shared_from_this<session> {
public:
    session(tcp::socket&& socket, std::shared_ptr<server_state> state)
        : stream_(std::move(socket)), state_(std::move(state)) {}

    ~session() {
        std::lock_guard lock(state_->sessions_mutex);
        state_->sessions.erase(this);
    }

    // Registers the session and starts reading. Called on the listener's strand.
    void run() {
        {
            std::lock_guard lock(state_->sessions_mutex);
            state_->sessions.emplace(this, weak_from_this());
        }
        // The socket was accepted with the connection's strand as its executor: start there.
        net::dispatch(stream_.get_executor(),
                      beast::bind_front_handler(&session::do_read, shared_from_this()));
    }

    // Tells the session that the server is stopping. Safe from any thread.
    void notify_stop() {
        net::post(stream_.get_executor(),
                  beast::bind_front_handler(&session::on_server_stop, shared_from_this()));
    }

private:
    void on_server_stop() {
        // Nothing of a next request has arrived, or we only wait out a client: close now. A
        // request in progress finishes, and its response then closes the connection.
        if (awaiting_request_ || draining_) stream_.close();
    }

    void do_read() {
        // After stop() the connection serves no further request.
        if (state_->stopping.load(std::memory_order_acquire)) return do_close();

        // A fresh parser per message: a parser is not reusable, and this one enforces the limit.
        parser_.emplace();
        // The limit is applied once the header is in (plan_body): it depends on the request.
        // (Not boost::none: Beast 1.74 compares a Content-Length against it as an optional.)
        parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
        // Stop after the header: where the body goes is decided from the header (plan_body).
        parser_->eager(false);
        body_planned_ = false;
        upload_file_.reset();

        // A pipelined request is already (partly) in the buffer: its header clock starts now.
        if (buffer_.size() > 0) {
            stream_.expires_after(state_->options.header_timeout);
            return on_request_bytes();
        }

        // The first request must arrive within header_timeout of connecting; later ones may
        // keep the client idle for idle_timeout.
        stream_.expires_after(first_request_ ? state_->options.header_timeout
                                             : state_->options.idle_timeout);
        awaiting_request_ = true;
        // A plain read rather than async_read_header, so that the idle wait ends at the first
        // byte, and a whole request that arrives at once is parsed below without a further post.
        stream_.async_read_some(buffer_.prepare(read_chunk),
                                beast::bind_front_handler(&session::on_first_bytes,
                                                          shared_from_this()));
    }

    void on_first_bytes(beast::error_code ec, std::size_t bytes_transferred) {
        awaiting_request_ = false;
        // The client closed a kept-alive connection between requests: the normal end.
        if (ec == net::error::eof) return do_close();
        if (ec) return fail(ec, "read");
        buffer_.commit(bytes_transferred);
        // The header clock starts at the first byte (the first request keeps its deadline).
        if (!first_request_) stream_.expires_after(state_->options.header_timeout);
        first_request_ = false;
        on_request_bytes();
    }

    // Parses what is buffered; reads on with async_read_header only if the header is incomplete.
    void on_request_bytes() {
        beast::error_code ec;
        if (!parse_buffered(ec)) return on_read_error(ec, "parse");
        if (parser_->is_header_done()) return on_header();
        http::async_read_header(stream_, buffer_, *parser_,
                                beast::bind_front_handler(&session::on_read_header,
                                                          shared_from_this()));
    }

    void on_read_header(beast::error_code ec, std::size_t) {
        if (ec) return on_read_error(ec, "read header");
        on_header();
    }

    // Applies the planner's decision before the first body byte is parsed. False when the
    // declared Content-Length is over the limit.
    bool plan_body() {
        body_planned_ = true;
        // Parse the body in the same call as what remains of the header bytes.
        parser_->eager(true);
        body_plan plan;
        if (state_->planner) plan = state_->planner(parser_->get().base());
        body_limit_ = plan.limit ? plan.limit : state_->options.body_limit;
        // Beast checks a Content-Length against the limit while parsing the header, before we
        // knew the limit; chunked bodies are checked as they arrive.
        parser_->body_limit(body_limit_);
        if (auto const length = parser_->content_length(); length && *length > body_limit_) return false;
        if (plan.file) {
            upload_file_ = *plan.file;
            parser_->get().body().file = body_file{*plan.file, 0, 0, {}};
        }
        return true;
    }

    void on_header() {
        if (!plan_body()) return on_read_error(http::error::body_limit, "plan");
        if (parser_->is_done()) return handle_request();
        // The body gets its own budget, counted from the end of the header.
        stream_.expires_after(state_->options.read_timeout);
        beast::error_code ec;
        if (!parse_buffered(ec)) return on_read_error(ec, "parse");
        if (parser_->is_done()) return handle_request();
        // The client waits for our go-ahead before it sends the body (RFC 7231, 5.1.1).
        auto const& header = parser_->get();
        if (header.version() >= 11 && beast::iequals(header[http::field::expect], "100-continue")) {
            net::async_write(stream_, net::const_buffer(continue_response.data(),
                                                        continue_response.size()),
                             beast::bind_front_handler(&session::on_write_continue,
                                                       shared_from_this()));
            return;
        }
        do_read_body();
    }

    void on_write_continue(beast::error_code ec, std::size_t) {
        if (ec) return fail(ec, "write continue");
        do_read_body();
    }

    void do_read_body() {
        // Beast reads no more than the buffer's free capacity: a large body in 8 KiB reads costs
        // a syscall and a timer re-arm per 8 KiB. Give it room (released after the request).
        if (auto const length = parser_->content_length(); length && *length > large_body_read) {
            buffer_.reserve(large_body_read);
            large_buffer_ = true;
        }
        http::async_read(stream_, buffer_, *parser_,
                         beast::bind_front_handler(&session::on_read_body, shared_from_this()));
    }

    void on_read_body(beast::error_code ec, std::size_t) {
        if (ec) return on_read_error(ec, "read body");
        handle_request();
    }

    // Feeds the buffered bytes to the parser. Returns false on a parse error (in ec); running
    // out of bytes is not an error.
    bool parse_buffered(beast::error_code& ec) {
        while (!parser_->is_done() && buffer_.size() > 0) {
            // The body waits for plan_body().
            if (!body_planned_ && parser_->is_header_done()) return true;
            auto const used = parser_->put(buffer_.data(), ec);
            buffer_.consume(used);
            if (ec == http::error::need_more) {
                ec = {};
                return true;
            }
            if (ec) return false;
            if (used == 0) return true;
        }
        return true;
    }

    // Removes a body file the handler did not keep (or that a failed read left behind).
    void discard_upload() {
        if (!upload_file_) return;
        std::error_code ignored;
        std::filesystem::remove(*upload_file_, ignored);
        upload_file_.reset();
    }

    // Turns a failed read into an error response, or just ends the connection.
    void on_read_error(beast::error_code const& ec, char const* what) {
        discard_upload();
        if (ec == http::error::body_limit) {
            return send_error(http::status::payload_too_large, "RequestEntityTooLarge",
                              "Request body exceeds the limit of " + std::to_string(body_limit_) +
                                  " bytes.");
        }
        if (ec == http::error::header_limit) {
            return send_error(http::status::request_header_fields_too_large,
                              "RequestHeaderFieldsTooLarge", "Request header is too large.");
        }
        // Any other parser error is a malformed request; end_of_stream and partial_message mean
        // the client went away, and there is nobody to answer.
        static auto const& http_category = http::make_error_code(http::error::need_more).category();
        if (ec.category() == http_category && ec != http::error::end_of_stream &&
            ec != http::error::partial_message) {
            return send_error(http::status::bad_request, "BadRequest",
                              "Malformed HTTP request: " + ec.message() + ".");
        }
        // A timed-out stream is already closed; anything else closes when we return.
        fail(ec, what);
    }

    void handle_request() {
        http_request req = parser_->release();
        version_ = req.version();
        keep_alive_ = req.keep_alive();
        head_request_ = req.method() == http::verb::head;
        if (state_->blocking && state_->is_blocking && state_->is_blocking(req.base())) {
            // Disk-bound work runs on the blocking pool; the answer comes back to our strand. The
            // work guard keeps io_context::run() going meanwhile, so that a graceful stop still
            // sends this answer.
            net::post(*state_->blocking, [self = shared_from_this(), req = std::move(req),
                                          work = net::make_work_guard(stream_.get_executor())]() mutable {
                http_response res = self->respond(std::move(req));
                net::post(self->stream_.get_executor(), [self, res = std::move(res)]() mutable {
                    self->send_response(std::move(res));
                });
            });
            return;
        }
        send_response(respond(std::move(req)));
    }

    // Calls the handler; any thread. Touches nothing of the session but the shared state.
    http_response respond(http_request&& req) {
        unsigned const version = req.version();
        try {
            return state_->handler(std::move(req));
        } catch (std::exception const& e) {
            return error_response(http::status::internal_server_error, version, "InternalFailure", e.what());
        } catch (...) {
            return error_response(http::status::internal_server_error, version, "InternalFailure", "Unknown error.");
        }
    }

    void send_response(http_response&& res) {
        res_ = std::move(res);
        discard_upload();
        res_.version(version_);
        // The request decides persistence, unless the server is stopping.
        res_.keep_alive(keep_alive_ && !state_->stopping.load(std::memory_order_acquire));
        do_write(false);
    }

    // Answers a request we could not read, then closes the connection.
    void send_error(http::status status, char const* type, std::string const& message) {
        res_ = error_response(status, 11, type, message);
        head_request_ = false;
        res_.keep_alive(false);
        do_write(true);
    }

    void do_write(bool linger) {
        if (res_.find(http::field::server) == res_.end()) res_.set(http::field::server, "smlocal");
        auto const status = res_.result_int();
        if (status == 204 || status == 304 || (status >= 100 && status < 200)) {
            // RFC 9110: no body and no Content-Length on these.
            res_.body() = {};
            res_.erase(http::field::content_length);
        } else if (head_request_) {
            // The header describes the resource (its Content-Length included); no body follows.
            res_.body() = {};
            if (res_.find(http::field::content_length) == res_.end()) res_.content_length(0);
        } else {
            res_.prepare_payload();
        }
        // A client that does not read its response is held to the same budget as a slow sender.
        stream_.expires_after(state_->options.read_timeout);
        http::async_write(stream_, res_,
                          beast::bind_front_handler(&session::on_write, shared_from_this(),
                                                    res_.need_eof(), linger));
    }

    void on_write(bool close, bool linger, beast::error_code ec, std::size_t) {
        if (ec) return fail(ec, "write");
        if (linger) return do_linger();
        if (close || state_->stopping.load(std::memory_order_acquire)) return do_close();
        // Free the response (and a large read buffer) now rather than hold them through the idle wait.
        res_ = http_response{};
        if (large_buffer_) {
            buffer_.shrink_to_fit();
            large_buffer_ = false;
        }
        do_read();
    }

    // Sends a TCP FIN; the socket closes when the last handler lets go of the session.
    void do_close() {
        beast::error_code ec;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    }

    // Sends a FIN, then discards what the client still sends until it closes too (or we tire).
    void do_linger() {
        do_close();
        // After stop() nobody waits for stragglers.
        if (state_->stopping.load(std::memory_order_acquire)) return;
        draining_ = true;
        buffer_.clear();
        stream_.expires_after(linger_timeout);
        do_drain();
    }

    void do_drain() {
        stream_.async_read_some(buffer_.prepare(read_chunk),
                                beast::bind_front_handler(&session::on_drain, shared_from_this()));
    }

    void on_drain(beast::error_code ec, std::size_t) {
        // EOF, the linger timeout or an error: either way we are done with this client.
        if (ec) return;
        do_drain();
    }

    beast::tcp_stream stream_;
    // Reused for every request on the connection.
    beast::flat_buffer buffer_;
    std::shared_ptr<server_state> state_;
    std::optional<http::request_parser<payload_body>> parser_;
    // The read buffer was grown for a large body.
    bool large_buffer_ = false;
    // The current request's body has its destination (plan_body ran).
    bool body_planned_ = false;
    // The current request's body limit (from the plan, or the server's).
    std::uint64_t body_limit_ = 0;
    // The file the current request's body streams into, if the planner chose one.
    std::optional<std::filesystem::path> upload_file_;
    // The current request's HTTP version and wish for keep-alive; whether it is a HEAD.
    unsigned version_ = 11;
    bool keep_alive_ = false;
    bool head_request_ = false;
    // Kept alive here until async_write completes.
    http_response res_;
    bool first_request_ = true;
    // Waiting for the first byte of a request: the connection is idle.
    bool awaiting_request_ = false;
    // Discarding input after an error response.
    bool draining_ = false;
};

//------------------------------------------------------------------------------

// Accepts connections and hands each to a session on its own strand.
class listener : public std::enable_shared_from_this<listener> {
public:
    listener(net::io_context& io, std::shared_ptr<server_state> state, tcp::endpoint const& endpoint)
        : io_(io),
          acceptor_(net::make_strand(io)),
          retry_timer_(acceptor_.get_executor()),
          state_(std::move(state)) {
        acceptor_.open(endpoint.protocol());
        // A restarted server can bind at once, even with connections in TIME_WAIT.
        acceptor_.set_option(net::socket_base::reuse_address(true));
        acceptor_.bind(endpoint);
        acceptor_.listen(net::socket_base::max_listen_connections);
        port_ = acceptor_.local_endpoint().port();
    }

    std::uint16_t port() const { return port_; }

    void start() {
        net::post(acceptor_.get_executor(),
                  beast::bind_front_handler(&listener::do_accept, shared_from_this()));
    }

    // Idempotent; the first call wins.
    void stop() {
        if (state_->stopping.exchange(true, std::memory_order_acq_rel)) return;
        // The acceptor and the session list are only touched on the acceptor's strand.
        net::post(acceptor_.get_executor(),
                  beast::bind_front_handler(&listener::on_stop, shared_from_this()));
    }

private:
    void do_accept() {
        // start() after stop(), or a retry that lost the race with stop().
        if (state_->stopping.load(std::memory_order_acquire) || !acceptor_.is_open()) return;
        // Each connection gets its own strand, so its handlers never run concurrently.
        acceptor_.async_accept(net::make_strand(io_),
                               beast::bind_front_handler(&listener::on_accept, shared_from_this()));
    }

    void on_accept(beast::error_code ec, tcp::socket socket) {
        // The acceptor was closed by stop().
        if (ec == net::error::operation_aborted) return;
        // Accepted just before stop() ran: drop it (the socket closes here).
        if (state_->stopping.load(std::memory_order_acquire)) return;
        if (ec) {
            fail(ec, "accept");
            retry_timer_.expires_after(accept_retry_delay);
            retry_timer_.async_wait([self = shared_from_this()](beast::error_code wait_ec) {
                if (!wait_ec) self->do_accept();
            });
            return;
        }
        // Small request/response exchanges must not wait on Nagle's algorithm.
        beast::error_code option_ec;
        socket.set_option(tcp::no_delay(true), option_ec);
        std::make_shared<session>(std::move(socket), state_)->run();
        do_accept();
    }

    void on_stop() {
        beast::error_code ec;
        acceptor_.close(ec);
        retry_timer_.cancel();
        // Take strong references under the lock, and post outside it.
        std::vector<std::shared_ptr<session>> live;
        {
            std::lock_guard lock(state_->sessions_mutex);
            live.reserve(state_->sessions.size());
            for (auto const& [key, weak] : state_->sessions) {
                if (auto strong = weak.lock()) live.push_back(std::move(strong));
            }
        }
        for (auto const& s : live) s->notify_stop();
    }

    net::io_context& io_;
    tcp::acceptor acceptor_;
    net::steady_timer retry_timer_;
    std::shared_ptr<server_state> state_;
    std::uint16_t port_ = 0;
};

// An address as is; a name through the resolver (first result).
tcp::endpoint resolve_endpoint(net::io_context& io, std::string const& host, std::uint16_t port) {
    beast::error_code ec;
    auto const address = net::ip::make_address(host, ec);
    if (!ec) return {address, port};
    tcp::resolver resolver(io);
    auto const results = resolver.resolve(host, std::to_string(port), tcp::resolver::passive);
    return results.begin()->endpoint();
}

}  // namespace

//------------------------------------------------------------------------------

struct http_server::impl {
    ~impl() {
        // Work in the pool holds sessions; let it finish before the server goes.
        if (blocking_pool) blocking_pool->join();
    }
    std::unique_ptr<net::thread_pool> blocking_pool;
    std::shared_ptr<listener> acceptor;
};

http_server::http_server(boost::asio::io_context& io, http_server_options options,
                         request_handler handler, body_planner planner, blocking_predicate blocking)
    : impl_(std::make_shared<impl>()) {
    auto const endpoint = resolve_endpoint(io, options.host, options.port);
    std::optional<net::thread_pool::executor_type> pool;
    if (blocking) {
        impl_->blocking_pool = std::make_unique<net::thread_pool>(std::max(1u, options.blocking_threads));
        pool = impl_->blocking_pool->get_executor();
    }
    auto state = std::make_shared<server_state>(std::move(options), std::move(handler), std::move(planner),
                                                std::move(blocking), std::move(pool));
    impl_->acceptor = std::make_shared<listener>(io, std::move(state), endpoint);
}

http_server::~http_server() {
    if (impl_) impl_->acceptor->stop();
}

std::uint16_t http_server::port() const { return impl_->acceptor->port(); }

void http_server::start() { impl_->acceptor->start(); }

void http_server::stop() { impl_->acceptor->stop(); }

}  // namespace smlocal::api
