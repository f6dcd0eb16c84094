#include "compose/container_plan.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <utility>

namespace smlocal::compose {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

constexpr std::string_view opt_ml_config = "/opt/ml/input/config";
constexpr std::string_view opt_ml_data = "/opt/ml/input/data";
constexpr std::string_view opt_ml_model = "/opt/ml/model";
constexpr std::string_view opt_ml_output = "/opt/ml/output";
constexpr std::string_view group_name = "homogeneousCluster";
// docker stop -t 120: the grace period SageMaker gives between SIGTERM and SIGKILL (spec §2).
constexpr int stop_timeout_seconds = 120;
constexpr std::int64_t gib = std::int64_t{1} << 30;

std::string lower(std::string_view text) {
    std::string out(text);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

bool starts_with(std::string_view text, std::string_view prefix) { return text.substr(0, prefix.size()) == prefix; }

// The N of "algo-N", or nullopt for any other name.
std::optional<long long> host_number(std::string_view host) {
    if (!starts_with(host, "algo-") || host.size() == 5) return std::nullopt;
    long long n = 0;
    auto [end, ec] = std::from_chars(host.data() + 5, host.data() + host.size(), n);
    if (ec != std::errc{} || end != host.data() + host.size()) return std::nullopt;
    return n;
}

// algo-2 before algo-10 (the spec's "sorted lexicographically" would put algo-10 first, which
// breaks the toolkit's "hosts[0] is the master" only for >= 10 hosts; numeric order keeps algo-1
// first always). Names that are not algo-N sort after, as strings.
bool host_less(const std::string& a, const std::string& b) {
    auto na = host_number(a), nb = host_number(b);
    if (na && nb) return *na < *nb;
    if (na != nb) return na.has_value();
    return a < b;
}

std::vector<const host_workspace*> hosts_in_request_order(const run_request& request) {
    std::vector<const host_workspace*> out;
    for (const auto& host : request.hosts) out.push_back(&host);
    return out;
}

std::vector<const host_workspace*> sorted_hosts(const run_request& request) {
    std::vector<const host_workspace*> out;
    for (const auto& host : request.hosts) out.push_back(&host);
    std::stable_sort(out.begin(), out.end(), [](auto* a, auto* b) { return host_less(a->host, b->host); });
    return out;
}

// Absolute, lexically normal, no trailing separator: stable strings for Docker and the goldens.
std::string host_path(const fs::path& path, std::string_view what) {
    if (!path.is_absolute())
        throw std::invalid_argument("container plan: " + std::string(what) + " must be an absolute path, got '" +
                                    path.string() + "'");
    std::string out = path.lexically_normal().string();
    while (out.size() > 1 && out.back() == '/') out.pop_back();
    return out;
}

std::string container_path(std::string_view path) {
    std::string out = fs::path(path).lexically_normal().string();
    while (out.size() > 1 && out.back() == '/') out.pop_back();
    return out;
}

std::string effective_mode(const run_request& request, const channel_spec& channel) {
    if (!channel.input_mode.empty()) return channel.input_mode;
    if (!request.spec->training_input_mode.empty()) return request.spec->training_input_mode;
    return "File";
}

// "a.b.c.d" -> its 32 bits, or nullopt.
std::optional<std::uint32_t> parse_ipv4(std::string_view text) {
    std::uint32_t out = 0;
    const char* at = text.data();
    const char* end = text.data() + text.size();
    for (int part = 0; part < 4; ++part) {
        if (part > 0) {
            if (at == end || *at != '.') return std::nullopt;
            ++at;
        }
        unsigned value = 0;
        auto [next, ec] = std::from_chars(at, end, value);
        if (ec != std::errc{} || next == at || next - at > 3 || value > 255) return std::nullopt;
        out = (out << 8) | value;
        at = next;
    }
    if (at != end) return std::nullopt;
    return out;
}

std::string format_ipv4(std::uint32_t address) {
    return std::to_string(address >> 24) + "." + std::to_string((address >> 16) & 0xFF) + "." +
           std::to_string((address >> 8) & 0xFF) + "." + std::to_string(address & 0xFF);
}

void check_request(const run_request& request) {
    if (!request.spec) throw std::invalid_argument("container plan: run_request has no spec");
    if (request.hosts.empty()) throw std::invalid_argument("container plan: run_request has no hosts");
}

// The family part of ml.<family>.<size> ("p3", "g4dn", "trn1"), empty when the shape is off.
std::string_view instance_family(std::string_view instance_type) {
    if (!starts_with(instance_type, "ml.")) return {};
    std::string_view rest = instance_type.substr(3);
    return rest.substr(0, rest.find('.'));
}

json input_data_config(const run_request& request) {
    json out = json::object();
    for (const auto& resolved : request.channels) {
        const channel_spec& channel = resolved.spec;
        json entry = json::object();
        if (channel.content_type) entry["ContentType"] = *channel.content_type;
        entry["TrainingInputMode"] = effective_mode(request, channel);
        // File systems are always FullyReplicated (spec/data-sources.md §5).
        entry["S3DistributionType"] = channel.is_file_system() || channel.s3_distribution_type.empty()
                                          ? std::string("FullyReplicated")
                                          : channel.s3_distribution_type;
        entry["RecordWrapperType"] = channel.record_wrapper_type.value_or("None");
        if (channel.compression_type) entry["CompressionType"] = *channel.compression_type;
        out[channel.name] = std::move(entry);
    }
    return out;
}

json resource_config(const run_request& request, const std::vector<std::string>& hosts, std::string_view current) {
    const std::string& type = request.spec->instance_type;
    return json{{"current_host", current},
                {"current_instance_type", type},
                {"current_group_name", group_name},
                {"hosts", hosts},
                {"instance_groups", json::array({json{{"instance_group_name", group_name},
                                                      {"instance_type", type},
                                                      {"hosts", hosts}}})},
                {"network_interface_name", "eth0"}};
}

// Where a File/FastFile/file-system channel's data comes from on this host.
bind_mount channel_mount(const run_request& request, const plan_options& options, const resolved_channel& resolved,
                         const std::string& host) {
    const channel_spec& channel = resolved.spec;
    const std::string target = std::string(opt_ml_data) + "/" + channel.name;
    // Staging folders are hard links to the user's data: never writable.
    if (auto h = options.channel_sources_per_host.find(host); h != options.channel_sources_per_host.end())
        if (auto c = h->second.find(channel.name); c != h->second.end())
            return {host_path(c->second, "per-host source of channel '" + channel.name + "'"), target, true};
    if (auto staged = resolved.host_sources.find(host); staged != resolved.host_sources.end())
        return {host_path(staged->second, "per-host source of channel '" + channel.name + "'"), target, true};

    if (channel.is_file_system())
        return {host_path(resolved.source, "source of channel '" + channel.name + "'"), target,
                channel.file_system_access_mode != "rw"};
    // A manifest names objects; the folder to mount must be staged per host.
    if (channel.s3_data_type == "ManifestFile" || channel.s3_data_type == "AugmentedManifestFile")
        throw std::invalid_argument("container plan: channel '" + channel.name + "' (" + channel.s3_data_type +
                                    ") needs a staged folder for " + host + " (resolved_channel::host_sources)");
    if (channel.s3_distribution_type == "ShardedByS3Key" && request.hosts.size() > 1)
        throw std::invalid_argument("container plan: channel '" + channel.name +
                                    "' is ShardedByS3Key over several hosts and needs a staged folder for " + host +
                                    " (resolved_channel::host_sources)");
    return {host_path(resolved.source, "source of channel '" + channel.name + "'"), target, resolved.read_only};
}

json mount_json(const bind_mount& mount) {
    return json{{"Type", "bind"}, {"Source", mount.source}, {"Target", mount.target}, {"ReadOnly", mount.read_only}};
}

// Platform variables, smlocal's endpoint, then the server's extra_env, then the job's
// Environment, which wins: the request's Environment reaches the container "as given"
// (spec/container.md §5.1).
std::map<std::string, std::string> environment(const run_request& request, const plan_options& options,
                                               const std::string& endpoint_url, std::vector<std::string>& warnings) {
    std::map<std::string, std::string> env{
        {"TRAINING_JOB_NAME", request.job_name},
        {"TRAINING_JOB_ARN", request.job_arn},
        {"AWS_REGION", request.region},
        {"AWS_DEFAULT_REGION", request.region},
    };
    if (!endpoint_url.empty()) {
        // Every AWS SDK in the container, and the toolkit's sourcedir.tar.gz download, use smlocal.
        env["AWS_ENDPOINT_URL"] = endpoint_url;
        env["S3_ENDPOINT_URL"] = endpoint_url;
        // SDKs refuse to sign without credentials. Keys are a pair: half of the job's own plus
        // half of ours would be neither, so either key in the job's Environment drops both.
        const auto& job_env = request.spec->environment;
        if (!job_env.contains("AWS_ACCESS_KEY_ID") && !job_env.contains("AWS_SECRET_ACCESS_KEY")) {
            env["AWS_ACCESS_KEY_ID"] = dummy_access_key_id;
            env["AWS_SECRET_ACCESS_KEY"] = dummy_secret_access_key;
        }
    }
    for (const auto& [key, value] : options.extra_env) env[key] = value;
    for (const auto& [key, value] : request.spec->environment) {
        auto [it, inserted] = env.try_emplace(key, value);
        if (!inserted && it->second != value) {
            warnings.push_back("Environment variable " + key + " from the job's Environment overrides the value smlocal sets");
            it->second = value;
        }
    }
    return env;
}

}  // namespace

std::string default_endpoint_url(std::uint16_t port) {
    return "http://" + std::string(docker_host_alias) + ":" + std::to_string(port);
}

std::optional<instance_resources> resources_for_instance_type(std::string_view instance_type) {
    const std::string_view family = instance_family(instance_type);
    if (family.empty() || !std::isalpha(static_cast<unsigned char>(family.front()))) return std::nullopt;
    const std::string_view rest = instance_type.substr(3 + family.size());
    if (rest.size() < 2 || rest.front() != '.') return std::nullopt;
    const std::string_view size = rest.substr(1);

    double vcpus = 0;
    bool medium = false;
    if (size == "medium") {
        vcpus = 2;
        medium = true;
    } else if (size == "large") {
        vcpus = 2;
    } else if (size == "xlarge") {
        vcpus = 4;
    } else if (size.size() > 6 && size.substr(size.size() - 6) == "xlarge") {
        long long n = 0;
        const char* first = size.data();
        const char* last = size.data() + size.size() - 6;
        auto [end, ec] = std::from_chars(first, last, n);
        if (ec != std::errc{} || end != last || n < 1 || n > 1024) return std::nullopt;
        vcpus = 4.0 * static_cast<double>(n);
    } else {
        return std::nullopt;
    }

    std::int64_t gib_per_vcpu = 4;
    switch (family.front()) {
    case 'c': gib_per_vcpu = 2; break;
    case 'r':
    case 'p': gib_per_vcpu = 8; break;
    default: gib_per_vcpu = 4; break;  // m, t, g and anything else
    }
    std::int64_t memory = static_cast<std::int64_t>(vcpus) * gib_per_vcpu * gib;
    if (medium) memory /= 2;
    return instance_resources{vcpus, memory};
}

bool is_gpu_instance_type(std::string_view instance_type) {
    const std::string_view family = instance_family(instance_type);
    return !family.empty() && (family.front() == 'p' || family.front() == 'g');
}

bool is_neuron_instance_type(std::string_view instance_type) {
    const std::string_view family = instance_family(instance_type);
    return starts_with(family, "trn") || starts_with(family, "inf");
}

std::vector<std::string> host_addresses(const network_subnet& subnet, std::size_t count) {
    const auto slash = subnet.subnet.find('/');
    const auto base = parse_ipv4(std::string_view(subnet.subnet).substr(0, slash));
    unsigned prefix = 33;
    if (slash != std::string::npos) {
        const char* first = subnet.subnet.data() + slash + 1;
        const char* last = subnet.subnet.data() + subnet.subnet.size();
        auto [end, ec] = std::from_chars(first, last, prefix);
        if (ec != std::errc{} || end != last || first == last) prefix = 33;
    }
    if (!base || prefix > 32)
        throw std::invalid_argument("container plan: the network subnet '" + subnet.subnet +
                                    "' is not an IPv4 CIDR (a.b.c.d/n)");
    const std::uint64_t size = std::uint64_t{1} << (32 - prefix);
    const std::uint32_t network = *base & ~static_cast<std::uint32_t>(size - 1);
    std::uint64_t gateway = network + std::uint64_t{1};
    if (!subnet.gateway.empty()) {
        const auto parsed = parse_ipv4(subnet.gateway);
        if (!parsed)
            throw std::invalid_argument("container plan: the network gateway '" + subnet.gateway +
                                        "' is not an IPv4 address");
        gateway = *parsed;
    }
    // Neither the network nor the broadcast address; a /31 or /32 has no room at all.
    const std::uint64_t first_usable = network + std::uint64_t{1};
    const std::uint64_t last_usable = size >= 4 ? network + size - 2 : network;

    auto collect = [&](std::uint64_t start) {
        std::vector<std::string> out;
        for (std::uint64_t a = start; a <= last_usable && out.size() < count; ++a)
            if (a != gateway) out.push_back(format_ipv4(static_cast<std::uint32_t>(a)));
        return out;
    };
    // .11 for algo-1, .12 for algo-2...: readable, and clear of the gateway and of the low
    // addresses Docker hands out to anything else attached to the network.
    if (auto out = collect(network + std::uint64_t{11}); out.size() == count) return out;
    if (auto out = collect(first_usable); out.size() == count) return out;
    const std::uint64_t room = last_usable < first_usable ? 0
                               : last_usable - first_usable + 1 - (gateway >= first_usable && gateway <= last_usable);
    throw plan_error("ClientError: the job network's subnet " + subnet.subnet + " has room for " +
                     std::to_string(room) + " host address(es), but the job needs " + std::to_string(count));
}

nlohmann::json network_ipam(const network_subnet& subnet) {
    json config{{"Subnet", subnet.subnet}};
    if (!subnet.gateway.empty()) config["Gateway"] = subnet.gateway;
    return json{{"Driver", "default"}, {"Config", json::array({std::move(config)})}};
}

std::map<std::string, std::string> make_config_files(const run_request& request, std::string_view current_host) {
    check_request(request);
    const training_job_spec& spec = *request.spec;
    std::vector<std::string> hosts;
    for (const auto* host : sorted_hosts(request)) hosts.push_back(host->host);

    std::map<std::string, std::string> files;
    json hyperparameters = json::object();
    for (const auto& [key, value] : spec.hyperparameters) hyperparameters[key] = value;
    files["hyperparameters.json"] = hyperparameters.dump();
    files["inputdataconfig.json"] = input_data_config(request).dump();
    files["resourceconfig.json"] = resource_config(request, hosts, current_host).dump();
    if (spec.checkpoint_s3_uri)
        files["checkpointconfig.json"] =
            json{{"LocalPath", spec.checkpoint_local_path}, {"S3Uri", *spec.checkpoint_s3_uri}}.dump();
    return files;
}

container_plan make_plan(const run_request& request, const plan_options& options) {
    check_request(request);
    const training_job_spec& spec = *request.spec;

    container_plan plan;
    plan.job_name = request.job_name;
    const std::string job_lower = lower(request.job_name);
    // No outbound traffic, peers still reachable (spec/container.md §8).
    plan.internal_network = spec.enable_network_isolation;
    plan.own_network = request.hosts.size() > 1;
    if (plan.own_network) {
        plan.network_name = "smlocal-" + job_lower;
        plan.network_create_body = json{{"Name", plan.network_name},
                                        {"Driver", "bridge"},
                                        {"Internal", plan.internal_network},
                                        {"CheckDuplicate", true},
                                        {"Labels", {{"smlocal.job", request.job_name}, {"smlocal.managed", "true"}}}};
    } else {
        plan.network_name = plan.internal_network ? "none" : "bridge";
    }

    // Fixed addresses (numeric host order, as in resourceconfig.json) and an /etc/hosts entry
    // for every host in every container: a host stays resolvable after its container exits.
    std::map<std::string, std::string> address_of;
    json extra_hosts = json::array();
    if (options.subnet && plan.own_network) {
        plan.subnet = options.subnet;
        plan.network_create_body["IPAM"] = network_ipam(*options.subnet);
        const auto hosts = sorted_hosts(request);
        const auto addresses = host_addresses(*options.subnet, hosts.size());
        for (std::size_t i = 0; i < hosts.size(); ++i) {
            address_of[hosts[i]->host] = addresses[i];
            extra_hosts.push_back(hosts[i]->host + ":" + addresses[i]);
        }
    }

    // Accelerators: Neuron never; NVIDIA GPUs when the host has them, else fail or fall back.
    const std::string& instance_type = spec.instance_type;
    if (is_neuron_instance_type(instance_type))
        throw plan_error("ClientError: instance type " + instance_type +
                         " needs AWS Neuron devices (Trainium/Inferentia), which smlocal does not support; use a CPU "
                         "or GPU instance type");
    bool use_gpus = false;
    if (is_gpu_instance_type(instance_type)) {
        if (options.host_gpu_count > 0)
            use_gpus = true;
        else if (options.gpu_cpu_fallback)
            plan.warnings.push_back("instance type " + instance_type +
                                    " needs GPUs, but this host has none; running on CPU (--gpu-fallback=cpu)");
        else
            throw plan_error("ClientError: instance type " + instance_type +
                             " needs GPUs, but this host has none; use a CPU instance type, or start smlocal with "
                             "--gpu-fallback=cpu");
    }

    std::optional<instance_resources> limits;
    if (options.limit_resources) {
        limits = resources_for_instance_type(instance_type);
        if (!limits)
            plan.warnings.push_back("cannot derive CPU and memory limits from instance type " + instance_type +
                                    "; running without limits");
    }

    std::optional<std::string> checkpoint_target;
    if (spec.checkpoint_s3_uri) {
        if (!fs::path(spec.checkpoint_local_path).is_absolute())
            throw plan_error("ClientError: CheckpointConfig.LocalPath must be an absolute path, got '" +
                             spec.checkpoint_local_path + "'");
        checkpoint_target = container_path(spec.checkpoint_local_path);
    }

    // An isolated job reaches nothing outside its hosts, smlocal included (as AWS services).
    if (!plan.internal_network) plan.endpoint_url = options.endpoint_url;
    if (!plan.endpoint_url.empty())
        extra_hosts.push_back(std::string(docker_host_alias) + ":host-gateway");
    const auto env = environment(request, options, plan.endpoint_url, plan.warnings);
    json env_list = json::array();
    for (const auto& [key, value] : env) env_list.push_back(key + "=" + value);

    const bool any_pipe = std::any_of(request.channels.begin(), request.channels.end(),
                                      [&](const resolved_channel& c) { return effective_mode(request, c.spec) == "Pipe"; });

    for (const host_workspace* workspace : hosts_in_request_order(request)) {
        host_plan host;
        host.host = workspace->host;
        host.container_name = "smlocal-" + job_lower + "-" + lower(workspace->host);
        host.config_files = make_config_files(request, workspace->host);
        if (auto a = address_of.find(workspace->host); a != address_of.end()) host.address = a->second;

        // /opt/ml: config read-only; Pipe FIFOs live in the host's data folder; File, FastFile
        // and file-system channels mount on top of it; model and output are written back.
        host.mounts.push_back({host_path(workspace->config_dir(), "host workspace"), std::string(opt_ml_config), true});
        if (any_pipe)
            host.mounts.push_back({host_path(workspace->data_dir(), "host workspace"), std::string(opt_ml_data), false});
        for (const auto& channel : request.channels)
            if (effective_mode(request, channel.spec) != "Pipe")
                host.mounts.push_back(channel_mount(request, options, channel, workspace->host));
        host.mounts.push_back({host_path(workspace->model_dir(), "host workspace"), std::string(opt_ml_model), false});
        host.mounts.push_back({host_path(workspace->output_dir(), "host workspace"), std::string(opt_ml_output), false});
        if (checkpoint_target) {
            const std::optional<fs::path>& shared =
                options.checkpoint_source ? options.checkpoint_source : request.checkpoint_source;
            const std::string source = shared ? host_path(*shared, "checkpoint source")
                                              : host_path(workspace->checkpoint_dir(), "host workspace");
            for (const auto& m : host.mounts)
                if (m.target == *checkpoint_target)
                    throw plan_error("ClientError: CheckpointConfig.LocalPath " + spec.checkpoint_local_path +
                                     " clashes with " + m.target + ", which SageMaker reserves");
            host.mounts.push_back({source, *checkpoint_target, false});
        }

        json body;
        body["Image"] = spec.training_image;
        body["Hostname"] = workspace->host;
        // spec/container.md §1: `train` replaces CMD; an entrypoint drops the image's CMD.
        if (!spec.container_entrypoint.empty()) {
            body["Entrypoint"] = spec.container_entrypoint;
            body["Cmd"] = spec.container_arguments;  // [] when none: no `train`, no image CMD
        } else if (!spec.container_arguments.empty()) {
            body["Cmd"] = spec.container_arguments;
        } else {
            body["Cmd"] = json::array({"train"});
        }
        body["Env"] = env_list;
        body["Labels"] = {{"smlocal.job", request.job_name}, {"smlocal.host", workspace->host}, {"smlocal.managed", "true"}};
        body["StopTimeout"] = stop_timeout_seconds;

        json host_config;
        json mounts = json::array();
        for (const auto& m : host.mounts) mounts.push_back(mount_json(m));
        host_config["Mounts"] = std::move(mounts);
        host_config["NetworkMode"] = plan.network_name;
        if (!extra_hosts.empty()) host_config["ExtraHosts"] = extra_hosts;
        if (options.shm_size_bytes > 0) host_config["ShmSize"] = options.shm_size_bytes;
        // The image's entrypoint is PID 1 and gets the signals (no tini, spec §1).
        host_config["Init"] = false;
        host_config["Privileged"] = false;
        // The runner reads exit codes and logs after the container ends, then removes it.
        host_config["AutoRemove"] = false;
        if (limits) {
            host_config["NanoCpus"] = static_cast<std::int64_t>(std::llround(limits->vcpus * 1e9));
            host_config["Memory"] = limits->memory_bytes;
        }
        if (use_gpus)
            host_config["DeviceRequests"] =
                json::array({json{{"Driver", "nvidia"}, {"Count", -1}, {"Capabilities", json::array({json::array({"gpu"})})}}});
        body["HostConfig"] = std::move(host_config);
        if (plan.own_network) {
            json endpoint{{"Aliases", json::array({workspace->host})}};
            if (!host.address.empty()) endpoint["IPAMConfig"] = {{"IPv4Address", host.address}};
            body["NetworkingConfig"] = {{"EndpointsConfig", {{plan.network_name, std::move(endpoint)}}}};
        }
        host.create_body = std::move(body);
        plan.hosts.push_back(std::move(host));
    }
    return plan;
}

void to_json(nlohmann::json& out, const network_subnet& subnet) {
    out = json{{"subnet", subnet.subnet}, {"gateway", subnet.gateway}};
}

void to_json(nlohmann::json& out, const bind_mount& mount) {
    out = json{{"source", mount.source}, {"target", mount.target}, {"read_only", mount.read_only}};
}

void to_json(nlohmann::json& out, const host_plan& host) {
    out = json{{"host", host.host},
               {"container_name", host.container_name},
               {"create_body", host.create_body},
               {"mounts", host.mounts},
               {"address", host.address.empty() ? json(nullptr) : json(host.address)},
               {"config_files", host.config_files}};
}

void to_json(nlohmann::json& out, const container_plan& plan) {
    out = json{{"job_name", plan.job_name},
               {"network_name", plan.network_name},
               {"internal_network", plan.internal_network},
               {"own_network", plan.own_network},
               {"network_create_body", plan.network_create_body},
               {"subnet", plan.subnet ? json(*plan.subnet) : json(nullptr)},
               {"endpoint_url", plan.endpoint_url.empty() ? json(nullptr) : json(plan.endpoint_url)},
               {"hosts", plan.hosts},
               {"warnings", plan.warnings}};
}

}  // namespace smlocal::compose
