#include "emulator/storage/uri_mapper.hpp"

#include "emulator/errors.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <functional>
#include <stdexcept>
#include <string>

#include "tests/support/temp_dir.hpp"

namespace fs = std::filesystem;
using smlocal::service_error;
using smlocal::storage_roots;
using smlocal::uri_mapper;

namespace {

using smlocal_test::temp_dir;

// A fresh folder per test, removed afterwards.
storage_roots roots_in(const fs::path& base) { return {base / "s3", base / "efs", base / "fsx"}; }

// The S3 root's path for bucket/key, as s3_path should build it.
fs::path s3(const uri_mapper& m, const std::string& relative) { return m.roots().s3 / relative; }

// Asserts a ValidationException whose message contains `fragment`.
void check_rejected(const std::function<void()>& call, const std::string& fragment) {
    try {
        call();
        FAIL("expected a ValidationException containing: " << fragment);
    } catch (const service_error& e) {
        CHECK(e.code() == "ValidationException");
        INFO("message: " << e.what());
        CHECK(std::string(e.what()).find(fragment) != std::string::npos);
    }
}

void check_s3_rejected(const uri_mapper& m, const std::string& uri, const std::string& fragment) {
    INFO("uri: " << uri);
    check_rejected([&] { (void)m.s3_path(uri); }, fragment);
}

}  // namespace

TEST_CASE("storage: uri_mapper makes its roots absolute, canonical and present") {
    temp_dir tmp;
    fs::create_directories(tmp.path / "real");
    fs::create_directory_symlink(tmp.path / "real", tmp.path / "link");

    uri_mapper m({tmp.path / "link" / "s3", tmp.path / "x" / ".." / "efs", tmp.path / "fsx"});
    CHECK(m.roots().s3 == tmp.path / "real" / "s3");
    CHECK(m.roots().efs == tmp.path / "efs");
    CHECK(m.roots().fsx == tmp.path / "fsx");
    CHECK(fs::is_directory(m.roots().s3));
    CHECK(fs::is_directory(m.roots().efs));
    CHECK(fs::is_directory(m.roots().fsx));

    CHECK_THROWS_AS(uri_mapper({"", tmp.path / "e", tmp.path / "f"}), std::invalid_argument);
}

TEST_CASE("storage: s3_path accepts the URI forms the model allows") {
    temp_dir tmp;
    uri_mapper m(roots_in(tmp.path));

    SUBCASE("s3://bucket/key") { CHECK(m.s3_path("s3://my-bucket/data/train.csv") == s3(m, "my-bucket/data/train.csv")); }
    SUBCASE("s3://bucket") { CHECK(m.s3_path("s3://my-bucket") == s3(m, "my-bucket")); }
    SUBCASE("s3://bucket/") { CHECK(m.s3_path("s3://my-bucket/") == s3(m, "my-bucket")); }
    SUBCASE("a trailing slash in the key is dropped") {
        CHECK(m.s3_path("s3://my-bucket/data/train/") == s3(m, "my-bucket/data/train"));
    }
    SUBCASE("empty segments collapse") { CHECK(m.s3_path("s3://bkt/a//b") == s3(m, "bkt/a/b")); }
    SUBCASE("dots inside a segment are ordinary characters") {
        CHECK(m.s3_path("s3://my.bucket.1/..a/b../.c") == s3(m, "my.bucket.1/..a/b../.c"));
    }
    SUBCASE("percent escapes stay literal") { CHECK(m.s3_path("s3://bkt/%2e%2e/x") == s3(m, "bkt/%2e%2e/x")); }
    SUBCASE("virtual-hosted, global endpoint") {
        CHECK(m.s3_path("https://my.bucket.s3.amazonaws.com/a/b") == s3(m, "my.bucket/a/b"));
    }
    SUBCASE("virtual-hosted, regional endpoint") {
        CHECK(m.s3_path("https://bkt.s3.us-west-2.amazonaws.com/key") == s3(m, "bkt/key"));
        CHECK(m.s3_path("https://bkt.s3.us-gov-west-1.amazonaws.com/key") == s3(m, "bkt/key"));
    }
    SUBCASE("virtual-hosted, legacy dash and dualstack endpoints") {
        CHECK(m.s3_path("https://bkt.s3-eu-west-1.amazonaws.com/key") == s3(m, "bkt/key"));
        CHECK(m.s3_path("https://bkt.s3.dualstack.us-east-1.amazonaws.com/key") == s3(m, "bkt/key"));
    }
    SUBCASE("virtual-hosted without a key") {
        CHECK(m.s3_path("https://bkt.s3.amazonaws.com") == s3(m, "bkt"));
        CHECK(m.s3_path("https://bkt.s3.amazonaws.com/") == s3(m, "bkt"));
    }
    SUBCASE("path-style, global endpoint") {
        CHECK(m.s3_path("https://s3.amazonaws.com/bkt/a/b.txt") == s3(m, "bkt/a/b.txt"));
        CHECK(m.s3_path("https://s3.amazonaws.com/bkt") == s3(m, "bkt"));
        CHECK(m.s3_path("https://s3.amazonaws.com/bkt/") == s3(m, "bkt"));
    }
    SUBCASE("path-style, regional endpoint") {
        CHECK(m.s3_path("https://s3.eu-central-1.amazonaws.com/bkt/prefix/") == s3(m, "bkt/prefix"));
    }
    SUBCASE("the path need not exist") { CHECK_FALSE(fs::exists(m.s3_path("s3://bkt/no/such/key"))); }
}

