#include "emulator/tags.hpp"

#include <algorithm>
#include <cctype>

#include "emulator/arn.hpp"
#include "emulator/errors.hpp"

namespace smlocal {
namespace {

constexpr std::size_t max_tags_per_resource = 50;

}  // namespace

tag_service::tag_service(store& db, std::function<bool(const std::string& arn)> resource_exists)
    : store_(db), resource_exists_(std::move(resource_exists)) {}

void tag_service::recover() {
    std::lock_guard lock(mutex_);
    for (auto& [arn, tags] : store_.load_tags()) by_arn_[lower_case(arn)] = std::move(tags);
}

void tag_service::require_resource(const std::string& arn) const {
    if (!resource_exists_(arn)) throw validation_error("Resource does not exist");
}

void tag_service::merge(const std::string& arn, const std::vector<tag>& tags) {
    const std::string key = lower_case(arn);
    std::lock_guard lock(mutex_);
    std::vector<tag> merged = by_arn_[key];
    for (const auto& t : tags) {
        auto it = std::find_if(merged.begin(), merged.end(), [&](const tag& existing) { return existing.key == t.key; });
        if (it != merged.end())
            it->value = t.value;
        else
            merged.push_back(t);
    }
    if (merged.size() > max_tags_per_resource)
        throw validation_error("A resource can have at most 50 tags; this request would give it " +
                               std::to_string(merged.size()) + ".");
    store_.put_tags(key, tags);
    by_arn_[key] = std::move(merged);
}

void tag_service::add(const std::string& arn, const std::vector<tag>& tags) {
    require_resource(arn);
    merge(arn, tags);
}

void tag_service::add_at_create(const std::string& arn, const std::vector<tag>& tags) {
    if (!tags.empty()) merge(arn, tags);
}

tag_page tag_service::list(const std::string& arn, int max_results, const std::optional<std::string>& next_token) const {
    require_resource(arn);
    std::lock_guard lock(mutex_);
    auto it = by_arn_.find(lower_case(arn));
    tag_page page;
    if (it == by_arn_.end()) return page;
    // Tokens are the offset of the next tag; tag lists are short and only grow at the end.
    std::size_t begin = 0;
    if (next_token) {
        try {
            begin = std::stoul(*next_token);
        } catch (const std::exception&) {
            throw validation_error("Invalid pagination token: it was not returned by ListTags.");
        }
    }
    const auto& tags = it->second;
    const std::size_t end = std::min(tags.size(), begin + static_cast<std::size_t>(std::max(max_results, 1)));
    for (std::size_t i = begin; i < end; ++i) page.tags.push_back(tags[i]);
    if (end < tags.size()) page.next_token = std::to_string(end);
    return page;
}

void tag_service::remove(const std::string& arn, const std::vector<std::string>& keys) {
    require_resource(arn);
    const std::string key = lower_case(arn);
    std::lock_guard lock(mutex_);
    auto it = by_arn_.find(key);
    if (it == by_arn_.end()) return;
    std::erase_if(it->second, [&](const tag& t) { return std::find(keys.begin(), keys.end(), t.key) != keys.end(); });
    store_.delete_tags(key, keys);
}

std::vector<tag> tag_service::of(const std::string& arn) const {
    std::lock_guard lock(mutex_);
    auto it = by_arn_.find(lower_case(arn));
    return it == by_arn_.end() ? std::vector<tag>{} : it->second;
}

}  // namespace smlocal
