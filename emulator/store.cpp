#include "emulator/store.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <iterator>
#include <limits>
#include <stdexcept>
#include <string_view>
#include <thread>

#include <sqlite3.h>

namespace smlocal {
namespace {

// Schema migrations: entry i takes the database from user_version i to i + 1. Append only; never
// edit a step that has shipped.
constexpr const char* migrations[] = {
    // 1: jobs, tags, metric series, log streams and events.
    R"sql(
    CREATE TABLE training_jobs (
        name          TEXT PRIMARY KEY,
        creation_time REAL NOT NULL,
        status        TEXT NOT NULL,
        record        TEXT NOT NULL  -- to_record_json(job)
    );
    CREATE INDEX training_jobs_by_creation ON training_jobs (creation_time, name);
    CREATE INDEX training_jobs_by_status ON training_jobs (status);

    -- id keeps first-insertion order: an upsert of an existing key keeps its row.
    CREATE TABLE tags (
        id           INTEGER PRIMARY KEY,
        resource_arn TEXT NOT NULL,
        key          TEXT NOT NULL,
        value        TEXT NOT NULL,
        UNIQUE (resource_arn, key)
    );

    -- value is NULL for NaN (SQLite has no NaN).
    CREATE TABLE metric_points (
        id        INTEGER PRIMARY KEY,
        job_name  TEXT NOT NULL,
        name      TEXT NOT NULL,
        value     REAL,
        timestamp REAL NOT NULL,
        epoch     INTEGER
    );
    CREATE INDEX metric_points_by_job ON metric_points (job_name, id);

    CREATE TABLE log_streams (
        id                INTEGER PRIMARY KEY,
        name              TEXT NOT NULL UNIQUE,
        creation_time_ms  INTEGER NOT NULL,
        first_event_ms    INTEGER,
        last_event_ms     INTEGER,
        last_ingestion_ms INTEGER,
        event_count       INTEGER NOT NULL DEFAULT 0,
        stored_bytes      INTEGER NOT NULL DEFAULT 0
    );

    -- Events are addressed by (stream, index): GetLogEvents tokens are indexes.
    CREATE TABLE log_events (
        stream_id    INTEGER NOT NULL REFERENCES log_streams (id),
        idx          INTEGER NOT NULL,
        timestamp_ms INTEGER NOT NULL,
        ingestion_ms INTEGER NOT NULL,
        message      TEXT NOT NULL,
        PRIMARY KEY (stream_id, idx)
    ) WITHOUT ROWID;
    )sql",
    // 1 -> 2: hyperparameter tuning jobs, one JSON record each (emulator/tuning/tuning_job.hpp).
    R"sql(
    CREATE TABLE tuning_jobs (
        name          TEXT PRIMARY KEY,
        creation_time REAL NOT NULL,
        record        TEXT NOT NULL
    );
    )sql",
    // 2 -> 3: metadata of S3 objects in the local S3 folder. size and mtime_ns are the file's when
    // the row was written: a file changed behind our back no longer matches and is re-hashed.
    // Keys compare as bytes (BINARY collation), which is S3's UTF-8 list order.
    R"sql(
    CREATE TABLE s3_objects (
        bucket       TEXT NOT NULL,
        key          TEXT NOT NULL,
        size         INTEGER NOT NULL,
        mtime_ns     INTEGER NOT NULL,
        etag         TEXT NOT NULL,  -- hex MD5, or hex-N for a multipart upload; no quotes
        content_type TEXT NOT NULL,  -- '' when the client sent none
        metadata     TEXT NOT NULL,  -- x-amz-meta-* as a JSON object
        PRIMARY KEY (bucket, key)
    ) WITHOUT ROWID;
    )sql",
};
constexpr int schema_version = static_cast<int>(std::size(migrations));

[[noreturn]] void fail(sqlite3* db, std::string_view what) {
    throw std::runtime_error("sqlite: " + std::string(what) + ": " + sqlite3_errmsg(db));
}

