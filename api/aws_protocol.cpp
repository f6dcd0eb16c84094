#include "api/aws_protocol.hpp"

#include <array>
#include <cstdio>
#include <random>
#include <utility>

#include <nlohmann/json.hpp>

#include "emulator/errors.hpp"

namespace smlocal::api {

namespace http = boost::beast::http;

unsigned status_for_code(std::string_view code) {
    // When adding a code to emulator/errors.hpp, add its status here if it is not a 400.
    static constexpr std::array<std::pair<std::string_view, unsigned>, 3> table{{
        {"InternalFailure", 500},
        {"ServiceUnavailable", 503},
        {"RequestEntityTooLarge", 413},
    }};
    for (const auto& [name, status] : table)
        if (name == code) return status;
    return 400;
}

std::string new_request_id() {
    thread_local std::mt19937_64 generator{std::random_device{}()};
    const std::uint64_t high = generator();
    const std::uint64_t low = generator();
    char text[37];
    std::snprintf(text, sizeof text, "%08x-%04x-4%03x-%04x-%012llx", static_cast<unsigned>(high >> 32),
                  static_cast<unsigned>((high >> 16) & 0xFFFF), static_cast<unsigned>(high & 0xFFF),
                  static_cast<unsigned>(0x8000 | ((low >> 48) & 0x3FFF)),
                  static_cast<unsigned long long>(low & 0xFFFFFFFFFFFFULL));
    return text;
}

namespace {

http_response make_response(const http_request& request, http::status status, std::string body,
                            const std::string& request_id) {
    http_response response{status, request.version()};
    response.set(http::field::content_type, boost::beast::string_view(amz_json_content_type.data(), amz_json_content_type.size()));
    response.set("x-amzn-RequestId", request_id);
    response.body() = std::move(body);
    response.keep_alive(request.keep_alive());
    response.prepare_payload();
    return response;
}

}  // namespace

http_response json_response(const http_request& request, std::string body, const std::string& request_id) {
    return make_response(request, http::status::ok, std::move(body), request_id);
}

http_response error_response(const http_request& request, std::string_view code, std::string_view message,
                             const std::string& request_id) {
    // Both spellings of the message member: botocore reads "message", the model declares "Message".
    nlohmann::json body{{"__type", code}, {"message", message}, {"Message", message}};
    auto response = make_response(request, static_cast<http::status>(status_for_code(code)),
                                  body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), request_id);
    response.set("X-Amzn-ErrorType", boost::beast::string_view(code.data(), code.size()));
    return response;
}

}  // namespace smlocal::api

#include <ctime>
#include <sstream>
#include <iomanip>

namespace smlocal::api {

std::optional<double> parse_timestamp(const nlohmann::json& value) {
    if (value.is_number()) return value.get<double>();
    if (!value.is_string()) return std::nullopt;
    // ISO-8601 as botocore's parser accepts it: 2024-01-31T12:00:00[.fff][Z|+hh:mm]
    const std::string text = value.get<std::string>();
    std::tm parts{};
    std::istringstream in(text);
    in >> std::get_time(&parts, "%Y-%m-%dT%H:%M:%S");
    if (in.fail()) return std::nullopt;
    double seconds = static_cast<double>(timegm(&parts));
    std::string rest;
    std::getline(in, rest);
    std::size_t pos = 0;
    if (pos < rest.size() && rest[pos] == '.') {
        std::size_t end = pos + 1;
        while (end < rest.size() && std::isdigit(static_cast<unsigned char>(rest[end]))) ++end;
        seconds += std::stod("0" + rest.substr(pos, end - pos));
        pos = end;
    }
    if (pos < rest.size() && (rest[pos] == '+' || rest[pos] == '-') && rest.size() >= pos + 6) {
        const int sign = rest[pos] == '+' ? 1 : -1;
        const int hours = std::stoi(rest.substr(pos + 1, 2));
        const int minutes = std::stoi(rest.substr(pos + 4, 2));
        seconds -= sign * (hours * 3600 + minutes * 60);
    }
    return seconds;
}

}  // namespace smlocal::api
