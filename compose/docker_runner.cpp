#include "compose/docker_runner.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <fstream>
#include <iostream>
#include <mutex>
#include <thread>

#include <sys/statvfs.h>

#include "emulator/storage/pipe_feeder.hpp"

namespace smlocal::compose {

namespace fs = std::filesystem;
using json = nlohmann::json;
using steady = std::chrono::steady_clock;

namespace {

run_result not_started(std::string message) { return {run_result::outcome::not_started, 0, {}, std::move(message)}; }

std::string gib(std::uint64_t bytes) {
    char text[32];
    std::snprintf(text, sizeof text, "%.1f GiB", static_cast<double>(bytes) / (1024.0 * 1024 * 1024));
    return text;
}

// create_job_network's probe-and-recreate must not interleave between this process's jobs: a
// second job's probe would be handed the subnet the first has just released.
std::mutex network_creation;

// The IPv4 entry of GET /networks/{id}'s IPAM.Config, if any.
std::optional<network_subnet> ipv4_subnet(const json& network) {
    const json ipam = network.value("IPAM", json::object());
    const json configs = ipam.is_object() ? ipam.value("Config", json::array()) : json::array();
    if (!configs.is_array()) return std::nullopt;
    for (const auto& config : configs) {
        if (!config.is_object()) continue;
        const std::string subnet = config.value("Subnet", "");
        if (subnet.empty() || subnet.find(':') != std::string::npos) continue;  // IPv6
        return network_subnet{subnet, config.value("Gateway", "")};
    }
    return std::nullopt;
}

}  // namespace

job_network create_job_network(const docker_client& client, const json& create_body) {
    std::lock_guard lock(network_creation);
    constexpr int attempts = 5;
    for (int attempt = 1;; ++attempt) {
        const std::string probe = client.create_network(create_body);
        std::optional<network_subnet> subnet;
        try {
            subnet = ipv4_subnet(client.inspect_network(probe));
            if (!subnet) return {probe, std::nullopt};
            client.remove_network(probe);
        } catch (const docker_error&) {
            try {
                client.remove_network(probe);
            } catch (const docker_error&) {
            }
            throw;
        }
        json body = create_body;
        body["IPAM"] = network_ipam(*subnet);
        try {
            return {client.create_network(body), subnet};
        } catch (const docker_error& error) {
            // Someone else's network took the subnet in between: ask Docker again.
            if (error.code() != docker_error::kind::bad_request || attempt == attempts) throw;
        }
    }
}

docker_runner::docker_runner(const docker_client& client, docker_runner_options options)
    : client_(client), options_(std::move(options)), endpoint_url_(options_.plan.endpoint_url) {}

void docker_runner::set_endpoint_url(std::string url) {
    std::lock_guard lock(endpoint_mutex_);
    endpoint_url_ = std::move(url);
}

std::string docker_runner::endpoint_url() const {
    std::lock_guard lock(endpoint_mutex_);
    return endpoint_url_;
}

bool listener_covers(std::string_view listen_host, std::string_view address) {
    // Linux binds "::" dual-stack (net.ipv6.bindv6only = 0), so it takes IPv4 connections too.
    return listen_host.empty() || listen_host == "0.0.0.0" || listen_host == "::" || listen_host == "[::]" ||
           listen_host == address;
}

std::optional<std::string> docker_runner::preflight(const std::string& image) const {
    try {
        client_.inspect_image(image);
    } catch (const docker_error& error) {
        if (error.code() == docker_error::kind::not_found)
            return "ClientError: image '" + image +
                   "' is not in the local Docker image store (smlocal never pulls; build or load it first)";
        return "InternalServerError: " + std::string(error.what());
    }
    if (options_.min_free_bytes > 0) {
        const std::string root = docker_root_dir();
        struct statvfs disk {};
        // Only a local engine's data-root can be measured; a remote one is taken on trust.
        if (!root.empty() && ::statvfs(root.c_str(), &disk) == 0) {
            const std::uint64_t free_bytes = static_cast<std::uint64_t>(disk.f_bavail) * disk.f_frsize;
            if (free_bytes < options_.min_free_bytes)
                return "ClientError: the Docker data-root " + root + " has " + gib(free_bytes) +
                       " free, less than the " + gib(options_.min_free_bytes) +
                       " smlocal requires (--min-free-disk); move it with scripts/setup-docker.sh --data-root DIR";
        }
    }
    return std::nullopt;
}

std::string docker_runner::docker_root_dir() const {
    constexpr auto refresh_after = std::chrono::minutes(1);
    const auto now = std::chrono::steady_clock::now();
    {
        std::lock_guard lock(root_mutex_);
        if (!root_dir_.empty() && now - root_dir_asked_ < refresh_after) return root_dir_;
    }
    std::string root = client_.info().value("DockerRootDir", "");
    std::lock_guard lock(root_mutex_);
    root_dir_ = root;
    root_dir_asked_ = now;
    return root;
}

run_result docker_runner::run(const run_request& request, run_observer& observer, std::stop_token stop) {
    plan_options plan_opts = options_.plan;
    plan_opts.endpoint_url = endpoint_url();
    plan_opts.subnet.reset();  // known once the network exists
    if (request.checkpoint_source) plan_opts.checkpoint_source = request.checkpoint_source;
    container_plan plan;
    try {
        plan = make_plan(request, plan_opts);
    } catch (const plan_error& error) {
        return not_started(error.what());
    }
    try {
        if (auto problem = preflight(request.spec->training_image)) return not_started(*problem);
    } catch (const docker_error& error) {
        return not_started("InternalServerError: " + std::string(error.what()));
    }
    for (const auto& warning : plan.warnings) std::cerr << "smlocal: job " << request.job_name << ": " << warning << "\n";

    // Every config file is in place before any container starts (spec/container.md §4.3).
    for (std::size_t i = 0; i < plan.hosts.size(); ++i) {
        const fs::path config_dir = request.hosts[i].config_dir();
        fs::create_directories(config_dir);
        for (const auto& [name, content] : plan.hosts[i].config_files)
            std::ofstream(config_dir / name, std::ios::binary | std::ios::trunc) << content;
    }

    // Leftovers of an earlier run of the same job (a crash, --keep-containers) would clash by name.
    for (const auto& container : client_.list_containers({{"smlocal.job", request.job_name}}, true))
        client_.remove_container(container.at("Id").get<std::string>(), true);
    for (const auto& network : client_.list_networks({{"smlocal.job", request.job_name}}))
        client_.remove_network(network.at("Id").get<std::string>());

    std::vector<started_host> hosts;
    std::string network_id;
    try {
        if (plan.own_network) {
            const job_network network = create_job_network(client_, plan.network_create_body);
            network_id = network.id;
            if (network.subnet) {
                // The same plan, plus each host's fixed address and the /etc/hosts entries.
                plan_opts.subnet = network.subnet;
                plan = make_plan(request, plan_opts);
            } else {
                std::cerr << "smlocal: job " << request.job_name << ": Docker reported no IPv4 subnet for network "
                          << plan.network_name << "; hosts get no fixed addresses, and a host whose container "
                          << "has exited stops resolving for its peers\n";
            }
        }
        for (const auto& host : plan.hosts)
            hosts.push_back({host.host, client_.create_container(host.container_name, host.create_body)});
    } catch (const plan_error& error) {
        clean_up(hosts, network_id);
        return not_started(error.what());
    } catch (const docker_error& error) {
        clean_up(hosts, network_id);
        return not_started("ClientError: could not create the job's containers: " + std::string(error.what()));
    }

    // Pipe mode: one feeder per host and channel, alive while the containers run.
    std::vector<std::unique_ptr<pipe_feeder>> feeders;
    std::vector<std::jthread> feeder_threads;
    for (const auto& channel : request.channels) {
        if (channel.spec.input_mode != "Pipe") continue;
        pipe_options pipe;
        pipe.record_io = channel.spec.record_wrapper_type == std::optional<std::string>("RecordIO");
        pipe.gunzip = channel.spec.compression_type == std::optional<std::string>("Gzip");
        for (const auto& host : request.hosts) {
            auto objects = channel.host_objects.find(host.host);
            feeders.push_back(std::make_unique<pipe_feeder>(
                host.data_dir(), channel.spec.name,
                objects == channel.host_objects.end() ? std::vector<channel_object>{} : objects->second, pipe));
            feeder_threads.emplace_back([feeder = feeders.back().get(), &observer, host = host.host](std::stop_token s) {
                try {
                    feeder->run(s);
                } catch (const std::exception& error) {
                    observer.on_log(host, std::string("smlocal: Pipe mode feeder failed: ") + error.what());
                }
            });
        }
    }

    const auto started = std::chrono::system_clock::now() - std::chrono::seconds(1);
    try {
        for (const auto& host : hosts) client_.start_container(host.container_id);
    } catch (const docker_error& error) {
        for (auto& t : feeder_threads) t.request_stop();
        feeder_threads.clear();
        clean_up(hosts, network_id);
        return not_started("ClientError: could not start the job's containers: " + std::string(error.what()));
    }
    run_result result = supervise(hosts, observer, stop, request.detach, started);
    for (auto& t : feeder_threads) t.request_stop();
    feeder_threads.clear();
    if (!request.detach.stop_requested()) clean_up(hosts, network_id);
    return result;
}

run_result docker_runner::reattach(const run_request& request, run_observer& observer, std::stop_token stop) {
    std::vector<started_host> hosts;
    std::string network_id;
    try {
        for (const auto& container : client_.list_containers({{"smlocal.job", request.job_name}}, true)) {
            const json labels = container.value("Labels", json::object());
            hosts.push_back({labels.value("smlocal.host", ""), container.at("Id").get<std::string>()});
        }
        for (const auto& network : client_.list_networks({{"smlocal.job", request.job_name}}))
            network_id = network.at("Id").get<std::string>();
    } catch (const docker_error& error) {
        return not_started("InternalServerError: smlocal restarted and could not re-attach: " + std::string(error.what()));
    }
    if (hosts.size() != request.hosts.size())
        return not_started("InternalServerError: smlocal restarted and found " + std::to_string(hosts.size()) +
                           " of the job's " + std::to_string(request.hosts.size()) + " containers");
    std::sort(hosts.begin(), hosts.end(), [](const started_host& a, const started_host& b) {
        return a.host.size() != b.host.size() ? a.host.size() < b.host.size() : a.host < b.host;
    });
    // Output printed while the server was down is read again from just after what was stored.
    const auto since = request.output_stored_until > 0
                           ? std::chrono::system_clock::time_point(std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                 std::chrono::duration<double>(request.output_stored_until + 0.001)))
                           : std::chrono::system_clock::now();
    run_result result = supervise(hosts, observer, stop, request.detach, since);
    if (request.detach.stop_requested()) return result;
    clean_up(hosts, network_id);
    return result;
}