void exec(sqlite3* db, const char* sql, std::string_view what) {
    char* message = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
        const std::string text = message != nullptr ? message : sqlite3_errmsg(db);
        sqlite3_free(message);
        throw std::runtime_error("sqlite: " + std::string(what) + ": " + text);
    }
}

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

/// A prepared statement, prepared once and reused. Bound text is not copied (SQLITE_STATIC): the
/// caller keeps it alive until the statement is reset, which `reset_guard` does at scope exit.
class statement {
public:
    statement(sqlite3* db, std::string_view sql) : db_(db) {
        // PERSISTENT: these live as long as the connection, so SQLite keeps them out of lookaside.
        if (sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                               &stmt_, nullptr) != SQLITE_OK) {
            fail(db, "prepare " + std::string(sql));
        }
    }
    ~statement() { sqlite3_finalize(stmt_); }
    statement(const statement&) = delete;
    statement& operator=(const statement&) = delete;

    void bind(int index, std::string_view text) {
        // An empty string_view may have a null data(), which SQLite would bind as NULL.
        const char* data = text.data() != nullptr ? text.data() : "";
        check(sqlite3_bind_text64(stmt_, index, data, text.size(), SQLITE_STATIC, SQLITE_UTF8));
    }
    void bind(int index, std::int64_t value) { check(sqlite3_bind_int64(stmt_, index, value)); }
    void bind(int index, double value) {
        // SQLite turns NaN into NULL itself; say so explicitly.
        if (std::isnan(value)) {
            check(sqlite3_bind_null(stmt_, index));
        } else {
            check(sqlite3_bind_double(stmt_, index, value));
        }
    }
    void bind(int index, std::optional<int> value) {
        if (value) {
            check(sqlite3_bind_int64(stmt_, index, *value));
        } else {
            check(sqlite3_bind_null(stmt_, index));
        }
    }

    /// Steps once: true when a row is available.
    bool step() {
        const int rc = sqlite3_step(stmt_);
        if (rc == SQLITE_ROW) return true;
        if (rc == SQLITE_DONE) return false;
        fail(db_, sqlite3_sql(stmt_));
    }
    /// Runs a statement that returns no rows.
    void run() {
        while (step()) {
        }
    }
    /// Runs and resets at once, for statements without parameters (BEGIN, COMMIT...).
    void run_once() {
        struct resetter {
            statement& s;
            ~resetter() { s.reset(); }
        } guard{*this};
        run();
    }

    bool is_null(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }
    std::int64_t int64(int column) const { return sqlite3_column_int64(stmt_, column); }
    double real(int column) const {
        return is_null(column) ? std::numeric_limits<double>::quiet_NaN() : sqlite3_column_double(stmt_, column);
    }
    std::optional<std::int64_t> optional_int64(int column) const {
        if (is_null(column)) return std::nullopt;
        return int64(column);
    }
    std::string text(int column) const {
        const auto* data = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
        if (data == nullptr) return {};
        return std::string(data, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column)));
    }

    /// Ready for the next use; also drops bindings so no dangling pointer stays bound.
    void reset() {
        sqlite3_reset(stmt_);
        sqlite3_clear_bindings(stmt_);
    }

private:
    void check(int rc) {
        if (rc != SQLITE_OK) fail(db_, "bind");
    }

    sqlite3* db_;
    sqlite3_stmt* stmt_ = nullptr;
};

/// Resets a statement when the scope ends, whether it ran to completion or threw.
struct reset_guard {
    statement& stmt;
    ~reset_guard() { stmt.reset(); }
};

}  // namespace

