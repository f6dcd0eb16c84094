#include "emulator/log_service.hpp"

#include <doctest/doctest.h>

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "emulator/errors.hpp"

namespace fs = std::filesystem;
using namespace smlocal;

namespace {

constexpr std::int64_t server_start = 1'700'000'000'000;
const std::string group(training_log_group);
const std::string stream_a = "job-a/algo-1-1700000000";

/// A fresh store under the temp dir, removed afterwards.
struct fixture {
    fs::path dir;
    std::unique_ptr<store> db;
    std::unique_ptr<log_service> logs;
    fixture() {
        static std::atomic<int> counter{0};
        dir = fs::temp_directory_path() / ("smlocal-log-service-test-" + std::to_string(::getpid()) + "-" +
                                           std::to_string(counter++) + "-" + std::to_string(std::random_device{}()));
        fs::create_directories(dir);
        db = std::make_unique<store>(dir / "state.db");
        logs = std::make_unique<log_service>(*db, "us-east-1", "123456789012", server_start);
    }
    ~fixture() {
        logs.reset();
        db.reset();
        std::error_code ignored;
        fs::remove_all(dir, ignored);
    }

    /// Appends events "line <first>" ... at timestamps base + 10 * i.
    void append(const std::string& stream, int first, int count, std::int64_t base = server_start) {
        std::vector<log_event> events;
        for (int i = first; i < first + count; ++i)
            events.push_back({base + 10 * i, base + 10 * i + 1, "line " + std::to_string(i)});
        db->append_log_events(stream, events);
    }

    log_events_page get(get_log_events_query query) const {
        query.group.name = group;
        if (query.stream_name.empty()) query.stream_name = stream_a;
        return logs->get_log_events(query);
    }
};

std::vector<std::string> messages(const std::vector<log_event>& events) {
    std::vector<std::string> out;
    for (const auto& e : events) out.push_back(e.message);
    return out;
}

std::vector<std::string> lines(int first, int count) {
    std::vector<std::string> out;
    for (int i = first; i < first + count; ++i) out.push_back("line " + std::to_string(i));
    return out;
}

std::string code_of(const std::function<void()>& call) {
    try {
        call();
    } catch (const service_error& error) {
        return error.code() + ": " + error.what();
    }
    return "no error";
}

}  // namespace

TEST_CASE("log service: GetLogEvents pages forward to the end and keeps the token there") {
    fixture f;
    f.append(stream_a, 0, 25);

    std::vector<std::string> seen;
    get_log_events_query query;
    query.start_from_head = true;
    query.limit = 10;
    auto page = f.get(query);
    CHECK(messages(page.events) == lines(0, 10));
    seen = messages(page.events);
    std::string token = page.next_forward_token;
    CHECK(token.starts_with("f/"));
    CHECK(page.next_backward_token.starts_with("b/"));
    int calls = 1;
    while (true) {
        query.next_token = token;
        page = f.get(query);
        ++calls;
        if (page.events.empty()) break;
        for (auto& m : messages(page.events)) seen.push_back(m);
        token = page.next_forward_token;
        REQUIRE(calls < 10);
    }
    CHECK(seen == lines(0, 25));
    CHECK(calls == 4);  // 10, 10, 5, then an empty page
    // At the end of the stream the token comes back unchanged.
    CHECK(page.next_forward_token == token);

    SUBCASE("events appended later arrive with the same token") {
        f.append(stream_a, 25, 3);
        query.next_token = token;
        page = f.get(query);
        CHECK(messages(page.events) == lines(25, 3));
        CHECK(page.next_forward_token != token);
        query.next_token = page.next_forward_token;
        CHECK(f.get(query).events.empty());
    }
    SUBCASE("timestamps and ingestion times are the stored milliseconds") {
        query.next_token.reset();
        query.limit = 2;
        page = f.get(query);
        CHECK(page.events[1].timestamp_ms == server_start + 10);
        CHECK(page.events[1].ingestion_time_ms == server_start + 11);
    }
}

