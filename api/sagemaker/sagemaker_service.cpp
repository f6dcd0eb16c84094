#include "api/sagemaker/sagemaker_service.hpp"

#include "api/aws_protocol.hpp"
#include "api/model/validator.hpp"
#include "emulator/errors.hpp"

namespace smlocal::api {
namespace {

using json = nlohmann::json;

std::vector<tag> read_tags(const json& request) {
    std::vector<tag> out;
    if (auto it = request.find("Tags"); it != request.end())
        for (const auto& t : *it) out.push_back({t.at("Key").get<std::string>(), t.value("Value", "")});
    return out;
}

json tags_json(const std::vector<tag>& tags) {
    json out = json::array();
    for (const auto& t : tags) out.push_back({{"Key", t.key}, {"Value", t.value}});
    return out;
}

std::optional<double> timestamp_member(const json& request, const char* name) {
    auto it = request.find(name);
    return it == request.end() ? std::nullopt : parse_timestamp(*it);
}

// Defaults differ per list: ListTrainingJobs is newest first, the tuning lists sort by name.
list_query read_list_query(const json& request, const char* default_sort = "CreationTime",
                           const char* default_order = "Descending") {
    list_query query;
    if (auto it = request.find("NameContains"); it != request.end()) query.name_contains = it->get<std::string>();
    if (auto it = request.find("StatusEquals"); it != request.end()) query.status_equals = it->get<std::string>();
    query.creation_time_after = timestamp_member(request, "CreationTimeAfter");
    query.creation_time_before = timestamp_member(request, "CreationTimeBefore");
    query.last_modified_time_after = timestamp_member(request, "LastModifiedTimeAfter");
    query.last_modified_time_before = timestamp_member(request, "LastModifiedTimeBefore");
    const std::string sort_by = request.value("SortBy", default_sort);
    query.sort_by = sort_by == "Name"                        ? list_query::sort_key::name
                    : sort_by == "Status"                    ? list_query::sort_key::status
                    : sort_by == "FinalObjectiveMetricValue" ? list_query::sort_key::objective
                                                             : list_query::sort_key::creation_time;
    query.descending = request.value("SortOrder", default_order) == "Descending";
    query.max_results = request.value("MaxResults", 10);
    if (auto it = request.find("NextToken"); it != request.end() && !it->get<std::string>().empty())
        query.next_token = it->get<std::string>();
    return query;
}

}  // namespace

json_service make_sagemaker_service(training_job_service& training_jobs, tuning::tuning_job_service& tuning_jobs,
                                    tag_service& tags) {
    json_service service;
    service.target_prefix = "SageMaker";
    service.model = &sagemaker_model();
    auto& ops = service.operations;

    ops["CreateTrainingJob"] = [&](json& request) {
        const std::vector<tag> initial_tags = read_tags(request);
        const std::string arn = training_jobs.create(request);
        tags.add_at_create(arn, initial_tags);
        return json{{"TrainingJobArn", arn}};
    };
    ops["DescribeTrainingJob"] = [&](json& request) {
        return training_jobs.describe_body(request.at("TrainingJobName").get<std::string>());
    };
    ops["ListTrainingJobs"] = [&](json& request) {
        training_job_list page = training_jobs.list(read_list_query(request));
        json out{{"TrainingJobSummaries", std::move(page.summaries)}};
        if (page.next_token) out["NextToken"] = *page.next_token;
        return out;
    };
    ops["StopTrainingJob"] = [&](json& request) {
        training_jobs.stop(request.at("TrainingJobName").get<std::string>());
        return json::object();
    };
    ops["CreateHyperParameterTuningJob"] = [&](json& request) {
        return json{{"HyperParameterTuningJobArn", tuning_jobs.create(request)}};
    };
    ops["DescribeHyperParameterTuningJob"] = [&](json& request) {
        return tuning_jobs.describe(request.at("HyperParameterTuningJobName").get<std::string>());
    };
    ops["ListHyperParameterTuningJobs"] = [&](json& request) {
        auto page = tuning_jobs.list(read_list_query(request, "Name", "Ascending"));
        json out{{"HyperParameterTuningJobSummaries", std::move(page.summaries)}};
        if (page.next_token) out["NextToken"] = *page.next_token;
        return out;
    };
    ops["StopHyperParameterTuningJob"] = [&](json& request) {
        tuning_jobs.stop(request.at("HyperParameterTuningJobName").get<std::string>());
        return json::object();
    };
    ops["ListTrainingJobsForHyperParameterTuningJob"] = [&](json& request) {
        auto page = tuning_jobs.list_training_jobs(request.at("HyperParameterTuningJobName").get<std::string>(),
                                                   read_list_query(request, "Name", "Ascending"));
        json out{{"TrainingJobSummaries", std::move(page.summaries)}};
        if (page.next_token) out["NextToken"] = *page.next_token;
        return out;
    };
    ops["AddTags"] = [&](json& request) {
        const std::vector<tag> added = read_tags(request);
        tags.add(request.at("ResourceArn").get<std::string>(), added);
        return json{{"Tags", tags_json(added)}};
    };
    ops["ListTags"] = [&](json& request) {
        std::optional<std::string> token;
        if (auto it = request.find("NextToken"); it != request.end() && !it->get<std::string>().empty())
            token = it->get<std::string>();
        tag_page page = tags.list(request.at("ResourceArn").get<std::string>(), request.value("MaxResults", 50), token);
        json out{{"Tags", tags_json(page.tags)}};
        if (page.next_token) out["NextToken"] = *page.next_token;
        return out;
    };
    ops["DeleteTags"] = [&](json& request) {
        tags.remove(request.at("ResourceArn").get<std::string>(),
                    request.at("TagKeys").get<std::vector<std::string>>());
        return json::object();
    };
    return service;
}

}  // namespace smlocal::api