struct store::statements {
    explicit statements(sqlite3* db)
        : begin(db, "BEGIN IMMEDIATE"),
          commit(db, "COMMIT"),
          rollback(db, "ROLLBACK"),
          upsert_job(db,
                     "INSERT INTO training_jobs (name, creation_time, status, record) VALUES (?1, ?2, ?3, ?4) "
                     "ON CONFLICT (name) DO UPDATE SET creation_time = excluded.creation_time, "
                     "status = excluded.status, record = excluded.record"),
          select_jobs(db, "SELECT name, record FROM training_jobs ORDER BY creation_time, name"),
          upsert_tuning_job(db,
                            "INSERT INTO tuning_jobs (name, creation_time, record) VALUES (?1, ?2, ?3) "
                            "ON CONFLICT (name) DO UPDATE SET record = excluded.record"),
          select_tuning_jobs(db, "SELECT record FROM tuning_jobs ORDER BY creation_time, name"),
          upsert_tag(db,
                     "INSERT INTO tags (resource_arn, key, value) VALUES (?1, ?2, ?3) "
                     "ON CONFLICT (resource_arn, key) DO UPDATE SET value = excluded.value"),
          delete_tag(db, "DELETE FROM tags WHERE resource_arn = ?1 AND key = ?2"),
          select_tags(db, "SELECT resource_arn, key, value FROM tags ORDER BY resource_arn, id"),
          insert_metric(db,
                        "INSERT INTO metric_points (job_name, name, value, timestamp, epoch) "
                        "VALUES (?1, ?2, ?3, ?4, ?5)"),
          select_metrics(db,
                         "SELECT name, value, timestamp, epoch FROM metric_points WHERE job_name = ?1 ORDER BY id"),
          insert_stream(db,
                        "INSERT INTO log_streams (name, creation_time_ms) VALUES (?1, ?2) "
                        "ON CONFLICT (name) DO NOTHING"),
          select_stream_tail(db, "SELECT id, event_count FROM log_streams WHERE name = ?1"),
          insert_event(db,
                       "INSERT INTO log_events (stream_id, idx, timestamp_ms, ingestion_ms, message) "
                       "VALUES (?1, ?2, ?3, ?4, ?5)"),
          update_stream(db,
                        "UPDATE log_streams SET "
                        "first_event_ms = min(coalesce(first_event_ms, ?2), ?2), "
                        "last_event_ms = max(coalesce(last_event_ms, ?3), ?3), "
                        "last_ingestion_ms = max(coalesce(last_ingestion_ms, ?4), ?4), "
                        "event_count = event_count + ?5, stored_bytes = stored_bytes + ?6 "
                        "WHERE id = ?1"),
          // A range scan from the prefix on: names that start with it sort right after it, so the
          // caller stops at the first that does not (no LIKE, so '%' and '_' are literal).
          select_streams_from(db,
                              "SELECT name, creation_time_ms, first_event_ms, last_event_ms, last_ingestion_ms, "
                              "event_count, stored_bytes FROM log_streams WHERE name >= ?1 ORDER BY name"),
          select_events(db,
                        "SELECT timestamp_ms, ingestion_ms, message FROM log_events "
                        "WHERE stream_id = (SELECT id FROM log_streams WHERE name = ?1) AND idx >= ?2 "
                        "ORDER BY idx LIMIT ?3"),
          upsert_object(db,
                        "INSERT INTO s3_objects (bucket, key, size, mtime_ns, etag, content_type, metadata) "
                        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (bucket, key) DO UPDATE SET "
                        "size = excluded.size, mtime_ns = excluded.mtime_ns, etag = excluded.etag, "
                        "content_type = excluded.content_type, metadata = excluded.metadata"),
          select_object(db,
                        "SELECT key, size, mtime_ns, etag, content_type, metadata FROM s3_objects "
                        "WHERE bucket = ?1 AND key = ?2"),
          // Range scan from the prefix, as for log streams: the caller stops at the first miss.
          select_objects_from(db,
                              "SELECT key, size, mtime_ns, etag, content_type, metadata FROM s3_objects "
                              "WHERE bucket = ?1 AND key >= ?2 ORDER BY key"),
          delete_object(db, "DELETE FROM s3_objects WHERE bucket = ?1 AND key = ?2"),
          delete_bucket_objects(db, "DELETE FROM s3_objects WHERE bucket = ?1") {}

    statement begin, commit, rollback;
    statement upsert_job, select_jobs;
    statement upsert_tuning_job, select_tuning_jobs;
    statement upsert_tag, delete_tag, select_tags;
    statement insert_metric, select_metrics;
    statement insert_stream, select_stream_tail, insert_event, update_stream, select_streams_from, select_events;
    statement upsert_object, select_object, select_objects_from, delete_object, delete_bucket_objects;
};

