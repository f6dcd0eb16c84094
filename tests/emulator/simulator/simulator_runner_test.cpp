#include "emulator/simulator/simulator_runner.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

using namespace smlocal;
using namespace smlocal::simulator;
using nlohmann::json;

namespace {

namespace fs = std::filesystem;

/// Virtual time: a sleep advances now() by the slept amount and returns at once.
class fake_clock final : public smlocal::clock {
public:
    double now() const override { return now_seconds; }

    bool sleep_for(double seconds, std::stop_token stop) override {
        ++sleeps;
        now_seconds += seconds;
        if (on_sleep) on_sleep(sleeps);
        return !stop.stop_requested();
    }

    double now_seconds = 1000.0;
    int sleeps = 0;
    std::function<void(int)> on_sleep;  // called with the 1-based sleep number
};

class recording_observer final : public run_observer {
public:
    void on_log(std::string_view host, std::string_view line) override {
        std::lock_guard lock(mutex_);
        lines_.emplace_back(std::string(host), std::string(line));
    }

    std::vector<std::string> of(std::string_view host) const {
        std::lock_guard lock(mutex_);
        std::vector<std::string> result;
        for (const auto& [from, line] : lines_) {
            if (from == host) result.push_back(line);
        }
        return result;
    }

    std::size_t total() const {
        std::lock_guard lock(mutex_);
        return lines_.size();
    }

private:
    mutable std::mutex mutex_;
    std::vector<std::pair<std::string, std::string>> lines_;
};

/// A job with staged host workspaces in a fresh temp folder, removed afterwards.
struct sim_job {
    explicit sim_job(std::string image, std::map<std::string, std::string> hyperparameters = {}, int host_count = 1) {
        static std::atomic<int> counter{0};
        root = fs::temp_directory_path() /
               ("smlocal-sim-test-" + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()) +
                "-" + std::to_string(counter++));
        spec.name = "sim-job";
        spec.training_image = std::move(image);
        spec.hyperparameters = std::move(hyperparameters);
        spec.instance_count = host_count;
        request.job_name = spec.name;
        request.spec = &spec;
        for (int i = 1; i <= host_count; ++i) {
            host_workspace host{"algo-" + std::to_string(i), root / ("algo-" + std::to_string(i))};
            // What the manager creates before calling run.
            fs::create_directories(host.model_dir());
            fs::create_directories(host.output_data_dir());
            request.hosts.push_back(host);
        }
    }

    ~sim_job() {
        std::error_code error;
        fs::remove_all(root, error);
    }

    sim_job(const sim_job&) = delete;
    sim_job& operator=(const sim_job&) = delete;

    run_result run(std::stop_token stop = {}) {
        simulator_runner runner(time);
        return runner.run(request, observer, std::move(stop));
    }

    std::vector<std::string> lines(std::string_view host = "algo-1") const { return observer.of(host); }

    std::string failure() const {
        std::ifstream in(request.hosts.front().failure_file());
        std::stringstream text;
        text << in.rdbuf();
        return text.str();
    }

    bool has_model() const { return fs::exists(request.hosts.front().model_dir() / "model.json"); }

    json model() const {
        std::ifstream in(request.hosts.front().model_dir() / "model.json");
        return json::parse(in);
    }

    fs::path root;
    training_job_spec spec;
    run_request request;
    fake_clock time;
    recording_observer observer;
};

struct epoch_line {
    int epoch = 0;
    double train = 0;
    double validation = 0;
};

std::string g10(double value) {
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%.10g", value);
    return buffer;
}

/// Parses `epoch=<e> train:loss=<t> validation:loss=<v>` and checks the numbers print as %.10g.
epoch_line parse_epoch_line(const std::string& line) {
    epoch_line parsed;
    char train[64] = {};
    char validation[64] = {};
    const int fields = std::sscanf(line.c_str(), "epoch=%d train:loss=%63s validation:loss=%63s", &parsed.epoch,
                                   train, validation);
    REQUIRE_MESSAGE(fields == 3, line);
    parsed.train = std::stod(train);
    parsed.validation = std::stod(validation);
    CHECK(g10(parsed.train) == train);
    CHECK(g10(parsed.validation) == validation);
    CHECK(line == "epoch=" + std::to_string(parsed.epoch) + " train:loss=" + train + " validation:loss=" + validation);
    return parsed;
}

