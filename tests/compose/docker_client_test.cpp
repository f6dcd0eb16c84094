#include "compose/docker_client.hpp"
#include "compose/docker_runner.hpp"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <stop_token>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using smlocal::compose::docker_client;
using smlocal::compose::docker_error;
using smlocal::compose::follow_end;
using smlocal::compose::log_line_splitter;
using smlocal::compose::log_stream;
using smlocal::compose::network_subnet;

namespace {

// ---- pure: the log stream splitter ----

struct collected {
    std::vector<std::string> out;
    std::vector<std::string> err;
    std::mutex mutex;

    smlocal::compose::log_line_callback callback() {
        return [this](log_stream stream, std::string_view line) {
            std::lock_guard lock(mutex);
            (stream == log_stream::err ? err : out).emplace_back(line);
        };
    }
};

std::string frame(int stream, std::string_view payload) {
    std::string header(8, '\0');
    header[0] = static_cast<char>(stream);
    const auto size = static_cast<std::uint32_t>(payload.size());
    header[4] = static_cast<char>(size >> 24);
    header[5] = static_cast<char>(size >> 16);
    header[6] = static_cast<char>(size >> 8);
    header[7] = static_cast<char>(size);
    return header + std::string(payload);
}

}  // namespace

TEST_CASE("log_line_splitter: demultiplexes frames into per-stream lines") {
    const std::string stream = frame(1, "one\ntw") + frame(2, "err ") + frame(1, "o\n") + frame(2, "") +
                               frame(2, "line\n\nlast err") + frame(1, "tail");
    collected got;
    log_line_splitter splitter(true, got.callback());

    SUBCASE("whole") { splitter.feed(stream); }
    SUBCASE("one byte at a time") {
        for (const char c : stream) splitter.feed(std::string_view(&c, 1));
    }
    SUBCASE("in uneven chunks") {
        for (std::size_t at = 0; at < stream.size(); at += 5) splitter.feed(std::string_view(stream).substr(at, 5));
    }
    CHECK(got.out == std::vector<std::string>{"one", "two"});
    CHECK(got.err == std::vector<std::string>{"err line", ""});
    splitter.finish();
    CHECK(got.out == std::vector<std::string>{"one", "two", "tail"});
    CHECK(got.err == std::vector<std::string>{"err line", "", "last err"});
}

TEST_CASE("log_line_splitter: a TTY stream is raw stdout with CRLF line ends") {
    collected got;
    log_line_splitter splitter(false, got.callback());
    splitter.feed("a\r\nb");
    splitter.feed("c\r\n\r\nkeep\rcr");
    splitter.finish();
    CHECK(got.out == std::vector<std::string>{"a", "bc", "", "keep\rcr"});
    CHECK(got.err.empty());
}

TEST_CASE("log_line_splitter: overlong lines are passed on in pieces") {
    constexpr auto max = log_line_splitter::max_line_bytes;
    collected got;
    log_line_splitter splitter(true, got.callback());
    splitter.feed(frame(1, std::string(max, 'a') + "\n"));            // exactly the cap: one line
    splitter.feed(frame(1, std::string(max - 1, 'b')));
    splitter.feed(frame(1, std::string(3, 'c') + "\n"));              // cap + 2: two pieces
    splitter.finish();
    REQUIRE(got.out.size() == 3);
    CHECK(got.out[0] == std::string(max, 'a'));
    CHECK(got.out[1] == std::string(max - 1, 'b') + "c");
    CHECK(got.out[2] == "cc");
}

// ---- pure: where containers reach smlocal ----

