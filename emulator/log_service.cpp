#include "emulator/log_service.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <queue>
#include <set>
#include <utility>

#include "emulator/errors.hpp"

namespace smlocal {
namespace {

// What one response may carry: AWS caps GetLogEvents and FilterLogEvents at 1 MB, counting each
// event as its message plus 26 bytes (the PutLogEvents accounting).
constexpr std::int64_t max_response_bytes = 1'048'576;
constexpr std::int64_t event_overhead_bytes = 26;
constexpr int max_events_limit = 10'000;
// Events read from the store per query: a page never loads a whole stream.
constexpr std::int64_t read_chunk = 1'000;

service_error invalid_parameter(const std::string& message) {
    return service_error(error_code::invalid_parameter, message);
}

service_error invalid_token() { return invalid_parameter("The specified nextToken is invalid."); }

service_error group_not_found() {
    return service_error(error_code::logs_resource_not_found, "The specified log group does not exist.");
}

service_error stream_not_found() {
    return service_error(error_code::logs_resource_not_found, "The specified log stream does not exist.");
}

std::int64_t event_cost(const log_event& event) {
    return static_cast<std::int64_t>(event.message.size()) + event_overhead_bytes;
}

// FNV-1a: stable across runs, so that tokens a client holds survive a server restart.
std::uint64_t stream_tag(std::string_view name) {
    std::uint64_t hash = 14695981039346656037ULL;
    for (const unsigned char c : name) {
        hash ^= c;
        hash *= 1099511628211ULL;
    }
    return hash;
}

std::string digits20(std::uint64_t value) {
    char text[32];
    std::snprintf(text, sizeof text, "%020llu", static_cast<unsigned long long>(value));
    return text;
}

std::optional<std::uint64_t> parse_digits(std::string_view text) {
    if (text.empty() || text.size() > 20) return std::nullopt;
    std::uint64_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc{} || end != text.data() + text.size()) return std::nullopt;
    return value;
}

/// GetLogEvents token: direction ('f' or 'b'), the event index, and the stream's tag.
std::string events_token(char direction, std::int64_t index, std::string_view stream) {
    return std::string(1, direction) + "/" + digits20(static_cast<std::uint64_t>(index)) + digits20(stream_tag(stream));
}

struct events_position {
    bool forward = true;
    std::int64_t index = 0;
};

/// Reads a token of ours for `stream` whose index is within [0, count]; throws otherwise.
events_position parse_events_token(std::string_view token, std::string_view stream, std::int64_t count) {
    if (token.size() != 42 || (token[0] != 'f' && token[0] != 'b') || token[1] != '/') throw invalid_token();
    const auto index = parse_digits(token.substr(2, 20));
    const auto tag = parse_digits(token.substr(22, 20));
    if (!index || !tag || *tag != stream_tag(stream) || *index > static_cast<std::uint64_t>(count))
        throw invalid_token();
    return {token[0] == 'f', static_cast<std::int64_t>(*index)};
}

std::string ascii_lower(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

// DescribeLogStreams / DescribeLogGroups cursors: the sort key of the last item returned.
struct list_cursor {
    std::int64_t time_ms = 0;  // only for orderBy=LastEventTime
    std::string name;
};

std::string name_cursor_token(const std::string& name) { return "n/" + name; }
std::string time_cursor_token(std::int64_t time_ms, const std::string& name) {
    return "t/" + std::to_string(time_ms) + "/" + name;
}

list_cursor parse_list_token(std::string_view token, bool by_time) {
    list_cursor cursor;
    if (!by_time) {
        if (!token.starts_with("n/") || token.size() < 3) throw invalid_token();
        cursor.name = std::string(token.substr(2));
        return cursor;
    }
    if (!token.starts_with("t/")) throw invalid_token();
    const std::string_view rest = token.substr(2);
    const auto slash = rest.find('/');
    if (slash == std::string_view::npos || slash + 1 >= rest.size()) throw invalid_token();
    const auto time = parse_digits(rest.substr(0, slash));
    if (!time) throw invalid_token();
    cursor.time_ms = static_cast<std::int64_t>(*time);
    cursor.name = std::string(rest.substr(slash + 1));
    return cursor;
}

// The time a stream sorts by under orderBy=LastEventTime; an empty stream by its creation.
std::int64_t last_event_key(const log_stream_info& info) { return info.last_event_ms.value_or(info.creation_time_ms); }

// FilterLogEvents cursor: the (timestamp, stream, index) of the last event returned.
struct filter_cursor {
    std::int64_t timestamp_ms = 0;
    std::int64_t index = 0;
    std::string stream;
};

std::string filter_cursor_token(const filter_cursor& cursor) {
    return "c/" + std::to_string(cursor.timestamp_ms) + "/" + std::to_string(cursor.index) + "/" + cursor.stream;
}

filter_cursor parse_filter_token(std::string_view token) {
    if (!token.starts_with("c/")) throw invalid_token();
    std::string_view rest = token.substr(2);
    const auto first = rest.find('/');
    if (first == std::string_view::npos) throw invalid_token();
    const auto second = rest.find('/', first + 1);
    if (second == std::string_view::npos || second + 1 >= rest.size()) throw invalid_token();
    const auto time = parse_digits(rest.substr(0, first));
    const auto index = parse_digits(rest.substr(first + 1, second - first - 1));
    if (!time || !index) throw invalid_token();
    return {static_cast<std::int64_t>(*time), static_cast<std::int64_t>(*index), std::string(rest.substr(second + 1))};
}

std::string event_id(std::string_view stream, std::int64_t index) {
    return digits20(stream_tag(stream)) + digits20(static_cast<std::uint64_t>(index));
}

int effective_limit(const std::optional<int>& limit) {
    return std::clamp(limit.value_or(max_events_limit), 1, max_events_limit);
}

}  // namespace

// ---- filter patterns ----

filter_pattern filter_pattern::parse(std::string_view text) {
    filter_pattern pattern;
    std::size_t i = 0;
    const auto skip_space = [&] {
        while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    };
    skip_space();
    if (i < text.size() && (text[i] == '{' || text[i] == '['))
        throw invalid_parameter(
            "smlocal supports filter patterns made of terms, \"quoted phrases\", -exclusions and ?alternatives; "
            "JSON and space-delimited patterns are not supported.");
    while (skip_space(), i < text.size()) {
        // An optional operator, then a quoted phrase or a bare term.
        std::vector<std::string>* target = &pattern.required_;
        if (text[i] == '-' && i + 1 < text.size() && !std::isspace(static_cast<unsigned char>(text[i + 1]))) {
            target = &pattern.excluded_;
            ++i;
        } else if (text[i] == '?' && i + 1 < text.size() && !std::isspace(static_cast<unsigned char>(text[i + 1]))) {
            target = &pattern.optional_;
            ++i;
        }
        std::string term;
        if (text[i] == '"') {
            ++i;
            bool closed = false;
            while (i < text.size()) {
                const char c = text[i++];
                if (c == '\\' && i < text.size()) {
                    term += text[i++];
                } else if (c == '"') {
                    closed = true;
                    break;
                } else {
                    term += c;
                }
            }
            if (!closed) throw invalid_parameter("Invalid filter pattern: a quoted phrase is not closed.");
        } else {
            while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i]))) term += text[i++];
        }
        if (!term.empty()) target->push_back(std::move(term));
    }
    return pattern;
}

