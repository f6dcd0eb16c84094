#pragma once
// The Bayesian strategy: Gaussian-process regression on the finished trials (Matérn 5/2 kernel
// with ARD length scales, hyperparameters fitted by maximising the log marginal likelihood) and
// Expected Improvement maximised over the unit cube (spec/hpo.md §3). SageMaker's own Bayesian
// optimiser is not public: this one proposes different points from AWS for the same history.
//
// The header is free of Eigen on purpose: the linear algebra lives in bayesian.cpp, so code that
// includes this file needs no Eigen include path.

#include "emulator/tuning/strategy.hpp"

#include <cstddef>
#include <memory>
#include <optional>
#include <vector>

namespace smlocal::tuning {

/// Matérn 5/2 with ARD: variance * (1 + sqrt5 r + 5/3 r^2) * exp(-sqrt5 r), where
/// r^2 = sum_i ((x_i - y_i) / length_scales_i)^2. All three vectors have the same size.
double matern52(const std::vector<double>& x, const std::vector<double>& y, const std::vector<double>& length_scales,
                double variance);

/// Expected Improvement for MINIMISATION: E[max(best - xi - f, 0)] with f ~ N(mean, stddev^2).
/// stddev <= 0 gives max(best - xi - mean, 0).
double expected_improvement(double mean, double stddev, double best, double xi);
/// log of expected_improvement, accurate (finite) far into the tail where the plain formula
/// underflows to 0; -infinity only when stddev <= 0 and there is no improvement.
double log_expected_improvement(double mean, double stddev, double best, double xi);

/// Kernel hyperparameters (natural scale, not logs).
struct gp_hyperparameters {
    std::vector<double> length_scales;  // one per input coordinate
    double signal_variance = 1.0;
    double noise_variance = 1e-6;
};

/// The box (natural scale) that hyperparameter fitting keeps to.
struct gp_bounds {
    static constexpr double min_length_scale = 0.01;
    static constexpr double max_length_scale = 10.0;
    static constexpr double min_signal_variance = 0.05;
    static constexpr double max_signal_variance = 20.0;
    static constexpr double min_noise_variance = 1e-6;  // also the jitter floor
    static constexpr double max_noise_variance = 1.0;
};

/// A zero-mean GP with a Matérn 5/2 ARD kernel and fixed hyperparameters (the caller
/// standardises targets).
class gaussian_process {
public:
    struct prediction {
        double mean = 0;
        double variance = 0;  // of the latent function (noise excluded), >= 0
    };

    gaussian_process();
    ~gaussian_process();
    gaussian_process(gaussian_process&&) noexcept;
    gaussian_process& operator=(gaussian_process&&) noexcept;

    /// Conditions on `inputs` (one row per observation, all of length_scales.size()) and
    /// `targets`. When the kernel matrix cannot be factorised, extra diagonal jitter is added
    /// (x10 steps up to 0.1 * signal variance). Returns false (and stays unfitted) on bad shapes,
    /// non-finite values or a factorisation that still fails.
    bool fit(const std::vector<std::vector<double>>& inputs, const std::vector<double>& targets,
             const gp_hyperparameters& hyperparameters);
    bool fitted() const;
    /// Posterior at x. Unfitted: the prior (mean 0, variance = signal variance, or 0).
    prediction predict(const std::vector<double>& x) const;
    /// log p(y | X, hyperparameters); -infinity when unfitted.
    double log_marginal_likelihood() const;
    /// d log_marginal_likelihood / d (log l_1 .. log l_d, log signal variance, log noise variance).
    std::vector<double> log_marginal_likelihood_gradient() const;
    /// The extra diagonal that was needed to factorise (0 when none).
    double jitter() const;
    const gp_hyperparameters& hyperparameters() const;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

/// Maximises the log marginal likelihood plus a mild log-normal prior over the hyperparameters
/// (log space, inside gp_bounds) with projected L-BFGS and analytic gradients, from a default
/// start plus the best of a few random draws (`restarts` runs in all). `targets` should be
/// standardised. Never throws on numerical trouble: returns the best point it evaluated (the
/// default when nothing could be evaluated).
gp_hyperparameters fit_hyperparameters(const std::vector<std::vector<double>>& inputs,
                                       const std::vector<double>& targets, random_engine& random,
                                       std::size_t restarts = 3);

struct bayesian_options {
    /// Proposals drawn uniformly at random before the model is used, counting every trial in the
    /// history (running, finished, failed). 0 = automatic: max(3, 1 + dimensions), at most 10.
    std::size_t initial_points = 0;
    /// Latin-hypercube candidates scored by Expected Improvement.
    std::size_t candidates = 2000;
    /// Extra candidates: perturbations of the best observed points.
    std::size_t local_candidates = 500;
    /// The best candidates that are then refined by a pattern (coordinate) search.
    std::size_t refine_starts = 5;
    /// Exploration margin of Expected Improvement, in standardised objective units.
    double xi = 0.01;
    /// L-BFGS runs when fitting the kernel hyperparameters.
    std::size_t fit_restarts = 3;
    /// At most this many observations fit the hyperparameters (best half + most recent half).
    std::size_t fit_observations = 100;
    /// At most this many observations condition the model (best half + most recent half).
    std::size_t max_observations = 300;
};

/// Bayesian optimisation over the unit cube. The model's targets are the objectives standardised,
/// passed through a Yeo-Johnson power transform fitted by maximum likelihood (a monotone warp that
/// tames heavy-tailed losses; identity-like on Gaussian-looking values) and standardised again.
/// Categorical dimensions are one-hot encoded for the GP (sharing one length scale per
/// dimension); integer ones stay continuous. Proposals snap
/// categorical and integer coordinates to the centre of their bucket and avoid points already in
/// the history. Running trials are added as fantasies (kriging believer, never more optimistic
/// than the incumbent) so parallel proposals spread out. Deterministic given the engine's state;
/// each call draws exactly one number from `random` (the seed of everything it does). Numerical
/// failures fall back to a random proposal; it never throws for numerical reasons.
class bayesian_strategy final : public strategy {
public:
    explicit bayesian_strategy(std::vector<dimension> dimensions, bayesian_options options = {});
    std::optional<std::vector<double>> propose(const std::vector<trial>& history, random_engine& random) override;

    std::size_t initial_points() const { return initial_; }
    const std::vector<dimension>& dimensions() const { return dimensions_; }

private:
    std::vector<dimension> dimensions_;
    bayesian_options options_;
    std::size_t initial_ = 0;
};

}  // namespace smlocal::tuning
