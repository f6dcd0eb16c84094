#pragma once
// The training-job domain record: what was asked (the validated CreateTrainingJob request, kept
// verbatim for Describe) and what happened (status, transitions, times, metrics).

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace smlocal {

enum class training_job_status { in_progress, completed, failed, stopping, stopped };

/// The AWS spelling ("InProgress", ...).
std::string_view to_string(training_job_status status);
/// Parses the AWS spelling; nullopt for anything else.
std::optional<training_job_status> parse_training_job_status(std::string_view text);
bool is_terminal(training_job_status status);

/// One entry of SecondaryStatusTransitions. AWS clients index StatusMessage unguarded, so it is
/// always set.
struct status_transition {
    std::string status;
    double start_time = 0;
    std::optional<double> end_time;
    std::string message;
};

struct metric_definition {
    std::string name;
    std::string regex;
};

/// One observation of a metric (a point of its series, or the final value).
struct metric_point {
    std::string name;
    double value = 0;
    double timestamp = 0;
    std::optional<int> epoch;  // set by emitters that know it (the simulator)
};

/// Where a channel's data lives, as the request names it.
struct channel_spec {
    std::string name;
    std::string input_mode;  // effective: the channel's own InputMode, else the job's
    // S3 channels
    std::string s3_uri;
    std::string s3_data_type;          // S3Prefix | ManifestFile | AugmentedManifestFile
    std::string s3_distribution_type;  // FullyReplicated | ShardedByS3Key
    // FileSystemDataSource channels
    std::string file_system_id;
    std::string file_system_type;  // EFS | FSxLustre
    std::string file_system_access_mode;  // ro | rw
    std::string directory_path;
    std::optional<std::string> content_type;
    std::optional<std::string> compression_type;
    std::optional<std::string> record_wrapper_type;

    bool is_file_system() const { return !file_system_id.empty(); }
};

/// The parts of a CreateTrainingJob request that the emulator acts on. Built from the validated
/// request with `parse_training_job_spec`; the request JSON itself stays the source of truth.
struct training_job_spec {
    std::string name;
    std::string training_image;
    std::string training_input_mode;
    std::vector<std::string> container_entrypoint;
    std::vector<std::string> container_arguments;
    std::map<std::string, std::string> hyperparameters;
    std::map<std::string, std::string> environment;
    std::vector<metric_definition> metric_definitions;
    std::vector<channel_spec> channels;
    std::string s3_output_path;
    std::string instance_type;
    int instance_count = 1;
    int volume_size_gb = 30;
    double max_runtime_seconds = 86400;
    std::optional<std::string> checkpoint_s3_uri;
    std::string checkpoint_local_path = "/opt/ml/checkpoints";
    bool enable_network_isolation = false;
};

/// Fills the members AWS defaults (ResourceConfig, StoppingCondition) into a validated request, so
/// that Describe echoes the effective values.
void apply_create_defaults(nlohmann::json& request);

/// Reads the spec out of a validated CreateTrainingJob request (defaults already applied).
/// Throws service_error(ValidationException) for cross-field rules the model cannot express.
training_job_spec parse_training_job_spec(const nlohmann::json& request);

/// The stored state of one training job.
struct training_job {
    std::string name;
    std::string arn;
    nlohmann::json request;  // validated CreateTrainingJob request with defaults filled in
    training_job_status status = training_job_status::in_progress;
    std::string secondary_status = "Starting";
    std::optional<std::string> failure_reason;
    double creation_time = 0;
    double last_modified_time = 0;
    std::optional<double> training_start_time;
    std::optional<double> training_end_time;
    std::vector<status_transition> transitions;
    std::vector<metric_point> final_metrics;  // last value per metric name, in definition order
    std::optional<std::string> tuning_job_arn;
    std::optional<std::string> stop_reason;  // "user" or "max_runtime" once a stop was asked
};

/// The record as stored (every field; round-trips through from_record_json).
nlohmann::json to_record_json(const training_job& job);
training_job from_record_json(const nlohmann::json& record);

/// The DescribeTrainingJob response body (AWS member names, epoch-second timestamps).
nlohmann::json to_describe_json(const training_job& job);
/// One TrainingJobSummaries item of ListTrainingJobs.
nlohmann::json to_summary_json(const training_job& job);

/// `<S3OutputPath>/<job>/output/model.tar.gz`, with exactly one slash at the join.
std::string model_artifact_uri(const std::string& s3_output_path, const std::string& job_name);
/// `<S3OutputPath>/<job>/output/output.tar.gz`.
std::string output_artifact_uri(const std::string& s3_output_path, const std::string& job_name);

}  // namespace smlocal
