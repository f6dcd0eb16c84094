#include "emulator/simulator/objectives.hpp"

#include <doctest/doctest.h>

#include <numbers>
#include <stdexcept>

using namespace smlocal::simulator;

TEST_CASE("quadratic: minimum 0 at (1,-2) and known points") {
    CHECK(quadratic({1, -2}) == 0.0);
    CHECK(quadratic({0, 0}) == doctest::Approx(5.0));
    CHECK(quadratic({3, 1}) == doctest::Approx(13.0));
}

TEST_CASE("branin: the three global minima and known points") {
    using std::numbers::pi;
    const double minimum = 0.397887357729738;
    CHECK(branin({-pi, 12.275}) == doctest::Approx(minimum).epsilon(1e-12));
    CHECK(branin({pi, 2.275}) == doctest::Approx(minimum).epsilon(1e-12));
    CHECK(branin({9.42478, 2.475}) == doctest::Approx(minimum).epsilon(1e-9));
    CHECK(branin({0, 0}) == doctest::Approx(55.602112642270264).epsilon(1e-12));
    CHECK(branin({10, 15}) == doctest::Approx(145.87219087939556).epsilon(1e-12));
}

TEST_CASE("hartmann6: global minimum and known points") {
    const double at_minimum = hartmann6({0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573});
    CHECK(at_minimum == doctest::Approx(-3.32236801141551).epsilon(1e-9));
    CHECK(hartmann6({0, 0, 0, 0, 0, 0}) == doctest::Approx(-0.00508911288366444).epsilon(1e-12));
    CHECK(hartmann6({0.5, 0.5, 0.5, 0.5, 0.5, 0.5}) == doctest::Approx(-0.5053149917022333).epsilon(1e-12));
}

TEST_CASE("objectives reject points of the wrong dimension") {
    CHECK_THROWS_AS(quadratic({1}), std::invalid_argument);
    CHECK_THROWS_WITH_AS(branin({1, 2, 3}), "branin takes 2 coordinates, got 3", std::invalid_argument);
    CHECK_THROWS_AS(hartmann6({0, 0}), std::invalid_argument);
}

TEST_CASE("find_objective") {
    SUBCASE("known names carry parameters, optimum and evaluator") {
        const auto q = find_objective("quadratic");
        REQUIRE(q);
        CHECK(q->name == "quadratic");
        CHECK(q->parameters == std::vector<std::string>{"x", "y"});
        CHECK(q->optimum == 0.0);
        CHECK(q->evaluate({1, -2}) == 0.0);

        const auto b = find_objective("branin");
        REQUIRE(b);
        CHECK(b->parameters == std::vector<std::string>{"x1", "x2"});
        CHECK(b->optimum == doctest::Approx(0.397887357729738));
        CHECK(b->evaluate({std::numbers::pi, 2.275}) == doctest::Approx(b->optimum));

        const auto h = find_objective("hartmann6");
        REQUIRE(h);
        CHECK(h->parameters == std::vector<std::string>{"x1", "x2", "x3", "x4", "x5", "x6"});
        CHECK(h->optimum == doctest::Approx(-3.32236801141551));
    }
    SUBCASE("unknown or malformed names") {
        CHECK_FALSE(find_objective("rosenbrock"));
        CHECK_FALSE(find_objective(""));
        CHECK_FALSE(find_objective("quadratic:latest"));  // the runner strips tags first
        CHECK_FALSE(find_objective("Quadratic"));
    }
    SUBCASE("objective_names lists every objective") {
        CHECK(objective_names() == std::vector<std::string>{"quadratic", "branin", "hartmann6"});
    }
}
