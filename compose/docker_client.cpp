#include "compose/docker_client.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <utility>

#include <curl/curl.h>

namespace smlocal::compose {
namespace {

using kind = docker_error::kind;

constexpr const char* default_host = "unix:///var/run/docker.sock";
constexpr const char* default_socket = "/var/run/docker.sock";
constexpr const char* default_tcp_port = "2375";
constexpr const char* api_prefix = "/v1.41";
constexpr long connect_timeout_s = 5;
constexpr long call_timeout_s = 60;

// curl_global_init is not guaranteed thread-safe: run it once, before the first handle.
void init_curl_once() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

/// Percent-encodes everything but unreserved characters and those in `keep`.
std::string url_encode(std::string_view text, std::string_view keep = {}) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(text.size());
    for (const char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                           c == '-' || c == '_' || c == '.' || c == '~' || keep.find(ch) != std::string_view::npos;
        if (plain) {
            out += ch;
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

/// `filters=` query argument selecting objects by label ("k=v", or "k" for any value).
std::string label_filters_query(const std::map<std::string, std::string>& labels) {
    if (labels.empty()) return {};
    auto list = nlohmann::json::array();
    for (const auto& [key, value] : labels) list.push_back(value.empty() ? key : key + "=" + value);
    nlohmann::json filters;
    filters["label"] = std::move(list);
    return "filters=" + url_encode(filters.dump());
}

nlohmann::json parse_answer(const std::string& body, const std::string& call) {
    if (body.empty()) return nullptr;
    auto parsed = nlohmann::json::parse(body, nullptr, false);
    if (parsed.is_discarded()) {
        throw docker_error(kind::protocol, "Docker engine sent an unparsable answer to " + call);
    }
    return parsed;
}

std::string string_member(const nlohmann::json& object, const char* key, const std::string& call) {
    if (object.is_object()) {
        auto it = object.find(key);
        if (it != object.end() && it->is_string()) return it->get<std::string>();
    }
    throw docker_error(kind::protocol, std::string("Docker engine answered ") + call + " without " + key);
}

/// The docker_error for an HTTP answer that is not a success. The engine's errors are
/// {"message": "..."}; unknown routes answer plain text.
docker_error status_error(long status, const std::string& body, const std::string& call) {
    std::string message;
    const auto parsed = nlohmann::json::parse(body, nullptr, false);
    if (parsed.is_object() && parsed.contains("message") && parsed["message"].is_string()) {
        message = parsed["message"].get<std::string>();
    } else if (!parsed.is_object()) {
        message = body;
    }
    while (!message.empty() && (message.back() == '\n' || message.back() == '\r' || message.back() == ' ')) {
        message.pop_back();
    }
    // Status -> kind. Also update the kind list in docker_client.hpp when changing this.
    kind code = kind::protocol;
    if (status == 404) code = kind::not_found;
    else if (status == 409) code = kind::conflict;
    else if (status >= 400 && status < 500) code = kind::bad_request;
    else if (status >= 500) code = kind::server;
    const std::string text =
        message.empty() ? "Docker engine answered HTTP " + std::to_string(status) + " to " + call : message;
    return docker_error(code, text, status, message);
}

/// What the curl callbacks of one transfer share.
struct transfer_state {
    CURL* curl = nullptr;
    const std::function<void(std::string_view)>* stream = nullptr;
    std::string body;
    std::stop_token stop;
    bool stopped = false;
    std::exception_ptr error;  // thrown by `stream`; rethrown after the transfer
};

std::size_t on_write(char* data, std::size_t size, std::size_t count, void* user) {
    auto& t = *static_cast<transfer_state*>(user);
    const std::size_t n = size * count;
    long status = 0;
    curl_easy_getinfo(t.curl, CURLINFO_RESPONSE_CODE, &status);
    // Only a success is streamed; an error's body is kept for its message.
    if (*t.stream && status >= 200 && status < 300) {
        try {
            (*t.stream)(std::string_view(data, n));
        } catch (...) {
            t.error = std::current_exception();
            return 0;  // != n: curl aborts with CURLE_WRITE_ERROR
        }
    } else {
        t.body.append(data, n);
    }
    return n;
}

// curl calls this about once a second while idle, and more often while data flows.
int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    auto& t = *static_cast<transfer_state*>(user);
    if (!t.stop.stop_requested()) return 0;
    t.stopped = true;
    return 1;
}

bool is_connect_failure(CURLcode rc) {
    return rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_COULDNT_RESOLVE_PROXY;
}

std::string since_argument(std::chrono::system_clock::time_point since) {
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(since.time_since_epoch()).count();
    if (ns <= 0) return "0";
    // "<seconds>.<nanoseconds>", the engine's timestamp form.
    std::string fraction = std::to_string(ns % 1'000'000'000);
    fraction.insert(0, 9 - fraction.size(), '0');
    return std::to_string(ns / 1'000'000'000) + "." + fraction;
}

}  // namespace

// ---- log_line_splitter ----

log_line_splitter::log_line_splitter(bool multiplexed, log_line_callback on_line)
    : multiplexed_(multiplexed), on_line_(std::move(on_line)) {}

void log_line_splitter::feed(std::string_view bytes) {
    if (!multiplexed_) {
        append(log_stream::out, bytes);
        return;
    }
    while (!bytes.empty()) {
        if (frame_left_ == 0) {
            // Collect the 8-byte header, which may itself be split across feeds.
            const std::size_t take = std::min(8 - header_.size(), bytes.size());
            header_.append(bytes.substr(0, take));
            bytes.remove_prefix(take);
            if (header_.size() < 8) return;
            const auto byte = [&](int i) { return static_cast<std::uint32_t>(static_cast<unsigned char>(header_[i])); };
            // 0 stdin (written to stdout), 1 stdout, 2 stderr, 3 the engine's own errors.
            frame_stream_ = byte(0) >= 2 ? log_stream::err : log_stream::out;
            frame_left_ = (byte(4) << 24) | (byte(5) << 16) | (byte(6) << 8) | byte(7);
            header_.clear();
            continue;
        }
        const std::size_t take = std::min(frame_left_, bytes.size());
        append(frame_stream_, bytes.substr(0, take));
        bytes.remove_prefix(take);
        frame_left_ -= take;
    }
}

void log_line_splitter::append(log_stream stream, std::string_view bytes) {
    std::string& partial = partial_[stream == log_stream::err ? 1 : 0];
    const auto emit = [&](std::string_view line) {
        // A TTY turns "\n" into "\r\n".
        if (!multiplexed_ && !line.empty() && line.back() == '\r') line.remove_suffix(1);
        on_line_(stream, line);
    };
    while (!bytes.empty()) {
        const auto newline = bytes.find('\n');
        auto piece = bytes.substr(0, newline);
        bytes.remove_prefix(newline == std::string_view::npos ? bytes.size() : newline + 1);
        // Pass an overlong line on in max_line_bytes pieces.
        while (partial.size() + piece.size() > max_line_bytes) {
            const std::size_t take = max_line_bytes - partial.size();
            partial.append(piece.substr(0, take));
            piece.remove_prefix(take);
            emit(partial);
            partial.clear();
        }
        if (newline == std::string_view::npos) {
            partial.append(piece);
        } else if (partial.empty()) {
            emit(piece);
        } else {
            partial.append(piece);
            emit(partial);
            partial.clear();
        }
    }
}

void log_line_splitter::finish() {
    for (const auto stream : {log_stream::out, log_stream::err}) {
        std::string& partial = partial_[stream == log_stream::err ? 1 : 0];
        if (partial.empty()) continue;
        const std::string line = std::exchange(partial, {});
        on_line_(stream, line);
    }
    header_.clear();
    frame_left_ = 0;
}

// ---- docker_client ----

std::string ipv4_gateway(const nlohmann::json& network) {
    const auto ipam = network.find("IPAM");
    if (ipam == network.end() || !ipam->is_object()) return {};
    const auto configs = ipam->find("Config");
    if (configs == ipam->end() || !configs->is_array()) return {};
    for (const auto& config : *configs) {
        if (!config.is_object()) continue;
        const auto gateway = config.find("Gateway");
        if (gateway == config.end() || !gateway->is_string()) continue;
        std::string text = gateway->get<std::string>();
        // Accept a CIDR form ("172.17.0.1/16") too: only the address matters.
        text = text.substr(0, text.find('/'));
        if (!text.empty() && text.find(':') == std::string::npos) return text;
    }
    return {};
}

docker_client::docker_client(std::string docker_host) : host_(std::move(docker_host)) {
    init_curl_once();
    if (host_.empty()) {
        const char* env = std::getenv("DOCKER_HOST");
        host_ = env && *env ? env : default_host;
    }
    if (host_.starts_with("unix://")) {
        socket_path_ = host_.substr(7);
        if (socket_path_.empty()) socket_path_ = default_socket;
        base_url_ = std::string("http://localhost") + api_prefix;
    } else if (host_.starts_with("tcp://")) {
        std::string address = host_.substr(6);
        while (!address.empty() && address.back() == '/') address.pop_back();
        // Add the default port unless one is given (after an IPv6 literal's ']').
        const auto colon = address.rfind(':');
        const auto bracket = address.rfind(']');
        if (colon == std::string::npos || (bracket != std::string::npos && colon < bracket)) {
            address += std::string(":") + default_tcp_port;
        }
        if (address.front() == ':') config_error_ = "Invalid DOCKER_HOST " + host_ + ": no host name";
        base_url_ = "http://" + address + api_prefix;
    } else {
        config_error_ = "Unsupported DOCKER_HOST " + host_ + ": smlocal reaches the Docker engine through "
                        "unix:// or tcp:// only";
    }
}

docker_client::reply docker_client::request(std::string_view method, const std::string& path,
                                            const nlohmann::json& body, bool unlimited,
                                            const std::function<void(std::string_view)>& stream,
                                            std::stop_token stop) const {
    const std::string call = std::string(method) + " " + path;
    if (!config_error_.empty()) throw docker_error(kind::unreachable, config_error_);

    // A handle per call: calls run concurrently from several threads.
    std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> handle(curl_easy_init(), &curl_easy_cleanup);
    if (!handle) throw docker_error(kind::unreachable, "Docker engine unreachable at " + host_ + ": curl_easy_init failed");
    CURL* curl = handle.get();

    const std::string url = base_url_ + path;
    const std::string verb(method);
    const std::string payload = body.is_null() ? std::string() : body.dump();
    std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> headers(nullptr, &curl_slist_free_all);
    const auto add_header = [&](const char* line) {
        if (curl_slist* grown = curl_slist_append(headers.get(), line)) {
            headers.release();
            headers.reset(grown);
        }
    };

    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    if (!socket_path_.empty()) curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, socket_path_.c_str());
    // No signals: several threads use curl at once.
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, connect_timeout_s);
    if (!unlimited) curl_easy_setopt(curl, CURLOPT_TIMEOUT, call_timeout_s);
    curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, verb.c_str());
    if (verb == "POST") {
        // POST always sends a body (possibly empty), never waits for "100 Continue".
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, payload.c_str());
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(payload.size()));
        add_header("Expect:");
    }
    if (!body.is_null()) add_header("Content-Type: application/json");
    if (headers) curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers.get());

    transfer_state state;
    state.curl = curl;
    state.stream = &stream;
    state.stop = std::move(stop);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &on_write);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &state);
    if (state.stop.stop_possible()) {
        curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, &on_progress);
        curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &state);
    }

    const CURLcode rc = curl_easy_perform(curl);
    if (state.error) std::rethrow_exception(state.error);
    if (rc == CURLE_ABORTED_BY_CALLBACK && state.stopped) return reply{0, {}, true};
    if (rc != CURLE_OK) {
        if (is_connect_failure(rc)) {
            throw docker_error(kind::unreachable, "Docker engine unreachable at " + host_ + ": " + curl_easy_strerror(rc));
        }
        throw docker_error(kind::unreachable,
                           "Docker engine at " + host_ + " failed during " + call + ": " + curl_easy_strerror(rc));
    }

    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    // 304: already started / already stopped, which callers treat as done.
    if ((status >= 200 && status < 300) || status == 304) return reply{status, std::move(state.body), false};
    throw status_error(status, state.body, call);
}

