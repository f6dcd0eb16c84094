#include "emulator/tuning/tuning_jobs.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <set>
#include <thread>

#include "emulator/arn.hpp"
#include "emulator/errors.hpp"
#include "emulator/tuning/bayesian.hpp"
#include "emulator/tuning/early_stopping.hpp"
#include "emulator/tuning/parameter_space.hpp"

namespace smlocal::tuning {

using json = nlohmann::json;

/// One training job definition, in the form the tuner works with.
struct definition {
    std::string name;  // DefinitionName, empty for the single form
    json spec;         // the HyperParameterTrainingJobDefinition
    std::string metric;
    bool maximize = false;
    parameter_space space;
};

namespace {

constexpr std::array<std::pair<tuning_status, std::string_view>, 5> status_names{{
    {tuning_status::in_progress, "InProgress"},
    {tuning_status::completed, "Completed"},
    {tuning_status::failed, "Failed"},
    {tuning_status::stopping, "Stopping"},
    {tuning_status::stopped, "Stopped"},
}};

constexpr auto poll_interval = std::chrono::milliseconds(100);
constexpr std::size_t failure_threshold = 5;      // "No training job succeeded after 5 attempts"
constexpr double improvement_threshold = 0.01;    // 1% (spec/hpo.md §7)
constexpr int convergence_window = 10;

bool is_terminal(tuning_status s) {
    return s == tuning_status::completed || s == tuning_status::failed || s == tuning_status::stopped;
}

service_error not_found(const std::string& name) {
    return service_error(error_code::resource_not_found,
                         "Amazon SageMaker can't find a tuning job called " + name + ". Type another name.");
}

std::vector<definition> read_definitions(const json& request) {
    const json& config = request.at("HyperParameterTuningJobConfig");
    std::vector<definition> out;
    if (auto single = request.find("TrainingJobDefinition"); single != request.end()) {
        const json& objective = config.at("HyperParameterTuningJobObjective");
        out.push_back({"", *single, objective.at("MetricName").get<std::string>(),
                       objective.at("Type").get<std::string>() == "Maximize",
                       parameter_space::parse(config.value("ParameterRanges", json::object()))});
    } else {
        for (const auto& d : request.at("TrainingJobDefinitions")) {
            const json& objective = d.at("TuningObjective");
            out.push_back({d.value("DefinitionName", ""), d, objective.at("MetricName").get<std::string>(),
                           objective.at("Type").get<std::string>() == "Maximize",
                           parameter_space::parse(d.value("HyperParameterRanges", json::object()))});
        }
    }
    return out;
}

// The CreateTrainingJob request of a child (spec/hpo.md §5): the definition's members, the static
// hyperparameters (with _tuning_objective_metric) and the tuned ones.
json child_request(const definition& d, const std::string& name, const std::map<std::string, std::string>& tuned) {
    const json& spec = d.spec;
    json request{{"TrainingJobName", name}, {"RoleArn", spec.at("RoleArn")}};
    json algorithm = spec.at("AlgorithmSpecification");
    request["AlgorithmSpecification"] = algorithm;
    json hyperparameters = spec.value("StaticHyperParameters", json::object());
    for (const auto& [k, v] : tuned) hyperparameters[k] = v;
    request["HyperParameters"] = hyperparameters;
    for (const char* member : {"InputDataConfig", "OutputDataConfig", "StoppingCondition", "VpcConfig",
                               "EnableNetworkIsolation", "EnableInterContainerTrafficEncryption",
                               "EnableManagedSpotTraining", "CheckpointConfig", "RetryStrategy", "Environment"})
        if (auto it = spec.find(member); it != spec.end()) request[member] = *it;
    if (auto resources = spec.find("ResourceConfig"); resources != spec.end()) {
        request["ResourceConfig"] = *resources;
    } else if (auto tuning = spec.find("HyperParameterTuningResourceConfig"); tuning != spec.end()) {
        json resources_out = json::object();
        if (tuning->contains("InstanceConfigs") && !(*tuning)["InstanceConfigs"].empty()) {
            const json& first = (*tuning)["InstanceConfigs"][0];
            resources_out = {{"InstanceType", first.at("InstanceType")}, {"InstanceCount", first.at("InstanceCount")},
                             {"VolumeSizeInGB", first.at("VolumeSizeInGB")}};
        } else {
            for (const char* member : {"InstanceType", "InstanceCount", "VolumeSizeInGB"})
                if (tuning->contains(member)) resources_out[member] = (*tuning)[member];
        }
        request["ResourceConfig"] = resources_out;
    }
    return request;
}

std::optional<double> final_objective(const training_job& job, const std::string& metric) {
    for (const auto& m : job.final_metrics)
        if (m.name == metric) return m.value;
    return std::nullopt;
}

}  // namespace

std::string_view to_string(tuning_status status) {
    for (const auto& [value, name] : status_names)
        if (value == status) return name;
    return "InProgress";
}

json to_record_json(const tuning_job& job) {
    json children = json::array();
    for (const auto& c : job.children)
        children.push_back({{"name", c.name}, {"definition_name", c.definition_name}, {"definition", c.definition},
                            {"tuned", c.tuned}, {"point", c.point}});
    json record{{"name", job.name},
                {"arn", job.arn},
                {"request", job.request},
                {"status", std::string(to_string(job.status))},
                {"creation_time", job.creation_time},
                {"last_modified_time", job.last_modified_time},
                {"children", std::move(children)}};
    if (job.failure_reason) record["failure_reason"] = *job.failure_reason;
    if (job.end_time) record["end_time"] = *job.end_time;
    if (job.ending) record["ending"] = *job.ending;
    return record;
}

tuning_job tuning_job_from_record(const json& record) {
    tuning_job job;
    job.name = record.at("name").get<std::string>();
    job.arn = record.at("arn").get<std::string>();
    job.request = record.at("request");
    const std::string status = record.at("status").get<std::string>();
    for (const auto& [value, name] : status_names)
        if (name == status) job.status = value;
    job.creation_time = record.at("creation_time").get<double>();
    job.last_modified_time = record.at("last_modified_time").get<double>();
    for (const auto& c : record.at("children"))
        job.children.push_back({c.at("name").get<std::string>(), c.at("definition_name").get<std::string>(),
                                c.at("definition").get<std::size_t>(),
                                c.at("tuned").get<std::map<std::string, std::string>>(),
                                c.at("point").get<std::vector<double>>()});
    if (record.contains("failure_reason")) job.failure_reason = record["failure_reason"].get<std::string>();
    if (record.contains("end_time")) job.end_time = record["end_time"].get<double>();
    if (record.contains("ending")) job.ending = record["ending"].get<std::string>();
    return job;
}

struct tuning_job_service::entry {
    tuning_job job;
    std::vector<definition> definitions;
    std::vector<std::unique_ptr<strategy>> strategies;   // one per definition
    std::unique_ptr<early_stopper> stopper;              // Hyperband or Auto, else null
    std::vector<std::vector<trial>> prior;               // warm-start observations per definition
    random_engine random;
    std::string strategy_name;
    int job_not_improving = 0;  // for TuningJobCompletionDetails
    std::map<std::string, std::vector<double>> finished_curves;  // tuner thread only
};

tuning_job_service::tuning_job_service(emulator_config config, store& db, training_job_service& training_jobs,
                                       tag_service& tags, clock& time)
    : config_(std::move(config)), store_(db), training_jobs_(training_jobs), tags_(tags), clock_(time) {
    training_jobs_.on_job_finished([this](const training_job& job) {
        if (!job.tuning_job_arn) return;
        std::lock_guard lock(wake_mutex_);
        ++wake_generation_;
        wake_.notify_all();
    });
}

tuning_job_service::~tuning_job_service() {
    std::unique_lock lock(wake_mutex_);
    shutting_down_ = true;
    wake_.notify_all();
    wake_.wait(lock, [&] { return active_tuners_ == 0; });
}

namespace {

// Strategy, stopper and warm-start priors of a tuning job, rebuilt from its request (at create
// and after a restart). Throws service_error for rules the model cannot express.
void configure(tuning_job_service::entry& e, const std::vector<definition>& definitions, const json& config,
               const std::function<std::vector<trial>(const definition&, std::size_t)>& priors) {
    e.definitions = definitions;
    e.strategy_name = config.at("Strategy").get<std::string>();
    for (std::size_t i = 0; i < definitions.size(); ++i) {
        const definition& d = definitions[i];
        if (e.strategy_name == "Grid")
            e.strategies.push_back(std::make_unique<grid_strategy>(d.space.dimensions()));
        else if (e.strategy_name == "Bayesian")
            e.strategies.push_back(std::make_unique<bayesian_strategy>(d.space.dimensions()));
        else
            e.strategies.push_back(std::make_unique<random_strategy>(d.space.dimensions().size()));
        e.prior.push_back(priors(d, i));
    }
    if (e.strategy_name == "Hyperband") {
        const json& hyperband = config.value("StrategyConfig", json::object()).value("HyperbandStrategyConfig", json::object());
        std::optional<int> max_resource;
        if (hyperband.contains("MaxResource")) max_resource = hyperband["MaxResource"].get<int>();
        if (!max_resource)
            max_resource = infer_max_resource(
                definitions.front().spec.value("StaticHyperParameters", json::object()).get<std::map<std::string, std::string>>());
        if (!max_resource)
            throw validation_error("Hyperband needs HyperbandStrategyConfig.MaxResource, or a static hyperparameter "
                                   "epochs, numepochs, n-epochs, n_epochs or num_epochs to infer it from.");
        const int min_resource = hyperband.value("MinResource", 1);
        if (min_resource > *max_resource)
            throw validation_error("HyperbandStrategyConfig.MinResource must not exceed MaxResource.");
        e.stopper = std::make_unique<hyperband_stopper>(hyperband_options{min_resource, *max_resource});
    } else if (config.value("TrainingJobEarlyStoppingType", "Off") == "Auto") {
        const auto statics =
            definitions.front().spec.value("StaticHyperParameters", json::object()).get<std::map<std::string, std::string>>();
        e.stopper = std::make_unique<median_stopper>(median_options{.expected_epochs = infer_max_resource(statics).value_or(0)});
    }
}

}  // namespace

std::string tuning_job_service::create(json request) {
    const std::string name = request.at("HyperParameterTuningJobName").get<std::string>();
    json& config = request.at("HyperParameterTuningJobConfig");
    const bool single = request.contains("TrainingJobDefinition");
    if (single == request.contains("TrainingJobDefinitions"))
        throw validation_error("Exactly one of TrainingJobDefinition and TrainingJobDefinitions must be given.");
    if (single && !config.contains("HyperParameterTuningJobObjective"))
        throw validation_error("HyperParameterTuningJobObjective is required with a single TrainingJobDefinition.");
    if (request.contains("Autotune")) throw validation_error("Autotune is not supported by smlocal.");
    const std::string strategy_name = config.at("Strategy").get<std::string>();
    if (strategy_name == "Hyperband" && config.value("TrainingJobEarlyStoppingType", "Off") != "Off")
        throw validation_error("TrainingJobEarlyStoppingType must be Off with the Hyperband strategy.");
    if (config.contains("StrategyConfig") && strategy_name != "Hyperband")
        throw validation_error("StrategyConfig is only valid with the Hyperband strategy.");

    std::vector<definition> definitions = read_definitions(request);
    json& limits = config.at("ResourceLimits");
    for (auto& d : definitions) {
        // The objective must be something the children report (spec/hpo.md §2).
        bool defined = false;
        for (const auto& m : d.spec.at("AlgorithmSpecification").value("MetricDefinitions", json::array()))
            defined = defined || m.value("Name", "") == d.metric;
        if (!defined)
            throw validation_error("A metric is required for this hyperparameter tuning job objective. Provide a "
                                   "metric in the metric definitions.");
        auto statics = d.spec.value("StaticHyperParameters", json::object());
        for (const auto& r : d.space.ranges())
            if (statics.contains(r.name))
                throw validation_error("Hyperparameter '" + r.name + "' is both static and tuned.");
        if (strategy_name == "Grid") {
            if (!d.space.all_categorical() || d.space.empty())
                throw validation_error("The Grid strategy needs categorical parameter ranges only.");
            if (limits.contains("MaxNumberOfTrainingJobs") &&
                limits["MaxNumberOfTrainingJobs"].get<std::size_t>() != d.space.grid_size())
                throw validation_error("With the Grid strategy, MaxNumberOfTrainingJobs must equal the number of "
                                       "combinations (" + std::to_string(d.space.grid_size()) + ") or be omitted.");
        }
    }
    if (!limits.contains("MaxNumberOfTrainingJobs")) {
        if (strategy_name != "Grid")
            throw validation_error("ResourceLimits.MaxNumberOfTrainingJobs is required for the " + strategy_name +
                                   " strategy.");
        std::size_t total = 0;
        for (const auto& d : definitions) total += d.space.grid_size();
        limits["MaxNumberOfTrainingJobs"] = total;
    }

    // The service adds the objective to the static hyperparameters; Describe shows it too.
    auto add_objective = [](json& definition_json, const std::string& metric) {
        definition_json["StaticHyperParameters"]["_tuning_objective_metric"] = metric;
    };
    if (single)
        add_objective(request["TrainingJobDefinition"], definitions[0].metric);
    else
        for (std::size_t i = 0; i < definitions.size(); ++i)
            add_objective(request["TrainingJobDefinitions"][i], definitions[i].metric);
    definitions = read_definitions(request);

    // Children must be creatable: check one now (centre of every range) rather than fail later.
    for (const auto& d : definitions) {
        json sample = child_request(d, name + "-001-00000000",
                                    d.space.render(std::vector<double>(d.space.dimensions().size(), 0.5)));
        training_jobs_.check(sample);
    }

    auto e = std::make_shared<entry>();
    const std::uint64_t seed = config.contains("RandomSeed") ? config["RandomSeed"].get<std::uint64_t>()
                                                               : std::random_device{}();
    e->random.seed(seed);
    configure(*e, definitions, config, [&](const definition& d, std::size_t) { return warm_start_priors(request, d); });
    std::vector<tag> initial_tags;
    for (const auto& t : request.value("Tags", json::array()))
        initial_tags.push_back({t.at("Key").get<std::string>(), t.value("Value", "")});
    request.erase("Tags");

    tuning_job& job = e->job;
    job.name = name;
    job.arn = sagemaker_arn(config_.region, config_.account_id, "hyper-parameter-tuning-job", name);
    job.request = request;
    {
        std::unique_lock lock(mutex_);
        if (by_lower_arn_.contains(lower_case(job.arn)))
            throw service_error(error_code::resource_in_use, "A hyperparameter tuning job with the name, " + name +
                                                                 ", already exists. Choose a different name.");
        job.creation_time = last_creation_time_ = std::max(last_creation_time_, clock_.now());
        job.last_modified_time = job.creation_time;
        by_name_[name] = e;
        by_lower_arn_[lower_case(job.arn)] = e;
        in_creation_order_.push_back(e);
    }
    persist(*e);
    // Tags first: the tuner copies them onto every child it launches.
    tags_.add_at_create(job.arn, initial_tags);
    start_tuner(e);
    return job.arn;
}


std::vector<trial> tuning_job_service::warm_start_priors(const json& request, const definition& d) const {
    std::vector<trial> out;
    auto warm = request.find("WarmStartConfig");
    if (warm == request.end()) return out;
    for (const auto& parent_ref : warm->at("ParentHyperParameterTuningJobs")) {
        const std::string parent_name = parent_ref.at("HyperParameterTuningJobName").get<std::string>();
        std::shared_ptr<entry> parent;
        {
            std::shared_lock lock(mutex_);
            auto it = by_name_.find(parent_name);
            if (it != by_name_.end()) parent = it->second;
        }
        if (!parent) throw not_found(parent_name);
        std::vector<tuning_child> children;
        {
            std::shared_lock lock(mutex_);
            if (!is_terminal(parent->job.status))
                throw validation_error("Warm start parent tuning job " + parent_name + " is still " +
                                       std::string(to_string(parent->job.status)) + "; parents must have ended.");
            children = parent->job.children;
        }
        // Parents' results seed the model: the strategy sees them as finished trials.
        for (const auto& child : children) {
            auto point = d.space.to_unit(child.tuned);
            if (!point) continue;
            training_job state;
            try {
                state = training_jobs_.get(child.name);
            } catch (const service_error&) {
                continue;
            }
            auto value = final_objective(state, d.metric);
            if (!value) continue;
            out.push_back({*point, d.maximize ? -*value : *value, false, {}});
        }
    }
    return out;
}

void tuning_job_service::recover() {
    for (const auto& record : store_.load_tuning_jobs()) {
        auto e = std::make_shared<entry>();
        e->job = tuning_job_from_record(record);
        const json& config = e->job.request.at("HyperParameterTuningJobConfig");
        const std::uint64_t seed = config.value("RandomSeed", std::uint64_t{0}) + e->job.children.size();
        e->random.seed(seed);
        try {
            configure(*e, read_definitions(e->job.request), config,
                      [&](const definition& d, std::size_t) { return warm_start_priors(e->job.request, d); });
        } catch (const std::exception& error) {
            e->job.status = tuning_status::failed;
            e->job.failure_reason = std::string("InternalServerError: cannot resume after a restart: ") + error.what();
        }
        {
            std::unique_lock lock(mutex_);
            last_creation_time_ = std::max(last_creation_time_, e->job.creation_time);
            by_name_[e->job.name] = e;
            by_lower_arn_[lower_case(e->job.arn)] = e;
            in_creation_order_.push_back(e);
        }
        if (!is_terminal(e->job.status)) start_tuner(e);
    }
}

std::shared_ptr<tuning_job_service::entry> tuning_job_service::require(const std::string& name) const {
    std::shared_lock lock(mutex_);
    auto it = by_name_.find(name);
    if (it == by_name_.end()) throw not_found(name);
    return it->second;
}

bool tuning_job_service::has_arn(const std::string& arn) const {
    std::shared_lock lock(mutex_);
    return by_lower_arn_.contains(lower_case(arn));
}

void tuning_job_service::persist(entry& e) {
    json record;
    double created = 0;
    {
        std::shared_lock lock(mutex_);
        record = to_record_json(e.job);
        created = e.job.creation_time;
    }
    store_.put_tuning_job(e.job.name, created, record);
}

void tuning_job_service::start_tuner(const std::shared_ptr<entry>& job) {
    {
        std::lock_guard lock(wake_mutex_);
        ++active_tuners_;
    }
    std::thread([this, job] {
        run_tuner(job);
        std::lock_guard lock(wake_mutex_);
        --active_tuners_;
        wake_.notify_all();
    }).detach();
}

void tuning_job_service::run_tuner(const std::shared_ptr<entry>& job) {
    for (;;) {
        std::uint64_t seen = 0;  // wake-ups from here on are not missed while tune_once runs
        {
            std::lock_guard lock(wake_mutex_);
            seen = wake_generation_;
        }
        bool more = true;
        try {
            more = tune_once(*job);
        } catch (const std::exception& error) {
            // A tuner bug must not take the server down: the tuning job fails and says why.
            {
                std::unique_lock lock(mutex_);
                job->job.status = tuning_status::failed;
                job->job.failure_reason = std::string("InternalServerError: ") + error.what();
                job->job.end_time = job->job.last_modified_time = clock_.now();
            }
            persist(*job);
            more = false;
        }
        if (!more) return;
        std::unique_lock lock(wake_mutex_);
        // A finished child or a Stop wakes the tuner at once; otherwise it polls (early stopping
        // needs fresh per-epoch values).
        wake_.wait_for(lock, poll_interval, [&] { return shutting_down_ || wake_generation_ != seen; });
        if (shutting_down_) return;
    }
}

bool tuning_job_service::tune_once(entry& e) {
    // Snapshot the record, then read every child's state outside the registry lock.
    tuning_job job;
    {
        std::shared_lock lock(mutex_);
        job = e.job;
    }
    if (is_terminal(job.status)) return false;
    const json& config = job.request.at("HyperParameterTuningJobConfig");
    const json& limits = config.at("ResourceLimits");
    const std::size_t max_jobs = limits.at("MaxNumberOfTrainingJobs").get<std::size_t>();
    const std::size_t max_parallel = limits.at("MaxParallelTrainingJobs").get<std::size_t>();
    const double now = clock_.now();

    std::vector<std::optional<training_job>> states;
    std::size_t running = 0, finished = 0, succeeded = 0;
    for (const auto& child : job.children) {
        std::optional<training_job> state;
        try {
            state = training_jobs_.get(child.name);
        } catch (const service_error&) {
            // Recorded but never created (the server died in between): launch it now.
            launch_child(e, child, job.arn);
            state = training_jobs_.get(child.name);
        }
        if (state && !smlocal::is_terminal(state->status)) ++running;
        if (state && smlocal::is_terminal(state->status)) {
            ++finished;
            if (final_objective(*state, e.definitions[child.definition].metric)) ++succeeded;
        }
        states.push_back(std::move(state));
    }

    // Trials per definition, for the strategies and the early stopper.
    std::vector<std::vector<trial>> trials = e.prior;
    std::vector<std::vector<std::size_t>> trial_child(e.definitions.size());
    for (std::size_t i = 0; i < job.children.size(); ++i) {
        const tuning_child& child = job.children[i];
        const definition& d = e.definitions[child.definition];
        trial t{child.point, std::nullopt, !states[i] || !smlocal::is_terminal(states[i]->status), {}};
        if (states[i])
            if (auto value = final_objective(*states[i], d.metric)) t.objective = d.maximize ? -*value : *value;
        if (e.stopper) {
            // Every child's curve counts as a peer; a finished child's no longer changes.
            auto cached = e.finished_curves.find(child.name);
            if (cached != e.finished_curves.end()) {
                t.intermediate = cached->second;
            } else {
                for (const auto& p : training_jobs_.metric_series(child.name))
                    if (p.name == d.metric) t.intermediate.push_back(d.maximize ? -p.value : p.value);
                if (!t.running) e.finished_curves[child.name] = t.intermediate;
            }
        }
        trials[child.definition].push_back(std::move(t));
        trial_child[child.definition].push_back(i);
    }

    // Early stopping (Hyperband's rungs or the median rule) goes through the normal stop path.
    if (e.stopper && !job.ending)
        for (std::size_t d = 0; d < trials.size(); ++d)
            for (std::size_t k = e.prior[d].size(); k < trials[d].size(); ++k)
                if (trials[d][k].running && e.stopper->should_stop(trials[d][k], trials[d])) try {
                        training_jobs_.stop(job.children[trial_child[d][k - e.prior[d].size()]].name);
                    } catch (const service_error&) {
                        // It ended meanwhile.
                    }

    // Completion criteria (spec/hpo.md §7), decided once; running children are then stopped.
    std::optional<std::string> ending = job.ending;
    std::optional<std::string> failure;
    int not_improving = 0;
    {
        // Finished jobs in the order they ended, for the not-improving rule.
        std::vector<std::pair<double, double>> ended;  // (end time, objective, smaller is better)
        for (std::size_t i = 0; i < job.children.size(); ++i) {
            const auto& state = states[i];
            if (!state || !smlocal::is_terminal(state->status)) continue;
            const definition& d = e.definitions[job.children[i].definition];
            if (auto value = final_objective(*state, d.metric))
                ended.push_back({state->training_end_time.value_or(now), d.maximize ? -*value : *value});
        }
        std::sort(ended.begin(), ended.end());
        std::optional<double> best;
        for (const auto& [when, value] : ended) {
            if (!best || value < *best - improvement_threshold * std::abs(*best)) {
                best = value;
                not_improving = 0;
            } else {
                ++not_improving;
            }
        }
    }
    if (!ending) {
        const json criteria = config.value("TuningJobCompletionCriteria", json::object());
        const auto& d0 = e.definitions.front();
        if (finished >= std::min(failure_threshold, max_jobs) && succeeded == 0 && finished == job.children.size()) {
            ending = "failed";
        } else if (criteria.contains("TargetObjectiveMetricValue")) {
            const double target = criteria["TargetObjectiveMetricValue"].get<double>();
            for (std::size_t i = 0; i < job.children.size(); ++i)
                if (states[i])
                    if (auto value = final_objective(*states[i], d0.metric))
                        if (d0.maximize ? *value >= target : *value <= target) ending = "target";
        }
        if (!ending) {
            int window = 0;
            if (criteria.contains("BestObjectiveNotImproving"))
                window = criteria["BestObjectiveNotImproving"].value("MaxNumberOfTrainingJobsNotImproving", 0);
            if (criteria.value("ConvergenceDetected", json::object()).value("CompleteOnConvergence", "") == "Enabled")
                window = window ? std::min(window, convergence_window) : convergence_window;
            if (window > 0 && not_improving >= window) ending = "not_improving";
        }
        if (!ending && limits.contains("MaxRuntimeInSeconds") &&
            now - job.creation_time >= limits["MaxRuntimeInSeconds"].get<double>())
            ending = "max_runtime";
    }

    if (ending) {
        for (std::size_t i = 0; i < job.children.size(); ++i)
            if (states[i] && states[i]->status == training_job_status::in_progress) try {
                    training_jobs_.stop(job.children[i].name);
                } catch (const service_error&) {
                }
    }

    // Launch children up to the parallel limit (none once the tuning job is ending).
    std::size_t launched = 0;
    if (!ending) {
        std::size_t slots = running < max_parallel ? max_parallel - running : 0;
        std::size_t total = job.children.size();
        bool exhausted = false;
        while (slots > 0 && total < max_jobs && !exhausted) {
            const std::size_t d = total % e.definitions.size();  // definitions take turns
            auto point = e.strategies[d]->propose(trials[d], e.random);
            if (!point) {
                exhausted = true;
                break;
            }
            char suffix[16];
            std::snprintf(suffix, sizeof suffix, "%08llx", static_cast<unsigned long long>(e.random() & 0xFFFFFFFFULL));
            char index[16];
            std::snprintf(index, sizeof index, "%03zu", total + 1);
            tuning_child child{job.name + "-" + index + "-" + suffix, e.definitions[d].name, d,
                               e.definitions[d].space.render(*point), *point};
            // The record names the child before it exists, so a crash in between cannot leave a
            // training job the tuning job does not know (recovery launches it instead).
            {
                std::unique_lock lock(mutex_);
                e.job.children.push_back(child);
            }
            persist(e);
            launch_child(e, child, job.arn);
            trials[d].push_back({*point, std::nullopt, true, {}});
            ++launched;
            ++total;
            --slots;
        }
        if (exhausted && running == 0 && launched == 0) ending = "done";
    }
    const bool all_launched = job.children.size() + launched >= max_jobs;
    const bool idle = running == 0 && launched == 0;

    // Decide the status, then record what changed.
    std::optional<tuning_status> final_status;
    std::optional<std::string> failure_reason;
    if (idle && (ending || all_launched)) {
        const std::string why = ending.value_or("done");
        if (why == "stop")
            final_status = tuning_status::stopped;
        else if (why == "failed" || succeeded == 0) {
            final_status = tuning_status::failed;
            failure_reason = "No training job succeeded after " + std::to_string(finished) +
                             " attempts. Please take a look at the training job failures to get more details.";
        } else
            final_status = tuning_status::completed;
    }
    {
        std::unique_lock lock(mutex_);
        if (ending && !e.job.ending) e.job.ending = ending;
        if (final_status) {
            e.job.status = *final_status;
            e.job.failure_reason = failure_reason;
            e.job.end_time = now;
        }
        e.job.last_modified_time = now;
        e.job_not_improving = not_improving;
    }
    if (final_status || ending != job.ending) persist(e);
    return !final_status;
}

void tuning_job_service::launch_child(entry& e, const tuning_child& child, const std::string& tuning_arn) {
    const std::string arn =
        training_jobs_.create(child_request(e.definitions[child.definition], child.name, child.tuned), tuning_arn);
    tags_.add_at_create(arn, tags_.of(tuning_arn));  // children carry the tuning job's tags
}

nlohmann::json tuning_job_service::child_summary(const tuning_job& job, const tuning_child& child,
                                                 const std::optional<training_job>& state) const {
    json out{{"TrainingJobName", child.name},
             {"TrainingJobArn", state ? state->arn : std::string()},
             {"TuningJobName", job.name},
             {"TunedHyperParameters", child.tuned}};
    if (!child.definition_name.empty()) out["TrainingJobDefinitionName"] = child.definition_name;
    if (!state) {
        out["CreationTime"] = job.creation_time;
        out["TrainingJobStatus"] = "InProgress";
        out["ObjectiveStatus"] = "Pending";
        return out;
    }
    out["CreationTime"] = state->creation_time;
    if (state->training_start_time) out["TrainingStartTime"] = *state->training_start_time;
    if (state->training_end_time) out["TrainingEndTime"] = *state->training_end_time;
    out["TrainingJobStatus"] = std::string(smlocal::to_string(state->status));
    if (state->failure_reason) out["FailureReason"] = *state->failure_reason;
    const json& objective = job.request.contains("TrainingJobDefinition")
                                ? job.request["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]
                                : job.request["TrainingJobDefinitions"][child.definition]["TuningObjective"];
    const std::string metric = objective.at("MetricName").get<std::string>();
    const auto value = final_objective(*state, metric);
    if (value)
        out["FinalHyperParameterTuningJobObjectiveMetric"] = {
            {"Type", objective.at("Type")}, {"MetricName", metric}, {"Value", *value}};
    out["ObjectiveStatus"] = !smlocal::is_terminal(state->status) ? "Pending" : value ? "Succeeded" : "Failed";
    return out;
}

namespace {

// Better objective first: the comparison of FinalHyperParameterTuningJobObjectiveMetric values.
bool better(const json& a, const json& b) {
    const json& ma = a["FinalHyperParameterTuningJobObjectiveMetric"];
    const json& mb = b["FinalHyperParameterTuningJobObjectiveMetric"];
    const bool maximize = ma.value("Type", "Minimize") == "Maximize";
    return maximize ? ma["Value"].get<double>() > mb["Value"].get<double>()
                    : ma["Value"].get<double>() < mb["Value"].get<double>();
}

std::optional<json> best_of(const std::vector<json>& summaries) {
    std::optional<json> best;
    for (const auto& s : summaries)
        if (s.value("ObjectiveStatus", "") == "Succeeded" && s.contains("FinalHyperParameterTuningJobObjectiveMetric"))
            if (!best || better(s, *best)) best = s;
    return best;
}

}  // namespace

json tuning_job_service::describe(const std::string& name) const {
    auto e = require(name);
    tuning_job job;
    int not_improving = 0;
    {
        std::shared_lock lock(mutex_);
        job = e->job;
        not_improving = e->job_not_improving;
    }
    std::vector<json> summaries;
    json counters{{"Completed", 0}, {"InProgress", 0}, {"RetryableError", 0}, {"NonRetryableError", 0}, {"Stopped", 0}};
    json objectives{{"Succeeded", 0}, {"Pending", 0}, {"Failed", 0}};
    for (const auto& child : job.children) {
        std::optional<training_job> state;
        try {
            state = training_jobs_.get(child.name);
        } catch (const service_error&) {
        }
        json summary = child_summary(job, child, state);
        const std::string status = summary["TrainingJobStatus"];
        if (status == "InProgress" || status == "Stopping")
            counters["InProgress"] = counters["InProgress"].get<int>() + 1;
        else if (status == "Completed")
            counters["Completed"] = counters["Completed"].get<int>() + 1;
        else if (status == "Stopped")
            counters["Stopped"] = counters["Stopped"].get<int>() + 1;
        else if (status == "Failed") {
            // Platform-side failures may be retried; the job's own (client, algorithm) may not.
            const bool retryable = state && state->failure_reason &&
                                   state->failure_reason->rfind("InternalServerError", 0) == 0;
            const char* key = retryable ? "RetryableError" : "NonRetryableError";
            counters[key] = counters[key].get<int>() + 1;
        }
        const std::string objective_status = summary["ObjectiveStatus"];
        objectives[objective_status] = objectives[objective_status].get<int>() + 1;
        summaries.push_back(std::move(summary));
    }

    json out = job.request;
    out.erase("Tags");
    out["HyperParameterTuningJobArn"] = job.arn;
    out["HyperParameterTuningJobStatus"] = std::string(to_string(job.status));
    out["CreationTime"] = job.creation_time;
    out["LastModifiedTime"] = job.last_modified_time;
    if (job.end_time) out["HyperParameterTuningEndTime"] = *job.end_time;
    if (job.failure_reason) out["FailureReason"] = *job.failure_reason;
    out["TrainingJobStatusCounters"] = counters;
    out["ObjectiveStatusCounters"] = objectives;
    if (auto best = best_of(summaries)) out["BestTrainingJob"] = *best;
    // Warm start from identical data and algorithm: the best across this job and its parents.
    if (auto warm = job.request.find("WarmStartConfig");
        warm != job.request.end() && warm->value("WarmStartType", "") == "IdenticalDataAndAlgorithm") {
        std::vector<json> all = summaries;
        for (const auto& parent_ref : warm->at("ParentHyperParameterTuningJobs")) {
            try {
                const json parent = describe(parent_ref.at("HyperParameterTuningJobName").get<std::string>());
                if (parent.contains("BestTrainingJob")) all.push_back(parent["BestTrainingJob"]);
            } catch (const service_error&) {
            }
        }
        if (auto best = best_of(all)) out["OverallBestTrainingJob"] = *best;
    }
    out["TuningJobCompletionDetails"] = {{"NumberOfTrainingJobsObjectiveNotImproving", not_improving}};
    out["ConsumedResources"] = {
        {"RuntimeInSeconds", static_cast<long long>(job.end_time.value_or(clock_.now()) - job.creation_time)}};
    return out;
}

tuning_job_list tuning_job_service::list(const list_query& query) const {
    std::vector<std::shared_ptr<entry>> entries;
    {
        std::shared_lock lock(mutex_);
        entries = in_creation_order_;
    }
    std::vector<tuning_job> jobs;
    {
        std::shared_lock lock(mutex_);
        for (const auto& e : entries) jobs.push_back(e->job);
    }
    std::vector<std::string> statuses;
    for (const auto& j : jobs) statuses.emplace_back(to_string(j.status));
    std::vector<list_item> items;
    for (std::size_t i = 0; i < jobs.size(); ++i)
        items.push_back({jobs[i].name, jobs[i].creation_time, jobs[i].last_modified_time, statuses[i], std::nullopt});
    // Tuning lists apply StatusEquals before paging (only ListTrainingJobs has the AWS quirk).
    list_query filtered = query;
    if (query.status_equals) {
        std::vector<list_item> kept;
        std::vector<tuning_job> kept_jobs;
        for (std::size_t i = 0; i < items.size(); ++i)
            if (items[i].status == *query.status_equals) {
                kept.push_back(items[i]);
                kept_jobs.push_back(jobs[i]);
            }
        items = std::move(kept);
        jobs = std::move(kept_jobs);
        filtered.status_equals.reset();
    }
    list_page page = paginate(items, filtered);
    tuning_job_list out;
    for (std::size_t i : page.indexes) {
        const json full = describe(jobs[i].name);
        json summary{{"HyperParameterTuningJobName", jobs[i].name},
                     {"HyperParameterTuningJobArn", jobs[i].arn},
                     {"HyperParameterTuningJobStatus", full["HyperParameterTuningJobStatus"]},
                     {"Strategy", full["HyperParameterTuningJobConfig"]["Strategy"]},
                     {"CreationTime", jobs[i].creation_time},
                     {"LastModifiedTime", jobs[i].last_modified_time},
                     {"TrainingJobStatusCounters", full["TrainingJobStatusCounters"]},
                     {"ObjectiveStatusCounters", full["ObjectiveStatusCounters"]},
                     {"ResourceLimits", full["HyperParameterTuningJobConfig"]["ResourceLimits"]}};
        if (full.contains("HyperParameterTuningEndTime"))
            summary["HyperParameterTuningEndTime"] = full["HyperParameterTuningEndTime"];
        out.summaries.push_back(std::move(summary));
    }
    out.next_token = page.next_token;
    return out;
}

void tuning_job_service::stop(const std::string& name) {
    auto e = require(name);
    {
        std::unique_lock lock(mutex_);
        if (is_terminal(e->job.status))
            throw validation_error("The request was rejected because the hyperparameter tuning job is in status " +
                                   std::string(to_string(e->job.status)) + ".");
        if (e->job.status == tuning_status::stopping) return;
        e->job.status = tuning_status::stopping;
        e->job.ending = "stop";
        e->job.last_modified_time = clock_.now();
    }
    persist(*e);
    std::lock_guard lock(wake_mutex_);
    ++wake_generation_;
    wake_.notify_all();
}

tuning_job_list tuning_job_service::list_training_jobs(const std::string& name, const list_query& query) const {
    auto e = require(name);
    tuning_job job;
    {
        std::shared_lock lock(mutex_);
        job = e->job;
    }
    std::vector<json> summaries;
    for (const auto& child : job.children) {
        std::optional<training_job> state;
        try {
            state = training_jobs_.get(child.name);
        } catch (const service_error&) {
        }
        summaries.push_back(child_summary(job, child, state));
    }
    std::vector<std::string> names, statuses;
    for (const auto& s : summaries) {
        names.push_back(s["TrainingJobName"]);
        statuses.push_back(s["TrainingJobStatus"]);
    }
    std::vector<list_item> items;
    for (std::size_t i = 0; i < summaries.size(); ++i) {
        std::optional<double> objective;
        if (summaries[i].contains("FinalHyperParameterTuningJobObjectiveMetric"))
            objective = summaries[i]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"].get<double>();
        if (query.status_equals && statuses[i] != *query.status_equals) continue;
        items.push_back({names[i], summaries[i]["CreationTime"].get<double>(), 0, statuses[i], objective});
    }
    list_query filtered = query;
    filtered.status_equals.reset();
    list_page page = paginate(items, filtered);
    tuning_job_list out;
    for (std::size_t i : page.indexes) {
        const std::string child_name(items[i].name);
        for (const auto& s : summaries)
            if (s["TrainingJobName"] == child_name) out.summaries.push_back(s);
    }
    out.next_token = page.next_token;
    return out;
}

}  // namespace smlocal::tuning
