#include "emulator/storage/object_store.hpp"

#include <doctest/doctest.h>

#include <openssl/evp.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <random>
#include <sstream>

#include "emulator/errors.hpp"
#include "emulator/store.hpp"

#include "tests/support/temp_dir.hpp"
#include "tests/support/md5.hpp"

namespace fs = std::filesystem;
using namespace smlocal;

namespace {

using smlocal_test::temp_dir;
using smlocal_test::md5_hex;
using smlocal_test::md5_raw;

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

void write_file(const fs::path& path, std::string_view content) {
    fs::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
}

/// A store and object store over a temp dir; reopen() simulates a server restart.
struct fixture {
    temp_dir dir;
    std::unique_ptr<store> db;
    std::unique_ptr<object_store> objects;
    fixture() { reopen(); }
    void reopen() {
        objects.reset();
        db.reset();
        db = std::make_unique<store>(dir.path / "state.db");
        objects = std::make_unique<object_store>(dir.path / "s3", *db);
    }
    fs::path root() const { return objects->root(); }

    /// Writes `content` as an upload body would arrive (a file in the incoming folder).
    fs::path body(std::string_view content) {
        const fs::path file = objects->incoming_file();
        write_file(file, content);
        return file;
    }
    object_info put(const std::string& bucket, const std::string& key, std::string_view content,
                    object_attributes attributes = {}) {
        return objects->put_object(bucket, key, body(content), md5_hex(content), attributes);
    }
};

/// The error code a call throws ("" when it does not throw a service_error).
template <typename F>
std::string code_of(F&& call) {
    try {
        call();
    } catch (const service_error& e) {
        return e.code();
    }
    return {};
}

std::vector<std::string> keys_of(const list_objects_result& result) {
    std::vector<std::string> keys;
    for (const auto& info : result.contents) keys.push_back(info.key);
    return keys;
}

}  // namespace

TEST_CASE("object_store buckets") {
    fixture f;
    f.objects->create_bucket("data");
    CHECK(fs::is_directory(f.root() / "data"));

    SUBCASE("create again or with a bad name fails with S3 codes") {
        CHECK(code_of([&] { f.objects->create_bucket("data"); }) == "BucketAlreadyOwnedByYou");
        CHECK(code_of([&] { f.objects->create_bucket("Bad_Name"); }) == "InvalidBucketName");
        CHECK(code_of([&] { f.objects->create_bucket("ab"); }) == "InvalidBucketName");
        CHECK(code_of([&] { f.objects->create_bucket("a..b"); }) == "InvalidBucketName");
        CHECK(code_of([&] { f.objects->create_bucket("192.168.1.1"); }) == "InvalidBucketName");
    }
    SUBCASE("listing shows valid bucket directories only, by name") {
        fs::create_directories(f.root() / "alpha");
        fs::create_directories(f.root() / ".hidden");
        fs::create_directories(f.root() / "Not_A_Bucket");
        write_file(f.root() / "file-at-root", "x");
        std::vector<std::string> names;
        for (const auto& b : f.objects->list_buckets()) names.push_back(b.name);
        CHECK(names == std::vector<std::string>{"alpha", "data"});
        const auto age = std::chrono::system_clock::now() - f.objects->head_bucket("data").creation_date;
        CHECK(age < std::chrono::minutes(1));
    }
    SUBCASE("head and delete of missing or non-empty buckets") {
        CHECK(code_of([&] { f.objects->head_bucket("missing"); }) == "NoSuchBucket");
        CHECK(code_of([&] { f.objects->head_bucket(".smlocal-incoming"); }) == "NoSuchBucket");
        CHECK(code_of([&] { f.objects->delete_bucket("missing"); }) == "NoSuchBucket");
        f.put("data", "a/b.txt", "hello");
        CHECK(code_of([&] { f.objects->delete_bucket("data"); }) == "BucketNotEmpty");
        f.objects->delete_object("data", "a/b.txt");
        f.objects->delete_bucket("data");
        CHECK_FALSE(fs::exists(f.root() / "data"));
    }
}

