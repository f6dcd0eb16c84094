#include "api/model/validator.hpp"

#include <algorithm>
#include <string>

#include <doctest/doctest.h>

using nlohmann::json;
using smlocal::api::check_output;
using smlocal::api::format_validation_message;
using smlocal::api::request_validator;
using smlocal::api::sagemaker_model;
using smlocal::api::service_model;
using smlocal::api::validation_result;

namespace {

json valid_create_training_job() {
    return json::parse(R"json({
        "TrainingJobName": "my-job-1",
        "RoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
        "AlgorithmSpecification": {
            "TrainingImage": "smlocal/trainer:latest",
            "TrainingInputMode": "File",
            "MetricDefinitions": [{"Name": "loss", "Regex": "loss=([0-9.]+)"}]
        },
        "HyperParameters": {"epochs": "3", "lr": "0.1"},
        "InputDataConfig": [
            {"ChannelName": "train",
             "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://bucket/train",
                                             "S3DataDistributionType": "FullyReplicated"}}},
            {"ChannelName": "validation", "InputMode": "Pipe",
             "DataSource": {"FileSystemDataSource": {"FileSystemId": "fs-0123456789abcdef0",
                                                     "FileSystemAccessMode": "ro",
                                                     "FileSystemType": "EFS",
                                                     "DirectoryPath": "/data"}}}
        ],
        "OutputDataConfig": {"S3OutputPath": "s3://bucket/output"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 2, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "Environment": {"MY_VAR": "value"},
        "Tags": [{"Key": "team", "Value": "ml"}],
        "EnableNetworkIsolation": false
    })json");
}

validation_result validate(std::string_view operation, json& request) {
    return request_validator(sagemaker_model()).validate(operation, request);
}

std::string message_of(std::string_view operation, json request) {
    validation_result result = validate(operation, request);
    REQUIRE(result.type_errors.empty());
    return format_validation_message(result.violations);
}

json valid_describe_training_job_response() {
    return json::parse(R"json({
        "TrainingJobName": "my-job-1",
        "TrainingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/my-job-1",
        "ModelArtifacts": {"S3ModelArtifacts": "s3://bucket/output/my-job-1/output/model.tar.gz"},
        "TrainingJobStatus": "Completed",
        "SecondaryStatus": "Completed",
        "AlgorithmSpecification": {"TrainingImage": "smlocal/trainer:latest", "TrainingInputMode": "File"},
        "RoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
        "OutputDataConfig": {"S3OutputPath": "s3://bucket/output"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
        "CreationTime": 1700000000.123,
        "TrainingStartTime": 1700000001,
        "TrainingEndTime": 1700000100.5,
        "LastModifiedTime": 1700000100.5,
        "SecondaryStatusTransitions": [
            {"Status": "Starting", "StartTime": 1700000000.123, "EndTime": 1700000001,
             "StatusMessage": "Starting the training job"},
            {"Status": "Completed", "StartTime": 1700000100.5, "StatusMessage": "Training job completed"}
        ],
        "FinalMetricDataList": [{"MetricName": "loss", "Value": 0.25, "Timestamp": 1700000090}],
        "TrainingTimeInSeconds": 99,
        "BillableTimeInSeconds": 99,
        "EnableNetworkIsolation": false
    })json");
}

const char* const name_violation =
    "Value 'my_job' at 'trainingJobName' failed to satisfy constraint: Member must satisfy regular "
    "expression pattern: [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}";

}  // namespace

TEST_CASE("validator: the embedded model holds the served operations and compiles every pattern") {
    const service_model& model = sagemaker_model();
    for (const char* op : {"CreateTrainingJob", "DescribeTrainingJob", "ListTrainingJobs", "StopTrainingJob",
                           "DeleteTrainingJob", "CreateHyperParameterTuningJob", "DescribeHyperParameterTuningJob",
                           "ListHyperParameterTuningJobs", "StopHyperParameterTuningJob",
                           "DeleteHyperParameterTuningJob", "ListTrainingJobsForHyperParameterTuningJob", "AddTags",
                           "ListTags", "DeleteTags"}) {
        CAPTURE(op);
        CHECK(model.has_operation(op));
    }
    CHECK_FALSE(model.has_operation("CreateEndpoint"));
    CHECK(model.input_shape("CreateTrainingJob") == "CreateTrainingJobRequest");
    CHECK(model.output_shape("DescribeTrainingJob") == "DescribeTrainingJobResponse");
    CHECK(model.input_shape("NoSuchOperation").empty());
    CHECK(model.shape("TrainingJobName")["pattern"] == "[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}");
    CHECK_THROWS_AS(model.shape("NoSuchShape"), std::out_of_range);
    CHECK(model.skipped_patterns().empty());
    CHECK(&sagemaker_model() == &model);
}

