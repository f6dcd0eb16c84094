#include "api/dashboard/dashboard_service.hpp"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>

#include "emulator/errors.hpp"

namespace smlocal::api {

// Generated from dashboard/ by cmake/embed_text.cmake (see api/CMakeLists.txt).
extern const char dashboard_index_html[];
extern const char dashboard_app_js[];
extern const char dashboard_style_css[];

namespace {

namespace http = boost::beast::http;
using json = nlohmann::json;

constexpr std::string_view ui_prefix = "/_smlocal/ui/";
constexpr std::string_view api_prefix = "/_smlocal/api/";

// The page loads only its own files and talks only to this server: no CDN, no inline script.
constexpr std::string_view page_policy =
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

std::string content_etag(std::string_view content) {
    // FNV-1a: the content only changes with the binary, so any stable hash will do.
    std::uint64_t hash = 0xcbf29ce484222325ULL;
    for (const unsigned char c : content) {
        hash ^= c;
        hash *= 0x100000001b3ULL;
    }
    char text[19];
    std::snprintf(text, sizeof text, "\"%016llx\"", static_cast<unsigned long long>(hash));
    return text;
}

std::string_view path_of(const http_request_header& header) {
    const std::string_view target(header.target().data(), header.target().size());
    return target.substr(0, target.find('?'));
}

const dashboard_asset* find_asset(std::string_view name) {
    for (const auto& asset : dashboard_assets())
        if (asset.name == name) return &asset;
    return nullptr;
}

// If-None-Match holds "*" or a comma-separated list of (possibly weak) entity tags.
bool etag_matches(std::string_view header, std::string_view etag) {
    while (!header.empty()) {
        const auto comma = header.find(',');
        std::string_view item = header.substr(0, comma);
        header = comma == std::string_view::npos ? std::string_view{} : header.substr(comma + 1);
        while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
        while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
        if (item.substr(0, 2) == "W/") item.remove_prefix(2);
        if (item == "*" || item == etag) return true;
    }
    return false;
}

// Job names are [a-zA-Z0-9-], but a client may still percent-encode them; nullopt if malformed.
std::optional<std::string> percent_decode(std::string_view text) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '%') {
            out += text[i];
            continue;
        }
        if (i + 2 >= text.size()) return std::nullopt;
        unsigned value = 0;
        for (std::size_t j = i + 1; j <= i + 2; ++j) {
            const char c = text[j];
            value <<= 4;
            if (c >= '0' && c <= '9') value |= static_cast<unsigned>(c - '0');
            else if (c >= 'a' && c <= 'f') value |= static_cast<unsigned>(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F') value |= static_cast<unsigned>(c - 'A' + 10);
            else return std::nullopt;
        }
        out += static_cast<char>(value);
        i += 2;
    }
    return out;
}

http_response text_response(const http_request& request, http::status status, std::string_view content_type,
                            std::string body) {
    http_response response{status, request.version()};
    response.set(http::field::content_type, boost::beast::string_view(content_type.data(), content_type.size()));
    response.set("X-Content-Type-Options", "nosniff");
    response.body() = std::move(body);
    response.keep_alive(request.keep_alive());
    response.prepare_payload();
    return response;
}

// The JSON API is live data: never cached.
http_response api_response(const http_request& request, http::status status, const json& body) {
    auto response = text_response(request, status, "application/json",
                                  body.dump(-1, ' ', false, json::error_handler_t::replace));
    response.set(http::field::cache_control, "no-store");
    return response;
}

http_response not_found(const http_request& request, std::string_view path) {
    return text_response(request, http::status::not_found, "text/plain; charset=utf-8",
                         "No such dashboard file: " + std::string(path) + "\n");
}

}  // namespace

const std::vector<dashboard_asset>& dashboard_assets() {
    static const std::vector<dashboard_asset> assets = [] {
        std::vector<dashboard_asset> out{
            {"index.html", "text/html; charset=utf-8", dashboard_index_html, {}},
            {"app.js", "text/javascript; charset=utf-8", dashboard_app_js, {}},
            {"style.css", "text/css; charset=utf-8", dashboard_style_css, {}},
        };
        for (auto& asset : out) asset.etag = content_etag(asset.content);
        return out;
    }();
    return assets;
}

