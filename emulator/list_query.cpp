#include "emulator/list_query.hpp"

#include <algorithm>
#include <cctype>
#include <tuple>

#include <nlohmann/json.hpp>

#include "emulator/encoding.hpp"
#include "emulator/errors.hpp"

namespace smlocal {
namespace {

using json = nlohmann::json;

bool contains_ignoring_case(std::string_view haystack, std::string_view needle) {
    auto lower = [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); };
    return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end(),
                       [&](char a, char b) { return lower(a) == lower(b); }) != haystack.end();
}

bool passes_filters(const list_item& item, const list_query& q) {
    if (q.name_contains && !contains_ignoring_case(item.name, *q.name_contains)) return false;
    if (q.creation_time_after && !(item.creation_time > *q.creation_time_after)) return false;
    if (q.creation_time_before && !(item.creation_time < *q.creation_time_before)) return false;
    if (q.last_modified_time_after && !(item.last_modified_time > *q.last_modified_time_after)) return false;
    if (q.last_modified_time_before && !(item.last_modified_time < *q.last_modified_time_before)) return false;
    if (q.sort_by == list_query::sort_key::objective && !item.objective) return false;
    return true;
}

// The total order of a sort: the key itself, then creation time and name so that ties are stable.
struct sort_position {
    std::string status;
    double primary = 0;
    double creation_time = 0;
    std::string name;

    auto tie() const { return std::tie(status, primary, creation_time, name); }
};

sort_position position_of(const list_item& item, list_query::sort_key key) {
    switch (key) {
        case list_query::sort_key::name: return {{}, 0, 0, std::string(item.name)};
        case list_query::sort_key::creation_time: return {{}, item.creation_time, 0, std::string(item.name)};
        case list_query::sort_key::status:
            return {std::string(item.status), 0, item.creation_time, std::string(item.name)};
        case list_query::sort_key::objective:
            return {{}, item.objective.value_or(0), item.creation_time, std::string(item.name)};
    }
    return {};
}

bool ascending_less(const list_item& a, const list_item& b, list_query::sort_key key) {
    switch (key) {
        case list_query::sort_key::name: return a.name < b.name;
        case list_query::sort_key::creation_time:
            return std::tie(a.creation_time, a.name) < std::tie(b.creation_time, b.name);
        case list_query::sort_key::status:
            return std::tie(a.status, a.creation_time, a.name) < std::tie(b.status, b.creation_time, b.name);
        case list_query::sort_key::objective:
            return std::make_tuple(a.objective.value_or(0), a.creation_time, a.name) <
                   std::make_tuple(b.objective.value_or(0), b.creation_time, b.name);
    }
    return false;
}

// Tokens are opaque to clients; base64 keeps them printable whatever the names hold.
std::string make_token(const sort_position& p, list_query::sort_key key) {
    return base64_encode(json{{"k", static_cast<int>(key)}, {"s", p.status}, {"p", p.primary},
                              {"c", p.creation_time}, {"n", p.name}}.dump());
}

sort_position parse_token(const std::string& token, list_query::sort_key key) {
    auto invalid = [] { return validation_error("Invalid pagination token: it was not returned by this list."); };
    auto raw = base64_decode(token);
    if (!raw) throw invalid();
    json parsed = json::parse(*raw, nullptr, false);
    if (!parsed.is_object() || parsed.value("k", -1) != static_cast<int>(key)) throw invalid();
    try {
        return {parsed.at("s").get<std::string>(), parsed.at("p").get<double>(), parsed.at("c").get<double>(),
                parsed.at("n").get<std::string>()};
    } catch (const json::exception&) {
        throw invalid();
    }
}

}  // namespace

list_page paginate(const std::vector<list_item>& items, const list_query& query) {
    std::vector<std::size_t> candidates;
    candidates.reserve(items.size());
    for (std::size_t i = 0; i < items.size(); ++i)
        if (passes_filters(items[i], query)) candidates.push_back(i);

    const auto key = query.sort_by;
    auto less = [&](std::size_t a, std::size_t b) { return ascending_less(items[a], items[b], key); };
    // Registries keep creation order, so the default sort is usually a no-op check.
    if (!std::is_sorted(candidates.begin(), candidates.end(), less))
        std::sort(candidates.begin(), candidates.end(), less);
    if (query.descending) std::reverse(candidates.begin(), candidates.end());

    // Resume strictly after the last item of the previous page, in this sort's direction.
    std::size_t begin = 0;
    if (query.next_token) {
        const sort_position last = parse_token(*query.next_token, key);
        auto after_last = [&](std::size_t index) {
            const sort_position here = position_of(items[index], key);
            return query.descending ? here.tie() < last.tie() : last.tie() < here.tie();
        };
        // Candidates are sorted, so "after the last item" is a partition point.
        begin = static_cast<std::size_t>(
            std::partition_point(candidates.begin(), candidates.end(), [&](std::size_t i) { return !after_last(i); }) -
            candidates.begin());
    }

    list_page page;
    const std::size_t end = std::min(candidates.size(), begin + static_cast<std::size_t>(std::max(query.max_results, 1)));
    for (std::size_t i = begin; i < end; ++i)
        if (!query.status_equals || items[candidates[i]].status == *query.status_equals)
            page.indexes.push_back(candidates[i]);
    if (end < candidates.size() && end > begin) page.next_token = make_token(position_of(items[candidates[end - 1]], key), key);
    return page;
}

}  // namespace smlocal