TEST_CASE("ipv4_gateway: the first IPv4 gateway of a network's IPAM config") {
    using smlocal::compose::ipv4_gateway;
    using nlohmann::json;
    CHECK(ipv4_gateway(json::parse(R"({"IPAM": {"Config": [{"Subnet": "172.17.0.0/16", "Gateway": "172.17.0.1"}]}})")) ==
          "172.17.0.1");
    // Dual stack, IPv6 listed first; a CIDR-form gateway.
    CHECK(ipv4_gateway(json::parse(R"({"IPAM": {"Config": [{"Subnet": "fd00::/64", "Gateway": "fd00::1"},
                                                          {"Subnet": "10.1.0.0/24", "Gateway": "10.1.0.1/24"}]}})")) ==
          "10.1.0.1");
    CHECK(ipv4_gateway(json::parse(R"({"IPAM": {"Config": [{"Subnet": "172.17.0.0/16"}]}})")).empty());
    CHECK(ipv4_gateway(json::parse(R"({"IPAM": {"Config": null}})")).empty());
    CHECK(ipv4_gateway(json::parse(R"({"IPAM": {"Config": [{"Gateway": 7}, "x"]}})")).empty());
    CHECK(ipv4_gateway(json::parse(R"({"Name": "bridge"})")).empty());
    CHECK(ipv4_gateway(json::parse("[]")).empty());
}

TEST_CASE("listener_covers: wildcards and the address itself need no second listener") {
    using smlocal::compose::listener_covers;
    for (const char* host : {"0.0.0.0", "::", "[::]", "", "172.17.0.1"}) {
        CAPTURE(host);
        CHECK(listener_covers(host, "172.17.0.1"));
    }
    for (const char* host : {"127.0.0.1", "localhost", "::1", "192.168.1.5", "172.17.0.10"}) {
        CAPTURE(host);
        CHECK_FALSE(listener_covers(host, "172.17.0.1"));
    }
}

// ---- against the Docker engine ----

namespace {

constexpr const char* fixture_image = "smlocal-test/docker-client:1";
constexpr const char* test_label = "smlocal.test";

// The fixture: `out` prints known lines to both streams and exits 3; `sleep` says "ready" and
// sleeps 30 s, exiting 143 on SIGTERM (as PID 1 it needs its own handler); `chatter` never ends.
constexpr const char* fixture_source = R"cpp(
#include <csignal>
#include <string>
#include <unistd.h>
static void put(int fd, const std::string& s) {
    std::size_t off = 0;
    while (off < s.size()) {
        const auto n = write(fd, s.data() + off, s.size() - off);
        if (n <= 0) return;
        off += static_cast<std::size_t>(n);
    }
}
static void on_term(int) { _exit(143); }
int main(int argc, char** argv) {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "out") {
        put(1, "hello stdout\n");
        put(2, "hello stderr\n");
        put(1, std::string(100000, 'x') + "\n");
        put(2, "second stderr line\n");
        put(1, "last line without newline");
        return 3;
    }
    if (mode == "sleep") {
        std::signal(SIGTERM, on_term);
        put(1, "ready\n");
        sleep(30);
        return 0;
    }
    if (mode == "chatter") {
        for (;;) {
            put(1, "tick\n");
            usleep(100000);
        }
    }
    return 0;
}
)cpp";

/// Builds the fixture image (static binary, FROM scratch) unless the tag exists.
void ensure_fixture_image(const docker_client& docker) {
    static std::mutex mutex;
    std::lock_guard lock(mutex);
    try {
        docker.inspect_image(fixture_image);
        return;
    } catch (const docker_error& e) {
        REQUIRE(e.code() == docker_error::kind::not_found);
    }
    const auto dir = std::filesystem::temp_directory_path() / ("smlocal-docker-client-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "fixture.cpp") << fixture_source;
    std::ofstream(dir / "Dockerfile") << "FROM scratch\nCOPY app /app\nENTRYPOINT [\"/app\"]\n";
    const std::string compile = "g++ -O1 -static -o '" + (dir / "app").string() + "' '" + (dir / "fixture.cpp").string() + "'";
    const std::string build = std::string("DOCKER_BUILDKIT=0 docker build -q -t ") + fixture_image + " '" + dir.string() + "' >/dev/null";
    const int compiled = std::system(compile.c_str());
    const int built = compiled == 0 ? std::system(build.c_str()) : -1;
    std::filesystem::remove_all(dir);
    REQUIRE(compiled == 0);
    REQUIRE(built == 0);
}

std::string unique(const std::string& prefix) {
    static std::atomic<int> counter{0};
    return prefix + "-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
}

/// Removes the container (forcibly) at scope exit, unless the test already did.
struct container_guard {
    const docker_client& docker;
    std::string id;
    ~container_guard() {
        if (id.empty()) return;
        try {
            docker.remove_container(id, true, true);
        } catch (const docker_error&) {
        }
    }
};

nlohmann::json fixture_body(const std::string& mode, const std::string& label_value) {
    nlohmann::json body;
    body["Image"] = fixture_image;
    body["Cmd"] = nlohmann::json::array({mode});
    body["Labels"][test_label] = label_value;
    body["HostConfig"]["NetworkMode"] = "none";
    return body;
}

struct ready_seen {};

/// Blocks until the container prints "ready" (follow_logs rethrows the callback's exception).
void await_ready(const docker_client& docker, const std::string& id) {
    CHECK_THROWS_AS(docker.follow_logs(id, {}, [](log_stream, std::string_view line) {
        if (line == "ready") throw ready_seen{};
    }),
                    ready_seen);
}

}  // namespace

