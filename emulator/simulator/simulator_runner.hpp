#pragma once
// The built-in training simulator: runs `simulator/<objective>` images in process, without
// Docker, deterministically. See docs in README ("Training simulator").

#include "emulator/clock.hpp"
#include "emulator/runner.hpp"

namespace smlocal::simulator {

/// Hyperparameter switches: epochs (10), sim_seconds (2), fail_at_epoch, seed (0), noise (0), plus
/// the objective's own parameters. Each epoch prints one line on algo-1:
///   epoch=<e> train:loss=<v> validation:loss=<v> objective=<v>
/// Intermediate values approach the true value; the last epoch prints it exactly (plus noise).
/// Writes model.json into each host's model dir. With `generic` (--simulate-all for a non-simulator
/// image) it prints generic progress lines and a generic model.
class simulator_runner final : public runner {
public:
    explicit simulator_runner(clock& time_source) : clock_(time_source) {}
    run_result run(const run_request& request, run_observer& observer, std::stop_token stop) override;

private:
    clock& clock_;
};

/// True when the image names the simulator (`simulator/<anything>`).
bool is_simulator_image(std::string_view image);

}  // namespace smlocal::simulator