TEST_CASE("storage: s3_path rejects malformed URIs") {
    temp_dir tmp;
    uri_mapper m(roots_in(tmp.path));

    SUBCASE("scheme") {
        check_s3_rejected(m, "http://bkt/key", "must start with s3:// or https://");
        check_s3_rejected(m, "S3://bkt/key", "must start with s3:// or https://");
        check_s3_rejected(m, "bkt/key", "must start with s3:// or https://");
        check_s3_rejected(m, "/etc/passwd", "must start with s3:// or https://");
        check_s3_rejected(m, "", "must start with s3:// or https://");
    }
    SUBCASE("empty bucket") {
        check_s3_rejected(m, "s3://", "Invalid S3 URI 's3://': the bucket name is empty");
        check_s3_rejected(m, "s3:///key", "bucket name is empty");
        check_s3_rejected(m, "https://s3.amazonaws.com/", "bucket name is empty");
        check_s3_rejected(m, "https://s3.amazonaws.com//key", "bucket name is empty");
    }
    SUBCASE("bucket naming rules") {
        check_s3_rejected(m, "s3://ab/key", "3 to 63 characters");
        check_s3_rejected(m, "s3://" + std::string(64, 'a') + "/key", "3 to 63 characters");
        check_s3_rejected(m, "s3://My-Bucket/key", "lowercase letters");
        check_s3_rejected(m, "s3://bkt_1/key", "lowercase letters");
        check_s3_rejected(m, "s3://-bkt/key", "begin and end with a letter or digit");
        check_s3_rejected(m, "s3://bkt./key", "begin and end with a letter or digit");
        check_s3_rejected(m, "s3://a..b/key", "two adjacent periods");
        check_s3_rejected(m, "s3://../key", "3 to 63 characters");
        check_s3_rejected(m, "s3://.../key", "begin and end");
        check_s3_rejected(m, "https://s3.amazonaws.com/../x", "3 to 63 characters");
        CHECK(m.s3_path("s3://" + std::string(63, 'a')) == s3(m, std::string(63, 'a')));
    }
    SUBCASE("https hosts that are not S3 endpoints") {
        check_s3_rejected(m, "https://example.com/bkt/key", "'example.com' is not an Amazon S3 endpoint");
        check_s3_rejected(m, "https://s3.amazonaws.com.evil.net/bkt/key", "not an Amazon S3 endpoint");
        check_s3_rejected(m, "https://bkt.s3.not-a-region.amazonaws.com/key", "not an Amazon S3 endpoint");
        check_s3_rejected(m, "https://s3.amazonaws.com:443/bkt/key", "not an Amazon S3 endpoint");
        check_s3_rejected(m, "https:///bkt/key", "not an Amazon S3 endpoint");
        check_s3_rejected(m, "https://bkt.s3.amazonaws.com/key?versionId=1", "query strings");
    }
    SUBCASE("dot segments") {
        check_s3_rejected(m, "s3://bkt/../x", "S3 URI 's3://bkt/../x' is not allowed: it leaves the local S3 root");
        check_s3_rejected(m, "s3://bkt/a/../../x", "it leaves the local S3 root");
        check_s3_rejected(m, "s3://bkt/a/..", "it leaves the local S3 root");
        check_s3_rejected(m, "s3://bkt/..", "it leaves the local S3 root");
        check_s3_rejected(m, "https://bkt.s3.amazonaws.com/../x", "it leaves the local S3 root");
        check_s3_rejected(m, "https://s3.amazonaws.com/bkt/a/../../x", "it leaves the local S3 root");
        check_s3_rejected(m, "s3://bkt/./x", "Invalid S3 URI 's3://bkt/./x': the key has a '.' segment");
        check_s3_rejected(m, "s3://bkt/a/.", "'.' segment");
    }
    SUBCASE("absolute keys") {
        check_s3_rejected(m, "s3://bkt//etc/passwd", "the key is an absolute path");
        check_s3_rejected(m, "https://bkt.s3.amazonaws.com//etc/passwd", "the key is an absolute path");
    }
    SUBCASE("NUL and backslash") {
        check_s3_rejected(m, std::string("s3://bkt/a\0/../../x", 19), "NUL character");
        check_s3_rejected(m, "s3://bkt/a\\..\\..\\x", "backslash");
        // The NUL is escaped in the message, not echoed raw.
        try {
            (void)m.s3_path(std::string("s3://bkt/a\0b", 12));
        } catch (const service_error& e) {
            CHECK(std::string(e.what()).find("a\\x00b") != std::string::npos);
        }
    }
    SUBCASE("over-long keys and segments") {
        check_s3_rejected(m, "s3://bkt/" + std::string(1025, 'k'), "longer than 1024 bytes");
        check_s3_rejected(m, "s3://bkt/" + std::string(256, 'k'), "longer than 255 bytes");
    }
}

