#include "emulator/training_job.hpp"

#include <array>
#include <cmath>
#include <set>
#include <utility>

#include "emulator/errors.hpp"

namespace smlocal {
namespace {

using json = nlohmann::json;

constexpr std::array<std::pair<training_job_status, std::string_view>, 5> status_names{{
    {training_job_status::in_progress, "InProgress"},
    {training_job_status::completed, "Completed"},
    {training_job_status::failed, "Failed"},
    {training_job_status::stopping, "Stopping"},
    {training_job_status::stopped, "Stopped"},
}};

std::string string_or(const json& object, const char* key, std::string fallback = {}) {
    auto it = object.find(key);
    return it != object.end() && it->is_string() ? it->get<std::string>() : fallback;
}

std::map<std::string, std::string> string_map(const json& object, const char* key) {
    std::map<std::string, std::string> out;
    if (auto it = object.find(key); it != object.end() && it->is_object())
        for (const auto& [k, v] : it->items())
            if (v.is_string()) out.emplace(k, v.get<std::string>());
    return out;
}

std::vector<std::string> string_list(const json& object, const char* key) {
    std::vector<std::string> out;
    if (auto it = object.find(key); it != object.end() && it->is_array())
        for (const auto& v : *it)
            if (v.is_string()) out.push_back(v.get<std::string>());
    return out;
}

// AWS reports a missing member in the validator's wording; we use it for members our model
// treats as optional but the emulator needs (AlgorithmSpecification was required until 2024).
std::string not_null(const std::string& path) {
    return "Value null at '" + path + "' failed to satisfy constraint: Member must not be null";
}

channel_spec parse_channel(const json& channel, const std::string& job_input_mode, std::vector<std::string>& problems) {
    channel_spec out;
    out.name = string_or(channel, "ChannelName");
    out.input_mode = string_or(channel, "InputMode", job_input_mode);
    if (auto it = channel.find("ContentType"); it != channel.end()) out.content_type = it->get<std::string>();
    if (auto it = channel.find("CompressionType"); it != channel.end()) out.compression_type = it->get<std::string>();
    if (auto it = channel.find("RecordWrapperType"); it != channel.end())
        out.record_wrapper_type = it->get<std::string>();

    const json& source = channel.at("DataSource");
    const bool has_s3 = source.contains("S3DataSource");
    const bool has_fs = source.contains("FileSystemDataSource");
    if (has_s3 == has_fs) {
        problems.push_back("Channel '" + out.name +
                           "' must have exactly one of S3DataSource and FileSystemDataSource");
        return out;
    }
    if (has_s3) {
        const json& s3 = source.at("S3DataSource");
        out.s3_uri = string_or(s3, "S3Uri");
        out.s3_data_type = string_or(s3, "S3DataType", "S3Prefix");
        out.s3_distribution_type = string_or(s3, "S3DataDistributionType", "FullyReplicated");
        if (out.s3_data_type != "S3Prefix" && out.s3_data_type != "ManifestFile" &&
            out.s3_data_type != "AugmentedManifestFile")
            problems.push_back("S3DataType " + out.s3_data_type + " is not supported by smlocal (channel '" +
                               out.name + "')");
        if (out.input_mode == "FastFile" && out.s3_data_type != "S3Prefix")
            problems.push_back("FastFile input mode requires S3DataType S3Prefix (channel '" + out.name + "')");
    } else {
        const json& fs = source.at("FileSystemDataSource");
        out.file_system_id = string_or(fs, "FileSystemId");
        out.file_system_type = string_or(fs, "FileSystemType");
        out.file_system_access_mode = string_or(fs, "FileSystemAccessMode");
        out.directory_path = string_or(fs, "DirectoryPath");
        out.s3_distribution_type = "FullyReplicated";
        if (out.input_mode != "File")
            problems.push_back("FileSystemDataSource channels must use File input mode (channel '" + out.name + "')");
    }
    return out;
}

json transition_json(const status_transition& t) {
    json out{{"Status", t.status}, {"StartTime", t.start_time}, {"StatusMessage", t.message}};
    if (t.end_time) out["EndTime"] = *t.end_time;
    return out;
}

// Whole seconds of a duration, never below 1: AWS models both times as integers >= 1.
long long billable_seconds(double start, double end) {
    return std::max(1LL, static_cast<long long>(std::ceil(end - start)));
}

}  // namespace

std::string_view to_string(training_job_status status) {
    for (const auto& [value, name] : status_names)
        if (value == status) return name;
    return "InProgress";
}

std::optional<training_job_status> parse_training_job_status(std::string_view text) {
    for (const auto& [value, name] : status_names)
        if (name == text) return value;
    return std::nullopt;
}

bool is_terminal(training_job_status status) {
    return status == training_job_status::completed || status == training_job_status::failed ||
           status == training_job_status::stopped;
}

void apply_create_defaults(nlohmann::json& request) {
    // Defaults for members botocore <= 1.34 required (spec/api.md §4.1), echoed in Describe.
    json& resources = request["ResourceConfig"];
    if (!resources.contains("InstanceGroups")) {
        if (!resources.contains("InstanceType")) resources["InstanceType"] = "ml.m5.large";
        if (!resources.contains("InstanceCount")) resources["InstanceCount"] = 1;
    }
    if (!resources.contains("VolumeSizeInGB")) resources["VolumeSizeInGB"] = 30;
    json& stopping = request["StoppingCondition"];
    if (!stopping.contains("MaxRuntimeInSeconds")) stopping["MaxRuntimeInSeconds"] = 86400;
}

training_job_spec parse_training_job_spec(const nlohmann::json& request) {
    std::vector<std::string> missing;
    std::vector<std::string> problems;
    training_job_spec spec;
    spec.name = string_or(request, "TrainingJobName");

    auto algorithm = request.find("AlgorithmSpecification");
    if (algorithm == request.end()) {
        missing.push_back(not_null("algorithmSpecification"));
    } else {
        spec.training_image = string_or(*algorithm, "TrainingImage");
        spec.training_input_mode = string_or(*algorithm, "TrainingInputMode", "File");
        spec.container_entrypoint = string_list(*algorithm, "ContainerEntrypoint");
        spec.container_arguments = string_list(*algorithm, "ContainerArguments");
        if (algorithm->contains("AlgorithmName"))
            problems.push_back("AlgorithmName (marketplace algorithms) is not supported by smlocal; use TrainingImage");
        else if (spec.training_image.empty())
            missing.push_back(not_null("algorithmSpecification.trainingImage"));
        if (auto defs = algorithm->find("MetricDefinitions"); defs != algorithm->end())
            for (const auto& d : *defs) spec.metric_definitions.push_back({string_or(d, "Name"), string_or(d, "Regex")});
    }
    if (!missing.empty()) {
        std::string message = std::to_string(missing.size()) +
                              (missing.size() == 1 ? " validation error detected: " : " validation errors detected: ");
        for (std::size_t i = 0; i < missing.size(); ++i) message += (i ? "; " : "") + missing[i];
        throw validation_error(message);
    }

    spec.hyperparameters = string_map(request, "HyperParameters");
    spec.environment = string_map(request, "Environment");

    std::set<std::string> channel_names;
    if (auto channels = request.find("InputDataConfig"); channels != request.end()) {
        for (std::size_t i = 0; i < channels->size(); ++i) {
            spec.channels.push_back(parse_channel((*channels)[i], spec.training_input_mode, problems));
            if (!channel_names.insert(spec.channels.back().name).second)
                problems.push_back("Channel names must be unique; '" + spec.channels.back().name + "' appears twice");
        }
    }

    spec.s3_output_path = request.at("OutputDataConfig").at("S3OutputPath").get<std::string>();

    const json& resources = request.at("ResourceConfig");
    if (auto groups = resources.find("InstanceGroups"); groups != resources.end() && !groups->empty()) {
        if (resources.contains("InstanceType") || resources.contains("InstanceCount"))
            problems.push_back("InstanceGroups cannot be combined with InstanceType or InstanceCount");
        spec.instance_count = 0;
        for (const auto& g : *groups) spec.instance_count += g.value("InstanceCount", 0);
        spec.instance_type = string_or(groups->front(), "InstanceType");
    } else {
        spec.instance_type = string_or(resources, "InstanceType", "ml.m5.large");
        spec.instance_count = resources.value("InstanceCount", 1);
    }
    if (spec.instance_count < 1) problems.push_back("InstanceCount must be at least 1");
    spec.volume_size_gb = resources.value("VolumeSizeInGB", 30);

    const json& stopping = request.at("StoppingCondition");
    spec.max_runtime_seconds = stopping.value("MaxRuntimeInSeconds", 86400.0);
    if (request.value("EnableManagedSpotTraining", false)) {
        auto wait = stopping.find("MaxWaitTimeInSeconds");
        if (wait == stopping.end() || wait->get<double>() < spec.max_runtime_seconds)
            problems.push_back("MaxWaitTimeInSeconds must be set and at least MaxRuntimeInSeconds for managed spot training");
    }

    if (auto checkpoint = request.find("CheckpointConfig"); checkpoint != request.end()) {
        spec.checkpoint_s3_uri = string_or(*checkpoint, "S3Uri");
        spec.checkpoint_local_path = string_or(*checkpoint, "LocalPath", "/opt/ml/checkpoints");
    }
    spec.enable_network_isolation = request.value("EnableNetworkIsolation", false);

    if (!problems.empty()) {
        std::string message;
        for (std::size_t i = 0; i < problems.size(); ++i) message += (i ? "; " : "") + problems[i];
        throw validation_error(message);
    }
    return spec;
}

nlohmann::json to_record_json(const training_job& job) {
    json transitions = json::array();
    for (const auto& t : job.transitions) transitions.push_back(transition_json(t));
    json metrics = json::array();
    for (const auto& m : job.final_metrics) metrics.push_back({{"name", m.name}, {"value", m.value}, {"timestamp", m.timestamp}});
    json record{{"name", job.name},
                {"arn", job.arn},
                {"request", job.request},
                {"status", std::string(to_string(job.status))},
                {"secondary_status", job.secondary_status},
                {"creation_time", job.creation_time},
                {"last_modified_time", job.last_modified_time},
                {"transitions", std::move(transitions)},
                {"final_metrics", std::move(metrics)}};
    if (job.failure_reason) record["failure_reason"] = *job.failure_reason;
    if (job.training_start_time) record["training_start_time"] = *job.training_start_time;
    if (job.training_end_time) record["training_end_time"] = *job.training_end_time;
    if (job.tuning_job_arn) record["tuning_job_arn"] = *job.tuning_job_arn;
    if (job.stop_reason) record["stop_reason"] = *job.stop_reason;
    return record;
}

training_job from_record_json(const nlohmann::json& record) {
    training_job job;
    job.name = record.at("name").get<std::string>();
    job.arn = record.at("arn").get<std::string>();
    job.request = record.at("request");
    job.status = parse_training_job_status(record.at("status").get<std::string>()).value_or(training_job_status::failed);
    job.secondary_status = record.at("secondary_status").get<std::string>();
    job.creation_time = record.at("creation_time").get<double>();
    job.last_modified_time = record.at("last_modified_time").get<double>();
    for (const auto& t : record.at("transitions")) {
        status_transition transition{t.at("Status").get<std::string>(), t.at("StartTime").get<double>(), std::nullopt,
                                     t.at("StatusMessage").get<std::string>()};
        if (t.contains("EndTime")) transition.end_time = t.at("EndTime").get<double>();
        job.transitions.push_back(std::move(transition));
    }
    for (const auto& m : record.at("final_metrics"))
        job.final_metrics.push_back({m.at("name").get<std::string>(), m.at("value").get<double>(),
                                     m.at("timestamp").get<double>(), std::nullopt});
    if (record.contains("failure_reason")) job.failure_reason = record["failure_reason"].get<std::string>();
    if (record.contains("training_start_time")) job.training_start_time = record["training_start_time"].get<double>();
    if (record.contains("training_end_time")) job.training_end_time = record["training_end_time"].get<double>();
    if (record.contains("tuning_job_arn")) job.tuning_job_arn = record["tuning_job_arn"].get<std::string>();
    if (record.contains("stop_reason")) job.stop_reason = record["stop_reason"].get<std::string>();
    return job;
}

nlohmann::json to_describe_json(const training_job& job) {
    // Start from the request: Describe echoes every stored member but the create-only ones.
    json out = job.request;
    out.erase("Tags");
    out.erase("SessionChainingConfig");
    out["TrainingJobName"] = job.name;
    out["TrainingJobArn"] = job.arn;
    if (job.tuning_job_arn) out["TuningJobArn"] = *job.tuning_job_arn;
    out["ModelArtifacts"] = {{"S3ModelArtifacts", model_artifact_uri(job.request["OutputDataConfig"].value("S3OutputPath", ""), job.name)}};
    out["TrainingJobStatus"] = std::string(to_string(job.status));
    out["SecondaryStatus"] = job.secondary_status;
    if (job.failure_reason) out["FailureReason"] = *job.failure_reason;
    out["CreationTime"] = job.creation_time;
    out["LastModifiedTime"] = job.last_modified_time;
    if (job.training_start_time) out["TrainingStartTime"] = *job.training_start_time;
    if (job.training_end_time) out["TrainingEndTime"] = *job.training_end_time;
    if (job.training_start_time && job.training_end_time) {
        const long long seconds = billable_seconds(*job.training_start_time, *job.training_end_time);
        out["TrainingTimeInSeconds"] = seconds;
        out["BillableTimeInSeconds"] = seconds;
    }
    json transitions = json::array();
    for (const auto& t : job.transitions) transitions.push_back(transition_json(t));
    out["SecondaryStatusTransitions"] = std::move(transitions);
    json metrics = json::array();
    for (const auto& m : job.final_metrics)
        metrics.push_back({{"MetricName", m.name}, {"Value", m.value}, {"Timestamp", m.timestamp}});
    out["FinalMetricDataList"] = std::move(metrics);
    return out;
}

nlohmann::json to_summary_json(const training_job& job) {
    json out{{"TrainingJobName", job.name},
             {"TrainingJobArn", job.arn},
             {"CreationTime", job.creation_time},
             {"LastModifiedTime", job.last_modified_time},
             {"TrainingJobStatus", std::string(to_string(job.status))},
             {"SecondaryStatus", job.secondary_status}};
    if (job.training_end_time) out["TrainingEndTime"] = *job.training_end_time;
    return out;
}

namespace {
std::string job_output_prefix(const std::string& s3_output_path, const std::string& job_name) {
    std::string base = s3_output_path;
    while (!base.empty() && base.back() == '/') base.pop_back();
    return base + "/" + job_name + "/output/";
}
}  // namespace

std::string model_artifact_uri(const std::string& s3_output_path, const std::string& job_name) {
    return job_output_prefix(s3_output_path, job_name) + "model.tar.gz";
}

std::string output_artifact_uri(const std::string& s3_output_path, const std::string& job_name) {
    return job_output_prefix(s3_output_path, job_name) + "output.tar.gz";
}

}  // namespace smlocal