nlohmann::json docker_client::request_json(std::string_view method, const std::string& path,
                                           const nlohmann::json& body) const {
    return parse_answer(request(method, path, body).body, std::string(method) + " " + path);
}

nlohmann::json docker_client::version() const { return request_json("GET", "/version"); }

nlohmann::json docker_client::info() const { return request_json("GET", "/info"); }

void docker_client::ping() const { request("GET", "/_ping"); }

nlohmann::json docker_client::inspect_image(const std::string& name) const {
    try {
        // Keep the reference readable: repository paths, tags and digests are part of the route.
        return request_json("GET", "/images/" + url_encode(name, "/:@") + "/json");
    } catch (const docker_error& e) {
        // The engine says "no such image: X: No such image: X"; keep one of them.
        if (e.code() != kind::not_found) throw;
        throw docker_error(kind::not_found, "No such image: " + name, e.status(), e.engine_message());
    }
}

std::string docker_client::create_container(const std::string& name, const nlohmann::json& body) const {
    std::string path = "/containers/create";
    if (!name.empty()) path += "?name=" + url_encode(name);
    return string_member(request_json("POST", path, body), "Id", "POST " + path);
}

void docker_client::start_container(const std::string& id) const {
    request("POST", "/containers/" + url_encode(id) + "/start");
}

