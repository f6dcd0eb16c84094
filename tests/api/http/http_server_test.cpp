// Test that the header file is self-contained.
#include "api/http/http_server.hpp"

#include <utility>  // before Asio in C++20 (Boost 1.74)

#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using smlocal::api::http_request;
using smlocal::api::http_response;
using smlocal::api::http_server;
using smlocal::api::http_server_options;
using smlocal::api::request_handler;
using namespace std::chrono_literals;

// Generous timeouts, so that only the timeout test ever sees one fire.
http_server_options test_options() {
    http_server_options options;
    options.host = "127.0.0.1";
    options.port = 0;
    options.header_timeout = 5s;
    options.read_timeout = 5s;
    options.idle_timeout = 30s;
    return options;
}

// A server on an ephemeral port whose io_context two background threads run, as main does.
class test_server {
public:
    explicit test_server(request_handler handler, http_server_options options = test_options(),
                         smlocal::api::body_planner planner = {}, smlocal::api::blocking_predicate blocking = {})
        : server_(io_, std::move(options), std::move(handler), std::move(planner), std::move(blocking)) {
        server_.start();
        for (auto& runner : runners_) runner = std::async(std::launch::async, [this] { io_.run(); });
    }

    ~test_server() {
        server_.stop();
        // Never hang the suite: a server that does not wind down fails its test instead.
        if (!stopped_within(5s)) io_.stop();
    }

    std::uint16_t port() const { return server_.port(); }
    void stop() { server_.stop(); }

    // True once every thread's io_context::run() has returned.
    bool stopped_within(std::chrono::milliseconds timeout) {
        auto const deadline = std::chrono::steady_clock::now() + timeout;
        for (auto& runner : runners_) {
            if (runner.wait_until(deadline) != std::future_status::ready) return false;
        }
        return true;
    }

private:
    net::io_context io_;
    http_server server_;
    std::array<std::future<void>, 2> runners_;
};

// A synchronous Beast client on one connection.
struct client {
    explicit client(std::uint16_t port) {
        socket.connect({net::ip::make_address("127.0.0.1"), port});
    }

    http_response send(http_request const& req) {
        http::write(socket, req);
        return receive();
    }

    http_response receive() {
        http_response res;
        http::read(socket, buffer, res);
        return res;
    }

    void send_raw(std::string const& bytes) { net::write(socket, net::buffer(bytes)); }

    // Blocks until the server ends the connection; true if it did so cleanly or with a reset.
    bool closed_by_server() {
        if (buffer.size() > 0) return false;
        char byte = 0;
        beast::error_code ec;
        socket.read_some(net::buffer(&byte, 1), ec);
        return ec == net::error::eof || ec == net::error::connection_reset;
    }

    net::io_context io;
    tcp::socket socket{io};
    beast::flat_buffer buffer;
};

http_request make_post(std::string target, std::string body, unsigned version = 11) {
    http_request req{http::verb::post, target, version};
    req.set(http::field::host, "127.0.0.1");
    req.set(http::field::content_type, "application/x-amz-json-1.1");
    req.body() = std::move(body);
    req.prepare_payload();
    return req;
}

// Answers "<method> <target> <body>".
http_response echo(http_request&& req) {
    http_response res{http::status::ok, 11};
    res.set(http::field::content_type, "text/plain");
    res.body() = std::string(req.method_string()) + " " + std::string(req.target()) + " " +
                 req.body();
    return res;
}

nlohmann::json json_body(http_response const& res) { return nlohmann::json::parse(res.body()); }

}  // namespace

TEST_CASE("http_server: a request gets the handler's response") {
    SUBCASE("server headers are filled in") {
        test_server server(echo);
        client c(server.port());
        auto const res = c.send(make_post("/op", R"({"a":1})"));
        CHECK(res.result() == http::status::ok);
        CHECK(res.body() == R"(POST /op {"a":1})");
        CHECK(res[http::field::server] == "smlocal");
        CHECK(res[http::field::content_length] == std::to_string(res.body().size()));
        CHECK(res.keep_alive());
    }
    SUBCASE("a Server header set by the handler is kept") {
        test_server server([](http_request&& req) {
            auto res = echo(std::move(req));
            res.set(http::field::server, "custom");
            return res;
        });
        client c(server.port());
        CHECK(c.send(make_post("/", "x"))[http::field::server] == "custom");
    }
}

