#include "emulator/tuning/parameter_space.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>

#include "emulator/errors.hpp"

namespace smlocal::tuning {
namespace {

using json = nlohmann::json;
constexpr std::size_t max_ranges = 30;

double parse_bound(const std::string& name, const char* which, const json& value) {
    const std::string text = value.get<std::string>();
    double out = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), out);
    if (error != std::errc() || end != text.data() + text.size() || !std::isfinite(out))
        throw validation_error("The " + std::string(which) + " '" + text + "' of hyperparameter range '" + name +
                               "' is not a number.");
    return out;
}

parameter_range::scaling parse_scaling(const parameter_range& range, const std::string& text) {
    using s = parameter_range::scaling;
    if (text == "Logarithmic") {
        if (range.min <= 0)
            throw validation_error("Hyperparameter range '" + range.name +
                                   "' uses Logarithmic scaling, which needs values greater than 0.");
        return s::logarithmic;
    }
    if (text == "ReverseLogarithmic") {
        if (range.type != dimension::kind::continuous)
            throw validation_error("Hyperparameter range '" + range.name +
                                   "': ReverseLogarithmic scaling is only for continuous ranges.");
        if (range.min < 0 || range.max >= 1)
            throw validation_error("Hyperparameter range '" + range.name +
                                   "' uses ReverseLogarithmic scaling, which needs 0 <= values < 1.");
        return s::reverse_logarithmic;
    }
    // Auto: logarithmic when a positive range spans two orders of magnitude (spec/hpo.md §4).
    if (text == "Auto" && range.min > 0 && range.max / range.min >= 100) return s::logarithmic;
    return s::linear;
}

// Unit coordinate -> real value under the range's scaling.
double scale(const parameter_range& r, double lo, double hi, double u) {
    using s = parameter_range::scaling;
    switch (r.scale) {
        case s::logarithmic: return std::exp(std::log(lo) + u * (std::log(hi) - std::log(lo)));
        case s::reverse_logarithmic:
            return 1 - std::exp(std::log(1 - hi) + (1 - u) * (std::log(1 - lo) - std::log(1 - hi)));
        case s::linear: break;
    }
    return lo + u * (hi - lo);
}

double unscale(const parameter_range& r, double lo, double hi, double v) {
    using s = parameter_range::scaling;
    if (hi == lo) return 0.5;
    switch (r.scale) {
        case s::logarithmic: return (std::log(v) - std::log(lo)) / (std::log(hi) - std::log(lo));
        case s::reverse_logarithmic:
            return 1 - (std::log(1 - v) - std::log(1 - hi)) / (std::log(1 - lo) - std::log(1 - hi));
        case s::linear: break;
    }
    return (v - lo) / (hi - lo);
}

std::string shortest(double value) {
    char buffer[64];
    const auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, value);
    return error == std::errc() ? std::string(buffer, end) : std::to_string(value);
}

std::size_t bucket(double u, std::size_t count) {
    return std::min(count - 1, static_cast<std::size_t>(std::max(0.0, u) * static_cast<double>(count)));
}

}  // namespace

parameter_space parameter_space::parse(const nlohmann::json& parameter_ranges) {
    parameter_space space;
    std::set<std::string> names;
    auto add = [&](parameter_range range) {
        if (!names.insert(range.name).second)
            throw validation_error("Hyperparameter '" + range.name + "' has more than one range.");
        space.ranges_.push_back(std::move(range));
    };
    for (const auto& [key, type] : {std::pair{"IntegerParameterRanges", dimension::kind::integer},
                                    std::pair{"ContinuousParameterRanges", dimension::kind::continuous},
                                    std::pair{"CategoricalParameterRanges", dimension::kind::categorical}}) {
        auto list = parameter_ranges.find(key);
        if (list == parameter_ranges.end()) continue;
        for (const auto& item : *list) {
            parameter_range range;
            range.type = type;
            range.name = item.at("Name").get<std::string>();
            if (type == dimension::kind::categorical) {
                range.values = item.at("Values").get<std::vector<std::string>>();
            } else {
                range.min = parse_bound(range.name, "MinValue", item.at("MinValue"));
                range.max = parse_bound(range.name, "MaxValue", item.at("MaxValue"));
                if (type == dimension::kind::integer &&
                    (range.min != std::floor(range.min) || range.max != std::floor(range.max)))
                    throw validation_error("Integer hyperparameter range '" + range.name + "' needs integer bounds.");
                if (range.min > range.max)
                    throw validation_error("Hyperparameter range '" + range.name + "' has MinValue greater than MaxValue.");
                range.scale = parse_scaling(range, item.value("ScalingType", "Auto"));
            }
            add(std::move(range));
        }
    }
    if (space.ranges_.size() > max_ranges)
        throw validation_error("A tuning job can tune at most 30 hyperparameters; this one has " +
                               std::to_string(space.ranges_.size()) + ".");
    for (const auto& r : space.ranges_) {
        dimension d{r.type, r.name, 0};
        if (r.type == dimension::kind::categorical) d.categories = r.values.size();
        if (r.type == dimension::kind::integer) d.categories = static_cast<std::size_t>(r.max - r.min + 1);
        space.dimensions_.push_back(d);
    }
    return space;
}

