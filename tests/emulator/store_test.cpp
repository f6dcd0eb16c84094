#include "emulator/store.hpp"

#include <doctest/doctest.h>

#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/temp_dir.hpp"

namespace fs = std::filesystem;
using smlocal::log_event;
using smlocal::metric_point;
using smlocal::store;
using smlocal::tag;
using smlocal::training_job;
using smlocal::training_job_status;

namespace {

using smlocal_test::temp_dir;

// The store file in a test folder (a subfolder, which the store must create).
fs::path db_in(const temp_dir& dir) { return dir.path / "state" / "smlocal.db"; }

training_job make_job(const std::string& name, double creation_time) {
    training_job job;
    job.name = name;
    job.arn = "arn:aws:sagemaker:us-east-1:000000000000:training-job/" + name;
    job.request = {{"TrainingJobName", name},
                   {"AlgorithmSpecification", {{"TrainingImage", "simulator/quadratic"}, {"TrainingInputMode", "File"}}},
                   {"HyperParameters", {{"x", "0.5"}}}};
    job.creation_time = creation_time;
    job.last_modified_time = creation_time;
    job.transitions.push_back({"Starting", creation_time, std::nullopt, "Launching requested ML instances"});
    return job;
}

std::vector<log_event> make_events(std::int64_t first_timestamp, int count, const std::string& label) {
    std::vector<log_event> events;
    for (int i = 0; i < count; ++i) {
        events.push_back(log_event{first_timestamp + i, first_timestamp + i + 5, label + " line " + std::to_string(i)});
    }
    return events;
}

std::vector<std::string> names_of(const std::vector<smlocal::log_stream_info>& streams) {
    std::vector<std::string> names;
    for (const auto& s : streams) names.push_back(s.name);
    return names;
}

std::vector<tag> tags_of(const std::vector<std::pair<std::string, std::vector<tag>>>& resources,
                         const std::string& arn) {
    for (const auto& [resource, tags] : resources) {
        if (resource == arn) return tags;
    }
    return {};
}

/// A value read with a second, independent connection (checks what is really on disk).
std::string pragma_value(const fs::path& db_file, const std::string& pragma) {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open_v2(db_file.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    std::string value;
    if (sqlite3_prepare_v2(db, ("PRAGMA " + pragma).c_str(), -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
        value = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return value;
}

}  // namespace

TEST_CASE("store creates a versioned WAL database") {
    temp_dir dir;
    {
        store s(db_in(dir));
        CHECK(fs::exists(db_in(dir)));
    }
    CHECK(pragma_value(db_in(dir), "user_version") == "3");
    CHECK(pragma_value(db_in(dir), "journal_mode") == "wal");

    SUBCASE("reopening an existing database keeps its version") {
        store again(db_in(dir));
        CHECK(pragma_value(db_in(dir), "user_version") == "3");
    }
    SUBCASE("a database from a newer smlocal is refused") {
        sqlite3* db = nullptr;
        REQUIRE(sqlite3_open(db_in(dir).c_str(), &db) == SQLITE_OK);
        REQUIRE(sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr) == SQLITE_OK);
        sqlite3_close(db);
        CHECK_THROWS_AS(store{db_in(dir)}, std::runtime_error);
    }
    SUBCASE("a file that is not a database is an error") {
        const fs::path bogus = dir.path / "bogus.db";
        {
            std::FILE* f = std::fopen(bogus.c_str(), "w");
            REQUIRE(f != nullptr);
            std::fputs("this is not an SQLite database, just some text that is long enough.........", f);
            std::fclose(f);
        }
        CHECK_THROWS_AS(store{bogus}, std::runtime_error);
    }
}

TEST_CASE("store round-trips training jobs") {
    temp_dir dir;
    store s(db_in(dir));
    CHECK(s.load_training_jobs().empty());

    auto later = make_job("later-job", 2000.5);
    later.status = training_job_status::failed;
    later.failure_reason = "AlgorithmError: exit code 1";
    later.training_start_time = 2001;
    later.training_end_time = 2010.25;
    later.final_metrics.push_back({"train:loss", 0.25, 2009, std::nullopt});
    s.put_training_job(later);
    s.put_training_job(make_job("b-job", 1000));
    s.put_training_job(make_job("a-job", 1000));

    SUBCASE("ordered by creation time, then name, with every field") {
        const auto jobs = s.load_training_jobs();
        REQUIRE(jobs.size() == 3);
        CHECK(jobs[0].name == "a-job");
        CHECK(jobs[1].name == "b-job");
        CHECK(jobs[2].name == "later-job");
        CHECK(jobs[2].arn == later.arn);
        CHECK(jobs[2].request == later.request);
        CHECK(jobs[2].status == training_job_status::failed);
        CHECK(jobs[2].failure_reason == later.failure_reason);
        CHECK(jobs[2].creation_time == 2000.5);
        CHECK(jobs[2].training_end_time == 2010.25);
        REQUIRE(jobs[2].transitions.size() == 1);
        CHECK(jobs[2].transitions[0].message == "Launching requested ML instances");
        REQUIRE(jobs[2].final_metrics.size() == 1);
        CHECK(jobs[2].final_metrics[0].value == 0.25);
    }
    SUBCASE("put replaces the whole record") {
        auto updated = make_job("b-job", 1000);
        updated.status = training_job_status::completed;
        updated.secondary_status = "Completed";
        s.put_training_job(updated);
        const auto jobs = s.load_training_jobs();
        REQUIRE(jobs.size() == 3);
        CHECK(jobs[1].name == "b-job");
        CHECK(jobs[1].status == training_job_status::completed);
        CHECK(jobs[1].secondary_status == "Completed");
    }
    SUBCASE("invalid UTF-8 in a failure reason does not fail the write") {
        auto job = make_job("bad-bytes", 3000);
        job.failure_reason = "container said \xff\xfe";
        s.put_training_job(job);
        const auto jobs = s.load_training_jobs();
        REQUIRE(jobs.size() == 4);
        CHECK(jobs[3].failure_reason.value_or("").starts_with("container said "));
    }
}

TEST_CASE("store keeps tags per resource in first-insertion order") {
    temp_dir dir;
    store s(db_in(dir));
    const std::string job_arn = "arn:aws:sagemaker:us-east-1:000000000000:training-job/a";
    const std::string tuning_arn = "arn:aws:sagemaker:us-east-1:000000000000:hyper-parameter-tuning-job/t";
    s.put_tags(job_arn, {{"team", "ml"}, {"env", "dev"}});
    s.put_tags(tuning_arn, {{"owner", "ci"}});

    SUBCASE("round trip, resources ordered by ARN") {
        const auto resources = s.load_tags();
        REQUIRE(resources.size() == 2);
        CHECK(resources[0].first == tuning_arn);
        CHECK(resources[0].second == std::vector<tag>{{"owner", "ci"}});
        CHECK(resources[1].first == job_arn);
        CHECK(resources[1].second == std::vector<tag>{{"team", "ml"}, {"env", "dev"}});
    }
    SUBCASE("overwriting a key keeps its place; new keys go last") {
        s.put_tags(job_arn, {{"cost-center", "42"}, {"team", "research"}});
        CHECK(tags_of(s.load_tags(), job_arn) ==
              std::vector<tag>{{"team", "research"}, {"env", "dev"}, {"cost-center", "42"}});
    }
    SUBCASE("delete ignores missing keys") {
        s.delete_tags(job_arn, {"env", "no-such-key"});
        s.delete_tags("arn:unknown", {"x"});
        const auto resources = s.load_tags();
        REQUIRE(resources.size() == 2);
        CHECK(tags_of(resources, job_arn) == std::vector<tag>{{"team", "ml"}});
    }
    SUBCASE("a resource without tags is not listed") {
        s.delete_tags(tuning_arn, {"owner"});
        const auto resources = s.load_tags();
        REQUIRE(resources.size() == 1);
        CHECK(resources[0].first == job_arn);
    }
    SUBCASE("a key deleted and added again goes last") {
        s.delete_tags(job_arn, {"team"});
        s.put_tags(job_arn, {{"team", "ml"}});
        CHECK(tags_of(s.load_tags(), job_arn) == std::vector<tag>{{"env", "dev"}, {"team", "ml"}});
    }
}

TEST_CASE("store appends metric series per job") {
    temp_dir dir;
    store s(db_in(dir));
    s.append_metric_points("job-a", {{"train:loss", 0.9, 10.5, 0}, {"validation:loss", 1.2, 10.5, 0}});
    s.append_metric_points("job-b", {{"train:loss", 5, 11, std::nullopt}});
    s.append_metric_points("job-a", {{"train:loss", 0.4, 20.25, 1}});
    s.append_metric_points("job-a", {});

    SUBCASE("append order, with timestamp and optional epoch") {
        const auto a = s.metric_series("job-a");
        REQUIRE(a.size() == 3);
        CHECK(a[0].name == "train:loss");
        CHECK(a[0].value == 0.9);
        CHECK(a[0].timestamp == 10.5);
        CHECK(a[0].epoch == 0);
        CHECK(a[1].name == "validation:loss");
        CHECK(a[2].value == 0.4);
        CHECK(a[2].epoch == 1);
        const auto b = s.metric_series("job-b");
        REQUIRE(b.size() == 1);
        CHECK_FALSE(b[0].epoch.has_value());
    }
    SUBCASE("unknown job") { CHECK(s.metric_series("nope").empty()); }
    SUBCASE("non-finite values survive") {
        s.append_metric_points("job-c", {{"m", std::nan(""), 1, std::nullopt},
                                         {"m", std::numeric_limits<double>::infinity(), 2, std::nullopt}});
        const auto c = s.metric_series("job-c");
        REQUIRE(c.size() == 2);
        CHECK(std::isnan(c[0].value));
        CHECK(std::isinf(c[1].value));
    }
}

TEST_CASE("store log streams: indexes and aggregates") {
    temp_dir dir;
    store s(db_in(dir));
    const std::string name = "job/algo-1-1704067200";
    s.append_log_events(name, {{1000, 1005, "hello"}, {1010, 1020, "world!"}});
    s.append_log_events(name, {{1030, 1031, "third"}});

    SUBCASE("events get consecutive indexes across appends") {
        const auto events = s.log_events(name, 0, 10);
        REQUIRE(events.size() == 3);
        CHECK(events[0].message == "hello");
        CHECK(events[0].timestamp_ms == 1000);
        CHECK(events[0].ingestion_time_ms == 1005);
        CHECK(events[1].message == "world!");
        CHECK(events[2].message == "third");
        CHECK(s.log_events(name, 1, 1).at(0).message == "world!");
        CHECK(s.log_events(name, 2, 10).size() == 1);
        CHECK(s.log_events(name, 3, 10).empty());
        CHECK(s.log_events(name, 0, 0).empty());
        CHECK(s.log_events(name, -1, 2).at(0).message == "hello");
        CHECK(s.log_events(name, -1, 2).size() == 1);
    }
    SUBCASE("the stream row holds the aggregates") {
        const auto streams = s.log_streams("job/");
        REQUIRE(streams.size() == 1);
        CHECK(streams[0].name == name);
        CHECK(streams[0].creation_time_ms == 1000);
        CHECK(streams[0].first_event_ms == 1000);
        CHECK(streams[0].last_event_ms == 1030);
        CHECK(streams[0].last_ingestion_ms == 1031);
        CHECK(streams[0].event_count == 3);
        CHECK(streams[0].stored_bytes == 5 + 6 + 5);
    }
    SUBCASE("an unknown stream has no events") { CHECK(s.log_events("job/algo-2-1704067200", 0, 10).empty()); }
    SUBCASE("an empty append creates the stream now, without events") {
        const auto before = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
        s.append_log_events("job/algo-2-1704067200", {});
        const auto streams = s.log_streams("job/algo-2");
        REQUIRE(streams.size() == 1);
        CHECK(streams[0].creation_time_ms >= before);
        CHECK_FALSE(streams[0].first_event_ms.has_value());
        CHECK_FALSE(streams[0].last_ingestion_ms.has_value());
        CHECK(streams[0].event_count == 0);
        CHECK(streams[0].stored_bytes == 0);
    }
    SUBCASE("an ingestion time of 0 means now") {
        s.append_log_events("job/algo-3-1704067200", {{5, 0, "x"}});
        const auto events = s.log_events("job/algo-3-1704067200", 0, 1);
        REQUIRE(events.size() == 1);
        CHECK(events[0].ingestion_time_ms > 1'600'000'000'000);
    }
    SUBCASE("messages keep every byte") {
        constexpr char raw[] = "nul\0tab#011 \xc3\xa9 \xff end";
        const std::string bytes(raw, sizeof raw - 1);
        s.append_log_events("job/bytes", {{1, 2, bytes}, {2, 3, ""}});
        const auto events = s.log_events("job/bytes", 0, 5);
        REQUIRE(events.size() == 2);
        CHECK(events[0].message == bytes);
        CHECK(events[1].message.empty());
    }
}

TEST_CASE("store log stream prefixes are literal") {
    temp_dir dir;
    store s(db_in(dir));
    for (const std::string name : {"job_1/algo-1-1", "job11/algo-1-1", "jobX1/algo-1-1", "job%1/algo-1-1",
                                   "job%1x/algo-1-1", "job_1/algo-2-1", "other/algo-1-1", "job\xff/algo-1-1"}) {
        s.append_log_events(name, {{1, 1, "x"}});
    }

    SUBCASE("'_' is not a wildcard") {
        CHECK(names_of(s.log_streams("job_1/")) == std::vector<std::string>{"job_1/algo-1-1", "job_1/algo-2-1"});
    }
    SUBCASE("'%' is not a wildcard") {
        CHECK(names_of(s.log_streams("job%1")) == std::vector<std::string>{"job%1/algo-1-1", "job%1x/algo-1-1"});
    }
    SUBCASE("ordered by name; empty prefix lists all") {
        const auto all = names_of(s.log_streams(""));
        REQUIRE(all.size() == 8);
        CHECK(std::is_sorted(all.begin(), all.end()));
    }
    SUBCASE("bytes >= 0x80 in the prefix") {
        CHECK(names_of(s.log_streams("job\xff")) == std::vector<std::string>{"job\xff/algo-1-1"});
    }
    SUBCASE("no match") {
        CHECK(s.log_streams("job_2").empty());
        CHECK(s.log_streams("zzz").empty());
    }
}

TEST_CASE("store checkpoints the WAL into the database file while open") {
    temp_dir dir;
    store s(db_in(dir));
    const auto initial_size = fs::file_size(db_in(dir));
    // About 2,000 commits of 2+ pages each: well past the 1,000-page checkpoint threshold.
    for (int i = 0; i < 2000; ++i) {
        auto job = make_job("job-" + std::to_string(i), i);
        job.request["Padding"] = std::string(1000, 'p');
        s.put_training_job(job);
    }
    // The checkpoint runs on a background thread: give it time.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (fs::file_size(db_in(dir)) < initial_size + 1'000'000 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    CHECK(fs::file_size(db_in(dir)) >= initial_size + 1'000'000);
    CHECK(s.load_training_jobs().size() == 2000);
}

TEST_CASE("store data persists across close and reopen") {
    temp_dir dir;
    {
        store s(db_in(dir));
        s.put_training_job(make_job("persisted", 1234));
        s.put_tags("arn:x", {{"k", "v"}});
        s.append_metric_points("persisted", {{"loss", 0.5, 1, 3}});
        s.append_log_events("persisted/algo-1-1", {{1, 2, "line"}});
    }
    store s(db_in(dir));
    REQUIRE(s.load_training_jobs().size() == 1);
    CHECK(s.load_training_jobs()[0].name == "persisted");
    CHECK(s.load_tags().at(0).second == std::vector<tag>{{"k", "v"}});
    CHECK(s.metric_series("persisted").at(0).epoch == 3);
    CHECK(s.log_events("persisted/algo-1-1", 0, 1).at(0).message == "line");

    SUBCASE("appends continue after the stored indexes") {
        s.append_log_events("persisted/algo-1-1", {{3, 4, "next"}});
        const auto events = s.log_events("persisted/algo-1-1", 0, 10);
        REQUIRE(events.size() == 2);
        CHECK(events[1].message == "next");
        CHECK(s.log_streams("persisted").at(0).event_count == 2);
    }
}

TEST_CASE("store commits survive kill -9 of the process") {
    temp_dir dir;
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        // The child writes, then dies without running any destructor or checkpoint.
        try {
            store s(db_in(dir));
            s.put_training_job(make_job("killed", 1));
            s.append_log_events("killed/algo-1-1", make_events(1, 100, "k"));
            s.put_tags("arn:killed", {{"a", "b"}});
        } catch (...) {
            ::_exit(3);
        }
        ::raise(SIGKILL);
        ::_exit(4);
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    REQUIRE(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGKILL);

    store s(db_in(dir));
    REQUIRE(s.load_training_jobs().size() == 1);
    CHECK(s.log_events("killed/algo-1-1", 99, 1).at(0).message == "k line 99");
    CHECK(s.load_tags().size() == 1);
}

TEST_CASE("store concurrent log appends lose nothing") {
    temp_dir dir;
    store s(db_in(dir));
    constexpr int thread_count = 4;
    constexpr int batches = 100;
    constexpr int batch_size = 5;

    std::vector<std::thread> threads;
    for (int t = 0; t < thread_count; ++t) {
        threads.emplace_back([&s, t] {
            for (int b = 0; b < batches; ++b) {
                std::vector<log_event> events;
                for (int i = 0; i < batch_size; ++i) {
                    events.push_back({b, b, "t" + std::to_string(t) + " b" + std::to_string(b) + " i" + std::to_string(i)});
                }
                // Everyone writes the shared stream, and a stream of its own, and metrics.
                s.append_log_events("shared/algo-1-1", events);
                s.append_log_events("own/algo-" + std::to_string(t + 1) + "-1", events);
                s.append_metric_points("job", {{"t" + std::to_string(t), double(b), double(b), b}});
            }
        });
    }
    for (auto& thread : threads) thread.join();

    constexpr int total = thread_count * batches * batch_size;
    const auto shared = s.log_events("shared/algo-1-1", 0, total + 10);
    REQUIRE(shared.size() == total);
    std::set<std::string> distinct;
    for (const auto& e : shared) distinct.insert(e.message);
    CHECK(distinct.size() == total);
    // Each batch stays contiguous, in order: appends are atomic.
    for (std::size_t i = 0; i < shared.size(); i += batch_size) {
        const std::string head = shared[i].message.substr(0, shared[i].message.rfind(' '));
        for (int k = 0; k < batch_size; ++k) {
            CHECK(shared[i + k].message == head + " i" + std::to_string(k));
        }
    }
    CHECK(s.log_streams("shared/").at(0).event_count == total);
    CHECK(s.log_streams("own/").size() == thread_count);
    for (const auto& own : s.log_streams("own/")) CHECK(own.event_count == batches * batch_size);
    CHECK(s.metric_series("job").size() == thread_count * batches);
}

TEST_CASE("store a 10,000-event append and an indexed page in the middle") {
    temp_dir dir;
    store s(db_in(dir));
    const std::string name = "big/algo-1-1704067200";
    const auto events = make_events(1'704'067'200'000, 10'000, "big");

    const auto start = std::chrono::steady_clock::now();
    s.append_log_events(name, events);
    const auto append_time = std::chrono::steady_clock::now() - start;
    MESSAGE("10,000-event append took " << std::chrono::duration_cast<std::chrono::milliseconds>(append_time).count()
                                        << " ms");
    CHECK(append_time < std::chrono::seconds(5));

    const auto page = s.log_events(name, 5'000, 100);
    REQUIRE(page.size() == 100);
    for (int i = 0; i < 100; ++i) {
        CHECK(page[i].message == "big line " + std::to_string(5'000 + i));
        CHECK(page[i].timestamp_ms == 1'704'067'200'000 + 5'000 + i);
    }
    CHECK(s.log_events(name, 9'990, 100).size() == 10);

    const auto stream = s.log_streams(name).at(0);
    CHECK(stream.event_count == 10'000);
    CHECK(stream.first_event_ms == 1'704'067'200'000);
    CHECK(stream.last_event_ms == 1'704'067'200'000 + 9'999);
    std::int64_t bytes = 0;
    for (const auto& e : events) bytes += static_cast<std::int64_t>(e.message.size());
    CHECK(stream.stored_bytes == bytes);
}

TEST_CASE("store tuning job records round-trip in creation order") {
    temp_dir dir;
    {
        store db(db_in(dir));
        db.put_tuning_job("b", 2.0, nlohmann::json{{"name", "b"}});
        db.put_tuning_job("a", 1.0, nlohmann::json{{"name", "a"}, {"v", 1}});
        db.put_tuning_job("a", 1.0, nlohmann::json{{"name", "a"}, {"v", 2}});
    }
    store db(db_in(dir));
    auto records = db.load_tuning_jobs();
    REQUIRE(records.size() == 2);
    CHECK(records[0] == nlohmann::json{{"name", "a"}, {"v", 2}});
    CHECK(records[1]["name"] == "b");
}