TEST_CASE("http_server: keep-alive serves several requests on one connection") {
    std::atomic<int> calls{0};
    test_server server([&](http_request&& req) {
        ++calls;
        return echo(std::move(req));
    });
    client c(server.port());
    SUBCASE("one after the other") {
        auto const first = c.send(make_post("/1", "a"));
        auto const second = c.send(make_post("/2", "b"));
        CHECK(first.body() == "POST /1 a");
        CHECK(second.body() == "POST /2 b");
        CHECK(second.keep_alive());
        CHECK(calls == 2);
    }
    SUBCASE("pipelined in one write") {
        std::ostringstream both;
        both << make_post("/1", "a") << make_post("/2", "b");
        c.send_raw(both.str());
        CHECK(c.receive().body() == "POST /1 a");
        CHECK(c.receive().body() == "POST /2 b");
        CHECK(calls == 2);
    }
}

TEST_CASE("http_server: a body over the limit gets 413 and the connection closes") {
    auto options = test_options();
    options.body_limit = 16;
    std::atomic<int> calls{0};
    test_server server(
        [&](http_request&& req) {
            ++calls;
            return echo(std::move(req));
        },
        options);
    client c(server.port());

    SUBCASE("at the limit is fine") {
        CHECK(c.send(make_post("/", std::string(16, 'x'))).result() == http::status::ok);
        CHECK(calls == 1);
    }
    SUBCASE("Content-Length over the limit") {
        auto const res = c.send(make_post("/", std::string(100, 'x')));
        CHECK(res.result() == http::status::payload_too_large);
        CHECK(json_body(res)["__type"] == "RequestEntityTooLarge");
        CHECK(res[http::field::content_type] == "application/x-amz-json-1.1");
        CHECK_FALSE(res.keep_alive());
        CHECK(c.closed_by_server());
        CHECK(calls == 0);
    }
    SUBCASE("chunked body over the limit") {
        auto req = make_post("/", std::string(100, 'x'));
        req.chunked(true);
        auto const res = c.send(req);
        CHECK(res.result() == http::status::payload_too_large);
        CHECK(json_body(res)["__type"] == "RequestEntityTooLarge");
        CHECK(c.closed_by_server());
        CHECK(calls == 0);
    }
}

TEST_CASE("http_server: a throwing handler gives 500 InternalFailure") {
    test_server server([](http_request&& req) -> http_response {
        if (req.target() == "/ok") return echo(std::move(req));
        throw std::runtime_error("boom \"quoted\"");
    });
    client c(server.port());
    auto const res = c.send(make_post("/throw", "{}"));
    CHECK(res.result() == http::status::internal_server_error);
    CHECK(res[http::field::content_type] == "application/x-amz-json-1.1");
    auto const body = json_body(res);
    CHECK(body["__type"] == "InternalFailure");
    CHECK(body["message"] == "boom \"quoted\"");
    // The request was read in full, so the connection stays usable.
    CHECK(c.send(make_post("/ok", "x")).body() == "POST /ok x");
}

TEST_CASE("http_server: a malformed request gets 400 and close") {
    test_server server(echo);
    client c(server.port());
    c.send_raw("THIS IS NOT HTTP\r\n\r\n");
    auto const res = c.receive();
    CHECK(res.result() == http::status::bad_request);
    CHECK(json_body(res)["__type"] == "BadRequest");
    CHECK(c.closed_by_server());
}

TEST_CASE("http_server: Connection: close and HTTP/1.0 are honoured") {
    test_server server(echo);
    client c(server.port());
    SUBCASE("Connection: close") {
        auto req = make_post("/", "x");
        req.keep_alive(false);
        auto const res = c.send(req);
        CHECK(res.body() == "POST / x");
        CHECK(res[http::field::connection] == "close");
        CHECK(c.closed_by_server());
    }
    SUBCASE("HTTP/1.0 closes by default") {
        auto const res = c.send(make_post("/", "x", 10));
        CHECK(res.version() == 10);
        CHECK_FALSE(res.keep_alive());
        CHECK(c.closed_by_server());
    }
    SUBCASE("HTTP/1.0 with keep-alive stays open") {
        auto req = make_post("/", "x", 10);
        req.keep_alive(true);
        CHECK(c.send(req).keep_alive());
        CHECK(c.send(req).body() == "POST / x");
    }
}

