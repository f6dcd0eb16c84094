#include "compose/container_plan.hpp"

#include <doctest/doctest.h>

#include "tests/compose/plan_fixture.hpp"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

using namespace smlocal;
using namespace smlocal::compose;
using json = nlohmann::json;

namespace {

using namespace smlocal::compose::testing;

const bind_mount* find_mount(const host_plan& host, const std::string& target) {
    auto it = std::find_if(host.mounts.begin(), host.mounts.end(), [&](const bind_mount& m) { return m.target == target; });
    return it == host.mounts.end() ? nullptr : &*it;
}

bool has_env(const host_plan& host, const std::string& entry) {
    for (const auto& e : host.create_body["Env"])
        if (e == entry) return true;
    return false;
}


}  // namespace

#ifdef SMLOCAL_SOURCE_DIR
TEST_CASE("golden: 2-host sharded job with File, Pipe and EFS channels, checkpoints and limits") {
    job_fixture job(two_host_request());
    const container_plan plan = make_plan(job.request, two_host_options());
    check_golden("plan_two_hosts.json", json(plan).dump(2) + "\n");
}
#else
TEST_CASE("golden files need SMLOCAL_SOURCE_DIR") {
    FAIL("compile with -DSMLOCAL_SOURCE_DIR=\\\"/path/to/source\\\" to run the container plan golden tests");
}
#endif

TEST_CASE("an isolated single host has no network at all") {
    job_fixture job(minimal_request());
    job.spec.enable_network_isolation = true;
    const container_plan plan = make_plan(job.request, plan_options{});
    CHECK_FALSE(plan.own_network);
    CHECK(plan.network_name == "none");
    CHECK(plan.hosts[0].create_body["HostConfig"]["NetworkMode"] == "none");
}

TEST_CASE("single-host defaults") {
    job_fixture job(minimal_request());
    const container_plan plan = make_plan(job.request, plan_options{});
    CHECK(plan.job_name == "Single-Job");
    // One host has no peers to resolve: Docker's default bridge, no network of its own.
    CHECK_FALSE(plan.own_network);
    CHECK(plan.network_name == "bridge");
    CHECK_FALSE(plan.internal_network);
    CHECK(plan.warnings.empty());
    CHECK(plan.network_create_body.is_null());
    REQUIRE(plan.hosts.size() == 1);

    const host_plan& host = plan.hosts[0];
    const json& body = host.create_body;
    CHECK(host.host == "algo-1");
    CHECK(host.container_name == "smlocal-single-job-algo-1");
    CHECK(body["Image"] == "trainer:latest");
    CHECK(body["Hostname"] == "algo-1");
    CHECK(body["Cmd"] == json::array({"train"}));
    CHECK_FALSE(body.contains("Entrypoint"));
    CHECK(body["Labels"] == json{{"smlocal.job", "Single-Job"}, {"smlocal.host", "algo-1"}, {"smlocal.managed", "true"}});
    CHECK_FALSE(body.contains("NetworkingConfig"));
    CHECK(body["Env"] == json::array({"AWS_DEFAULT_REGION=us-east-1", "AWS_REGION=us-east-1",
                                      "TRAINING_JOB_ARN=arn:aws:sagemaker:us-east-1:123456789012:training-job/Single-Job",
                                      "TRAINING_JOB_NAME=Single-Job"}));

    const json& hc = body["HostConfig"];
    CHECK(hc["NetworkMode"] == "bridge");
    CHECK(hc["Init"] == false);
    CHECK(hc["Privileged"] == false);
    CHECK(hc["AutoRemove"] == false);
    CHECK_FALSE(hc.contains("ShmSize"));  // 0: Docker's default
    CHECK_FALSE(hc.contains("NanoCpus"));
    CHECK_FALSE(hc.contains("Memory"));
    CHECK_FALSE(hc.contains("DeviceRequests"));
    CHECK_FALSE(hc.contains("Binds"));
    // No subnet in the options: no fixed address, no /etc/hosts entries (Docker's DNS only).
    CHECK_FALSE(plan.subnet);
    CHECK(host.address.empty());
    CHECK_FALSE(hc.contains("ExtraHosts"));
    CHECK(json(plan)["hosts"][0]["address"].is_null());
    CHECK(json(plan)["subnet"].is_null());

    const std::string ws = std::string(jobs_root) + "/Single-Job/algo-1";
    const std::vector<bind_mount> expected{
        {ws + "/input/config", "/opt/ml/input/config", true},
        {"/var/lib/smlocal/s3/bucket/train", "/opt/ml/input/data/train", true},
        {ws + "/model", "/opt/ml/model", false},
        {ws + "/output", "/opt/ml/output", false},
    };
    CHECK(host.mounts == expected);
    REQUIRE(hc["Mounts"].size() == expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i)
        CHECK(hc["Mounts"][i] == json{{"Type", "bind"}, {"Source", expected[i].source}, {"Target", expected[i].target},
                                      {"ReadOnly", expected[i].read_only}});
    // No Pipe channel: the data folder itself is not mounted; no docker socket anywhere.
    for (const auto& m : host.mounts) CHECK(m.source.find("docker.sock") == std::string::npos);

    CHECK(host.config_files.size() == 3);
    CHECK_FALSE(host.config_files.contains("checkpointconfig.json"));
}