TEST_CASE("log service: startTime is inclusive and endTime exclusive") {
    fixture f;
    // Two events share each timestamp: t0, t0, t0+10, t0+10, ...
    std::vector<log_event> events;
    for (int i = 0; i < 20; ++i) events.push_back({server_start + 10 * (i / 2), 0, "line " + std::to_string(i)});
    f.db->append_log_events(stream_a, events);

    get_log_events_query query;
    query.start_from_head = true;
    query.start_time_ms = server_start + 30;  // lines 6 and 7
    auto page = f.get(query);
    CHECK(messages(page.events) == lines(6, 14));

    query.end_time_ms = server_start + 50;  // lines 10 and 11 excluded
    page = f.get(query);
    CHECK(messages(page.events) == lines(6, 4));

    SUBCASE("the SDK v2 tail: restart from the last timestamp and skip what it printed") {
        query.end_time_ms.reset();
        query.start_time_ms = server_start + 30;
        query.limit = 3;
        page = f.get(query);
        CHECK(messages(page.events) == lines(6, 3));
        // It printed lines 6..8; line 8 has timestamp t0+40, one already printed there.
        query.start_time_ms = page.events.back().timestamp_ms;
        page = f.get(query);
        CHECK(messages(page.events) == lines(8, 3));
    }
    SUBCASE("a start after every event gives an empty page whose token later yields new events") {
        query.end_time_ms.reset();
        query.start_time_ms = server_start + 1000;
        page = f.get(query);
        CHECK(page.events.empty());
        f.append(stream_a, 200, 1);  // timestamp t0 + 2000
        query.next_token = page.next_forward_token;
        CHECK(messages(f.get(query).events) == lines(200, 1));
    }
}

TEST_CASE("log service: the newest page and backward paging") {
    fixture f;
    f.append(stream_a, 0, 25);

    get_log_events_query query;  // startFromHead defaults to false: the newest events
    query.limit = 10;
    auto page = f.get(query);
    CHECK(messages(page.events) == lines(15, 10));
    const std::string forward = page.next_forward_token;

    std::vector<std::string> older;
    std::string token = page.next_backward_token;
    for (int calls = 0;; ++calls) {
        REQUIRE(calls < 10);
        query.next_token = token;
        page = f.get(query);
        if (page.events.empty()) break;
        auto chunk = messages(page.events);
        older.insert(older.begin(), chunk.begin(), chunk.end());
        token = page.next_backward_token;
    }
    CHECK(older == lines(0, 15));
    CHECK(page.next_backward_token == token);  // unchanged at the head

    SUBCASE("the newest page's forward token yields events appended later") {
        f.append(stream_a, 25, 2);
        get_log_events_query next;
        next.start_from_head = true;
        next.next_token = forward;
        CHECK(messages(f.get(next).events) == lines(25, 2));
    }
    SUBCASE("endTime bounds the newest page") {
        get_log_events_query bounded;
        bounded.limit = 3;
        bounded.end_time_ms = server_start + 100;  // lines 0..9
        CHECK(messages(f.get(bounded).events) == lines(7, 3));
    }
    SUBCASE("an empty stream gives an empty page with tokens") {
        f.db->append_log_events("job-a/algo-2-1700000000", {});
        get_log_events_query empty;
        empty.stream_name = "job-a/algo-2-1700000000";
        page = f.get(empty);
        CHECK(page.events.empty());
        CHECK_FALSE(page.next_forward_token.empty());
        CHECK_FALSE(page.next_backward_token.empty());
    }
}