TEST_CASE("http_server: Expect: 100-continue gets an interim response") {
    test_server server(echo);
    client c(server.port());
    c.send_raw(
        "POST /up HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n"
        "Expect: 100-continue\r\n\r\n");
    std::string interim;
    auto const n = net::read_until(c.socket, net::dynamic_buffer(interim), "\r\n\r\n");
    CHECK(interim.substr(0, n) == "HTTP/1.1 100 Continue\r\n\r\n");
    c.send_raw("hello");
    CHECK(c.receive().body() == "POST /up hello");
}

TEST_CASE("http_server: timeouts close slow connections") {
    auto options = test_options();
    options.header_timeout = 1s;
    options.read_timeout = 1s;
    options.idle_timeout = 1s;
    test_server server(echo, options);

    auto const start = std::chrono::steady_clock::now();
    // Connects and sends nothing.
    client silent(server.port());
    // Sends a header and part of the body.
    client slow_body(server.port());
    slow_body.send_raw("POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n\r\nab");
    // Completes a request and then stays idle.
    client idle(server.port());
    CHECK(idle.send(make_post("/", "x")).result() == http::status::ok);

    CHECK(silent.closed_by_server());
    CHECK(std::chrono::steady_clock::now() - start >= 900ms);
    CHECK(slow_body.closed_by_server());
    CHECK(idle.closed_by_server());
    CHECK(std::chrono::steady_clock::now() - start < 3s);
}

TEST_CASE("http_server: stop() lets the in-flight request finish, then run() returns") {
    std::promise<void> entered;
    test_server server([&](http_request&& req) {
        if (req.target() == "/slow") {
            entered.set_value();
            std::this_thread::sleep_for(200ms);
        }
        return echo(std::move(req));
    });
    auto const port = server.port();

    // An idle kept-alive connection must not hold the server up (idle_timeout is 30 s).
    client idle(port);
    CHECK(idle.send(make_post("/fast", "x")).keep_alive());

    client busy(port);
    auto in_flight = std::async(std::launch::async, [&] { return busy.send(make_post("/slow", "y")); });
    entered.get_future().wait();
    auto const stop_time = std::chrono::steady_clock::now();
    server.stop();
    server.stop();  // idempotent

    auto const res = in_flight.get();
    CHECK(res.body() == "POST /slow y");
    // The response tells the client that the connection ends with it.
    CHECK_FALSE(res.keep_alive());
    CHECK(busy.closed_by_server());
    CHECK(idle.closed_by_server());
    REQUIRE(server.stopped_within(2s));
    CHECK(std::chrono::steady_clock::now() - stop_time < 1s);

    // Nothing listens any more.
    net::io_context io;
    tcp::socket late(io);
    beast::error_code ec;
    late.connect({net::ip::make_address("127.0.0.1"), port}, ec);
    CHECK(ec == net::error::connection_refused);
}