bool filter_pattern::matches(std::string_view message) const {
    for (const auto& term : required_)
        if (message.find(term) == std::string_view::npos) return false;
    for (const auto& term : excluded_)
        if (message.find(term) != std::string_view::npos) return false;
    if (optional_.empty()) return true;
    return std::any_of(optional_.begin(), optional_.end(),
                       [&](const std::string& term) { return message.find(term) != std::string_view::npos; });
}

// ---- the service ----

log_service::log_service(store& db, std::string region, std::string account_id, std::int64_t server_start_ms)
    : store_(db), region_(std::move(region)), account_id_(std::move(account_id)), server_start_ms_(server_start_ms) {}

std::string log_service::group_arn() const {
    return "arn:aws:logs:" + region_ + ":" + account_id_ + ":log-group:" + std::string(training_log_group);
}

std::string log_service::stream_arn(const std::string& stream_name) const {
    return group_arn() + ":log-stream:" + stream_name;
}

void log_service::resolve_group(const log_group_ref& group) const {
    if (group.name && group.identifier)
        throw invalid_parameter("LogGroupName and LogGroupIdentifier are mutually exclusive parameters.");
    if (!group.name && !group.identifier)
        throw invalid_parameter("Either logGroupName or logGroupIdentifier must be specified.");
    if (group.name) {
        if (*group.name != training_log_group) throw group_not_found();
        return;
    }
    // An identifier is the name or the group's ARN (with or without the trailing ":*").
    const std::string& id = *group.identifier;
    if (id != training_log_group && id != group_arn() && id != group_arn() + ":*") throw group_not_found();
}

