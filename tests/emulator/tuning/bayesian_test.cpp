#include "emulator/tuning/bayesian.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <vector>

using namespace smlocal::tuning;

namespace {

// Reference numbers below were computed with numpy 1.24 (and mpmath for the EI tail) from the
// textbook formulas, independently of this implementation: K = k(X,X) + noise I,
// mean = k*^T K^-1 y, variance = k(x,x) - k*^T K^-1 k*, lml = -y^T K^-1 y / 2 - log|L| - n/2 log 2pi.

double unit(random_engine& random) { return static_cast<double>(random() >> 11) * 0x1.0p-53; }

double branin_unit(const std::vector<double>& u) {
    using std::numbers::pi;
    const double x1 = -5.0 + 15.0 * u[0];
    const double x2 = 15.0 * u[1];
    const double b = 5.1 / (4.0 * pi * pi);
    const double c = 5.0 / pi;
    const double t = 1.0 / (8.0 * pi);
    const double inner = x2 - b * x1 * x1 + c * x1 - 6.0;
    return inner * inner + 10.0 * (1.0 - t) * std::cos(x1) + 10.0;
}
constexpr double branin_minimum = 0.397887357729738;

dimension continuous(const char* name) { return {dimension::kind::continuous, name, 0}; }
dimension integer(const char* name, std::size_t values) { return {dimension::kind::integer, name, values}; }
dimension categorical(const char* name, std::size_t values) { return {dimension::kind::categorical, name, values}; }

trial finished(std::vector<double> point, double objective) {
    trial t;
    t.point = std::move(point);
    t.objective = objective;
    return t;
}
trial running(std::vector<double> point) {
    trial t;
    t.point = std::move(point);
    t.running = true;
    return t;
}

double distance(const std::vector<double>& a, const std::vector<double>& b) {
    double s = 0;
    for (std::size_t i = 0; i < a.size(); ++i) s += (a[i] - b[i]) * (a[i] - b[i]);
    return std::sqrt(s);
}

bool in_unit_cube(const std::vector<double>& p) {
    return std::all_of(p.begin(), p.end(), [](double v) { return std::isfinite(v) && v >= 0.0 && v <= 1.0; });
}

// Runs `budget` sequential evaluations; returns the best objective seen.
template <class Objective>
double optimise(strategy& s, const Objective& f, std::size_t budget, std::uint64_t seed) {
    random_engine random(seed);
    std::vector<trial> history;
    double best = std::numeric_limits<double>::infinity();
    for (std::size_t i = 0; i < budget; ++i) {
        const auto point = s.propose(history, random);
        REQUIRE(point);
        REQUIRE(in_unit_cube(*point));
        const double value = f(*point);
        best = std::min(best, value);
        history.push_back(finished(*point, value));
    }
    return best;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

// The smooth test function of the fitting tests.
double smooth(const std::vector<double>& p) { return std::sin(3.0 * p[0]) + std::cos(2.0 * p[1]) + p[0] * p[1]; }

std::vector<std::vector<double>> random_points(std::size_t n, std::size_t d, std::uint64_t seed) {
    random_engine random(seed);
    std::vector<std::vector<double>> points(n, std::vector<double>(d));
    for (auto& p : points) {
        for (auto& v : p) v = unit(random);
    }
    return points;
}

std::vector<double> standardised(std::vector<double> y) {
    double mean = 0;
    for (double v : y) mean += v;
    mean /= static_cast<double>(y.size());
    double var = 0;
    for (double v : y) var += (v - mean) * (v - mean);
    const double sd = std::sqrt(var / static_cast<double>(y.size()));
    for (double& v : y) v = (v - mean) / sd;
    return y;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Kernel

TEST_CASE("matern52: r = 0 gives the variance, known distances give the closed form") {
    CHECK(matern52({0.3, 0.7}, {0.3, 0.7}, {0.5, 2.0}, 2.5) == doctest::Approx(2.5).epsilon(1e-15));
    // r = 0.5: (1 + sqrt5/2 + 5/12) exp(-sqrt5/2)
    CHECK(matern52({0, 0}, {0.3, 0.4}, {1, 1}, 1.0) == doctest::Approx(0.8286491424181252).epsilon(1e-13));
    // ARD: r^2 = (1/2)^2 + (2/4)^2
    CHECK(matern52({1, 2}, {2, 4}, {2, 4}, 2.5) == doctest::Approx(1.756239400384508).epsilon(1e-13));
    // r = 2: 0.7 * (1 + 2 sqrt5 + 20/3) exp(-2 sqrt5)
    CHECK(matern52({0}, {1}, {0.5}, 0.7) == doctest::Approx(0.09706215339695297).epsilon(1e-13));
    // symmetric, decreasing in distance
    CHECK(matern52({0.1}, {0.6}, {0.3}, 1.0) == matern52({0.6}, {0.1}, {0.3}, 1.0));
    CHECK(matern52({0.0}, {0.2}, {0.3}, 1.0) > matern52({0.0}, {0.3}, {0.3}, 1.0));
    CHECK_THROWS_AS(matern52({0, 0}, {0}, {1, 1}, 1.0), std::invalid_argument);
}

// ---------------------------------------------------------------------------------------------
// Gaussian process

TEST_CASE("gaussian_process: posterior mean, variance and log marginal likelihood match numpy (1-D)") {
    gaussian_process gp;
    REQUIRE(gp.fit({{0.1}, {0.4}, {0.9}}, {1.0, -0.5, 0.3}, {{0.3}, 1.5, 0.01}));
    CHECK(gp.jitter() == 0.0);
    const auto a = gp.predict({0.25});
    CHECK(a.mean == doctest::Approx(0.24804731213946518).epsilon(1e-10));
    CHECK(a.variance == doctest::Approx(0.15159178332885093).epsilon(1e-10));
    const auto b = gp.predict({0.7});
    CHECK(b.mean == doctest::Approx(-0.1568328193055743).epsilon(1e-10));
    CHECK(b.variance == doctest::Approx(0.4894588229230439).epsilon(1e-10));
    const auto c = gp.predict({0.4});  // at an observation: shrunk towards it by the noise
    CHECK(c.mean == doctest::Approx(-0.4897159628928282).epsilon(1e-10));
    CHECK(c.variance == doctest::Approx(0.009903949802678058).epsilon(1e-9));
    CHECK(gp.log_marginal_likelihood() == doctest::Approx(-4.090659163724026).epsilon(1e-12));
}

TEST_CASE("gaussian_process: 2-D ARD posterior matches numpy; far away it returns to the prior") {
    gaussian_process gp;
    REQUIRE(gp.fit({{0.1, 0.2}, {0.5, 0.9}, {0.8, 0.3}}, {0.5, -1.2, 2.0}, {{0.4, 0.7}, 0.8, 1e-4}));
    const auto a = gp.predict({0.3, 0.5});
    CHECK(a.mean == doctest::Approx(-0.15892559888957125).epsilon(1e-10));
    CHECK(a.variance == doctest::Approx(0.19840892605576355).epsilon(1e-10));
    const auto far = gp.predict({2.0, 2.0});
    CHECK(far.mean == doctest::Approx(0.007395272299381549).epsilon(1e-9));
    CHECK(far.variance == doctest::Approx(0.7999660121686334).epsilon(1e-10));
    CHECK(gp.log_marginal_likelihood() == doctest::Approx(-8.524296461523782).epsilon(1e-12));
}

TEST_CASE("gaussian_process: with small noise the posterior interpolates the observations") {
    const auto x = random_points(12, 2, 5);
    std::vector<double> y;
    for (const auto& p : x) y.push_back(smooth(p));
    gaussian_process gp;
    REQUIRE(gp.fit(x, y, {{0.4, 0.4}, 1.0, 1e-6}));
    for (std::size_t i = 0; i < x.size(); ++i) {
        const auto p = gp.predict(x[i]);
        CHECK(p.mean == doctest::Approx(y[i]).epsilon(1e-4));
        CHECK(p.variance >= 0.0);
        CHECK(p.variance < 1e-5);
    }
    // Between observations the variance is larger.
    CHECK(gp.predict({0.5, 0.5}).variance > 1e-4);
}

TEST_CASE("gaussian_process: duplicate inputs factorise (noise floor / jitter), bad input is refused") {
    gaussian_process gp;
    REQUIRE(gp.fit({{0.5}, {0.5}, {0.5}, {0.2}}, {1.0, 1.0, 1.2, 0.0}, {{0.3}, 1.0, 1e-6}));
    const auto p = gp.predict({0.5});
    CHECK(std::isfinite(p.mean));
    CHECK(p.mean == doctest::Approx(16.0 / 15.0).epsilon(1e-3));  // ~ the average of the repeats
    CHECK(std::isfinite(gp.log_marginal_likelihood()));

    gaussian_process bad;
    CHECK_FALSE(bad.fit({{0.5}, {0.2}}, {1.0}, {{0.3}, 1.0, 1e-6}));  // sizes differ
    CHECK_FALSE(bad.fit({{0.5}, {0.2}}, {1.0, std::nan("")}, {{0.3}, 1.0, 1e-6}));
    CHECK_FALSE(bad.fit({{0.5, 0.1}}, {1.0}, {{0.3}, 1.0, 1e-6}));  // wrong width
    CHECK_FALSE(bad.fitted());
    CHECK(bad.predict({0.5}).mean == 0.0);
}

TEST_CASE("gaussian_process: the analytic LML gradient matches finite differences") {
    const auto x = random_points(9, 2, 11);
    std::vector<double> y;
    for (const auto& p : x) y.push_back(smooth(p));
    y = standardised(y);
    const gp_hyperparameters base{{0.35, 0.8}, 1.3, 0.02};
    gaussian_process gp;
    REQUIRE(gp.fit(x, y, base));
    const auto gradient = gp.log_marginal_likelihood_gradient();
    REQUIRE(gradient.size() == 4);
    const double h = 1e-5;
    for (std::size_t j = 0; j < 4; ++j) {
        auto lml_at = [&](double delta) {
            gp_hyperparameters p = base;
            const double factor = std::exp(delta);  // a step in log space
            if (j < 2) p.length_scales[j] *= factor;
            if (j == 2) p.signal_variance *= factor;
            if (j == 3) p.noise_variance *= factor;
            gaussian_process g;
            REQUIRE(g.fit(x, y, p));
            return g.log_marginal_likelihood();
        };
        const double numeric = (lml_at(h) - lml_at(-h)) / (2 * h);
        CAPTURE(j);
        CHECK(gradient[j] == doctest::Approx(numeric).epsilon(1e-5));
    }
}

TEST_CASE("fit_hyperparameters: LML improves over the defaults; noise is learnt") {
    const auto x = random_points(25, 2, 3);
    std::vector<double> clean;
    for (const auto& p : x) clean.push_back(smooth(p));
    const auto y = standardised(clean);

    auto lml = [&](const std::vector<double>& targets, const gp_hyperparameters& h) {
        gaussian_process gp;
        REQUIRE(gp.fit(x, targets, h));
        return gp.log_marginal_likelihood();
    };
    random_engine random(1);
    const auto fitted = fit_hyperparameters(x, y, random);
    REQUIRE(fitted.length_scales.size() == 2);
    const double at_fit = lml(y, fitted);
    const double at_default = lml(y, {{0.5, 0.5}, 1.0, 1e-2});  // where the fit starts
    const double at_textbook = lml(y, {{1.0, 1.0}, 1.0, 1e-2});
    MESSAGE("lml fitted " << at_fit << ", default " << at_default << ", textbook " << at_textbook);
    CHECK(at_fit > at_default + 5.0);
    CHECK(at_fit > at_textbook + 5.0);
    // Close to the best of a coarse grid (the mild prior may cost a little).
    double grid_best = -std::numeric_limits<double>::infinity();
    for (double l1 : {0.1, 0.3, 1.0, 3.0}) {
        for (double l2 : {0.1, 0.3, 1.0, 3.0}) {
            for (double s : {0.3, 1.0, 3.0}) {
                for (double noise : {1e-6, 1e-4, 1e-2}) grid_best = std::max(grid_best, lml(y, {{l1, l2}, s, noise}));
            }
        }
    }
    CHECK(at_fit > grid_best - 0.5);
    for (double l : fitted.length_scales) {
        CHECK(l >= gp_bounds::min_length_scale);
        CHECK(l <= gp_bounds::max_length_scale);
    }
    CHECK(fitted.noise_variance < 1e-2);  // noise-free data: little noise

    // The same function with noise (sd 0.4 before standardising): the fit attributes it to noise.
    random_engine noise_random(9);
    std::vector<double> noisy = clean;
    for (double& v : noisy) {
        const double u1 = std::max(unit(noise_random), 1e-12);
        const double u2 = unit(noise_random);
        v += 0.4 * std::sqrt(-2 * std::log(u1)) * std::cos(2 * std::numbers::pi * u2);
    }
    const auto fitted_noisy = fit_hyperparameters(x, standardised(noisy), random);
    MESSAGE("noise variance clean " << fitted.noise_variance << ", noisy " << fitted_noisy.noise_variance);
    CHECK(fitted_noisy.noise_variance > 0.03);
}

TEST_CASE("fit_hyperparameters: degenerate input returns bounded, finite hyperparameters") {
    random_engine random(2);
    for (const auto& targets : {std::vector<double>{0, 0, 0, 0}, std::vector<double>{1, -1, 1, -1}}) {
        const auto h = fit_hyperparameters({{0.1}, {0.1}, {0.5}, {0.5}}, targets, random);
        REQUIRE(h.length_scales.size() == 1);
        CHECK(std::isfinite(h.length_scales[0]));
        CHECK(h.noise_variance >= gp_bounds::min_noise_variance * 0.999);
        CHECK(h.noise_variance <= gp_bounds::max_noise_variance * 1.001);
        CHECK(h.signal_variance >= gp_bounds::min_signal_variance * 0.999);
    }
    const auto single = fit_hyperparameters({{0.3, 0.3}}, {0.0}, random);
    CHECK(single.length_scales.size() == 2);
}

// ---------------------------------------------------------------------------------------------
// Expected Improvement

TEST_CASE("expected_improvement: closed-form values") {
    const double phi0 = 1.0 / std::sqrt(2.0 * std::numbers::pi);
    // mean = best: stddev * phi(0)
    CHECK(expected_improvement(0.0, 2.0, 0.0, 0.0) == doctest::Approx(2.0 * phi0).epsilon(1e-14));
    CHECK(expected_improvement(0.0, 2.0, 0.0, 0.0) == doctest::Approx(0.7978845608028654).epsilon(1e-14));
    // z = 1: Phi(1) + phi(1)
    CHECK(expected_improvement(-1.0, 1.0, 0.0, 0.0) == doctest::Approx(1.0833154705876864).epsilon(1e-13));
    // with xi: z = (0.2 - 0.01 - 0.5) / 0.3
    CHECK(expected_improvement(0.5, 0.3, 0.2, 0.01) == doctest::Approx(0.02344796904665126).epsilon(1e-12));
    CHECK(expected_improvement(3.0, 1.0, 0.0, 0.0) == doctest::Approx(0.00038215431704772054).epsilon(1e-11));
    // EI(z) - EI(-z) = stddev * z
    CHECK(expected_improvement(-0.7, 0.5, 0.0, 0.0) - expected_improvement(0.7, 0.5, 0.0, 0.0) ==
          doctest::Approx(0.7).epsilon(1e-12));
    // no uncertainty: plain improvement
    CHECK(expected_improvement(-1.0, 0.0, 0.0, 0.1) == doctest::Approx(0.9));
    CHECK(expected_improvement(1.0, 0.0, 0.0, 0.1) == 0.0);
    // xi makes it more demanding; lower mean and more spread help
    CHECK(expected_improvement(0.0, 1.0, 0.0, 0.5) < expected_improvement(0.0, 1.0, 0.0, 0.0));
    CHECK(expected_improvement(-0.1, 1.0, 0.0, 0.0) > expected_improvement(0.1, 1.0, 0.0, 0.0));
    CHECK(expected_improvement(0.5, 2.0, 0.0, 0.0) > expected_improvement(0.5, 1.0, 0.0, 0.0));
    CHECK(expected_improvement(std::nan(""), 1.0, 0.0, 0.0) == 0.0);
}

TEST_CASE("log_expected_improvement: agrees with log(EI) and stays finite deep in the tail") {
    for (double mean : {-2.0, -0.3, 0.0, 0.4, 2.5, 6.0}) {
        CAPTURE(mean);
        CHECK(log_expected_improvement(mean, 0.7, 0.1, 0.01) ==
              doctest::Approx(std::log(expected_improvement(mean, 0.7, 0.1, 0.01))).epsilon(1e-10));
    }
    // mpmath, 50 digits: log(z Phi(z) + phi(z)) at z = -8, -12, -20, -40
    CHECK(log_expected_improvement(8.0, 1.0, 0.0, 0.0) == doctest::Approx(-37.122364261692633).epsilon(1e-10));
    CHECK(log_expected_improvement(12.0, 1.0, 0.0, 0.0) == doctest::Approx(-77.909100545007348).epsilon(1e-7));
    CHECK(log_expected_improvement(20.0, 1.0, 0.0, 0.0) == doctest::Approx(-206.91783850942510).epsilon(1e-8));
    CHECK(log_expected_improvement(40.0, 1.0, 0.0, 0.0) == doctest::Approx(-808.29856835661996).epsilon(1e-10));
    CHECK(expected_improvement(40.0, 1.0, 0.0, 0.0) == 0.0);  // why the log form exists
    // continuous across the switch to the asymptotic series, still ordered
    CHECK(log_expected_improvement(9.999, 1.0, 0.0, 0.0) ==
          doctest::Approx(log_expected_improvement(10.001, 1.0, 0.0, 0.0)).epsilon(1e-3));
    CHECK(log_expected_improvement(30.0, 1.0, 0.0, 0.0) > log_expected_improvement(30.5, 1.0, 0.0, 0.0));
    CHECK(log_expected_improvement(1.0, 0.0, 0.0, 0.0) == -std::numeric_limits<double>::infinity());
}

// ---------------------------------------------------------------------------------------------
// The strategy

TEST_CASE("bayesian_strategy: initial random phase, determinism, one draw per call") {
    CHECK(bayesian_strategy({continuous("a")}).initial_points() == 3);
    CHECK(bayesian_strategy(std::vector<dimension>(5, continuous("x"))).initial_points() == 6);
    CHECK(bayesian_strategy(std::vector<dimension>(30, continuous("x"))).initial_points() == 10);
    bayesian_options custom;
    custom.initial_points = 7;
    CHECK(bayesian_strategy({continuous("a")}, custom).initial_points() == 7);

    bayesian_strategy s({continuous("a"), continuous("b")});  // 3 initial points
    std::vector<trial> two = {finished({0.1, 0.1}, 1.0), running({0.9, 0.2})};
    std::vector<trial> two_other = {finished({0.1, 0.1}, -50.0), running({0.9, 0.2})};
    random_engine r1(42);
    random_engine r2(42);
    // Random phase: objectives do not matter.
    CHECK(*s.propose(two, r1) == *s.propose(two_other, r2));

    // Model phase: deterministic given the engine, which advances by exactly one draw.
    std::vector<trial> history = {finished({0.1, 0.1}, 1.0), finished({0.9, 0.2}, 0.5), finished({0.4, 0.8}, 2.0),
                                  finished({0.6, 0.5}, 0.2)};
    random_engine a(7);
    random_engine b(7);
    const auto pa = s.propose(history, a);
    const auto pb = bayesian_strategy({continuous("a"), continuous("b")}).propose(history, b);
    REQUIRE(pa);
    CHECK(*pa == *pb);
    random_engine reference(7);
    reference.discard(1);
    CHECK(a == reference);
    // ... and it uses the objectives.
    history[3].objective = 5.0;
    random_engine c(7);
    CHECK(*s.propose(history, c) != *pa);
}

TEST_CASE("bayesian_strategy: Branin, 50 evaluations: regret < 0.05 for >= 4 of 5 seeds, 10x better than random") {
    std::vector<double> bo_regret;
    std::vector<double> random_regret;
    int successes = 0;
    for (std::uint64_t seed = 1; seed <= 5; ++seed) {
        bayesian_strategy s({continuous("x1"), continuous("x2")});
        const double regret = optimise(s, branin_unit, 50, seed) - branin_minimum;
        bo_regret.push_back(regret);
        if (regret < 0.05) ++successes;

        random_engine random(seed);
        double best = std::numeric_limits<double>::infinity();
        for (int i = 0; i < 50; ++i) {
            const double u1 = unit(random);
            best = std::min(best, branin_unit({u1, unit(random)}));
        }
        random_regret.push_back(best - branin_minimum);
        MESSAGE("seed " << seed << ": bayesian regret " << regret << ", random " << random_regret.back());
    }
    CHECK(successes >= 4);
    CHECK(median(bo_regret) * 10.0 < median(random_regret));
}

TEST_CASE("bayesian_strategy: a 4-valued categorical finds its best value within 8 proposals") {
    const std::vector<double> values = {1.0, 0.7, 0.1, 0.5};  // index 2 is best
    for (std::uint64_t seed = 1; seed <= 5; ++seed) {
        bayesian_strategy s({categorical("c", 4)});
        random_engine random(seed);
        std::vector<trial> history;
        int found_at = -1;
        for (int i = 0; i < 8 && found_at < 0; ++i) {
            const auto p = s.propose(history, random);
            REQUIRE(p);
            REQUIRE(p->size() == 1);
            const auto index = static_cast<std::size_t>((*p)[0] * 4);
            CHECK((*p)[0] == doctest::Approx((static_cast<double>(index) + 0.5) / 4));  // bucket centre
            if (index == 2) found_at = i;
            history.push_back(finished(*p, values[index]));
        }
        CAPTURE(seed);
        CHECK(found_at >= 0);
    }
}

TEST_CASE("bayesian_strategy: mixed categorical x continuous space finds the best category and optimum") {
    const std::vector<double> offsets = {0.8, 0.3, 1.5, 0.0, 0.6};  // category 3 is best
    const auto f = [&offsets](const std::vector<double>& u) {
        const auto c = std::min<std::size_t>(static_cast<std::size_t>(u[0] * 5), 4);
        return offsets[c] + 4.0 * (u[1] - 0.7) * (u[1] - 0.7);
    };
    int good = 0;
    for (std::uint64_t seed = 1; seed <= 3; ++seed) {
        bayesian_strategy s({categorical("c", 5), continuous("x")});
        const double best = optimise(s, f, 20, seed);
        MESSAGE("seed " << seed << ": best " << best);
        if (best < 0.01) ++good;  // category 3 and |x - 0.7| < 0.05
    }
    CHECK(good == 3);
}

TEST_CASE("bayesian_strategy: integer and categorical coordinates are snapped to bucket centres") {
    bayesian_strategy s({integer("n", 10), categorical("c", 3), continuous("x")});
    random_engine random(4);
    std::vector<trial> history;
    for (int i = 0; i < 12; ++i) {
        const auto p = s.propose(history, random);
        REQUIRE(p);
        const double n = (*p)[0] * 10 - 0.5;
        const double c = (*p)[1] * 3 - 0.5;
        CHECK(std::abs(n - std::round(n)) < 1e-9);
        CHECK(std::abs(c - std::round(c)) < 1e-9);
        history.push_back(finished(*p, std::abs((*p)[0] - 0.35) + (*p)[1] + (*p)[2]));
    }
}

TEST_CASE("bayesian_strategy: parallel proposals with running trials spread out") {
    // Four proposals in a row, each launched (running) before the next is asked for, versus the
    // same four requests ignoring the running ones: only the running trials make them spread.
    const auto closest_pair = [](const std::vector<std::vector<double>>& points) {
        double closest = 1e9;
        for (std::size_t i = 0; i < points.size(); ++i) {
            for (std::size_t j = i + 1; j < points.size(); ++j) closest = std::min(closest, distance(points[i], points[j]));
        }
        return closest;
    };
    std::vector<trial> history;
    std::vector<std::vector<double>> batch;
    for (std::uint64_t scenario = 1; scenario <= 3; ++scenario) {
        random_engine seed_points(scenario);
        std::vector<trial> observed;
        for (int i = 0; i < 8; ++i) {
            const std::vector<double> p = {unit(seed_points), unit(seed_points)};
            observed.push_back(finished(p, branin_unit(p)));
        }
        bayesian_strategy s({continuous("x1"), continuous("x2")});
        random_engine random(100 + scenario);
        history = observed;
        batch.clear();
        for (int i = 0; i < 4; ++i) {
            const auto p = s.propose(history, random);
            REQUIRE(p);
            batch.push_back(*p);
            history.push_back(running(*p));  // the tuner launches it; no result yet
        }
        random_engine same(100 + scenario);
        std::vector<std::vector<double>> blind;
        for (int i = 0; i < 4; ++i) blind.push_back(*s.propose(observed, same));
        const double spread = closest_pair(batch);
        const double blind_spread = closest_pair(blind);
        MESSAGE("scenario " << scenario << ": closest pair " << spread << " (ignoring running trials: " << blind_spread
                            << ")");
        CHECK(spread > 0.02);
        CHECK(spread > 10.0 * blind_spread);
    }

    bayesian_strategy s({continuous("x1"), continuous("x2")});
    random_engine random(5);
    // With 4 running trials already, the next 4 proposals differ from them and from each other.
    std::vector<std::vector<double>> next;
    for (int i = 0; i < 4; ++i) {
        const auto p = s.propose(history, random);
        REQUIRE(p);
        for (const auto& q : batch) CHECK(distance(*p, q) > 1e-6);
        for (const auto& q : next) CHECK(distance(*p, q) > 1e-6);
        next.push_back(*p);
        history.push_back(running(*p));
    }
}

TEST_CASE("bayesian_strategy: never repeats an evaluated point while new ones exist") {
    bayesian_strategy s({integer("n", 3), categorical("c", 2)});  // 6 combinations
    random_engine random(8);
    std::vector<trial> history;
    for (int i = 0; i < 6; ++i) {
        const auto p = s.propose(history, random);
        REQUIRE(p);
        for (const auto& t : history) CHECK(distance(*p, t.point) > 1e-9);
        history.push_back(finished(*p, (*p)[0] + (*p)[1]));
    }
    // All 6 taken: it still answers (a repeat) rather than giving up.
    const auto again = s.propose(history, random);
    REQUIRE(again);
    CHECK(in_unit_cube(*again));
}

TEST_CASE("bayesian_strategy: robust to degenerate histories") {
    const std::vector<dimension> dims = {continuous("a"), continuous("b"), integer("n", 4)};
    auto check = [&](const std::vector<trial>& history, const bayesian_options& options = {}) {
        bayesian_strategy s(dims, options);
        random_engine random(1);
        const auto p = s.propose(history, random);
        REQUIRE(p);
        REQUIRE(p->size() == 3);
        CHECK(in_unit_cube(*p));
        for (const auto& t : history) {
            if (t.point.size() == 3 && in_unit_cube(t.point)) CHECK(distance(*p, t.point) > 1e-9);
        }
    };
    SUBCASE("all objectives equal") {
        std::vector<trial> h;
        for (const auto& p : random_points(10, 3, 1)) h.push_back(finished(p, 1.0));
        check(h);
    }
    SUBCASE("duplicate points with different objectives") {
        std::vector<trial> h;
        for (int i = 0; i < 6; ++i) h.push_back(finished({0.3, 0.3, 0.375}, 1.0 + 0.1 * i));
        h.push_back(finished({0.8, 0.1, 0.125}, 0.5));
        check(h);
    }
    SUBCASE("one observation") {
        bayesian_options options;
        options.initial_points = 1;
        check({finished({0.5, 0.5, 0.625}, 3.0)}, options);
    }
    SUBCASE("only failures and running trials") {
        trial failed;
        failed.point = {0.2, 0.2, 0.125};
        check({failed, failed, failed, running({0.7, 0.7, 0.875})});
    }
    SUBCASE("NaN / infinite objectives and malformed points are ignored") {
        std::vector<trial> h;
        for (const auto& p : random_points(6, 3, 2)) h.push_back(finished(p, p[0]));
        h.push_back(finished({0.5, 0.5, 0.625}, std::nan("")));
        h.push_back(finished({0.4, 0.4, 0.375}, std::numeric_limits<double>::infinity()));
        h.push_back(finished({0.4}, 1.0));
        h.push_back(finished({std::nan(""), 0.1, 0.2}, 0.3));
        check(h);
    }
    SUBCASE("huge and tiny objective magnitudes") {
        std::vector<trial> h;
        int i = 0;
        for (const auto& p : random_points(8, 3, 4)) h.push_back(finished(p, (i++ % 2 == 0) ? 1e300 : -1e300));
        check(h);
        std::vector<trial> tiny;
        for (const auto& p : random_points(8, 3, 5)) tiny.push_back(finished(p, 1e-300 * p[0]));
        check(tiny);
    }
    SUBCASE("no dimensions") {
        bayesian_strategy s({});
        random_engine random(1);
        const auto p = s.propose({}, random);
        REQUIRE(p);
        CHECK(p->empty());
    }
}