TEST_CASE("the platform sets no SM_ variables, and shm size is passed through") {
    job_fixture job(minimal_request());
    plan_options options;
    options.shm_size_bytes = 2147483648;
    const container_plan plan = make_plan(job.request, options);
    for (const auto& e : plan.hosts[0].create_body["Env"]) CHECK(e.get<std::string>().rfind("SM_", 0) != 0);
    CHECK(plan.hosts[0].create_body["HostConfig"]["ShmSize"] == 2147483648LL);
}

TEST_CASE("entrypoint and arguments follow spec/container.md section 1") {
    json request = minimal_request();
    json& algorithm = request["AlgorithmSpecification"];
    SUBCASE("neither: train replaces the image CMD") {
        job_fixture job(request);
        const json body = make_plan(job.request, {}).hosts[0].create_body;
        CHECK(body["Cmd"] == json::array({"train"}));
        CHECK_FALSE(body.contains("Entrypoint"));
    }
    SUBCASE("entrypoint only: the image CMD is cleared, no train") {
        algorithm["ContainerEntrypoint"] = {"python3", "train.py"};
        job_fixture job(request);
        const json body = make_plan(job.request, {}).hosts[0].create_body;
        CHECK(body["Entrypoint"] == json::array({"python3", "train.py"}));
        CHECK(body["Cmd"] == json::array());
    }
    SUBCASE("arguments only: the image ENTRYPOINT is kept") {
        algorithm["ContainerArguments"] = {"--epochs", "3"};
        job_fixture job(request);
        const json body = make_plan(job.request, {}).hosts[0].create_body;
        CHECK(body["Cmd"] == json::array({"--epochs", "3"}));
        CHECK_FALSE(body.contains("Entrypoint"));
    }
    SUBCASE("both") {
        algorithm["ContainerEntrypoint"] = {"/bin/sh", "-c"};
        algorithm["ContainerArguments"] = {"echo hi"};
        job_fixture job(request);
        const json body = make_plan(job.request, {}).hosts[0].create_body;
        CHECK(body["Entrypoint"] == json::array({"/bin/sh", "-c"}));
        CHECK(body["Cmd"] == json::array({"echo hi"}));
    }
}

TEST_CASE("network isolation makes the job network internal") {
    json request = minimal_request();
    request["EnableNetworkIsolation"] = true;
    request["ResourceConfig"] = {{"InstanceType", "ml.m5.large"}, {"InstanceCount", 2}};
    job_fixture job(request);
    REQUIRE(job.spec.enable_network_isolation);
    const container_plan plan = make_plan(job.request, {});
    CHECK(plan.internal_network);
    CHECK(plan.network_create_body["Internal"] == true);
    REQUIRE(plan.hosts.size() == 2);
    for (const auto& host : plan.hosts) {
        CHECK(host.create_body["HostConfig"]["NetworkMode"] == plan.network_name);
        CHECK(host.create_body["NetworkingConfig"]["EndpointsConfig"][plan.network_name]["Aliases"] ==
              json::array({host.host}));
    }
}

TEST_CASE("GPU instance types") {
    json request = minimal_request();
    request["ResourceConfig"] = {{"InstanceType", "ml.p3.2xlarge"}, {"InstanceCount", 1}};
    job_fixture job(request);

    SUBCASE("no GPU on the host: the job cannot run") {
        CHECK_THROWS_WITH_AS(make_plan(job.request, {}),
                             "ClientError: instance type ml.p3.2xlarge needs GPUs, but this host has none; use a CPU "
                             "instance type, or start smlocal with --gpu-fallback=cpu",
                             plan_error);
    }
    SUBCASE("no GPU, CPU fallback: runs without devices and says so") {
        plan_options options;
        options.gpu_cpu_fallback = true;
        const container_plan plan = make_plan(job.request, options);
        CHECK_FALSE(plan.hosts[0].create_body["HostConfig"].contains("DeviceRequests"));
        REQUIRE(plan.warnings.size() == 1);
        CHECK(plan.warnings[0] ==
              "instance type ml.p3.2xlarge needs GPUs, but this host has none; running on CPU (--gpu-fallback=cpu)");
    }
    SUBCASE("GPUs on the host: all of them are requested") {
        plan_options options;
        options.host_gpu_count = 4;
        const container_plan plan = make_plan(job.request, options);
        CHECK(plan.warnings.empty());
        CHECK(plan.hosts[0].create_body["HostConfig"]["DeviceRequests"] ==
              json::parse(R"([{"Driver":"nvidia","Count":-1,"Capabilities":[["gpu"]]}])"));
    }
    SUBCASE("ml.g* is a GPU family too") {
        job.spec.instance_type = "ml.g4dn.xlarge";
        CHECK_THROWS_AS(make_plan(job.request, {}), plan_error);
    }
    SUBCASE("a CPU instance type gets no GPU even when the host has some") {
        job.spec.instance_type = "ml.c5.xlarge";
        plan_options options;
        options.host_gpu_count = 2;
        CHECK_FALSE(make_plan(job.request, options).hosts[0].create_body["HostConfig"].contains("DeviceRequests"));
    }
    SUBCASE("Trainium and Inferentia are refused, whatever the options") {
        plan_options options;
        options.host_gpu_count = 2;
        options.gpu_cpu_fallback = true;
        for (const char* type : {"ml.trn1.2xlarge", "ml.inf2.xlarge"}) {
            job.spec.instance_type = type;
            CHECK_THROWS_WITH_AS(make_plan(job.request, options),
                                 ("ClientError: instance type " + std::string(type) +
                                  " needs AWS Neuron devices (Trainium/Inferentia), which smlocal does not support; "
                                  "use a CPU or GPU instance type")
                                     .c_str(),
                                 plan_error);
        }
    }
    CHECK(is_gpu_instance_type("ml.p4d.24xlarge"));
    CHECK(is_gpu_instance_type("ml.g5.xlarge"));
    CHECK_FALSE(is_gpu_instance_type("ml.m5.large"));
    CHECK_FALSE(is_gpu_instance_type("local_gpu"));
    CHECK(is_neuron_instance_type("ml.trn1n.32xlarge"));
    CHECK_FALSE(is_neuron_instance_type("ml.t3.medium"));
}