bool parameter_space::all_categorical() const {
    return std::all_of(ranges_.begin(), ranges_.end(),
                       [](const parameter_range& r) { return r.type == dimension::kind::categorical; });
}

std::size_t parameter_space::grid_size() const {
    std::size_t size = 1;
    for (const auto& r : ranges_) size *= std::max<std::size_t>(1, r.values.size());
    return size;
}

std::map<std::string, std::string> parameter_space::render(const std::vector<double>& point) const {
    std::map<std::string, std::string> out;
    for (std::size_t i = 0; i < ranges_.size(); ++i) {
        const parameter_range& r = ranges_[i];
        const double u = std::clamp(point.at(i), 0.0, 1.0);
        switch (r.type) {
            case dimension::kind::categorical: out[r.name] = r.values[bucket(u, r.values.size())]; break;
            case dimension::kind::integer: {
                // Each integer owns an equal slice of the scaled interval [min - 0.5, max + 0.5).
                const bool logarithmic = r.scale == parameter_range::scaling::logarithmic;
                const double lo = logarithmic ? r.min : r.min - 0.5;
                const double hi = logarithmic ? r.max : r.max + 0.5;
                const double value = std::clamp(std::round(scale(r, lo, hi, u)), r.min, r.max);
                out[r.name] = std::to_string(static_cast<long long>(value));
                break;
            }
            case dimension::kind::continuous: out[r.name] = shortest(std::clamp(scale(r, r.min, r.max, u), r.min, r.max)); break;
        }
    }
    return out;
}

std::optional<std::vector<double>> parameter_space::to_unit(const std::map<std::string, std::string>& values) const {
    std::vector<double> point;
    for (const auto& r : ranges_) {
        auto it = values.find(r.name);
        if (it == values.end()) return std::nullopt;
        if (r.type == dimension::kind::categorical) {
            auto at = std::find(r.values.begin(), r.values.end(), it->second);
            if (at == r.values.end()) return std::nullopt;
            point.push_back((static_cast<double>(at - r.values.begin()) + 0.5) / static_cast<double>(r.values.size()));
            continue;
        }
        double v = 0;
        const std::string& text = it->second;
        if (std::from_chars(text.data(), text.data() + text.size(), v).ec != std::errc() || v < r.min || v > r.max)
            return std::nullopt;
        const bool integer_linear = r.type == dimension::kind::integer && r.scale != parameter_range::scaling::logarithmic;
        point.push_back(std::clamp(unscale(r, integer_linear ? r.min - 0.5 : r.min, integer_linear ? r.max + 0.5 : r.max, v), 0.0, 1.0));
    }
    return point;
}

std::optional<std::vector<double>> random_strategy::propose(const std::vector<trial>&, random_engine& random) {
    std::uniform_real_distribution<double> uniform(0.0, 1.0);
    std::vector<double> point(dimensions_);
    for (auto& u : point) u = uniform(random);
    return point;
}

std::optional<std::vector<double>> grid_strategy::propose(const std::vector<trial>& history, random_engine&) {
    std::size_t index = history.size();
    std::size_t size = 1;
    for (const auto& d : dimensions_) size *= std::max<std::size_t>(1, d.categories);
    if (index >= size) return std::nullopt;
    // Mixed-radix digits of the launch index: the last range varies fastest.
    std::vector<double> point(dimensions_.size());
    for (std::size_t i = dimensions_.size(); i-- > 0;) {
        const std::size_t k = std::max<std::size_t>(1, dimensions_[i].categories);
        point[i] = (static_cast<double>(index % k) + 0.5) / static_cast<double>(k);
        index /= k;
    }
    return point;
}

}  // namespace smlocal::tuning