TEST_CASE("validator: a valid CreateTrainingJob passes unchanged") {
    json request = valid_create_training_job();
    const json original = request;
    validation_result result = validate("CreateTrainingJob", request);
    CHECK(result.violations.empty());
    CHECK(result.type_errors.empty());
    CHECK(request == original);
}

TEST_CASE("validator: patterns use full-match semantics") {
    json request = valid_create_training_job();
    request["TrainingJobName"] = "my_job";
    CHECK(message_of("CreateTrainingJob", request) == std::string("1 validation error detected: ") + name_violation);

    SUBCASE("a valid prefix is not enough") {
        request["TrainingJobName"] = "job-";
        CHECK(message_of("CreateTrainingJob", request).find("Value 'job-' at 'trainingJobName'") != std::string::npos);
    }
}

TEST_CASE("validator: every violation is reported, joined with '; '") {
    json request = valid_create_training_job();
    request["TrainingJobName"] = "my_job";
    request["AlgorithmSpecification"]["TrainingInputMode"] = "Stream";
    CHECK(message_of("CreateTrainingJob", request) ==
          "2 validation errors detected: Value 'Stream' at 'algorithmSpecification.trainingInputMode' failed to "
          "satisfy constraint: Member must satisfy enum value set: [Pipe, File, FastFile]; " +
              std::string(name_violation));

    SUBCASE("one value can break several constraints") {
        request = valid_create_training_job();
        request["TrainingJobName"] = std::string(64, 'a');
        validation_result result = validate("CreateTrainingJob", request);
        REQUIRE(result.violations.size() == 2);
        CHECK(result.violations[0] == "Value '" + std::string(64, 'a') +
                                          "' at 'trainingJobName' failed to satisfy constraint: Member must have "
                                          "length less than or equal to 63");
        CHECK(result.violations[1].ends_with("Member must satisfy regular expression pattern: "
                                             "[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"));
    }
}

TEST_CASE("validator: required members") {
    json request = valid_create_training_job();
    const std::string expected =
        "1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null";

    SUBCASE("absent") {
        request.erase("RoleArn");
        CHECK(message_of("CreateTrainingJob", request) == expected);
    }
    SUBCASE("null") {
        request["RoleArn"] = nullptr;
        CHECK(message_of("CreateTrainingJob", request) == expected);
    }
    SUBCASE("nested") {
        request["AlgorithmSpecification"].erase("TrainingInputMode");
        CHECK(message_of("CreateTrainingJob", request) ==
              "1 validation error detected: Value null at 'algorithmSpecification.trainingInputMode' failed to "
              "satisfy constraint: Member must not be null");
    }
    SUBCASE("an empty body lists every required member") {
        CHECK(message_of("CreateTrainingJob", json::object()) ==
              "3 validation errors detected: "
              "Value null at 'outputDataConfig' failed to satisfy constraint: Member must not be null; "
              "Value null at 'roleArn' failed to satisfy constraint: Member must not be null; "
              "Value null at 'trainingJobName' failed to satisfy constraint: Member must not be null");
    }
}

TEST_CASE("validator: enums are listed in model order") {
    json request = valid_create_training_job();
    request["AlgorithmSpecification"]["TrainingInputMode"] = "file";
    CHECK(message_of("CreateTrainingJob", request) ==
          "1 validation error detected: Value 'file' at 'algorithmSpecification.trainingInputMode' failed to "
          "satisfy constraint: Member must satisfy enum value set: [Pipe, File, FastFile]");
}

