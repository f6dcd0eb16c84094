#pragma once
// A tuning job's ranges: parsed from ParameterRanges, validated, and mapped between the unit
// hypercube the strategies search and the hyperparameter strings children get (spec/hpo.md §4).

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "emulator/tuning/strategy.hpp"

namespace smlocal::tuning {

struct parameter_range {
    enum class scaling { linear, logarithmic, reverse_logarithmic };
    dimension::kind type = dimension::kind::continuous;
    std::string name;
    double min = 0;
    double max = 0;
    scaling scale = scaling::linear;
    std::vector<std::string> values;  // categorical
};

class parameter_space {
public:
    /// Parses a ParameterRanges object. Throws service_error(ValidationException): unparsable or
    /// inverted bounds, duplicate names, Logarithmic over non-positive values, ReverseLogarithmic
    /// outside [0, 1) or on integers, more than 30 ranges.
    static parameter_space parse(const nlohmann::json& parameter_ranges);

    const std::vector<parameter_range>& ranges() const { return ranges_; }
    const std::vector<dimension>& dimensions() const { return dimensions_; }
    bool empty() const { return ranges_.empty(); }
    bool all_categorical() const;
    /// The number of points of the full grid (product of categorical sizes).
    std::size_t grid_size() const;

    /// The hyperparameter strings of a unit point: integers in decimal, continuous values as the
    /// shortest string that reads back the same double, categoricals verbatim.
    std::map<std::string, std::string> render(const std::vector<double>& point) const;
    /// The unit point of given values (warm start); nullopt when a value is missing or out of range.
    std::optional<std::vector<double>> to_unit(const std::map<std::string, std::string>& values) const;

private:
    std::vector<parameter_range> ranges_;
    std::vector<dimension> dimensions_;
};

/// Random search: every point uniform in the unit cube, independent of the history.
class random_strategy final : public strategy {
public:
    explicit random_strategy(std::size_t dimensions) : dimensions_(dimensions) {}
    std::optional<std::vector<double>> propose(const std::vector<trial>& history, random_engine& random) override;

private:
    std::size_t dimensions_;
};

/// Grid search over categorical ranges: the product of their values in declaration order, the
/// last range varying fastest; exhausted after grid_size points.
class grid_strategy final : public strategy {
public:
    explicit grid_strategy(const std::vector<dimension>& dimensions) : dimensions_(dimensions) {}
    std::optional<std::vector<double>> propose(const std::vector<trial>& history, random_engine& random) override;

private:
    std::vector<dimension> dimensions_;
};

}  // namespace smlocal::tuning
