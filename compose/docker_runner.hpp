#pragma once
// The runner for real containers: executes a job's container plan through the Docker Engine API
// and supervises it to the end (logs, exit codes, Stop/MaxRuntime signals, clean-up).
//
// LIMITATIONS vs real SageMaker:
// - Images are never pulled: they must be in the local Docker image store.
// - After a server restart, the re-attached job writes new log streams, which start with what the
//   containers printed while smlocal was down.
// - A host whose container has exited still resolves for its peers (its fixed address is in every
//   container's /etc/hosts; Docker's DNS forgets it), but nothing answers there any more: a peer
//   connecting to it gets "No route to host" (after ARP gives up) where a SageMaker instance,
//   still up until the whole job ends, would refuse the connection at once.
// - Containers reach smlocal's API at host.docker.internal, which "host-gateway" maps to the
//   default bridge's gateway; serve listens there too (see listener_covers). A dockerd started
//   with --host-gateway-ip elsewhere, or on another machine, needs an endpoint URL of its own.
// - Images whose resolver asks DNS before /etc/hosts (an /etc/nsswitch.conf with "hosts: dns
//   files", which is rare) do not see exited peers.

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include "compose/container_plan.hpp"
#include "compose/docker_client.hpp"
#include "emulator/runner.hpp"

namespace smlocal::compose {

struct docker_runner_options {
    /// plan.subnet is ignored: the runner has Docker pick a free subnet for each job's network.
    plan_options plan;
    /// Time between SIGTERM and SIGKILL on Stop or MaxRuntimeInSeconds (SageMaker: 120 s).
    std::chrono::milliseconds stop_grace{std::chrono::seconds(120)};
    /// Keep containers and networks after the job, for debugging.
    bool keep_containers = false;
    /// A job fails fast when the Docker data-root has less free space than this.
    std::uint64_t min_free_bytes = 0;
};

/// A job network made by create_job_network.
struct job_network {
    std::string id;
    /// The IPv4 subnet the network was created on. nullopt when Docker reported none: then the
    /// network is as Docker made it, without a configured subnet, so no container on it can have
    /// a fixed address.
    std::optional<network_subnet> subnet;
};

/// Creates a job's network on a subnet of its own, configured so that containers can have fixed
/// addresses on it. Docker gives a container a static IPv4Address only on a network created with
/// an explicit subnet, and picks a free subnet only for a network created without one. So: create
/// the network from `create_body` (a plan's network_create_body without IPAM), read the subnet
/// Docker picked (GET /networks/{id}), remove the network and create it again from `create_body`
/// plus that subnet (network_ipam). The subnet was free a moment before; calls in this process
/// are serialized, and when another Docker client takes the subnet in between (HTTP 403 "Pool
/// overlaps"), it starts over, up to 5 times. Throws docker_error; leaves no network behind then.
job_network create_job_network(const docker_client& client, const nlohmann::json& create_body);

/// True when a server bound to `listen_host` already accepts connections made to `address`: the
/// host is a wildcard (0.0.0.0, ::, [::], empty) or `address` itself. Otherwise (a loopback
/// address, localhost or another single address) containers, which reach the Docker host at the
/// bridge gateway's address, need a second listener there.
bool listener_covers(std::string_view listen_host, std::string_view address);

class docker_runner final : public runner {
public:
    docker_runner(const docker_client& client, docker_runner_options options);

    /// Plans, writes the config files, creates the job's network (create_job_network) and
    /// containers, each host at a fixed address and every host in every /etc/hosts, starts them,
    /// streams their logs, and waits. When a host exits non-zero the others are stopped. A stop
    /// request sends SIGTERM, then SIGKILL after the grace period.
    run_result run(const run_request& request, run_observer& observer, std::stop_token stop) override;

    /// Finds the job's containers by their smlocal.job label and supervises them as `run` does.
    run_result reattach(const run_request& request, run_observer& observer, std::stop_token stop) override;

    /// Points the containers of the jobs planned from now on at `url` (plan_options::endpoint_url):
    /// the server knows its port only once it listens. Thread-safe. Containers re-attached after
    /// a restart keep the URL they were created with.
    void set_endpoint_url(std::string url);
    /// The endpoint the next job's containers get.
    std::string endpoint_url() const;

    /// The options as constructed (plan.endpoint_url: see endpoint_url()).
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
    /// The engine's DockerRootDir, asked of GET /info at most once a minute (it costs ~10 ms a
    /// job otherwise, and moves only when the engine restarts).
    std::string docker_root_dir() const;

    const docker_client& client_;
    docker_runner_options options_;
    mutable std::mutex endpoint_mutex_;
    std::string endpoint_url_;  // guarded by endpoint_mutex_
    mutable std::mutex root_mutex_;
    mutable std::string root_dir_;                                   // guarded by root_mutex_
    mutable std::chrono::steady_clock::time_point root_dir_asked_;  // guarded by root_mutex_
};

}  // namespace smlocal::compose
