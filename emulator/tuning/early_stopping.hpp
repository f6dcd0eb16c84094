#pragma once
// Early stoppers for hyperparameter tuning (spec/hpo.md §3 Hyperband, §7 median rule). Both are
// pure functions of the history the tuner passes in: no state survives between calls, so calling
// `should_stop` again with the same history gives the same answer.
//
// Conventions shared by both stoppers (see strategy.hpp):
//   - Objective values are SMALLER IS BETTER; `trial::intermediate[e - 1]` is the value after
//     epoch e (resource e). Non-finite values (NaN, ±inf) carry no information and are skipped
//     (the metric parser never produces them, but a stopper must not be fooled by one).
//   - `history` is in LAUNCH ORDER (the tuner appends a trial when it launches a child) and
//     `running` is one of its elements. The running trial is found by address; if the caller
//     passes a copy, by equal contents; if neither, it is treated as the next, not yet appended
//     trial (every history entry is then a peer and launched earlier).
//   - Only a trial with `running == true` can be stopped; finished trials answer false.

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "emulator/tuning/strategy.hpp"

namespace smlocal::tuning {

/// MaxResource from the static hyperparameters when `HyperbandStrategyConfig.MaxResource` is
/// absent (spec/hpo.md §3): the value of `epochs`, `numepochs`, `n-epochs`, `n_epochs` or
/// `num_epochs` (exact, case-sensitive names). If several are present the first in that order
/// decides. The value must be a base-10 integer >= 1 that fits an int: digits only (no sign,
/// point, exponent or spaces), optionally wrapped in one pair of double quotes as the SageMaker
/// Python SDK JSON-encodes framework hyperparameters ("\"10\""). nullopt otherwise. The caller
/// applies the same 20,000 upper bound as for an explicit MaxResource.
std::optional<int> infer_max_resource(const std::map<std::string, std::string>& static_hyperparameters);

struct hyperband_options {
    int min_resource = 1;  // HyperbandStrategyConfig.MinResource, >= 1
    int max_resource = 1;  // MaxResource (or inferred), >= min_resource
    int eta = 3;           // reduction factor, >= 2
};

/// Hyperband as asynchronous successive halving (ASHA, Li et al. 2020) with Hyperband brackets
/// (Li et al. 2018), adapted to "every child runs MaxResource epochs unless stopped": instead of
/// promoting winners, losers are stopped when they reach a rung.
///
/// Rungs: r_k = min_resource·eta^k for k = 0, 1, ... while r_k < max_resource (min 1, max 27,
/// eta 3 -> 1, 3, 9; min == max -> no rungs, nothing is ever stopped). A job with fewer than
/// min_resource values, or with max_resource values or more, is never stopped.
///
/// Brackets: B = (number of rungs) + 1 brackets s = 0..B-1. A job in bracket s is judged only at
/// rungs r_s, r_{s+1}, ...; bracket B-1 has no rung at all, so its jobs always run to
/// max_resource (Hyperband's "plain random search" bracket). The i-th trial of the history
/// (0-based, launch order) gets bracket
///     u_i = frac(i · 0.6180339887...)   (golden-ratio sequence: deterministic, well spread)
///     s   = the interval of u_i when [0,1) is cut, from s = B-1 down to s = 0, into pieces of
///           width w_s / Σw,  w_s = eta^-s
/// i.e. every bracket gets the same epochs at its first rung (n_s · r_s constant). Rungs 1,3,9
/// of max 27: shares 27:9:3:1 (of 40) for s = 0..3, so about 2.5% of the jobs never stop early
/// and two thirds are judged from rung 1. u_0 = 0, so the FIRST job is always in the
/// never-stopped bracket and gives an early full-length reference. (Synchronous Hyperband's
/// configuration counts, eta^(B-1-s)/(B-s), tilt further towards the gentle brackets: simulating
/// 27 jobs of 27 epochs, 1 to 9 in parallel, they spend 31-37% of the epochs of a search without
/// stopping, against 22-30% with these shares, for a similar final result.)
///
/// Judging: a running job with m values (min_resource <= m < max_resource) is judged at the
/// highest rung r <= m of its bracket, if any, and at that rung only (a rung passed before is
/// never judged again, so a job kept at a rung stays kept once it moves on; a poll that misses
/// the exact epoch of a rung still judges it, at the next poll). Its score at r is the BEST
/// (smallest finite) of its first r values (robust to a noisy epoch; equal to the value at r on
/// a decreasing curve); +inf if none is finite. Its peers at r are the other trials of any
/// bracket, finished or running, with at least r values that reached r no later than it did,
/// estimated from the history alone as: launched earlier (earlier in the history), or launched
/// later but now at least as far as it (>= m values: started together or faster). With equal
/// epoch speeds (children share their static hyperparameters) this is exactly "reached r before
/// or at the same time"; so later arrivals do not overturn a decision taken at the rung. With
/// n = peers + 1 jobs at the rung: n < eta -> continue; otherwise the job continues iff fewer than
/// floor(n / eta) peers have a strictly better score (top 1/eta; ties favour continuing).
///
/// Cost: one call is O(total number of values in the history).
class hyperband_stopper final : public early_stopper {
public:
    /// Throws std::invalid_argument unless 1 <= min_resource <= max_resource and eta >= 2.
    explicit hyperband_stopper(hyperband_options options);

