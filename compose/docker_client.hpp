#pragma once
// A small, typed client of the Docker Engine API (/v1.41, served by daemons 20.10 to 28), over
// libcurl: a unix socket or plain-HTTP tcp. Every call is blocking and uses its own curl handle,
// so one client is shared by all job threads (one may block in wait_container while another
// follows logs).
//
// LIMITATIONS vs the docker CLI: no TLS (tcp:// is plain HTTP, DOCKER_TLS_VERIFY and ssh:// hosts
// are not supported), no registry auth, no pulls, no attach/exec/archive calls.

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace smlocal::compose {

/// A failed Docker call. `what()` is phrased to become a job's FailureReason as it is: the
/// engine's own message for an HTTP error ("No such image: foo:latest"), or
/// "Docker engine unreachable at unix:///var/run/docker.sock: Couldn't connect to server".
class docker_error : public std::runtime_error {
public:
    enum class kind {
        unreachable,  // no connection to the engine (or it dropped, or timed out)
        not_found,    // 404: no such image, container or network
        conflict,     // 409: name in use, container not running...
        bad_request,  // 400 and other 4xx: the engine rejected the parameters
        server,       // 5xx: the engine failed
        protocol,     // an answer we cannot parse
    };

    docker_error(kind code, const std::string& message, long status = 0, std::string engine_message = {})
        : std::runtime_error(message), code_(code), status_(status), engine_message_(std::move(engine_message)) {}

    kind code() const noexcept { return code_; }
    /// The HTTP status, or 0 when there was no HTTP answer.
    long status() const noexcept { return status_; }
    /// The engine's `message` field, empty when it sent none.
    const std::string& engine_message() const noexcept { return engine_message_; }

private:
    kind code_;
    long status_;
    std::string engine_message_;
};

/// Which output of the container a log line came from (Docker's stream type byte).
enum class log_stream { out = 1, err = 2 };

using log_line_callback = std::function<void(log_stream, std::string_view line)>;

/// Cuts Docker's log stream into lines. A multiplexed stream (container without a TTY) is a
/// sequence of frames: 8-byte header {stream type, 0, 0, 0, 4-byte big-endian length} then the
/// payload. Lines may span frames and feed() calls; each stream keeps its own partial line. Lines
/// are passed without their '\n' (a TTY stream also loses the '\r' before it). A line longer than
/// max_line_bytes is passed on in pieces of that size, so no process can exhaust our memory.
class log_line_splitter {
public:
    static constexpr std::size_t max_line_bytes = std::size_t{1} << 20;

    log_line_splitter(bool multiplexed, log_line_callback on_line);
    /// Consumes the next bytes of the stream, calling on_line for each completed line.
    void feed(std::string_view bytes);
    /// The stream ended: passes on each stream's last line if it had no '\n'.
    void finish();

private:
    void append(log_stream stream, std::string_view bytes);

    bool multiplexed_;
    log_line_callback on_line_;
    std::string header_;           // the bytes of a frame header seen so far (< 8)
    std::size_t frame_left_ = 0;   // payload bytes still to come in the current frame
    log_stream frame_stream_ = log_stream::out;
    std::string partial_[2];       // per stream: text after the last '\n'
};

/// How a follow_logs call ended.
enum class follow_end {
    ended,    // the engine closed the stream: the container has exited
    stopped,  // the stop token fired
};

/// The first IPv4 Gateway in IPAM.Config of a GET /networks/{id} answer (a dual-stack network
/// may list its IPv6 config first); empty when there is none.
std::string ipv4_gateway(const nlohmann::json& network);

class docker_client {
public:
    /// `docker_host` as in DOCKER_HOST: "unix:///path" or "tcp://host[:port]" (port 2375 by
    /// default). Empty means $DOCKER_HOST, else unix:///var/run/docker.sock. Never throws: an
    /// unsupported host makes every call throw kind::unreachable saying so.
    explicit docker_client(std::string docker_host = "");

    /// The engine address in DOCKER_HOST form, as used in error messages.
    const std::string& host() const noexcept { return host_; }

    // Engine. Each throws docker_error.
    /// GET /version: {"Version", "ApiVersion", "MinAPIVersion", "Os", ...}.
    nlohmann::json version() const;
    /// GET /info: {"DockerRootDir", "MemTotal", "NCPU", ...}.
    nlohmann::json info() const;
    /// GET /_ping; returns when the engine answers OK.
    void ping() const;

    // Images.
    /// GET /images/{name}/json. Throws kind::not_found, worded "No such image: <name>".
    nlohmann::json inspect_image(const std::string& name) const;

    // Containers.
    /// POST /containers/create?name=<name> with `body` (Image, Cmd, Env, Labels, HostConfig...).
    /// Returns the new container's id. An empty name lets the engine pick one. Throws
    /// kind::not_found for a missing image, kind::conflict for a name in use.
    std::string create_container(const std::string& name, const nlohmann::json& body) const;
    /// POST /containers/{id}/start. Starting a running container is not an error (starting an
    /// exited one runs it again).
    void start_container(const std::string& id) const;
    /// POST /containers/{id}/wait: blocks, without a time limit, until the container stops, and
    /// returns its exit code (128 + signal number when a signal ended it). Returns at once for a
    /// container that has already stopped.
    int wait_container(const std::string& id) const;
    /// POST /containers/{id}/kill?signal=<signal> ("SIGTERM", "SIGKILL"...). A container that is
    /// not running is not an error; a missing one throws kind::not_found.
    void kill_container(const std::string& id, const std::string& signal = "SIGKILL") const;
    /// DELETE /containers/{id}. `force` kills a running container first; `remove_volumes` also
    /// removes its anonymous volumes. Throws kind::not_found, or kind::conflict when running
    /// without force.
    void remove_container(const std::string& id, bool force = false, bool remove_volumes = false) const;
    /// GET /containers/{id}/json: {"Id", "Name", "State": {"Status", "Running", "ExitCode"...}, "Config"...}.
    nlohmann::json inspect_container(const std::string& id) const;
    /// GET /containers/json: the containers (running only, unless `all`) that carry every label
    /// in `label_filters` with the given value; an empty value matches any value.
    nlohmann::json list_containers(const std::map<std::string, std::string>& label_filters, bool all = true) const;

    /// GET /containers/{id}/logs?follow=1&stdout=1&stderr=1&since=<since>: streams the
    /// container's output from `since` (the epoch: from the start), calling `on_line` on this
    /// thread for each line, until the output ends (the container exited; the last line is passed
    /// on even without its '\n') or `stop` fires (checked about once a second while idle). An
    /// exception thrown by `on_line` ends the stream and is rethrown.
    follow_end follow_logs(const std::string& id, std::chrono::system_clock::time_point since,
                           const log_line_callback& on_line, std::stop_token stop = {}) const;

    // Networks.
    /// POST /networks/create: a bridge network; `internal` cuts it off from outside. Returns its
    /// id. Throws kind::conflict when the name is in use.
    std::string create_network(const std::string& name, const std::map<std::string, std::string>& labels,
                               bool internal = false) const;
    /// POST /networks/create with `body` as it is (Name, Driver, Internal, Labels, IPAM...), e.g.
    /// a container plan's network_create_body. Returns the id. Throws kind::conflict when the name
    /// is in use, kind::bad_request when the engine refuses the IPAM config (a subnet that overlaps
    /// another network's is HTTP 403 "Pool overlaps with other one on this address space").
    std::string create_network(const nlohmann::json& body) const;
    /// GET /networks/{id}: {"Id", "Name", "IPAM": {"Config": [{"Subnet", "Gateway"}]}, ...}.
    /// Throws kind::not_found.
    nlohmann::json inspect_network(const std::string& id) const;
    /// DELETE /networks/{id}. Throws kind::not_found, kind::conflict while containers use it.
    void remove_network(const std::string& id) const;
    /// GET /networks: the networks that carry every label in `label_filters` (as list_containers).
    nlohmann::json list_networks(const std::map<std::string, std::string>& label_filters) const;
    /// The IPv4 gateway of Docker's default bridge (GET /networks/bridge, see ipv4_gateway): the
    /// address ExtraHosts "host-gateway" stands for, unless dockerd runs with --host-gateway-ip.
    /// Empty when the engine reports none. Throws docker_error (kind::not_found when the engine
    /// has no default bridge, as with dockerd --bridge=none).
    std::string default_bridge_gateway() const;

private:
    struct reply {
        long status = 0;
        std::string body;      // empty when streamed
        bool stopped = false;  // the stop token aborted the transfer
    };

    /// Sends one request (`body` as JSON unless null) and returns a 2xx or 304 answer; maps every
    /// other outcome to docker_error. `unlimited` lifts the 60 s total time limit. With `stream`,
    /// a successful answer's body goes there as it arrives instead of into reply::body.
    reply request(std::string_view method, const std::string& path, const nlohmann::json& body = nullptr,
                  bool unlimited = false, const std::function<void(std::string_view)>& stream = {},
                  std::stop_token stop = {}) const;
    /// request() whose answer must be JSON (kind::protocol otherwise).
    nlohmann::json request_json(std::string_view method, const std::string& path,
                                const nlohmann::json& body = nullptr) const;

    std::string host_;          // as given or defaulted, for messages
    std::string socket_path_;   // unix socket, or empty for tcp
    std::string base_url_;      // "http://localhost/v1.41" or "http://host:port/v1.41"
    std::string config_error_;  // why host_ is unusable, or empty
};

}  // namespace smlocal::compose