TEST_CASE("object_store put, head and delete") {
    fixture f;
    f.objects->create_bucket("data");
    const object_info put = f.put("data", "dir/sub/file.txt", "hello world",
                                  object_attributes{"text/plain", {{"owner", "me"}}});
    CHECK(put.etag == "\"" + md5_hex("hello world") + "\"");
    CHECK(read_file(f.root() / "data/dir/sub/file.txt") == "hello world");
    CHECK(fs::is_empty(f.root() / ".smlocal-incoming") == false);  // the uploads folder stays

    const object_info head = f.objects->head_object("data", "dir/sub/file.txt");
    CHECK(head.size == 11);
    CHECK(head.etag == put.etag);
    CHECK(head.path == f.root() / "data/dir/sub/file.txt");
    CHECK(head.attributes.content_type == "text/plain");
    CHECK(head.attributes.metadata == user_metadata{{"owner", "me"}});

    SUBCASE("metadata survives a restart") {
        f.reopen();
        const object_info again = f.objects->head_object("data", "dir/sub/file.txt");
        CHECK(again.etag == put.etag);
        CHECK(again.attributes.content_type == "text/plain");
        CHECK(again.attributes.metadata.at("owner") == "me");
    }
    SUBCASE("a file changed behind our back is re-hashed and loses its metadata") {
        write_file(f.root() / "data/dir/sub/file.txt", "changed content");
        const object_info changed = f.objects->head_object("data", "dir/sub/file.txt");
        CHECK(changed.etag == "\"" + md5_hex("changed content") + "\"");
        CHECK(changed.attributes.content_type.empty());
        CHECK(changed.attributes.metadata.empty());
    }
    SUBCASE("missing keys and buckets") {
        CHECK(code_of([&] { f.objects->head_object("data", "nope"); }) == "NoSuchKey");
        CHECK(code_of([&] { f.objects->head_object("data", "dir/sub"); }) == "NoSuchKey");
        CHECK(code_of([&] { f.objects->head_object("other", "x"); }) == "NoSuchBucket");
        CHECK(code_of([&] { f.put("other", "x", "1"); }) == "NoSuchBucket");
    }
    SUBCASE("deleting prunes the emptied folders up to the bucket") {
        f.put("data", "dir/keep.txt", "k");
        f.objects->delete_object("data", "dir/sub/file.txt");
        CHECK_FALSE(fs::exists(f.root() / "data/dir/sub"));
        CHECK(fs::exists(f.root() / "data/dir/keep.txt"));
        f.objects->delete_object("data", "dir/keep.txt");
        CHECK_FALSE(fs::exists(f.root() / "data/dir"));
        CHECK(fs::is_directory(f.root() / "data"));
        CHECK(f.db->s3_objects("data", "").empty());
        // Deleting what is not there succeeds, as in S3.
        CHECK_NOTHROW(f.objects->delete_object("data", "never/was"));
    }
    SUBCASE("delete many reports per-key failures") {
        const auto failures = f.objects->delete_objects("data", {"dir/sub/file.txt", "../escape", "missing"});
        REQUIRE(failures.size() == 1);
        CHECK(failures[0].key == "../escape");
        CHECK(failures[0].code == "InvalidArgument");
        CHECK_FALSE(fs::exists(f.root() / "data/dir"));
    }
}

TEST_CASE("object_store files put there directly") {
    fixture f;
    fs::create_directories(f.root() / "jobs/out/model");
    write_file(f.root() / "jobs/out/model/model.tar.gz", "tarball");
    const object_info info = f.objects->head_object("jobs", "out/model/model.tar.gz");
    CHECK(info.etag == "\"" + md5_hex("tarball") + "\"");
    // The hash is cached with the file's size and mtime.
    const auto row = f.db->s3_object("jobs", "out/model/model.tar.gz");
    REQUIRE(row);
    CHECK(row->etag == md5_hex("tarball"));
    CHECK(row->size == 7);
    const auto listed = f.objects->list_objects("jobs", {});
    CHECK(keys_of(listed) == std::vector<std::string>{"out/model/model.tar.gz"});
    CHECK(listed.contents[0].etag == info.etag);
}

