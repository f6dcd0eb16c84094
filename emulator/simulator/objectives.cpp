#include "emulator/simulator/objectives.hpp"

#include <array>
#include <cmath>
#include <numbers>
#include <stdexcept>

namespace smlocal::simulator {
namespace {

void require_dimension(const std::vector<double>& point, std::size_t dimension, const char* name) {
    if (point.size() != dimension) {
        throw std::invalid_argument(std::string(name) + " takes " + std::to_string(dimension) +
                                    " coordinates, got " + std::to_string(point.size()));
    }
}

// One table drives both lookup and the list of names, so they cannot disagree.
const std::vector<objective>& objective_table() {
    static const std::vector<objective> table = {
        {"quadratic", {"x", "y"}, 0.0, &quadratic},
        {"branin", {"x1", "x2"}, 0.397887357729738, &branin},
        {"hartmann6", {"x1", "x2", "x3", "x4", "x5", "x6"}, -3.32236801141551, &hartmann6},
    };
    return table;
}

}  // namespace

std::optional<objective> find_objective(std::string_view name) {
    for (const auto& candidate : objective_table()) {
        if (candidate.name == name) return candidate;
    }
    return std::nullopt;
}

std::vector<std::string> objective_names() {
    std::vector<std::string> names;
    for (const auto& candidate : objective_table()) names.push_back(candidate.name);
    return names;
}

double quadratic(const std::vector<double>& point) {
    require_dimension(point, 2, "quadratic");
    const double dx = point[0] - 1.0;
    const double dy = point[1] + 2.0;
    return dx * dx + dy * dy;
}

double branin(const std::vector<double>& point) {
    require_dimension(point, 2, "branin");
    using std::numbers::pi;
    // The usual constants: a=1, b=5.1/(4 pi^2), c=5/pi, r=6, s=10, t=1/(8 pi).
    constexpr double a = 1.0;
    constexpr double b = 5.1 / (4.0 * pi * pi);
    constexpr double c = 5.0 / pi;
    constexpr double r = 6.0;
    constexpr double s = 10.0;
    constexpr double t = 1.0 / (8.0 * pi);
    const double x1 = point[0];
    const double x2 = point[1];
    const double inner = x2 - b * x1 * x1 + c * x1 - r;
    return a * inner * inner + s * (1.0 - t) * std::cos(x1) + s;
}

double hartmann6(const std::vector<double>& point) {
    require_dimension(point, 6, "hartmann6");
    // The published coefficients: weights alpha, exponent matrix A and centres P (times 1e-4).
    static constexpr std::array<double, 4> alpha = {1.0, 1.2, 3.0, 3.2};
    static constexpr std::array<std::array<double, 6>, 4> a = {{
        {10.0, 3.0, 17.0, 3.5, 1.7, 8.0},
        {0.05, 10.0, 17.0, 0.1, 8.0, 14.0},
        {3.0, 3.5, 1.7, 10.0, 17.0, 8.0},
        {17.0, 8.0, 0.05, 10.0, 0.1, 14.0},
    }};
    static constexpr std::array<std::array<double, 6>, 4> p = {{
        {1312, 1696, 5569, 124, 8283, 5886},
        {2329, 4135, 8307, 3736, 1004, 9991},
        {2348, 1451, 3522, 2883, 3047, 6650},
        {4047, 8828, 8732, 5743, 1091, 381},
    }};
    double sum = 0.0;
    for (std::size_t i = 0; i < alpha.size(); ++i) {
        double exponent = 0.0;
        for (std::size_t j = 0; j < 6; ++j) {
            const double d = point[j] - p[i][j] * 1e-4;
            exponent += a[i][j] * d * d;
        }
        sum += alpha[i] * std::exp(-exponent);
    }
    return -sum;
}

}  // namespace smlocal::simulator
