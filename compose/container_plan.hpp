#pragma once
// The container plan: a pure translation of one training job (run_request) into the Docker
// containers that run it, one per host, following spec/container.md. No file system, no Docker:
// the runner (compose/docker_client) writes `config_files` and executes the plan, and
// compose_file.hpp prints the same plan as a docker-compose file.
//
// LIMITATIONS vs real SageMaker:
// - File and FastFile channels are read-only bind mounts of the local S3/FSx/EFS folder (zero
//   copy), not writable copies on an ML storage volume, unless the caller marks the channel
//   writable (resolved_channel::read_only = false, for a writable view it prepared).
// - CPU and memory limits come from a rule of thumb per instance size and family (see
//   instance_resources), not from the real instance catalogue; limits are off by default.
// - GPU instance types get every GPU of the host (Count -1), whatever their real GPU count.
//   Trainium/Inferentia (ml.trn*, ml.inf*) instance types are refused.
// - Only the documented config files are planned (hyperparameters, inputdataconfig,
//   resourceconfig, checkpointconfig); trainingjobconfig.json and friends are not.
// - Heterogeneous clusters are flattened: every host is in group "homogeneousCluster".

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "emulator/runner.hpp"

namespace smlocal::compose {

/// The IPv4 subnet of a job's network, as Docker allocated it (GET /networks/{id}: IPAM.Config).
struct network_subnet {
    std::string subnet;   // CIDR: "172.18.0.0/16"
    std::string gateway;  // "172.18.0.1"; empty: Docker's default, the subnet's first address

    friend bool operator==(const network_subnet&, const network_subnet&) = default;
};

/// The name under which containers reach the Docker host: Docker Desktop defines it; on Linux the
/// plan maps it with HostConfig.ExtraHosts "host.docker.internal:host-gateway", which the engine
/// resolves to the default bridge's gateway, from user-defined networks too.
inline constexpr std::string_view docker_host_alias = "host.docker.internal";

/// The dummy credentials containers get with an endpoint (smlocal checks no signature).
inline constexpr std::string_view dummy_access_key_id = "local";
inline constexpr std::string_view dummy_secret_access_key = "local";

/// "http://host.docker.internal:<port>": smlocal's API as containers reach it while smlocal
/// listens on the host at `port` on the bridge gateway's address (or on every address).
std::string default_endpoint_url(std::uint16_t port);

/// Server-wide settings that shape every plan.
struct plan_options {
    /// HostConfig.ShmSize of every container (/dev/shm); 0 leaves Docker's default (64 MB).
    std::int64_t shm_size_bytes = 0;
    /// Set HostConfig.NanoCpus and Memory from the instance type (see instance_resources).
    bool limit_resources = false;
    /// GPUs the Docker host offers; GPU instance types need at least one.
    int host_gpu_count = 0;
    /// Run GPU instance types on CPU (with a warning) when the host has no GPU, instead of failing.
    bool gpu_cpu_fallback = false;
    /// Added to every container's environment (S3_ENDPOINT_URL, dummy AWS credentials...).
    /// Overrides the platform variables; the job's own Environment overrides these.
    std::map<std::string, std::string> extra_env;
    /// Where containers reach smlocal's own API (S3, SageMaker, CloudWatch Logs), e.g.
    /// default_endpoint_url(port). Set, and the job not network-isolated: every container gets
    /// AWS_ENDPOINT_URL and S3_ENDPOINT_URL (the training toolkit fetches an s3://
    /// sagemaker_submit_directory from there), the dummy credentials unless the job's Environment
    /// names either key, and host.docker.internal in /etc/hosts. Empty, or isolated: none of that.
    std::string endpoint_url;
    /// Per-host channel folders (host -> channel -> absolute folder) that override the request's
    /// own. A channel's folder on a host is, first found: this map, resolved_channel::host_sources
    /// (the staging folders of ShardedByS3Key, manifests, partial-name prefixes), then
    /// resolved_channel::source. Per-host folders are always mounted read-only.
    std::map<std::string, std::map<std::string, std::filesystem::path>> channel_sources_per_host;
    /// Host folder mounted at CheckpointConfig.LocalPath for every host (e.g. the local folder of
    /// the checkpoint S3 URI, shared like the real S3 location). Unset: run_request's
    /// checkpoint_source, else each host's host_workspace::checkpoint_dir().
    std::optional<std::filesystem::path> checkpoint_source;
    /// The job network's subnet (per job: the runner has Docker pick a free one). Set: the
    /// network is created on it (IPAM), every host gets a fixed address in it (host_addresses)
    /// and every container's /etc/hosts lists every host (HostConfig.ExtraHosts), so a host
    /// stays resolvable for its peers after its container exits, as a SageMaker instance stays up
    /// until the whole job ends (Docker's embedded DNS forgets stopped containers). Unset: no
    /// fixed addresses; peers resolve through Docker's DNS only while they run.
    std::optional<network_subnet> subnet;
};

/// One bind mount; `source` is an absolute host path, `target` a container path.
struct bind_mount {
    std::string source;
    std::string target;
    bool read_only = true;

