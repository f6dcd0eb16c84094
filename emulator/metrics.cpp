#include "emulator/metrics.hpp"

#include <cctype>
#include <cmath>
#include <cstdlib>

#include <re2/re2.h>

#include "emulator/errors.hpp"

namespace smlocal {
namespace {

/// The whole capture as a finite number, or nullopt. Surrounding spaces are allowed; anything else
/// left over (units, a second number) makes the capture non-numeric, as does NaN or infinity.
std::optional<double> parse_metric_value(std::string_view text) {
    // strtod needs a terminated string and skips leading spaces itself.
    const std::string owned(text);
    const char* begin = owned.c_str();
    char* end = nullptr;
    const double value = std::strtod(begin, &end);
    if (end == begin) return std::nullopt;
    while (*end != '\0' && std::isspace(static_cast<unsigned char>(*end))) ++end;
    if (*end != '\0' || !std::isfinite(value)) return std::nullopt;
    return value;
}

/// Length of the well-formed UTF-8 sequence at `text[i]`, or 0 if it is not one (stray
/// continuation byte, truncated, overlong, surrogate or beyond U+10FFFF).
std::size_t utf8_sequence_length(std::string_view text, std::size_t i) {
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
    const unsigned char lead = byte(i);
    if (lead < 0x80) return 1;
    std::size_t length = 0;
    unsigned char low = 0x80;
    unsigned char high = 0xBF;  // allowed range of the second byte
    if (lead >= 0xC2 && lead <= 0xDF) {
        length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        length = 3;
        if (lead == 0xE0) low = 0xA0;
        if (lead == 0xED) high = 0x9F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        length = 4;
        if (lead == 0xF0) low = 0x90;
        if (lead == 0xF4) high = 0x8F;
    } else {
        return 0;
    }
    if (i + length > text.size()) return 0;
    if (byte(i + 1) < low || byte(i + 1) > high) return 0;
    for (std::size_t k = 2; k < length; ++k) {
        if ((byte(i + k) & 0xC0) != 0x80) return 0;
    }
    return length;
}

/// RE2 in UTF-8 mode never lets `.` cross an invalid byte, so one stray byte from a container
/// would hide every metric on its line. Each invalid byte becomes U+FFFD, which is what a UTF-8
/// log store (CloudWatch) would hold. Returns nullopt when the line is already valid.
std::optional<std::string> replace_invalid_utf8(std::string_view line) {
    std::size_t i = 0;
    while (i < line.size()) {
        const std::size_t length = utf8_sequence_length(line, i);
        if (length == 0) break;
        i += length;
    }
    if (i == line.size()) return std::nullopt;

    std::string fixed(line.substr(0, i));
    fixed.reserve(line.size() + 16);
    while (i < line.size()) {
        const std::size_t length = utf8_sequence_length(line, i);
        if (length == 0) {
            fixed += "\xEF\xBF\xBD";
            ++i;
        } else {
            fixed.append(line.substr(i, length));
            i += length;
        }
    }
    return fixed;
}

}  // namespace

metric_extractor::metric_extractor(const std::vector<metric_definition>& definitions) {
    RE2::Options options;
    // Bad user regexes are reported to the client; RE2 must not also print them to stderr.
    options.set_log_errors(false);
    compiled_.reserve(definitions.size());
    for (const auto& definition : definitions) {
        auto regex = std::make_unique<re2::RE2>(definition.regex, options);
        if (!regex->ok()) {
            throw validation_error("Invalid MetricDefinitions regex for metric '" + definition.name +
                                   "': " + regex->error());
        }
        if (regex->NumberOfCapturingGroups() < 1) {
            throw validation_error("Invalid MetricDefinitions regex for metric '" + definition.name +
                                   "': must contain one capture group");
        }
        compiled_.push_back({definition.name, std::move(regex)});
    }
}

metric_extractor::~metric_extractor() = default;
metric_extractor::metric_extractor(metric_extractor&&) noexcept = default;

std::vector<metric_point> metric_extractor::extract(std::string_view line, double timestamp) const {
    std::vector<metric_point> points;
    const auto fixed = replace_invalid_utf8(line);
    if (fixed) line = *fixed;
    const re2::StringPiece input(line.data(), line.size());
    for (const auto& definition : compiled_) {
        re2::StringPiece capture;
        // PartialMatch searches anywhere in the line, as SageMaker applies metric regexes.
        if (!re2::RE2::PartialMatch(input, *definition.regex, &capture)) continue;
        const auto value = parse_metric_value(std::string_view(capture.data(), capture.size()));
        if (!value) continue;
        points.push_back(metric_point{definition.name, *value, timestamp, std::nullopt});
    }
    return points;
}

void update_final_metrics(std::vector<metric_point>& finals, const metric_point& point) {
    for (auto& existing : finals) {
        if (existing.name == point.name) {
            existing = point;
            return;
        }
    }
    finals.push_back(point);
}

}  // namespace smlocal
