#include "emulator/tuning/early_stopping.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string_view>
#include <system_error>

namespace smlocal::tuning {
namespace {

constexpr double infinity = std::numeric_limits<double>::infinity();

bool same_contents(const trial& a, const trial& b) {
    return a.running == b.running && a.objective == b.objective && a.point == b.point &&
           a.intermediate == b.intermediate;
}

/// The position of `running` in the history: by address, else by contents, else history.size()
/// (a trial about to be appended: everything in the history is then earlier).
std::size_t index_of(const trial& running, const std::vector<trial>& history) {
    for (std::size_t i = 0; i < history.size(); ++i) {
        if (&history[i] == &running) return i;
    }
    for (std::size_t i = 0; i < history.size(); ++i) {
        if (same_contents(history[i], running)) return i;
    }
    return history.size();
}

/// The smallest finite value among the first `count` values; +inf when there is none.
double best_of_first(const trial& t, std::size_t count) {
    double best = infinity;
    const std::size_t end = std::min(count, t.intermediate.size());
    for (std::size_t i = 0; i < end; ++i) {
        const double v = t.intermediate[i];
        if (std::isfinite(v) && v < best) best = v;
    }
    return best;
}

/// The mean of the finite values among the first `count` values; nullopt when there is none.
std::optional<double> mean_of_first(const trial& t, std::size_t count) {
    double sum = 0;
    std::size_t n = 0;
    const std::size_t end = std::min(count, t.intermediate.size());
    for (std::size_t i = 0; i < end; ++i) {
        const double v = t.intermediate[i];
        if (std::isfinite(v)) {
            sum += v;
            ++n;
        }
    }
    if (n == 0) return std::nullopt;
    return sum / static_cast<double>(n);
}

/// Median of a non-empty list (mean of the two middle values for an even count).
double median_of(std::vector<double> values) {
    const std::size_t mid = values.size() / 2;
    std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(mid), values.end());
    const double upper = values[mid];
    if (values.size() % 2 == 1) return upper;
    const double lower = *std::max_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(mid));
    return lower + (upper - lower) / 2;
}

std::optional<int> parse_positive_int(std::string_view text) {
    if (text.size() >= 2 && text.front() == '"' && text.back() == '"') {
        text = text.substr(1, text.size() - 2);
    }
    if (text.empty()) return std::nullopt;
    for (char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
    }
    int value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || value < 1) return std::nullopt;
    return value;
}

}  // namespace