std::vector<epoch_line> epoch_lines(const std::vector<std::string>& lines) {
    std::vector<epoch_line> result;
    for (const auto& line : lines) {
        if (line.starts_with("epoch=")) result.push_back(parse_epoch_line(line));
    }
    return result;
}

}  // namespace

TEST_CASE("is_simulator_image and objective_name_of_image") {
    CHECK(is_simulator_image("simulator/quadratic"));
    CHECK(is_simulator_image("simulator/branin:latest"));
    CHECK(is_simulator_image("simulator/anything-at-all"));
    CHECK_FALSE(is_simulator_image("simulator/"));
    CHECK_FALSE(is_simulator_image("simulator"));
    CHECK_FALSE(is_simulator_image("localhost:5000/simulator/quadratic"));
    CHECK_FALSE(is_simulator_image("docker.io/simulator/quadratic"));
    CHECK_FALSE(is_simulator_image("123456789012.dkr.ecr.us-east-1.amazonaws.com/xgboost:1"));
    CHECK_FALSE(is_simulator_image("Simulator/quadratic"));

    CHECK(objective_name_of_image("simulator/quadratic") == "quadratic");
    CHECK(objective_name_of_image("simulator/branin:1.0") == "branin");
    CHECK(objective_name_of_image("simulator/hartmann6@sha256:0123abcd") == "hartmann6");
    CHECK(objective_name_of_image("simulator/hartmann6:v2@sha256:0123abcd") == "hartmann6");
    CHECK(objective_name_of_image("registry/simulator/quadratic") == "");
}

TEST_CASE("simulator: quadratic at its optimum prints the documented lines") {
    sim_job job("simulator/quadratic:latest", {{"x", "1"}, {"y", "-2"}, {"epochs", "3"}});
    const run_result result = job.run();
    CHECK(result.kind == run_result::outcome::exited);
    CHECK(result.exit_code == 0);
    CHECK(result.failed_host.empty());

    const auto lines = job.lines();
    REQUIRE(lines.size() == 5);
    CHECK(lines[0] == "simulator: objective=quadratic epochs=3 seed=0");
    const auto epochs = epoch_lines(lines);
    REQUIRE(epochs.size() == 3);
    for (int i = 0; i < 3; ++i) CHECK(epochs[i].epoch == i + 1);
    CHECK(lines[3] == "epoch=3 train:loss=0 validation:loss=0");
    CHECK(lines[4] == "simulator: done final validation:loss=0");

    // Epoch 1: v = A·(2/3)^1.5 with A = 1 + 0.5·u, u in [0,1); t = v − 0.1·(2/3)·A.
    const double amplitude = epochs[0].validation / std::pow(2.0 / 3.0, 1.5);
    CHECK(amplitude >= 1.0 - 1e-9);
    CHECK(amplitude < 1.5);
    CHECK(epochs[0].train == doctest::Approx(epochs[0].validation - 0.1 * (2.0 / 3.0) * amplitude));

    const json model = job.model();
    CHECK(model["objective"] == "quadratic");
    CHECK(model["hyperparameters"] == json{{"x", 1.0}, {"y", -2.0}});
    CHECK(model["epochs_completed"] == 3);
    CHECK(model["final"]["validation:loss"] == 0.0);
    CHECK_FALSE(fs::exists(job.request.hosts.front().failure_file()));
}

TEST_CASE("simulator: the curve decreases monotonically to the true value") {
    sim_job job("simulator/branin", {{"x1", "0"}, {"x2", "0"}, {"epochs", "20"}, {"sim_seconds", "0"}});
    REQUIRE(job.run().exit_code == 0);
    const auto epochs = epoch_lines(job.lines());
    REQUIRE(epochs.size() == 20);
    for (std::size_t i = 1; i < epochs.size(); ++i) {
        CHECK(epochs[i].validation < epochs[i - 1].validation);
        CHECK(epochs[i].train <= epochs[i].validation);
    }
    CHECK(epochs.front().train < epochs.front().validation);
    CHECK(epochs.back().validation == doctest::Approx(55.602112642270264).epsilon(1e-9));
    CHECK(epochs.back().train == epochs.back().validation);
    CHECK(job.lines().back() == "simulator: done final validation:loss=" + g10(epochs.back().validation));
}