namespace {

/// BEGIN IMMEDIATE ... COMMIT, rolled back if the scope ends without commit().
template <typename statements_t>
class transaction {
public:
    explicit transaction(statements_t& s) : s_(s) { s_.begin.run_once(); }
    ~transaction() {
        if (!committed_) {
            try {
                s_.rollback.run_once();
            } catch (...) {
                // Nothing more to do: SQLite rolls back on its own when it cannot continue.
            }
        }
    }
    transaction(const transaction&) = delete;
    transaction& operator=(const transaction&) = delete;

    void commit() {
        s_.commit.run_once();
        committed_ = true;
    }

private:
    statements_t& s_;
    bool committed_ = false;
};

/// Creates or upgrades the schema, all inside one write transaction.
void migrate(sqlite3* db) {
    exec(db, "BEGIN IMMEDIATE", "begin schema transaction");
    try {
        int version = 0;
        {
            statement read_version(db, "PRAGMA user_version");
            if (read_version.step()) version = static_cast<int>(read_version.int64(0));
        }
        if (version > schema_version) {
            throw std::runtime_error("sqlite: database schema version " + std::to_string(version) +
                                     " is newer than this smlocal supports (" + std::to_string(schema_version) +
                                     ")");
        }
        for (int step = version; step < schema_version; ++step) {
            exec(db, migrations[step], "migrate schema to version " + std::to_string(step + 1));
        }
        if (version != schema_version) {
            exec(db, ("PRAGMA user_version = " + std::to_string(schema_version)).c_str(), "set user_version");
        }
        exec(db, "COMMIT", "commit schema");
    } catch (...) {
        sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
    }
}

/// Opens a connection without SQLite's own mutexes: each connection here has a single user.
sqlite3* open_connection(const std::filesystem::path& db_file) {
    sqlite3* db = nullptr;
    const int rc =
        sqlite3_open_v2(db_file.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
        const std::string message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
        sqlite3_close(db);
        throw std::runtime_error("sqlite: open " + db_file.string() + ": " + message);
    }
    // Wait for a lock held by another process (sqlite3 shell, a second instance) instead of
    // failing at once with SQLITE_BUSY.
    sqlite3_busy_timeout(db, 5000);
    return db;
}

// SQLite's own auto-checkpoint threshold, in WAL pages.
constexpr int checkpoint_after_pages = 1000;

}  // namespace

/// SQLite checkpoints the WAL inside whichever commit crosses the threshold, and a checkpoint
/// fsyncs: that commit stalls for milliseconds. Instead the commit only signals this thread, which
/// runs a PASSIVE checkpoint (never blocks writers or readers) on a connection of its own.
class store::checkpointer {
public:
    explicit checkpointer(const std::filesystem::path& db_file) : db_(open_connection(db_file)) {
        try {
            // A fresh connection does not know the file is in WAL mode until it reads it; until
            // then every checkpoint call is a silent no-op.
            exec(db_, "PRAGMA journal_mode = WAL", "checkpointer journal_mode");
        } catch (...) {
            sqlite3_close(db_);
            throw;
        }
        thread_ = std::thread([this] { run(); });
    }
    ~checkpointer() {
        {
            const std::lock_guard lock(mutex_);
            stop_ = true;
        }
        wake_.notify_one();
        thread_.join();
        sqlite3_close(db_);
    }
    checkpointer(const checkpointer&) = delete;
    checkpointer& operator=(const checkpointer&) = delete;

    /// sqlite3_wal_hook callback, called after each commit of the main connection.
    static int on_commit(void* self, sqlite3*, const char*, int wal_pages) {
        if (wal_pages >= checkpoint_after_pages) static_cast<checkpointer*>(self)->request();
        return SQLITE_OK;
    }

private:
    void request() {
        {
            const std::lock_guard lock(mutex_);
            requested_ = true;
        }
        wake_.notify_one();
    }

