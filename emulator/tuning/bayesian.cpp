#include "emulator/tuning/bayesian.hpp"

#include <Eigen/Dense>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <exception>
#include <limits>
#include <numbers>
#include <numeric>
#include <stdexcept>
#include <utility>

// The math follows Rasmussen & Williams, "Gaussian Processes for Machine Learning" (2006):
// Algorithm 2.1 for prediction and the log marginal likelihood, eq. 5.9 for its gradient;
// Matérn 5/2 from eq. 4.17; Expected Improvement from Jones, Schonlau & Welch (1998); the
// parallel heuristic (kriging believer / constant liar) from Ginsbourger, Le Riche & Carraro (2010).

namespace smlocal::tuning {
namespace {

using Eigen::Index;
using Eigen::MatrixXd;
using Eigen::VectorXd;

constexpr double sqrt5 = 2.2360679774997896964;
constexpr double infinity = std::numeric_limits<double>::infinity();

// ---------------------------------------------------------------------------------------------
// Randomness. Only mt19937_64's raw output is used (its sequence is fixed by the standard);
// std::uniform_real_distribution & co. are implementation-defined, so they are avoided to keep
// proposals identical across standard libraries.

double unit(random_engine& random) { return static_cast<double>(random() >> 11) * 0x1.0p-53; }

std::size_t below(random_engine& random, std::size_t n) {
    if (n <= 1) return 0;
    return std::min(static_cast<std::size_t>(unit(random) * static_cast<double>(n)), n - 1);
}

double standard_normal(random_engine& random) {
    const double u1 = std::max(unit(random), 1e-300);
    const double u2 = unit(random);
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

// ---------------------------------------------------------------------------------------------
// Kernel pieces, as functions of the scaled distance r.

double matern_shape(double r) { return (1.0 + sqrt5 * r + (5.0 / 3.0) * r * r) * std::exp(-sqrt5 * r); }

// Its length-scale derivative: d k / d log l_g = variance * 5/3 (1 + sqrt5 r) e^{-sqrt5 r} * d2_g / l_g^2,
// where d2_g is the squared distance along the coordinates of group g
// (dk/dr = -variance * 5/3 r (1 + sqrt5 r) e^{-sqrt5 r} and dr/dlog l_g = -d2_g / (l_g^2 r)).

double normal_pdf(double z) { return std::exp(-0.5 * z * z) / std::sqrt(2.0 * std::numbers::pi); }
double normal_cdf(double z) { return 0.5 * std::erfc(-z / std::numbers::sqrt2); }

// Factorises k (whose diagonal already holds the noise) adding jitter when needed. Returns the
// jitter used, or a negative number when every level failed.
double factorise(Eigen::LLT<MatrixXd>& llt, MatrixXd& k, double signal_variance) {
    static constexpr double levels[] = {0.0, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1};
    double added = 0;
    for (const double level : levels) {
        const double jitter = level * std::max(signal_variance, 1e-12);
        k.diagonal().array() += jitter - added;
        added = jitter;
        llt.compute(k);
        if (llt.info() != Eigen::Success) continue;
        const auto diagonal = llt.matrixLLT().diagonal();
        if (diagonal.allFinite() && (diagonal.array() > 0).all()) return jitter;
    }
    return -1;
}

// ---------------------------------------------------------------------------------------------
// A GP conditioned on data with fixed hyperparameters (per-coordinate length scales).

struct gp_core {
    MatrixXd x;       // n x d
    VectorXd y;       // n
    VectorXd inverse_length;  // d
    double signal_variance = 1;
    double noise_variance = 1e-6;
    double jitter = 0;
    MatrixXd scaled;       // x with each column divided by its length scale
    VectorXd scaled_norm;  // squared row norms of `scaled`
    Eigen::LLT<MatrixXd> llt;
    VectorXd alpha;
    double lml = -infinity;
    bool ok = false;

    bool fit(MatrixXd inputs, VectorXd targets, const VectorXd& length_scales, double signal, double noise) {
        ok = false;
        x = std::move(inputs);
        y = std::move(targets);
        const Index n = x.rows();
        if (n == 0 || y.size() != n || length_scales.size() != x.cols()) return false;
        if (!x.allFinite() || !y.allFinite() || !length_scales.allFinite() || !(length_scales.array() > 0).all() ||
            !(signal > 0) || !std::isfinite(signal) || !(noise >= 0) || !std::isfinite(noise)) {
            return false;
        }
        inverse_length = length_scales.cwiseInverse();
        signal_variance = signal;
        noise_variance = noise;
        scaled = x * inverse_length.asDiagonal();
        scaled_norm = scaled.rowwise().squaredNorm();
        MatrixXd k(n, n);
        for (Index j = 0; j < n; ++j) {
            k(j, j) = signal + noise;
            for (Index i = j + 1; i < n; ++i) {
                const double r = (scaled.row(i) - scaled.row(j)).norm();
                k(i, j) = k(j, i) = signal * matern_shape(r);
            }
        }
        jitter = factorise(llt, k, signal);
        if (jitter < 0) return false;
        alpha = llt.solve(y);
        if (!alpha.allFinite()) return false;
        const double log_det = 2.0 * llt.matrixLLT().diagonal().array().log().sum();
        lml = -0.5 * y.dot(alpha) - 0.5 * log_det - 0.5 * static_cast<double>(n) * std::log(2.0 * std::numbers::pi);
        ok = std::isfinite(lml);
        return ok;
    }

    // Posterior mean and latent variance at each row of `points` (m x d).
    void predict(const MatrixXd& points, VectorXd& mean, VectorXd& variance) const {
        const MatrixXd scaled_points = points * inverse_length.asDiagonal();
        const VectorXd point_norm = scaled_points.rowwise().squaredNorm();
        MatrixXd cross = scaled * scaled_points.transpose();  // n x m
        const Eigen::ArrayXXd r2 =
            ((-2.0 * cross).colwise() + scaled_norm).rowwise() + point_norm.transpose();
        const Eigen::ArrayXXd r = r2.max(0.0).sqrt();
        cross = (signal_variance * (1.0 + sqrt5 * r + (5.0 / 3.0) * r.square()) * (-sqrt5 * r).exp()).matrix();
        mean = cross.transpose() * alpha;
        llt.matrixL().solveInPlace(cross);
        variance = (signal_variance - cross.colwise().squaredNorm().transpose().array()).max(0.0).matrix();
    }
};

// ---------------------------------------------------------------------------------------------
// The objective that hyperparameter fitting minimises: -(log marginal likelihood + log prior),
// over theta = (log l_g for each length-scale group g, log signal variance, log noise variance).

struct log_normal_prior {
    double centre;
    double spread;
};
// Mild: a couple of e-folds away from the centre cost about a nat (the noise prior is wider still,
// as HPO objectives range from deterministic to quite noisy).
constexpr log_normal_prior length_prior{-0.6931471805599453 /* log 0.5 */, 1.5};
constexpr log_normal_prior signal_prior{0.0, 1.5};
constexpr log_normal_prior noise_prior{-4.605170185988091 /* log 1e-2 */, 4.0};

class lml_model {
public:
    lml_model(const MatrixXd& x, VectorXd y, const std::vector<std::size_t>& group, std::size_t groups)
        : y_(std::move(y)), squared_(groups, MatrixXd::Zero(x.rows(), x.rows())) {
        const Index n = x.rows();
        for (Index c = 0; c < x.cols(); ++c) {
            MatrixXd& d2 = squared_[group[static_cast<std::size_t>(c)]];
            for (Index j = 0; j < n; ++j) {
                for (Index i = j + 1; i < n; ++i) {
                    const double delta = x(i, c) - x(j, c);
                    d2(i, j) += delta * delta;
                }
            }
        }
        for (MatrixXd& d2 : squared_) d2 = d2.selfadjointView<Eigen::Lower>();
    }

    std::size_t groups() const { return squared_.size(); }

    // The log marginal likelihood and (optionally) its gradient in theta; -infinity on failure.
    double log_likelihood(const VectorXd& theta, VectorXd* gradient) const {
        const Index n = y_.size();
        const Index g_count = static_cast<Index>(squared_.size());
        if (!theta.allFinite()) return -infinity;
        const double signal = std::exp(theta(g_count));
        const double noise = std::exp(theta(g_count + 1));
        VectorXd inverse_length2(g_count);
        for (Index g = 0; g < g_count; ++g) inverse_length2(g) = std::exp(-2.0 * theta(g));

        MatrixXd r2 = MatrixXd::Zero(n, n);
        for (Index g = 0; g < g_count; ++g) r2.noalias() += inverse_length2(g) * squared_[static_cast<std::size_t>(g)];
        // Array expressions (not unaryExpr) so that Eigen vectorises exp.
        const Eigen::ArrayXXd r = r2.array().sqrt();
        const Eigen::ArrayXXd decay = (-sqrt5 * r).exp();
        MatrixXd k = (signal * (1.0 + sqrt5 * r + (5.0 / 3.0) * r2.array()) * decay).matrix();
        MatrixXd kernel;
        if (gradient != nullptr) kernel = k;
        k.diagonal().array() += noise;
        Eigen::LLT<MatrixXd> llt;
        if (factorise(llt, k, signal) < 0) return -infinity;
        const VectorXd alpha = llt.solve(y_);
        const double log_det = 2.0 * llt.matrixLLT().diagonal().array().log().sum();
        const double value =
            -0.5 * y_.dot(alpha) - 0.5 * log_det - 0.5 * static_cast<double>(n) * std::log(2.0 * std::numbers::pi);
        if (!std::isfinite(value)) return -infinity;
        if (gradient != nullptr) {
            // d lml / d theta_j = 1/2 tr((alpha alpha^T - K^-1) dK/dtheta_j)
            MatrixXd w = alpha * alpha.transpose() - llt.solve(MatrixXd::Identity(n, n));
            gradient->resize(g_count + 2);
            (*gradient)(g_count) = 0.5 * w.cwiseProduct(kernel).sum();
            (*gradient)(g_count + 1) = 0.5 * noise * w.trace();
            // matern_length_factor(r), times the signal variance and w.
            const MatrixXd weighted =
                (w.array() * (signal * (5.0 / 3.0)) * (1.0 + sqrt5 * r) * decay).matrix();
            for (Index g = 0; g < g_count; ++g) {
                (*gradient)(g) =
                    0.5 * inverse_length2(g) * weighted.cwiseProduct(squared_[static_cast<std::size_t>(g)]).sum();
            }
            if (!gradient->allFinite()) return -infinity;
        }
        return value;
    }

    // What the optimiser minimises: -(lml + log prior); +infinity on failure.
    double objective(const VectorXd& theta, VectorXd* gradient) const {
        const double lml = log_likelihood(theta, gradient);
        if (!std::isfinite(lml)) return infinity;
        const Index g_count = static_cast<Index>(squared_.size());
        double value = -lml;
        if (gradient != nullptr) *gradient = -*gradient;
        for (Index i = 0; i < theta.size(); ++i) {
            const log_normal_prior& prior = i < g_count ? length_prior : (i == g_count ? signal_prior : noise_prior);
            const double z = (theta(i) - prior.centre) / prior.spread;
            value += 0.5 * z * z;
            if (gradient != nullptr) (*gradient)(i) += z / prior.spread;
        }
        return value;
    }

private:
    VectorXd y_;
    std::vector<MatrixXd> squared_;  // per group: squared coordinate distances (symmetric)
};

// ---------------------------------------------------------------------------------------------
// Projected L-BFGS on a box: the two-loop recursion on the free variables, a backtracking Armijo
// search along the projected path, memory reset whenever the direction is not a descent one.

template <class Function>
std::pair<VectorXd, double> minimise_in_box(const Function& f, VectorXd x, const VectorXd& lower,
                                            const VectorXd& upper, int max_iterations) {
    const Index d = x.size();
    x = x.cwiseMax(lower).cwiseMin(upper);
    VectorXd g(d);
    double fx = f(x, &g);
    if (!std::isfinite(fx) || !g.allFinite()) return {x, infinity};
    constexpr std::size_t memory = 8;
    std::vector<VectorXd> steps;
    std::vector<VectorXd> changes;
    int quiet = 0;
    for (int iteration = 0; iteration < max_iterations; ++iteration) {
        VectorXd projected = g;
        for (Index i = 0; i < d; ++i) {
            if ((x(i) <= lower(i) && g(i) > 0) || (x(i) >= upper(i) && g(i) < 0)) projected(i) = 0;
        }
        if (projected.lpNorm<Eigen::Infinity>() < 1e-5) break;

        VectorXd q = projected;
        std::vector<double> a(steps.size());
        for (std::size_t k = steps.size(); k-- > 0;) {
            a[k] = steps[k].dot(q) / changes[k].dot(steps[k]);
            q -= a[k] * changes[k];
        }
        if (!steps.empty()) q *= steps.back().dot(changes.back()) / changes.back().squaredNorm();
        for (std::size_t k = 0; k < steps.size(); ++k) {
            const double b = changes[k].dot(q) / changes[k].dot(steps[k]);
            q += steps[k] * (a[k] - b);
        }
        VectorXd direction = -q;
        for (Index i = 0; i < d; ++i) {
            if (projected(i) == 0) direction(i) = 0;
        }
        if (!direction.allFinite() || direction.dot(projected) >= 0) {
            steps.clear();
            changes.clear();
            direction = -projected;
        }
        double t = steps.empty() ? std::min(1.0, 1.0 / projected.norm()) : 1.0;
        const double longest = t * direction.lpNorm<Eigen::Infinity>();
        if (longest > 2.0) t *= 2.0 / longest;  // at most two e-folds per step

        bool accepted = false;
        VectorXd next;
        VectorXd next_gradient(d);
        double f_next = infinity;
        for (int search = 0; search < 20; ++search) {
            next = (x + t * direction).cwiseMax(lower).cwiseMin(upper);
            f_next = f(next, &next_gradient);
            if (std::isfinite(f_next) && next_gradient.allFinite() && f_next <= fx + 1e-4 * g.dot(next - x)) {
                accepted = true;
                break;
            }
            t *= 0.5;
        }
        if (!accepted) {
            if (steps.empty()) break;
            steps.clear();
            changes.clear();
            continue;
        }
        const VectorXd step = next - x;
        const VectorXd change = next_gradient - g;
        const bool small = fx - f_next < 1e-8 * std::max(1.0, std::abs(fx));
        x = next;
        g = next_gradient;
        fx = f_next;
        if (step.dot(change) > 1e-12) {
            steps.push_back(step);
            changes.push_back(change);
            if (steps.size() > memory) {
                steps.erase(steps.begin());
                changes.erase(changes.begin());
            }
        }
        quiet = small ? quiet + 1 : 0;
        if (quiet >= 2) break;
    }
    return {x, fx};
}

struct theta_box {
    VectorXd lower;
    VectorXd upper;
};

theta_box box_for(std::size_t groups) {
    const Index g = static_cast<Index>(groups);
    theta_box box{VectorXd(g + 2), VectorXd(g + 2)};
    box.lower.head(g).setConstant(std::log(gp_bounds::min_length_scale));
    box.upper.head(g).setConstant(std::log(gp_bounds::max_length_scale));
    box.lower(g) = std::log(gp_bounds::min_signal_variance);
    box.upper(g) = std::log(gp_bounds::max_signal_variance);
    box.lower(g + 1) = std::log(gp_bounds::min_noise_variance);
    box.upper(g + 1) = std::log(gp_bounds::max_noise_variance);
    return box;
}

VectorXd default_theta(std::size_t groups) {
    const Index g = static_cast<Index>(groups);
    VectorXd theta(g + 2);
    theta.head(g).setConstant(length_prior.centre);
    theta(g) = 0.0;
    theta(g + 1) = noise_prior.centre;
    return theta;
}

// Fits theta for inputs whose coordinates share length scales by `group`.
VectorXd fit_theta(const MatrixXd& x, const VectorXd& y, const std::vector<std::size_t>& group, std::size_t groups,
                   random_engine& random, std::size_t restarts) {
    const VectorXd start = default_theta(groups);
    if (x.rows() < 2) return start;
    const lml_model model(x, y, group, groups);
    const theta_box box = box_for(groups);
    const auto objective = [&model](const VectorXd& theta, VectorXd* gradient) {
        return model.objective(theta, gradient);
    };

    // Starts: the default, then the best of a few random draws (value only, one Cholesky each).
    std::vector<std::pair<double, VectorXd>> draws;
    const std::size_t extra = restarts > 1 ? restarts - 1 : 0;
    const Index g = static_cast<Index>(groups);
    for (std::size_t i = 0; i < 8 * extra; ++i) {
        VectorXd theta(g + 2);
        for (Index j = 0; j < g; ++j) theta(j) = std::log(0.05) + unit(random) * (std::log(3.0) - std::log(0.05));
        theta(g) = std::log(0.3) + unit(random) * (std::log(3.0) - std::log(0.3));
        theta(g + 1) = std::log(1e-6) + unit(random) * (std::log(0.5) - std::log(1e-6));
        const double value = model.objective(theta, nullptr);
        if (std::isfinite(value)) draws.emplace_back(value, theta);
    }
    std::stable_sort(draws.begin(), draws.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<VectorXd> starts{start};
    for (std::size_t i = 0; i < draws.size() && starts.size() < std::max<std::size_t>(restarts, 1); ++i) {
        starts.push_back(draws[i].second);
    }

    // A short run from every start, then only the most promising one runs to convergence (the
    // runs usually meet in the same optimum, so this halves the cost of full runs from all).
    VectorXd best = start;
    double best_value = infinity;
    for (const VectorXd& theta : starts) {
        auto [found, value] = minimise_in_box(objective, theta, box.lower, box.upper, 10);
        if (std::isfinite(value) && value < best_value) {
            best_value = value;
            best = found;
        }
    }
    if (std::isfinite(best_value)) {
        auto [found, value] = minimise_in_box(objective, best, box.lower, box.upper, 60);
        if (std::isfinite(value) && value <= best_value) best = found;
    }
    return best;
}

MatrixXd to_matrix(const std::vector<std::vector<double>>& rows, std::size_t columns) {
    MatrixXd m(static_cast<Index>(rows.size()), static_cast<Index>(columns));
    for (std::size_t i = 0; i < rows.size(); ++i) {
        if (rows[i].size() != columns) throw std::invalid_argument("gaussian process: rows of different sizes");
        for (std::size_t j = 0; j < columns; ++j) m(static_cast<Index>(i), static_cast<Index>(j)) = rows[i][j];
    }
    return m;
}

VectorXd to_vector(const std::vector<double>& values) {
    return Eigen::Map<const VectorXd>(values.data(), static_cast<Index>(values.size()));
}

}  // namespace

// =============================================================================================
// Public pieces

double matern52(const std::vector<double>& x, const std::vector<double>& y, const std::vector<double>& length_scales,
                double variance) {
    if (x.size() != y.size() || x.size() != length_scales.size()) {
        throw std::invalid_argument("matern52: x, y and length_scales differ in size");
    }
    double r2 = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
        const double delta = (x[i] - y[i]) / length_scales[i];
        r2 += delta * delta;
    }
    return variance * matern_shape(std::sqrt(r2));
}

double expected_improvement(double mean, double stddev, double best, double xi) {
    const double improvement = best - xi - mean;
    if (std::isnan(improvement) || std::isnan(stddev)) return 0.0;
    if (!(stddev > 0)) return std::max(improvement, 0.0);
    const double z = improvement / stddev;
    return std::max(stddev * (z * normal_cdf(z) + normal_pdf(z)), 0.0);
}

double log_expected_improvement(double mean, double stddev, double best, double xi) {
    const double improvement = best - xi - mean;
    if (std::isnan(improvement) || std::isnan(stddev)) return -infinity;
    if (!(stddev > 0)) return improvement > 0 ? std::log(improvement) : -infinity;
    const double z = improvement / stddev;
    if (z > -10.0) {
        const double h = z * normal_cdf(z) + normal_pdf(z);
        if (h > 0) return std::log(stddev) + std::log(h);
    }
    // Tail: z Phi(z) + phi(z) = phi(z) / z^2 * (1 - 3/z^2 + 15/z^4 - 105/z^6 + ...) for z -> -inf.
    const double inverse2 = 1.0 / (z * z);
    const double series = 1.0 - 3.0 * inverse2 + 15.0 * inverse2 * inverse2 - 105.0 * inverse2 * inverse2 * inverse2;
    return std::log(stddev) - 0.5 * z * z - 0.5 * std::log(2.0 * std::numbers::pi) + std::log(inverse2) +
           std::log(std::max(series, 1e-300));
}

struct gaussian_process::impl {
    gp_core core;
    gp_hyperparameters hyperparameters;
};

gaussian_process::gaussian_process() : impl_(std::make_unique<impl>()) {}
gaussian_process::~gaussian_process() = default;
gaussian_process::gaussian_process(gaussian_process&&) noexcept = default;
gaussian_process& gaussian_process::operator=(gaussian_process&&) noexcept = default;

bool gaussian_process::fit(const std::vector<std::vector<double>>& inputs, const std::vector<double>& targets,
                           const gp_hyperparameters& hyperparameters) {
    if (!impl_) impl_ = std::make_unique<impl>();
    impl_->core.ok = false;
    impl_->hyperparameters = hyperparameters;
    const std::size_t d = hyperparameters.length_scales.size();
    if (inputs.empty() || inputs.size() != targets.size()) return false;
    for (const auto& row : inputs) {
        if (row.size() != d) return false;
    }
    return impl_->core.fit(to_matrix(inputs, d), to_vector(targets), to_vector(hyperparameters.length_scales),
                           hyperparameters.signal_variance, hyperparameters.noise_variance);
}

bool gaussian_process::fitted() const { return impl_ && impl_->core.ok; }

gaussian_process::prediction gaussian_process::predict(const std::vector<double>& x) const {
    if (!fitted()) {
        return {0.0, impl_ ? std::max(impl_->hyperparameters.signal_variance, 0.0) : 0.0};
    }
    const gp_core& core = impl_->core;
    if (static_cast<Index>(x.size()) != core.x.cols()) throw std::invalid_argument("gaussian process: wrong input size");
    VectorXd mean;
    VectorXd variance;
    core.predict(to_vector(x).transpose(), mean, variance);
    return {mean(0), variance(0)};
}

double gaussian_process::log_marginal_likelihood() const { return fitted() ? impl_->core.lml : -infinity; }

std::vector<double> gaussian_process::log_marginal_likelihood_gradient() const {
    if (!fitted()) return {};
    const gp_core& core = impl_->core;
    const std::size_t d = static_cast<std::size_t>(core.x.cols());
    std::vector<std::size_t> group(d);
    std::iota(group.begin(), group.end(), std::size_t{0});
    const lml_model model(core.x, core.y, group, d);
    VectorXd theta(static_cast<Index>(d) + 2);
    for (std::size_t i = 0; i < d; ++i) theta(static_cast<Index>(i)) = -std::log(core.inverse_length(static_cast<Index>(i)));
    theta(static_cast<Index>(d)) = std::log(core.signal_variance);
    theta(static_cast<Index>(d) + 1) = std::log(core.noise_variance);
    VectorXd gradient;
    if (!std::isfinite(model.log_likelihood(theta, &gradient))) return {};
    return {gradient.data(), gradient.data() + gradient.size()};
}

double gaussian_process::jitter() const { return fitted() ? impl_->core.jitter : 0.0; }

const gp_hyperparameters& gaussian_process::hyperparameters() const { return impl_->hyperparameters; }

gp_hyperparameters fit_hyperparameters(const std::vector<std::vector<double>>& inputs,
                                       const std::vector<double>& targets, random_engine& random,
                                       std::size_t restarts) {
    const std::size_t d = inputs.empty() ? 0 : inputs.front().size();
    std::vector<std::size_t> group(d);
    std::iota(group.begin(), group.end(), std::size_t{0});
    VectorXd theta = default_theta(d);
    try {
        if (inputs.size() == targets.size() && !inputs.empty()) {
            theta = fit_theta(to_matrix(inputs, d), to_vector(targets), group, d, random, restarts);
        }
    } catch (const std::exception&) {
        theta = default_theta(d);
    }
    gp_hyperparameters result;
    for (std::size_t i = 0; i < d; ++i) result.length_scales.push_back(std::exp(theta(static_cast<Index>(i))));
    result.signal_variance = std::exp(theta(static_cast<Index>(d)));
    result.noise_variance = std::exp(theta(static_cast<Index>(d) + 1));
    return result;
}

// =============================================================================================
// The strategy

namespace {

// How the strategy sees the unit cube: bucket snapping, one-hot encoding, length-scale groups.
class search_space {
public:
    explicit search_space(const std::vector<dimension>& dimensions) : dimensions_(dimensions) {
        for (std::size_t i = 0; i < dimensions_.size(); ++i) {
            offsets_.push_back(encoded_);
            const std::size_t width = dimensions_[i].type == dimension::kind::categorical ? buckets(i) : 1;
            for (std::size_t c = 0; c < width; ++c) group_.push_back(i);
            encoded_ += width;
        }
    }

