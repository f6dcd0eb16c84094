#pragma once
// Hyperparameter tuning jobs: the registry (written through to the store), and one tuner thread
// per running tuning job that launches children as ordinary training jobs, reads their objective
// metric, stops children early, and decides when the tuning job is done (spec/hpo.md).
//
// LIMITATIONS vs real SageMaker:
// - Bayesian is our own Gaussian-process optimiser, so its choices differ from AWS's.
// - Autotune is refused; HyperParameterTuningResourceConfig uses its first instance config.
// - ConvergenceDetected uses the not-improving rule (10 jobs without a 1% improvement).
// - After a restart the tuner's random stream is re-seeded (RandomSeed + jobs launched), so a
//   resumed tuning job does not repeat the exact draws an uninterrupted one would have made.

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "emulator/clock.hpp"
#include "emulator/list_query.hpp"
#include "emulator/store.hpp"
#include "emulator/tags.hpp"
#include "emulator/training_jobs.hpp"
#include "emulator/tuning/strategy.hpp"

namespace smlocal::tuning {

struct definition;

enum class tuning_status { in_progress, completed, failed, stopping, stopped };
std::string_view to_string(tuning_status status);

/// A training job the tuner launched.
struct tuning_child {
    std::string name;
    std::string definition_name;  // empty for a single TrainingJobDefinition
    std::size_t definition = 0;   // index into the definitions
    std::map<std::string, std::string> tuned;
    std::vector<double> point;
};

/// The stored state of one tuning job.
struct tuning_job {
    std::string name;
    std::string arn;
    nlohmann::json request;  // validated request; static hyperparameters include _tuning_objective_metric
    tuning_status status = tuning_status::in_progress;
    std::optional<std::string> failure_reason;
    double creation_time = 0;
    double last_modified_time = 0;
    std::optional<double> end_time;
    std::vector<tuning_child> children;
    /// Why the tuning job is winding down: "stop" (StopHyperParameterTuningJob), "target",
    /// "not_improving", "max_runtime", "failed"; running children are stopped first.
    std::optional<std::string> ending;
};

nlohmann::json to_record_json(const tuning_job& job);
tuning_job tuning_job_from_record(const nlohmann::json& record);

struct tuning_job_list {
    std::vector<nlohmann::json> summaries;
    std::optional<std::string> next_token;
};

class tuning_job_service {
public:
    tuning_job_service(emulator_config config, store& db, training_job_service& training_jobs, tag_service& tags,
                       clock& time);
    /// Stops the tuners (not the tuning jobs: they resume at the next start).
    ~tuning_job_service();

    /// Loads the store and resumes every tuning job that was running.
    void recover();

    /// CreateHyperParameterTuningJob with a model-validated request (Tags included); returns the
    /// ARN. Throws
    /// ResourceInUse for a name in use, ValidationException for rules the model cannot express.
    std::string create(nlohmann::json request);
    /// DescribeHyperParameterTuningJob. Throws ResourceNotFound for an unknown name.
    nlohmann::json describe(const std::string& name) const;
    tuning_job_list list(const list_query& query) const;
    /// StopHyperParameterTuningJob: Stopping, the children are stopped, then Stopped. A terminal
    /// tuning job gets ValidationException.
    void stop(const std::string& name);
    /// ListTrainingJobsForHyperParameterTuningJob.
    tuning_job_list list_training_jobs(const std::string& name, const list_query& query) const;

    bool has_arn(const std::string& arn) const;

    struct entry;

private:
    /// Warm start: the parents' finished children as prior observations for one definition.
    std::vector<trial> warm_start_priors(const nlohmann::json& request, const struct definition& d) const;
    std::shared_ptr<entry> require(const std::string& name) const;
    void start_tuner(const std::shared_ptr<entry>& job);
    void run_tuner(const std::shared_ptr<entry>& job);
    /// One round: refresh, early-stop, decide completion, launch. Returns false when finished.
    bool tune_once(entry& job);
    void persist(entry& job);
    /// Creates the child's training job, with the tuning job's tags.
    void launch_child(entry& job, const tuning_child& child, const std::string& tuning_arn);
    nlohmann::json child_summary(const tuning_job& job, const tuning_child& child,
                                 const std::optional<training_job>& state) const;

    emulator_config config_;
    store& store_;
    training_job_service& training_jobs_;
    tag_service& tags_;
    clock& clock_;

    mutable std::shared_mutex mutex_;  // guards the registry and every record in it
    std::map<std::string, std::shared_ptr<entry>> by_name_;
    std::map<std::string, std::shared_ptr<entry>> by_lower_arn_;
    std::vector<std::shared_ptr<entry>> in_creation_order_;
    double last_creation_time_ = 0;

    std::mutex wake_mutex_;
    std::condition_variable wake_;  // a child finished, or a stop was asked
    std::uint64_t wake_generation_ = 0;  // bumped by every wake-up, so waits can tell
    bool shutting_down_ = false;
    std::size_t active_tuners_ = 0;
};

}  // namespace smlocal::tuning