TEST_CASE("object_store keys are confined to the root") {
    fixture f;
    f.objects->create_bucket("data");
    SUBCASE("lexical problems") {
        CHECK(code_of([&] { f.put("data", "../outside", "x"); }) == "InvalidArgument");
        CHECK(code_of([&] { f.put("data", "a/../../outside", "x"); }) == "InvalidArgument");
        CHECK(code_of([&] { f.put("data", "/etc/passwd", "x"); }) == "InvalidArgument");
        CHECK(code_of([&] { f.put("data", "a//b", "x"); }) == "InvalidArgument");
        CHECK(code_of([&] { f.put("data", "a/./b", "x"); }) == "InvalidArgument");
        CHECK(code_of([&] { f.put("data", std::string("a\0b", 3), "x"); }) == "InvalidArgument");
        CHECK(code_of([&] { f.put("data", std::string(1025, 'k'), "x"); }) == "KeyTooLongError");
        CHECK(code_of([&] { f.objects->head_object("data", "../data/x"); }) == "InvalidArgument");
        CHECK_FALSE(fs::exists(f.root() / "outside"));
    }
    SUBCASE("a symlink that leads out of the root") {
        const fs::path outside = f.dir.path / "outside";
        fs::create_directories(outside);
        fs::create_directory_symlink(outside, f.root() / "data/link");
        CHECK(code_of([&] { f.put("data", "link/file", "x"); }) == "AccessDenied");
        CHECK(fs::is_empty(outside));
    }
    SUBCASE("a key and keys under it cannot coexist") {
        f.put("data", "a", "file");
        const std::string under = code_of([&] { f.put("data", "a/b", "x"); });
        CHECK(under == "InvalidArgument");
        f.put("data", "x/y", "file");
        CHECK(code_of([&] { f.put("data", "x", "z"); }) == "InvalidArgument");
        CHECK(read_file(f.root() / "data/a") == "file");
    }
}

TEST_CASE("object_store folder markers") {
    fixture f;
    f.objects->create_bucket("data");
    const object_info marker = f.put("data", "empty/", "");
    CHECK(marker.size == 0);
    CHECK(marker.etag == "\"d41d8cd98f00b204e9800998ecf8427e\"");
    CHECK(fs::is_directory(f.root() / "data/empty"));
    CHECK(f.objects->head_object("data", "empty/").path.empty());
    CHECK(keys_of(f.objects->list_objects("data", {})) == std::vector<std::string>{"empty/"});
    CHECK(code_of([&] { f.put("data", "full/", "content"); }) == "InvalidArgument");

    // The marker keeps its folder when an object inside it goes.
    f.put("data", "empty/inner", "i");
    f.objects->delete_object("data", "empty/inner");
    CHECK(fs::is_directory(f.root() / "data/empty"));
    f.objects->delete_object("data", "empty/");
    CHECK_FALSE(fs::exists(f.root() / "data/empty"));
    CHECK(code_of([&] { f.objects->head_object("data", "empty/"); }) == "NoSuchKey");
}

TEST_CASE("object_store lists in UTF-8 byte order") {
    fixture f;
    f.objects->create_bucket("data");
    for (const char* key : {"b", "a/c", "a-b", "a/b", "c\xc3\xa9", "c~"}) f.put("data", key, key);
    f.put("data", "z/deep/x", "x");

    SUBCASE("full keys sorted, not the directory walk order") {
        // '-' (0x2d) sorts before '/' (0x2f); '~' (0x7e) before the two-byte 'é'.
        CHECK(keys_of(f.objects->list_objects("data", {})) ==
              std::vector<std::string>{"a-b", "a/b", "a/c", "b", "c~", "c\xc3\xa9", "z/deep/x"});
    }
    SUBCASE("prefix and delimiter") {
        list_objects_request request;
        request.delimiter = "/";
        auto result = f.objects->list_objects("data", request);
        CHECK(keys_of(result) == std::vector<std::string>{"a-b", "b", "c~", "c\xc3\xa9"});
        CHECK(result.common_prefixes == std::vector<std::string>{"a/", "z/"});
        request.prefix = "a/";
        result = f.objects->list_objects("data", request);
        CHECK(keys_of(result) == std::vector<std::string>{"a/b", "a/c"});
        CHECK(result.common_prefixes.empty());
        request.prefix = "a";
        result = f.objects->list_objects("data", request);
        CHECK(keys_of(result) == std::vector<std::string>{"a-b"});
        CHECK(result.common_prefixes == std::vector<std::string>{"a/"});
        request.prefix = "nothing/";
        CHECK(f.objects->list_objects("data", request).contents.empty());
    }
    SUBCASE("pages of max-keys follow continuation tokens, prefixes counting as entries") {
        list_objects_request request;
        request.delimiter = "/";
        request.max_keys = 2;
        std::vector<std::string> seen;
        int pages = 0;
        for (;;) {
            const auto page = f.objects->list_objects("data", request);
            ++pages;
            for (const auto& key : keys_of(page)) seen.push_back(key);
            for (const auto& prefix : page.common_prefixes) seen.push_back(prefix);
            CHECK(page.contents.size() + page.common_prefixes.size() <= 2);
            if (!page.truncated) break;
            request.continuation_token = page.next_continuation_token;
        }
        CHECK(pages == 3);
        CHECK(seen == std::vector<std::string>{"a-b", "a/", "b", "c~", "c\xc3\xa9", "z/"});
    }
    SUBCASE("start-after, max-keys 0 and bad tokens") {
        list_objects_request request;
        request.after = "a/b";
        CHECK(keys_of(f.objects->list_objects("data", request)).front() == "a/c");
        request.after.clear();
        request.max_keys = 0;
        const auto none = f.objects->list_objects("data", request);
        CHECK(none.contents.empty());
        request.max_keys = 10;
        request.continuation_token = "not-a-token";
        CHECK(code_of([&] { f.objects->list_objects("data", request); }) == "InvalidArgument");
        CHECK(code_of([&] { f.objects->list_objects("missing", {}); }) == "NoSuchBucket");
    }
}

