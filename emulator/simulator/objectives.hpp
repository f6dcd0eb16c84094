#pragma once
// The test functions the training simulator optimises, with their known optima. Pure functions.
// They are the standard benchmark functions of the Bayesian-optimisation literature, so HPO
// strategies can be checked against known answers. Each is defined on all of R^n; the usual
// search boxes are given below, but no point is rejected.

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
    /// Throws std::invalid_argument when the point has the wrong number of coordinates.
    double (*evaluate)(const std::vector<double>& point) = nullptr;
};

/// The objective named by a `simulator/<name>[:tag]` image; nullopt when unknown. Takes the bare
/// name ("branin"); `objective_name_of_image` (simulator_runner.hpp) extracts it from an image.
std::optional<objective> find_objective(std::string_view name);

/// Names of every known objective, for error messages ("quadratic, branin, hartmann6").
std::vector<std::string> objective_names();

/// quadratic (x, y): (x-1)^2 + (y+2)^2, minimum 0 at (1,-2).
/// Throws std::invalid_argument unless the point has 2 coordinates.
double quadratic(const std::vector<double>& point);
/// Branin-Hoo (x1, x2), usually searched on x1 in [-5,10], x2 in [0,15]; minimum 0.397887357729738
/// at (-pi, 12.275), (pi, 2.275) and (9.42478, 2.475).
/// Throws std::invalid_argument unless the point has 2 coordinates.
double branin(const std::vector<double>& point);
/// Hartmann 6-D (x1..x6), usually searched on [0,1]^6; minimum -3.32236801141551 at
/// (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573).
/// Throws std::invalid_argument unless the point has 6 coordinates.
double hartmann6(const std::vector<double>& point);

}  // namespace smlocal::simulator