TEST_CASE("simulator: worse configurations start higher") {
    sim_job good("simulator/quadratic", {{"x", "1.5"}, {"y", "-2"}, {"epochs", "5"}});
    sim_job bad("simulator/quadratic", {{"x", "6"}, {"y", "3"}, {"epochs", "5"}});
    REQUIRE(good.run().exit_code == 0);
    REQUIRE(bad.run().exit_code == 0);
    const auto good_epochs = epoch_lines(good.lines());
    const auto bad_epochs = epoch_lines(bad.lines());
    for (std::size_t i = 0; i < 5; ++i) CHECK(good_epochs[i].validation < bad_epochs[i].validation);
}

TEST_CASE("simulator: noise is deterministic per seed") {
    const std::map<std::string, std::string> base = {
        {"x", "0.5"}, {"y", "-1"}, {"epochs", "6"}, {"noise", "0.3"}, {"seed", "7"}};
    sim_job first("simulator/quadratic", base);
    sim_job second("simulator/quadratic", base);
    auto other_hyperparameters = base;
    other_hyperparameters["seed"] = "8";
    sim_job other_seed("simulator/quadratic", other_hyperparameters);
    auto clean_hyperparameters = base;
    clean_hyperparameters.erase("noise");
    sim_job clean("simulator/quadratic", clean_hyperparameters);

    for (sim_job* job : {&first, &second, &other_seed, &clean}) REQUIRE(job->run().exit_code == 0);
    CHECK(first.lines() == second.lines());
    CHECK(first.model() == second.model());
    CHECK(first.lines() != other_seed.lines());
    CHECK(first.lines()[0] == "simulator: objective=quadratic epochs=6 seed=7");

    // The final value is the true one (0.25 + 1) plus that seed's noise.
    const auto noisy = epoch_lines(first.lines());
    const auto exact = epoch_lines(clean.lines());
    CHECK(exact.back().validation == doctest::Approx(1.25));
    CHECK(noisy.back().validation != doctest::Approx(1.25));
    CHECK(noisy.back().train == noisy.back().validation);
}

TEST_CASE("simulator: noise is Gaussian with the requested standard deviation") {
    const std::map<std::string, std::string> base = {
        {"x", "2"}, {"y", "2"}, {"epochs", "4000"}, {"sim_seconds", "0"}, {"seed", "42"}};
    auto noisy_hyperparameters = base;
    noisy_hyperparameters["noise"] = "0.5";
    sim_job clean("simulator/quadratic", base);
    sim_job noisy("simulator/quadratic", noisy_hyperparameters);
    REQUIRE(clean.run().exit_code == 0);
    REQUIRE(noisy.run().exit_code == 0);
    const auto exact = epoch_lines(clean.lines());
    const auto perturbed = epoch_lines(noisy.lines());
    REQUIRE(exact.size() == perturbed.size());

    // The residuals are noise·z: mean about 0, standard deviation about 0.5.
    double sum = 0;
    double sum_squares = 0;
    for (std::size_t i = 0; i < exact.size(); ++i) {
        const double residual = perturbed[i].validation - exact[i].validation;
        sum += residual;
        sum_squares += residual * residual;
    }
    const double n = static_cast<double>(exact.size());
    const double mean = sum / n;
    const double deviation = std::sqrt(sum_squares / n - mean * mean);
    CHECK(std::fabs(mean) < 0.05);
    CHECK(deviation == doctest::Approx(0.5).epsilon(0.05));
}