    std::size_t size() const { return dimensions_.size(); }
    std::size_t encoded_size() const { return encoded_; }
    const std::vector<std::size_t>& group() const { return group_; }

    bool discrete(std::size_t i) const {
        return dimensions_[i].type == dimension::kind::categorical ||
               (dimensions_[i].type == dimension::kind::integer && dimensions_[i].categories > 0);
    }
    bool categorical(std::size_t i) const { return dimensions_[i].type == dimension::kind::categorical; }
    std::size_t buckets(std::size_t i) const { return std::max<std::size_t>(dimensions_[i].categories, 1); }

    std::size_t bucket_of(std::size_t i, double u) const {
        const std::size_t k = buckets(i);
        const double scaled = std::floor(std::clamp(u, 0.0, 1.0) * static_cast<double>(k));
        return std::min(static_cast<std::size_t>(std::max(scaled, 0.0)), k - 1);
    }
    double centre(std::size_t i, std::size_t bucket) const {
        return (static_cast<double>(bucket) + 0.5) / static_cast<double>(buckets(i));
    }

    double snap_coordinate(std::size_t i, double u) const {
        if (std::isnan(u)) u = 0.5;
        u = std::clamp(u, 0.0, 1.0);
        return discrete(i) ? centre(i, bucket_of(i, u)) : u;
    }
    std::vector<double> snap(std::vector<double> point) const {
        for (std::size_t i = 0; i < point.size(); ++i) point[i] = snap_coordinate(i, point[i]);
        return point;
    }

