#pragma once
// The built-in training simulator: runs `simulator/<objective>` images in process, without
// Docker, deterministically. See docs in README ("Training simulator").
//
// LIMITATIONS vs a real training container: hosts run one after another on the calling thread
// (only algo-1 trains; the others just log), nothing is read from the input channels beyond
// checking that they exist, and a stop is honoured between epochs (at once while waiting).

#include <cstdint>
#include <string_view>
#include <vector>

#include "emulator/clock.hpp"
#include "emulator/runner.hpp"
#include "emulator/simulator/objectives.hpp"

namespace smlocal::simulator {

/// Runs a job in process instead of in containers.
///
/// Hyperparameters (all strings; a JSON-quoted value such as "\"1.5\"", as script-mode clients
/// send, is unquoted first; unknown names such as `_tuning_objective_metric` are ignored):
///   - the objective's parameters (quadratic: x y; branin: x1 x2; hartmann6: x1..x6), required;
///   - epochs (10): integer from 1 to 1000000;
///   - sim_seconds (2): total wall time, slept as sim_seconds/epochs before each epoch (0 = instant);
///   - fail_at_epoch: at that epoch (1..epochs) write "simulated failure at epoch <k>" to the
///     failure file and exit 1; other values never fire;
///   - seed (0): integer; noise (0): standard deviation of Gaussian noise added to every value.
///
/// Learning curve, for the objective f with minimum f* at the point x, epochs e = 1..E:
///   A(x)     = 1 + 0.5·|f(x) − f*| + 0.5·u(x),   u(x) in [0,1) a hash of the parameter values
///   r(e)     = 1 − e/E
///   v(e)     = f(x) + A(x)·r(e)^1.5 + noise·z(e)     (validation:loss)
///   t(e)     = v(e) − 0.1·r(e)·A(x)                  (train:loss)
/// so v decreases to exactly f(x) (plus noise) at the last epoch, and configurations that are worse
/// start higher (early rankings mostly, not always, agree with final ones). z(e) are standard
/// normal draws (splitmix64 + Box-Muller) seeded from `seed` and the parameter values: the same
/// hyperparameters always print the same lines.
///
/// Log lines, numbers printed with %.10g:
///   algo-1:  simulator: objective=<name> epochs=<E> seed=<s>
///            epoch=<e> train:loss=<t> validation:loss=<v>        (once per epoch)
///            simulator: done final validation:loss=<v>
///   others:  simulator: <host> waiting for algo-1   ...   simulator: <host> done
/// On a stop: "simulator: received SIGTERM, saving model", the model of the epochs completed so
/// far, exit code 0. On a failure: "simulator: <reason>" and the reason in algo-1's failure file.
///
/// algo-1 writes model_dir()/model.json:
///   {"objective", "hyperparameters": {parsed numbers}, "epochs_completed",
///    "final": {"validation:loss": v}}   ("final" is {} when no epoch completed).
///
/// Exit codes: 0 done or stopped; 1 simulated failure, missing input channel data or an unwritable
/// model; 2 bad hyperparameters. A `simulator/` image naming no known objective is `not_started`.
///
/// Generic mode (--simulate-all, for an image that is not `simulator/...`): prints
/// "simulator: --simulate-all runs <image> in process", then "epoch=<e> train:loss=<1/e>" per
/// epoch and "simulator: done final train:loss=<v>"; honours epochs, sim_seconds, fail_at_epoch
/// and stops the same way; model.json is {"image", "simulated": true, "hyperparameters": {raw
/// strings}, "epochs_completed"}.
class simulator_runner final : public runner {
public:
    explicit simulator_runner(clock& time_source) : clock_(time_source) {}
    /// Never throws for bad input: problems become exit codes (see above) or `not_started`.
    run_result run(const run_request& request, run_observer& observer, std::stop_token stop) override;

private:
    clock& clock_;
};

/// The validation:loss v(e) a run prints at `epoch` (1..epochs) for `target` at `point` with the
/// given seed and noise: the learning curve above, computed by the same code as run() (without
/// the log line; with noise > 0 the draws of epochs 1..epoch are made, so O(epoch)). Pure; for
/// benchmarks and tests. Throws std::invalid_argument unless 1 <= epoch <= epochs, noise >= 0
/// and the point has the objective's number of coordinates.
double learning_curve_value(const objective& target, const std::vector<double>& point, std::int64_t epoch,
                            std::int64_t epochs, std::int64_t seed, double noise);

/// True when the image names the simulator (`simulator/<anything>`, no registry prefix).
bool is_simulator_image(std::string_view image);

/// The objective name of a simulator image: `simulator/branin:1@sha256:...` → "branin". Empty when
/// the image is not a simulator image.
std::string_view objective_name_of_image(std::string_view image);

}  // namespace smlocal::simulator
