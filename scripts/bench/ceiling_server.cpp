// Benchmark ceiling for scripts/bench/api.sh: the cheapest keep-alive HTTP/1.1 server we can write
// with the same stack as smlocal (Boost.Beast over Asio, 2 threads). It reads each request in full
// and answers every one with the same small JSON body, so the figure it gives is the cost of
// HTTP parsing + serialisation + the loopback socket, with no application work at all.
//
// Usage: ceiling_server [PORT] [THREADS] [BODY_BYTES]
//   PORT 0 (default) picks a free one; binds 127.0.0.1 only. THREADS defaults to 2. BODY_BYTES, if
//   larger than the default 61-byte body, pads the body (a "Padding" string member) to that size, so
//   that the cost of the response size alone can be seen apart from the server's own work.
// Prints "ceiling listening on http://127.0.0.1:PORT" once ready; SIGINT/SIGTERM stop it.
//
// Build (api.sh does this): g++ -std=c++20 -O2 -pthread ceiling_server.cpp -o ceiling_server

#include <utility>  // before Asio in C++20 (Boost 1.74)

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

std::string make_body(std::size_t size) {
    std::string body = R"({"TrainingJobName":"bench-0","TrainingJobStatus":"Completed"})";
    const std::string head = R"({"TrainingJobName":"bench-0","TrainingJobStatus":"Completed","Padding":")";
    const std::string tail = R"("})";
    if (size > head.size() + tail.size()) body = head + std::string(size - head.size() - tail.size(), 'x') + tail;
    return body;
}

class session : public std::enable_shared_from_this<session> {
public:
    session(tcp::socket socket, const std::string& body) : stream_(std::move(socket)) {
        response_.version(11);
        response_.set(http::field::server, "ceiling");
        response_.set(http::field::content_type, "application/x-amz-json-1.1");
        response_.body() = body;
        response_.prepare_payload();
    }

    void start() {
        // Run on the connection's strand, as the server's own sessions do.
        asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read(); });
    }

private:
    void read() {
        request_ = {};
        parser_.emplace();
        parser_->body_limit(1 << 20);
        http::async_read(stream_, buffer_, *parser_,
                         [self = shared_from_this()](beast::error_code error, std::size_t) { self->on_read(error); });
    }

    void on_read(beast::error_code error) {
        if (error) return close();
        request_ = parser_->release();
        response_.keep_alive(request_.keep_alive());
        http::async_write(stream_, response_, [self = shared_from_this()](beast::error_code write_error, std::size_t) {
            self->on_write(write_error);
        });
    }

    void on_write(beast::error_code error) {
        if (error || !response_.keep_alive()) return close();
        read();
    }

    void close() {
        beast::error_code ignored;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    }

    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    http::request<http::string_body> request_;
    http::response<http::string_body> response_{http::status::ok, 11};
};

class listener : public std::enable_shared_from_this<listener> {
public:
    listener(asio::io_context& io, tcp::endpoint endpoint, std::string body)
        : io_(io), acceptor_(asio::make_strand(io)), body_(std::move(body)) {
        acceptor_.open(endpoint.protocol());
        acceptor_.set_option(asio::socket_base::reuse_address(true));
        acceptor_.bind(endpoint);
        acceptor_.listen(asio::socket_base::max_listen_connections);
    }

    unsigned short port() const { return acceptor_.local_endpoint().port(); }

    void accept() {
        acceptor_.async_accept(asio::make_strand(io_), [self = shared_from_this()](beast::error_code error, tcp::socket socket) {
            if (error == asio::error::operation_aborted) return;
            if (!error) {
                socket.set_option(tcp::no_delay(true));
                std::make_shared<session>(std::move(socket), self->body_)->start();
            }
            self->accept();
        });
    }

    void stop() {
        beast::error_code ignored;
        acceptor_.close(ignored);
    }

private:
    asio::io_context& io_;
    tcp::acceptor acceptor_;
    const std::string body_;
};

}  // namespace

int main(int argc, char** argv) {
    const auto port = static_cast<unsigned short>(argc > 1 ? std::atoi(argv[1]) : 0);
    const int threads = argc > 2 ? std::max(1, std::atoi(argv[2])) : 2;
    const auto body_bytes = static_cast<std::size_t>(argc > 3 ? std::max(0, std::atoi(argv[3])) : 0);

    asio::io_context io(threads);
    auto server = std::make_shared<listener>(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), port),
                                             make_body(body_bytes));
    server->accept();

    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](beast::error_code, int) {
        server->stop();
        io.stop();
    });

    std::cout << "ceiling listening on http://127.0.0.1:" << server->port() << std::endl;

    std::vector<std::thread> workers;
    for (int i = 1; i < threads; ++i) workers.emplace_back([&] { io.run(); });
    io.run();
    for (auto& worker : workers) worker.join();
    return 0;
}