    void run() {
        std::unique_lock lock(mutex_);
        for (;;) {
            wake_.wait(lock, [this] { return requested_ || stop_; });
            if (stop_) return;
            requested_ = false;
            lock.unlock();
            // A failed or partial checkpoint is harmless: the next request, or the final close,
            // checkpoints again.
            sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
            lock.lock();
        }
    }

    sqlite3* db_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool requested_ = false;
    bool stop_ = false;
    std::thread thread_;
};

store::store(const std::filesystem::path& db_file) {
    if (db_file.has_parent_path()) std::filesystem::create_directories(db_file.parent_path());

    db_ = open_connection(db_file);
    try {
        // WAL + synchronous=NORMAL: a commit is in the OS before it returns, so it survives kill -9
        // of the process (not a power cut), without an fsync per commit.
        exec(db_, "PRAGMA journal_mode = WAL", "set journal_mode");
        exec(db_, "PRAGMA synchronous = NORMAL", "set synchronous");
        exec(db_, "PRAGMA foreign_keys = ON", "set foreign_keys");
        migrate(db_);
        statements_ = std::make_unique<statements>(db_);
        // Replaces SQLite's in-commit auto-checkpoint.
        checkpointer_ = std::make_unique<checkpointer>(db_file);
        sqlite3_wal_hook(db_, &checkpointer::on_commit, checkpointer_.get());
    } catch (...) {
        checkpointer_.reset();
        statements_.reset();
        sqlite3_close(db_);
        db_ = nullptr;
        throw;
    }
}

store::~store() {
    // The checkpointer's connection goes first, so that closing the main one (the last) checkpoints
    // the WAL into the database file. Statements must be finalised before their connection closes.
    sqlite3_wal_hook(db_, nullptr, nullptr);
    checkpointer_.reset();
    statements_.reset();
    sqlite3_close(db_);
}

void store::put_training_job(const training_job& job) {
    // Container output can reach failure_reason; never let invalid UTF-8 fail a write.
    const std::string record =
        to_record_json(job).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    const std::lock_guard lock(mutex_);
    auto& q = statements_->upsert_job;
    reset_guard guard{q};
    q.bind(1, job.name);
    q.bind(2, job.creation_time);
    q.bind(3, to_string(job.status));
    q.bind(4, record);
    q.run();
}

std::vector<training_job> store::load_training_jobs() {
    const std::lock_guard lock(mutex_);
    auto& q = statements_->select_jobs;
    reset_guard guard{q};
    std::vector<training_job> jobs;
    while (q.step()) {
        const std::string name = q.text(0);
        try {
            jobs.push_back(from_record_json(nlohmann::json::parse(q.text(1))));
        } catch (const nlohmann::json::exception& e) {
            throw std::runtime_error("stored record of training job '" + name + "' is unreadable: " + e.what());
        }
    }
    return jobs;
}

void store::put_tuning_job(const std::string& name, double creation_time, const nlohmann::json& record) {
    const std::string text = record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    const std::lock_guard lock(mutex_);
    auto& q = statements_->upsert_tuning_job;
    reset_guard guard{q};
    q.bind(1, name);
    q.bind(2, creation_time);
    q.bind(3, text);
    q.run();
}

std::vector<nlohmann::json> store::load_tuning_jobs() {
    const std::lock_guard lock(mutex_);
    auto& q = statements_->select_tuning_jobs;
    reset_guard guard{q};
    std::vector<nlohmann::json> records;
    while (q.step()) records.push_back(nlohmann::json::parse(q.text(0)));
    return records;
}

void store::put_tags(const std::string& resource_arn, const std::vector<tag>& tags) {
    const std::lock_guard lock(mutex_);
    transaction tx(*statements_);
    auto& q = statements_->upsert_tag;
    for (const auto& t : tags) {
        reset_guard guard{q};
        q.bind(1, resource_arn);
        q.bind(2, t.key);
        q.bind(3, t.value);
        q.run();
    }
    tx.commit();
}

void store::delete_tags(const std::string& resource_arn, const std::vector<std::string>& keys) {
    const std::lock_guard lock(mutex_);
    transaction tx(*statements_);
    auto& q = statements_->delete_tag;
    for (const auto& key : keys) {
        reset_guard guard{q};
        q.bind(1, resource_arn);
        q.bind(2, key);
        q.run();
    }
    tx.commit();
}

