#include "api/s3/s3_service.hpp"

#include <doctest/doctest.h>

#include <openssl/evp.h>
#include <pugixml.hpp>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <random>
#include <regex>

#include "emulator/store.hpp"

#include "tests/support/temp_dir.hpp"
#include "tests/support/md5.hpp"

namespace fs = std::filesystem;
namespace http = boost::beast::http;
using namespace smlocal;
using namespace smlocal::api;

namespace {

using smlocal_test::temp_dir;
using smlocal_test::md5_hex;

struct fixture {
    temp_dir dir;
    store db{dir.path / "state.db"};
    object_store objects{dir.path / "s3", db};
    s3_service service{objects, s3_service_options{}};

    http_response call(http::verb method, std::string target, std::string body = {},
                       std::vector<std::pair<std::string, std::string>> headers = {},
                       std::string host = "127.0.0.1:8080") {
        http_request request{method, target, 11};
        request.set(http::field::host, host);
        for (const auto& [name, value] : headers) request.set(name, value);
        // Bodies of object uploads arrive in a file, as the server delivers them after plan_body.
        const body_plan plan = service.plan_body(request.base());
        if (plan.file) {
            std::ofstream(*plan.file, std::ios::binary) << body;
            request.body().file = body_file{*plan.file, 0, body.size(), md5_hex(body)};
        } else {
            request.body() = body;
        }
        return service.handle(std::move(request));
    }
};

pugi::xml_document xml(const http_response& response) {
    pugi::xml_document doc;
    const std::string& text = response.body();
    REQUIRE(doc.load_buffer(text.data(), text.size()));
    return doc;
}

std::string header(const http_response& response, std::string_view name) {
    const auto it = response.find(boost::beast::string_view(name.data(), name.size()));
    return it == response.end() ? std::string() : std::string(it->value());
}

std::string error_code_of(const http_response& response) { return xml(response).child("Error").child_value("Code"); }

}  // namespace

TEST_CASE("s3_service recognises virtual-host-style hosts") {
    fixture f;
    CHECK(f.service.virtual_host_bucket("my-bucket.localhost:8080") == "my-bucket");
    CHECK(f.service.virtual_host_bucket("my.dotted.bucket.localhost") == "my.dotted.bucket");
    CHECK(f.service.virtual_host_bucket("localhost:8080") == std::nullopt);
    CHECK(f.service.virtual_host_bucket("127.0.0.1:8080") == std::nullopt);
    CHECK(f.service.virtual_host_bucket("[::1]:8080") == std::nullopt);
}

TEST_CASE("s3_service plans upload bodies into the incoming folder") {
    fixture f;
    http_request request{http::verb::put, "/bucket/key", 11};
    request.set(http::field::host, "localhost");
    auto plan = f.service.plan_body(request.base());
    REQUIRE(plan.file);
    CHECK(plan.file->parent_path() == f.objects.root() / ".smlocal-incoming");
    CHECK(plan.limit == s3_service::max_upload_bytes);
    SUBCASE("not for buckets, copies or other methods") {
        request.target("/bucket");
        CHECK_FALSE(f.service.plan_body(request.base()).file);
        request.target("/bucket/key");
        request.set("x-amz-copy-source", "/a/b");
        CHECK_FALSE(f.service.plan_body(request.base()).file);
        request.erase("x-amz-copy-source");
        request.method(http::verb::post);
        CHECK_FALSE(f.service.plan_body(request.base()).file);
    }
}