TEST_CASE("docker_client: an unreachable engine throws kind unreachable") {
    SUBCASE("missing unix socket") {
        const docker_client docker("unix:///nonexistent.sock");
        CHECK(docker.host() == "unix:///nonexistent.sock");
        CHECK_THROWS_WITH_AS(docker.version(),
                             "Docker engine unreachable at unix:///nonexistent.sock: Couldn't connect to server",
                             docker_error);
        try {
            docker.ping();
            FAIL("ping must throw");
        } catch (const docker_error& e) {
            CHECK(e.code() == docker_error::kind::unreachable);
            CHECK(e.status() == 0);
        }
    }
    SUBCASE("closed tcp port") {
        const docker_client docker("tcp://127.0.0.1:1");
        CHECK_THROWS_WITH_AS(docker.version(), "Docker engine unreachable at tcp://127.0.0.1:1: Couldn't connect to server",
                             docker_error);
    }
    SUBCASE("unsupported scheme") {
        const docker_client docker("ssh://user@host");
        try {
            docker.info();
            FAIL("info must throw");
        } catch (const docker_error& e) {
            CHECK(e.code() == docker_error::kind::unreachable);
            CHECK(std::string(e.what()).starts_with("Unsupported DOCKER_HOST ssh://user@host"));
        }
    }
}