std::vector<std::pair<std::string, std::vector<tag>>> store::load_tags() {
    const std::lock_guard lock(mutex_);
    auto& q = statements_->select_tags;
    reset_guard guard{q};
    std::vector<std::pair<std::string, std::vector<tag>>> resources;
    while (q.step()) {
        std::string arn = q.text(0);
        // Rows come grouped by ARN: start a new resource when the ARN changes.
        if (resources.empty() || resources.back().first != arn) resources.emplace_back(std::move(arn), std::vector<tag>{});
        resources.back().second.push_back(tag{q.text(1), q.text(2)});
    }
    return resources;
}

void store::append_metric_points(const std::string& job_name, const std::vector<metric_point>& points) {
    if (points.empty()) return;
    const std::lock_guard lock(mutex_);
    transaction tx(*statements_);
    auto& q = statements_->insert_metric;
    for (const auto& point : points) {
        reset_guard guard{q};
        q.bind(1, job_name);
        q.bind(2, point.name);
        q.bind(3, point.value);
        q.bind(4, point.timestamp);
        q.bind(5, point.epoch);
        q.run();
    }
    tx.commit();
}

std::vector<metric_point> store::metric_series(const std::string& job_name) {
    const std::lock_guard lock(mutex_);
    auto& q = statements_->select_metrics;
    reset_guard guard{q};
    q.bind(1, job_name);
    std::vector<metric_point> points;
    while (q.step()) {
        metric_point point;
        point.name = q.text(0);
        point.value = q.real(1);
        point.timestamp = q.real(2);
        if (!q.is_null(3)) point.epoch = static_cast<int>(q.int64(3));
        points.push_back(std::move(point));
    }
    return points;
}

void store::append_log_events(const std::string& stream_name, const std::vector<log_event>& events) {
    const std::int64_t now = now_ms();

    // The batch's aggregates, folded into the stream row with one UPDATE.
    std::int64_t first_ms = std::numeric_limits<std::int64_t>::max();
    std::int64_t last_ms = std::numeric_limits<std::int64_t>::min();
    std::int64_t last_ingestion_ms = std::numeric_limits<std::int64_t>::min();
    std::int64_t bytes = 0;
    for (const auto& event : events) {
        first_ms = std::min(first_ms, event.timestamp_ms);
        last_ms = std::max(last_ms, event.timestamp_ms);
        last_ingestion_ms = std::max(last_ingestion_ms, event.ingestion_time_ms != 0 ? event.ingestion_time_ms : now);
        bytes += static_cast<std::int64_t>(event.message.size());
    }

    const std::lock_guard lock(mutex_);
    transaction tx(*statements_);
    auto& s = *statements_;
    {
        reset_guard guard{s.insert_stream};
        s.insert_stream.bind(1, stream_name);
        s.insert_stream.bind(2, events.empty() ? now : events.front().timestamp_ms);
        s.insert_stream.run();
    }
    std::int64_t stream_id = 0;
    std::int64_t next_index = 0;
    {
        // The next index is the event count, read inside the write transaction so that concurrent
        // appends (serialised by the lock) never reuse one.
        reset_guard guard{s.select_stream_tail};
        s.select_stream_tail.bind(1, stream_name);
        if (!s.select_stream_tail.step()) throw std::runtime_error("sqlite: log stream vanished: " + stream_name);
        stream_id = s.select_stream_tail.int64(0);
        next_index = s.select_stream_tail.int64(1);
    }
    if (!events.empty()) {
        auto& q = s.insert_event;
        for (const auto& event : events) {
            reset_guard guard{q};
            q.bind(1, stream_id);
            q.bind(2, next_index++);
            q.bind(3, event.timestamp_ms);
            q.bind(4, event.ingestion_time_ms != 0 ? event.ingestion_time_ms : now);
            q.bind(5, event.message);
            q.run();
        }
        reset_guard guard{s.update_stream};
        s.update_stream.bind(1, stream_id);
        s.update_stream.bind(2, first_ms);
        s.update_stream.bind(3, last_ms);
        s.update_stream.bind(4, last_ingestion_ms);
        s.update_stream.bind(5, static_cast<std::int64_t>(events.size()));
        s.update_stream.bind(6, bytes);
        s.update_stream.run();
    }
    tx.commit();
}