TEST_CASE("validator: value ranges") {
    SUBCASE("below the minimum") {
        CHECK(message_of("ListTrainingJobs", {{"MaxResults", 0}}) ==
              "1 validation error detected: Value '0' at 'maxResults' failed to satisfy constraint: Member must "
              "have value greater than or equal to 1");
    }
    SUBCASE("above the maximum") {
        CHECK(message_of("ListTrainingJobs", {{"MaxResults", 101}}) ==
              "1 validation error detected: Value '101' at 'maxResults' failed to satisfy constraint: Member must "
              "have value less than or equal to 100");
    }
    SUBCASE("the bounds themselves pass") {
        json request = {{"MaxResults", 1}};
        CHECK(validate("ListTrainingJobs", request).violations.empty());
        request = {{"MaxResults", 100}};
        CHECK(validate("ListTrainingJobs", request).violations.empty());
    }
    SUBCASE("ListTags has a minimum of 50 and no maximum") {
        json request = {{"ResourceArn", "arn:aws:sagemaker:us-east-1:123456789012:training-job/a"}, {"MaxResults", 10}};
        CHECK(message_of("ListTags", request) ==
              "1 validation error detected: Value '10' at 'maxResults' failed to satisfy constraint: Member must "
              "have value greater than or equal to 50");
        request["MaxResults"] = 100000;
        CHECK(validate("ListTags", request).violations.empty());
    }
}

TEST_CASE("validator: paths into lists and structures") {
    json request = valid_create_training_job();
    request["InputDataConfig"][1]["ChannelName"] = "bad name";
    CHECK(message_of("CreateTrainingJob", request) ==
          "1 validation error detected: Value 'bad name' at 'inputDataConfig.2.member.channelName' failed to "
          "satisfy constraint: Member must satisfy regular expression pattern: [A-Za-z0-9\\.\\-_]+");

    SUBCASE("deeper") {
        request = valid_create_training_job();
        request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3DataType"] = "Folder";
        validation_result result = validate("CreateTrainingJob", request);
        REQUIRE(result.violations.size() == 1);
        CHECK(result.violations[0].starts_with(
            "Value 'Folder' at 'inputDataConfig.1.member.dataSource.s3DataSource.s3DataType' failed to satisfy "
            "constraint: Member must satisfy enum value set: [ManifestFile, S3Prefix, AugmentedManifestFile"));
    }
    SUBCASE("list sizes use the length wording") {
        request = valid_create_training_job();
        request["InputDataConfig"] = json::array();
        CHECK(message_of("CreateTrainingJob", request) ==
              "1 validation error detected: Value '[]' at 'inputDataConfig' failed to satisfy constraint: Member "
              "must have length greater than or equal to 1");
    }
}

TEST_CASE("validator: scalar list elements and map entries are reported once per list or map") {
    json request = valid_create_training_job();

    SUBCASE("list of strings") {
        request["VpcConfig"] = {{"SecurityGroupIds", {"sg-1", "sg_2"}}, {"Subnets", {"subnet-1"}}};
        CHECK(message_of("CreateTrainingJob", request) ==
              "1 validation error detected: Value '[sg-1, sg_2]' at 'vpcConfig.securityGroupIds' failed to satisfy "
              "constraint: Member must satisfy constraint: [Member must have length less than or equal to 32, "
              "Member must have length greater than or equal to 0, Member must satisfy regular expression "
              "pattern: [-0-9a-zA-Z]+]");
    }
    SUBCASE("map value") {
        request["HyperParameters"] = {{"a", std::string(2501, 'x')}, {"b", "c"}};
        validation_result result = validate("CreateTrainingJob", request);
        REQUIRE(result.violations.size() == 1);
        CHECK(result.violations[0] == "Value '{a=" + std::string(2501, 'x') +
                                          ", b=c}' at 'hyperParameters' failed to satisfy constraint: Map value must "
                                          "satisfy constraint: [Member must have length less than or equal to 2500, "
                                          "Member must have length greater than or equal to 0, Member must satisfy "
                                          "regular expression pattern: .*]");
    }
    SUBCASE("'.*' stops at a newline, as Java's does; '[\\S\\s]*' does not") {
        request["HyperParameters"] = {{"a", "line\nbreak"}};
        request["Environment"] = {{"A", "line\nbreak"}};
        validation_result result = validate("CreateTrainingJob", request);
        REQUIRE(result.violations.size() == 1);
        CHECK(result.violations[0].starts_with("Value '{a=line\nbreak}' at 'hyperParameters'"));
        request["HyperParameters"] = {{"a", ""}};
        CHECK(validate("CreateTrainingJob", request).violations.empty());
    }
    SUBCASE("map key") {
        request["Environment"] = {{"1BAD", "x"}};
        CHECK(message_of("CreateTrainingJob", request) ==
              "1 validation error detected: Value '{1BAD=x}' at 'environment' failed to satisfy constraint: Map "
              "keys must satisfy constraint: [Member must have length less than or equal to 512, Member must have "
              "length greater than or equal to 0, Member must satisfy regular expression pattern: "
              "[a-zA-Z_][a-zA-Z0-9_]*]");
    }
    SUBCASE("map size") {
        json hyper_parameters = json::object();
        for (int i = 0; i < 101; ++i) hyper_parameters["k" + std::to_string(i)] = "v";
        request["HyperParameters"] = hyper_parameters;
        validation_result result = validate("CreateTrainingJob", request);
        REQUIRE(result.violations.size() == 1);
        CHECK(result.violations[0].ends_with(
            "' at 'hyperParameters' failed to satisfy constraint: Member must have length less than or equal to 100"));
    }
}

