// smlocal: a local emulator of the SageMaker training control plane. main() only parses flags and
// wires the layers together: api (HTTP) -> emulator (jobs) -> runners.

#include <utility>  // before Asio in C++20 (Boost 1.74)

#include <csignal>
#include <unistd.h>
#include <filesystem>
#include <fstream>
#include <optional>
#include <iostream>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <CLI/CLI.hpp>

#include "api/dashboard/dashboard_service.hpp"
#include "api/dispatcher.hpp"
#include "api/http/http_server.hpp"
#include "api/logs/logs_service.hpp"
#include "api/router.hpp"
#include "api/s3/s3_service.hpp"
#include "api/sagemaker/sagemaker_service.hpp"
#include "api/sts/sts_service.hpp"
#include "compose/compose_file.hpp"
#include "compose/docker_client.hpp"
#include "compose/docker_runner.hpp"
#include "emulator/clock.hpp"
#include "emulator/log_service.hpp"
#include "emulator/simulator/simulator_runner.hpp"
#include "emulator/storage/object_store.hpp"
#include "emulator/storage/uri_mapper.hpp"
#include "emulator/store.hpp"
#include "emulator/tags.hpp"
#include "emulator/training_jobs.hpp"
#include "emulator/tuning/tuning_jobs.hpp"

namespace {

namespace fs = std::filesystem;

struct serve_options {
    std::string host = "127.0.0.1";
    std::uint16_t port = 8080;
    fs::path data_dir = ".smlocal";
    fs::path s3_root, fsx_root, efs_root;  // default: <data-dir>/s3, fsx, efs
    std::string region = "us-east-1";
    std::string account_id = "123456789012";
    bool simulate_all = false;
    unsigned threads = 2;
    // Containers
    std::uint64_t shm_size = 0;  // 0: half of the host's memory
    double stop_grace_seconds = 120;
    bool keep_containers = false;
    std::uint64_t min_free_disk = 2ULL << 30;
    bool limit_resources = false;
    std::string gpu_fallback = "fail";
    // Empty: http://host.docker.internal:<port>, plus a listener on the Docker bridge's gateway.
    std::string container_endpoint;
};

std::uint64_t half_of_host_memory() {
    const long pages = ::sysconf(_SC_PHYS_PAGES);
    const long page_size = ::sysconf(_SC_PAGE_SIZE);
    return pages > 0 && page_size > 0 ? static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page_size) / 2 : 0;
}

// NVIDIA GPUs as the driver exposes them (/dev/nvidia0, /dev/nvidia1, ...).
int host_gpu_count() {
    int count = 0;
    std::error_code error;
    for (const auto& entry : fs::directory_iterator("/dev", error)) {
        const std::string name = entry.path().filename().string();
        if (name.size() > 6 && name.rfind("nvidia", 0) == 0 &&
            name.find_first_not_of("0123456789", 6) == std::string::npos)
            ++count;
    }
    return count;
}

smlocal::compose::docker_runner_options runner_options(const serve_options& options) {
    smlocal::compose::docker_runner_options out;
    out.plan.shm_size_bytes = static_cast<std::int64_t>(options.shm_size ? options.shm_size : half_of_host_memory());
    out.plan.limit_resources = options.limit_resources;
    out.plan.host_gpu_count = host_gpu_count();
    out.plan.gpu_cpu_fallback = options.gpu_fallback == "cpu";
    out.stop_grace = std::chrono::milliseconds(static_cast<long long>(options.stop_grace_seconds * 1000));
    out.keep_containers = options.keep_containers;
    out.min_free_bytes = options.min_free_disk;
    out.plan.endpoint_url = options.container_endpoint.empty() ? smlocal::compose::default_endpoint_url(options.port)
                                                                : options.container_endpoint;
    return out;
}

// The Docker bridge's gateway, which containers reach as host.docker.internal, when the main
// listener does not cover it. Problems are warnings: jobs that never call smlocal still run.
std::optional<std::string> gateway_to_listen_on(const smlocal::compose::docker_client& docker, const std::string& host) {
    try {
        const std::string gateway = docker.default_bridge_gateway();
        if (gateway.empty()) {
            std::cerr << "smlocal: warning: Docker's bridge network has no IPv4 gateway; containers cannot reach "
                         "smlocal's API (see --container-endpoint)" << std::endl;
            return std::nullopt;
        }
        if (smlocal::compose::listener_covers(host, gateway)) return std::nullopt;
        return gateway;
    } catch (const smlocal::compose::docker_error& error) {
        std::cerr << "smlocal: warning: no listener for containers on the Docker bridge: " << error.what() << std::endl;
        return std::nullopt;
    }
}