TEST_CASE("simulator: JSON-quoted values and extra hyperparameters") {
    sim_job plain("simulator/quadratic", {{"x", "0.25"}, {"y", "1"}, {"epochs", "4"}, {"seed", "3"}, {"noise", "0.1"}});
    sim_job quoted("simulator/quadratic", {{"x", "\"0.25\""},
                                           {"y", "\"1\""},
                                           {"epochs", "\"4\""},
                                           {"seed", "\"3\""},
                                           {"noise", "\"0.1\""},
                                           {"_tuning_objective_metric", "validation:loss"},
                                           {"sagemaker_program", "\"train.py\""},
                                           {"sagemaker_submit_directory", "\"file:///code\""}});
    REQUIRE(plain.run().exit_code == 0);
    REQUIRE(quoted.run().exit_code == 0);
    CHECK(plain.lines() == quoted.lines());
    CHECK(quoted.model()["hyperparameters"] == json{{"x", 0.25}, {"y", 1.0}});

    SUBCASE("integral spellings of integers and a leading plus") {
        sim_job spelled("simulator/quadratic", {{"x", "+0.25"}, {"y", "1e0"}, {"epochs", "4.0"}, {"seed", "3"},
                                                 {"noise", "0.1"}});
        REQUIRE(spelled.run().exit_code == 0);
        CHECK(spelled.lines() == plain.lines());
    }
}

TEST_CASE("simulator: fail_at_epoch fails like a crashing container") {
    sim_job job("simulator/quadratic", {{"x", "0"}, {"y", "0"}, {"epochs", "3"}, {"fail_at_epoch", "2"}}, 2);
    const run_result result = job.run();
    CHECK(result.kind == run_result::outcome::exited);
    CHECK(result.exit_code == 1);
    CHECK(result.failed_host == "algo-1");
    CHECK(job.failure() == "simulated failure at epoch 2");

    const auto lines = job.lines();
    REQUIRE(lines.size() == 3);
    CHECK(lines[1].starts_with("epoch=1 "));
    CHECK(lines[2] == "simulator: simulated failure at epoch 2");
    CHECK_FALSE(job.has_model());
    CHECK(job.lines("algo-2") == std::vector<std::string>{"simulator: algo-2 waiting for algo-1"});

    SUBCASE("outside 1..epochs it never fires") {
        sim_job late("simulator/quadratic", {{"x", "0"}, {"y", "0"}, {"epochs", "3"}, {"fail_at_epoch", "4"}});
        CHECK(late.run().exit_code == 0);
        CHECK(late.model()["epochs_completed"] == 3);
    }
}

TEST_CASE("simulator: bad hyperparameters exit 2 with a clear message") {
    SUBCASE("missing objective parameter") {
        sim_job job("simulator/quadratic", {{"x", "1"}});
        const run_result result = job.run();
        CHECK(result.exit_code == 2);
        CHECK(result.failed_host == "algo-1");
        CHECK(job.failure() == "hyperparameter 'y' is required by simulator/quadratic");
        CHECK(job.lines() == std::vector<std::string>{"simulator: hyperparameter 'y' is required by simulator/quadratic"});
        CHECK_FALSE(job.has_model());
        CHECK(job.time.sleeps == 0);
    }
    SUBCASE("every problem is reported") {
        sim_job job("simulator/branin:2", {{"x1", "abc"}, {"epochs", "0"}});
        CHECK(job.run().exit_code == 2);
        CHECK(job.failure() ==
              "hyperparameter 'epochs' must be an integer from 1 to 1000000, got '0'; "
              "hyperparameter 'x1' of simulator/branin must be a number, got 'abc'; "
              "hyperparameter 'x2' is required by simulator/branin");
    }
    SUBCASE("non-finite and negative switches") {
        sim_job job("simulator/quadratic",
                    {{"x", "nan"}, {"y", "inf"}, {"sim_seconds", "-1"}, {"noise", "-0.5"}, {"seed", "1.5"},
                     {"fail_at_epoch", "two"}});
        CHECK(job.run().exit_code == 2);
        const std::string failure = job.failure();
        CHECK(failure.find("'sim_seconds' must be a number >= 0, got '-1'") != std::string::npos);
        CHECK(failure.find("'noise' must be a number >= 0, got '-0.5'") != std::string::npos);
        CHECK(failure.find("'seed' must be an integer, got '1.5'") != std::string::npos);
        CHECK(failure.find("'fail_at_epoch' must be an integer, got 'two'") != std::string::npos);
        CHECK(failure.find("'x' of simulator/quadratic must be a number, got 'nan'") != std::string::npos);
        CHECK(failure.find("'y' of simulator/quadratic must be a number, got 'inf'") != std::string::npos);
    }
    SUBCASE("a point whose value overflows") {
        sim_job job("simulator/quadratic", {{"x", "1e200"}, {"y", "0"}});
        CHECK(job.run().exit_code == 2);
        CHECK(job.failure() == "simulator/quadratic is not finite at x=1e+200, y=0");
    }
}

