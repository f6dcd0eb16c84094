#include "emulator/list_query.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "emulator/errors.hpp"

using namespace smlocal;

namespace {

struct fixture {
    std::vector<std::string> names;
    std::vector<std::string> statuses;
    std::vector<list_item> items;

    explicit fixture(int count) {
        for (int i = 0; i < count; ++i) {
            names.push_back("job-" + std::string(i < 10 ? "0" : "") + std::to_string(i));
            statuses.push_back(i % 3 == 0 ? "Completed" : i % 3 == 1 ? "InProgress" : "Failed");
        }
        for (int i = 0; i < count; ++i)
            items.push_back({names[i], 1000.0 + i, 2000.0 + i, statuses[i], std::nullopt});
    }

    // Follows next_token to the end; returns every name seen, in order.
    std::vector<std::string> all_pages(list_query query, int* pages = nullptr) const {
        std::vector<std::string> seen;
        int count = 0;
        for (;;) {
            list_page page = paginate(items, query);
            ++count;
            for (auto i : page.indexes) seen.emplace_back(items[i].name);
            if (!page.next_token) break;
            query.next_token = page.next_token;
            REQUIRE(count < 1000);
        }
        if (pages) *pages = count;
        return seen;
    }
};

}  // namespace

TEST_CASE("default order is newest first and paging reaches every item once") {
    fixture f(25);
    list_query query;
    query.max_results = 7;
    int pages = 0;
    auto seen = f.all_pages(query, &pages);
    REQUIRE(seen.size() == 25);
    CHECK(seen.front() == "job-24");
    CHECK(seen.back() == "job-00");
    CHECK(pages == 4);
    CHECK(std::set<std::string>(seen.begin(), seen.end()).size() == 25);
}

TEST_CASE("the last page has no token") {
    fixture f(10);
    list_query query;
    query.max_results = 10;
    auto page = paginate(f.items, query);
    CHECK(page.indexes.size() == 10);
    CHECK_FALSE(page.next_token);
}

TEST_CASE("sorting by name and status, both directions") {
    fixture f(12);
    list_query query;
    query.max_results = 100;
    SUBCASE("name ascending") {
        query.sort_by = list_query::sort_key::name;
        query.descending = false;
        auto seen = f.all_pages(query);
        CHECK(std::is_sorted(seen.begin(), seen.end()));
    }
    SUBCASE("status descending, paged by 5") {
        query.sort_by = list_query::sort_key::status;
        query.max_results = 5;
        auto seen = f.all_pages(query);
        REQUIRE(seen.size() == 12);
        // InProgress > Failed > Completed
        CHECK(f.statuses[std::stoi(seen.front().substr(4))] == "InProgress");
        CHECK(f.statuses[std::stoi(seen.back().substr(4))] == "Completed");
    }
}

TEST_CASE("filters before paging: name and times") {
    fixture f(25);
    list_query query;
    query.max_results = 100;
    SUBCASE("NameContains is a case-insensitive substring") {
        query.name_contains = "JOB-1";
        CHECK(f.all_pages(query).size() == 10);
    }
    SUBCASE("creation time bounds are strict") {
        query.creation_time_after = 1010;
        query.creation_time_before = 1015;
        auto seen = f.all_pages(query);
        CHECK(seen == std::vector<std::string>{"job-14", "job-13", "job-12", "job-11"});
    }
    SUBCASE("last-modified bounds") {
        query.last_modified_time_after = 2020;
        CHECK(f.all_pages(query).size() == 4);
    }
}

TEST_CASE("StatusEquals applies to the page of MaxResults candidates, and paging still reaches every match") {
    fixture f(25);
    list_query query;
    query.max_results = 4;
    query.status_equals = "Completed";
    auto first = paginate(f.items, query);
    // Of the newest four (24..21) only 24 and 21 are Completed.
    CHECK(first.indexes.size() == 2);
    REQUIRE(first.next_token);
    auto seen = f.all_pages(query);
    CHECK(seen.size() == 9);  // 0,3,...,24
}

TEST_CASE("tokens stay valid while new items are created") {
    fixture f(10);
    list_query query;
    query.max_results = 4;
    query.descending = false;
    auto first = paginate(f.items, query);
    REQUIRE(first.next_token);
    // A newer item arrives between pages: ascending paging continues after job-03, without repeats.
    f.names.push_back("job-99");
    f.statuses.push_back("InProgress");
    f.items.clear();
    for (std::size_t i = 0; i < f.names.size(); ++i)
        f.items.push_back({f.names[i], 1000.0 + static_cast<double>(i), 0, f.statuses[i], std::nullopt});
    query.next_token = first.next_token;
    auto second = paginate(f.items, query);
    REQUIRE(second.indexes.size() == 4);
    CHECK(f.items[second.indexes.front()].name == "job-04");
}

TEST_CASE("a foreign token is a ValidationException") {
    fixture f(3);
    list_query query;
    query.next_token = "not-a-token";
    CHECK_THROWS_AS(paginate(f.items, query), service_error);
    query.sort_by = list_query::sort_key::name;
    query.max_results = 1;
    query.next_token = std::nullopt;
    auto page = paginate(f.items, query);
    REQUIRE(page.next_token);
    query.sort_by = list_query::sort_key::status;  // a token from another sort
    query.next_token = page.next_token;
    CHECK_THROWS_WITH_AS(paginate(f.items, query), "Invalid pagination token: it was not returned by this list.",
                         service_error);
}

TEST_CASE("sorting by objective leaves out items without one") {
    fixture f(5);
    f.items[1].objective = 0.5;
    f.items[3].objective = 0.1;
    list_query query;
    query.sort_by = list_query::sort_key::objective;
    query.descending = false;
    auto page = paginate(f.items, query);
    REQUIRE(page.indexes.size() == 2);
    CHECK(page.indexes[0] == 3);
    CHECK(page.indexes[1] == 1);
}