json metric_series_json(const std::string& job_name, const std::vector<metric_point>& points) {
    json metrics = json::array();
    // Index of each metric in `metrics`, so that series keep their order of first appearance.
    std::map<std::string, std::size_t, std::less<>> index;
    for (const auto& point : points) {
        auto [it, added] = index.try_emplace(point.name, metrics.size());
        if (added) metrics.push_back({{"MetricName", point.name}, {"Points", json::array()}});
        // JSON has no NaN or infinity; null keeps the point's place in the series.
        json entry{{"Timestamp", point.timestamp},
                   {"Value", std::isfinite(point.value) ? json(point.value) : json(nullptr)}};
        if (point.epoch) entry["Epoch"] = *point.epoch;
        metrics[it->second]["Points"].push_back(std::move(entry));
    }
    return {{"TrainingJobName", job_name}, {"Metrics", std::move(metrics)}};
}

dashboard_service::dashboard_service(const training_job_service& training_jobs) : training_jobs_(training_jobs) {}

bool dashboard_service::handles(const http_request_header& header) const {
    if (header.method() != http::verb::get && header.method() != http::verb::head) return false;
    const std::string_view path = path_of(header);
    return path == "/" || path.starts_with(ui_prefix) || path.starts_with(api_prefix);
}

http_response dashboard_service::handle(const http_request& request) const {
    const std::string_view path = path_of(request);
    if (request.method() != http::verb::get && request.method() != http::verb::head) {
        auto response = text_response(request, http::status::method_not_allowed, "text/plain; charset=utf-8",
                                      "The dashboard answers GET and HEAD only.\n");
        response.set(http::field::allow, "GET, HEAD");
        return response;
    }
    if (path == "/") return serve_asset(request, *find_asset("index.html"));
    if (path.starts_with(ui_prefix)) {
        const dashboard_asset* asset = find_asset(path.substr(ui_prefix.size()));
        return asset ? serve_asset(request, *asset) : not_found(request, path);
    }
    if (path.starts_with(api_prefix)) return serve_api(request, path.substr(api_prefix.size()));
    return not_found(request, path);
}

http_response dashboard_service::serve_asset(const http_request& request, const dashboard_asset& asset) const {
    const auto if_none_match = request.find(http::field::if_none_match);
    const bool unchanged = if_none_match != request.end() &&
                           etag_matches(std::string_view(if_none_match->value().data(), if_none_match->value().size()),
                                        asset.etag);
    // A rebuilt binary may serve new files at the same URLs, so browsers revalidate every time
    // (cheap on loopback: a 304 without a body).
    auto response = unchanged ? text_response(request, http::status::not_modified, asset.content_type, {})
                              : text_response(request, http::status::ok, asset.content_type, std::string(asset.content));
    response.set(http::field::etag, asset.etag);
    response.set(http::field::cache_control, "no-cache");
    if (asset.name == "index.html") {
        response.set("Content-Security-Policy", boost::beast::string_view(page_policy.data(), page_policy.size()));
        response.set("Referrer-Policy", "no-referrer");
    }
    return response;
}

http_response dashboard_service::serve_api(const http_request& request, std::string_view path) const {
    // training-jobs/<name>/metrics
    constexpr std::string_view jobs = "training-jobs/";
    constexpr std::string_view metrics = "/metrics";
    if (path.starts_with(jobs) && path.ends_with(metrics) && path.size() > jobs.size() + metrics.size()) {
        const auto name = percent_decode(path.substr(jobs.size(), path.size() - jobs.size() - metrics.size()));
        if (!name || name->find('/') != std::string::npos)
            return api_response(request, http::status::bad_request,
                                {{"message", "Malformed training job name in " + std::string(path) + "."}});
        try {
            return api_response(request, http::status::ok,
                                metric_series_json(*name, training_jobs_.metric_series(*name)));
        } catch (const service_error&) {
            // The only service error metric_series throws: no such job.
            return api_response(request, http::status::not_found,
                                {{"message", "No training job named " + *name + "."}});
        } catch (const std::exception& error) {
            return api_response(request, http::status::internal_server_error,
                                {{"message", std::string("Internal error: ") + error.what()}});
        }
    }
    return api_response(request, http::status::not_found,
                        {{"message", "No such dashboard API: /_smlocal/api/" + std::string(path) + "."}});
}

}  // namespace smlocal::api