TEST_CASE("simulator: a stop saves the epochs completed so far") {
    std::stop_source stopper;
    sim_job job("simulator/quadratic", {{"x", "3"}, {"y", "0"}, {"epochs", "5"}}, 2);
    // The third sleep (before epoch 3) is where SIGTERM arrives.
    job.time.on_sleep = [&](int sleep_number) {
        if (sleep_number == 3) stopper.request_stop();
    };
    const run_result result = job.run(stopper.get_token());
    CHECK(result.kind == run_result::outcome::exited);
    CHECK(result.exit_code == 0);
    CHECK(result.failed_host.empty());
    CHECK(job.time.sleeps == 3);

    const auto lines = job.lines();
    REQUIRE(lines.size() == 4);
    const auto epochs = epoch_lines(lines);
    REQUIRE(epochs.size() == 2);
    CHECK(lines.back() == "simulator: received SIGTERM, saving model");

    const json model = job.model();
    CHECK(model["epochs_completed"] == 2);
    CHECK(model["final"]["validation:loss"].get<double>() == doctest::Approx(epochs[1].validation));
    CHECK(job.lines("algo-2") ==
          std::vector<std::string>{"simulator: algo-2 waiting for algo-1", "simulator: algo-2 done"});

    SUBCASE("stopped before the first epoch") {
        std::stop_source early;
        early.request_stop();
        sim_job idle("simulator/quadratic", {{"x", "3"}, {"y", "0"}});
        CHECK(idle.run(early.get_token()).exit_code == 0);
        CHECK(idle.time.sleeps == 0);
        CHECK(idle.model()["epochs_completed"] == 0);
        CHECK(idle.model()["final"] == json::object());
    }
}

TEST_CASE("simulator: a stop wakes a wall-clock wait at once") {
    sim_job job("simulator/quadratic", {{"x", "3"}, {"y", "0"}, {"epochs", "1"}, {"sim_seconds", "600"}});
    simulator_runner runner(wall_clock());
    std::stop_source stopper;
    const auto started = std::chrono::steady_clock::now();
    std::jthread terminator([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        stopper.request_stop();
    });
    const run_result result = runner.run(job.request, job.observer, stopper.get_token());
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(5));
    CHECK(result.exit_code == 0);
    CHECK(job.model()["epochs_completed"] == 0);
    CHECK(job.lines().back() == "simulator: received SIGTERM, saving model");
}

TEST_CASE("simulator: sim_seconds spreads evenly over the epochs") {
    SUBCASE("explicit") {
        sim_job job("simulator/quadratic", {{"x", "0"}, {"y", "0"}, {"epochs", "4"}, {"sim_seconds", "6"}});
        REQUIRE(job.run().exit_code == 0);
        CHECK(job.time.sleeps == 4);
        CHECK(job.time.now() == doctest::Approx(1006.0));
    }
    SUBCASE("default: 2 seconds over 10 epochs") {
        sim_job job("simulator/quadratic", {{"x", "0"}, {"y", "0"}});
        REQUIRE(job.run().exit_code == 0);
        CHECK(job.time.sleeps == 10);
        CHECK(job.time.now() == doctest::Approx(1002.0));
        CHECK(epoch_lines(job.lines()).size() == 10);
    }
    SUBCASE("zero is instant") {
        sim_job job("simulator/quadratic", {{"x", "0"}, {"y", "0"}, {"sim_seconds", "0"}});
        REQUIRE(job.run().exit_code == 0);
        CHECK(job.time.now() == 1000.0);
    }
}

