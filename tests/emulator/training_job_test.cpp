#include "emulator/training_job.hpp"

#include <doctest/doctest.h>

#include "emulator/errors.hpp"

using namespace smlocal;
using json = nlohmann::json;

namespace {

json minimal_request() {
    return json::parse(R"json({
        "TrainingJobName": "job-1",
        "RoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
        "AlgorithmSpecification": {"TrainingImage": "simulator/quadratic", "TrainingInputMode": "File",
            "MetricDefinitions": [{"Name": "validation:loss", "Regex": "validation:loss=([0-9.]+)"}]},
        "OutputDataConfig": {"S3OutputPath": "s3://bucket/out/"},
        "HyperParameters": {"x": "1", "y": "-2"},
        "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": "s3://bucket/train/"}}}]
    })json");
}

}  // namespace

TEST_CASE("status names round-trip and terminal statuses are known") {
    for (auto s : {training_job_status::in_progress, training_job_status::completed, training_job_status::failed,
                   training_job_status::stopping, training_job_status::stopped})
        CHECK(parse_training_job_status(to_string(s)) == s);
    CHECK_FALSE(parse_training_job_status("Deleting"));
    CHECK(is_terminal(training_job_status::stopped));
    CHECK_FALSE(is_terminal(training_job_status::stopping));
}

TEST_CASE("create defaults fill ResourceConfig and StoppingCondition") {
    json request = minimal_request();
    apply_create_defaults(request);
    CHECK(request["ResourceConfig"] == json{{"InstanceType", "ml.m5.large"}, {"InstanceCount", 1}, {"VolumeSizeInGB", 30}});
    CHECK(request["StoppingCondition"]["MaxRuntimeInSeconds"] == 86400);
    SUBCASE("given values are kept") {
        json other = minimal_request();
        other["ResourceConfig"] = {{"InstanceType", "ml.c5.xlarge"}, {"InstanceCount", 2}, {"VolumeSizeInGB", 5}};
        apply_create_defaults(other);
        CHECK(other["ResourceConfig"]["InstanceCount"] == 2);
    }
}

TEST_CASE("the spec reads what the emulator acts on") {
    json request = minimal_request();
    apply_create_defaults(request);
    auto spec = parse_training_job_spec(request);
    CHECK(spec.training_image == "simulator/quadratic");
    CHECK(spec.hyperparameters.at("y") == "-2");
    REQUIRE(spec.channels.size() == 1);
    CHECK(spec.channels[0].input_mode == "File");
    CHECK(spec.channels[0].s3_distribution_type == "FullyReplicated");
    CHECK(spec.metric_definitions.at(0).name == "validation:loss");
    CHECK(spec.instance_count == 1);
    CHECK(spec.max_runtime_seconds == 86400);
}

TEST_CASE("cross-field rules the model cannot express") {
    json request = minimal_request();
    apply_create_defaults(request);
    SUBCASE("AlgorithmSpecification is required") {
        request.erase("AlgorithmSpecification");
        CHECK_THROWS_WITH_AS(parse_training_job_spec(request),
                             "1 validation error detected: Value null at 'algorithmSpecification' failed to satisfy "
                             "constraint: Member must not be null",
                             service_error);
    }
    SUBCASE("channel names are unique") {
        request["InputDataConfig"].push_back(request["InputDataConfig"][0]);
        CHECK_THROWS_WITH_AS(parse_training_job_spec(request), "Channel names must be unique; 'train' appears twice",
                             service_error);
    }
    SUBCASE("FastFile needs S3Prefix") {
        request["InputDataConfig"][0]["InputMode"] = "FastFile";
        request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3DataType"] = "ManifestFile";
        CHECK_THROWS_AS(parse_training_job_spec(request), service_error);
    }
    SUBCASE("file systems need File mode") {
        request["InputDataConfig"][0]["InputMode"] = "Pipe";
        request["InputDataConfig"][0]["DataSource"] = {{"FileSystemDataSource",
            {{"FileSystemId", "fs-0123456789"}, {"FileSystemType", "EFS"}, {"FileSystemAccessMode", "ro"},
             {"DirectoryPath", "/data"}}}};
        CHECK_THROWS_AS(parse_training_job_spec(request), service_error);
    }
    SUBCASE("spot needs MaxWaitTimeInSeconds >= MaxRuntimeInSeconds") {
        request["EnableManagedSpotTraining"] = true;
        request["StoppingCondition"]["MaxWaitTimeInSeconds"] = 10;
        CHECK_THROWS_AS(parse_training_job_spec(request), service_error);
    }
    SUBCASE("instance groups exclude InstanceType") {
        request["ResourceConfig"]["InstanceGroups"] = json::array(
            {{{"InstanceType", "ml.m5.large"}, {"InstanceCount", 2}, {"InstanceGroupName", "a"}}});
        CHECK_THROWS_AS(parse_training_job_spec(request), service_error);
    }
}

TEST_CASE("records round-trip through their stored form") {
    training_job job;
    job.name = "job-1";
    job.arn = "arn:aws:sagemaker:us-east-1:123456789012:training-job/job-1";
    job.request = minimal_request();
    job.status = training_job_status::failed;
    job.secondary_status = "Failed";
    job.failure_reason = "AlgorithmError: boom, exit code: 1";
    job.creation_time = 100.5;
    job.last_modified_time = 110.25;
    job.training_start_time = 101;
    job.training_end_time = 109;
    job.transitions = {{"Starting", 100.5, 101, "Starting the training job"}, {"Failed", 109, 109, "boom"}};
    job.final_metrics = {{"validation:loss", 0.5, 108, std::nullopt}};
    job.stop_reason = "user";
    training_job back = from_record_json(to_record_json(job));
    CHECK(to_record_json(back) == to_record_json(job));
}

TEST_CASE("Describe carries every required member and the artifact path") {
    training_job job;
    job.name = "Job-1";
    job.arn = "arn:aws:sagemaker:us-east-1:123456789012:training-job/job-1";
    job.request = minimal_request();
    job.request["Tags"] = json::array();
    apply_create_defaults(job.request);
    job.creation_time = 100;
    job.last_modified_time = 100;
    job.transitions = {{"Starting", 100, std::nullopt, "Starting the training job"}};
    json d = to_describe_json(job);
    CHECK_FALSE(d.contains("Tags"));
    CHECK(d["ModelArtifacts"]["S3ModelArtifacts"] == "s3://bucket/out/Job-1/output/model.tar.gz");
    CHECK(d["SecondaryStatusTransitions"][0]["StatusMessage"] == "Starting the training job");
    CHECK_FALSE(d.contains("TrainingTimeInSeconds"));
    job.training_start_time = 100;
    job.training_end_time = 100.2;
    CHECK(to_describe_json(job)["TrainingTimeInSeconds"] == 1);
}

TEST_CASE("artifact URIs join with exactly one slash") {
    CHECK(model_artifact_uri("s3://b/p", "j") == "s3://b/p/j/output/model.tar.gz");
    CHECK(model_artifact_uri("s3://b/p//", "j") == "s3://b/p/j/output/model.tar.gz");
    CHECK(output_artifact_uri("s3://b", "j") == "s3://b/j/output/output.tar.gz");
}
