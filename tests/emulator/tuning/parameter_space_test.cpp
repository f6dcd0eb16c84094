#include "emulator/tuning/parameter_space.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <set>

#include "emulator/errors.hpp"

using namespace smlocal;
using namespace smlocal::tuning;
using json = nlohmann::json;

namespace {

parameter_space space_of(const char* text) { return parameter_space::parse(json::parse(text)); }

double number(const std::string& text) { return std::stod(text); }

}  // namespace

TEST_CASE("linear, logarithmic and reverse-logarithmic scaling map the unit interval onto the range") {
    auto space = space_of(R"({"ContinuousParameterRanges": [
        {"Name": "lin", "MinValue": "-1", "MaxValue": "3", "ScalingType": "Linear"},
        {"Name": "log", "MinValue": "0.001", "MaxValue": "10", "ScalingType": "Logarithmic"},
        {"Name": "rev", "MinValue": "0.9", "MaxValue": "0.999", "ScalingType": "ReverseLogarithmic"}]})");
    auto low = space.render({0, 0, 0});
    auto mid = space.render({0.5, 0.5, 0.5});
    auto high = space.render({1, 1, 1});
    CHECK(number(low["lin"]) == -1);
    CHECK(number(mid["lin"]) == 1);
    CHECK(number(high["log"]) == doctest::Approx(10));
    CHECK(number(mid["log"]) == doctest::Approx(0.1));  // geometric midpoint
    CHECK(number(low["rev"]) == doctest::Approx(0.9));
    CHECK(number(high["rev"]) == doctest::Approx(0.999));
    CHECK(number(mid["rev"]) == doctest::Approx(1 - std::sqrt(0.1 * 0.001)));  // dense near 1
}

TEST_CASE("Auto is logarithmic for positive ranges over two orders of magnitude") {
    auto space = space_of(R"({"ContinuousParameterRanges": [
        {"Name": "wide", "MinValue": "0.01", "MaxValue": "1", "ScalingType": "Auto"},
        {"Name": "narrow", "MinValue": "1", "MaxValue": "2"}]})");
    CHECK(space.ranges()[0].scale == parameter_range::scaling::logarithmic);
    CHECK(space.ranges()[1].scale == parameter_range::scaling::linear);
}

TEST_CASE("integers give every value an equal share and render in decimal") {
    auto space = space_of(R"({"IntegerParameterRanges": [{"Name": "n", "MinValue": "1", "MaxValue": "4"}]})");
    std::multiset<std::string> seen;
    for (int i = 0; i < 400; ++i) seen.insert(space.render({(i + 0.5) / 400})["n"]);
    for (const char* v : {"1", "2", "3", "4"}) CHECK(seen.count(v) == 100);
}

TEST_CASE("continuous values are the shortest round-trip strings") {
    auto space = space_of(R"({"ContinuousParameterRanges": [{"Name": "x", "MinValue": "0", "MaxValue": "1", "ScalingType": "Linear"}]})");
    CHECK(space.render({0.25})["x"] == "0.25");
    const std::string third = space.render({1.0 / 3})["x"];
    CHECK(std::stod(third) == 1.0 / 3);
}

TEST_CASE("categoricals map buckets to values and back") {
    auto space = space_of(R"({"CategoricalParameterRanges": [{"Name": "opt", "Values": ["sgd", "adam", "\"256\""]}]})");
    CHECK(space.render({0.1})["opt"] == "sgd");
    CHECK(space.render({0.99})["opt"] == "\"256\"");  // verbatim, never re-quoted
    auto back = space.to_unit({{"opt", "adam"}});
    REQUIRE(back);
    CHECK(space.render(*back)["opt"] == "adam");
    CHECK_FALSE(space.to_unit({{"opt", "rmsprop"}}));
    CHECK(space.all_categorical());
    CHECK(space.grid_size() == 3);
}

TEST_CASE("to_unit inverts render for numeric ranges") {
    auto space = space_of(R"({"ContinuousParameterRanges": [{"Name": "lr", "MinValue": "0.0001", "MaxValue": "0.1", "ScalingType": "Logarithmic"}],
                              "IntegerParameterRanges": [{"Name": "k", "MinValue": "2", "MaxValue": "9", "ScalingType": "Linear"}]})");
    auto values = space.render({0.3, 0.6});
    auto point = space.to_unit(values);
    REQUIRE(point);
    CHECK(space.render(*point) == values);
}

TEST_CASE("invalid ranges are ValidationExceptions") {
    CHECK_THROWS_AS(space_of(R"({"ContinuousParameterRanges": [{"Name": "x", "MinValue": "2", "MaxValue": "1"}]})"), service_error);
    CHECK_THROWS_AS(space_of(R"({"ContinuousParameterRanges": [{"Name": "x", "MinValue": "abc", "MaxValue": "1"}]})"), service_error);
    CHECK_THROWS_AS(space_of(R"({"ContinuousParameterRanges": [{"Name": "x", "MinValue": "0", "MaxValue": "1", "ScalingType": "Logarithmic"}]})"), service_error);
    CHECK_THROWS_AS(space_of(R"({"IntegerParameterRanges": [{"Name": "x", "MinValue": "0", "MaxValue": "1", "ScalingType": "ReverseLogarithmic"}]})"), service_error);
    CHECK_THROWS_AS(space_of(R"({"IntegerParameterRanges": [{"Name": "x", "MinValue": "0.5", "MaxValue": "3"}]})"), service_error);
    CHECK_THROWS_WITH_AS(space_of(R"({"IntegerParameterRanges": [{"Name": "x", "MinValue": "0", "MaxValue": "3"}],
                                      "CategoricalParameterRanges": [{"Name": "x", "Values": ["a"]}]})"),
                         "Hyperparameter 'x' has more than one range.", service_error);
}

TEST_CASE("grid search enumerates every combination once, last range fastest") {
    auto space = space_of(R"({"CategoricalParameterRanges": [{"Name": "a", "Values": ["1", "2"]}, {"Name": "b", "Values": ["x", "y", "z"]}]})");
    grid_strategy grid(space.dimensions());
    random_engine random(7);
    std::vector<trial> history;
    std::vector<std::string> order;
    while (auto point = grid.propose(history, random)) {
        auto values = space.render(*point);
        order.push_back(values["a"] + values["b"]);
        history.push_back({*point, std::nullopt, true, {}});
    }
    CHECK(order == std::vector<std::string>{"1x", "1y", "1z", "2x", "2y", "2z"});
}

TEST_CASE("random search is uniform and seeded") {
    random_strategy strategy(2);
    random_engine a(42), b(42);
    auto p = strategy.propose({}, a);
    auto q = strategy.propose({}, b);
    REQUIRE(p);
    CHECK(*p == *q);
    double sum = 0;
    for (int i = 0; i < 2000; ++i) sum += (*strategy.propose({}, a))[0];
    CHECK(sum / 2000 == doctest::Approx(0.5).epsilon(0.05));
}
