#include "emulator/training_jobs.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <deque>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>

#include "emulator/arn.hpp"
#include "emulator/errors.hpp"
#include "emulator/log_text.hpp"
#include "emulator/metrics.hpp"
#include "emulator/simulator/simulator_runner.hpp"
#include "emulator/storage/archive.hpp"

namespace smlocal {

namespace fs = std::filesystem;
using json = nlohmann::json;

struct training_job_service::entry {
    training_job job;
    std::uint64_t version = 0;  // bumped by every change, under the registry lock
    std::mutex persist_mutex;   // orders writes to the store
    std::uint64_t persisted_version = 0;
    std::stop_source stop;      // StopTrainingJob, MaxRuntimeInSeconds, shutdown
    std::stop_source detach;    // shutdown: container runs are left going for reattach
    // The Describe body of record `version`: Describe is the hottest call, and SDK waiters poll it.
    std::mutex describe_mutex;
    std::uint64_t describe_version = 0;
    std::shared_ptr<const std::string> describe_body;
};

namespace {

constexpr std::size_t failure_reason_limit = 1024;

std::string truncate_reason(std::string reason) {
    if (reason.size() > failure_reason_limit) reason.resize(failure_reason_limit);
    return reason;
}

std::optional<std::string> read_failure_file(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return std::nullopt;
    std::string text(failure_reason_limit, '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<std::size_t>(in.gcount()));
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
    return text;
}

std::int64_t to_ms(double seconds) { return static_cast<std::int64_t>(seconds * 1000.0); }

// Collects one job's output: CloudWatch-style events in the store (one stream per host), a
// plain-text copy under logs/ for `tail -f`, and metric values through the job's definitions.
class job_log_observer final : public run_observer {
public:
    job_log_observer(store& db, clock& time, const training_job_spec& spec, fs::path log_dir,
                     std::function<void(const metric_point&)> on_metric)
        : store_(db), clock_(time), extractor_(spec.metric_definitions), job_name_(spec.name),
          log_dir_(std::move(log_dir)), on_metric_(std::move(on_metric)) {
        stream_suffix_ = std::to_string(static_cast<long long>(clock_.now()));
        fs::create_directories(log_dir_);
        // Lines a quiet container printed last must not wait for its next line to be visible.
        flusher_ = std::jthread([this](std::stop_token stop) {
            while (wall_clock().sleep_for(flush_interval, stop)) flush();
        });
    }

    ~job_log_observer() override {
        flusher_ = {};
        flush();
    }

    /// The last lines a host printed (escaped), oldest first.
    std::vector<std::string> last_lines(const std::string& host) {
        std::lock_guard lock(mutex_);
        auto it = streams_.find(host);
        return it == streams_.end() ? std::vector<std::string>{}
                                    : std::vector<std::string>(it->second.tail.begin(), it->second.tail.end());
    }

    void on_log(std::string_view host, std::string_view line) override {
        const double now = clock_.now();
        std::string message = escape_log_line(line);
        std::vector<metric_point> points = extractor_.extract(message, now);
        std::lock_guard lock(mutex_);
        host_stream& stream = stream_for(host);
        stream.text << message << '\n';
        stream.tail.push_back(message);
        if (stream.tail.size() > tail_lines) stream.tail.pop_front();
        stream.pending.push_back({to_ms(now), to_ms(now), std::move(message)});
        for (auto& p : points) {
            pending_metrics_.push_back(p);
            on_metric_(p);
        }
        // Write promptly so that log tails and Describe see progress, but batch bursts.
        if (now - last_flush_ >= flush_interval || stream.pending.size() >= 512) flush_locked(now);
    }

    void flush() {
        std::lock_guard lock(mutex_);
        flush_locked(clock_.now());
    }

private:
    static constexpr double flush_interval = 0.2;
    static constexpr std::size_t tail_lines = 5;

    struct host_stream {
        std::string name;
        std::vector<log_event> pending;
        std::deque<std::string> tail;
        std::ofstream text;
    };

    host_stream& stream_for(std::string_view host) {
        auto it = streams_.find(std::string(host));
        if (it != streams_.end()) return it->second;
        host_stream& stream = streams_[std::string(host)];
        const std::string suffix = std::string(host) + "-" + stream_suffix_;
        stream.name = job_name_ + "/" + suffix;
        stream.text.open(log_dir_ / (suffix + ".log"), std::ios::app);
        return stream;
    }

    void flush_locked(double now) {
        for (auto& [host, stream] : streams_) {
            if (stream.pending.empty()) continue;
            store_.append_log_events(stream.name, stream.pending);
            stream.pending.clear();
            stream.text.flush();
        }
        if (!pending_metrics_.empty()) {
            store_.append_metric_points(job_name_, pending_metrics_);
            pending_metrics_.clear();
        }
        last_flush_ = now;
    }

    store& store_;
    clock& clock_;
    metric_extractor extractor_;
    std::string job_name_;
    fs::path log_dir_;
    std::function<void(const metric_point&)> on_metric_;
    std::string stream_suffix_;
    std::mutex mutex_;
    std::map<std::string, host_stream> streams_;
    std::vector<metric_point> pending_metrics_;
    double last_flush_ = 0;
    std::jthread flusher_;  // last member: stopped first, before what it flushes goes away
};

}  // namespace

training_job_service::training_job_service(emulator_config config, store& db, const uri_mapper& storage, clock& time,
                                           runner_set runners)
    : config_(std::move(config)), store_(db), storage_(storage), clock_(time), runners_(runners) {}

training_job_service::~training_job_service() {
    shutting_down_ = true;
    std::vector<std::shared_ptr<entry>> jobs;
    {
        std::shared_lock lock(mutex_);
        jobs = in_creation_order_;
    }
    // Detach first, so that container runners leave their containers running rather than stop them.
    for (auto& job : jobs) job->detach.request_stop();
    for (auto& job : jobs) job->stop.request_stop();
    // Workers are detached (a finished one must not pin its stack); wait for the running ones.
    std::unique_lock lock(workers_mutex_);
    workers_done_.wait(lock, [&] { return active_workers_ == 0; });
}

std::string training_job_service::arn_for(const std::string& name) const {
    // SageMaker puts the lower-cased name in ARNs (spec/api.md, ARNs).
    return sagemaker_arn(config_.region, config_.account_id, "training-job", name);
}

void training_job_service::recover() {
    std::vector<std::shared_ptr<entry>> to_resume;
    for (auto& job : store_.load_training_jobs()) {
        auto e = std::make_shared<entry>();
        e->job = std::move(job);
        e->version = e->persisted_version = 1;
        std::unique_lock lock(mutex_);
        last_creation_time_ = std::max(last_creation_time_, e->job.creation_time);
        by_lower_arn_[lower_case(e->job.arn)] = e;
        by_name_[e->job.name] = e;
        in_creation_order_.push_back(e);
        if (!is_terminal(e->job.status)) to_resume.push_back(e);
    }
    for (auto& e : to_resume) {
        if (e->job.status == training_job_status::stopping) {
            finish(*e, training_job_status::stopped, "Stopped",
                   "Training job stopped (smlocal restarted while it was stopping)");
            continue;
        }
        const std::string image = e->job.request["AlgorithmSpecification"].value("TrainingImage", "");
        if (simulator::is_simulator_image(image) || config_.simulate_all) {
            // The simulator is deterministic: running it again from the start gives the same result.
            transition(*e, "Starting", "smlocal restarted; restarting the training job");
            start_worker(e);
        } else if (runners_.containers && e->job.training_start_time) {
            // Containers outlive the server: take them over where they are.
            start_worker(e, true);
        } else {
            finish(*e, training_job_status::failed, "Failed", "",
                   "InternalServerError: smlocal restarted while the job was running and could not re-attach to its "
                   "containers");
        }
    }
}

std::shared_ptr<training_job_service::entry> training_job_service::find(const std::string& name) const {
    std::shared_lock lock(mutex_);
    auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : it->second;
}

std::shared_ptr<training_job_service::entry> training_job_service::require(const std::string& name) const {
    auto job = find(name);
    // The real service answers ValidationException here, not ResourceNotFound (spec/api.md §2).
    if (!job) throw validation_error("Requested resource not found.");
    return job;
}

std::vector<resolved_channel> resolve_channels(const uri_mapper& storage, const training_job_spec& spec) {
    std::vector<resolved_channel> out;
    for (const auto& channel : spec.channels) {
        resolved_channel r;
        r.spec = channel;
        if (channel.is_file_system()) {
            r.source = storage.file_system_path(channel.file_system_type, channel.file_system_id, channel.directory_path);
            r.read_only = channel.file_system_access_mode != "rw";
        } else {
            r.source = storage.s3_path(channel.s3_uri);
        }
        out.push_back(std::move(r));
    }
    return out;
}

namespace {

bool folder_has_a_file(const fs::path& folder) {
    std::error_code error;
    for (auto it = fs::recursive_directory_iterator(folder, error); !error && it != fs::recursive_directory_iterator();
         it.increment(error))
        if (it->is_regular_file(error)) return true;
    return false;
}

}  // namespace

std::vector<resolved_channel> stage_channels(const uri_mapper& storage, const training_job_spec& spec,
                                             const std::vector<host_workspace>& hosts) {
    std::vector<resolved_channel> channels = resolve_channels(storage, spec);
    for (auto& channel : channels) {
        const channel_spec& c = channel.spec;
        if (c.is_file_system()) {
            if (!fs::is_directory(channel.source))
                throw input_data_error("Data download failed: no data found for channel '" + c.name + "' at " +
                                       c.file_system_type + " " + c.file_system_id + c.directory_path +
                                       " (local path " + channel.source.string() + ")");
            continue;
        }
        const bool sharded = c.s3_distribution_type == "ShardedByS3Key" && hosts.size() > 1;
        const bool pipe = c.input_mode == "Pipe";
        // The common case needs no staging at all: every host bind-mounts the prefix folder.
        if (!pipe && !sharded && c.s3_data_type == "S3Prefix" && prefix_is_folder(storage, c.s3_uri)) {
            if (!folder_has_a_file(channel.source))
                throw input_data_error("Data download failed: no data found for channel '" + c.name + "' at " +
                                       c.s3_uri + " (local path " + channel.source.string() + ")");
            continue;
        }
        std::vector<channel_object> objects;
        if (c.s3_data_type == "S3Prefix") {
            objects = list_s3_prefix(storage, c.s3_uri);
        } else if (c.s3_data_type == "ManifestFile") {
            try {
                objects = list_manifest(storage, c.s3_uri);
            } catch (const std::runtime_error& error) {
                throw input_data_error("Data download failed for channel '" + c.name + "': " + error.what());
            }
        } else {
            throw input_data_error("S3DataType " + c.s3_data_type + " is only supported in Pipe mode by smlocal (channel '" +
                                   c.name + "')");
        }
        if (objects.empty())
            throw input_data_error("Data download failed: no data found for channel '" + c.name + "' at " + c.s3_uri +
                                   " (local path " + channel.source.string() + ")");
        for (std::size_t i = 0; i < hosts.size(); ++i) {
            const host_workspace& host = hosts[i];
            std::vector<channel_object> share =
                sharded ? shard_for_host(objects, static_cast<int>(i) + 1, static_cast<int>(hosts.size())) : objects;
            if (pipe) {
                channel.host_objects[host.host] = std::move(share);
            } else {
                const fs::path folder = host.root / "staging" / c.name;
                stage_objects(share, folder);
                channel.host_sources[host.host] = folder;
            }
        }
        if (!channel.host_sources.empty()) channel.source = channel.host_sources.begin()->second;
    }
    return channels;
}

training_job_spec training_job_service::check(nlohmann::json& request) const {
    apply_create_defaults(request);
    training_job_spec spec = parse_training_job_spec(request);
    // Reject URIs that leave their roots now, while the client can still be told.
    resolve_channels(storage_, spec);
    storage_.s3_path(spec.s3_output_path);
    if (spec.checkpoint_s3_uri) storage_.s3_path(*spec.checkpoint_s3_uri);
    metric_extractor check_regexes(spec.metric_definitions);
    return spec;
}

std::string training_job_service::create(nlohmann::json request, std::optional<std::string> tuning_job_arn) {
    const training_job_spec spec = check(request);

    auto e = std::make_shared<entry>();
    training_job& job = e->job;
    job.name = spec.name;
    job.arn = arn_for(spec.name);
    job.tuning_job_arn = std::move(tuning_job_arn);
    request.erase("Tags");  // tags live with the tag service
    job.request = std::move(request);
    {
        std::unique_lock lock(mutex_);
        if (by_lower_arn_.contains(lower_case(job.arn)))
            throw service_error(error_code::resource_in_use,
                                "Training job names must be unique within an AWS account and region, and a training "
                                "job with this name already exists (" + job.arn + ")");
        // Creation times never go backwards, so the registry stays in creation order.
        job.creation_time = last_creation_time_ = std::max(last_creation_time_, clock_.now());
        job.last_modified_time = job.creation_time;
        job.transitions.push_back({"Starting", job.creation_time, std::nullopt, "Starting the training job"});
        e->version = 1;
        by_name_[job.name] = e;
        by_lower_arn_[lower_case(job.arn)] = e;
        in_creation_order_.push_back(e);
    }
    {
        std::lock_guard persist(e->persist_mutex);
        training_job copy;
        {
            std::shared_lock lock(mutex_);
            copy = e->job;
        }
        store_.put_training_job(copy);
        e->persisted_version = 1;
    }
    start_worker(e);
    std::shared_lock lock(mutex_);
    return e->job.arn;
}

void training_job_service::start_worker(const std::shared_ptr<entry>& job, bool reattach) {
    {
        std::lock_guard lock(workers_mutex_);
        ++active_workers_;
    }
    std::thread([this, job, reattach] {
        run_job(job, job->stop.get_token(), reattach);
        // Nothing of `this` is touched after the count drops: the destructor may then proceed.
        std::lock_guard lock(workers_mutex_);
        --active_workers_;
        workers_done_.notify_all();
    }).detach();
}

void training_job_service::mutate(entry& job, const std::function<void(training_job&)>& change) {
    training_job copy;
    std::uint64_t version;
    {
        std::unique_lock lock(mutex_);
        change(job.job);
        version = ++job.version;
        copy = job.job;
    }
    std::lock_guard persist(job.persist_mutex);
    if (version > job.persisted_version) {
        store_.put_training_job(copy);
        job.persisted_version = version;
    }
}

void training_job_service::transition(entry& job, const std::string& secondary, const std::string& message) {
    const double now = clock_.now();
    mutate(job, [&](training_job& j) {
        if (!j.transitions.empty() && !j.transitions.back().end_time && j.transitions.back().status != secondary)
            j.transitions.back().end_time = now;
        // A status may carry successive messages; AWS keeps one entry per status entered.
        if (!j.transitions.empty() && j.transitions.back().status == secondary && !j.transitions.back().end_time)
            j.transitions.back().message = message;
        else
            j.transitions.push_back({secondary, now, std::nullopt, message});
        j.secondary_status = secondary;
        j.last_modified_time = now;
    });
}

void training_job_service::finish(entry& job, training_job_status status, const std::string& secondary,
                                  const std::string& message, std::optional<std::string> failure_reason) {
    const double now = clock_.now();
    training_job final_copy;
    mutate(job, [&](training_job& j) {
        if (!j.transitions.empty() && !j.transitions.back().end_time) j.transitions.back().end_time = now;
        const std::string text = failure_reason ? *failure_reason : message;
        j.transitions.push_back({secondary, now, now, text});
        j.status = status;
        j.secondary_status = secondary;
        j.failure_reason = std::move(failure_reason);
        j.last_modified_time = now;
        j.training_end_time = now;
        if (!j.training_start_time) j.training_start_time = now;
        final_copy = j;
    });
    std::vector<job_finished_listener> listeners;
    {
        std::shared_lock lock(mutex_);
        listeners = listeners_;
    }
    for (auto& listener : listeners) listener(final_copy);
}

void training_job_service::run_job(const std::shared_ptr<entry>& e, std::stop_token stop, bool reattach) {
    entry& job = *e;
    training_job_spec spec;
    std::string arn;
    double runtime_left = 0;
    {
        std::shared_lock lock(mutex_);
        spec = parse_training_job_spec(job.job.request);
        arn = job.job.arn;
        runtime_left = spec.max_runtime_seconds;
        if (reattach && job.job.training_start_time)
            runtime_left = std::max(0.0, runtime_left - (clock_.now() - *job.job.training_start_time));
    }
    // MaxRuntimeInSeconds: a watchdog asks for a stop, as the platform would send SIGTERM.
    std::jthread watchdog([this, e, seconds = runtime_left](std::stop_token watchdog_stop) {
        if (clock_.sleep_for(seconds, watchdog_stop)) {
            bool stopping = false;
            mutate(*e, [&](training_job& j) {
                if (j.status != training_job_status::in_progress) return;
                j.stop_reason = "max_runtime";
                stopping = true;
            });
            if (stopping) e->stop.request_stop();
        }
    });

    auto stopped_outcome = [&] {
        std::shared_lock lock(mutex_);
        return job.job.stop_reason;
    };
    auto finish_stopped = [&] {
        if (stopped_outcome() == std::optional<std::string>("max_runtime"))
            finish(job, training_job_status::stopped, "MaxRuntimeExceeded",
                   "Training job exceeded MaxRuntimeInSeconds: " + std::to_string(static_cast<long long>(spec.max_runtime_seconds)) + " s");
        else
            finish(job, training_job_status::stopped, "Stopped", "Training job stopped");
    };

    try {
        // Host workspaces: <data-dir>/jobs/<job>/algo-N, fresh for every run (kept on reattach).
        const fs::path job_dir = config_.data_dir / "jobs" / spec.name;
        run_request request{&spec, spec.name, arn, config_.region, {}, {}, {}, e->detach.get_token()};
        for (int i = 1; i <= spec.instance_count; ++i)
            request.hosts.push_back({"algo-" + std::to_string(i), job_dir / ("algo-" + std::to_string(i))});

        const std::string& image = spec.training_image;
        runner* chosen = (simulator::is_simulator_image(image) || config_.simulate_all) ? runners_.simulator
                                                                                         : runners_.containers;
        if (!reattach) {
            transition(job, "Starting", "Preparing the instances for training");
            fs::remove_all(job_dir);
            for (const auto& host : request.hosts)
                for (const auto& dir : {host.config_dir(), host.data_dir(), host.model_dir(), host.output_data_dir(),
                                        host.checkpoint_dir()})
                    fs::create_directories(dir);

            transition(job, "Downloading", "Downloading input data");
            try {
                request.channels = stage_channels(storage_, spec, request.hosts);
            } catch (const input_data_error& error) {
                finish(job, training_job_status::failed, "Failed", "",
                       truncate_reason(std::string("ClientError: ") + error.what()));
                return;
            }
            if (spec.checkpoint_s3_uri) {
                // One checkpoint location shared by every host, as on SageMaker.
                request.checkpoint_source = storage_.s3_path(*spec.checkpoint_s3_uri);
                fs::create_directories(*request.checkpoint_source);
            }

            if (!chosen) {
                finish(job, training_job_status::failed, "Failed", "",
                       "ClientError: cannot run image '" + image +
                           "': this smlocal has no container runtime. Use a simulator/<objective> image, or start "
                           "smlocal with --simulate-all to simulate every image.");
                return;
            }
            if (stop.stop_requested()) {
                if (!shutting_down_) finish_stopped();
                return;
            }
            transition(job, "Downloading", "Downloading the training image");
            const double started = clock_.now();
            mutate(job, [&](training_job& j) { j.training_start_time = started; });
            transition(job, "Training", "Training image download completed. Training in progress.");
        }

        job_log_observer observer(store_, clock_, spec, config_.data_dir / "logs" / spec.name,
                                  [this, &job](const metric_point& point) {
                                      std::unique_lock lock(mutex_);
                                      update_final_metrics(job.job.final_metrics, point);
                                      ++job.version;  // Describe shows it; persisted at the next change
                                  });
        if (reattach)
            for (const auto& stream : store_.log_streams(spec.name + "/"))
                if (stream.last_event_ms)
                    request.output_stored_until =
                        std::max(request.output_stored_until, static_cast<double>(*stream.last_event_ms) / 1000.0);
        const run_result result =
            reattach ? chosen->reattach(request, observer, stop) : chosen->run(request, observer, stop);
        observer.flush();
        watchdog.request_stop();

        // On shutdown the outcome is not recorded: recover() resumes the job at the next start.
        if (shutting_down_) return;

        if (result.kind == run_result::outcome::not_started) {
            finish(job, training_job_status::failed, "Failed", "", truncate_reason(result.message));
            return;
        }

        const bool was_stopped = stop.stop_requested();
        const bool failed = !was_stopped && result.exit_code != 0;
        // A stopped job keeps its Stopping status while it uploads: AWS allows only the Stopping
        // secondary status under it.
        if (!failed && !was_stopped) transition(job, "Uploading", "Uploading generated training model");

        // Outputs: all hosts' model dirs merge into one model.tar.gz, as SageMaker does. Failed
        // jobs still upload what exists.
        std::vector<fs::path> model_dirs, output_dirs;
        for (const auto& host : request.hosts) {
            model_dirs.push_back(host.model_dir());
            output_dirs.push_back(host.output_data_dir());
        }
        write_tar_gz(storage_.s3_path(model_artifact_uri(spec.s3_output_path, spec.name)), model_dirs);
        write_tar_gz(storage_.s3_path(output_artifact_uri(spec.s3_output_path, spec.name)), output_dirs);

        if (was_stopped) {
            finish_stopped();
        } else if (failed) {
            const host_workspace* host = &request.hosts.front();
            for (const auto& h : request.hosts)
                if (h.host == result.failed_host) host = &h;
            const std::string code = ", exit code: " + std::to_string(result.exit_code);
            std::string text;
            if (auto failure = read_failure_file(host->failure_file())) {
                text = *failure;
            } else {
                // Without /opt/ml/output/failure, the last lines are the best clue there is.
                text = "no " + host->host + ":/opt/ml/output/failure; last log lines:";
                for (const auto& line : observer.last_lines(host->host)) text += " " + line + " |";
                if (text.back() == '|') text.resize(text.size() - 2);
            }
            // Keep the ", exit code: N" ending whole within the 1024 characters.
            const std::size_t room = failure_reason_limit - code.size() - std::string("AlgorithmError: ").size();
            if (text.size() > room) text.resize(room);
            finish(job, training_job_status::failed, "Failed", "", "AlgorithmError: " + text + code);
        } else {
            finish(job, training_job_status::completed, "Completed", "Training job completed");
        }
    } catch (const std::exception& error) {
        if (shutting_down_) return;
        // A platform-side failure is a job outcome, never a server crash.
        finish(job, training_job_status::failed, "Failed", "",
               truncate_reason(std::string("InternalServerError: ") + error.what()));
    }
}

nlohmann::json training_job_service::describe(const std::string& name) const {
    auto job = require(name);
    std::shared_lock lock(mutex_);
    return to_describe_json(job->job);
}

std::shared_ptr<const std::string> training_job_service::describe_body(const std::string& name) const {
    auto job = require(name);
    std::shared_lock lock(mutex_);
    // The record cannot change while the registry lock is shared, so `version` names this body.
    std::lock_guard cache(job->describe_mutex);
    if (!job->describe_body || job->describe_version != job->version) {
        job->describe_body = std::make_shared<const std::string>(
            to_describe_json(job->job).dump(-1, ' ', false, json::error_handler_t::replace));
        job->describe_version = job->version;
    }
    return job->describe_body;
}

training_job training_job_service::get(const std::string& name) const {
    auto job = require(name);
    std::shared_lock lock(mutex_);
    return job->job;
}

training_job_list training_job_service::list(const list_query& query) const {
    std::shared_lock lock(mutex_);
    std::vector<list_item> items;
    items.reserve(in_creation_order_.size());
    for (const auto& e : in_creation_order_)
        items.push_back({e->job.name, e->job.creation_time, e->job.last_modified_time, to_string(e->job.status), {}});
    list_page page = paginate(items, query);
    training_job_list out;
    out.summaries.reserve(page.indexes.size());
    for (std::size_t i : page.indexes) out.summaries.push_back(to_summary_json(in_creation_order_[i]->job));
    out.next_token = std::move(page.next_token);
    return out;
}

void training_job_service::stop(const std::string& name) {
    auto job = require(name);
    std::optional<training_job_status> refused;
    bool newly_stopping = false;
    const double now = clock_.now();
    mutate(*job, [&](training_job& j) {
        if (j.status == training_job_status::stopping) return;
        if (j.status != training_job_status::in_progress) {
            refused = j.status;
            return;
        }
        if (!j.transitions.empty() && !j.transitions.back().end_time) j.transitions.back().end_time = now;
        j.transitions.push_back({"Stopping", now, std::nullopt, "Stopping the training job"});
        j.status = training_job_status::stopping;
        j.secondary_status = "Stopping";
        j.last_modified_time = now;
        if (!j.stop_reason) j.stop_reason = "user";
        newly_stopping = true;
    });
    if (refused)
        throw validation_error("The request was rejected because the training job is in status " +
                               std::string(to_string(*refused)) + ".");
    if (newly_stopping) job->stop.request_stop();
}

bool training_job_service::has_arn(const std::string& arn) const {
    std::shared_lock lock(mutex_);
    return by_lower_arn_.contains(lower_case(arn));
}

std::vector<metric_point> training_job_service::metric_series(const std::string& name) const {
    require(name);
    return store_.metric_series(name);
}

void training_job_service::on_job_finished(job_finished_listener listener) {
    std::unique_lock lock(mutex_);
    listeners_.push_back(std::move(listener));
}

}  // namespace smlocal