TEST_CASE("http_server: a planned body streams into a file, hashed, and the file goes afterwards") {
    const auto dir = std::filesystem::temp_directory_path() / ("smlocal-http-upload-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const auto upload = dir / "body";
    std::string seen_path, seen_md5, seen_content;
    std::uint64_t seen_length = 0;
    auto planner = [&](smlocal::api::http_request_header const& header) {
        smlocal::api::body_plan plan;
        if (header.target() == "/upload") {
            plan.file = upload;
            plan.limit = 3 * 1024 * 1024;
        }
        return plan;
    };
    test_server server(
        [&](http_request&& req) {
            http_response res{http::status::ok, 11};
            if (req.body().file) {
                seen_path = req.body().file->path.string();
                seen_length = req.body().file->length;
                seen_md5 = req.body().file->md5_hex;
                std::ifstream in(req.body().file->path, std::ios::binary);
                seen_content.assign(std::istreambuf_iterator<char>(in), {});
            }
            res.body() = "text:" + std::string(req.body());
            return res;
        },
        test_options(), planner);
    client c(server.port());

    // Over the default 64 MiB limit's share of a test, but above the 1 MiB write block: two blocks.
    std::string big(2 * 1024 * 1024 + 7, 'x');
    auto res = c.send(make_post("/upload", big));
    CHECK(res.result() == http::status::ok);
    CHECK(res.body() == "text:");  // nothing kept in memory
    CHECK(seen_path == upload.string());
    CHECK(seen_length == big.size());
    CHECK(seen_content == big);
    // md5 of 2 MiB + 7 bytes of 'x', from `head -c 2097159 /dev/zero | tr '\0' x | md5sum`.
    CHECK(seen_md5 == "3df06f894b465e036a94eb179a85dee0");
    CHECK_FALSE(std::filesystem::exists(upload));

    SUBCASE("other requests keep their body in memory") {
        res = c.send(make_post("/other", "abc"));
        CHECK(res.body() == "text:abc");
    }
    SUBCASE("the plan's limit applies") {
        res = c.send(make_post("/upload", std::string(3 * 1024 * 1024 + 1, 'y')));
        CHECK(res.result() == http::status::payload_too_large);
        CHECK_FALSE(std::filesystem::exists(upload));
    }
    std::filesystem::remove_all(dir);
}

TEST_CASE("http_server: a file range is sent from disk, and HEAD keeps its Content-Length") {
    const auto file = std::filesystem::temp_directory_path() / ("smlocal-http-range-" + std::to_string(::getpid()));
    std::string content;
    for (int i = 0; i < 300000; ++i) content += static_cast<char>('a' + i % 26);
    std::ofstream(file, std::ios::binary) << content;
    test_server server([&](http_request&& req) {
        http_response res{http::status::ok, 11};
        if (req.method() == http::verb::head) {
            res.content_length(content.size());
            return res;
        }
        res.body().file = smlocal::api::body_file{file, 1000, 250000, {}};
        return res;
    });
    client c(server.port());
    http_request get{http::verb::get, "/f", 11};
    get.set(http::field::host, "127.0.0.1");
    auto res = c.send(get);
    CHECK(res.body() == content.substr(1000, 250000));
    CHECK(res[http::field::content_length] == "250000");

    // A HEAD response has no body: read it with a parser told so.
    http_request head{http::verb::head, "/f", 11};
    head.set(http::field::host, "127.0.0.1");
    http::write(c.socket, head);
    http::response_parser<http::empty_body> parser;
    parser.skip(true);
    http::read(c.socket, c.buffer, parser);
    CHECK(parser.get()[http::field::content_length] == std::to_string(content.size()));
    // The connection is still in step: the next request gets its own answer.
    res = c.send(get);
    CHECK(res.body().size() == 250000);
    std::filesystem::remove(file);
}

TEST_CASE("http_server: 304 and 204 carry neither a body nor a Content-Length") {
    test_server server([](http_request&& req) {
        http_response res{req.target() == "/cached" ? http::status::not_modified : http::status::no_content, 11};
        res.body() = "ignored";
        return res;
    });
    client c(server.port());
    for (auto const* target : {"/cached", "/empty"}) {
        http_request get{http::verb::get, target, 11};
        get.set(http::field::host, "127.0.0.1");
        auto const res = c.send(get);
        CHECK(res.body().empty());
        CHECK(res.find(http::field::content_length) == res.end());
        CHECK(res.keep_alive());
    }
}

TEST_CASE("http_server: blocking requests run on the pool and do not hold up the Asio threads") {
    std::promise<void> release;
    auto released = release.get_future().share();
    auto const options = test_options();
    test_server server(
        [&](http_request&& req) {
            // The slow request waits until a fast one has been answered meanwhile.
            if (req.target() == "/slow") released.wait();
            return echo(std::move(req));
        },
        options, {}, [](smlocal::api::http_request_header const& header) { return header.target() != "/fast"; });
    // Two slow requests at once would take both Asio threads if they ran there.
    client slow1(server.port()), slow2(server.port());
    http::write(slow1.socket, make_post("/slow", "1"));
    http::write(slow2.socket, make_post("/slow", "2"));
    client fast(server.port());
    CHECK(fast.send(make_post("/fast", "f")).body() == "POST /fast f");
    release.set_value();
    CHECK(slow1.receive().body() == "POST /slow 1");
    CHECK(slow2.receive().body() == "POST /slow 2");
    // The connection goes on after an answer from the pool.
    CHECK(slow1.send(make_post("/other", "x")).body() == "POST /other x");
}

TEST_CASE("http_server: stop() still answers a request that is on the blocking pool") {
    std::promise<void> release;
    auto released = release.get_future().share();
    std::promise<void> started;
    test_server server(
        [&](http_request&& req) {
            started.set_value();
            released.wait();
            return echo(std::move(req));
        },
        test_options(), {}, [](smlocal::api::http_request_header const&) { return true; });
    client c(server.port());
    http::write(c.socket, make_post("/slow", "s"));
    started.get_future().wait();
    server.stop();
    // With nothing else pending, run() would return now if the pool's work did not count.
    std::this_thread::sleep_for(100ms);
    release.set_value();
    CHECK(c.receive().body() == "POST /slow s");
    CHECK(server.stopped_within(2s));
}