int docker_client::wait_container(const std::string& id) const {
    const std::string path = "/containers/" + url_encode(id) + "/wait";
    const auto answer = parse_answer(request("POST", path, nullptr, /*unlimited=*/true).body, "POST " + path);
    // {"StatusCode": n, "Error": null | {"Message": "..."}}
    if (answer.is_object()) {
        const auto error = answer.find("Error");
        if (error != answer.end() && error->is_object()) {
            const std::string message = error->value("Message", "");
            if (!message.empty()) throw docker_error(kind::server, message, 200, message);
        }
        const auto code = answer.find("StatusCode");
        if (code != answer.end() && code->is_number_integer()) return code->get<int>();
    }
    throw docker_error(kind::protocol, "Docker engine answered POST " + path + " without StatusCode");
}

void docker_client::kill_container(const std::string& id, const std::string& signal) const {
    try {
        request("POST", "/containers/" + url_encode(id) + "/kill?signal=" + url_encode(signal));
    } catch (const docker_error& e) {
        // The container exited meanwhile: nothing left to signal.
        if (e.code() == kind::conflict && e.engine_message().find("is not running") != std::string::npos) return;
        throw;
    }
}

void docker_client::remove_container(const std::string& id, bool force, bool remove_volumes) const {
    request("DELETE", "/containers/" + url_encode(id) + "?force=" + (force ? "1" : "0") +
                          "&v=" + (remove_volumes ? "1" : "0"));
}