std::vector<log_stream_info> store::log_streams(const std::string& name_prefix) {
    const std::lock_guard lock(mutex_);
    auto& q = statements_->select_streams_from;
    reset_guard guard{q};
    q.bind(1, name_prefix);
    std::vector<log_stream_info> streams;
    while (q.step()) {
        std::string name = q.text(0);
        if (!name.starts_with(name_prefix)) break;
        log_stream_info info;
        info.name = std::move(name);
        info.creation_time_ms = q.int64(1);
        info.first_event_ms = q.optional_int64(2);
        info.last_event_ms = q.optional_int64(3);
        info.last_ingestion_ms = q.optional_int64(4);
        info.event_count = q.int64(5);
        info.stored_bytes = q.int64(6);
        streams.push_back(std::move(info));
    }
    return streams;
}

std::vector<log_event> store::log_events(const std::string& stream_name, std::int64_t first_index, std::int64_t limit) {
    std::vector<log_event> events;
    // Indexes start at 0: a negative start only shortens the window.
    if (first_index < 0) {
        limit += first_index;
        first_index = 0;
    }
    if (limit <= 0) return events;
    const std::lock_guard lock(mutex_);
    auto& q = statements_->select_events;
    reset_guard guard{q};
    q.bind(1, stream_name);
    q.bind(2, first_index);
    q.bind(3, limit);
    while (q.step()) {
        events.push_back(log_event{q.int64(0), q.int64(1), q.text(2)});
    }
    return events;
}

namespace {

s3_object_row read_object_row(const statement& q, std::string bucket) {
    s3_object_row row;
    row.bucket = std::move(bucket);
    row.key = q.text(0);
    row.size = q.int64(1);
    row.mtime_ns = q.int64(2);
    row.etag = q.text(3);
    row.content_type = q.text(4);
    row.metadata_json = q.text(5);
    return row;
}

}  // namespace

void store::put_s3_object(const s3_object_row& row) {
    const std::lock_guard lock(mutex_);
    auto& q = statements_->upsert_object;
    reset_guard guard{q};
    q.bind(1, row.bucket);
    q.bind(2, row.key);
    q.bind(3, row.size);
    q.bind(4, row.mtime_ns);
    q.bind(5, row.etag);
    q.bind(6, row.content_type);
    q.bind(7, row.metadata_json);
    q.run();
}

std::optional<s3_object_row> store::s3_object(const std::string& bucket, const std::string& key) {
    const std::lock_guard lock(mutex_);
    auto& q = statements_->select_object;
    reset_guard guard{q};
    q.bind(1, bucket);
    q.bind(2, key);
    if (!q.step()) return std::nullopt;
    return read_object_row(q, bucket);
}

std::vector<s3_object_row> store::s3_objects(const std::string& bucket, const std::string& key_prefix) {
    const std::lock_guard lock(mutex_);
    auto& q = statements_->select_objects_from;
    reset_guard guard{q};
    q.bind(1, bucket);
    q.bind(2, key_prefix);
    std::vector<s3_object_row> rows;
    while (q.step()) {
        if (!q.text(0).starts_with(key_prefix)) break;
        rows.push_back(read_object_row(q, bucket));
    }
    return rows;
}

void store::delete_s3_object(const std::string& bucket, const std::string& key) {
    const std::lock_guard lock(mutex_);
    auto& q = statements_->delete_object;
    reset_guard guard{q};
    q.bind(1, bucket);
    q.bind(2, key);
    q.run();
}

void store::delete_s3_bucket_objects(const std::string& bucket) {
    const std::lock_guard lock(mutex_);
    auto& q = statements_->delete_bucket_objects;
    reset_guard guard{q};
    q.bind(1, bucket);
    q.run();
}

}  // namespace smlocal
