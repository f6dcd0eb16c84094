#pragma once
// Durable state in SQLite (WAL): training jobs, tags, metric series and CloudWatch-style log
// streams. Every method is thread-safe and commits before it returns, so a kill -9 loses nothing
// that a client was told about.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "emulator/training_job.hpp"

struct sqlite3;

namespace smlocal {

struct tag {
    std::string key;
    std::string value;
    bool operator==(const tag&) const = default;
};

/// One CloudWatch Logs event. Timestamps are epoch milliseconds.
struct log_event {
    std::int64_t timestamp_ms = 0;
    std::int64_t ingestion_time_ms = 0;
    std::string message;
};

struct log_stream_info {
    std::string name;  // <job>/algo-N-<epoch seconds>
    std::int64_t creation_time_ms = 0;
    std::optional<std::int64_t> first_event_ms;
    std::optional<std::int64_t> last_event_ms;
    std::optional<std::int64_t> last_ingestion_ms;
    std::int64_t event_count = 0;
    std::int64_t stored_bytes = 0;
};

/// What we know of one object in the local S3 folder beyond its bytes (object_store).
struct s3_object_row {
    std::string bucket;
    std::string key;
    std::int64_t size = 0;      // of the file when the row was written
    std::int64_t mtime_ns = 0;  // of the file when the row was written (ns since the epoch)
    std::string etag;           // hex MD5, or "<hex>-<parts>"; no quotes
    std::string content_type;   // "" when none was given
    std::string metadata_json;  // x-amz-meta-* as a JSON object
    bool operator==(const s3_object_row&) const = default;
};

class store {
public:
    /// Opens (creating if needed) the database file and its schema. Throws std::runtime_error.
    explicit store(const std::filesystem::path& db_file);
    ~store();
    store(const store&) = delete;
    store& operator=(const store&) = delete;

    // Training jobs. `put` inserts or replaces the whole record.
    void put_training_job(const training_job& job);
    /// Every stored job, ordered by creation time, then name.
    std::vector<training_job> load_training_jobs();

    // Hyperparameter tuning jobs: one JSON record each (emulator/tuning), in creation order.
    void put_tuning_job(const std::string& name, double creation_time, const nlohmann::json& record);
    std::vector<nlohmann::json> load_tuning_jobs();

    // Tags, keyed by resource ARN (lower-cased by the caller), in insertion order.
    /// Adds the tags; an existing key gets the new value and keeps its place.
    void put_tags(const std::string& resource_arn, const std::vector<tag>& tags);
    /// Removes the keys; keys the resource does not have are ignored.
    void delete_tags(const std::string& resource_arn, const std::vector<std::string>& keys);
    /// Every resource that has tags (ordered by ARN) with its tags in insertion order.
    std::vector<std::pair<std::string, std::vector<tag>>> load_tags();

    // Metric series of one job, appended as they are observed.
    void append_metric_points(const std::string& job_name, const std::vector<metric_point>& points);
    /// The job's points in append order (a NaN value reads back as NaN).
    std::vector<metric_point> metric_series(const std::string& job_name);

    // Log streams: created on first append; events are append-only and addressed by index.
    /// Appends `events` at the next indexes (0, 1, 2, ...) in one transaction, creating the stream
    /// first if needed (creation time = first event's timestamp, or now for an empty append). An
    /// ingestion time of 0 is stored as now.
    void append_log_events(const std::string& stream_name, const std::vector<log_event>& events);
    /// The streams whose name starts with `name_prefix` (a literal prefix), ordered by name.
    std::vector<log_stream_info> log_streams(const std::string& name_prefix);
    /// Events [first_index, first_index + limit) of a stream, in order; empty for an unknown stream.
    std::vector<log_event> log_events(const std::string& stream_name, std::int64_t first_index, std::int64_t limit);

    // S3 object metadata, keyed by (bucket, key).
    /// Inserts or replaces the row.
    void put_s3_object(const s3_object_row& row);
    std::optional<s3_object_row> s3_object(const std::string& bucket, const std::string& key);
    /// The bucket's rows whose key starts with `key_prefix` (literal), in byte order of the key.
    std::vector<s3_object_row> s3_objects(const std::string& bucket, const std::string& key_prefix);
    /// Removes the row, if any.
    void delete_s3_object(const std::string& bucket, const std::string& key);
    /// Removes every row of the bucket.
    void delete_s3_bucket_objects(const std::string& bucket);

private:
    struct statements;    // every statement, prepared once in the constructor
    class checkpointer;   // moves WAL checkpoints (and their fsyncs) off the writing thread

    std::mutex mutex_;  // one connection, used by one thread at a time
    sqlite3* db_ = nullptr;
    std::unique_ptr<statements> statements_;
    std::unique_ptr<checkpointer> checkpointer_;
};

}  // namespace smlocal
