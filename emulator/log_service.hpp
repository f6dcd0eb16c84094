#pragma once
// CloudWatch Logs over the training log streams the store keeps: the one log group
// /aws/sagemaker/TrainingJobs, its streams (<job>/algo-N-<epoch seconds>), and their events.
// Domain only: plain request and result structs, no JSON, no HTTP (api/logs/ does the wire).
//
// LIMITATIONS vs real CloudWatch Logs (spec/logs.md):
// - One log group, /aws/sagemaker/TrainingJobs, which always exists; its creationTime is the
//   earlier of the server start and the oldest stream. No retention, KMS, data protection,
//   metric filters, subscriptions, PutLogEvents or live tail.
// - GetLogEvents tokens are `f/<20-digit index><20-digit stream tag>` and `b/...` over the
//   stream's append-only event list (real ones are 56 digits); the tag ties a token to its
//   stream. The token's direction decides the direction even when startFromHead disagrees (AWS
//   asks for startFromHead=true with a forward token but does not document what happens
//   otherwise).
// - Timestamps of one stream are taken to be non-decreasing in append order (they are: each is
//   the time the line was read); startTime/endTime are found by binary search on that order.
// - Empty lines are stored but never returned (CloudWatch has no empty events: EventMessage has
//   min length 1); they still occupy an index, so tokens skip them.
// - FilterLogEvents understands terms (all must appear, case-sensitive), "quoted phrases",
//   -exclusions and ?alternatives (at least one must appear); JSON ({ $.x = ... }) and
//   space-delimited ([a, b]) patterns are refused with InvalidParameterException. Results are
//   always interleaved across streams, ordered by (timestamp, stream name, index); nextToken is a
//   cursor after the last event returned. Names in logStreamNames that do not exist are skipped.
// - Messages of InvalidParameterException for the semantic checks are our own wording.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "emulator/store.hpp"

namespace smlocal {

/// The log group every training job writes to.
inline constexpr std::string_view training_log_group = "/aws/sagemaker/TrainingJobs";

/// Which log group a request names: logGroupName or logGroupIdentifier (a name or an ARN).
struct log_group_ref {
    std::optional<std::string> name;
    std::optional<std::string> identifier;
};

// ---- DescribeLogGroups ----

struct describe_log_groups_query {
    std::optional<std::string> name_prefix;       // logGroupNamePrefix
    std::optional<std::string> name_pattern;      // logGroupNamePattern: case-insensitive substring
    std::vector<std::string> identifiers;         // logGroupIdentifiers: names or ARNs
    std::optional<std::string> log_group_class;   // logGroupClass
    int limit = 50;
    std::optional<std::string> next_token;
};

struct log_group_description {
    std::string name;
    std::int64_t creation_time_ms = 0;
    std::string arn;            // ...:log-group:<name>:*
    std::string log_group_arn;  // ...:log-group:<name>
    std::int64_t stored_bytes = 0;
};

struct log_group_page {
    std::vector<log_group_description> groups;
    std::optional<std::string> next_token;
};

// ---- DescribeLogStreams ----

struct describe_log_streams_query {
    log_group_ref group;
    std::optional<std::string> name_prefix;  // logStreamNamePrefix
    bool order_by_last_event_time = false;   // orderBy=LastEventTime (default LogStreamName)
    bool descending = false;
    int limit = 50;
    std::optional<std::string> next_token;
};

struct log_stream_description {
    log_stream_info info;
    std::string arn;
};

struct log_stream_page {
    std::vector<log_stream_description> streams;
    /// Present only when more streams remain (SDK v2 loops while it is present).
    std::optional<std::string> next_token;
};

// ---- GetLogEvents ----

struct get_log_events_query {
    log_group_ref group;
    std::string stream_name;
    std::optional<std::int64_t> start_time_ms;  // inclusive
    std::optional<std::int64_t> end_time_ms;    // exclusive
    std::optional<std::string> next_token;
    std::optional<int> limit;                   // default: 10,000 or what fits in 1 MB
    bool start_from_head = false;
};

struct log_events_page {
    std::vector<log_event> events;  // oldest first
    std::string next_forward_token;
    std::string next_backward_token;
};

// ---- FilterLogEvents ----

struct filter_log_events_query {
    log_group_ref group;
    std::vector<std::string> stream_names;  // logStreamNames (empty: not given)
    std::optional<std::string> stream_name_prefix;
    std::optional<std::int64_t> start_time_ms;  // inclusive
    std::optional<std::int64_t> end_time_ms;    // inclusive, as AWS documents for this operation
    std::string filter_pattern;
    std::optional<int> limit;  // default 10,000
    std::optional<std::string> next_token;
};

struct filtered_log_event {
    std::string stream_name;
    std::int64_t timestamp_ms = 0;
    std::int64_t ingestion_time_ms = 0;
    std::string message;
    std::string event_id;
};

struct searched_log_stream {
    std::string name;
    bool searched_completely = false;
};

struct filtered_log_events_page {
    std::vector<filtered_log_event> events;
    std::vector<searched_log_stream> searched_streams;
    /// Present only when more matching events remain.
    std::optional<std::string> next_token;
};

/// A parsed filterPattern: terms that must all appear, terms that must not, and alternatives of
/// which one must appear. Matching is case-sensitive substring search, as CloudWatch's.
class filter_pattern {
public:
    /// Throws service_error InvalidParameterException for a pattern we cannot interpret.
    static filter_pattern parse(std::string_view text);
    bool matches(std::string_view message) const;
    bool matches_everything() const { return required_.empty() && excluded_.empty() && optional_.empty(); }

private:
    std::vector<std::string> required_, excluded_, optional_;
};

/// Serves the Logs operations over the store's streams. Thread-safe (the store is; nothing else is
/// kept). Every method throws service_error: ResourceNotFoundException for an unknown group or
/// stream, InvalidParameterException for a bad token or a contradictory request.
class log_service {
public:
    log_service(store& db, std::string region, std::string account_id, std::int64_t server_start_ms);

    log_group_page describe_log_groups(const describe_log_groups_query& query) const;
    log_stream_page describe_log_streams(const describe_log_streams_query& query) const;
    log_events_page get_log_events(const get_log_events_query& query) const;
    filtered_log_events_page filter_log_events(const filter_log_events_query& query) const;

    /// arn:aws:logs:<region>:<account>:log-group:<group>:log-stream:<stream>
    std::string stream_arn(const std::string& stream_name) const;

private:
    /// Throws unless `group` names the training log group.
    void resolve_group(const log_group_ref& group) const;
    std::string group_arn() const;
    std::optional<log_stream_info> find_stream(const std::string& name) const;
    /// First index whose timestamp is >= `timestamp_ms` among [0, count): a binary search.
    std::int64_t lower_bound(const std::string& stream, std::int64_t count, std::int64_t timestamp_ms) const;

    store& store_;
    std::string region_;
    std::string account_id_;
    std::int64_t server_start_ms_;
};

}  // namespace smlocal