    bool should_stop(const trial& running, const std::vector<trial>& history) const override;

    const hyperband_options& options() const { return options_; }
    /// The rungs r_k, ascending.
    const std::vector<int>& rungs() const { return rungs_; }
    /// Number of brackets: rungs().size() + 1.
    std::size_t bracket_count() const { return rungs_.size() + 1; }
    /// The bracket of the trial at `index` in the history (launch order).
    std::size_t bracket_of(std::size_t index) const;
    /// The first rung at which jobs of `bracket` are judged; nullopt for the last bracket, whose
    /// jobs are never stopped early.
    std::optional<int> first_rung_of(std::size_t bracket) const;

private:
    hyperband_options options_;
    std::vector<int> rungs_;
    std::vector<double> bracket_upper_;  // cumulative interval ends, indexed by bracket
};

struct median_options {
    /// No job is stopped before this many epochs.
    int min_epochs = 3;
    /// Number of OTHER jobs with enough values needed before the median is trusted.
    int min_peers = 3;
    /// The epochs a child is expected to run (its `epochs`-like static hyperparameter), 0 when
    /// unknown. When known, the minimum epoch is also at least ceil(10% of it), and a job that
    /// has reached it is never stopped (it is done).
    int expected_epochs = 0;
};

/// TrainingJobEarlyStoppingType `Auto` (spec/hpo.md §7, the median stopping rule). A running job
/// whose intermediate has e values is judged when e >= max(min_epochs, ceil(0.1·expected_epochs))
/// (and e < expected_epochs when that is known):
///   - peers: every OTHER trial of the history (finished or running, any status) with at least
///     e values; a peer's running average is the mean of the finite values among its first e
///     (a peer with none is not counted);
///   - with fewer than min_peers such peers the job continues;
///   - otherwise the job is stopped iff its CURRENT value (the e-th, i.e. the latest; as in the
///     spec, not its own average) is strictly greater (worse) than the median of the peers'
///     running averages (for an even count, the mean of the two middle ones). A non-finite
///     current value never stops a job.
/// The spec says "every earlier job"; all other jobs with e values are used here (a job launched
/// later can only have e values already if it runs faster, which changes little). The rule is
/// applied afresh at every call, as the service applies it after every epoch.
///
/// Cost: one call is O(e · number of trials).
class median_stopper final : public early_stopper {
public:
    /// Throws std::invalid_argument unless min_epochs >= 1, min_peers >= 1, expected_epochs >= 0.
    explicit median_stopper(median_options options = {});

    bool should_stop(const trial& running, const std::vector<trial>& history) const override;

    const median_options& options() const { return options_; }
    /// The first epoch at which a job may be stopped.
    int first_epoch() const;

private:
    median_options options_;
};

}  // namespace smlocal::tuning