TEST_CASE("log service: GetLogEvents errors") {
    fixture f;
    f.append(stream_a, 0, 5);
    f.append("job-b/algo-1-1700000000", 0, 5);

    get_log_events_query query;
    query.start_from_head = true;
    const std::string other_token = [&] {
        get_log_events_query q;
        q.stream_name = "job-b/algo-1-1700000000";
        q.start_from_head = true;
        q.limit = 2;
        return f.get(q).next_forward_token;
    }();

    SUBCASE("unknown stream") {
        query.stream_name = "job-a/algo-9-1";
        CHECK(code_of([&] { f.get(query); }) ==
              "ResourceNotFoundException: The specified log stream does not exist.");
    }
    SUBCASE("unknown group") {
        query.stream_name = stream_a;
        query.group.name = "/aws/sagemaker/ProcessingJobs";
        CHECK(code_of([&] { f.logs->get_log_events(query); }) ==
              "ResourceNotFoundException: The specified log group does not exist.");
    }
    SUBCASE("the group by identifier: name or ARN") {
        query.stream_name = stream_a;
        for (const std::string& id : std::vector<std::string>{group, std::string("arn:aws:logs:us-east-1:123456789012:log-group:") + group,
                                     std::string("arn:aws:logs:us-east-1:123456789012:log-group:") + group + ":*"}) {
            query.group.identifier = id;
            CHECK(f.logs->get_log_events(query).events.size() == 5);
        }
        query.group.name = group;
        CHECK(code_of([&] { f.logs->get_log_events(query); }).starts_with("InvalidParameterException: "));
        query.group = {};
        CHECK(code_of([&] { f.logs->get_log_events(query); }).starts_with("InvalidParameterException: "));
    }
    SUBCASE("a token from another stream, garbage, or beyond the end") {
        const std::string invalid = "InvalidParameterException: The specified nextToken is invalid.";
        query.next_token = other_token;
        CHECK(code_of([&] { f.get(query); }) == invalid);
        for (const std::string& bad : std::vector<std::string>{"garbage", "f/", "f/123", "x" + other_token.substr(1)}) {
            query.next_token = bad;
            CHECK(code_of([&] { f.get(query); }) == invalid);
        }
        // A well-formed token of this stream whose index is past the end.
        query.next_token.reset();
        query.limit = 5;
        std::string token = f.get(query).next_forward_token;
        token[21] = '9';  // index 5 -> 9
        query.next_token = token;
        CHECK(code_of([&] { f.get(query); }) == invalid);
    }
}