TEST_CASE("storage: s3_path confines symlinks to the S3 root") {
    temp_dir tmp;
    uri_mapper m(roots_in(tmp.path));
    const fs::path root = m.roots().s3;
    const fs::path outside = tmp.path / "outside";
    fs::create_directories(outside / "secret");
    fs::create_directories(root / "bkt" / "real");
    fs::create_directories(root / "other" / "data");

    SUBCASE("a link inside the root that points outside is rejected") {
        fs::create_directory_symlink(outside, root / "bkt" / "escape");
        check_s3_rejected(m, "s3://bkt/escape", "S3 URI 's3://bkt/escape' is not allowed: it leaves the local S3 root");
        check_s3_rejected(m, "s3://bkt/escape/secret/x", "it leaves the local S3 root");
    }
    SUBCASE("a relative link that climbs out is rejected") {
        fs::create_directory_symlink("../../..", root / "bkt" / "up");
        check_s3_rejected(m, "s3://bkt/up/outside", "it leaves the local S3 root");
    }
    SUBCASE("a dangling link that points outside is rejected (a write would create the file outside)") {
        fs::create_symlink(outside / "not-yet", root / "bkt" / "dangling");
        check_s3_rejected(m, "s3://bkt/dangling", "it leaves the local S3 root");
        check_s3_rejected(m, "s3://bkt/dangling/model.tar.gz", "it leaves the local S3 root");
    }
    SUBCASE("a dangling link that climbs back through '..' is resolved") {
        fs::create_directory_symlink(outside, root / "bkt" / "escape");
        fs::create_symlink("missing/../escape", root / "bkt" / "tricky");
        check_s3_rejected(m, "s3://bkt/tricky/x", "it leaves the local S3 root");
    }
    SUBCASE("a bucket folder that is a link to outside is rejected") {
        fs::create_directory_symlink(outside, root / "evil-bucket");
        check_s3_rejected(m, "s3://evil-bucket", "it leaves the local S3 root");
        check_s3_rejected(m, "s3://evil-bucket/secret", "it leaves the local S3 root");
    }
    SUBCASE("a bucket that is a link to the root itself is rejected") {
        fs::create_directory_symlink(root, root / "all-buckets");
        check_s3_rejected(m, "s3://all-buckets", "it leaves the local S3 root");
    }
    SUBCASE("a symlink loop is rejected") {
        fs::create_symlink("loop", root / "bkt" / "loop");
        check_s3_rejected(m, "s3://bkt/loop/x", "cannot be resolved locally");
    }
    SUBCASE("links that stay inside the root are accepted, and the path keeps the link") {
        fs::create_directory_symlink("real", root / "bkt" / "alias");
        fs::create_directory_symlink("../../other/data", root / "bkt" / "real" / "shared");
        fs::create_symlink(root / "other" / "data" / "missing", root / "bkt" / "dangling-inside");
        CHECK(m.s3_path("s3://bkt/alias/x") == root / "bkt" / "alias" / "x");
        CHECK(m.s3_path("s3://bkt/real/shared/y") == root / "bkt" / "real" / "shared" / "y");
        CHECK(m.s3_path("s3://bkt/dangling-inside") == root / "bkt" / "dangling-inside");
    }
}

