#include "compose/compose_file.hpp"

#include <doctest/doctest.h>

#include "tests/compose/plan_fixture.hpp"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <sys/wait.h>
#include <unistd.h>

using namespace smlocal;
using namespace smlocal::compose;
using json = nlohmann::json;

namespace {

constexpr const char* docker_compose = "/usr/bin/docker-compose";
using namespace smlocal::compose::testing;

// Runs a shell command; returns its exit status and combined output.
std::pair<int, std::string> run(const std::string& command) {
    std::string output;
    FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
    REQUIRE_MESSAGE(pipe, "cannot run " << command);
    std::array<char, 4096> buffer{};
    std::size_t n = 0;
    while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) output.append(buffer.data(), n);
    const int status = ::pclose(pipe);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

// This process's scratch folder, removed at exit.
const std::filesystem::path& temp_dir() {
    struct scratch {
        std::filesystem::path path = std::filesystem::temp_directory_path() /
                                     ("smlocal-compose-test-" + std::to_string(::getpid()));
        scratch() { std::filesystem::create_directories(path); }
        ~scratch() {
            std::error_code ignored;
            std::filesystem::remove_all(path, ignored);
        }
    };
    static const scratch folder;
    return folder.path;
}

std::filesystem::path write_temp(const std::string& name, const std::string& text) {
    const auto file = temp_dir() / name;
    std::ofstream(file, std::ios::binary) << text;
    return file;
}

// docker-compose's own validation (no engine needed). Empty when it accepts the file.
std::string compose_rejects(const std::string& yaml, const std::string& name) {
    const auto file = write_temp(name, yaml);
    auto [status, output] = run(std::string(docker_compose) + " -f '" + file.string() + "' config -q");
    return status == 0 ? std::string() : "exit " + std::to_string(status) + ": " + output + "\n--- file ---\n" + yaml;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

#ifdef SMLOCAL_SOURCE_DIR
TEST_CASE("golden: compose file of the 2-host job") {
    job_fixture job(two_host_request());
    check_golden("plan_two_hosts.compose.yml", to_compose_yaml(make_plan(job.request, two_host_options())));
}
#else
TEST_CASE("golden files need SMLOCAL_SOURCE_DIR") {
    FAIL("compile with -DSMLOCAL_SOURCE_DIR=\\\"/path/to/source\\\" to run the compose file golden tests");
}
#endif

TEST_CASE("compose file pieces follow the plan") {
    job_fixture job(minimal_request());
    SUBCASE("defaults: train command, no deploy, non-internal network") {
        const std::string yaml = to_compose_yaml(make_plan(job.request, {}));
        CHECK(contains(yaml, "    command: [\"train\"]\n"));
        CHECK_FALSE(contains(yaml, "entrypoint:"));
        CHECK_FALSE(contains(yaml, "deploy:"));
        CHECK_FALSE(contains(yaml, "shm_size:"));
        CHECK_FALSE(contains(yaml, "internal:"));
        CHECK(contains(yaml, "      - \"/var/lib/smlocal/jobs/Single-Job/algo-1/input/config:/opt/ml/input/config:ro\"\n"));
        CHECK(contains(yaml, "      - \"/var/lib/smlocal/jobs/Single-Job/algo-1/model:/opt/ml/model\"\n"));
        // A single host runs on Docker's default bridge: no network section.
        CHECK(contains(yaml, "    network_mode: \"bridge\"\n"));
        CHECK_FALSE(contains(yaml, "\nnetworks:"));
        // No subnet in the plan (smlocal compose): no addresses anywhere.
        CHECK_FALSE(contains(yaml, "extra_hosts:"));
        CHECK_FALSE(contains(yaml, "ipv4_address:"));
        CHECK_FALSE(contains(yaml, "ipam:"));
        CHECK_FALSE(contains(yaml, "fixed address"));
    }
    SUBCASE("a subnet: the network's ipam, each host's ipv4_address, every host in extra_hosts") {
        json request = minimal_request();
        request["ResourceConfig"] = {{"InstanceType", "ml.m5.large"}, {"InstanceCount", 2}};
        job_fixture two(request);
        plan_options options;
        options.subnet = network_subnet{"10.9.0.0/24", "10.9.0.1"};
        const std::string yaml = to_compose_yaml(make_plan(two.request, options));
        const std::string hosts = "    extra_hosts:\n      - \"algo-1:10.9.0.11\"\n      - \"algo-2:10.9.0.12\"\n";
        const std::string first = hosts + "    networks:\n      \"smlocal-single-job\":\n        aliases: [\"algo-1\"]\n"
                                          "        ipv4_address: \"10.9.0.11\"\n";
        const std::string second = hosts + "    networks:\n      \"smlocal-single-job\":\n        aliases: [\"algo-2\"]\n"
                                           "        ipv4_address: \"10.9.0.12\"\n";
        CHECK(contains(yaml, first));
        CHECK(contains(yaml, second));
        CHECK(contains(yaml, "    ipam:\n      driver: \"default\"\n      config:\n        - subnet: \"10.9.0.0/24\"\n"
                             "          gateway: \"10.9.0.1\"\n"));
        CHECK(contains(yaml, "# Each host has a fixed address"));
        options.subnet->gateway.clear();
        const std::string no_gateway = to_compose_yaml(make_plan(two.request, options));
        CHECK(contains(no_gateway, "        - subnet: \"10.9.0.0/24\"\n"));
        CHECK_FALSE(contains(no_gateway, "gateway:"));
    }
    SUBCASE("entrypoint only clears the command; isolation; GPUs; warnings as comments") {
        job.spec.container_entrypoint = {"/bin/sh", "-c", "echo $HOME"};
        job.spec.enable_network_isolation = true;
        job.spec.instance_type = "ml.g5.2xlarge";
        plan_options options;
        options.host_gpu_count = 1;
        options.limit_resources = true;
        options.extra_env = {{"AWS_REGION", "x"}};
        job.spec.environment = {{"AWS_REGION", "y"}};
        const std::string yaml = to_compose_yaml(make_plan(job.request, options));
        CHECK(contains(yaml, "    entrypoint: [\"/bin/sh\", \"-c\", \"echo $$HOME\"]\n    command: []\n"));
        CHECK(contains(yaml, "    network_mode: \"none\"\n"));
        CHECK(contains(yaml, "        limits:\n          cpus: \"8\"\n          memory: \"34359738368\"\n"));
        CHECK(contains(yaml, "        reservations:\n          devices:\n            - driver: \"nvidia\"\n"
                             "              count: all\n              capabilities: [\"gpu\"]\n"));
        CHECK(contains(yaml, "#   - Environment variable AWS_REGION from the job's Environment overrides"));
    }
    SUBCASE("an endpoint: a header comment, the environment and host.docker.internal") {
        plan_options options;
        options.endpoint_url = default_endpoint_url(8080);
        const std::string yaml = to_compose_yaml(make_plan(job.request, options));
        CHECK(contains(yaml, "# The containers reach smlocal's API (S3, SageMaker, CloudWatch Logs) at\n"
                             "# http://host.docker.internal:8080 (AWS_ENDPOINT_URL, S3_ENDPOINT_URL)"));
        CHECK(contains(yaml, "      \"S3_ENDPOINT_URL\": \"http://host.docker.internal:8080\"\n"));
        CHECK(contains(yaml, "    extra_hosts:\n      - \"host.docker.internal:host-gateway\"\n"));
        job.spec.enable_network_isolation = true;
        const std::string isolated = to_compose_yaml(make_plan(job.request, options));
        CHECK_FALSE(contains(isolated, "host.docker.internal"));
    }
    SUBCASE("a path holding ':' uses the long volume syntax") {
        job.request.channels[0].source = "/data/a:b";
        const std::string yaml = to_compose_yaml(make_plan(job.request, {}));
        CHECK(contains(yaml, "      - type: \"bind\"\n        source: \"/data/a:b\"\n"
                             "        target: \"/opt/ml/input/data/train\"\n        read_only: true\n"));
    }
}

TEST_CASE("docker-compose accepts the files") {
    if (!std::filesystem::exists(docker_compose)) {
        WARN_MESSAGE(false, "skipped: " << docker_compose << " is not installed");
        return;
    }
    SUBCASE("the 2-host job") {
        job_fixture job(two_host_request());
        const std::string problem = compose_rejects(to_compose_yaml(make_plan(job.request, two_host_options())), "two.yml");
        CHECK_MESSAGE(problem.empty(), problem);
    }
    SUBCASE("isolated single-host GPU job with an entrypoint only, a path holding ':', a subnet it does not use") {
        job_fixture job(minimal_request());
        job.spec.container_entrypoint = {"/bin/sh", "-c", "echo ${HOME} $$"};
        job.spec.enable_network_isolation = true;
        job.spec.instance_type = "ml.p3.8xlarge";
        job.request.channels[0].source = "/data/a:b";
        plan_options options;
        options.host_gpu_count = 2;
        options.limit_resources = true;
        options.shm_size_bytes = 123456789;
        options.subnet = network_subnet{"192.168.176.0/20", ""};
        const std::string yaml = to_compose_yaml(make_plan(job.request, options));
        // A subnet only matters to a network of the job's own, which one host does not get.
        CHECK_FALSE(contains(yaml, "ipv4_address:"));
        CHECK(contains(yaml, "    network_mode: \"none\"\n"));
        const std::string problem = compose_rejects(yaml, "gpu.yml");
        CHECK_MESSAGE(problem.empty(), problem);
    }
}

TEST_CASE("strings survive YAML and Compose interpolation unchanged") {
    if (run("python3 -c 'import yaml'").first != 0) {
        WARN_MESSAGE(false, "skipped: python3 with PyYAML is not installed");
        return;
    }
    // Everything YAML or Compose could reinterpret: quotes, escapes, '$', line breaks of both
    // worlds, control characters, a BOM, non-ASCII, and scalars that would otherwise not be strings.
    const std::map<std::string, std::string> tricky{
        {"QUOTES", "say \"hi\" and 'bye'"},
        {"BACKSLASH", "C:\\path\\n\\"},
        {"DOLLARS", "$HOME ${HOME} $$ $"},
        {"BREAKS", "a\nb\r\nc\td"},
        {"CONTROL", std::string("bell\x07 esc\x1b del\x7f nul-free")},
        {"UNICODE_BREAKS", "nel\u0085 ls\u2028 ps\u2029 bom\ufeff"},
        {"UNICODE", "\u00e9t\u00e9 \u6f22\u5b57 \U0001F600"},
        {"YAML_WORDS", "yes"},
        {"NULL_WORD", "null"},
        {"NUMBER", "1e3"},
        {"EMPTY", ""},
        {"SYNTAX", ": # - [x] {y} & * ! | > % @ ` ,"},
    };
    job_fixture job(minimal_request());
    job.spec.environment = tricky;
    job.spec.training_image = "image:\"odd\" $tag";
    const std::string yaml = to_compose_yaml(make_plan(job.request, {}));
    const auto file = write_temp("tricky.yml", yaml);

    const std::string script = "import sys, yaml, json; d = yaml.safe_load(open(sys.argv[1], encoding='utf-8')); "
                               "s = d['services']['algo-1']; "
                               "print(json.dumps({'env': s['environment'], 'image': s['image']}))";
    auto [status, output] = run("python3 -c \"" + script + "\" '" + file.string() + "'");
    REQUIRE_MESSAGE(status == 0, output << "\n--- file ---\n" << yaml);
    const json loaded = json::parse(output);
    // Compose turns "$$" back into "$".
    auto uninterpolate = [](std::string text) {
        for (std::size_t at = 0; (at = text.find("$$", at)) != std::string::npos; ++at) text.erase(at, 1);
        return text;
    };
    for (const auto& [key, value] : tricky) {
        CAPTURE(key);
        REQUIRE(loaded["env"].contains(key));
        CHECK(uninterpolate(loaded["env"][key].get<std::string>()) == value);
    }
    CHECK(uninterpolate(loaded["image"].get<std::string>()) == job.spec.training_image);

    if (std::filesystem::exists(docker_compose)) {
        const std::string problem = compose_rejects(yaml, "tricky-compose.yml");
        CHECK_MESSAGE(problem.empty(), problem);
    }
}