std::optional<int> infer_max_resource(const std::map<std::string, std::string>& static_hyperparameters) {
    static constexpr std::string_view names[] = {"epochs", "numepochs", "n-epochs", "n_epochs", "num_epochs"};
    for (std::string_view name : names) {
        const auto found = static_hyperparameters.find(std::string(name));
        if (found != static_hyperparameters.end()) return parse_positive_int(found->second);
    }
    return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// hyperband_stopper

hyperband_stopper::hyperband_stopper(hyperband_options options) : options_(options) {
    if (options_.min_resource < 1) {
        throw std::invalid_argument("hyperband: min_resource must be >= 1, got " +
                                    std::to_string(options_.min_resource));
    }
    if (options_.max_resource < options_.min_resource) {
        throw std::invalid_argument("hyperband: max_resource (" + std::to_string(options_.max_resource) +
                                    ") must be >= min_resource (" + std::to_string(options_.min_resource) + ")");
    }
    if (options_.eta < 2) {
        throw std::invalid_argument("hyperband: eta must be >= 2, got " + std::to_string(options_.eta));
    }
    for (std::int64_t r = options_.min_resource; r < options_.max_resource; r *= options_.eta) {
        rungs_.push_back(static_cast<int>(r));
    }

    // Bracket shares: w_s = eta^-s (the same epochs at every bracket's first rung), laid out on
    // [0,1) from s = B-1 (never stopped) down to s = 0 (judged from the first rung).
    const std::size_t brackets = bracket_count();
    std::vector<double> weight(brackets);
    double total = 0;
    for (std::size_t s = 0; s < brackets; ++s) {
        weight[s] = std::pow(static_cast<double>(options_.eta), -static_cast<double>(s));
        total += weight[s];
    }
    bracket_upper_.assign(brackets, 0.0);
    double cumulative = 0;
    for (std::size_t s = brackets; s-- > 0;) {
        cumulative += weight[s] / total;
        bracket_upper_[s] = cumulative;
    }
    bracket_upper_[0] = 1.0;  // no rounding gap at the top
}

std::size_t hyperband_stopper::bracket_of(std::size_t index) const {
    constexpr double golden = 0.6180339887498948482;  // (sqrt(5) - 1) / 2
    const double product = static_cast<double>(index) * golden;
    const double u = product - std::floor(product);
    for (std::size_t s = bracket_count(); s-- > 0;) {
        if (u < bracket_upper_[s]) return s;
    }
    return 0;
}

std::optional<int> hyperband_stopper::first_rung_of(std::size_t bracket) const {
    if (bracket >= rungs_.size()) return std::nullopt;
    return rungs_[bracket];
}

bool hyperband_stopper::should_stop(const trial& running, const std::vector<trial>& history) const {
    if (!running.running) return false;
    const std::size_t m = running.intermediate.size();
    if (m < static_cast<std::size_t>(options_.min_resource) || m >= static_cast<std::size_t>(options_.max_resource)) {
        return false;
    }

    const std::size_t self = index_of(running, history);
    const std::size_t bracket = bracket_of(self);
    if (bracket >= rungs_.size()) return false;  // the never-stopped bracket

    // The highest rung reached; judged only if it belongs to the bracket.
    std::size_t k = 0;
    while (k + 1 < rungs_.size() && static_cast<std::size_t>(rungs_[k + 1]) <= m) ++k;
    if (k < bracket) return false;
    const auto rung = static_cast<std::size_t>(rungs_[k]);

    const double score = best_of_first(running, rung);
    std::size_t at_rung = 1;  // the job itself
    std::size_t better = 0;
    for (std::size_t i = 0; i < history.size(); ++i) {
        if (i == self) continue;
        const std::size_t values = history[i].intermediate.size();
        if (values < rung) continue;
        if (i > self && values < m) continue;  // launched later and behind: reached the rung after it
        ++at_rung;
        if (best_of_first(history[i], rung) < score) ++better;
    }
    const auto eta = static_cast<std::size_t>(options_.eta);
    if (at_rung < eta) return false;
    return better >= at_rung / eta;
}

// ---------------------------------------------------------------------------------------------
// median_stopper

median_stopper::median_stopper(median_options options) : options_(options) {
    if (options_.min_epochs < 1) {
        throw std::invalid_argument("median stopping: min_epochs must be >= 1, got " +
                                    std::to_string(options_.min_epochs));
    }
    if (options_.min_peers < 1) {
        throw std::invalid_argument("median stopping: min_peers must be >= 1, got " +
                                    std::to_string(options_.min_peers));
    }
    if (options_.expected_epochs < 0) {
        throw std::invalid_argument("median stopping: expected_epochs must be >= 0, got " +
                                    std::to_string(options_.expected_epochs));
    }
}

int median_stopper::first_epoch() const {
    // ceil(0.1 · expected) in integers.
    const auto tenth = static_cast<int>((static_cast<std::int64_t>(options_.expected_epochs) + 9) / 10);
    return std::max(options_.min_epochs, tenth);
}

bool median_stopper::should_stop(const trial& running, const std::vector<trial>& history) const {
    if (!running.running) return false;
    const std::size_t e = running.intermediate.size();
    if (e < static_cast<std::size_t>(first_epoch())) return false;
    if (options_.expected_epochs > 0 && e >= static_cast<std::size_t>(options_.expected_epochs)) return false;

    const double current = running.intermediate.back();
    if (!std::isfinite(current)) return false;

    const std::size_t self = index_of(running, history);
    std::vector<double> averages;
    for (std::size_t i = 0; i < history.size(); ++i) {
        if (i == self || history[i].intermediate.size() < e) continue;
        if (const auto average = mean_of_first(history[i], e)) averages.push_back(*average);
    }
    if (averages.size() < static_cast<std::size_t>(options_.min_peers)) return false;
    return current > median_of(std::move(averages));
}

}  // namespace smlocal::tuning