int serve(const serve_options& options) {
    using namespace smlocal;
    // A peer that goes away (a client socket, a Pipe-mode reader) must be an error code, not a death.
    std::signal(SIGPIPE, SIG_IGN);
    fs::create_directories(options.data_dir);
    const fs::path data_dir = fs::absolute(options.data_dir);
    store db(data_dir / "state.db");
    const fs::path s3_root = options.s3_root.empty() ? data_dir / "s3" : options.s3_root;
    uri_mapper storage({s3_root,
                        options.efs_root.empty() ? data_dir / "efs" : options.efs_root,
                        options.fsx_root.empty() ? data_dir / "fsx" : options.fsx_root});
    simulator::simulator_runner simulator(wall_clock());
    // DOCKER_HOST (unix:// or tcp://) picks the engine; an unreachable one fails jobs, not the server.
    compose::docker_client docker;
    compose::docker_runner containers(docker, runner_options(options));

    emulator_config config{options.region, options.account_id, data_dir, options.simulate_all};
    training_job_service training_jobs(config, db, storage, wall_clock(), runner_set{&simulator, &containers});
    tuning::tuning_job_service* tuning_ptr = nullptr;
    tag_service tags(db, [&](const std::string& arn) {
        return training_jobs.has_arn(arn) || (tuning_ptr && tuning_ptr->has_arn(arn));
    });
    tuning::tuning_job_service tuning_jobs(config, db, training_jobs, tags, wall_clock());
    tuning_ptr = &tuning_jobs;
    tags.recover();
    training_jobs.recover();
    tuning_jobs.recover();

    api::router router;
    router.add_service(api::make_sagemaker_service(training_jobs, tuning_jobs, tags));
    // CloudWatch Logs on the same port: the training log streams, read from the store.
    log_service logs(db, options.region, options.account_id, static_cast<std::int64_t>(wall_clock().now() * 1000));
    router.add_service(api::make_logs_service(logs));
    api::sts_service sts(options.account_id);
    // S3 over the same folder that training jobs read their channels from and write models to.
    object_store objects(s3_root, db);
    api::s3_service s3(objects, {options.region, {"localhost"}});
    api::dashboard_service dashboard(training_jobs);

    api::endpoint_services endpoints;
    endpoints.json = [&](api::http_request&& request) { return router.handle(std::move(request)); };
    endpoints.sts = [&](api::http_request&& request) { return sts.handle(request); };
    endpoints.s3 = [&](api::http_request&& request) { return s3.handle(std::move(request)); };
    endpoints.s3_body_plan = [&](const api::http_request_header& header) { return s3.plan_body(header); };
    endpoints.s3_virtual_host = [&](std::string_view host) { return s3.virtual_host_bucket(host).has_value(); };
    endpoints.dashboard = [&](api::http_request&& request) { return dashboard.handle(request); };
    endpoints.dashboard_handles = [&](const api::http_request_header& header) { return dashboard.handles(header); };
    const api::dispatcher dispatch(std::move(endpoints));

    boost::asio::io_context io(static_cast<int>(options.threads));
    api::http_server_options http_options;
    http_options.host = options.host;
    http_options.port = options.port;
    const auto handle = [&](api::http_request&& request) { return dispatch.handle(std::move(request)); };
    const auto plan_body = [&](const api::http_request_header& header) { return dispatch.plan_body(header); };
    const auto is_blocking = [&](const api::http_request_header& header) { return dispatch.is_blocking(header); };
    api::http_server server(io, http_options, handle, plan_body, is_blocking);
    server.start();

    // Containers cannot reach a loopback listener: serve them on the bridge gateway, same port.
    std::optional<api::http_server> gateway_server;
    std::string gateway_note;
    if (options.container_endpoint.empty() && !options.simulate_all) {
        containers.set_endpoint_url(compose::default_endpoint_url(server.port()));
        if (const auto gateway = gateway_to_listen_on(docker, options.host)) {
            api::http_server_options gateway_options = http_options;
            gateway_options.host = *gateway;
            gateway_options.port = server.port();
            try {
                gateway_server.emplace(io, gateway_options, handle, plan_body, is_blocking);
                gateway_server->start();
                gateway_note = " (served on " + *gateway + ":" + std::to_string(server.port()) + ")";
            } catch (const boost::system::system_error& error) {
                gateway_server.reset();
                std::cerr << "smlocal: warning: cannot listen on " << *gateway << ":" << server.port()
                          << " for containers: " << error.what() << std::endl;
            }
        }
    }

    // Graceful stop: no new connections, requests in flight finish, job state stays in the store.
    boost::asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](const boost::system::error_code& error, int) {
        if (error) return;
        server.stop();
        if (gateway_server) gateway_server->stop();
    });

    std::cout << "smlocal listening on http://" << options.host << ":" << server.port() << std::endl;
    if (!options.simulate_all)
        std::cout << "smlocal: containers reach it at " << containers.endpoint_url() << gateway_note << std::endl;

    std::vector<std::thread> workers;
    for (unsigned i = 1; i < options.threads; ++i) workers.emplace_back([&] { io.run(); });
    io.run();
    for (auto& worker : workers) worker.join();
    std::cerr << "smlocal stopped" << std::endl;
    return 0;
}

