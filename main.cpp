// smlocal: a local emulator of the SageMaker training control plane. main() only parses flags and
// wires the layers together: api (HTTP) -> emulator (jobs) -> runners.

#include <utility>  // before Asio in C++20 (Boost 1.74)

#include <csignal>
#include <filesystem>
#include <iostream>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <CLI/CLI.hpp>

#include "api/http/http_server.hpp"
#include "api/router.hpp"
#include "api/sagemaker/sagemaker_service.hpp"
#include "emulator/clock.hpp"
#include "emulator/simulator/simulator_runner.hpp"
#include "emulator/storage/uri_mapper.hpp"
#include "emulator/store.hpp"
#include "emulator/tags.hpp"
#include "emulator/training_jobs.hpp"

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
};

int serve(const serve_options& options) {
    using namespace smlocal;
    fs::create_directories(options.data_dir);
    const fs::path data_dir = fs::absolute(options.data_dir);
    store db(data_dir / "state.db");
    uri_mapper storage({options.s3_root.empty() ? data_dir / "s3" : options.s3_root,
                        options.efs_root.empty() ? data_dir / "efs" : options.efs_root,
                        options.fsx_root.empty() ? data_dir / "fsx" : options.fsx_root});
    simulator::simulator_runner simulator(wall_clock());

    emulator_config config{options.region, options.account_id, data_dir, options.simulate_all};
    training_job_service training_jobs(config, db, storage, wall_clock(), runner_set{&simulator, nullptr});
    tag_service tags(db, [&](const std::string& arn) { return training_jobs.has_arn(arn); });
    tags.recover();
    training_jobs.recover();

    api::router router;
    router.add_service(api::make_sagemaker_service(training_jobs, tags));

    boost::asio::io_context io(static_cast<int>(options.threads));
    api::http_server_options http_options;
    http_options.host = options.host;
    http_options.port = options.port;
    api::http_server server(io, http_options, [&](api::http_request&& request) { return router.handle(std::move(request)); });
    server.start();

    // Graceful stop: no new connections, requests in flight finish, job state stays in the store.
    boost::asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](const boost::system::error_code& error, int) {
        if (!error) server.stop();
    });

    std::cout << "smlocal listening on http://" << options.host << ":" << server.port() << std::endl;

    std::vector<std::thread> workers;
    for (unsigned i = 1; i < options.threads; ++i) workers.emplace_back([&] { io.run(); });
    io.run();
    for (auto& worker : workers) worker.join();
    std::cerr << "smlocal stopped" << std::endl;
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"smlocal: a local emulator of the Amazon SageMaker training control plane"};
    app.require_subcommand(1);

    serve_options options;
    auto* serve_command = app.add_subcommand("serve", "Serve the SageMaker API over HTTP (AWS JSON 1.1)");
    serve_command->add_option("--host", options.host, "Address to bind")->capture_default_str();
    serve_command->add_option("--port", options.port, "Port to bind; 0 picks a free one")->capture_default_str();
    serve_command->add_option("--data-dir", options.data_dir,
                              "State (state.db), logs/, jobs/ and the default s3/, fsx/, efs/ roots")
        ->capture_default_str();
    serve_command->add_option("--s3-root", options.s3_root, "Folder standing in for S3 (default <data-dir>/s3)");
    serve_command->add_option("--fsx-root", options.fsx_root,
                              "Folder standing in for FSx for Lustre (default <data-dir>/fsx)");
    serve_command->add_option("--efs-root", options.efs_root, "Folder standing in for EFS (default <data-dir>/efs)");
    serve_command->add_option("--region", options.region, "Region in ARNs")->capture_default_str();
    serve_command->add_option("--account-id", options.account_id, "12-digit account id in ARNs")
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

    CLI11_PARSE(app, argc, argv);
    try {
        if (*serve_command) return serve(options);
    } catch (const std::exception& error) {
        std::cerr << "smlocal: " << error.what() << std::endl;
        return 1;
    }
    return 0;
}
