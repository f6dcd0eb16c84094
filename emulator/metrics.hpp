#pragma once
// MetricDefinitions applied to log lines with RE2: user regexes run over untrusted output, so
// matching must be linear-time.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "emulator/training_job.hpp"

namespace re2 { class RE2; }

namespace smlocal {

class metric_extractor {
public:
    /// Compiles every regex. Throws service_error(ValidationException) naming the bad one.
    explicit metric_extractor(const std::vector<metric_definition>& definitions);
    ~metric_extractor();
    metric_extractor(metric_extractor&&) noexcept;

    /// The metric values one (escaped) log line yields: for each definition whose regex matches,
    /// the first capture group parsed as a number. Lines with a non-numeric capture yield nothing.
    std::vector<metric_point> extract(std::string_view line, double timestamp) const;

    bool empty() const { return compiled_.empty(); }

private:
    struct compiled_definition {
        std::string name;
        std::unique_ptr<re2::RE2> regex;
    };
    std::vector<compiled_definition> compiled_;
};

/// Folds a new point into the final values: the last value of a metric wins; order stays that of
/// first appearance.
void update_final_metrics(std::vector<metric_point>& finals, const metric_point& point);

}  // namespace smlocal