std::optional<log_stream_info> log_service::find_stream(const std::string& name) const {
    for (auto& info : store_.log_streams(name))
        if (info.name == name) return std::move(info);
    return std::nullopt;
}

std::int64_t log_service::lower_bound(const std::string& stream, std::int64_t count, std::int64_t timestamp_ms) const {
    std::int64_t low = 0, high = count;
    while (low < high) {
        const std::int64_t middle = low + (high - low) / 2;
        const auto probe = store_.log_events(stream, middle, 1);
        if (!probe.empty() && probe.front().timestamp_ms < timestamp_ms)
            low = middle + 1;
        else
            high = middle;
    }
    return low;
}

log_group_page log_service::describe_log_groups(const describe_log_groups_query& query) const {
    if (query.name_prefix && query.name_pattern)
        throw invalid_parameter("LogGroupNamePrefix and LogGroupNamePattern are mutually exclusive parameters.");
    if (query.next_token) {
        const list_cursor cursor = parse_list_token(*query.next_token, false);
        // The only group sorts at or before any cursor we hand out.
        if (cursor.name >= training_log_group) return {};
    }
    const std::string name(training_log_group);
    bool listed = true;
    if (query.name_prefix) listed = name.starts_with(*query.name_prefix);
    if (query.name_pattern) listed = ascii_lower(name).find(ascii_lower(*query.name_pattern)) != std::string::npos;
    if (query.log_group_class && *query.log_group_class != "STANDARD") listed = false;
    if (!query.identifiers.empty())
        listed = listed && std::any_of(query.identifiers.begin(), query.identifiers.end(), [&](const std::string& id) {
                     return id == name || id == group_arn() || id == group_arn() + ":*";
                 });
    log_group_page page;
    if (!listed) return page;

    log_group_description group;
    group.name = name;
    group.creation_time_ms = server_start_ms_;
    for (const auto& stream : store_.log_streams("")) {
        group.creation_time_ms = std::min(group.creation_time_ms, stream.creation_time_ms);
        group.stored_bytes += stream.stored_bytes;
    }
    group.arn = group_arn() + ":*";
    group.log_group_arn = group_arn();
    page.groups.push_back(std::move(group));
    return page;
}

log_stream_page log_service::describe_log_streams(const describe_log_streams_query& query) const {
    resolve_group(query.group);
    if (query.name_prefix && query.order_by_last_event_time)
        throw invalid_parameter("Cannot order by LastEventTime with a logStreamNamePrefix.");
    const int limit = std::clamp(query.limit, 1, 50);

    std::vector<log_stream_info> streams = store_.log_streams(query.name_prefix.value_or(""));
    const bool by_time = query.order_by_last_event_time;
    // Sort keys: (last event time, name) or (0, name); ascending, then reversed for descending.
    const auto key = [&](const log_stream_info& info) {
        return std::pair<std::int64_t, const std::string&>(by_time ? last_event_key(info) : 0, info.name);
    };
    if (by_time)
        std::stable_sort(streams.begin(), streams.end(),
                         [&](const log_stream_info& a, const log_stream_info& b) { return key(a) < key(b); });
    if (query.descending) std::reverse(streams.begin(), streams.end());

    // Resume strictly after the cursor, in the direction of the listing.
    std::size_t first = 0;
    if (query.next_token) {
        const list_cursor cursor = parse_list_token(*query.next_token, by_time);
        const std::pair<std::int64_t, const std::string&> at(cursor.time_ms, cursor.name);
        while (first < streams.size() && (query.descending ? !(key(streams[first]) < at) : !(at < key(streams[first]))))
            ++first;
    }

    log_stream_page page;
    const std::size_t end = std::min(streams.size(), first + static_cast<std::size_t>(limit));
    for (std::size_t i = first; i < end; ++i) page.streams.push_back({streams[i], stream_arn(streams[i].name)});
    // Only when more remain: SDK v2 loops while nextToken is present without passing it back.
    if (end < streams.size() && !page.streams.empty()) {
        const log_stream_info& last = page.streams.back().info;
        page.next_token = by_time ? time_cursor_token(last_event_key(last), last.name) : name_cursor_token(last.name);
    }
    return page;
}