TEST_CASE("validator: string lengths count UTF-16 code units, as Java does") {
    json request = {{"ResourceArn", "arn:aws:sagemaker:us-east-1:123456789012:training-job/a"},
                    {"Tags", {{{"Key", "k"}, {"Value", ""}}}}};
    // U+00E9 is one unit; U+20000 (a CJK letter, so the tag pattern allows it) is a surrogate pair.
    std::string e_acute = "\xC3\xA9";
    std::string cjk = "\xF0\xA0\x80\x80";
    std::string value;
    for (int i = 0; i < 256; ++i) value += e_acute;
    request["Tags"][0]["Value"] = value;
    CHECK(validate("AddTags", request).violations.empty());
    value.clear();
    for (int i = 0; i < 128; ++i) value += cjk;
    request["Tags"][0]["Value"] = value;
    CHECK(validate("AddTags", request).violations.empty());
    request["Tags"][0]["Value"] = value + "a";
    validation_result result = validate("AddTags", request);
    REQUIRE(result.violations.size() == 1);
    CHECK(result.violations[0].ends_with("Member must have length less than or equal to 256"));
}

TEST_CASE("validator: wrong JSON types are type errors, not violations") {
    json request = valid_create_training_job();
    std::string expected;

    SUBCASE("string for an integer") {
        request["ResourceConfig"]["InstanceCount"] = "2";
        expected = "Unexpected value type at 'resourceConfig.instanceCount': expected integer, got string";
    }
    SUBCASE("float for an integer") {
        request["ResourceConfig"]["InstanceCount"] = 2.0;
        expected = "Unexpected value type at 'resourceConfig.instanceCount': expected integer, got float";
    }
    SUBCASE("integer out of range") {
        request["ResourceConfig"]["InstanceCount"] = 4294967296LL;
        expected = "Unexpected value at 'resourceConfig.instanceCount': 4294967296 is out of range for integer";
    }
    SUBCASE("object for a list") {
        request["InputDataConfig"] = request["InputDataConfig"][0];
        expected = "Unexpected value type at 'inputDataConfig': expected list, got object";
    }
    SUBCASE("string for a boolean") {
        request["EnableNetworkIsolation"] = "true";
        expected = "Unexpected value type at 'enableNetworkIsolation': expected boolean, got string";
    }
    SUBCASE("number for a string") {
        request["HyperParameters"]["epochs"] = 3;
        expected = "Unexpected value type at 'hyperParameters.epochs': expected string, got integer";
    }
    SUBCASE("null inside a list") {
        request["InputDataConfig"][1] = nullptr;
        expected = "Unexpected value type at 'inputDataConfig.2.member': expected structure, got null";
    }
    SUBCASE("array for the body") {
        request = json::array();
        expected = "Unexpected value type in the body: expected structure, got array";
    }
    validation_result result = validate("CreateTrainingJob", request);
    CHECK(result.violations.empty());
    REQUIRE(result.type_errors.size() == 1);
    CHECK(result.type_errors[0] == expected);
}

