#include "emulator/simulator/simulator_runner.hpp"

#include <bit>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <numbers>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "emulator/simulator/objectives.hpp"

namespace smlocal::simulator {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr std::string_view image_prefix = "simulator/";
constexpr std::int64_t max_epochs = 1'000'000;
constexpr int exit_failure = 1;
constexpr int exit_bad_hyperparameters = 2;

// ---- deterministic randomness ----------------------------------------------------------------
// Our own generator, so that values never depend on the standard library's distributions.

std::uint64_t mix64(std::uint64_t z) {
    // The splitmix64 finaliser: a bijective avalanche over 64 bits.
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

class splitmix64 {
public:
    explicit splitmix64(std::uint64_t seed) : state_(seed) {}

    std::uint64_t next() {
        state_ += 0x9e3779b97f4a7c15ULL;
        return mix64(state_);
    }

    /// Uniform in [0, 1) with 53 random bits.
    double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

    /// Standard normal by Box-Muller; 1 - uniform() lies in (0, 1], so the log is finite.
    double normal() {
        const double u1 = 1.0 - uniform();
        const double u2 = uniform();
        return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
    }

private:
    std::uint64_t state_;
};

/// A hash of the parameter values; -0.0 and 0.0 hash alike since they are the same point.
std::uint64_t hash_point(const std::vector<double>& point) {
    std::uint64_t h = 0x5349'4d55'4c41'544fULL;  // arbitrary start ("SIMULATO")
    for (double value : point) {
        const double canonical = value == 0.0 ? 0.0 : value;
        h = mix64(h ^ std::bit_cast<std::uint64_t>(canonical));
    }
    return h;
}

// ---- hyperparameter parsing ------------------------------------------------------------------

std::string format_number(double value) {
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%.10g", value);
    return buffer;
}

std::string_view trim(std::string_view text) {
    const auto first = text.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos) return {};
    const auto last = text.find_last_not_of(" \t\r\n");
    return text.substr(first, last - first + 1);
}

/// The value as the training code sees it: script-mode clients JSON-encode every value, so
/// "\"1.5\"" means 1.5; anything that is not a JSON string is taken as is.
std::string unquote(std::string_view raw) {
    const std::string_view text = trim(raw);
    if (text.size() >= 2 && text.front() == '"' && text.back() == '"') {
        const json parsed = json::parse(text, nullptr, /*allow_exceptions=*/false);
        if (parsed.is_string()) return std::string(trim(parsed.get_ref<const std::string&>()));
    }
    return std::string(text);
}

/// A finite number written in full ("1.5", "-2", "1e-3", "+4"); nullopt otherwise.
std::optional<double> parse_number(std::string_view raw) {
    std::string text = unquote(raw);
    // from_chars rejects a leading '+', which people do write.
    std::string_view digits = text;
    if (digits.size() > 1 && digits.front() == '+' && digits[1] != '-') digits.remove_prefix(1);
    double value = 0;
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (error != std::errc{} || end != digits.data() + digits.size() || !std::isfinite(value)) {
        return std::nullopt;
    }
    return value;
}

/// An integer ("4", and "4.0" as some tuners write integral values); nullopt otherwise.
std::optional<std::int64_t> parse_integer(std::string_view raw) {
    std::string text = unquote(raw);
    std::string_view digits = text;
    if (digits.size() > 1 && digits.front() == '+' && digits[1] != '-') digits.remove_prefix(1);
    std::int64_t value = 0;
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (error == std::errc{} && end == digits.data() + digits.size()) return value;
    // 2^53 bounds the integers a double holds exactly.
    const auto number = parse_number(raw);
    if (number && std::trunc(*number) == *number && std::fabs(*number) <= 9007199254740992.0) {
        return static_cast<std::int64_t>(*number);
    }
    return std::nullopt;
}

/// Echoes a bad value in an error message without letting it swamp the FailureReason.
std::string echo_value(std::string_view raw) {
    constexpr std::size_t limit = 64;
    if (raw.size() <= limit) return "'" + std::string(raw) + "'";
    return "'" + std::string(raw.substr(0, limit)) + "...'";
}

/// The simulator's own switches.
struct settings {
    std::int64_t epochs = 10;
    double sim_seconds = 2;
    std::optional<std::int64_t> fail_at_epoch;
    std::int64_t seed = 0;
    double noise = 0;
};

/// Reads hyperparameters, collecting every problem so one failed run reports them all.
class hyperparameter_reader {
public:
    explicit hyperparameter_reader(const std::map<std::string, std::string>& values) : values_(values) {}