TEST_SUITE("docker") {

// scripts/test.sh starts dockerd when it is absent; without an engine these tests fail, naming it.
TEST_CASE("docker_client: version reports the API version") {
    const docker_client docker;
    CHECK_NOTHROW(docker.ping());
    const auto version = docker.version();
    REQUIRE(version.contains("ApiVersion"));
    CHECK(!version["ApiVersion"].get<std::string>().empty());
    CHECK(docker.info().contains("DockerRootDir"));
}

TEST_CASE("docker_client: a missing image is not_found, named in the message") {
    const docker_client docker;
    try {
        docker.inspect_image("smlocal-test/no-such-image:0");
        FAIL("inspect_image must throw");
    } catch (const docker_error& e) {
        CHECK(e.code() == docker_error::kind::not_found);
        CHECK(e.status() == 404);
        CHECK(std::string(e.what()) == "No such image: smlocal-test/no-such-image:0");
        CHECK(e.engine_message().find("smlocal-test/no-such-image:0") != std::string::npos);
    }
}

TEST_CASE("docker_client: container life cycle with logs and exit code") {
    const docker_client docker;
    ensure_fixture_image(docker);
    const std::string name = unique("smlocal-test-dc");
    const std::string label_value = unique("life-cycle");

    container_guard guard{docker, docker.create_container(name, fixture_body("out", label_value))};
    const std::string& id = guard.id;
    REQUIRE(!id.empty());
    CHECK_THROWS_AS(docker.create_container(name, fixture_body("out", label_value)), docker_error);
    try {
        docker.create_container(name, fixture_body("out", label_value));
    } catch (const docker_error& e) {
        CHECK(e.code() == docker_error::kind::conflict);
        CHECK(e.status() == 409);
    }

    docker.start_container(id);

    // Follow on one thread while another blocks in wait: the client is shared.
    collected got;
    follow_end end = follow_end::stopped;
    std::exception_ptr follow_error;
    std::thread follower([&] {
        try {
            end = docker.follow_logs(id, {}, got.callback());
        } catch (...) {
            follow_error = std::current_exception();
        }
    });
    const int exit_code = docker.wait_container(id);
    follower.join();
    if (follow_error) std::rethrow_exception(follow_error);

    CHECK(exit_code == 3);
    CHECK(end == follow_end::ended);
    REQUIRE(got.out.size() >= 2);
    // Docker may end a live follow before its log driver has written the last, unterminated line;
    // reading the exited container's logs again gets everything it printed.
    got.out.clear();
    got.err.clear();
    CHECK(docker.follow_logs(id, {}, got.callback()) == follow_end::ended);
    std::string seen;
    for (const auto& line : got.out) seen += line.substr(0, 40) + " (" + std::to_string(line.size()) + " bytes)\n";
    INFO("stdout lines:\n", seen);
    REQUIRE(got.out.size() == 3);
    CHECK(got.out[0] == "hello stdout");
    CHECK(got.out[1] == std::string(100000, 'x'));
    CHECK(got.out[2] == "last line without newline");
    CHECK(got.err == std::vector<std::string>{"hello stderr", "second stderr line"});

    // Waiting on, and following, an exited container return at once.
    CHECK(docker.wait_container(id) == 3);
    collected again;
    CHECK(docker.follow_logs(id, {}, again.callback()) == follow_end::ended);
    CHECK(again.out == got.out);
    // Lines printed before `since` are skipped.
    collected later;
    docker.follow_logs(id, std::chrono::system_clock::now() + 1h, later.callback());
    CHECK(later.out.empty());

    const auto inspected = docker.inspect_container(id);
    CHECK(inspected["State"]["ExitCode"] == 3);
    CHECK(inspected["Config"]["Labels"][test_label] == label_value);

    const auto listed = docker.list_containers({{test_label, label_value}});
    REQUIRE(listed.size() == 1);
    CHECK(listed[0]["Id"] == id);
    CHECK(docker.list_containers({{test_label, label_value}}, /*all=*/false).empty());  // not running
    CHECK(docker.list_containers({{test_label, "no-such-value"}}).empty());

    CHECK_NOTHROW(docker.kill_container(id, "SIGTERM"));  // not running: not an error
    docker.remove_container(id);
    CHECK(docker.list_containers({{test_label, label_value}}).empty());
    try {
        docker.remove_container(id);
        FAIL("a second remove must throw");
    } catch (const docker_error& e) {
        CHECK(e.code() == docker_error::kind::not_found);
    }
    CHECK_THROWS_AS(docker.kill_container(id, "SIGKILL"), docker_error);
    guard.id.clear();
}

TEST_CASE("docker_client: kill stops a sleeping container promptly") {
    const docker_client docker;
    ensure_fixture_image(docker);
    container_guard guard{docker, docker.create_container("", fixture_body("sleep", unique("kill")))};
    docker.start_container(guard.id);
    await_ready(docker, guard.id);
    CHECK_NOTHROW(docker.start_container(guard.id));  // already running: not an error (HTTP 304)

    std::string signal;
    int expected = 0;
    SUBCASE("SIGTERM") {
        signal = "SIGTERM";
        expected = 143;
    }
    SUBCASE("SIGKILL") {
        signal = "SIGKILL";
        expected = 137;
    }
    const auto started = std::chrono::steady_clock::now();
    docker.kill_container(guard.id, signal);
    CHECK(docker.wait_container(guard.id) == expected);
    CHECK(std::chrono::steady_clock::now() - started < 5s);
}

TEST_CASE("docker_client: follow_logs returns when the stop token fires") {
    const docker_client docker;
    ensure_fixture_image(docker);
    container_guard guard{docker, docker.create_container("", fixture_body("chatter", unique("stop")))};
    docker.start_container(guard.id);

    collected got;
    std::stop_source stop;
    follow_end end = follow_end::ended;
    std::exception_ptr follow_error;
    std::thread follower([&] {
        try {
            end = docker.follow_logs(guard.id, {}, got.callback(), stop.get_token());
        } catch (...) {
            follow_error = std::current_exception();
        }
    });
    std::this_thread::sleep_for(700ms);
    const auto stopped_at = std::chrono::steady_clock::now();
    stop.request_stop();
    follower.join();
    const auto took = std::chrono::steady_clock::now() - stopped_at;
    if (follow_error) std::rethrow_exception(follow_error);

    CHECK(end == follow_end::stopped);
    CHECK(took < 2500ms);
    std::lock_guard lock(got.mutex);
    CHECK(!got.out.empty());
    for (const auto& line : got.out) CHECK(line == "tick");
    CHECK(docker.inspect_container(guard.id)["State"]["Running"] == true);
}

TEST_CASE("docker_client: network create, list and remove") {
    const docker_client docker;
    const std::string name = unique("smlocal-test-net");
    const std::string label_value = unique("network");

    const std::string id = docker.create_network(name, {{test_label, label_value}}, /*internal=*/true);
    REQUIRE(!id.empty());
    try {
        docker.create_network(name, {}, false);
        docker.remove_network(name);
        FAIL("a duplicate name must throw");
    } catch (const docker_error& e) {
        CHECK(e.code() == docker_error::kind::conflict);
    }

    const auto listed = docker.list_networks({{test_label, label_value}});
    REQUIRE(listed.size() == 1);
    CHECK(listed[0]["Id"] == id);
    CHECK(listed[0]["Name"] == name);
    CHECK(listed[0]["Internal"] == true);
    CHECK(listed[0]["Labels"][test_label] == label_value);

    docker.remove_network(id);
    CHECK(docker.list_networks({{test_label, label_value}}).empty());
    try {
        docker.remove_network(id);
        FAIL("a second remove must throw");
    } catch (const docker_error& e) {
        CHECK(e.code() == docker_error::kind::not_found);
    }
}

TEST_CASE("docker_client: network create from a body, and inspect") {
    const docker_client docker;
    const std::string name = unique("smlocal-test-net");
    const std::string label_value = unique("network-body");
    const nlohmann::json body{{"Name", name}, {"Driver", "bridge"}, {"CheckDuplicate", true},
                              {"Labels", {{test_label, label_value}}},
                              {"IPAM", {{"Driver", "default"}, {"Config", {{{"Subnet", "10.213.7.0/24"}}}}}}};
    const std::string id = docker.create_network(body);
    const auto network = docker.inspect_network(id);
    CHECK(network["Name"] == name);
    CHECK(network["IPAM"]["Config"][0]["Subnet"] == "10.213.7.0/24");
    try {
        // Another network on the same subnet: refused, as kind bad_request (HTTP 403).
        nlohmann::json overlapping = body;
        overlapping["Name"] = name + "-b";
        docker.remove_network(docker.create_network(overlapping));
        FAIL("an overlapping subnet must throw");
    } catch (const docker_error& e) {
        CHECK(e.code() == docker_error::kind::bad_request);
        CHECK(e.engine_message().find("overlaps") != std::string::npos);
    }
    docker.remove_network(id);
    try {
        docker.inspect_network(id);
        FAIL("inspecting a removed network must throw");
    } catch (const docker_error& e) {
        CHECK(e.code() == docker_error::kind::not_found);
    }
}

TEST_CASE("docker_client: the default bridge's gateway is an address of this host that smlocal can listen on") {
    const docker_client docker;
    const std::string gateway = docker.default_bridge_gateway();
    REQUIRE_FALSE(gateway.empty());
    CHECK(gateway == smlocal::compose::ipv4_gateway(docker.inspect_network("bridge")));
    // What serve does with it: bind there (a free port), so containers reach smlocal.
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    REQUIRE(::inet_pton(AF_INET, gateway.c_str(), &address.sin_addr) == 1);
    const int bound = ::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address);
    ::close(fd);
    CHECK_MESSAGE(bound == 0, "cannot bind " << gateway << ": the engine is not local, or docker0 is down");
}