    void encode(const std::vector<double>& point, MatrixXd& out, Index row) const {
        for (std::size_t i = 0; i < dimensions_.size(); ++i) {
            const Index offset = static_cast<Index>(offsets_[i]);
            if (categorical(i)) {
                const std::size_t k = buckets(i);
                const std::size_t chosen = bucket_of(i, point[i]);
                for (std::size_t c = 0; c < k; ++c) out(row, offset + static_cast<Index>(c)) = c == chosen ? 1.0 : 0.0;
            } else {
                out(row, offset) = std::clamp(point[i], 0.0, 1.0);
            }
        }
    }
    MatrixXd encode(const std::vector<std::vector<double>>& points) const {
        MatrixXd out(static_cast<Index>(points.size()), static_cast<Index>(encoded_));
        for (std::size_t r = 0; r < points.size(); ++r) encode(points[r], out, static_cast<Index>(r));
        return out;
    }

    std::vector<double> random_point(random_engine& random) const {
        std::vector<double> point(dimensions_.size());
        for (std::size_t i = 0; i < point.size(); ++i) point[i] = snap_coordinate(i, unit(random));
        return point;
    }

    bool same(const std::vector<double>& a, const std::vector<double>& b) const {
        for (std::size_t i = 0; i < a.size(); ++i) {
            if (discrete(i) ? bucket_of(i, a[i]) != bucket_of(i, b[i]) : std::abs(a[i] - b[i]) > 1e-7) return false;
        }
        return true;
    }

private:
    std::vector<dimension> dimensions_;
    std::vector<std::size_t> offsets_;
    std::vector<std::size_t> group_;
    std::size_t encoded_ = 0;
};

struct observation {
    std::vector<double> point;  // snapped
    double value;
};

// At most `cap` of `all` (kept in history order): the best cap/2 by value, then the most recent.
std::vector<observation> select(const std::vector<observation>& all, std::size_t cap) {
    if (all.size() <= cap) return all;
    std::vector<std::size_t> order(all.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::stable_sort(order.begin(), order.end(),
                     [&all](std::size_t a, std::size_t b) { return all[a].value < all[b].value; });
    std::vector<bool> keep(all.size(), false);
    for (std::size_t i = 0; i < cap / 2; ++i) keep[order[i]] = true;
    std::size_t kept = cap / 2;
    for (std::size_t i = all.size(); i-- > 0 && kept < cap;) {
        if (!keep[i]) {
            keep[i] = true;
            ++kept;
        }
    }
    std::vector<observation> result;
    for (std::size_t i = 0; i < all.size(); ++i) {
        if (keep[i]) result.push_back(all[i]);
    }
    return result;
}

// Yeo & Johnson (2000) power transform: monotone, defined for any sign, identity at lambda = 1.
double yeo_johnson(double x, double lambda) {
    if (x >= 0) {
        const double l = std::log1p(x);
        return std::abs(lambda) < 1e-10 ? l : std::expm1(lambda * l) / lambda;
    }
    const double l = std::log1p(-x);
    const double power = 2.0 - lambda;
    return std::abs(power) < 1e-10 ? -l : -std::expm1(power * l) / power;
}

// The lambda that makes `x` look most Gaussian: maximises the profile log-likelihood
// -n/2 log var(psi(x)) + (lambda - 1) sum sign(x) log(1 + |x|), on a grid then by golden section.
double fit_yeo_johnson(const std::vector<double>& x) {
    double jacobian = 0;
    for (double v : x) jacobian += std::copysign(std::log1p(std::abs(v)), v);
    std::vector<double> warped(x.size());
    const auto likelihood = [&x, &warped, jacobian](double lambda) {
        double mean = 0;
        for (std::size_t i = 0; i < x.size(); ++i) mean += warped[i] = yeo_johnson(x[i], lambda);
        mean /= static_cast<double>(x.size());
        double variance = 0;
        for (double w : warped) variance += (w - mean) * (w - mean);
        variance /= static_cast<double>(x.size());
        if (!(variance > 1e-300) || !std::isfinite(variance)) return -infinity;
        return -0.5 * static_cast<double>(x.size()) * std::log(variance) + (lambda - 1.0) * jacobian;
    };
    constexpr double lowest = -2.0;
    constexpr double highest = 4.0;
    constexpr double grid = 0.25;
    double best = 1.0;
    double best_value = likelihood(1.0);
    for (double lambda = lowest; lambda <= highest + 1e-9; lambda += grid) {
        const double value = likelihood(lambda);
        if (value > best_value) {
            best_value = value;
            best = lambda;
        }
    }
    double a = std::max(lowest, best - grid);
    double b = std::min(highest, best + grid);
    const double ratio = (std::sqrt(5.0) - 1.0) / 2.0;
    for (int i = 0; i < 30; ++i) {
        const double c = b - ratio * (b - a);
        const double d = a + ratio * (b - a);
        if (likelihood(c) > likelihood(d)) {
            b = d;
        } else {
            a = c;
        }
    }
    const double refined = 0.5 * (a + b);
    return likelihood(refined) >= best_value ? refined : best;
}

// Objective values -> the GP's targets: standardise, Yeo-Johnson (lambda fitted on the model's
// observations), standardise again. Monotone, so "smaller is better" survives.
class output_transform {
public:
    explicit output_transform(const std::vector<double>& values) {
        const double n = static_cast<double>(values.size());
        for (double v : values) mean_ += v / n;
        double variance = 0;
        for (double v : values) variance += (v - mean_) * (v - mean_) / n;
        const double spread = std::sqrt(variance);
        if (!(spread > 1e-12 * std::max(1.0, std::abs(mean_))) || !std::isfinite(spread)) return;  // flat: all 0
        scale_ = spread;
        std::vector<double> z;
        for (double v : values) z.push_back((v - mean_) / scale_);
        lambda_ = fit_yeo_johnson(z);
        double warped_mean = 0;
        for (double v : z) warped_mean += yeo_johnson(v, lambda_) / n;
        double warped_variance = 0;
        for (double v : z) warped_variance += (yeo_johnson(v, lambda_) - warped_mean) * (yeo_johnson(v, lambda_) - warped_mean) / n;
        if (!(warped_variance > 1e-24) || !std::isfinite(warped_variance)) {
            lambda_ = 1.0;
            warped_mean = 0;
            warped_variance = 1;
        }
        warped_mean_ = warped_mean;
        warped_scale_ = std::sqrt(warped_variance);
        active_ = true;
    }
    double operator()(double value) const {
        if (!active_) return 0.0;
        return (yeo_johnson((value - mean_) / scale_, lambda_) - warped_mean_) / warped_scale_;
    }
    double lambda() const { return lambda_; }

private:
    bool active_ = false;
    double mean_ = 0;
    double scale_ = 1;
    double lambda_ = 1;
    double warped_mean_ = 0;
    double warped_scale_ = 1;
};

struct candidate {
    std::vector<double> point;
    double score;
};

class proposer {
public:
    proposer(const search_space& space, const bayesian_options& options, random_engine& random)
        : space_(space), options_(options), random_(random) {}

    std::optional<std::vector<double>> propose(const std::vector<observation>& observed,
                                               const std::vector<std::vector<double>>& pending,
                                               const std::vector<std::vector<double>>& taken) {
        const std::vector<observation> used = select(observed, std::max<std::size_t>(options_.max_observations, 2));
        const Index n = static_cast<Index>(used.size());
        std::vector<std::vector<double>> points;
        VectorXd y(n);
        for (Index i = 0; i < n; ++i) {
            points.push_back(used[static_cast<std::size_t>(i)].point);
            y(i) = used[static_cast<std::size_t>(i)].value;
        }
        std::vector<double> raw(y.data(), y.data() + n);
        const output_transform transform(raw);
        for (Index i = 0; i < n; ++i) y(i) = transform(y(i));
        if (!y.allFinite()) return std::nullopt;
        best_ = y.minCoeff();
        const MatrixXd x = space_.encode(points);

        // Hyperparameters, fitted on at most fit_observations of them.
        const std::size_t groups = space_.size();
        VectorXd theta = default_theta(groups);
        if (n >= 3) {
            std::vector<observation> fit_set = select(used, std::max<std::size_t>(options_.fit_observations, 3));
            std::vector<std::vector<double>> fit_points;
            VectorXd fit_y(static_cast<Index>(fit_set.size()));
            for (std::size_t i = 0; i < fit_set.size(); ++i) {
                fit_points.push_back(fit_set[i].point);
                fit_y(static_cast<Index>(i)) = transform(fit_set[i].value);
            }
            theta = fit_theta(space_.encode(fit_points), fit_y, space_.group(), groups, random_, options_.fit_restarts);
        }
        VectorXd length(static_cast<Index>(space_.encoded_size()));
        for (std::size_t c = 0; c < space_.encoded_size(); ++c) {
            length(static_cast<Index>(c)) = std::exp(theta(static_cast<Index>(space_.group()[c])));
        }
        const double signal = std::exp(theta(static_cast<Index>(groups)));
        const double noise = std::exp(theta(static_cast<Index>(groups) + 1));
        if (!gp_.fit(x, y, length, signal, noise)) return std::nullopt;

        // Running trials: fantasies at the model's mean, but never better than the incumbent.
        if (!pending.empty()) {
            const MatrixXd p = space_.encode(pending);
            VectorXd fantasy_mean;
            VectorXd fantasy_variance;
            gp_.predict(p, fantasy_mean, fantasy_variance);
            MatrixXd x_all(n + p.rows(), x.cols());
            x_all << x, p;
            VectorXd y_all(n + p.rows());
            y_all << y, fantasy_mean.cwiseMax(best_);
            gp_core with_pending;
            if (y_all.allFinite() && with_pending.fit(x_all, y_all, length, signal, noise)) gp_ = std::move(with_pending);
        }

        std::vector<candidate> candidates = initial_candidates(used);
        std::vector<std::size_t> order(candidates.size());
        std::iota(order.begin(), order.end(), std::size_t{0});
        std::stable_sort(order.begin(), order.end(), [&candidates](std::size_t a, std::size_t b) {
            return candidates[a].score > candidates[b].score;
        });
        std::vector<candidate> refined;
        for (std::size_t i = 0; i < order.size() && refined.size() < options_.refine_starts; ++i) {
            const candidate& start = candidates[order[i]];
            if (!std::isfinite(start.score)) break;
            bool seen = false;
            for (const candidate& other : refined) seen = seen || space_.same(other.point, start.point);
            if (!seen) refined.push_back(refine(start));
        }
        std::vector<candidate> all = std::move(refined);
        for (std::size_t i : order) all.push_back(std::move(candidates[i]));
        std::stable_sort(all.begin(), all.end(), [](const candidate& a, const candidate& b) { return a.score > b.score; });
        for (const candidate& c : all) {
            if (!std::isfinite(c.score)) break;
            bool repeat = false;
            for (const auto& t : taken) {
                if (space_.same(c.point, t)) {
                    repeat = true;
                    break;
                }
            }
            if (!repeat) return c.point;
        }
        return std::nullopt;  // the caller falls back to a random (preferably new) point
    }

private:
    std::vector<double> scores(const std::vector<std::vector<double>>& points) const {
        VectorXd mean;
        VectorXd variance;
        gp_.predict(space_.encode(points), mean, variance);
        std::vector<double> result(points.size());
        for (std::size_t i = 0; i < points.size(); ++i) {
            const Index r = static_cast<Index>(i);
            result[i] = log_expected_improvement(mean(r), std::sqrt(variance(r)), best_, options_.xi);
            if (std::isnan(result[i])) result[i] = -infinity;
        }
        return result;
    }

    std::vector<candidate> initial_candidates(const std::vector<observation>& used) {
        const std::size_t d = space_.size();
        std::vector<std::vector<double>> points;
        // Latin hypercube: every dimension's strata visited once, in an independent random order.
        const std::size_t m = std::max<std::size_t>(options_.candidates, 1);
        std::vector<std::vector<std::size_t>> strata(d, std::vector<std::size_t>(m));
        for (auto& column : strata) {
            std::iota(column.begin(), column.end(), std::size_t{0});
            for (std::size_t i = m; i-- > 1;) std::swap(column[i], column[below(random_, i + 1)]);
        }
        for (std::size_t i = 0; i < m; ++i) {
            std::vector<double> point(d);
            for (std::size_t j = 0; j < d; ++j) {
                point[j] = (static_cast<double>(strata[j][i]) + unit(random_)) / static_cast<double>(m);
            }
            points.push_back(space_.snap(std::move(point)));
        }
        // Perturbations of the best observations, at several scales.
        std::vector<std::size_t> order(used.size());
        std::iota(order.begin(), order.end(), std::size_t{0});
        std::stable_sort(order.begin(), order.end(),
                         [&used](std::size_t a, std::size_t b) { return used[a].value < used[b].value; });
        const std::size_t centres = std::min<std::size_t>(5, used.size());
        static constexpr double scales[] = {0.01, 0.03, 0.1, 0.3};
        for (std::size_t i = 0; centres > 0 && i < options_.local_candidates; ++i) {
            const std::vector<double>& centre = used[order[i % centres]].point;
            const double scale = scales[(i / centres) % 4];
            std::vector<double> point = centre;
            for (std::size_t j = 0; j < d; ++j) {
                if (space_.categorical(j)) {
                    if (unit(random_) < std::max(scale, 1.0 / static_cast<double>(d))) point[j] = unit(random_);
                } else {
                    point[j] = std::clamp(point[j] + scale * standard_normal(random_), 0.0, 1.0);
                }
            }
            points.push_back(space_.snap(std::move(point)));
        }
        const std::vector<double> s = scores(points);
        std::vector<candidate> result;
        for (std::size_t i = 0; i < points.size(); ++i) result.push_back({std::move(points[i]), s[i]});
        return result;
    }

    // Pattern search: try moving each coordinate (continuous: +-step, integer: to the neighbouring
    // bucket at least, categorical: any other value); take the best improving move, else halve.
    candidate refine(candidate current) {
        constexpr std::size_t max_neighbours = 64;
        const std::size_t d = space_.size();
        double step = 0.1;
        for (int iteration = 0; iteration < 50 && step >= 1e-4; ++iteration) {
            std::vector<std::vector<double>> neighbours;
            for (std::size_t j = 0; j < d; ++j) {
                const double u = current.point[j];
                if (space_.categorical(j)) {
                    const std::size_t chosen = space_.bucket_of(j, u);
                    for (std::size_t b = 0; b < space_.buckets(j); ++b) {
                        if (b == chosen) continue;
                        neighbours.push_back(current.point);
                        neighbours.back()[j] = space_.centre(j, b);
                    }
                    continue;
                }
                const double move = space_.discrete(j) ? std::max(step, 1.0 / static_cast<double>(space_.buckets(j))) : step;
                for (const double sign : {-1.0, 1.0}) {
                    const double v = space_.snap_coordinate(j, u + sign * move);
                    if (v == u) continue;
                    neighbours.push_back(current.point);
                    neighbours.back()[j] = v;
                }
            }
            if (neighbours.size() > max_neighbours) {
                for (std::size_t i = 0; i < max_neighbours; ++i) {
                    std::swap(neighbours[i], neighbours[i + below(random_, neighbours.size() - i)]);
                }
                neighbours.resize(max_neighbours);
            }
            if (neighbours.empty()) break;
            const std::vector<double> s = scores(neighbours);
            const std::size_t best = static_cast<std::size_t>(std::max_element(s.begin(), s.end()) - s.begin());
            if (s[best] > current.score) {
                current = {std::move(neighbours[best]), s[best]};
            } else {
                step *= 0.5;
            }
        }
        return current;
    }

    const search_space& space_;
    const bayesian_options& options_;
    random_engine& random_;
    gp_core gp_;
    double best_ = 0;
};

std::vector<double> random_proposal(const search_space& space, const std::vector<std::vector<double>>& taken,
                                    random_engine& random) {
    std::vector<double> point;
    for (int attempt = 0; attempt < 100; ++attempt) {
        point = space.random_point(random);
        bool repeat = false;
        for (const auto& t : taken) {
            if (space.same(point, t)) {
                repeat = true;
                break;
            }
        }
        if (!repeat) break;
    }
    return point;  // after 100 repeats (a small, exhausted discrete space) a repeat is fine
}

}  // namespace

bayesian_strategy::bayesian_strategy(std::vector<dimension> dimensions, bayesian_options options)
    : dimensions_(std::move(dimensions)), options_(options) {
    initial_ = options_.initial_points > 0 ? options_.initial_points
                                           : std::min<std::size_t>(std::max<std::size_t>(3, 1 + dimensions_.size()), 10);
}

std::optional<std::vector<double>> bayesian_strategy::propose(const std::vector<trial>& history, random_engine& random) {
    random_engine local(random());  // one draw: everything below is seeded from it
    const search_space space(dimensions_);
    if (dimensions_.empty()) return std::vector<double>{};

    std::vector<std::vector<double>> taken;
    std::vector<std::vector<double>> pending;
    std::vector<observation> observed;
    for (const trial& t : history) {
        if (t.point.size() != dimensions_.size()) continue;  // not of this space: ignored
        std::vector<double> point = space.snap(t.point);
        taken.push_back(point);
        if (t.objective && std::isfinite(*t.objective)) {
            observed.push_back({std::move(point), *t.objective});
        } else if (t.running) {
            pending.push_back(std::move(point));
        }
    }
    if (history.size() < initial_ || observed.empty()) return random_proposal(space, taken, local);
    try {
        proposer p(space, options_, local);
        if (auto point = p.propose(observed, pending, taken)) return point;
    } catch (const std::exception&) {
        // numerical or allocation trouble: fall through to a random proposal
    }
    return random_proposal(space, taken, local);
}

}  // namespace smlocal::tuning