TEST_CASE("instance resources rule") {
    auto check = [](const char* type, double vcpus, std::int64_t gib) {
        CAPTURE(type);
        auto r = resources_for_instance_type(type);
        REQUIRE(r);
        CHECK(r->vcpus == vcpus);
        CHECK(r->memory_bytes == gib * (std::int64_t{1} << 30));
    };
    check("ml.m5.large", 2, 8);
    check("ml.m5.xlarge", 4, 16);
    check("ml.m5.2xlarge", 8, 32);
    check("ml.c5.4xlarge", 16, 32);
    check("ml.r5.24xlarge", 96, 768);
    check("ml.t3.medium", 2, 4);
    check("ml.g4dn.xlarge", 4, 16);
    check("ml.p3.2xlarge", 8, 64);
    check("ml.x1.xlarge", 4, 16);  // unknown family letter: 4 GiB per vCPU
    CHECK_FALSE(resources_for_instance_type("ml.m5.metal"));
    CHECK_FALSE(resources_for_instance_type("ml.m5"));
    CHECK_FALSE(resources_for_instance_type("m5.large"));
    CHECK_FALSE(resources_for_instance_type("ml.m5.0xlarge"));
    CHECK_FALSE(resources_for_instance_type("ml.m5.x2large"));

    json request = minimal_request();
    request["ResourceConfig"] = {{"InstanceType", "ml.c5.2xlarge"}, {"InstanceCount", 1}};
    job_fixture job(request);
    plan_options options;
    options.limit_resources = true;
    const json hc = make_plan(job.request, options).hosts[0].create_body["HostConfig"];
    CHECK(hc["NanoCpus"] == 8'000'000'000LL);
    CHECK(hc["Memory"] == 16LL << 30);

    job.spec.instance_type = "ml.m5.metal";
    const container_plan unlimited = make_plan(job.request, options);
    CHECK_FALSE(unlimited.hosts[0].create_body["HostConfig"].contains("NanoCpus"));
    REQUIRE(unlimited.warnings.size() == 1);
    CHECK(unlimited.warnings[0] ==
          "cannot derive CPU and memory limits from instance type ml.m5.metal; running without limits");
}

TEST_CASE("environment: platform variables, then extra_env, then the job's Environment") {
    json request = minimal_request();
    request["Environment"] = {{"MY_VAR", "1"}, {"AWS_REGION", "eu-west-1"}, {"S3_ENDPOINT_URL", "http://mine"},
                              {"AWS_DEFAULT_REGION", "us-east-1"}};
    job_fixture job(request);
    plan_options options;
    options.extra_env = {{"S3_ENDPOINT_URL", "http://smlocal:8080"}, {"AWS_ACCESS_KEY_ID", "local"},
                         {"TRAINING_JOB_NAME", "ignored-by-nobody"}};
    const container_plan plan = make_plan(job.request, options);
    const host_plan& host = plan.hosts[0];
    CHECK(has_env(host, "MY_VAR=1"));
    CHECK(has_env(host, "AWS_REGION=eu-west-1"));
    CHECK(has_env(host, "AWS_DEFAULT_REGION=us-east-1"));
    CHECK(has_env(host, "S3_ENDPOINT_URL=http://mine"));
    CHECK(has_env(host, "AWS_ACCESS_KEY_ID=local"));
    CHECK(has_env(host, "TRAINING_JOB_NAME=ignored-by-nobody"));
    const json& env = host.create_body["Env"];
    CHECK(std::is_sorted(env.begin(), env.end()));
    // Overrides of a different value by the job are reported; equal values are not.
    CHECK(plan.warnings == std::vector<std::string>{
                               "Environment variable AWS_REGION from the job's Environment overrides the value smlocal sets",
                               "Environment variable S3_ENDPOINT_URL from the job's Environment overrides the value "
                               "smlocal sets"});
}

TEST_CASE("resourceconfig lists hosts in numeric order; the plan follows the request's order") {
    json request = minimal_request();
    request["ResourceConfig"] = {{"InstanceType", "ml.m5.large"}, {"InstanceCount", 11}};
    std::vector<std::string> names;
    for (int i = 11; i >= 1; --i) names.push_back("algo-" + std::to_string(i));
    job_fixture job(request, names);
    const container_plan plan = make_plan(job.request, {});
    REQUIRE(plan.hosts.size() == 11);
    json expected_hosts = json::array();
    for (int i = 1; i <= 11; ++i) expected_hosts.push_back("algo-" + std::to_string(i));
    for (std::size_t i = 0; i < plan.hosts.size(); ++i) {
        CAPTURE(i);
        // plan.hosts[i] is request.hosts[i], so callers can pair them by index.
        CHECK(plan.hosts[i].host == job.request.hosts[i].host);
        CHECK(plan.hosts[i].mounts.front().source == (job.request.hosts[i].root / "input/config").string());
        const json rc = json::parse(plan.hosts[i].config_files.at("resourceconfig.json"));
        CHECK(rc["current_host"] == plan.hosts[i].host);
        CHECK(rc["hosts"] == expected_hosts);  // algo-2 before algo-10
        CHECK(rc["instance_groups"][0]["hosts"] == expected_hosts);
    }
}

TEST_CASE("channel mounts per input mode and data source") {
    json request = minimal_request();
    request["InputDataConfig"] = json::parse(R"json([
        {"ChannelName": "fast", "InputMode": "FastFile", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": "s3://bucket/fast/"}}},
        {"ChannelName": "pipe", "InputMode": "Pipe", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": "s3://bucket/pipe/"}}},
        {"ChannelName": "fsx", "DataSource": {"FileSystemDataSource": {
            "FileSystemId": "fs-0123456789abcdef0", "FileSystemType": "FSxLustre",
            "FileSystemAccessMode": "ro", "DirectoryPath": "/abcd1234/data"}}},
        {"ChannelName": "efs", "DataSource": {"FileSystemDataSource": {
            "FileSystemId": "fs-0abcdef1234567890", "FileSystemType": "EFS",
            "FileSystemAccessMode": "rw", "DirectoryPath": "/shared/"}}}
    ])json");
    job_fixture job(request);
    const host_plan host = make_plan(job.request, {}).hosts[0];
    const std::string ws = std::string(jobs_root) + "/Single-Job/algo-1";

    const bind_mount* data = find_mount(host, "/opt/ml/input/data");
    REQUIRE(data);  // the Pipe FIFOs' folder
    CHECK(*data == bind_mount{ws + "/input/data", "/opt/ml/input/data", false});
    CHECK_FALSE(find_mount(host, "/opt/ml/input/data/pipe"));
    CHECK(*find_mount(host, "/opt/ml/input/data/fast") ==
          bind_mount{"/var/lib/smlocal/s3/bucket/fast", "/opt/ml/input/data/fast", true});
    CHECK(*find_mount(host, "/opt/ml/input/data/fsx") ==
          bind_mount{"/var/lib/smlocal/efs/fs-0123456789abcdef0/abcd1234/data", "/opt/ml/input/data/fsx", true});
    // Trailing separators are dropped: stable sources.
    CHECK(*find_mount(host, "/opt/ml/input/data/efs") ==
          bind_mount{"/var/lib/smlocal/efs/fs-0abcdef1234567890/shared", "/opt/ml/input/data/efs", false});

    SUBCASE("a writable view prepared by the caller stays writable") {
        job.request.channels[0].read_only = false;
        CHECK_FALSE(find_mount(make_plan(job.request, {}).hosts[0], "/opt/ml/input/data/fast")->read_only);
    }
    SUBCASE("per-host sources win and are always read-only: options, then the request's staging") {
        job.request.channels[0].read_only = false;
        job.request.channels[0].host_sources["algo-1"] = "/staged/algo-1/fast";
        CHECK(*find_mount(make_plan(job.request, {}).hosts[0], "/opt/ml/input/data/fast") ==
              bind_mount{"/staged/algo-1/fast", "/opt/ml/input/data/fast", true});
        plan_options options;
        options.channel_sources_per_host["algo-1"]["fast"] = "/stage/algo-1/fast/";
        CHECK(*find_mount(make_plan(job.request, options).hosts[0], "/opt/ml/input/data/fast") ==
              bind_mount{"/stage/algo-1/fast", "/opt/ml/input/data/fast", true});
    }
}

TEST_CASE("sources that cannot be mounted as they are break the caller's contract") {
    SUBCASE("ShardedByS3Key over several hosts needs per-host folders") {
        job_fixture job(two_host_request());
        job.request.channels[0].host_sources.erase("algo-2");
        CHECK_THROWS_AS(make_plan(job.request, two_host_options()), std::invalid_argument);
        // ... which plan_options can also give.
        plan_options options = two_host_options();
        options.channel_sources_per_host["algo-2"]["train"] = "/stage/algo-2/train";
        CHECK(find_mount(make_plan(job.request, options).hosts[1], "/opt/ml/input/data/train")->source ==
              "/stage/algo-2/train");
    }
    SUBCASE("ShardedByS3Key on one host is the whole prefix") {
        json request = minimal_request();
        request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3DataDistributionType"] = "ShardedByS3Key";
        job_fixture job(request);
        CHECK(make_plan(job.request, {}).hosts[0].mounts.size() == 4);
    }
    SUBCASE("a manifest is a file, not a folder") {
        json request = minimal_request();
        request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3DataType"] = "ManifestFile";
        job_fixture job(request);
        CHECK_THROWS_AS(make_plan(job.request, {}), std::invalid_argument);
        job.request.channels[0].host_sources["algo-1"] = "/var/lib/smlocal/jobs/Single-Job/algo-1/staging/train";
        CHECK(find_mount(make_plan(job.request, {}).hosts[0], "/opt/ml/input/data/train")->source ==
              "/var/lib/smlocal/jobs/Single-Job/algo-1/staging/train");
    }
    SUBCASE("a Pipe manifest channel mounts nothing, so needs nothing") {
        json request = minimal_request();
        request["InputDataConfig"][0]["InputMode"] = "Pipe";
        request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3DataType"] = "ManifestFile";
        job_fixture job(request);
        CHECK_NOTHROW(make_plan(job.request, {}));
    }
    SUBCASE("relative host paths") {
        job_fixture job(minimal_request());
        job.request.hosts[0].root = "jobs/Single-Job/algo-1";
        CHECK_THROWS_AS(make_plan(job.request, {}), std::invalid_argument);
    }
    SUBCASE("no spec, no hosts") {
        job_fixture job(minimal_request());
        run_request empty = job.request;
        empty.hosts.clear();
        CHECK_THROWS_AS(make_plan(empty, {}), std::invalid_argument);
        empty.spec = nullptr;
        CHECK_THROWS_AS(make_plan(empty, {}), std::invalid_argument);
    }
}

TEST_CASE("checkpoints") {
    json request = minimal_request();
    request["CheckpointConfig"] = {{"S3Uri", "s3://bucket/ckpt/"}, {"LocalPath", "/opt/ml/ckpt/"}};
    job_fixture job(request);
    const std::string ws = std::string(jobs_root) + "/Single-Job/algo-1";

    SUBCASE("each host's checkpoint folder at LocalPath, and checkpointconfig.json") {
        const host_plan host = make_plan(job.request, {}).hosts[0];
        CHECK(*find_mount(host, "/opt/ml/ckpt") == bind_mount{ws + "/checkpoints", "/opt/ml/ckpt", false});
        CHECK(host.config_files.at("checkpointconfig.json") ==
              R"({"LocalPath":"/opt/ml/ckpt/","S3Uri":"s3://bucket/ckpt/"})");
    }
    SUBCASE("a shared checkpoint source: the request's, unless the options name one") {
        job.request.checkpoint_source = "/var/lib/smlocal/s3/bucket/ckpt/";
        CHECK(*find_mount(make_plan(job.request, {}).hosts[0], "/opt/ml/ckpt") ==
              bind_mount{"/var/lib/smlocal/s3/bucket/ckpt", "/opt/ml/ckpt", false});
        plan_options options;
        options.checkpoint_source = "/elsewhere/ckpt";
        CHECK(find_mount(make_plan(job.request, options).hosts[0], "/opt/ml/ckpt")->source == "/elsewhere/ckpt");
    }
    SUBCASE("a LocalPath on a reserved path or relative") {
        job.spec.checkpoint_local_path = "/opt/ml/model";
        CHECK_THROWS_WITH_AS(make_plan(job.request, {}),
                             "ClientError: CheckpointConfig.LocalPath /opt/ml/model clashes with /opt/ml/model, which "
                             "SageMaker reserves",
                             plan_error);
        job.spec.checkpoint_local_path = "ckpt";
        CHECK_THROWS_AS(make_plan(job.request, {}), plan_error);
    }
}

TEST_CASE("config files") {
    SUBCASE("hyperparameters are all strings, and {} when none") {
        job_fixture job(two_host_request());
        const auto files = make_config_files(job.request, "algo-1");
        CHECK(files.at("hyperparameters.json") ==
              R"({"epochs":"3","learning-rate":"0.1","sagemaker_program":"\"train.py\""})");
        const json hyperparameters = json::parse(files.at("hyperparameters.json"));
        for (const auto& [key, value] : hyperparameters.items()) {
            CAPTURE(key);
            CHECK(value.is_string());
        }
        json request = minimal_request();
        request.erase("HyperParameters");
        request.erase("InputDataConfig");
        job_fixture bare(request);
        const auto bare_files = make_config_files(bare.request, "algo-1");
        CHECK(bare_files.at("hyperparameters.json") == "{}");
        CHECK(bare_files.at("inputdataconfig.json") == "{}");
    }
    SUBCASE("inputdataconfig per channel") {
        job_fixture job(two_host_request());
        const json config = json::parse(make_config_files(job.request, "algo-2").at("inputdataconfig.json"));
        CHECK(config == json::parse(R"({
            "train": {"ContentType": "text/csv", "TrainingInputMode": "File",
                      "S3DistributionType": "ShardedByS3Key", "RecordWrapperType": "None"},
            "stream": {"TrainingInputMode": "Pipe", "S3DistributionType": "FullyReplicated",
                       "RecordWrapperType": "RecordIO", "CompressionType": "Gzip"},
            "shared": {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated",
                       "RecordWrapperType": "None"}})"));
    }
    SUBCASE("resourceconfig differs between hosts only in current_host") {
        job_fixture job(two_host_request());
        const container_plan plan = make_plan(job.request, two_host_options());
        json first = json::parse(plan.hosts[0].config_files.at("resourceconfig.json"));
        json second = json::parse(plan.hosts[1].config_files.at("resourceconfig.json"));
        CHECK(plan.hosts[0].config_files.at("resourceconfig.json") ==
              R"({"current_group_name":"homogeneousCluster","current_host":"algo-1","current_instance_type":"ml.m5.xlarge",)"
              R"("hosts":["algo-1","algo-2"],"instance_groups":[{"hosts":["algo-1","algo-2"],)"
              R"("instance_group_name":"homogeneousCluster","instance_type":"ml.m5.xlarge"}],"network_interface_name":"eth0"})");
        CHECK(second["current_host"] == "algo-2");
        second["current_host"] = "algo-1";
        CHECK(first == second);
        // Everything else is the same file on every host.
        for (const char* name : {"hyperparameters.json", "inputdataconfig.json", "checkpointconfig.json"})
            CHECK(plan.hosts[0].config_files.at(name) == plan.hosts[1].config_files.at(name));
    }
}

TEST_CASE("host addresses: algo-1 at .11, clear of the gateway, inside the subnet") {
    using list = std::vector<std::string>;
    CHECK(host_addresses({"172.18.0.0/16", "172.18.0.1"}, 2) == list{"172.18.0.11", "172.18.0.12"});
    CHECK(host_addresses({"192.168.176.0/20", "192.168.176.1"}, 1) == list{"192.168.176.11"});
    CHECK(host_addresses({"172.18.0.0/16", "172.18.0.1"}, 0).empty());
    // No gateway given: Docker's default, the first address, which is out of the way anyway.
    CHECK(host_addresses({"10.9.0.0/24", ""}, 3) == list{"10.9.0.11", "10.9.0.12", "10.9.0.13"});
    // A gateway among the hosts' addresses is skipped.
    CHECK(host_addresses({"10.9.0.0/24", "10.9.0.12"}, 3) == list{"10.9.0.11", "10.9.0.13", "10.9.0.14"});
    // Host bits in the subnet are ignored.
    CHECK(host_addresses({"10.9.0.77/24", "10.9.0.1"}, 1) == list{"10.9.0.11"});

    SUBCASE("many hosts carry over into the next octet, never onto the broadcast address") {
        const auto addresses = host_addresses({"172.18.0.0/16", "172.18.0.1"}, 300);
        REQUIRE(addresses.size() == 300);
        CHECK(addresses[244] == "172.18.0.255");  // a valid host address in a /16
        CHECK(addresses[245] == "172.18.1.0");
        CHECK(addresses[299] == "172.18.1.54");
        CHECK(std::set<std::string>(addresses.begin(), addresses.end()).size() == 300);
        const auto last = host_addresses({"10.9.0.0/24", "10.9.0.1"}, 244);
        CHECK(last.front() == "10.9.0.11");
        CHECK(last.back() == "10.9.0.254");
    }
    SUBCASE("a small subnet: from .11 while there is room, else from its first address") {
        // 10.9.0.0/28: 10.9.0.1 (gateway) to 10.9.0.14 usable, 10.9.0.15 broadcast.
        CHECK(host_addresses({"10.9.0.0/28", "10.9.0.1"}, 4) ==
              list{"10.9.0.11", "10.9.0.12", "10.9.0.13", "10.9.0.14"});
        CHECK(host_addresses({"10.9.0.0/28", "10.9.0.1"}, 5) ==
              list{"10.9.0.2", "10.9.0.3", "10.9.0.4", "10.9.0.5", "10.9.0.6"});
        CHECK(host_addresses({"10.9.0.0/28", "10.9.0.1"}, 13).back() == "10.9.0.14");
        CHECK(host_addresses({"10.9.0.0/29", "10.9.0.6"}, 5) ==
              list{"10.9.0.1", "10.9.0.2", "10.9.0.3", "10.9.0.4", "10.9.0.5"});
        CHECK_THROWS_WITH_AS(host_addresses({"10.9.0.0/28", "10.9.0.1"}, 14),
                             "ClientError: the job network's subnet 10.9.0.0/28 has room for 13 host address(es), "
                             "but the job needs 14",
                             plan_error);
        CHECK_THROWS_AS(host_addresses({"10.9.0.0/31", ""}, 1), plan_error);
        CHECK_THROWS_AS(host_addresses({"10.9.0.0/32", ""}, 1), plan_error);
        CHECK_THROWS_AS(host_addresses({"0.0.0.0/32", ""}, 1), plan_error);
    }
    SUBCASE("not an IPv4 subnet or gateway") {
        for (const char* bad : {"", "nonsense", "10.9.0.0", "10.9.0.0/", "10.9.0.0/33", "10.9.0.0/2x", "10.9.0/24",
                                "10.9.0.256/24", "10.9.0.0.1/24", "fd00::/64", " 10.9.0.0/24"}) {
            CAPTURE(bad);
            CHECK_THROWS_AS(host_addresses({bad, ""}, 1), std::invalid_argument);
        }
        CHECK_THROWS_AS(host_addresses({"10.9.0.0/24", "gateway"}, 1), std::invalid_argument);
    }
}

TEST_CASE("a subnet gives every host a fixed address and every container all hosts in /etc/hosts") {
    json request = minimal_request();
    request["ResourceConfig"] = {{"InstanceType", "ml.m5.large"}, {"InstanceCount", 11}};
    std::vector<std::string> names;  // the request lists the hosts in reverse
    for (int i = 11; i >= 1; --i) names.push_back("algo-" + std::to_string(i));
    job_fixture job(request, names);
    plan_options options;
    options.subnet = network_subnet{"172.20.0.0/16", "172.20.0.1"};
    const container_plan plan = make_plan(job.request, options);

    REQUIRE(plan.subnet);
    CHECK(*plan.subnet == *options.subnet);
    CHECK(plan.network_create_body["IPAM"] ==
          json{{"Driver", "default"}, {"Config", json::array({{{"Subnet", "172.20.0.0/16"}, {"Gateway", "172.20.0.1"}}})}});
    CHECK(plan.network_create_body["IPAM"] == network_ipam(*options.subnet));

    // Numeric host order, as resourceconfig.json: algo-1 is .11, algo-10 is .20.
    json expected_hosts = json::array();
    for (int i = 1; i <= 11; ++i)
        expected_hosts.push_back("algo-" + std::to_string(i) + ":172.20.0." + std::to_string(10 + i));
    REQUIRE(plan.hosts.size() == 11);
    for (const auto& host : plan.hosts) {
        CAPTURE(host.host);
        const std::string expected_address = "172.20.0." + std::to_string(10 + std::stoi(host.host.substr(5)));
        CHECK(host.address == expected_address);
        CHECK(host.create_body["NetworkingConfig"] ==
              json{{"EndpointsConfig",
                    {{plan.network_name,
                      {{"Aliases", json::array({host.host})}, {"IPAMConfig", {{"IPv4Address", expected_address}}}}}}}});
        // Every host, itself included, in every container: the same list everywhere.
        CHECK(host.create_body["HostConfig"]["ExtraHosts"] == expected_hosts);
    }
    CHECK(plan.hosts[0].host == "algo-11");  // still the request's order
    CHECK(json(plan)["hosts"][10]["address"] == "172.20.0.11");
    CHECK(json(plan)["subnet"] == json{{"subnet", "172.20.0.0/16"}, {"gateway", "172.20.0.1"}});

    SUBCASE("apart from the addresses, the plan is the one without a subnet") {
        const container_plan plain = make_plan(job.request, {});
        json with = json(plan), without = json(plain);
        with["network_create_body"].erase("IPAM");
        with["subnet"] = nullptr;
        for (auto& host : with["hosts"]) {
            host["address"] = nullptr;
            host["create_body"]["HostConfig"].erase("ExtraHosts");
            host["create_body"]["NetworkingConfig"]["EndpointsConfig"][plan.network_name].erase("IPAMConfig");
        }
        CHECK(with == without);
    }
    SUBCASE("an isolated job's network stays internal on its subnet") {
        job.spec.enable_network_isolation = true;
        const container_plan isolated = make_plan(job.request, options);
        CHECK(isolated.network_create_body["Internal"] == true);
        CHECK(isolated.network_create_body["IPAM"] == network_ipam(*options.subnet));
    }
    SUBCASE("no gateway reported: the IPAM config names none") {
        options.subnet->gateway.clear();
        const container_plan no_gateway = make_plan(job.request, options);
        CHECK(no_gateway.network_create_body["IPAM"]["Config"] == json::array({{{"Subnet", "172.20.0.0/16"}}}));
        CHECK(no_gateway.hosts[10].address == "172.20.0.11");
    }
    SUBCASE("a subnet too small for the job") {
        options.subnet = network_subnet{"10.9.0.0/29", "10.9.0.1"};
        CHECK_THROWS_WITH_AS(make_plan(job.request, options),
                             "ClientError: the job network's subnet 10.9.0.0/29 has room for 5 host address(es), "
                             "but the job needs 11",
                             plan_error);
    }
}

TEST_CASE("an endpoint URL: smlocal's API and host.docker.internal for every container, unless isolated") {
    CHECK(default_endpoint_url(8080) == "http://host.docker.internal:8080");
    CHECK(default_endpoint_url(41234) == "http://host.docker.internal:41234");
    const std::string url = "http://host.docker.internal:41234";
    const json gateway_entry = "host.docker.internal:host-gateway";
    json request = minimal_request();
    plan_options options;
    options.endpoint_url = url;

    SUBCASE("single host: env, dummy credentials, host-gateway") {
        job_fixture job(request);
        const container_plan plan = make_plan(job.request, options);
        CHECK(plan.endpoint_url == url);
        CHECK(json(plan)["endpoint_url"] == url);
        CHECK(plan.warnings.empty());
        const host_plan& host = plan.hosts[0];
        CHECK(host.create_body["Env"] ==
              json::array({"AWS_ACCESS_KEY_ID=local", "AWS_DEFAULT_REGION=us-east-1", "AWS_ENDPOINT_URL=" + url,
                           "AWS_REGION=us-east-1", "AWS_SECRET_ACCESS_KEY=local", "S3_ENDPOINT_URL=" + url,
                           "TRAINING_JOB_ARN=arn:aws:sagemaker:us-east-1:123456789012:training-job/Single-Job",
                           "TRAINING_JOB_NAME=Single-Job"}));
        CHECK(host.create_body["HostConfig"]["NetworkMode"] == "bridge");
        CHECK(host.create_body["HostConfig"]["ExtraHosts"] == json::array({gateway_entry}));
    }
    SUBCASE("the job's own credentials replace both dummy keys, silently") {
        request["Environment"] = {{"AWS_ACCESS_KEY_ID", "AKIAJOB"}};
        job_fixture job(request);
        const container_plan plan = make_plan(job.request, options);
        const host_plan& host = plan.hosts[0];
        CHECK(has_env(host, "AWS_ACCESS_KEY_ID=AKIAJOB"));
        for (const auto& e : host.create_body["Env"])
            CHECK(e.get<std::string>().rfind("AWS_SECRET_ACCESS_KEY=", 0) != 0);
        CHECK(has_env(host, "S3_ENDPOINT_URL=" + url));
        CHECK(plan.warnings.empty());
    }
    SUBCASE("the job's own endpoint wins, with a warning") {
        request["Environment"] = {{"S3_ENDPOINT_URL", "http://minio:9000"}};
        job_fixture job(request);
        const container_plan plan = make_plan(job.request, options);
        CHECK(has_env(plan.hosts[0], "S3_ENDPOINT_URL=http://minio:9000"));
        CHECK(has_env(plan.hosts[0], "AWS_ENDPOINT_URL=" + url));
        CHECK(plan.warnings == std::vector<std::string>{"Environment variable S3_ENDPOINT_URL from the job's "
                                                        "Environment overrides the value smlocal sets"});
    }
    SUBCASE("several hosts: host-gateway after the hosts' fixed addresses") {
        request["ResourceConfig"] = {{"InstanceType", "ml.m5.large"}, {"InstanceCount", 2}};
        job_fixture job(request);
        options.subnet = network_subnet{"172.20.0.0/16", "172.20.0.1"};
        const container_plan plan = make_plan(job.request, options);
        for (const auto& host : plan.hosts) {
            CHECK(has_env(host, "AWS_ENDPOINT_URL=" + url));
            CHECK(host.create_body["HostConfig"]["ExtraHosts"] ==
                  json::array({"algo-1:172.20.0.11", "algo-2:172.20.0.12", gateway_entry}));
        }
    }
    SUBCASE("EnableNetworkIsolation: no endpoint, no credentials, no host-gateway") {
        for (int count : {1, 2}) {
            CAPTURE(count);
            request["ResourceConfig"] = {{"InstanceType", "ml.m5.large"}, {"InstanceCount", count}};
            job_fixture job(request);
            job.spec.enable_network_isolation = true;
            options.subnet = network_subnet{"172.20.0.0/16", "172.20.0.1"};
            const container_plan plan = make_plan(job.request, options);
            CHECK(plan.endpoint_url.empty());
            CHECK(json(plan)["endpoint_url"].is_null());
            for (const auto& host : plan.hosts) {
                for (const auto& e : host.create_body["Env"]) {
                    const std::string entry = e.get<std::string>();
                    CAPTURE(entry);
                    CHECK(entry.find("ENDPOINT_URL") == std::string::npos);
                    CHECK(entry.rfind("AWS_ACCESS_KEY_ID=", 0) != 0);
                    CHECK(entry.rfind("AWS_SECRET_ACCESS_KEY=", 0) != 0);
                }
                const json& hc = host.create_body["HostConfig"];
                const json extra = hc.value("ExtraHosts", json::array());
                CHECK(std::find(extra.begin(), extra.end(), gateway_entry) == extra.end());
                CHECK(extra.size() == (count == 1 ? 0u : 2u));
            }
        }
    }
    SUBCASE("no endpoint URL: none of it") {
        job_fixture job(request);
        const container_plan plan = make_plan(job.request, plan_options{});
        CHECK(plan.endpoint_url.empty());
        CHECK_FALSE(plan.hosts[0].create_body["HostConfig"].contains("ExtraHosts"));
        CHECK(plan.hosts[0].create_body["Env"].size() == 4);
    }
}
