#pragma once
// Filtering, sorting and token paging shared by every List* operation (spec/api.md §3).

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace smlocal {

/// What a List* request asks for, in domain terms.
struct list_query {
    enum class sort_key { name, creation_time, status, objective };

    std::optional<std::string> name_contains;  // case-insensitive substring
    std::optional<double> creation_time_after;  // strict: > after, < before
    std::optional<double> creation_time_before;
    std::optional<double> last_modified_time_after;
    std::optional<double> last_modified_time_before;
    std::optional<std::string> status_equals;
    sort_key sort_by = sort_key::creation_time;
    bool descending = true;
    int max_results = 10;
    std::optional<std::string> next_token;
};

/// The fields a listed resource exposes to filtering and sorting.
struct list_item {
    std::string_view name;
    double creation_time = 0;
    double last_modified_time = 0;
    std::string_view status;
    std::optional<double> objective;  // only for SortBy FinalObjectiveMetricValue
};

struct list_page {
    std::vector<std::size_t> indexes;  // into the items given, in page order
    std::optional<std::string> next_token;
};

/// One page. NameContains and the time filters apply before paging; StatusEquals applies to the
/// page of MaxResults candidates, as AWS documents for ListTrainingJobs, so a page may hold fewer
/// items while more exist. Every match is reachable by following next_token, and the last page
/// has none. Tokens encode the sort key of the last item, so pages stay stable while resources are
/// created. Sorting by objective leaves out items that have none. Items already in ascending
/// (creation_time, name) order are not re-sorted. Throws service_error(ValidationException) for a
/// token this function did not make.
list_page paginate(const std::vector<list_item>& items, const list_query& query);

}  // namespace smlocal