    settings read_settings() {
        settings result;
        if (auto raw = find("epochs")) {
            auto epochs = parse_integer(*raw);
            if (epochs && *epochs >= 1 && *epochs <= max_epochs) {
                result.epochs = *epochs;
            } else {
                errors_.push_back("hyperparameter 'epochs' must be an integer from 1 to " +
                                  std::to_string(max_epochs) + ", got " + echo_value(*raw));
            }
        }
        if (auto raw = find("sim_seconds")) {
            auto seconds = parse_number(*raw);
            if (seconds && *seconds >= 0) {
                result.sim_seconds = *seconds;
            } else {
                errors_.push_back("hyperparameter 'sim_seconds' must be a number >= 0, got " + echo_value(*raw));
            }
        }
        if (auto raw = find("fail_at_epoch")) {
            if (auto epoch = parse_integer(*raw)) {
                result.fail_at_epoch = *epoch;
            } else {
                errors_.push_back("hyperparameter 'fail_at_epoch' must be an integer, got " + echo_value(*raw));
            }
        }
        if (auto raw = find("seed")) {
            if (auto seed = parse_integer(*raw)) {
                result.seed = *seed;
            } else {
                errors_.push_back("hyperparameter 'seed' must be an integer, got " + echo_value(*raw));
            }
        }
        if (auto raw = find("noise")) {
            auto noise = parse_number(*raw);
            if (noise && *noise >= 0) {
                result.noise = *noise;
            } else {
                errors_.push_back("hyperparameter 'noise' must be a number >= 0, got " + echo_value(*raw));
            }
        }
        return result;
    }

    /// The objective's coordinates, in parameter order (meaningless when errors() is non-empty).
    std::vector<double> read_point(const objective& target) {
        std::vector<double> point;
        for (const auto& name : target.parameters) {
            const auto raw = find(name);
            if (!raw) {
                errors_.push_back("hyperparameter '" + name + "' is required by simulator/" + target.name);
                point.push_back(0);
            } else if (auto value = parse_number(*raw)) {
                point.push_back(*value);
            } else {
                errors_.push_back("hyperparameter '" + name + "' of simulator/" + target.name +
                                  " must be a number, got " + echo_value(*raw));
                point.push_back(0);
            }
        }
        return point;
    }

    const std::vector<std::string>& errors() const { return errors_; }

private:
    std::optional<std::string> find(const std::string& name) const {
        const auto it = values_.find(name);
        if (it == values_.end()) return std::nullopt;
        return it->second;
    }

    const std::map<std::string, std::string>& values_;
    std::vector<std::string> errors_;
};

std::string join(const std::vector<std::string>& parts, std::string_view separator) {
    std::string result;
    for (const auto& part : parts) {
        if (!result.empty()) result += separator;
        result += part;
    }
    return result;
}

// ---- one run -----------------------------------------------------------------------------------

/// What differs between objective mode and generic mode; the epoch loop is shared.
struct curve {
    std::string header;                            // first line on algo-1
    std::function<std::string(std::int64_t)> line;  // the line of epoch e (called in order)
    std::string final_metric;                      // "validation:loss" or "train:loss"
    std::function<double(std::int64_t)> final_value;  // the metric of epoch e, once printed
    std::function<json(std::int64_t)> model;       // model.json after e completed epochs
};

/// One run of the simulated job: the hosts, the clock and the stop request.
class simulation {
public:
    simulation(const run_request& request, run_observer& observer, clock& time_source, std::stop_token stop)
        : request_(request), observer_(observer), clock_(time_source), stop_(std::move(stop)),
          leader_(request.hosts.front()) {}

    /// The container's own start-up check: every channel must have data at its source.
    std::optional<run_result> check_channels() {
        for (const auto& channel : request_.channels) {
            std::error_code error;
            if (!fs::exists(channel.source, error)) {
                return fail("input channel '" + channel.spec.name + "' has no data at " + channel.source.string(),
                            exit_failure);
            }
        }
        return std::nullopt;
    }

    /// Writes the reason where the manager reads it (algo-1's failure file) and exits.
    run_result fail(const std::string& reason, int exit_code) {
        emit(leader_.host, "simulator: " + reason);
        std::error_code error;
        fs::create_directories(leader_.failure_file().parent_path(), error);
        std::ofstream out(leader_.failure_file(), std::ios::binary | std::ios::trunc);
        out << reason;
        return {run_result::outcome::exited, exit_code, leader_.host, {}};
    }