log_events_page log_service::get_log_events(const get_log_events_query& query) const {
    resolve_group(query.group);
    const auto info = find_stream(query.stream_name);
    if (!info) throw stream_not_found();
    const std::string& stream = info->name;
    const std::int64_t count = info->event_count;
    const int limit = effective_limit(query.limit);
    const auto start = query.start_time_ms;
    const auto end = query.end_time_ms;

    events_position position{query.start_from_head, query.start_from_head ? 0 : count};
    if (query.next_token) position = parse_events_token(*query.next_token, stream, count);

    log_events_page page;
    std::int64_t bytes = 0;
    // Adds an event unless it is empty; false once the page is full.
    const auto take = [&](log_event&& event) {
        if (event.message.empty()) return true;
        if (!page.events.empty() && bytes + event_cost(event) > max_response_bytes) return false;
        bytes += event_cost(event);
        page.events.push_back(std::move(event));
        return static_cast<int>(page.events.size()) < limit;
    };

    if (position.forward) {
        // Forward: events [i, ...) with start <= timestamp < end, oldest first.
        std::int64_t i = position.index;
        if (start) i = std::max(i, lower_bound(stream, count, *start));
        std::int64_t first_returned = -1;
        bool more = true;
        while (more) {
            const std::int64_t want = std::min<std::int64_t>(read_chunk, limit - static_cast<std::int64_t>(page.events.size()));
            std::vector<log_event> chunk = store_.log_events(stream, i, std::max<std::int64_t>(want, 1));
            if (chunk.empty()) break;
            for (auto& event : chunk) {
                if (end && event.timestamp_ms >= *end) {
                    more = false;
                    break;
                }
                const bool counts = !event.message.empty() && !(start && event.timestamp_ms < *start);
                if (!counts) {
                    ++i;
                    continue;
                }
                const std::size_t before = page.events.size();
                more = take(std::move(event));
                if (page.events.size() == before) break;  // did not fit: stays for the next page
                if (first_returned < 0) first_returned = i;
                ++i;
                if (!more) break;
            }
        }
        // At the end of the stream the token comes back unchanged, so it yields later events.
        page.next_forward_token = events_token('f', i, stream);
        page.next_backward_token = events_token('b', first_returned >= 0 ? first_returned : position.index, stream);
        return page;
    }

    // Backward (a b/ token, or the newest page): the events just before j, returned oldest first.
    std::int64_t j = position.index;
    if (end) j = std::min(j, lower_bound(stream, count, *end));
    std::int64_t i = j;
    bool more = true;
    while (more && i > 0) {
        const std::int64_t want = std::min<std::int64_t>({read_chunk, i, limit - static_cast<std::int64_t>(page.events.size())});
        const std::int64_t from = i - std::max<std::int64_t>(want, 1);
        std::vector<log_event> chunk = store_.log_events(stream, from, i - from);
        if (chunk.empty()) break;
        for (auto it = chunk.rbegin(); it != chunk.rend(); ++it) {
            if (start && it->timestamp_ms < *start) {
                more = false;
                break;
            }
            const std::size_t before = page.events.size();
            const bool empty_message = it->message.empty();
            more = take(std::move(*it));
            if (!empty_message && page.events.size() == before) break;
            --i;
            if (!more) break;
        }
    }
    std::reverse(page.events.begin(), page.events.end());
    page.next_forward_token = events_token('f', j, stream);
    page.next_backward_token = events_token('b', i, stream);
    return page;
}

