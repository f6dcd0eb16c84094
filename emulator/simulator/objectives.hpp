#pragma once
// The test functions the training simulator optimises, with their known optima. Pure functions.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace smlocal::simulator {

struct objective {
    std::string name;                     // quadratic | branin | hartmann6
    std::vector<std::string> parameters;  // hyperparameter names it reads
    double optimum = 0;                   // global minimum value
    /// Evaluates at the given point (one value per parameter, in `parameters` order).
    double (*evaluate)(const std::vector<double>& point) = nullptr;
};

/// The objective named by a `simulator/<name>[:tag]` image; nullopt when unknown.
std::optional<objective> find_objective(std::string_view name);

/// quadratic: (x-1)^2 + (y+2)^2, minimum 0 at (1,-2).
double quadratic(const std::vector<double>& point);
/// Branin-Hoo on x1 in [-5,10], x2 in [0,15]; minimum 0.397887.
double branin(const std::vector<double>& point);
/// Hartmann 6-D on [0,1]^6; minimum -3.32237.
double hartmann6(const std::vector<double>& point);

}  // namespace smlocal::simulator