    /// The epoch loop shared by both modes.
    run_result train(const settings& config, const curve& shape) {
        emit(leader_.host, shape.header);
        for_followers([&](const std::string& host) { emit(host, "simulator: " + host + " waiting for algo-1"); });

        const double per_epoch = config.sim_seconds / static_cast<double>(config.epochs);
        std::int64_t completed = 0;
        for (std::int64_t epoch = 1; epoch <= config.epochs; ++epoch) {
            // The wall clock's sleep_for may report success after a stop, so ask the token too.
            if (stop_.stop_requested() || !clock_.sleep_for(per_epoch, stop_) || stop_.stop_requested()) {
                emit(leader_.host, "simulator: received SIGTERM, saving model");
                return finish(shape.model(completed));
            }
            if (config.fail_at_epoch == epoch) {
                return fail("simulated failure at epoch " + std::to_string(epoch), exit_failure);
            }
            emit(leader_.host, shape.line(epoch));
            completed = epoch;
        }
        emit(leader_.host, "simulator: done final " + shape.final_metric + "=" +
                               format_number(shape.final_value(completed)));
        return finish(shape.model(completed));
    }

private:
    run_result finish(const json& model) {
        const fs::path path = leader_.model_dir() / "model.json";
        std::error_code error;
        fs::create_directories(path.parent_path(), error);
        std::ofstream out(path, std::ios::binary | std::ios::trunc);
        out << model.dump(2) << '\n';
        out.close();
        if (!out) return fail("cannot write " + path.string(), exit_failure);
        for_followers([&](const std::string& host) { emit(host, "simulator: " + host + " done"); });
        return {run_result::outcome::exited, 0, {}, {}};
    }

    template <typename Action>
    void for_followers(Action action) {
        for (std::size_t i = 1; i < request_.hosts.size(); ++i) action(request_.hosts[i].host);
    }

    void emit(const std::string& host, const std::string& line) { observer_.on_log(host, line); }

    const run_request& request_;
    run_observer& observer_;
    clock& clock_;
    std::stop_token stop_;
    const host_workspace& leader_;
};

/// The learning curve of one objective at one point (formula in the header).
class objective_curve {
public:
    objective_curve(const objective& target, std::vector<double> point, const settings& config)
        : point_(std::move(point)), true_value_(target.evaluate(point_)), epochs_(config.epochs),
          noise_(config.noise), random_(mix64(hash_point(point_) ^ mix64(static_cast<std::uint64_t>(config.seed)))) {
        const double hash_unit = static_cast<double>(hash_point(point_) >> 11) * 0x1.0p-53;
        amplitude_ = 1.0 + 0.5 * std::fabs(true_value_ - target.optimum) + 0.5 * hash_unit;
    }

    /// False when the point lies so far out that the curve would overflow.
    bool finite() const { return std::isfinite(true_value_) && std::isfinite(true_value_ + amplitude_); }

    /// Advances to epoch e (called once per epoch, in order) and returns its validation value.
    double advance(std::int64_t epoch) {
        const double noise = noise_ > 0 ? noise_ * random_.normal() : 0.0;
        validation_ = true_value_ + amplitude_ * std::pow(remaining(epoch), 1.5) + noise;
        return validation_;
    }

    /// Advances to epoch e (called once per epoch, in order) and returns its line.
    std::string line(std::int64_t epoch) {
        advance(epoch);
        const double train = validation_ - 0.1 * remaining(epoch) * amplitude_;
        return "epoch=" + std::to_string(epoch) + " train:loss=" + format_number(train) +
               " validation:loss=" + format_number(validation_);
    }

    double last_validation() const { return validation_; }
    const std::vector<double>& point() const { return point_; }

private:
    double remaining(std::int64_t epoch) const {
        return 1.0 - static_cast<double>(epoch) / static_cast<double>(epochs_);
    }

    std::vector<double> point_;
    double true_value_;
    double amplitude_ = 1.0;
    std::int64_t epochs_;
    double noise_;
    splitmix64 random_;
    double validation_ = 0;
};

run_result not_started(std::string message) {
    return {run_result::outcome::not_started, 0, {}, std::move(message)};
}

}  // namespace