TEST_CASE("validator: timestamps accept epoch seconds and ISO-8601") {
    json request = {{"CreationTimeAfter", 1700000000}, {"CreationTimeBefore", 1700000000.25}};
    CHECK(validate("ListTrainingJobs", request).type_errors.empty());
    CHECK(request["CreationTimeBefore"] == 1700000000.25);

    request = {{"CreationTimeAfter", "2024-01-02T03:04:05Z"},
               {"CreationTimeBefore", "2024-01-02T04:04:05.5+01:00"},
               {"LastModifiedTimeAfter", "2024-01-02"}};
    validation_result result = validate("ListTrainingJobs", request);
    CHECK(result.type_errors.empty());
    // ISO strings become epoch seconds, so handlers only ever see numbers.
    CHECK(request["CreationTimeAfter"] == 1704164645);
    CHECK(request["CreationTimeBefore"] == 1704164645.5);
    CHECK(request["LastModifiedTimeAfter"] == 1704153600);

    request = {{"CreationTimeAfter", "yesterday"}, {"CreationTimeBefore", true}};
    result = validate("ListTrainingJobs", request);
    REQUIRE(result.type_errors.size() == 2);
    CHECK(result.type_errors[0] ==
          "Unexpected value at 'creationTimeAfter': 'yesterday' is not a timestamp (epoch seconds or ISO-8601)");
    CHECK(result.type_errors[1] == "Unexpected value type at 'creationTimeBefore': expected timestamp, got boolean");
}

TEST_CASE("validator: unknown members and null optional members are removed") {
    json request = valid_create_training_job();
    const json original = request;
    request["FutureFeature"] = {{"Enabled", true}};
    request["AlgorithmSpecification"]["FutureMode"] = "Turbo";
    request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["FutureFilter"] = 3;
    request["Tags"][0]["Extra"] = nullptr;
    request["VpcConfig"] = nullptr;
    request["ResourceConfig"]["VolumeKmsKeyId"] = nullptr;

    validation_result result = validate("CreateTrainingJob", request);
    CHECK(result.violations.empty());
    CHECK(result.type_errors.empty());
    CHECK(request == original);
}

TEST_CASE("validator: operations and arguments the model does not have") {
    json request = json::object();
    CHECK_THROWS_AS(validate("CreateEndpoint", request), std::out_of_range);
    CHECK_THROWS_AS(check_output(sagemaker_model(), "CreateEndpoint", json::object()), std::out_of_range);
    CHECK_THROWS_AS(service_model::parse(json::array()), std::runtime_error);
    CHECK_THROWS_AS(service_model::parse({{"operations", json::object()}}), std::runtime_error);
    CHECK_THROWS_AS(service_model::parse(json::parse(R"json({"operations": {}, "shapes": {
        "A": {"type": "structure", "required": [1], "members": {}}}})json")),
                    std::runtime_error);
    CHECK_THROWS_AS(service_model::parse(json::parse(R"json({"operations": {}, "shapes": {
        "A": {"type": "structure", "members": {"B": {"shape": "Missing"}}}}})json")),
                    std::runtime_error);
}

TEST_CASE("validator: format_validation_message") {
    CHECK(format_validation_message({"a"}) == "1 validation error detected: a");
    CHECK(format_validation_message({"a", "b", "c"}) == "3 validation errors detected: a; b; c");
}

