#include "compose/compose_file.hpp"

#include <cstdint>
#include <cstdio>
#include <string_view>

namespace smlocal::compose {
namespace {

using json = nlohmann::json;

// Decodes one UTF-8 code point at text[i]; sets `length`. Returns U+FFFD (length 1) for a byte
// that does not start a valid, shortest-form sequence.
char32_t decode_utf8(std::string_view text, std::size_t i, std::size_t& length) {
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
    const unsigned char lead = byte(i);
    length = 1;
    if (lead < 0x80) return lead;
    std::size_t extra = 0;
    char32_t cp = 0;
    char32_t min = 0;
    if ((lead & 0xE0) == 0xC0) { extra = 1; cp = lead & 0x1F; min = 0x80; }
    else if ((lead & 0xF0) == 0xE0) { extra = 2; cp = lead & 0x0F; min = 0x800; }
    else if ((lead & 0xF8) == 0xF0) { extra = 3; cp = lead & 0x07; min = 0x10000; }
    else return 0xFFFD;
    if (i + extra >= text.size()) return 0xFFFD;
    for (std::size_t k = 1; k <= extra; ++k) {
        if ((byte(i + k) & 0xC0) != 0x80) return 0xFFFD;
        cp = (cp << 6) | (byte(i + k) & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0xFFFD;
    length = extra + 1;
    return cp;
}

std::string hex_escape(char32_t cp) {
    char buffer[16];
    if (cp <= 0xFF) std::snprintf(buffer, sizeof buffer, "\\x%02X", static_cast<unsigned>(cp));
    else if (cp <= 0xFFFF) std::snprintf(buffer, sizeof buffer, "\\u%04X", static_cast<unsigned>(cp));
    else std::snprintf(buffer, sizeof buffer, "\\U%08X", static_cast<unsigned>(cp));
    return buffer;
}

// YAML 1.1 printable set, minus the characters that a YAML reader folds as line breaks.
bool plain_printable(char32_t cp) {
    if (cp == 0x85 || cp == 0x2028 || cp == 0x2029 || cp == 0xFEFF) return false;
    return (cp >= 0x20 && cp <= 0x7E) || (cp >= 0xA0 && cp <= 0xD7FF) || (cp >= 0xE000 && cp <= 0xFFFD) ||
           (cp >= 0x10000 && cp <= 0x10FFFF);
}

/// A double-quoted YAML scalar. `compose_value`: double `$`, which Compose would interpolate.
std::string quote(std::string_view text, bool compose_value = true) {
    std::string out = "\"";
    for (std::size_t i = 0; i < text.size();) {
        std::size_t length = 1;
        const char32_t cp = decode_utf8(text, i, length);
        switch (cp) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\t': out += "\\t"; break;
        case '\r': out += "\\r"; break;
        case '$': out += compose_value ? "$$" : "$"; break;
        default:
            if (!plain_printable(cp)) out += hex_escape(cp);
            else out.append(text.substr(i, length));
        }
        i += length;
    }
    return out + "\"";
}

// Comment text: one line, printable.
std::string comment_text(std::string_view text) {
    std::string out;
    for (char c : text) out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) ? ' ' : c;
    return out;
}

std::string flow_list(const json& items) {
    std::string out = "[";
    bool first = true;
    for (const auto& item : items) {
        if (!first) out += ", ";
        first = false;
        out += quote(item.get<std::string>());
    }
    return out + "]";
}

// NanoCpus as a decimal number of CPUs ("4", "0.5").
std::string cpus_text(std::int64_t nano_cpus) {
    std::string out = std::to_string(nano_cpus / 1'000'000'000);
    std::int64_t fraction = nano_cpus % 1'000'000'000;
    if (fraction == 0) return out;
    std::string digits = std::to_string(fraction);
    digits.insert(0, 9 - digits.size(), '0');
    while (digits.back() == '0') digits.pop_back();
    return out + "." + digits;
}

void write_volume(std::string& out, const bind_mount& mount) {
    // The short form splits on ':'; paths holding one need the long form.
    if (mount.source.find(':') == std::string::npos && mount.target.find(':') == std::string::npos) {
        out += "      - " + quote(mount.source + ":" + mount.target + (mount.read_only ? ":ro" : "")) + "\n";
        return;
    }
    out += "      - type: \"bind\"\n";
    out += "        source: " + quote(mount.source) + "\n";
    out += "        target: " + quote(mount.target) + "\n";
    out += std::string("        read_only: ") + (mount.read_only ? "true" : "false") + "\n";
}

void write_service(std::string& out, const container_plan& plan, const host_plan& host) {
    const json& body = host.create_body;
    const json empty = json::object();
    const json& host_config = body.contains("HostConfig") ? body["HostConfig"] : empty;

    out += "  " + quote(host.host) + ":\n";
    out += "    image: " + quote(body.value("Image", "")) + "\n";
    out += "    container_name: " + quote(host.container_name) + "\n";
    out += "    hostname: " + quote(body.value("Hostname", host.host)) + "\n";
    if (body.contains("Entrypoint")) out += "    entrypoint: " + flow_list(body["Entrypoint"]) + "\n";
    if (body.contains("Cmd")) out += "    command: " + flow_list(body["Cmd"]) + "\n";

    if (auto env = body.find("Env"); env != body.end() && !env->empty()) {
        out += "    environment:\n";
        for (const auto& entry : *env) {
            const std::string text = entry.get<std::string>();
            const auto eq = text.find('=');
            out += "      " + quote(text.substr(0, eq), false) + ": " +
                   quote(eq == std::string::npos ? std::string() : text.substr(eq + 1)) + "\n";
        }
    }
    if (!host.mounts.empty()) {
        out += "    volumes:\n";
        for (const auto& mount : host.mounts) write_volume(out, mount);
    }
    if (auto shm = host_config.find("ShmSize"); shm != host_config.end())
        out += "    shm_size: " + std::to_string(shm->get<std::int64_t>()) + "\n";
    if (auto labels = body.find("Labels"); labels != body.end() && !labels->empty()) {
        out += "    labels:\n";
        for (const auto& [key, value] : labels->items())
            out += "      " + quote(key) + ": " + quote(value.get<std::string>()) + "\n";
    }
    if (auto hosts = host_config.find("ExtraHosts"); hosts != host_config.end() && !hosts->empty()) {
        out += "    extra_hosts:\n";
        for (const auto& entry : *hosts) out += "      - " + quote(entry.get<std::string>()) + "\n";
    }
    if (plan.own_network) {
        out += "    networks:\n";
        out += "      " + quote(plan.network_name) + ":\n";
        out += "        aliases: [" + quote(host.host) + "]\n";
        if (!host.address.empty()) out += "        ipv4_address: " + quote(host.address) + "\n";
    } else {
        out += "    network_mode: " + quote(plan.network_name) + "\n";
    }
    out += std::string("    init: ") + (host_config.value("Init", false) ? "true" : "false") + "\n";
    if (auto timeout = body.find("StopTimeout"); timeout != body.end())
        out += "    stop_grace_period: " + quote(std::to_string(timeout->get<int>()) + "s") + "\n";

    const bool limited = host_config.contains("NanoCpus") || host_config.contains("Memory");
    const bool gpus = host_config.contains("DeviceRequests") && !host_config["DeviceRequests"].empty();
    if (!limited && !gpus) return;
    out += "    deploy:\n";
    out += "      resources:\n";
    if (limited) {
        out += "        limits:\n";
        if (host_config.contains("NanoCpus"))
            out += "          cpus: " + quote(cpus_text(host_config["NanoCpus"].get<std::int64_t>())) + "\n";
        if (host_config.contains("Memory"))
            out += "          memory: " + quote(std::to_string(host_config["Memory"].get<std::int64_t>())) + "\n";
    }
    if (gpus) {
        out += "        reservations:\n";
        out += "          devices:\n";
        for (const auto& request : host_config["DeviceRequests"]) {
            out += "            - driver: " + quote(request.value("Driver", "nvidia")) + "\n";
            const int count = request.value("Count", -1);
            out += "              count: " + (count < 0 ? std::string("all") : std::to_string(count)) + "\n";
            json capabilities = json::array({"gpu"});
            if (auto c = request.find("Capabilities"); c != request.end() && !c->empty()) capabilities = c->front();
            out += "              capabilities: " + flow_list(capabilities) + "\n";
        }
    }
}

}  // namespace

std::string to_compose_yaml(const container_plan& plan) {
    std::string out;
    out += "# docker-compose file for the SageMaker training job " + comment_text(plan.job_name) +
           ", written by smlocal.\n";
    out += "# It reproduces the job's containers by hand:\n";
    out += "#   docker-compose -f <this file> up --abort-on-container-exit\n";
    out += "#   docker-compose -f <this file> down\n";
    out += "# Every bind source below must already exist, including the config files in each host's\n";
    out += "# input/config folder (hyperparameters.json, inputdataconfig.json, resourceconfig.json and,\n";
    out += "# with checkpoints, checkpointconfig.json): smlocal's runner writes them for every run, and\n";
    out += "# `smlocal compose <job>` writes them before printing this file. (With the short volume\n";
    out += "# syntax Docker would create a missing source as an empty folder owned by root.)\n";
    out += "# Not reproduced: input staging, feeding Pipe-mode FIFOs, uploading model.tar.gz and\n";
    out += "# output.tar.gz, metrics, MaxRuntimeInSeconds. The container names are smlocal's own:\n";
    out += "# remove smlocal's containers of this job before running this file.\n";
    if (plan.subnet) {
        out += "# Each host has a fixed address on the subnet smlocal's Docker engine picked for the job's\n";
        out += "# network, and every host is in every container's /etc/hosts. If another network holds\n";
        out += "# that subnet now (\"Pool overlaps\"), change the subnet and the addresses below.\n";
    }
    if (!plan.endpoint_url.empty()) {
        out += "# The containers reach smlocal's API (S3, SageMaker, CloudWatch Logs) at\n";
        out += "# " + comment_text(plan.endpoint_url) + " (AWS_ENDPOINT_URL, S3_ENDPOINT_URL): keep `smlocal serve`\n";
        out += "# running on the port it names.\n";
    }
    if (!plan.warnings.empty()) {
        out += "# Warnings from the plan:\n";
        for (const auto& warning : plan.warnings) out += "#   - " + comment_text(warning) + "\n";
    }
    out += "version: \"3.8\"\n";
    out += "services:\n";
    for (const auto& host : plan.hosts) write_service(out, plan, host);
    if (!plan.own_network) return out;
    out += "networks:\n";
    out += "  " + quote(plan.network_name) + ":\n";
    out += "    name: " + quote(plan.network_name) + "\n";
    out += "    driver: \"bridge\"\n";
    if (plan.internal_network) out += "    internal: true\n";
    if (plan.subnet) {
        out += "    ipam:\n";
        out += "      driver: \"default\"\n";
        out += "      config:\n";
        out += "        - subnet: " + quote(plan.subnet->subnet) + "\n";
        if (!plan.subnet->gateway.empty()) out += "          gateway: " + quote(plan.subnet->gateway) + "\n";
    }
    out += "    labels:\n";
    out += "      \"smlocal.job\": " + quote(plan.job_name) + "\n";
    out += "      \"smlocal.managed\": \"true\"\n";
    return out;
}

}  // namespace smlocal::compose