    friend bool operator==(const bind_mount&, const bind_mount&) = default;
};

/// Everything needed to create one host's container.
struct host_plan {
    std::string host;            // algo-N
    std::string container_name;  // smlocal-<job lower-cased>-algo-N (POST /containers/create?name=)
    /// Docker Engine API v1.41 POST /containers/create body. Mounts are HostConfig.Mounts of
    /// type "bind" (never HostConfig.Binds), in the order of `mounts`.
    nlohmann::json create_body;
    std::vector<bind_mount> mounts;
    /// The host's fixed IPv4 address on the job network; empty without plan_options::subnet.
    std::string address;
    /// File name -> content, to write into host_workspace::config_dir() before any container of
    /// the job starts (hyperparameters.json, inputdataconfig.json, resourceconfig.json and, when
    /// checkpointing, checkpointconfig.json). Compact, deterministic JSON.
    std::map<std::string, std::string> config_files;
};

/// The containers of one job, on a network of its own.
struct container_plan {
    std::string job_name;
    std::string network_name;  // smlocal-<job lower-cased>; "bridge" or "none" without an own network
    bool internal_network = false;  // EnableNetworkIsolation: peers reachable, nothing outside
    /// Multi-host jobs get a network of their own, where the hosts resolve each other. A single
    /// host needs no peers: it runs on Docker's default bridge (or "none" when isolated), which
    /// spares creating and removing a network for every job.
    bool own_network = true;
    /// Docker Engine API v1.41 POST /networks/create body for network_name (with an IPAM
    /// config when the plan has a subnet).
    nlohmann::json network_create_body;
    /// plan_options::subnet: the network's subnet, which holds every host's address.
    std::optional<network_subnet> subnet;
    /// One per host, in the order of run_request::hosts (hosts[i] is request.hosts[i]).
    std::vector<host_plan> hosts;
    /// plan_options::endpoint_url when the containers got it; empty otherwise (none configured,
    /// or EnableNetworkIsolation, which cuts them off from smlocal as from AWS).
    std::string endpoint_url;
    /// Things the user should know but that do not stop the job (GPU fallback, overridden
    /// environment variables, limits that could not be derived).
    std::vector<std::string> warnings;
};

/// The job cannot run as asked on this host (a GPU instance type without GPUs, Neuron instance
/// types, a checkpoint LocalPath that is relative or is a reserved /opt/ml mount). what() is
/// phrased for FailureReason ("ClientError: ...").
class plan_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Approximate resources of an instance type, for HostConfig limits.
struct instance_resources {
    double vcpus = 0;
    std::int64_t memory_bytes = 0;
};

/// Rule of thumb for `ml.<family>.<size>`:
///   vCPUs: medium = 2, large = 2, xlarge = 4, <N>xlarge = 4·N;
///   memory: GiB per vCPU by the family's first letter: c = 2, m = 4, t = 4, g = 4, r = 8, p = 8,
///   any other letter 4; a `medium` gets half of that (ml.t3.medium: 2 vCPU, 4 GiB).
/// nullopt when the type does not match `ml.<family>.<size>` with a known size (e.g. `metal`).
std::optional<instance_resources> resources_for_instance_type(std::string_view instance_type);

/// True for instance types with NVIDIA GPUs: ml.p*, ml.g*.
bool is_gpu_instance_type(std::string_view instance_type);
/// True for AWS Trainium/Inferentia instance types (ml.trn*, ml.inf*), which smlocal cannot run.
bool is_neuron_instance_type(std::string_view instance_type);

/// The fixed addresses of `count` hosts on `subnet`, for the hosts in numeric order (algo-1
/// first): the k-th host (from 0) gets the subnet's address 11 + k (172.18.0.11 for algo-1 on
/// 172.18.0.0/16), skipping the gateway (default: the subnet's first address); when the subnet
/// is too small for that, addresses from its first one on, still skipping the gateway, the
/// network and the broadcast address. Throws plan_error when the subnet has no room for `count`
/// hosts, std::invalid_argument when `subnet` is not an IPv4 CIDR or the gateway not an IPv4
/// address.
std::vector<std::string> host_addresses(const network_subnet& subnet, std::size_t count);

/// The IPAM member of a POST /networks/create body that puts the network on `subnet`.
nlohmann::json network_ipam(const network_subnet& subnet);

/// Translates one job into its containers. Pure: touches no file and no Docker.
/// resourceconfig.json lists hosts in numeric order (algo-1, algo-2, ..., algo-10), whatever the
/// order of request.hosts, so the toolkit's master (hosts[0]) is always algo-1.
/// Throws plan_error when the job cannot run as asked (see plan_error), and
/// std::invalid_argument when the request breaks the caller's contract (no spec, no hosts,
/// relative host paths, a manifest or multi-host ShardedByS3Key File/FastFile channel without a
/// per-host folder).
container_plan make_plan(const run_request& request, const plan_options& options);

/// The config file contents alone (also used by make_plan), for one host of the request.
std::map<std::string, std::string> make_config_files(const run_request& request, std::string_view current_host);

/// The whole plan as JSON (for golden tests, debugging and `smlocal compose --json`).
void to_json(nlohmann::json& out, const network_subnet& subnet);
void to_json(nlohmann::json& out, const bind_mount& mount);
void to_json(nlohmann::json& out, const host_plan& host);
void to_json(nlohmann::json& out, const container_plan& plan);

}  // namespace smlocal::compose
