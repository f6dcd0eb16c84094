#pragma once
// The runner for real containers: executes a job's container plan through the Docker Engine API
// and supervises it to the end (logs, exit codes, Stop/MaxRuntime signals, clean-up).
//
// LIMITATIONS vs real SageMaker:
// - Images are never pulled: they must be in the local Docker image store.
// - After a server restart, the re-attached job writes new log streams, which start with what the
//   containers printed while smlocal was down.
// - A host whose container has exited no longer resolves for its peers (Docker's DNS drops it),
//   where a SageMaker instance stays up until the whole job ends.

#include <chrono>
#include <cstdint>

#include "compose/container_plan.hpp"
#include "compose/docker_client.hpp"
#include "emulator/runner.hpp"

namespace smlocal::compose {

struct docker_runner_options {
    plan_options plan;
    /// Time between SIGTERM and SIGKILL on Stop or MaxRuntimeInSeconds (SageMaker: 120 s).
    std::chrono::milliseconds stop_grace{std::chrono::seconds(120)};
    /// Keep containers and networks after the job, for debugging.
    bool keep_containers = false;
    /// A job fails fast when the Docker data-root has less free space than this.
    std::uint64_t min_free_bytes = 0;
};

class docker_runner final : public runner {
public:
    docker_runner(const docker_client& client, docker_runner_options options);

    /// Plans, writes the config files, creates the job's network and containers, starts them,
    /// streams their logs, and waits. When a host exits non-zero the others are stopped. A stop
    /// request sends SIGTERM, then SIGKILL after the grace period.
    run_result run(const run_request& request, run_observer& observer, std::stop_token stop) override;

    /// Finds the job's containers by their smlocal.job label and supervises them as `run` does.
    run_result reattach(const run_request& request, run_observer& observer, std::stop_token stop) override;

    const docker_runner_options& options() const { return options_; }

private:
    struct started_host {
        std::string host;
        std::string container_id;
    };
    run_result supervise(const std::vector<started_host>& hosts, run_observer& observer, std::stop_token stop,
                         std::stop_token detach, std::chrono::system_clock::time_point logs_since);
    void clean_up(const std::vector<started_host>& hosts, const std::string& network_id);
    /// Fails when the image is missing or the data-root is short of space; phrased for FailureReason.
    std::optional<std::string> preflight(const std::string& image) const;

    const docker_client& client_;
    docker_runner_options options_;
};

}  // namespace smlocal::compose