TEST_CASE("validator: Java patterns are translated for RE2") {
    service_model model = service_model::parse(json::parse(R"json({
        "operations": {"Op": {"input": {"shape": "In"}}},
        "shapes": {
            "In": {"type": "structure", "members": {
                "Name": {"shape": "ArnOrName"}, "Lambda": {"shape": "LambdaArn"},
                "Package": {"shape": "PackageArn"}, "Odd": {"shape": "Intersection"}}},
            "ArnOrName": {"type": "string",
                "pattern": "(arn:aws[a-z\\-]*:sagemaker:[a-z0-9\\-]*:[0-9]{12}:[a-z\\-]*\\/)?([a-zA-Z0-9]([a-zA-Z0-9-]){0,62})(?<!-)"},
            "LambdaArn": {"type": "string", "pattern": "arn:[\\p{Alnum}\\-]+:lambda:[\\p{Alnum}\\-]+:[0-9]{12}:function:.*"},
            "PackageArn": {"type": "string", "pattern": "model-package/[\\S]{1,2048}"},
            "Intersection": {"type": "string", "pattern": "[a-z&&[^e]]+"}
        }})json"));
    REQUIRE(model.skipped_patterns().size() == 1);
    CHECK(model.skipped_patterns()[0].starts_with("Intersection: [a-z&&[^e]]+"));

    request_validator validator(model);
    auto violations = [&](json request) { return validator.validate("Op", request).violations.size(); };

    SUBCASE("trailing lookbehind: the value must not end in '-'") {
        CHECK(violations({{"Name", "my-algorithm"}}) == 0);
        CHECK(violations({{"Name", "arn:aws:sagemaker:us-east-1:123456789012:algorithm/algo-1"}}) == 0);
        CHECK(violations({{"Name", "my-algorithm-"}}) == 1);
        CHECK(violations({{"Name", "-x"}}) == 1);
    }
    SUBCASE("POSIX classes") {
        CHECK(violations({{"Lambda", "arn:aws:lambda:us-east-1:123456789012:function:f"}}) == 0);
        CHECK(violations({{"Lambda", "arn:aws:lambda:us_east:123456789012:function:f"}}) == 1);
    }
    SUBCASE("repetition above RE2's limit of 1000") {
        CHECK(violations({{"Package", "model-package/" + std::string(2048, 'p')}}) == 0);
        CHECK(violations({{"Package", "model-package/" + std::string(2049, 'p')}}) == 1);
        CHECK(violations({{"Package", "model-package/"}}) == 1);
    }
    SUBCASE("a skipped pattern accepts anything") {
        CHECK(violations({{"Odd", "e"}}) == 0);
    }
    SUBCASE("the message quotes the pattern as the model writes it") {
        json request = {{"Name", "x-"}};
        validation_result result = validator.validate("Op", request);
        REQUIRE(result.violations.size() == 1);
        CHECK(result.violations[0].ends_with("[a-zA-Z0-9]([a-zA-Z0-9-]){0,62})(?<!-)"));
    }
}

TEST_CASE("validator: check_output") {
    const service_model& model = sagemaker_model();
    json response = valid_describe_training_job_response();
    CHECK(check_output(model, "DescribeTrainingJob", response).empty());
    CHECK(check_output(model, "StopTrainingJob", json::object()).empty());
    CHECK(check_output(model, "ListTrainingJobs", {{"TrainingJobSummaries", json::array()}}).empty());

    std::string expected;
    SUBCASE("missing required member") {
        response.erase("ModelArtifacts");
        expected = "Value null at 'modelArtifacts' failed to satisfy constraint: Member must not be null";
    }
    SUBCASE("string timestamp") {
        response["CreationTime"] = "2024-01-02T03:04:05Z";
        expected = "Unexpected value type at 'creationTime': expected timestamp, got string";
    }
    SUBCASE("unknown member") {
        response["SecondaryStatusTransitions"][0]["Detail"] = "x";
        expected = "Unknown member 'Detail' at 'secondaryStatusTransitions.1.member'";
    }
    SUBCASE("null") {
        response["FailureReason"] = nullptr;
        expected = "Null value at 'failureReason': absent members must be omitted";
    }
    SUBCASE("enum") {
        response["SecondaryStatus"] = "Running";
        expected = "Value 'Running' at 'secondaryStatus' failed to satisfy constraint: Member must satisfy enum "
                   "value set: [Starting, LaunchingMLInstances, PreparingTrainingStack, Downloading, "
                   "DownloadingTrainingImage, Training, Uploading, Stopping, Stopped, MaxRuntimeExceeded, Completed, "
                   "Failed, Interrupted, MaxWaitTimeExceeded, Updating, Restarting, Pending]";
    }
    SUBCASE("pattern") {
        response["TrainingJobArn"] = "arn:aws:sagemaker:us-east-1:123:training-job/my-job-1";
        expected = "Value 'arn:aws:sagemaker:us-east-1:123:training-job/my-job-1' at 'trainingJobArn' failed to "
                   "satisfy constraint: Member must satisfy regular expression pattern: "
                   "arn:aws[a-z\\-]*:sagemaker:[a-z0-9\\-]*:[0-9]{12}:training-job/[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}";
    }
    if (!expected.empty()) {
        std::vector<std::string> problems = check_output(model, "DescribeTrainingJob", response);
        REQUIRE(problems.size() == 1);
        CHECK(problems[0] == expected);
    }
}
