#include "api/logs/logs_service.hpp"

#include "api/model/validator.hpp"

namespace smlocal::api {
namespace {

using json = nlohmann::json;

std::optional<std::string> optional_string(const json& request, const char* name) {
    auto it = request.find(name);
    return it == request.end() ? std::nullopt : std::optional<std::string>(it->get<std::string>());
}

std::optional<std::int64_t> optional_long(const json& request, const char* name) {
    auto it = request.find(name);
    return it == request.end() ? std::nullopt : std::optional<std::int64_t>(it->get<std::int64_t>());
}

std::optional<int> optional_int(const json& request, const char* name) {
    auto it = request.find(name);
    return it == request.end() ? std::nullopt : std::optional<int>(it->get<int>());
}

std::vector<std::string> string_list(const json& request, const char* name) {
    auto it = request.find(name);
    return it == request.end() ? std::vector<std::string>{} : it->get<std::vector<std::string>>();
}

log_group_ref read_group(const json& request) {
    return {optional_string(request, "logGroupName"), optional_string(request, "logGroupIdentifier")};
}

json stream_json(const log_stream_description& stream) {
    const log_stream_info& info = stream.info;
    json out{{"logStreamName", info.name}, {"creationTime", info.creation_time_ms}};
    if (info.first_event_ms) out["firstEventTimestamp"] = *info.first_event_ms;
    if (info.last_event_ms) out["lastEventTimestamp"] = *info.last_event_ms;
    if (info.last_ingestion_ms) out["lastIngestionTime"] = *info.last_ingestion_ms;
    out["arn"] = stream.arn;
    // Deprecated for streams: AWS always reports 0.
    out["storedBytes"] = 0;
    return out;
}

}  // namespace

json_service make_logs_service(log_service& logs) {
    json_service service;
    service.target_prefix = "Logs_20140328";
    service.model = &logs_model();
    auto& ops = service.operations;

    ops["DescribeLogGroups"] = [&](json& request) {
        describe_log_groups_query query;
        query.name_prefix = optional_string(request, "logGroupNamePrefix");
        query.name_pattern = optional_string(request, "logGroupNamePattern");
        query.identifiers = string_list(request, "logGroupIdentifiers");
        query.log_group_class = optional_string(request, "logGroupClass");
        query.limit = optional_int(request, "limit").value_or(50);
        query.next_token = optional_string(request, "nextToken");
        const log_group_page page = logs.describe_log_groups(query);
        json groups = json::array();
        for (const auto& group : page.groups)
            groups.push_back({{"logGroupName", group.name},
                              {"creationTime", group.creation_time_ms},
                              {"metricFilterCount", 0},
                              {"arn", group.arn},
                              {"storedBytes", group.stored_bytes},
                              {"logGroupClass", "STANDARD"},
                              {"logGroupArn", group.log_group_arn}});
        json out{{"logGroups", std::move(groups)}};
        if (page.next_token) out["nextToken"] = *page.next_token;
        return out;
    };
    ops["DescribeLogStreams"] = [&](json& request) {
        describe_log_streams_query query;
        query.group = read_group(request);
        query.name_prefix = optional_string(request, "logStreamNamePrefix");
        query.order_by_last_event_time = request.value("orderBy", "LogStreamName") == "LastEventTime";
        query.descending = request.value("descending", false);
        query.limit = optional_int(request, "limit").value_or(50);
        query.next_token = optional_string(request, "nextToken");
        const log_stream_page page = logs.describe_log_streams(query);
        json streams = json::array();
        for (const auto& stream : page.streams) streams.push_back(stream_json(stream));
        json out{{"logStreams", std::move(streams)}};
        if (page.next_token) out["nextToken"] = *page.next_token;
        return out;
    };
    ops["GetLogEvents"] = [&](json& request) {
        get_log_events_query query;
        query.group = read_group(request);
        query.stream_name = request.at("logStreamName").get<std::string>();
        query.start_time_ms = optional_long(request, "startTime");
        query.end_time_ms = optional_long(request, "endTime");
        query.next_token = optional_string(request, "nextToken");
        query.limit = optional_int(request, "limit");
        query.start_from_head = request.value("startFromHead", false);
        const log_events_page page = logs.get_log_events(query);
        json events = json::array();
        for (const auto& event : page.events)
            events.push_back(
                {{"timestamp", event.timestamp_ms}, {"message", event.message}, {"ingestionTime", event.ingestion_time_ms}});
        return json{{"events", std::move(events)},
                    {"nextForwardToken", page.next_forward_token},
                    {"nextBackwardToken", page.next_backward_token}};
    };
    ops["FilterLogEvents"] = [&](json& request) {
        filter_log_events_query query;
        query.group = read_group(request);
        query.stream_names = string_list(request, "logStreamNames");
        query.stream_name_prefix = optional_string(request, "logStreamNamePrefix");
        query.start_time_ms = optional_long(request, "startTime");
        query.end_time_ms = optional_long(request, "endTime");
        query.filter_pattern = request.value("filterPattern", "");
        query.limit = optional_int(request, "limit");
        query.next_token = optional_string(request, "nextToken");
        const filtered_log_events_page page = logs.filter_log_events(query);
        json events = json::array();
        for (const auto& event : page.events)
            events.push_back({{"logStreamName", event.stream_name},
                              {"timestamp", event.timestamp_ms},
                              {"message", event.message},
                              {"ingestionTime", event.ingestion_time_ms},
                              {"eventId", event.event_id}});
        json searched = json::array();
        for (const auto& stream : page.searched_streams)
            searched.push_back({{"logStreamName", stream.name}, {"searchedCompletely", stream.searched_completely}});
        json out{{"events", std::move(events)}, {"searchedLogStreams", std::move(searched)}};
        if (page.next_token) out["nextToken"] = *page.next_token;
        return out;
    };
    return service;
}

}  // namespace smlocal::api