TEST_CASE("object_store copies") {
    fixture f;
    f.objects->create_bucket("src");
    f.objects->create_bucket("dst");
    const auto source = f.put("src", "a.txt", "payload", object_attributes{"text/plain", {{"k", "v"}}});

    SUBCASE("COPY keeps the attributes, and the bytes are a separate file") {
        const auto copy = f.objects->copy_object("src", "a.txt", "dst", "b/c.txt", std::nullopt);
        CHECK(copy.etag == source.etag);
        const auto head = f.objects->head_object("dst", "b/c.txt");
        CHECK(head.attributes.content_type == "text/plain");
        CHECK(head.attributes.metadata.at("k") == "v");
        write_file(f.root() / "src/a.txt", "changed");
        CHECK(read_file(f.root() / "dst/b/c.txt") == "payload");
    }
    SUBCASE("REPLACE takes the new attributes; onto itself only with REPLACE") {
        CHECK(code_of([&] { f.objects->copy_object("src", "a.txt", "src", "a.txt", std::nullopt); }) == "InvalidRequest");
        f.objects->copy_object("src", "a.txt", "src", "a.txt", object_attributes{"application/json", {}});
        const auto head = f.objects->head_object("src", "a.txt");
        CHECK(head.attributes.content_type == "application/json");
        CHECK(head.attributes.metadata.empty());
        CHECK(read_file(f.root() / "src/a.txt") == "payload");
    }
    SUBCASE("missing sources") {
        CHECK(code_of([&] { f.objects->copy_object("src", "nope", "dst", "x", std::nullopt); }) == "NoSuchKey");
        CHECK(code_of([&] { f.objects->copy_object("nope", "a", "dst", "x", std::nullopt); }) == "NoSuchBucket");
    }
}

