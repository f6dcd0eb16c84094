#pragma once
// The seam between the job manager and whatever executes the `train` step: the in-process
// simulator (emulator/simulator) or real containers (compose/). The manager stages inputs,
// drives the secondary statuses and packages outputs; a runner only runs the hosts.

#include <filesystem>
#include <map>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "emulator/storage/staging.hpp"
#include "emulator/training_job.hpp"

namespace smlocal {

/// One host's /opt/ml on the local disk: `<data-dir>/jobs/<job>/<host>/`.
struct host_workspace {
    std::string host;  // algo-1 .. algo-N
    std::filesystem::path root;

    std::filesystem::path config_dir() const { return root / "input" / "config"; }
    std::filesystem::path data_dir() const { return root / "input" / "data"; }
    std::filesystem::path model_dir() const { return root / "model"; }
    std::filesystem::path output_dir() const { return root / "output"; }
    std::filesystem::path output_data_dir() const { return root / "output" / "data"; }
    std::filesystem::path failure_file() const { return root / "output" / "failure"; }
    std::filesystem::path checkpoint_dir() const { return root / "checkpoints"; }
};

/// A channel after URI mapping and staging: where each host's data is on the local disk.
struct resolved_channel {
    channel_spec spec;
    std::filesystem::path source;  // the folder every host mounts (an S3 prefix folder or a file system path)
    bool read_only = true;
    /// Per-host folders where one shared folder cannot express the channel (ShardedByS3Key,
    /// manifests, partial-name prefixes): host -> staging folder of hard links. Overrides `source`.
    std::map<std::string, std::filesystem::path> host_sources;
    /// Pipe mode: the objects each host's FIFO carries, in order.
    std::map<std::string, std::vector<channel_object>> host_objects;

    const std::filesystem::path& source_for(const std::string& host) const {
        auto it = host_sources.find(host);
        return it == host_sources.end() ? source : it->second;
    }
};

struct run_request {
    const training_job_spec* spec = nullptr;
    std::string job_name;
    std::string job_arn;
    std::string region;
    std::vector<host_workspace> hosts;
    std::vector<resolved_channel> channels;
    /// The local folder of CheckpointConfig.S3Uri, shared by every host (created by the manager).
    std::optional<std::filesystem::path> checkpoint_source;
    /// Set when the server shuts down: a runner whose hosts outlive the server (containers) returns
    /// at once and leaves them running, for `reattach` after the restart. Others may ignore it.
    std::stop_token detach;
    /// For `reattach`: epoch seconds of the last output already stored; later output is wanted.
    double output_stored_until = 0;
};

/// Receives what the hosts print. Called from runner threads; implementations are thread-safe.
class run_observer {
public:
    virtual ~run_observer() = default;
    /// One line of output (without its newline) from `host`, raw as the process printed it.
    virtual void on_log(std::string_view host, std::string_view line) = 0;
};

struct run_result {
    enum class outcome {
        exited,       // every host ran to the end (or was stopped); exit_code is the first non-zero one
        not_started,  // the platform could not run it (no such image, engine down...): see message
    };
    outcome kind = outcome::exited;
    int exit_code = 0;
    std::string failed_host;  // the host whose exit code is reported, when non-zero
    std::string message;      // for not_started: the reason, phrased for FailureReason
};

class runner {
public:
    virtual ~runner() = default;
    /// Runs every host to completion on the calling thread. A stop request means SIGTERM, then
    /// SIGKILL after the grace period; the run still returns normally with the exit code.
    virtual run_result run(const run_request& request, run_observer& observer, std::stop_token stop) = 0;

    /// After a server restart: takes over a run that was left going (its containers kept running)
    /// and sees it to the end like `run`. Runners that cannot answer not_started, with a reason.
    virtual run_result reattach(const run_request& request, run_observer& observer, std::stop_token stop) {
        (void)request, (void)observer, (void)stop;
        return {run_result::outcome::not_started, 0, {},
                "InternalServerError: smlocal restarted while the job was running and this runner cannot re-attach"};
    }
};

}  // namespace smlocal