TEST_CASE("storage: file_system_path maps EFS and FSx for Lustre") {
    temp_dir tmp;
    uri_mapper m(roots_in(tmp.path));

    SUBCASE("EFS") {
        CHECK(m.file_system_path("EFS", "fs-0123456789abcdef0", "/training-data") ==
              m.roots().efs / "fs-0123456789abcdef0" / "training-data");
        CHECK(m.file_system_path("EFS", "fs-12345678", "/") == m.roots().efs / "fs-12345678");
    }
    SUBCASE("FSx for Lustre keeps the mount name as a folder") {
        CHECK(m.file_system_path("FSxLustre", "fs-abcdef12", "/1234abcd/ns1/") ==
              m.roots().fsx / "fs-abcdef12" / "1234abcd" / "ns1");
    }
    SUBCASE("type") {
        check_rejected([&] { (void)m.file_system_path("S3", "fs-12345678", "/x"); },
                       "Invalid FileSystemType 'S3': must be EFS or FSxLustre");
        check_rejected([&] { (void)m.file_system_path("efs", "fs-12345678", "/x"); }, "Invalid FileSystemType");
    }
    SUBCASE("file system id") {
        for (const char* id : {"fs-1234567", "fs-ABCDEF12", "fsx-12345678", "fs-12345678/..", "../fs-12345678",
                               "fs-0123456789abcdef012"}) {
            INFO("id: " << std::string(id));
            check_rejected([&] { (void)m.file_system_path("EFS", id, "/x"); }, "must match fs-[0-9a-f]{8,}");
        }
    }
    SUBCASE("directory path") {
        check_rejected([&] { (void)m.file_system_path("EFS", "fs-12345678", "data"); }, "must be an absolute path");
        check_rejected([&] { (void)m.file_system_path("EFS", "fs-12345678", ""); }, "must be an absolute path");
        check_rejected([&] { (void)m.file_system_path("EFS", "fs-12345678", "/a/../../fs-87654321"); },
                       "is not allowed: it leaves the local EFS root");
        check_rejected([&] { (void)m.file_system_path("FSxLustre", "fs-12345678", "/.."); },
                       "it leaves the local FSx for Lustre root");
        check_rejected([&] { (void)m.file_system_path("EFS", "fs-12345678", "/./a"); }, "'.' segment");
        check_rejected([&] { (void)m.file_system_path("EFS", "fs-12345678", "/a\\..\\b"); }, "backslash");
        check_rejected([&] { (void)m.file_system_path("EFS", "fs-12345678", std::string("/a\0b", 4)); }, "NUL");
    }
    SUBCASE("symlinks") {
        const fs::path outside = tmp.path / "outside";
        fs::create_directories(outside);
        fs::create_directories(m.roots().efs / "fs-12345678" / "data");
        fs::create_directory_symlink(outside, m.roots().efs / "fs-12345678" / "escape");
        fs::create_directory_symlink("data", m.roots().efs / "fs-12345678" / "alias");
        check_rejected([&] { (void)m.file_system_path("EFS", "fs-12345678", "/escape/x"); },
                       "it leaves the local EFS root");
        CHECK(m.file_system_path("EFS", "fs-12345678", "/alias") == m.roots().efs / "fs-12345678" / "alias");
        // The EFS root does not reach into the FSx root.
        fs::create_directory_symlink(m.roots().fsx, m.roots().efs / "fs-87654321");
        check_rejected([&] { (void)m.file_system_path("EFS", "fs-87654321", "/x"); }, "it leaves the local EFS root");
    }
}

TEST_CASE("storage: s3_uri is the inverse of s3_path") {
    temp_dir tmp;
    uri_mapper m(roots_in(tmp.path));

    SUBCASE("round trip") {
        for (const char* uri : {"s3://bkt/key", "s3://bkt", "s3://my.bucket/a/b/c.tar.gz", "s3://bkt/%2e%2e/x"}) {
            INFO("uri: " << std::string(uri));
            CHECK(m.s3_uri(m.s3_path(uri)) == uri);
        }
        CHECK(m.s3_uri(m.s3_path("https://s3.us-east-1.amazonaws.com/bkt/k")) == "s3://bkt/k");
        CHECK(m.s3_uri(m.s3_path("s3://bkt/prefix/")) == "s3://bkt/prefix");
    }
    SUBCASE("a trailing separator names a folder") {
        CHECK(m.s3_uri(m.roots().s3 / "bkt" / "out" / "") == "s3://bkt/out/");
    }
    SUBCASE("a path named through a symlink to the root") {
        fs::create_directory_symlink(m.roots().s3, tmp.path / "s3-link");
        CHECK(m.s3_uri(tmp.path / "s3-link" / "bkt" / "k") == "s3://bkt/k");
    }
    SUBCASE("paths outside the root throw std::invalid_argument") {
        CHECK_THROWS_AS((void)m.s3_uri(tmp.path / "efs" / "x"), std::invalid_argument);
        CHECK_THROWS_AS((void)m.s3_uri(m.roots().s3), std::invalid_argument);
        CHECK_THROWS_AS((void)m.s3_uri(m.roots().s3 / "bkt" / ".." / ".." / "x"), std::invalid_argument);
        CHECK_THROWS_AS((void)m.s3_uri(fs::path(m.roots().s3.string() + "-sibling") / "bkt"), std::invalid_argument);
    }
}