TEST_CASE("object_store multipart uploads") {
    fixture f;
    f.objects->create_bucket("data");
    const std::string part1(object_store::min_part_size, 'a');
    const std::string part2 = "tail";
    const auto upload = f.objects->create_multipart_upload("data", "big.bin", object_attributes{"application/x-big", {}});
    CHECK(upload.upload_id.size() == 32);

    const auto etag1 = f.objects->upload_part("data", "big.bin", upload.upload_id, 1, f.body(part1), md5_hex(part1));
    const auto etag2 = f.objects->upload_part("data", "big.bin", upload.upload_id, 2, f.body(part2), md5_hex(part2));
    CHECK(etag1 == "\"" + md5_hex(part1) + "\"");
    const auto parts = f.objects->list_parts("data", "big.bin", upload.upload_id);
    REQUIRE(parts.size() == 2);
    CHECK(parts[1].size == 4);

    SUBCASE("complete concatenates in order with the multipart ETag, even after a restart") {
        f.reopen();
        const auto done = f.objects->complete_multipart_upload("data", "big.bin", upload.upload_id,
                                                               {{1, etag1}, {2, etag2}});
        CHECK(done.etag == "\"" + md5_hex(md5_raw(part1) + md5_raw(part2)) + "-2\"");
        CHECK(read_file(f.root() / "data/big.bin") == part1 + part2);
        f.reopen();
        const auto head = f.objects->head_object("data", "big.bin");
        CHECK(head.etag == done.etag);
        CHECK(head.attributes.content_type == "application/x-big");
        CHECK(code_of([&] { f.objects->list_parts("data", "big.bin", upload.upload_id); }) == "NoSuchUpload");
    }
    SUBCASE("a re-uploaded part replaces the earlier one") {
        const std::string again(object_store::min_part_size, 'b');
        const auto etag = f.objects->upload_part("data", "big.bin", upload.upload_id, 1, f.body(again), md5_hex(again));
        CHECK(f.objects->list_parts("data", "big.bin", upload.upload_id).size() == 2);
        CHECK(code_of([&] {
                  f.objects->complete_multipart_upload("data", "big.bin", upload.upload_id, {{1, etag1}, {2, etag2}});
              }) == "InvalidPart");
        f.objects->complete_multipart_upload("data", "big.bin", upload.upload_id, {{1, etag}, {2, etag2}});
        CHECK(read_file(f.root() / "data/big.bin") == again + part2);
    }
    SUBCASE("bad part lists") {
        auto complete = [&](std::vector<completed_part> list) {
            return code_of([&] { f.objects->complete_multipart_upload("data", "big.bin", upload.upload_id, list); });
        };
        CHECK(complete({{2, etag2}, {1, etag1}}) == "InvalidPartOrder");
        CHECK(complete({{1, etag1}, {3, etag2}}) == "InvalidPart");
        CHECK(complete({{1, "\"0123\""}}) == "InvalidPart");
        CHECK(complete({}) == "MalformedXML");
        // A small part that is not the last.
        const auto small = f.objects->upload_part("data", "big.bin", upload.upload_id, 3, f.body("x"), md5_hex("x"));
        CHECK(complete({{2, etag2}, {3, small}}) == "EntityTooSmall");
        CHECK_FALSE(fs::exists(f.root() / "data/big.bin"));
    }
    SUBCASE("abort, unknown ids and part numbers") {
        CHECK(code_of([&] { f.objects->upload_part("data", "big.bin", upload.upload_id, 0, f.body("x"), md5_hex("x")); }) ==
              "InvalidArgument");
        CHECK(code_of([&] { f.objects->list_parts("data", "other-key", upload.upload_id); }) == "NoSuchUpload");
        CHECK(code_of([&] { f.objects->list_parts("data", "big.bin", "../../etc"); }) == "NoSuchUpload");
        f.objects->abort_multipart_upload("data", "big.bin", upload.upload_id);
        CHECK(code_of([&] { f.objects->abort_multipart_upload("data", "big.bin", upload.upload_id); }) == "NoSuchUpload");
    }
    SUBCASE("upload part copy takes a byte range of an object") {
        f.put("data", "source", "0123456789");
        const auto part = f.objects->upload_part_copy("data", "source", std::make_pair(2ull, 4ull), "data", "big.bin",
                                                      upload.upload_id, 2);
        CHECK(part.etag == "\"" + md5_hex("234") + "\"");
        f.objects->complete_multipart_upload("data", "big.bin", upload.upload_id, {{1, etag1}, {2, part.etag}});
        CHECK(read_file(f.root() / "data/big.bin") == part1 + "234");
    }
}

TEST_CASE("store keeps S3 object rows by bucket and key") {
    temp_dir dir;
    store db(dir.path / "state.db");
    db.put_s3_object({"b", "k/2", 3, 40, "abc", "text/plain", "{}"});
    db.put_s3_object({"b", "k/1", 1, 10, "def", "", "{\"a\":\"b\"}"});
    db.put_s3_object({"c", "k/1", 1, 10, "xyz", "", "{}"});
    db.put_s3_object({"b", "l", 1, 10, "ghi", "", "{}"});
    CHECK(db.s3_object("b", "k/1")->metadata_json == "{\"a\":\"b\"}");
    const auto rows = db.s3_objects("b", "k/");
    REQUIRE(rows.size() == 2);
    CHECK(rows[0].key == "k/1");
    CHECK(rows[1] == s3_object_row{"b", "k/2", 3, 40, "abc", "text/plain", "{}"});
    db.delete_s3_object("b", "k/1");
    CHECK_FALSE(db.s3_object("b", "k/1"));
    db.delete_s3_bucket_objects("b");
    CHECK(db.s3_objects("b", "").empty());
    CHECK(db.s3_object("c", "k/1"));
}