TEST_CASE("create_job_network: a free subnet of its own, on which containers get fixed addresses") {
    const docker_client docker;
    ensure_fixture_image(docker);
    const std::string label_value = unique("job-network");
    auto body_for = [&](const std::string& name) {
        return nlohmann::json{{"Name", name}, {"Driver", "bridge"}, {"Internal", false}, {"CheckDuplicate", true},
                              {"Labels", {{test_label, label_value}}}};
    };
    // Concurrent jobs: the probe-and-recreate of one must not hand its subnet to another.
    constexpr int jobs = 4;
    std::vector<std::string> names;
    for (int i = 0; i < jobs; ++i) names.push_back(unique("smlocal-test-jobnet"));
    std::vector<smlocal::compose::job_network> made(jobs);
    std::vector<std::string> errors(jobs);
    {
        std::vector<std::jthread> threads;
        for (int i = 0; i < jobs; ++i)
            threads.emplace_back([&, i] {
                try {
                    made[i] = smlocal::compose::create_job_network(docker, body_for(names[i]));
                } catch (const std::exception& e) {
                    errors[i] = e.what();
                }
            });
    }
    struct networks_guard {
        const docker_client& docker;
        std::vector<smlocal::compose::job_network>& made;
        ~networks_guard() {
            for (const auto& network : made) {
                try {
                    if (!network.id.empty()) docker.remove_network(network.id);
                } catch (const docker_error&) {
                }
            }
        }
    } cleanup{docker, made};

    std::set<std::string> subnets;
    for (int i = 0; i < jobs; ++i) {
        CAPTURE(i);
        REQUIRE_MESSAGE(errors[i].empty(), errors[i]);
        REQUIRE(made[i].subnet);
        const auto network = docker.inspect_network(made[i].id);
        CHECK(network["Name"] == names[i]);
        // Created with an explicit subnet: the one Docker had picked, as reported.
        REQUIRE(network["IPAM"]["Config"].size() == 1);
        CHECK(network["IPAM"]["Config"][0]["Subnet"] == made[i].subnet->subnet);
        CHECK(network["IPAM"]["Config"][0].value("Gateway", "") == made[i].subnet->gateway);
        subnets.insert(made[i].subnet->subnet);
    }
    CHECK(subnets.size() == jobs);
    // No probe network is left behind: exactly the four.
    CHECK(docker.list_networks({{test_label, label_value}}).size() == jobs);

    // A container at a fixed address with the other host in its /etc/hosts.
    const auto addresses = smlocal::compose::host_addresses(*made[0].subnet, 2);
    nlohmann::json container = fixture_body("sleep", label_value);
    container["HostConfig"]["NetworkMode"] = names[0];
    container["HostConfig"]["ExtraHosts"] = {"algo-1:" + addresses[0], "algo-2:" + addresses[1]};
    container["NetworkingConfig"]["EndpointsConfig"][names[0]] = {{"Aliases", {"algo-1"}},
                                                                  {"IPAMConfig", {{"IPv4Address", addresses[0]}}}};
    container_guard guard{docker, docker.create_container(unique("smlocal-test-fixed"), container)};
    docker.start_container(guard.id);
    const auto inspected = docker.inspect_container(guard.id);
    CHECK(inspected["NetworkSettings"]["Networks"][names[0]]["IPAddress"] == addresses[0]);
    CHECK(inspected["HostConfig"]["ExtraHosts"] == container["HostConfig"]["ExtraHosts"]);
    docker.remove_container(guard.id, true);
    guard.id.clear();

    SUBCASE("a name in use is a conflict, and leaves nothing behind") {
        try {
            smlocal::compose::create_job_network(docker, body_for(names[1]));
            FAIL("a duplicate name must throw");
        } catch (const docker_error& e) {
            CHECK(e.code() == docker_error::kind::conflict);
        }
        CHECK(docker.list_networks({{test_label, label_value}}).size() == jobs);
    }
}

}  // TEST_SUITE("docker")