run_result docker_runner::supervise(const std::vector<started_host>& hosts, run_observer& observer,
                                    std::stop_token stop, std::stop_token detach,
                                    std::chrono::system_clock::time_point logs_since) {
    // Shared with the waiter threads, which may outlive this call when the server detaches.
    struct shared_state {
        std::mutex mutex;
        std::condition_variable_any changed;
        std::vector<bool> exited;
        std::vector<std::string> failed_hosts;  // in the order they failed
        std::vector<int> failure_codes;
        bool all_exited() const { return std::all_of(exited.begin(), exited.end(), [](bool e) { return e; }); }
    };
    auto state = std::make_shared<shared_state>();
    state->exited.assign(hosts.size(), false);

    std::atomic<std::size_t> logs_finished{0};
    std::vector<std::jthread> log_threads;
    for (std::size_t i = 0; i < hosts.size(); ++i) {
        log_threads.emplace_back([&, i](std::stop_token s) {
            try {
                client_.follow_logs(hosts[i].container_id, logs_since,
                                    [&](log_stream, std::string_view line) { observer.on_log(hosts[i].host, line); }, s);
            } catch (const std::exception& error) {
                observer.on_log(hosts[i].host, std::string("smlocal: log stream ended: ") + error.what());
            }
            ++logs_finished;
        });
        // wait_container cannot be interrupted; on detach its thread is left to finish alone.
        std::thread([state, &client = client_, id = hosts[i].container_id, host = hosts[i].host, i] {
            int code = 137;
            try {
                code = client.wait_container(id);
            } catch (const std::exception&) {
                // The engine went away: the container is as good as killed.
            }
            std::lock_guard lock(state->mutex);
            state->exited[i] = true;
            if (code != 0) {
                state->failed_hosts.push_back(host);
                state->failure_codes.push_back(code);
            }
            state->changed.notify_all();
        }).detach();
    }
    std::stop_callback wake_on_detach(detach, [&] {
        std::lock_guard lock(state->mutex);
        state->changed.notify_all();
    });

    auto signal_running = [&](const char* signal) {
        for (std::size_t i = 0; i < hosts.size(); ++i)
            if (!state->exited[i]) {
                try {
                    client_.kill_container(hosts[i].container_id, signal);
                } catch (const docker_error&) {
                    // It exited between the check and the signal; its waiter reports it.
                }
            }
    };

    std::unique_lock lock(state->mutex);
    // Run until done, a stop request, a detach, or a failed host (the others are then stopped,
    // as a cluster whose member died would be).
    state->changed.wait(lock, stop, [&] {
        return state->all_exited() || !state->failure_codes.empty() || detach.stop_requested();
    });
    if (detach.stop_requested()) return {};  // the containers go on; reattach picks them up
    if (!state->all_exited()) {
        signal_running("SIGTERM");
        const auto deadline = steady::now() + options_.stop_grace;
        std::stop_source never;
        if (!state->changed.wait_until(lock, never.get_token(), deadline, [&] { return state->all_exited(); }))
            signal_running("SIGKILL");
        state->changed.wait(lock, [&] { return state->all_exited(); });
    }
    run_result result;
    if (!state->failure_codes.empty()) {
        result.exit_code = state->failure_codes.front();
        result.failed_host = state->failed_hosts.front();
    }
    lock.unlock();

    // Log streams end with the containers; give them a moment to drain, then cut them off
    // (destroying a jthread requests its stop and joins it).
    const auto drain_deadline = steady::now() + std::chrono::seconds(5);
    while (logs_finished < hosts.size() && steady::now() < drain_deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    log_threads.clear();
    return result;
}

void docker_runner::clean_up(const std::vector<started_host>& hosts, const std::string& network_id) {
    if (options_.keep_containers) return;
    for (const auto& host : hosts) {
        try {
            client_.remove_container(host.container_id, true);
        } catch (const docker_error&) {
            // Already gone.
        }
    }
    if (!network_id.empty()) {
        try {
            client_.remove_network(network_id);
        } catch (const docker_error&) {
        }
    }
}

}  // namespace smlocal::compose
