#pragma once
// The seams of hyperparameter tuning: a search strategy proposes points, an early stopper decides
// which running children to stop. Both are pure: they see the history the tuner gives them and
// a seeded random generator, nothing else (spec/hpo.md §3, §7).

#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace smlocal::tuning {

/// One dimension of the search space, in the unit interval the strategies work in. The tuner's
/// parameter_space maps [0,1] to real values (applying Linear/Logarithmic/ReverseLogarithmic
/// scaling), so strategies never see the scaling.
struct dimension {
    enum class kind { continuous, integer, categorical };
    kind type = kind::continuous;
    std::string name;
    /// Categorical: the number of values; the value index is floor(u * categories) (clamped).
    /// Integer: the number of distinct integers in the range (for grid-like spacing).
    std::size_t categories = 0;
};

/// A child job as the strategies see it.
struct trial {
    std::vector<double> point;  // one coordinate in [0,1] per dimension
    /// The final objective, expressed so that SMALLER IS BETTER (the tuner negates it for
    /// Maximize). Empty while the job runs, or when it ended without a value.
    std::optional<double> objective;
    bool running = false;
    /// The objective values the job reported, in order (one per epoch for simulator-style
    /// training), smaller is better. The index is the resource spent (epoch - 1).
    std::vector<double> intermediate;
};

using random_engine = std::mt19937_64;

class strategy {
public:
    virtual ~strategy() = default;
    /// The next point to evaluate, given every trial so far (finished and running; running ones
    /// matter for parallel proposals). nullopt when the strategy has nothing left (Grid).
    virtual std::optional<std::vector<double>> propose(const std::vector<trial>& history, random_engine& random) = 0;
};

class early_stopper {
public:
    virtual ~early_stopper() = default;
    /// Whether `running` (one of `history`, still running) should be stopped now.
    virtual bool should_stop(const trial& running, const std::vector<trial>& history) const = 0;
};

}  // namespace smlocal::tuning
