#pragma once
// AddTags / ListTags / DeleteTags over every taggable resource (training and tuning jobs), keyed
// by ARN compared case-insensitively, because SageMaker ARNs carry the lower-cased name.

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "emulator/store.hpp"

namespace smlocal {

struct tag_page {
    std::vector<tag> tags;
    std::optional<std::string> next_token;
};

class tag_service {
public:
    /// `resource_exists` answers whether an ARN names a resource of ours.
    tag_service(store& db, std::function<bool(const std::string& arn)> resource_exists);

    /// Loads stored tags (call once at start).
    void recover();

    /// Adds or overwrites by key. Throws ValidationException for an unknown resource or more than
    /// 50 tags in all.
    void add(const std::string& arn, const std::vector<tag>& tags);
    /// Tags given at create time: the resource is being created, so it need not exist yet.
    void add_at_create(const std::string& arn, const std::vector<tag>& tags);
    tag_page list(const std::string& arn, int max_results, const std::optional<std::string>& next_token) const;
    /// Missing keys are ignored.
    void remove(const std::string& arn, const std::vector<std::string>& keys);

    /// Tags of a resource without the existence check (tuning children inherit them).
    std::vector<tag> of(const std::string& arn) const;

private:
    void require_resource(const std::string& arn) const;
    void merge(const std::string& key, const std::vector<tag>& tags);

    store& store_;
    std::function<bool(const std::string&)> resource_exists_;
    mutable std::mutex mutex_;
    std::map<std::string, std::vector<tag>> by_arn_;  // lower-cased ARN -> tags in insertion order
};

}  // namespace smlocal