TEST_CASE("simulator: other hosts only log, algo-1 writes the model") {
    sim_job job("simulator/hartmann6", {{"x1", "0.2"}, {"x2", "0.15"}, {"x3", "0.48"}, {"x4", "0.28"}, {"x5", "0.31"},
                                        {"x6", "0.66"}, {"epochs", "2"}},
                3);
    REQUIRE(job.run().exit_code == 0);
    CHECK(epoch_lines(job.lines()).size() == 2);
    for (const std::string host : {"algo-2", "algo-3"}) {
        CHECK(job.lines(host) ==
              std::vector<std::string>{"simulator: " + host + " waiting for algo-1", "simulator: " + host + " done"});
    }
    CHECK(job.observer.total() == 4 + 4);
    CHECK_FALSE(fs::exists(job.request.hosts[1].model_dir() / "model.json"));
    CHECK(job.model()["hyperparameters"].size() == 6);
    CHECK(job.model()["final"]["validation:loss"].get<double>() == doctest::Approx(-3.3).epsilon(0.01));
}

TEST_CASE("simulator: generic mode for --simulate-all") {
    const std::string image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/trainer:1.2";
    SUBCASE("runs a fixed curve and records the hyperparameters") {
        sim_job job(image, {{"epochs", "3"}, {"learning_rate", "0.1"}, {"sagemaker_program", "\"train.py\""}});
        const run_result result = job.run();
        CHECK(result.kind == run_result::outcome::exited);
        CHECK(result.exit_code == 0);
        CHECK(job.lines() == std::vector<std::string>{
                                 "simulator: --simulate-all runs " + image + " in process",
                                 "epoch=1 train:loss=1",
                                 "epoch=2 train:loss=0.5",
                                 "epoch=3 train:loss=0.3333333333",
                                 "simulator: done final train:loss=0.3333333333",
                             });
        CHECK(job.model() == json{{"image", image},
                                  {"simulated", true},
                                  {"hyperparameters",
                                   {{"epochs", "3"}, {"learning_rate", "0.1"}, {"sagemaker_program", "\"train.py\""}}},
                                  {"epochs_completed", 3}});
        CHECK(job.time.now() == doctest::Approx(1002.0));
    }
    SUBCASE("fail_at_epoch") {
        sim_job job(image, {{"fail_at_epoch", "1"}});
        const run_result result = job.run();
        CHECK(result.exit_code == 1);
        CHECK(result.failed_host == "algo-1");
        CHECK(job.failure() == "simulated failure at epoch 1");
    }
    SUBCASE("stop") {
        std::stop_source stopper;
        sim_job job(image, {{"epochs", "4"}});
        job.time.on_sleep = [&](int sleep_number) {
            if (sleep_number == 2) stopper.request_stop();
        };
        CHECK(job.run(stopper.get_token()).exit_code == 0);
        CHECK(job.model()["epochs_completed"] == 1);
        CHECK(job.lines().back() == "simulator: received SIGTERM, saving model");
    }
}

TEST_CASE("simulator: input channels must exist, as a container checks") {
    sim_job job("simulator/quadratic", {{"x", "0"}, {"y", "0"}});
    resolved_channel present;
    present.spec.name = "train";
    present.source = job.root / "data" / "train";
    fs::create_directories(present.source);
    resolved_channel absent;
    absent.spec.name = "validation";
    absent.source = job.root / "data" / "validation";
    job.request.channels = {present, absent};

    const run_result result = job.run();
    CHECK(result.exit_code == 1);
    CHECK(result.failed_host == "algo-1");
    CHECK(job.failure() == "input channel 'validation' has no data at " + absent.source.string());
    CHECK_FALSE(job.has_model());

    SUBCASE("all present") {
        fs::create_directories(absent.source);
        sim_job ok("simulator/quadratic", {{"x", "0"}, {"y", "0"}});
        ok.request.channels = {present, absent};
        CHECK(ok.run().exit_code == 0);
    }
}

TEST_CASE("simulator: an unknown objective cannot start") {
    sim_job job("simulator/rosenbrock:latest", {{"x", "0"}});
    const run_result result = job.run();
    CHECK(result.kind == run_result::outcome::not_started);
    CHECK(result.message ==
          "The simulator has no objective named 'rosenbrock' (image simulator/rosenbrock:latest); known objectives: "
          "quadratic, branin, hartmann6");
    CHECK(job.observer.total() == 0);
}
