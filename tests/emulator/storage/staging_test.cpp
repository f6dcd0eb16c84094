#include "emulator/storage/staging.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <random>

using namespace smlocal;
namespace fs = std::filesystem;

namespace {

struct s3_fixture {
    fs::path root = fs::temp_directory_path() / ("smlocal-staging-" + std::to_string(std::random_device{}()));
    uri_mapper storage{{root / "s3", root / "efs", root / "fsx"}};

    void put(const std::string& key, const std::string& content = "x") {
        const fs::path file = root / "s3" / key;
        fs::create_directories(file.parent_path());
        std::ofstream(file) << content;
    }
    ~s3_fixture() { fs::remove_all(root); }
};

std::vector<std::string> names(const std::vector<channel_object>& objects) {
    std::vector<std::string> out;
    for (const auto& o : objects) out.push_back(o.relative);
    return out;
}

}  // namespace

TEST_CASE("S3Prefix matches keys by prefix and names them from the prefix's last slash") {
    s3_fixture f;
    f.put("bkt/data/train-data.csv");
    f.put("bkt/data/train-ground-truth.csv");
    f.put("bkt/data/train/sub/x.csv");
    f.put("bkt/data/test.csv");
    SUBCASE("partial name") {
        CHECK(names(list_s3_prefix(f.storage, "s3://bkt/data/train")) ==
              std::vector<std::string>{"train-data.csv", "train-ground-truth.csv", "train/sub/x.csv"});
        CHECK_FALSE(prefix_is_folder(f.storage, "s3://bkt/data/train"));
    }
    SUBCASE("folder") {
        CHECK(names(list_s3_prefix(f.storage, "s3://bkt/data/train/")) == std::vector<std::string>{"sub/x.csv"});
        CHECK(prefix_is_folder(f.storage, "s3://bkt/data/train/"));
    }
    SUBCASE("bucket root") {
        CHECK(list_s3_prefix(f.storage, "s3://bkt").size() == 4);
        CHECK(prefix_is_folder(f.storage, "s3://bkt"));
    }
    SUBCASE("nothing there") { CHECK(list_s3_prefix(f.storage, "s3://bkt/none/").empty()); }
}

TEST_CASE("symlinks are not S3 objects") {
    s3_fixture f;
    f.put("bkt/p/real.csv");
    fs::create_symlink("/etc/hostname", f.root / "s3/bkt/p/link.csv");
    CHECK(names(list_s3_prefix(f.storage, "s3://bkt/p/")) == std::vector<std::string>{"real.csv"});
}

TEST_CASE("ShardedByS3Key deals sorted objects round-robin") {
    s3_fixture f;
    for (int i = 0; i < 5; ++i) f.put("bkt/p/part-" + std::to_string(i));
    auto objects = list_s3_prefix(f.storage, "s3://bkt/p/");
    CHECK(names(shard_for_host(objects, 1, 2)) == std::vector<std::string>{"part-0", "part-2", "part-4"});
    CHECK(names(shard_for_host(objects, 2, 2)) == std::vector<std::string>{"part-1", "part-3"});
    CHECK(shard_for_host(objects, 3, 6).size() == 1);
    CHECK(shard_for_host(objects, 6, 6).empty());
}

TEST_CASE("manifests name objects relative to their prefix") {
    s3_fixture f;
    f.put("bkt/set/a/1.csv");
    f.put("bkt/set/2.csv");
    f.put("bkt/m.json", R"(["{\"prefix\": 1}"])");
    SUBCASE("valid") {
        f.put("bkt/m.json", R"([{"prefix": "s3://bkt/set/"}, "2.csv", "a/1.csv"])");
        CHECK(names(list_manifest(f.storage, "s3://bkt/m.json")) == std::vector<std::string>{"2.csv", "a/1.csv"});
    }
    SUBCASE("malformed") { CHECK_THROWS_AS(list_manifest(f.storage, "s3://bkt/m.json"), std::runtime_error); }
    SUBCASE("missing object") {
        f.put("bkt/m.json", R"([{"prefix": "s3://bkt/set/"}, "nope.csv"])");
        CHECK_THROWS_WITH(list_manifest(f.storage, "s3://bkt/m.json"),
                          "object s3://bkt/set/nope.csv named in manifest s3://bkt/m.json does not exist");
    }
    SUBCASE("missing manifest") { CHECK_THROWS(list_manifest(f.storage, "s3://bkt/none.json")); }
}

TEST_CASE("staging hard-links objects into a fresh folder") {
    s3_fixture f;
    f.put("bkt/p/x/1.csv", "one");
    f.put("bkt/p/2.csv", "two");
    const fs::path folder = f.root / "stage";
    fs::create_directories(folder / "stale");
    stage_objects(list_s3_prefix(f.storage, "s3://bkt/p/"), folder);
    CHECK_FALSE(fs::exists(folder / "stale"));
    CHECK(fs::hard_link_count(folder / "x/1.csv") == 2);
    CHECK(fs::equivalent(folder / "2.csv", f.root / "s3/bkt/p/2.csv"));
}