int doctor(const serve_options& options) {
    using namespace smlocal;
    const auto runner = runner_options(options);
    std::cout << "shm size for jobs:  " << runner.plan.shm_size_bytes / (1024 * 1024) << " MiB"
              << (options.shm_size ? "" : " (half of host memory; --shm-size to change)") << "\n";
    std::cout << "GPUs on this host:  " << runner.plan.host_gpu_count << "\n";
    compose::docker_client docker;
    std::cout << "Docker host:        " << docker.host() << "\n";
    try {
        const auto version = docker.version();
        const auto info = docker.info();
        std::cout << "Docker engine:      " << version.value("Version", "?") << " (API " << version.value("ApiVersion", "?")
                  << ")\n";
        const std::string root = info.value("DockerRootDir", "");
        std::cout << "Docker data-root:   " << root;
        std::error_code error;
        const auto space = fs::space(root, error);
        if (!error)
            std::cout << " (" << space.available / (1024 * 1024 * 1024) << " GiB free; jobs need "
                      << options.min_free_disk / (1024 * 1024 * 1024) << " GiB)";
        std::cout << "\n";
        std::cout << "Docker default shm: " << (info.contains("DefaultShmSize") ? std::to_string(info["DefaultShmSize"].get<long long>()) : std::string("64 MiB (engine default)")) << "\n";
        std::cout << "GPU runtime:        " << (info.value("Runtimes", nlohmann::json::object()).contains("nvidia") ? "nvidia" : "none") << "\n";
        return 0;
    } catch (const std::exception& error) {
        std::cout << "Docker engine:      unreachable: " << error.what() << "\n";
        return 1;
    }
}

