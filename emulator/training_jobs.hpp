#pragma once
// The training-job manager: the registry (in memory, written through to the store), the status
// machine, and one worker thread per running job that stages inputs, calls a runner, and packages
// outputs. API handlers call it; it never blocks them on Docker, file copies or sleeps.
//
// LIMITATIONS vs real SageMaker:
// - Instance types are informational; every host runs on this machine.
// - Warm pools, spot interruptions, retries, Debugger/Profiler rules are accepted and echoed only.
// - A job with a container image needs the Docker runner; without one it fails with a clear reason.

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "emulator/clock.hpp"
#include "emulator/list_query.hpp"
#include "emulator/runner.hpp"
#include "emulator/storage/uri_mapper.hpp"
#include "emulator/store.hpp"
#include "emulator/training_job.hpp"

namespace smlocal {

/// A channel's data is missing or unusable: the job fails with "ClientError: <what>".
class input_data_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Maps every channel's URI to a local path (refusing escapes with ValidationException); touches
/// no file.
std::vector<resolved_channel> resolve_channels(const uri_mapper& storage, const training_job_spec& spec);

/// The Downloading step: checks that each channel's data exists and builds per-host staging
/// folders where one shared folder cannot serve (under each host's root). Throws
/// input_data_error, which fails the job with a ClientError.
std::vector<resolved_channel> stage_channels(const uri_mapper& storage, const training_job_spec& spec,
                                             const std::vector<host_workspace>& hosts);

struct emulator_config {
    std::string region = "us-east-1";
    std::string account_id = "123456789012";
    std::filesystem::path data_dir = ".smlocal";  // jobs/ (host workspaces) and logs/ live here
    bool simulate_all = false;                    // run every image in the simulator
};

/// The runners a job can go to: the simulator always, containers when an engine is configured.
struct runner_set {
    runner* simulator = nullptr;
    runner* containers = nullptr;  // may be null
};

struct training_job_list {
    std::vector<nlohmann::json> summaries;
    std::optional<std::string> next_token;
};

/// Called with a job's name whenever it reaches a terminal status (the tuner listens).
using job_finished_listener = std::function<void(const training_job&)>;

class training_job_service {
public:
    training_job_service(emulator_config config, store& db, const uri_mapper& storage, clock& time,
                         runner_set runners);
    /// Stops the worker threads without recording an outcome: jobs stay InProgress in the store
    /// and `recover()` resumes them at the next start.
    ~training_job_service();
    training_job_service(const training_job_service&) = delete;
    training_job_service& operator=(const training_job_service&) = delete;

    /// Loads the store and resumes or ends every job that was running when the server stopped.
    void recover();

    /// CreateTrainingJob with a model-validated request. Returns the job ARN. Throws
    /// service_error: ResourceInUse for a name in use (any status), ValidationException for
    /// cross-field rules and URIs that leave their root.
    std::string create(nlohmann::json request, std::optional<std::string> tuning_job_arn = std::nullopt);

    /// Everything create() checks, without creating: fills the defaults into `request` and
    /// returns its spec. Throws as create() does (the tuner checks its children this way).
    training_job_spec check(nlohmann::json& request) const;

    /// DescribeTrainingJob body. Throws ValidationException "Requested resource not found.".
    nlohmann::json describe(const std::string& name) const;
    /// The same, serialized, cached until the record next changes. Same error.
    std::shared_ptr<const std::string> describe_body(const std::string& name) const;
    /// A copy of the record; same error as describe.
    training_job get(const std::string& name) const;

    training_job_list list(const list_query& query) const;

    /// StopTrainingJob: InProgress -> Stopping, then the worker ends it Stopped. Stopping again is
    /// a no-op; a terminal job gets ValidationException.
    void stop(const std::string& name);

    /// True when `arn` (compared case-insensitively) names a training job.
    bool has_arn(const std::string& arn) const;

    /// The metric series recorded for a job (all points, in order).
    std::vector<metric_point> metric_series(const std::string& name) const;

    void on_job_finished(job_finished_listener listener);

    const emulator_config& config() const { return config_; }

    struct entry;  // one job: its record, its worker, its persistence bookkeeping

private:
    std::shared_ptr<entry> find(const std::string& name) const;
    std::shared_ptr<entry> require(const std::string& name) const;
    void start_worker(const std::shared_ptr<entry>& job, bool reattach = false);
    /// The worker: stages inputs, runs (or, after a restart, re-attaches to) the job, packages
    /// outputs and records the outcome.
    void run_job(const std::shared_ptr<entry>& job, std::stop_token stop, bool reattach);
    /// Applies `change` to the record under the registry lock, then persists the new version.
    void mutate(entry& job, const std::function<void(training_job&)>& change);
    void transition(entry& job, const std::string& secondary, const std::string& message);
    void finish(entry& job, training_job_status status, const std::string& secondary, const std::string& message,
                std::optional<std::string> failure_reason = std::nullopt);
    std::string arn_for(const std::string& name) const;

    emulator_config config_;
    store& store_;
    const uri_mapper& storage_;
    clock& clock_;
    runner_set runners_;

    mutable std::shared_mutex mutex_;  // guards the registry and every record in it
    std::map<std::string, std::shared_ptr<entry>> by_name_;
    std::map<std::string, std::shared_ptr<entry>> by_lower_arn_;
    std::vector<std::shared_ptr<entry>> in_creation_order_;
    double last_creation_time_ = 0;
    std::vector<job_finished_listener> listeners_;
    std::atomic<bool> shutting_down_{false};
    std::mutex workers_mutex_;
    std::condition_variable workers_done_;
    std::size_t active_workers_ = 0;  // detached worker threads still running
};

}  // namespace smlocal