double learning_curve_value(const objective& target, const std::vector<double>& point, std::int64_t epoch,
                            std::int64_t epochs, std::int64_t seed, double noise) {
    if (epochs < 1 || epoch < 1 || epoch > epochs) {
        throw std::invalid_argument("learning_curve_value: epoch " + std::to_string(epoch) + " is not in 1.." +
                                    std::to_string(epochs));
    }
    if (!(noise >= 0)) throw std::invalid_argument("learning_curve_value: noise must be >= 0");
    settings config;
    config.epochs = epochs;
    config.seed = seed;
    config.noise = noise;
    objective_curve values(target, point, config);  // throws on a wrong number of coordinates
    // Without noise nothing is drawn, so only the requested epoch needs computing.
    for (std::int64_t e = noise > 0 ? 1 : epoch; e < epoch; ++e) values.advance(e);
    return values.advance(epoch);
}

bool is_simulator_image(std::string_view image) {
    return image.size() > image_prefix.size() && image.starts_with(image_prefix);
}

std::string_view objective_name_of_image(std::string_view image) {
    if (!is_simulator_image(image)) return {};
    std::string_view name = image.substr(image_prefix.size());
    // A digest comes last (`name:tag@sha256:...`); a tag follows the last '/' (none here).
    if (const auto at = name.find('@'); at != std::string_view::npos) name = name.substr(0, at);
    const auto slash = name.rfind('/');
    const auto colon = name.rfind(':');
    if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
        name = name.substr(0, colon);
    }
    return name;
}

run_result simulator_runner::run(const run_request& request, run_observer& observer, std::stop_token stop) {
    if (request.spec == nullptr) return not_started("the simulator was given no job definition");
    if (request.hosts.empty()) return not_started("the simulator was given no hosts to run");
    const std::string& image = request.spec->training_image;

    // An unknown objective is like an image that does not exist: nothing could start.
    std::optional<objective> target;
    if (is_simulator_image(image)) {
        target = find_objective(objective_name_of_image(image));
        if (!target) {
            return not_started("The simulator has no objective named '" + std::string(objective_name_of_image(image)) +
                               "' (image " + image + "); known objectives: " + join(objective_names(), ", "));
        }
    }

    simulation job(request, observer, clock_, std::move(stop));
    if (auto failed = job.check_channels()) return *failed;

    hyperparameter_reader reader(request.spec->hyperparameters);
    const settings config = reader.read_settings();

    if (!target) {
        // Generic mode: a fixed 1/e curve stands in for whatever the real image would train.
        if (!reader.errors().empty()) return job.fail(join(reader.errors(), "; "), exit_bad_hyperparameters);
        const auto value_at = [](std::int64_t epoch) { return 1.0 / static_cast<double>(epoch); };
        curve shape{
            "simulator: --simulate-all runs " + image + " in process",
            [&](std::int64_t epoch) {
                return "epoch=" + std::to_string(epoch) + " train:loss=" + format_number(value_at(epoch));
            },
            "train:loss",
            value_at,
            [&](std::int64_t completed) {
                return json{{"image", image},
                            {"simulated", true},
                            {"hyperparameters", request.spec->hyperparameters},
                            {"epochs_completed", completed}};
            },
        };
        return job.train(config, shape);
    }

    std::vector<double> point = reader.read_point(*target);
    if (!reader.errors().empty()) return job.fail(join(reader.errors(), "; "), exit_bad_hyperparameters);

    objective_curve values(*target, std::move(point), config);
    if (!values.finite()) {
        std::vector<std::string> coordinates;
        for (std::size_t i = 0; i < target->parameters.size(); ++i) {
            coordinates.push_back(target->parameters[i] + "=" + format_number(values.point()[i]));
        }
        return job.fail("simulator/" + target->name + " is not finite at " + join(coordinates, ", "),
                        exit_bad_hyperparameters);
    }

    curve shape{
        "simulator: objective=" + target->name + " epochs=" + std::to_string(config.epochs) +
            " seed=" + std::to_string(config.seed),
        [&](std::int64_t epoch) { return values.line(epoch); },
        "validation:loss",
        [&](std::int64_t) { return values.last_validation(); },
        [&](std::int64_t completed) {
            json parameters = json::object();
            for (std::size_t i = 0; i < target->parameters.size(); ++i) {
                parameters[target->parameters[i]] = values.point()[i];
            }
            json final_metrics = json::object();
            if (completed > 0) final_metrics["validation:loss"] = values.last_validation();
            return json{{"objective", target->name},
                        {"hyperparameters", parameters},
                        {"epochs_completed", completed},
                        {"final", final_metrics}};
        },
    };
    return job.train(config, shape);
}

}  // namespace smlocal::simulator