// Prints a docker-compose file that reproduces a stored job by hand. Its host folders (config
// files, staging) are written under <data-dir>/compose/<job>/, apart from any live run's.
int print_compose(const serve_options& options, const std::string& job_name) {
    using namespace smlocal;
    const fs::path data_dir = fs::absolute(options.data_dir);
    if (!fs::exists(data_dir / "state.db")) throw std::runtime_error("no smlocal state in " + data_dir.string());
    store db(data_dir / "state.db");
    std::optional<training_job> job;
    for (auto& j : db.load_training_jobs())
        if (j.name == job_name) job = std::move(j);
    if (!job) throw std::runtime_error("no training job named " + job_name + " in " + data_dir.string());
    uri_mapper storage({options.s3_root.empty() ? data_dir / "s3" : options.s3_root,
                        options.efs_root.empty() ? data_dir / "efs" : options.efs_root,
                        options.fsx_root.empty() ? data_dir / "fsx" : options.fsx_root});
    const training_job_spec spec = parse_training_job_spec(job->request);
    const fs::path root = data_dir / "compose" / spec.name;
    run_request request{&spec, spec.name, job->arn, options.region, {}, {}, {}, {}};
    for (int i = 1; i <= spec.instance_count; ++i) {
        host_workspace host{"algo-" + std::to_string(i), root / ("algo-" + std::to_string(i))};
        for (const auto& dir : {host.config_dir(), host.data_dir(), host.model_dir(), host.output_data_dir()})
            fs::create_directories(dir);
        request.hosts.push_back(std::move(host));
    }
    request.channels = stage_channels(storage, spec, request.hosts);
    if (spec.checkpoint_s3_uri) request.checkpoint_source = storage.s3_path(*spec.checkpoint_s3_uri);
    const compose::container_plan plan = compose::make_plan(request, runner_options(options).plan);
    for (std::size_t i = 0; i < plan.hosts.size(); ++i)
        for (const auto& [name, content] : plan.hosts[i].config_files)
            std::ofstream(request.hosts[i].config_dir() / name, std::ios::binary | std::ios::trunc) << content;
    std::cout << compose::to_compose_yaml(plan);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"smlocal: a local emulator of the Amazon SageMaker training control plane"};
    app.require_subcommand(1);

    serve_options options;
    auto* serve_command = app.add_subcommand("serve", "Serve SageMaker, CloudWatch Logs, S3 and STS on one HTTP port, and the dashboard at /");
    serve_command->add_option("--host", options.host, "Address to bind")->capture_default_str();
    serve_command->add_option("--port", options.port, "Port to bind; 0 picks a free one")->capture_default_str();
    serve_command->add_option("--data-dir", options.data_dir,
                              "State (state.db), logs/, jobs/ and the default s3/, fsx/, efs/ roots")
        ->capture_default_str();
    serve_command->add_option("--s3-root", options.s3_root, "Folder standing in for S3, also served as S3 (default <data-dir>/s3)");
    serve_command->add_option("--fsx-root", options.fsx_root,
                              "Folder standing in for FSx for Lustre (default <data-dir>/fsx)");
    serve_command->add_option("--efs-root", options.efs_root, "Folder standing in for EFS (default <data-dir>/efs)");
    serve_command->add_option("--region", options.region, "Region in ARNs")->capture_default_str();
    serve_command->add_option("--account-id", options.account_id, "12-digit account id in ARNs and STS GetCallerIdentity")
        ->capture_default_str()
        ->check([](const std::string& value) {
            return value.size() == 12 && value.find_first_not_of("0123456789") == std::string::npos
                       ? std::string{}
                       : std::string{"must be 12 digits"};
        });
    serve_command->add_flag("--simulate-all", options.simulate_all,
                            "Run every image in the built-in simulator (offline CI of pipelines with real images)");
    serve_command->add_option("--threads", options.threads, "HTTP worker threads")
        ->capture_default_str()
        ->check(CLI::Range(1u, 64u));

    auto container_flags = [&](CLI::App* command) {
        command->add_option("--shm-size", options.shm_size, "/dev/shm of every container, e.g. 16g (default: half of host memory)")
            ->transform(CLI::AsSizeValue(false));
        command->add_option("--min-free-disk", options.min_free_disk,
                            "Fail jobs fast when the Docker data-root has less free space than this")
            ->transform(CLI::AsSizeValue(false))
            ->capture_default_str();
        command->add_option("--gpu-fallback", options.gpu_fallback,
                            "GPU instance types on a host without GPUs: fail the job, or run on cpu with a warning")
            ->check(CLI::IsMember({"fail", "cpu"}))
            ->capture_default_str();
    };
    container_flags(serve_command);
    serve_command->add_option("--stop-grace", options.stop_grace_seconds,
                              "Seconds between SIGTERM and SIGKILL on Stop and MaxRuntimeInSeconds")
        ->capture_default_str()
        ->check(CLI::Range(0.0, 3600.0));
    serve_command->add_flag("--keep-containers", options.keep_containers,
                            "Keep each job's containers and network afterwards, for debugging");
    serve_command->add_flag("--limit-resources", options.limit_resources,
                            "Limit each container's CPUs and memory to its instance type's");
    const auto endpoint_flag = [&](CLI::App* command, const std::string& help) {
        command->add_option("--container-endpoint", options.container_endpoint, help)
            ->check([](const std::string& value) {
                return value.rfind("http://", 0) == 0 || value.rfind("https://", 0) == 0
                           ? std::string{}
                           : std::string{"must be an http:// or https:// URL"};
            });
    };
    endpoint_flag(serve_command,
                  "URL of smlocal's API for training containers (AWS_ENDPOINT_URL, S3_ENDPOINT_URL), e.g. when "
                  "smlocal runs in a container (default http://host.docker.internal:PORT, plus a listener on the "
                  "Docker bridge's gateway when --host is a single address; none with this flag)");

    std::string compose_job;
    auto* compose_command =
        app.add_subcommand("compose", "Print a docker-compose file that reproduces a stored training job by hand");
    compose_command->add_option("job", compose_job, "Training job name")->required();
    compose_command->add_option("--data-dir", options.data_dir, "smlocal's data directory")->capture_default_str();
    compose_command->add_option("--s3-root", options.s3_root, "As given to serve");
    compose_command->add_option("--fsx-root", options.fsx_root, "As given to serve");
    compose_command->add_option("--efs-root", options.efs_root, "As given to serve");
    compose_command->add_option("--region", options.region, "As given to serve")->capture_default_str();
    compose_command->add_option("--port", options.port, "As given to serve (in the containers' endpoint URL)")
        ->capture_default_str();
    endpoint_flag(compose_command, "As given to serve");
    container_flags(compose_command);

    auto* doctor_command = app.add_subcommand("doctor", "Report the Docker engine, its data-root and free space, shm and GPUs");
    container_flags(doctor_command);

    CLI11_PARSE(app, argc, argv);
    try {
        if (*serve_command) return serve(options);
        if (*doctor_command) return doctor(options);
        if (*compose_command) return print_compose(options, compose_job);
    } catch (const std::exception& error) {
        std::cerr << "smlocal: " << error.what() << std::endl;
        return 1;
    }
    return 0;
}