TEST_CASE("s3_service buckets") {
    fixture f;
    auto created = f.call(http::verb::put, "/bucket-one",
                          "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                          "<LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>");
    CHECK(created.result() == http::status::ok);
    CHECK(header(created, "Location") == "/bucket-one");
    CHECK(header(created, "x-amz-request-id").size() == 16);
    CHECK_FALSE(header(created, "x-amz-id-2").empty());

    auto again = f.call(http::verb::put, "/bucket-one");
    CHECK(again.result() == http::status::conflict);
    CHECK(error_code_of(again) == "BucketAlreadyOwnedByYou");
    const auto error = xml(again).child("Error");
    CHECK(std::string(error.child_value("Resource")) == "/bucket-one");
    CHECK(std::string(error.child_value("RequestId")) == header(again, "x-amz-request-id"));

    auto listed = f.call(http::verb::get, "/");
    CHECK(listed.result() == http::status::ok);
    CHECK(header(listed, "Content-Type") == "application/xml");
    auto doc = xml(listed);
    auto root = doc.child("ListAllMyBucketsResult");
    CHECK(std::string(root.attribute("xmlns").value()) == "http://s3.amazonaws.com/doc/2006-03-01/");
    CHECK(std::string(root.child("Buckets").child("Bucket").child_value("Name")) == "bucket-one");
    CHECK(std::regex_match(root.child("Buckets").child("Bucket").child_value("CreationDate"),
                           std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")));

    CHECK(f.call(http::verb::head, "/bucket-one").result() == http::status::ok);
    auto missing = f.call(http::verb::head, "/no-such-bucket");
    CHECK(missing.result() == http::status::not_found);
    CHECK(missing.body().empty());

    auto location = xml(f.call(http::verb::get, "/bucket-one?location"));
    CHECK(std::string(location.child("LocationConstraint").child_value()).empty());

    CHECK(error_code_of(f.call(http::verb::put, "/Bad_Bucket")) == "InvalidBucketName");
    CHECK(f.call(http::verb::delete_, "/bucket-one").result() == http::status::no_content);
    CHECK(error_code_of(f.call(http::verb::delete_, "/bucket-one")) == "NoSuchBucket");
}

TEST_CASE("s3_service objects") {
    fixture f;
    f.call(http::verb::put, "/data");
    auto put = f.call(http::verb::put, "/data/dir/hello%20world.txt", "0123456789",
                      {{"Content-Type", "text/plain"}, {"X-Amz-Meta-Color", "blue"}});
    REQUIRE(put.result() == http::status::ok);
    const std::string etag = "\"" + md5_hex("0123456789") + "\"";
    CHECK(header(put, "ETag") == etag);

    SUBCASE("get streams the file with its headers") {
        auto got = f.call(http::verb::get, "/data/dir/hello%20world.txt");
        CHECK(got.result() == http::status::ok);
        REQUIRE(got.body().file);
        CHECK(got.body().file->path == f.objects.root() / "data/dir/hello world.txt");
        CHECK(got.body().file->offset == 0);
        CHECK(got.body().file->length == 10);
        CHECK(header(got, "ETag") == etag);
        CHECK(header(got, "Content-Type") == "text/plain");
        CHECK(header(got, "x-amz-meta-color") == "blue");
        CHECK(header(got, "Accept-Ranges") == "bytes");
        CHECK(std::regex_match(header(got, "Last-Modified"),
                               std::regex(R"([A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT)")));
    }
    SUBCASE("ranges") {
        auto check_range = [&](const char* range, std::uint64_t offset, std::uint64_t length, const char* content_range) {
            CAPTURE(range);
            auto got = f.call(http::verb::get, "/data/dir/hello%20world.txt", {}, {{"Range", range}});
            CHECK(got.result() == http::status::partial_content);
            REQUIRE(got.body().file);
            CHECK(got.body().file->offset == offset);
            CHECK(got.body().file->length == length);
            CHECK(header(got, "Content-Range") == content_range);
        };
        check_range("bytes=2-4", 2, 3, "bytes 2-4/10");
        check_range("bytes=7-", 7, 3, "bytes 7-9/10");
        check_range("bytes=-4", 6, 4, "bytes 6-9/10");
        check_range("bytes=5-100", 5, 5, "bytes 5-9/10");
        auto beyond = f.call(http::verb::get, "/data/dir/hello%20world.txt", {}, {{"Range", "bytes=10-"}});
        CHECK(beyond.result() == http::status::range_not_satisfiable);
        CHECK(error_code_of(beyond) == "InvalidRange");
    }
    SUBCASE("head has the length and no body; errors have no body either") {
        auto head = f.call(http::verb::head, "/data/dir/hello%20world.txt");
        CHECK(head.result() == http::status::ok);
        CHECK(header(head, "Content-Length") == "10");
        CHECK_FALSE(head.body().file);
        auto missing = f.call(http::verb::head, "/data/missing");
        CHECK(missing.result() == http::status::not_found);
        CHECK(missing.body().empty());
    }
    SUBCASE("conditional get") {
        CHECK(f.call(http::verb::get, "/data/dir/hello%20world.txt", {}, {{"If-None-Match", etag}}).result() ==
              http::status::not_modified);
        CHECK(f.call(http::verb::get, "/data/dir/hello%20world.txt", {}, {{"If-Match", "\"other\""}}).result() ==
              http::status::precondition_failed);
    }
    SUBCASE("missing keys, bad keys and bad digests") {
        auto missing = f.call(http::verb::get, "/data/nope");
        CHECK(missing.result() == http::status::not_found);
        CHECK(error_code_of(missing) == "NoSuchKey");
        auto escape = f.call(http::verb::put, "/data/..%2F..%2Fescape", "x");
        CHECK(escape.result() == http::status::bad_request);
        CHECK(error_code_of(escape) == "InvalidArgument");
        CHECK_FALSE(fs::exists(f.objects.root().parent_path() / "escape"));
        auto digest = f.call(http::verb::put, "/data/k", "abc", {{"Content-MD5", "AAAAAAAAAAAAAAAAAAAAAA=="}});
        CHECK(error_code_of(digest) == "BadDigest");
    }
    SUBCASE("copy with an encoded source, then delete") {
        auto copied = f.call(http::verb::put, "/data/copy.txt", {},
                             {{"x-amz-copy-source", "/data/dir/hello%20world.txt?versionId=null"},
                              {"x-amz-metadata-directive", "REPLACE"},
                              {"Content-Type", "application/json"}});
        REQUIRE(copied.result() == http::status::ok);
        CHECK(std::string(xml(copied).child("CopyObjectResult").child_value("ETag")) == etag);
        CHECK(header(f.call(http::verb::head, "/data/copy.txt"), "Content-Type") == "application/json");
        CHECK(f.call(http::verb::delete_, "/data/copy.txt").result() == http::status::no_content);
        CHECK(f.call(http::verb::head, "/data/copy.txt").result() == http::status::not_found);
    }
    SUBCASE("virtual-host style addresses the same object") {
        auto got = f.call(http::verb::get, "/dir/hello%20world.txt", {}, {}, "data.localhost:8080");
        CHECK(got.result() == http::status::ok);
        CHECK(header(got, "ETag") == etag);
    }
    SUBCASE("delete objects") {
        f.call(http::verb::put, "/data/second", "2");
        auto deleted = f.call(http::verb::post, "/data?delete",
                              "<Delete><Object><Key>second</Key></Object><Object><Key>../bad</Key></Object></Delete>");
        REQUIRE(deleted.result() == http::status::ok);
        auto doc = xml(deleted);
        auto result = doc.child("DeleteResult");
        CHECK(std::string(result.child("Deleted").child_value("Key")) == "second");
        CHECK(std::string(result.child("Error").child_value("Code")) == "InvalidArgument");
        auto quiet = xml(f.call(http::verb::post, "/data?delete",
                                "<Delete><Quiet>true</Quiet><Object><Key>dir/hello world.txt</Key></Object></Delete>"));
        CHECK_FALSE(quiet.child("DeleteResult").child("Deleted"));
        CHECK(error_code_of(f.call(http::verb::post, "/data?delete", "<oops")) == "MalformedXML");
    }
    SUBCASE("unsupported methods and sub-resources") {
        auto method = f.call(http::verb::post, "/data/dir/hello%20world.txt");
        CHECK(method.result() == http::status::method_not_allowed);
        auto acl = f.call(http::verb::get, "/data/dir/hello%20world.txt?acl");
        CHECK(acl.result() == http::status::not_implemented);
    }
}

TEST_CASE("s3_service lists objects") {
    fixture f;
    f.call(http::verb::put, "/data");
    for (const char* key : {"a/b", "a-b", "a+b c", "z"}) {
        std::string target = "/data/";
        for (char c : std::string(key)) target += c == ' ' ? std::string("%20") : c == '+' ? std::string("%2B") : std::string(1, c);
        REQUIRE(f.call(http::verb::put, target, key).result() == http::status::ok);
    }

    SUBCASE("v2 with delimiter and URL encoding") {
        auto doc = xml(f.call(http::verb::get, "/data?list-type=2&delimiter=%2F&encoding-type=url"));
        auto root = doc.child("ListBucketResult");
        CHECK(std::string(root.child_value("KeyCount")) == "4");
        CHECK(std::string(root.child_value("IsTruncated")) == "false");
        CHECK(std::string(root.child_value("EncodingType")) == "url");
        std::vector<std::string> keys;
        for (auto node : root.children("Contents")) keys.emplace_back(node.child_value("Key"));
        CHECK(keys == std::vector<std::string>{"a%2Bb%20c", "a-b", "z"});
        CHECK(std::string(root.child("CommonPrefixes").child_value("Prefix")) == "a/");
        auto first = root.child("Contents");
        CHECK(std::string(first.child_value("StorageClass")) == "STANDARD");
        CHECK(std::string(first.child_value("Size")) == "5");
    }
    SUBCASE("v2 pages with continuation tokens") {
        auto page1 = xml(f.call(http::verb::get, "/data?list-type=2&max-keys=3"));
        auto root1 = page1.child("ListBucketResult");
        CHECK(std::string(root1.child_value("IsTruncated")) == "true");
        const std::string token = root1.child_value("NextContinuationToken");
        REQUIRE_FALSE(token.empty());
        auto page2 = xml(f.call(http::verb::get, "/data?list-type=2&max-keys=3&continuation-token=" + token));
        auto root2 = page2.child("ListBucketResult");
        CHECK(std::string(root2.child_value("IsTruncated")) == "false");
        CHECK(std::string(root2.child_value("ContinuationToken")) == token);
        CHECK(std::string(root2.child("Contents").child_value("Key")) == "z");
        CHECK(error_code_of(f.call(http::verb::get, "/data?list-type=2&max-keys=x")) == "InvalidArgument");
    }
    SUBCASE("v1 gives NextMarker with a delimiter and owners") {
        auto doc = xml(f.call(http::verb::get, "/data?delimiter=/&max-keys=2"));
        auto root = doc.child("ListBucketResult");
        CHECK(std::string(root.child_value("IsTruncated")) == "true");
        CHECK(std::string(root.child_value("NextMarker")) == "a-b");
        CHECK(root.child("Contents").child("Owner"));
    }
}

TEST_CASE("s3_service multipart upload") {
    fixture f;
    f.call(http::verb::put, "/data");
    auto created = f.call(http::verb::post, "/data/big?uploads", {}, {{"Content-Type", "application/x-big"}});
    REQUIRE(created.result() == http::status::ok);
    const std::string upload_id = xml(created).child("InitiateMultipartUploadResult").child_value("UploadId");
    REQUIRE(upload_id.size() == 32);

    const std::string part1(object_store::min_part_size, 'p');
    auto up1 = f.call(http::verb::put, "/data/big?partNumber=1&uploadId=" + upload_id, part1);
    auto up2 = f.call(http::verb::put, "/data/big?partNumber=2&uploadId=" + upload_id, "end");
    REQUIRE(up1.result() == http::status::ok);
    REQUIRE(up2.result() == http::status::ok);

    auto parts = xml(f.call(http::verb::get, "/data/big?uploadId=" + upload_id));
    CHECK(std::distance(parts.child("ListPartsResult").children("Part").begin(),
                        parts.child("ListPartsResult").children("Part").end()) == 2);

    SUBCASE("complete") {
        const std::string body = "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>" + header(up1, "ETag") +
                                 "</ETag></Part><Part><PartNumber>2</PartNumber><ETag>" + header(up2, "ETag") +
                                 "</ETag></Part></CompleteMultipartUpload>";
        auto done = f.call(http::verb::post, "/data/big?uploadId=" + upload_id, body);
        REQUIRE(done.result() == http::status::ok);
        const std::string etag = xml(done).child("CompleteMultipartUploadResult").child_value("ETag");
        CHECK(etag.ends_with("-2\""));
        auto head = f.call(http::verb::head, "/data/big");
        CHECK(header(head, "ETag") == etag);
        CHECK(header(head, "Content-Length") == std::to_string(part1.size() + 3));
        CHECK(header(head, "Content-Type") == "application/x-big");
    }
    SUBCASE("wrong order and abort") {
        const std::string body = "<CompleteMultipartUpload><Part><PartNumber>2</PartNumber><ETag>" + header(up2, "ETag") +
                                 "</ETag></Part><Part><PartNumber>1</PartNumber><ETag>" + header(up1, "ETag") +
                                 "</ETag></Part></CompleteMultipartUpload>";
        CHECK(error_code_of(f.call(http::verb::post, "/data/big?uploadId=" + upload_id, body)) == "InvalidPartOrder");
        CHECK(f.call(http::verb::delete_, "/data/big?uploadId=" + upload_id).result() == http::status::no_content);
        auto gone = f.call(http::verb::delete_, "/data/big?uploadId=" + upload_id);
        CHECK(gone.result() == http::status::not_found);
        CHECK(error_code_of(gone) == "NoSuchUpload");
    }
}