filtered_log_events_page log_service::filter_log_events(const filter_log_events_query& query) const {
    resolve_group(query.group);
    if (!query.stream_names.empty() && query.stream_name_prefix)
        throw invalid_parameter("logStreamNames and logStreamNamePrefix are mutually exclusive parameters.");
    const filter_pattern pattern = filter_pattern::parse(query.filter_pattern);
    const int limit = effective_limit(query.limit);
    const std::optional<filter_cursor> after =
        query.next_token ? std::optional(parse_filter_token(*query.next_token)) : std::nullopt;
    const auto start = query.start_time_ms;
    const auto end = query.end_time_ms;

    std::vector<log_stream_info> streams;
    if (!query.stream_names.empty()) {
        const std::set<std::string> names(query.stream_names.begin(), query.stream_names.end());
        for (const auto& name : names)
            if (auto info = find_stream(name)) streams.push_back(std::move(*info));
    } else {
        streams = store_.log_streams(query.stream_name_prefix.value_or(""));
    }

    // One reader per stream, positioned at its first candidate; the merge takes the smallest
    // (timestamp, stream, index) head each time.
    struct reader {
        const log_stream_info* info = nullptr;
        std::int64_t next_index = 0;  // index of buffer[pos]
        std::vector<log_event> buffer;
        std::size_t pos = 0;
        bool exhausted = false;
        log_event head;
        std::int64_t head_index = -1;
    };
    std::vector<reader> readers(streams.size());
    const auto advance = [&](reader& r) {
        r.head_index = -1;
        while (!r.exhausted) {
            if (r.pos == r.buffer.size()) {
                r.buffer = store_.log_events(r.info->name, r.next_index, read_chunk);
                r.pos = 0;
                if (r.buffer.empty()) {
                    r.exhausted = true;
                    return;
                }
            }
            log_event& event = r.buffer[r.pos++];
            const std::int64_t index = r.next_index++;
            if (end && event.timestamp_ms > *end) {
                r.exhausted = true;
                return;
            }
            if ((start && event.timestamp_ms < *start) || event.message.empty() || !pattern.matches(event.message))
                continue;
            r.head = std::move(event);
            r.head_index = index;
            return;
        }
    };
    for (std::size_t s = 0; s < streams.size(); ++s) {
        reader& r = readers[s];
        r.info = &streams[s];
        const std::int64_t count = r.info->event_count;
        const bool outside = count == 0 || (start && r.info->last_event_ms && *r.info->last_event_ms < *start) ||
                             (end && r.info->first_event_ms && *r.info->first_event_ms > *end);
        if (outside) {
            r.exhausted = true;
            continue;
        }
        std::int64_t from = start ? lower_bound(r.info->name, count, *start) : 0;
        if (after) {
            if (r.info->name == after->stream)
                from = std::max(from, after->index + 1);
            else
                from = std::max(from, lower_bound(r.info->name, count,
                                                  r.info->name < after->stream ? after->timestamp_ms + 1
                                                                               : after->timestamp_ms));
        }
        r.next_index = from;
        advance(r);
    }

    const auto later = [](const reader* a, const reader* b) {
        if (a->head.timestamp_ms != b->head.timestamp_ms) return a->head.timestamp_ms > b->head.timestamp_ms;
        if (a->info->name != b->info->name) return a->info->name > b->info->name;
        return a->head_index > b->head_index;
    };
    std::priority_queue<reader*, std::vector<reader*>, decltype(later)> heads(later);
    for (auto& r : readers)
        if (r.head_index >= 0) heads.push(&r);

    filtered_log_events_page page;
    std::int64_t bytes = 0;
    std::optional<filter_cursor> last;
    while (!heads.empty() && static_cast<int>(page.events.size()) < limit) {
        reader* r = heads.top();
        if (!page.events.empty() && bytes + event_cost(r->head) > max_response_bytes) break;
        heads.pop();
        bytes += event_cost(r->head);
        last = filter_cursor{r->head.timestamp_ms, r->head_index, r->info->name};
        page.events.push_back({r->info->name, r->head.timestamp_ms, r->head.ingestion_time_ms,
                               std::move(r->head.message), event_id(r->info->name, r->head_index)});
        advance(*r);
        if (r->head_index >= 0) heads.push(r);
    }
    // A head that remains is a match still to come: only then is there a next page.
    if (!heads.empty() && last) page.next_token = filter_cursor_token(*last);
    for (const auto& r : readers) page.searched_streams.push_back({r.info->name, r.head_index < 0});
    return page;
}

}  // namespace smlocal