nlohmann::json docker_client::inspect_container(const std::string& id) const {
    return request_json("GET", "/containers/" + url_encode(id) + "/json");
}

nlohmann::json docker_client::list_containers(const std::map<std::string, std::string>& label_filters,
                                              bool all) const {
    std::string path = std::string("/containers/json?all=") + (all ? "1" : "0");
    if (const auto filters = label_filters_query(label_filters); !filters.empty()) path += "&" + filters;
    return request_json("GET", path);
}

follow_end docker_client::follow_logs(const std::string& id, std::chrono::system_clock::time_point since,
                                      const log_line_callback& on_line, std::stop_token stop) const {
    // Only containers without a TTY multiplex stdout and stderr into frames.
    const auto container = inspect_container(id);
    const auto tty_pointer = nlohmann::json::json_pointer("/Config/Tty");
    const bool tty = container.contains(tty_pointer) && container.at(tty_pointer).is_boolean() &&
                     container.at(tty_pointer).get<bool>();

    log_line_splitter splitter(!tty, on_line);
    const std::string path = "/containers/" + url_encode(id) +
                             "/logs?follow=1&stdout=1&stderr=1&since=" + since_argument(since);
    const std::function<void(std::string_view)> sink = [&](std::string_view bytes) { splitter.feed(bytes); };
    const reply answer = request("GET", path, nullptr, /*unlimited=*/true, sink, std::move(stop));
    // Pass on the last partial lines either way: a stop must not lose what was read.
    splitter.finish();
    return answer.stopped ? follow_end::stopped : follow_end::ended;
}

std::string docker_client::create_network(const std::string& name, const std::map<std::string, std::string>& labels,
                                          bool internal) const {
    nlohmann::json body;
    body["Name"] = name;
    body["CheckDuplicate"] = true;
    body["Driver"] = "bridge";
    body["Internal"] = internal;
    body["Labels"] = labels;
    return string_member(request_json("POST", "/networks/create", body), "Id", "POST /networks/create");
}

std::string docker_client::create_network(const nlohmann::json& body) const {
    return string_member(request_json("POST", "/networks/create", body), "Id", "POST /networks/create");
}

nlohmann::json docker_client::inspect_network(const std::string& id) const {
    return request_json("GET", "/networks/" + url_encode(id));
}

void docker_client::remove_network(const std::string& id) const {
    request("DELETE", "/networks/" + url_encode(id));
}

std::string docker_client::default_bridge_gateway() const { return ipv4_gateway(inspect_network("bridge")); }

nlohmann::json docker_client::list_networks(const std::map<std::string, std::string>& label_filters) const {
    std::string path = "/networks";
    if (const auto filters = label_filters_query(label_filters); !filters.empty()) path += "?" + filters;
    return request_json("GET", path);
}

}  // namespace smlocal::compose