TEST_CASE("log service: pages skip empty lines and stop at 1 MB") {
    fixture f;
    SUBCASE("empty lines are never returned") {
        f.db->append_log_events(stream_a, {{server_start, 0, "a"}, {server_start, 0, ""}, {server_start + 1, 0, "b"}});
        get_log_events_query query;
        query.start_from_head = true;
        auto page = f.get(query);
        CHECK(messages(page.events) == std::vector<std::string>{"a", "b"});
        query.next_token = page.next_forward_token;
        CHECK(f.get(query).events.empty());
    }
    SUBCASE("about 1 MB of messages per page; paging reaches them all") {
        std::vector<log_event> events;
        for (int i = 0; i < 30; ++i) events.push_back({server_start + i, 0, std::string(100'000, 'a' + i % 26)});
        f.db->append_log_events(stream_a, events);
        get_log_events_query query;
        query.start_from_head = true;
        std::size_t total = 0;
        for (int calls = 0;; ++calls) {
            REQUIRE(calls < 10);
            auto page = f.get(query);
            if (page.events.empty()) break;
            CHECK(page.events.size() <= 10);
            total += page.events.size();
            query.next_token = page.next_forward_token;
        }
        CHECK(total == 30);
    }
}

TEST_CASE("log service: a long stream is read by index, not whole") {
    fixture f;
    constexpr int count = 30'000;
    std::vector<log_event> events;
    for (int i = 0; i < count; ++i) events.push_back({server_start + i, 0, "line " + std::to_string(i)});
    f.db->append_log_events(stream_a, events);
    get_log_events_query query;
    query.start_from_head = true;
    query.start_time_ms = server_start + 12'345;
    query.limit = 3;
    auto page = f.get(query);
    CHECK(messages(page.events) == lines(12'345, 3));
    query.limit.reset();
    query.next_token = page.next_forward_token;
    page = f.get(query);
    CHECK(page.events.size() == 10'000);  // the default limit
    CHECK(page.events.front().message == "line 12348");
    query.next_token = page.next_forward_token;
    page = f.get(query);
    CHECK(page.events.size() == count - 12'348 - 10'000);
    CHECK(page.events.back().message == "line 29999");
    query.next_token = page.next_forward_token;
    CHECK(f.get(query).events.empty());
}

TEST_CASE("log service: DescribeLogStreams") {
    fixture f;
    const std::vector<std::string> names = {"job-a/algo-1-1700000000", "job-a/algo-2-1700000000",
                                            "job-a/algo-3-1700000000", "job-b/algo-1-1700000100",
                                            "job-c/algo-1-1700000200"};
    // Last event times: job-c earliest, then job-b, then job-a's hosts.
    f.append(names[0], 0, 1, server_start + 5000);
    f.append(names[1], 0, 2, server_start + 6000);
    f.append(names[2], 0, 1, server_start + 7000);
    f.append(names[3], 0, 1, server_start + 3000);
    f.db->append_log_events(names[4], {});

    describe_log_streams_query query;
    query.group.name = group;
    const auto names_of = [](const log_stream_page& page) {
        std::vector<std::string> out;
        for (const auto& s : page.streams) out.push_back(s.info.name);
        return out;
    };

    SUBCASE("nextToken only when more streams remain") {
        query.limit = 2;
        std::vector<std::string> all;
        std::vector<std::size_t> sizes;
        for (int calls = 0;; ++calls) {
            REQUIRE(calls < 10);
            auto page = f.logs->describe_log_streams(query);
            sizes.push_back(page.streams.size());
            for (auto& n : names_of(page)) all.push_back(n);
            if (!page.next_token) break;
            query.next_token = page.next_token;
        }
        CHECK(all == names);
        CHECK(sizes == std::vector<std::size_t>{2, 2, 1});
        query.next_token.reset();
        query.limit = 5;
        CHECK_FALSE(f.logs->describe_log_streams(query).next_token);
        query.limit = 50;
        CHECK_FALSE(f.logs->describe_log_streams(query).next_token);
    }
    SUBCASE("prefix, as the SDK asks for one job's hosts") {
        query.name_prefix = "job-a/";
        query.limit = 3;
        auto page = f.logs->describe_log_streams(query);
        CHECK(names_of(page) == std::vector<std::string>(names.begin(), names.begin() + 3));
        CHECK_FALSE(page.next_token);
        query.name_prefix = "job-z/";
        CHECK(f.logs->describe_log_streams(query).streams.empty());
    }
    SUBCASE("items: times in ms, ARN, absent times omitted") {
        query.name_prefix = "job-a/algo-2";
        auto page = f.logs->describe_log_streams(query);
        REQUIRE(page.streams.size() == 1);
        const auto& s = page.streams[0];
        CHECK(s.info.creation_time_ms == server_start + 6000);
        CHECK(s.info.first_event_ms == server_start + 6000);
        CHECK(s.info.last_event_ms == server_start + 6010);
        CHECK(s.info.last_ingestion_ms == server_start + 6011);
        CHECK(s.arn == "arn:aws:logs:us-east-1:123456789012:log-group:/aws/sagemaker/TrainingJobs:log-stream:" +
                           names[1]);
        query.name_prefix = "job-c/";
        page = f.logs->describe_log_streams(query);
        REQUIRE(page.streams.size() == 1);
        CHECK_FALSE(page.streams[0].info.first_event_ms);
        CHECK_FALSE(page.streams[0].info.last_event_ms);
    }
    SUBCASE("descending by name, paged") {
        query.descending = true;
        query.limit = 3;
        auto page = f.logs->describe_log_streams(query);
        CHECK(names_of(page) == std::vector<std::string>{names[4], names[3], names[2]});
        REQUIRE(page.next_token);
        query.next_token = page.next_token;
        page = f.logs->describe_log_streams(query);
        CHECK(names_of(page) == std::vector<std::string>{names[1], names[0]});
        CHECK_FALSE(page.next_token);
    }
    SUBCASE("orderBy LastEventTime, newest first, paged") {
        query.order_by_last_event_time = true;
        query.descending = true;
        query.limit = 2;
        // The empty stream sorts by its creation time (now), after every event of the others.
        auto page = f.logs->describe_log_streams(query);
        CHECK(names_of(page) == std::vector<std::string>{names[4], names[2]});
        query.next_token = page.next_token;
        page = f.logs->describe_log_streams(query);
        CHECK(names_of(page) == std::vector<std::string>{names[1], names[0]});
        query.next_token = page.next_token;
        page = f.logs->describe_log_streams(query);
        CHECK(names_of(page) == std::vector<std::string>{names[3]});
        CHECK_FALSE(page.next_token);
    }
    SUBCASE("errors") {
        query.order_by_last_event_time = true;
        query.name_prefix = "job-a/";
        CHECK(code_of([&] { f.logs->describe_log_streams(query); }) ==
              "InvalidParameterException: Cannot order by LastEventTime with a logStreamNamePrefix.");
        query = {};
        query.group.name = "/aws/sagemaker/Nope";
        CHECK(code_of([&] { f.logs->describe_log_streams(query); }) ==
              "ResourceNotFoundException: The specified log group does not exist.");
        query.group.name = group;
        query.next_token = "t/123/x";  // a LastEventTime cursor for a name listing
        CHECK(code_of([&] { f.logs->describe_log_streams(query); }) ==
              "InvalidParameterException: The specified nextToken is invalid.");
    }
}

TEST_CASE("log service: DescribeLogGroups") {
    fixture f;
    describe_log_groups_query query;
    auto page = f.logs->describe_log_groups(query);
    REQUIRE(page.groups.size() == 1);
    CHECK(page.groups[0].name == "/aws/sagemaker/TrainingJobs");
    CHECK(page.groups[0].creation_time_ms == server_start);  // no stream yet: the server start
    CHECK(page.groups[0].arn == "arn:aws:logs:us-east-1:123456789012:log-group:/aws/sagemaker/TrainingJobs:*");
    CHECK(page.groups[0].log_group_arn == "arn:aws:logs:us-east-1:123456789012:log-group:/aws/sagemaker/TrainingJobs");
    CHECK_FALSE(page.next_token);

    f.append(stream_a, 0, 1, server_start - 60'000);  // kept from an earlier run
    CHECK(f.logs->describe_log_groups(query).groups[0].creation_time_ms == server_start - 60'000);

    query.name_prefix = "/aws/sagemaker/";
    CHECK(f.logs->describe_log_groups(query).groups.size() == 1);
    query.name_prefix = "/aws/lambda/";
    CHECK(f.logs->describe_log_groups(query).groups.empty());
    query.name_prefix.reset();
    query.name_pattern = "trainingjobs";
    CHECK(f.logs->describe_log_groups(query).groups.size() == 1);
    query.name_prefix = "/aws";
    CHECK(code_of([&] { f.logs->describe_log_groups(query); }).starts_with("InvalidParameterException: "));
}

TEST_CASE("log service: filter patterns") {
    const auto matches = [](const char* pattern, const char* message) {
        return filter_pattern::parse(pattern).matches(message);
    };
    CHECK(matches("", "anything"));
    CHECK(filter_pattern::parse("   ").matches_everything());
    CHECK(matches("epoch loss", "epoch=3 loss=0.5"));
    CHECK_FALSE(matches("epoch loss", "epoch=3"));
    CHECK_FALSE(matches("Epoch", "epoch=3"));  // case-sensitive
    CHECK(matches("\"validation:loss=4\"", "epoch=1 validation:loss=4.0"));
    CHECK_FALSE(matches("\"loss epoch\"", "epoch loss"));
    CHECK(matches("\"a \\\"quoted\\\" word\"", "a \"quoted\" word"));
    CHECK(matches("simulator -done", "simulator: objective=quadratic"));
    CHECK_FALSE(matches("simulator -done", "simulator: done final"));
    CHECK(matches("?ERROR ?WARN", "WARN low disk"));
    CHECK_FALSE(matches("?ERROR ?WARN", "INFO fine"));
    CHECK(code_of([] { filter_pattern::parse("\"open"); }).starts_with("InvalidParameterException: "));
    CHECK(code_of([] { filter_pattern::parse("{ $.level = \"ERROR\" }"); }).starts_with("InvalidParameterException: "));
    CHECK(code_of([] { filter_pattern::parse("[ip, user]"); }).starts_with("InvalidParameterException: "));
}

TEST_CASE("log service: FilterLogEvents") {
    fixture f;
    const std::string stream_b = "job-a/algo-2-1700000000";
    // Interleaved timestamps: a at t0, t0+10, ...; b at t0+5, t0+15, ...
    f.append(stream_a, 0, 10);
    f.append(stream_b, 100, 10, server_start + 5 - 1000);  // line 100 at t0+5
    filter_log_events_query query;
    query.group.name = group;
    query.stream_name_prefix = "job-a/";

    const auto all_pages = [&](filter_log_events_query q) {
        std::vector<filtered_log_event> events;
        for (int calls = 0;; ++calls) {
            REQUIRE(calls < 50);
            auto page = f.logs->filter_log_events(q);
            for (auto& e : page.events) events.push_back(e);
            if (!page.next_token) break;
            q.next_token = page.next_token;
        }
        return events;
    };

    SUBCASE("merged by timestamp across streams, with stream names and ids") {
        auto page = f.logs->filter_log_events(query);
        REQUIRE(page.events.size() == 20);
        CHECK(page.events[0].message == "line 0");
        CHECK(page.events[1].message == "line 100");
        CHECK(page.events[1].stream_name == stream_b);
        CHECK(page.events[1].timestamp_ms == server_start + 5);
        CHECK(page.events[19].message == "line 109");
        CHECK_FALSE(page.next_token);
        CHECK(page.events[0].event_id != page.events[2].event_id);
        REQUIRE(page.searched_streams.size() == 2);
        CHECK(page.searched_streams[0].searched_completely);
    }
    SUBCASE("paging with limit visits every event once, nextToken only while more remain") {
        query.limit = 3;
        auto events = all_pages(query);
        REQUIRE(events.size() == 20);
        for (std::size_t i = 1; i < events.size(); ++i) CHECK(events[i - 1].timestamp_ms <= events[i].timestamp_ms);
        query.limit = 20;
        CHECK_FALSE(f.logs->filter_log_events(query).next_token);
        query.limit = 19;
        CHECK(f.logs->filter_log_events(query).next_token);
    }
    SUBCASE("equal timestamps across streams page without loss or repeats") {
        f.append("job-a/algo-3-1700000000", 0, 10);  // the same timestamps as stream a
        query.limit = 4;
        auto events = all_pages(query);
        CHECK(events.size() == 30);
        std::set<std::string> ids;
        for (auto& e : events) ids.insert(e.event_id);
        CHECK(ids.size() == 30);
    }
    SUBCASE("patterns") {
        query.filter_pattern = "\"line 10\"";  // line 10x of stream b, not "line 1"
        CHECK(all_pages(query).size() == 10);
        query.filter_pattern = "line 3";  // both terms: every line contains "line" and "3"
        auto events = all_pages(query);
        REQUIRE(events.size() == 2);
        CHECK(events[0].message == "line 3");
        CHECK(events[1].message == "line 103");
        query.filter_pattern = "nothing-matches";
        auto page = f.logs->filter_log_events(query);
        CHECK(page.events.empty());
        CHECK_FALSE(page.next_token);
    }
    SUBCASE("startTime and endTime are inclusive; logStreamNames") {
        query.start_time_ms = server_start + 20;
        query.end_time_ms = server_start + 40;
        auto events = all_pages(query);
        std::vector<std::string> got;
        for (auto& e : events) got.push_back(e.message);
        CHECK(got == std::vector<std::string>{"line 2", "line 102", "line 3", "line 103", "line 4"});
        query.stream_name_prefix.reset();
        query.stream_names = {stream_b, "job-a/algo-9-1"};
        CHECK(all_pages(query).size() == 2);
    }
    SUBCASE("errors") {
        query.stream_names = {stream_a};
        CHECK(code_of([&] { f.logs->filter_log_events(query); }).starts_with("InvalidParameterException: "));
        query.stream_names.clear();
        query.next_token = "garbage";
        CHECK(code_of([&] { f.logs->filter_log_events(query); }) ==
              "InvalidParameterException: The specified nextToken is invalid.");
        query.next_token.reset();
        query.group.name = "/nope";
        CHECK(code_of([&] { f.logs->filter_log_events(query); }).starts_with("ResourceNotFoundException: "));
    }
}
