#pragma once
// The jobs both compose tests plan: CreateTrainingJob requests turned into run_requests the way
// the job manager builds them, and the golden two-host job.

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <doctest/doctest.h>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "compose/container_plan.hpp"
#include "emulator/training_job.hpp"

namespace smlocal::compose::testing {

using json = nlohmann::json;

inline constexpr const char* jobs_root = "/var/lib/smlocal/jobs";

// A CreateTrainingJob request turned into a run_request the way the job manager builds one.
// Not copyable: request.spec points into the fixture.
struct job_fixture {
    training_job_spec spec;
    run_request request;

    explicit job_fixture(json create_request, std::vector<std::string> host_names = {}) {
        apply_create_defaults(create_request);
        spec = parse_training_job_spec(create_request);
        request.spec = &spec;
        request.job_name = spec.name;
        request.job_arn = "arn:aws:sagemaker:us-east-1:123456789012:training-job/" + spec.name;
        request.region = "us-east-1";
        if (host_names.empty())
            for (int i = 1; i <= spec.instance_count; ++i) host_names.push_back("algo-" + std::to_string(i));
        for (const auto& host : host_names)
            request.hosts.push_back({host, std::filesystem::path(jobs_root) / spec.name / host});
        for (const auto& channel : spec.channels) {
            resolved_channel r;
            r.spec = channel;
            if (channel.is_file_system()) {
                r.source = "/var/lib/smlocal/efs/" + channel.file_system_id + channel.directory_path;
                r.read_only = channel.file_system_access_mode != "rw";
            } else {
                r.source = "/var/lib/smlocal/s3/" + channel.s3_uri.substr(5);
            }
            // As the Downloading step stages them: <host root>/staging/<channel>, hard links.
            if (channel.s3_distribution_type == "ShardedByS3Key" && request.hosts.size() > 1 &&
                channel.input_mode != "Pipe") {
                for (const auto& host : request.hosts) r.host_sources[host.host] = host.root / "staging" / channel.name;
                r.source = r.host_sources.begin()->second;
            }
            request.channels.push_back(std::move(r));
        }
    }
    job_fixture(const job_fixture&) = delete;
    job_fixture& operator=(const job_fixture&) = delete;
};

inline json minimal_request() {
    return json::parse(R"json({
        "TrainingJobName": "Single-Job",
        "RoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
        "AlgorithmSpecification": {"TrainingImage": "trainer:latest", "TrainingInputMode": "File"},
        "OutputDataConfig": {"S3OutputPath": "s3://bucket/out/"},
        "HyperParameters": {"epochs": "3"},
        "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": "s3://bucket/train/"}}}]
    })json");
}

// The golden job: 2 hosts, a ShardedByS3Key File channel, a Pipe channel, an EFS rw channel,
// environment, checkpoints, entrypoint + arguments; its options add limits, shm, smlocal's
// endpoint and a subnet.
inline json two_host_request() {
    return json::parse(R"json({
        "TrainingJobName": "Sharded-Job-1",
        "RoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
        "AlgorithmSpecification": {
            "TrainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/trainer:1.0",
            "TrainingInputMode": "File",
            "ContainerEntrypoint": ["python3", "/opt/program/train.py"],
            "ContainerArguments": ["--epochs", "3"]},
        "OutputDataConfig": {"S3OutputPath": "s3://training-data/output/"},
        "HyperParameters": {"epochs": "3", "learning-rate": "0.1", "sagemaker_program": "\"train.py\""},
        "Environment": {"LOG_LEVEL": "debug", "GREETING": "say \"hi\" to $USER\\now\nbye"},
        "InputDataConfig": [
            {"ChannelName": "train", "ContentType": "text/csv", "DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix", "S3Uri": "s3://training-data/sharded/train/",
                "S3DataDistributionType": "ShardedByS3Key"}}},
            {"ChannelName": "stream", "InputMode": "Pipe", "RecordWrapperType": "RecordIO",
             "CompressionType": "Gzip", "DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix", "S3Uri": "s3://training-data/stream/"}}},
            {"ChannelName": "shared", "DataSource": {"FileSystemDataSource": {
                "FileSystemId": "fs-0abcdef1234567890", "FileSystemType": "EFS",
                "FileSystemAccessMode": "rw", "DirectoryPath": "/shared"}}}],
        "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 2, "VolumeSizeInGB": 50},
        "CheckpointConfig": {"S3Uri": "s3://training-data/checkpoints/Sharded-Job-1/"},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600}
    })json");
}

inline plan_options two_host_options() {
    plan_options options;
    options.shm_size_bytes = std::int64_t{1} << 30;
    options.limit_resources = true;
    options.endpoint_url = default_endpoint_url(8080);
    // As the runner reads it from the network Docker created (GET /networks/{id}).
    options.subnet = network_subnet{"172.18.0.0/16", "172.18.0.1"};
    return options;
}


#ifdef SMLOCAL_SOURCE_DIR
// Compares `actual` with tests/compose/golden/<name>; SMLOCAL_UPDATE_GOLDEN=1 rewrites the file.
inline void check_golden(const std::string& name, const std::string& actual) {
    const std::filesystem::path golden = std::filesystem::path(SMLOCAL_SOURCE_DIR) / "tests/compose/golden" / name;
    if (std::getenv("SMLOCAL_UPDATE_GOLDEN")) {
        std::ofstream(golden, std::ios::binary) << actual;
        MESSAGE("rewrote " << golden.string());
    }
    std::ifstream in(golden, std::ios::binary);
    REQUIRE_MESSAGE(in.good(), "missing golden file " << golden.string() << " (SMLOCAL_UPDATE_GOLDEN=1 writes it)");
    std::stringstream buffer;
    buffer << in.rdbuf();
    const std::string expected = buffer.str();
    if (expected == actual) return;

    const std::filesystem::path actual_file = std::filesystem::temp_directory_path() / (name + ".actual");
    std::ofstream(actual_file, std::ios::binary) << actual;
    std::istringstream e(expected), a(actual);
    std::string el, al;
    int line = 0;
    while (true) {
        ++line;
        const bool more_e = static_cast<bool>(std::getline(e, el));
        const bool more_a = static_cast<bool>(std::getline(a, al));
        if (!more_e && !more_a) break;
        if (!more_e) el = "<end of file>";
        if (!more_a) al = "<end of file>";
        if (el != al || !more_e || !more_a) break;
    }
    FAIL_CHECK("golden mismatch for " << golden.string() << " at line " << line << "\n  golden: " << el
                                      << "\n  actual: " << al << "\nsee: diff -u " << golden.string() << " "
                                      << actual_file.string());
}
#endif

}  // namespace smlocal::compose::testing
