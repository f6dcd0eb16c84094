#include "emulator/storage/archive.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>

#include "tests/support/temp_dir.hpp"

namespace fs = std::filesystem;
using smlocal::extract_archive;
using smlocal::write_tar_gz;

namespace {

using smlocal_test::temp_dir;

// A fresh folder per test, removed afterwards.
void write_file(const fs::path& path, const std::string& content) {
    fs::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary);
    out << content;
    REQUIRE(out.good());
}

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Member names as GNU tar lists them (folders end in '/').
std::set<std::string> tar_listing(const fs::path& archive, const fs::path& scratch) {
    const fs::path listing = scratch / "listing.txt";
    const std::string command = "tar -tzf '" + archive.string() + "' > '" + listing.string() + "' 2>&1";
    const int rc = std::system(command.c_str());
    INFO("tar output: " << read_file(listing));
    REQUIRE(rc == 0);
    std::set<std::string> names;
    std::istringstream lines(read_file(listing));
    for (std::string line; std::getline(lines, line);) names.insert(line);
    return names;
}

// One member of a hand-made archive.
struct crafted_member {
    std::string name;
    unsigned type = AE_IFREG;  // AE_IFREG, AE_IFDIR, AE_IFLNK, or 0 for a hard link
    std::string data;          // content, or the link target
};

// Builds an archive byte for byte with libarchive, to feed extract_archive what a hostile client might.
void craft_archive(const fs::path& path, const std::vector<crafted_member>& members, bool gzip = true) {
    struct archive* a = archive_write_new();
    REQUIRE(a != nullptr);
    REQUIRE(archive_write_set_format_pax_restricted(a) == ARCHIVE_OK);
    if (gzip) REQUIRE(archive_write_add_filter_gzip(a) == ARCHIVE_OK);
    REQUIRE(archive_write_open_filename(a, path.c_str()) == ARCHIVE_OK);
    for (const auto& member : members) {
        archive_entry* entry = archive_entry_new();
        archive_entry_set_pathname(entry, member.name.c_str());
        archive_entry_set_mtime(entry, 1700000000, 0);
        if (member.type == 0) {
            archive_entry_set_filetype(entry, AE_IFREG);
            archive_entry_set_perm(entry, 0644);
            archive_entry_set_hardlink(entry, member.data.c_str());
            archive_entry_set_size(entry, 0);
        } else {
            archive_entry_set_filetype(entry, member.type);
            archive_entry_set_perm(entry, member.type == AE_IFDIR ? 0755 : 0644);
            if (member.type == AE_IFLNK) archive_entry_set_symlink(entry, member.data.c_str());
            archive_entry_set_size(entry, member.type == AE_IFREG ? static_cast<la_int64_t>(member.data.size()) : 0);
        }
        REQUIRE(archive_write_header(a, entry) == ARCHIVE_OK);
        if (member.type == AE_IFREG && !member.data.empty())
            REQUIRE(archive_write_data(a, member.data.data(), member.data.size()) ==
                    static_cast<la_ssize_t>(member.data.size()));
        archive_entry_free(entry);
    }
    REQUIRE(archive_write_close(a) == ARCHIVE_OK);
    archive_write_free(a);
}

// True when no `<name>.tmp-*` file was left next to the archive.
bool no_temporaries(const fs::path& archive) {
    for (const auto& entry : fs::directory_iterator(archive.parent_path())) {
        if (entry.path().filename().string().starts_with(archive.filename().string() + ".tmp-")) return false;
    }
    return true;
}

}  // namespace

TEST_CASE("storage: write_tar_gz and extract_archive round-trip a tree") {
    temp_dir tmp;
    const fs::path src = tmp.path / "model";
    write_file(src / "a" / "b" / "weights.txt", "nested weights\n");
    write_file(src / "empty.txt", "");
    fs::create_directories(src / "empty-dir");
    std::string big(5 * 1024 * 1024, '\0');
    std::mt19937 rng(42);
    for (auto& c : big) c = static_cast<char>(rng());
    write_file(src / "big.bin", big);
    write_file(src / "run.sh", "#!/bin/sh\n");
    fs::permissions(src / "run.sh", fs::perms::owner_exec, fs::perm_options::add);
    fs::create_symlink("a/b/weights.txt", src / "link");
    fs::create_symlink("/etc/passwd", src / "absolute-link");
    fs::create_directory_symlink(tmp.path, src / "dir-link");  // must not be descended

    const fs::path archive = tmp.path / "out" / "nested" / "model.tar.gz";  // parent is created
    write_tar_gz(archive, {src});
    REQUIRE(fs::is_regular_file(archive));
    CHECK(no_temporaries(archive));

    // One 5 MB archive serves every check below (no SUBCASE: they would rebuild it each time).
    {  // tar lists relative member names without './' or the source folder
        const auto names = tar_listing(archive, tmp.path);
        const std::set<std::string> expected{"a/",       "a/b/",    "a/b/weights.txt", "absolute-link", "big.bin",
                                             "dir-link", "empty-dir/", "empty.txt",     "link",          "run.sh"};
        CHECK(names == expected);
    }
    {  // extraction restores content, links and modes
        const fs::path dst = tmp.path / "extracted" / "deeper";  // destination is created
        extract_archive(archive, dst);
        CHECK(read_file(dst / "a" / "b" / "weights.txt") == "nested weights\n");
        CHECK(fs::is_regular_file(dst / "empty.txt"));
        CHECK(fs::file_size(dst / "empty.txt") == 0);
        CHECK(fs::is_directory(dst / "empty-dir"));
        CHECK(fs::file_size(dst / "big.bin") == big.size());
        CHECK(read_file(dst / "big.bin") == big);
        CHECK((fs::status(dst / "run.sh").permissions() & fs::perms::owner_exec) != fs::perms::none);
        REQUIRE(fs::is_symlink(dst / "link"));
        CHECK(fs::read_symlink(dst / "link") == "a/b/weights.txt");
        CHECK(read_file(dst / "link") == "nested weights\n");
        REQUIRE(fs::is_symlink(dst / "absolute-link"));
        CHECK(fs::read_symlink(dst / "absolute-link") == "/etc/passwd");
        REQUIRE(fs::is_symlink(dst / "dir-link"));
        CHECK(fs::read_symlink(dst / "dir-link") == tmp.path);
    }
    {  // extracting again over the same folder overwrites
        const fs::path dst = tmp.path / "twice";
        extract_archive(archive, dst);
        write_file(dst / "a" / "b" / "weights.txt", "changed");
        extract_archive(archive, dst);
        CHECK(read_file(dst / "a" / "b" / "weights.txt") == "nested weights\n");
        CHECK(fs::read_symlink(dst / "link") == "a/b/weights.txt");
    }
    {  // rewriting replaces the archive
        const fs::path other = tmp.path / "other";
        write_file(other / "only.txt", "x");
        write_tar_gz(archive, {other});
        CHECK(tar_listing(archive, tmp.path) == std::set<std::string>{"only.txt"});
        CHECK(no_temporaries(archive));
    }
}

TEST_CASE("storage: write_tar_gz merges host folders, the later one winning") {
    temp_dir tmp;
    const fs::path host1 = tmp.path / "algo-1" / "model";
    const fs::path host2 = tmp.path / "algo-2" / "model";
    write_file(host1 / "from-host1.txt", "1");
    write_file(host1 / "shared.txt", "host1");
    write_file(host1 / "dir" / "a.txt", "host1 a");
    write_file(host1 / "clash" / "inner.txt", "host1 folder");
    write_file(host2 / "from-host2.txt", "2");
    write_file(host2 / "shared.txt", "host2");
    write_file(host2 / "dir" / "b.txt", "host2 b");
    write_file(host2 / "clash", "host2 file");

    const fs::path archive = tmp.path / "model.tar.gz";
    write_tar_gz(archive, {host1, host2});

    const std::set<std::string> expected{"clash",         "dir/",          "dir/a.txt", "dir/b.txt",
                                         "from-host1.txt", "from-host2.txt", "shared.txt"};
    CHECK(tar_listing(archive, tmp.path) == expected);

    const fs::path dst = tmp.path / "merged";
    extract_archive(archive, dst);
    CHECK(read_file(dst / "shared.txt") == "host2");
    CHECK(read_file(dst / "from-host1.txt") == "1");
    CHECK(read_file(dst / "from-host2.txt") == "2");
    CHECK(read_file(dst / "dir" / "a.txt") == "host1 a");
    CHECK(read_file(dst / "dir" / "b.txt") == "host2 b");
    CHECK(read_file(dst / "clash") == "host2 file");

    SUBCASE("the other order gives the other winner") {
        write_tar_gz(archive, {host2, host1});
        const fs::path dst2 = tmp.path / "merged2";
        extract_archive(archive, dst2);
        CHECK(read_file(dst2 / "shared.txt") == "host1");
        CHECK(read_file(dst2 / "clash" / "inner.txt") == "host1 folder");
    }
}

TEST_CASE("storage: write_tar_gz skips missing source folders") {
    temp_dir tmp;
    const fs::path host = tmp.path / "host";
    write_file(host / "model.pt", "weights");

    SUBCASE("a missing folder next to a real one") {
        const fs::path archive = tmp.path / "model.tar.gz";
        write_tar_gz(archive, {tmp.path / "missing", host});
        CHECK(tar_listing(archive, tmp.path) == std::set<std::string>{"model.pt"});
    }
    SUBCASE("only missing folders give a valid empty archive") {
        const fs::path archive = tmp.path / "output.tar.gz";
        write_tar_gz(archive, {tmp.path / "missing"});
        CHECK(tar_listing(archive, tmp.path).empty());
        const fs::path dst = tmp.path / "empty";
        extract_archive(archive, dst);
        CHECK(fs::is_empty(dst));
    }
    SUBCASE("no folders at all") {
        const fs::path archive = tmp.path / "none.tar.gz";
        write_tar_gz(archive, {});
        CHECK(tar_listing(archive, tmp.path).empty());
    }
}

TEST_CASE("storage: write_tar_gz reports errors and leaves no partial file") {
    temp_dir tmp;
    write_file(tmp.path / "not-a-dir", "x");
    const fs::path archive = tmp.path / "out" / "model.tar.gz";
    CHECK_THROWS_AS(write_tar_gz(archive, {tmp.path / "not-a-dir"}), std::runtime_error);
    CHECK_THROWS_AS(write_tar_gz(tmp.path / "not-a-dir" / "model.tar.gz", {}), std::runtime_error);
    CHECK_FALSE(fs::exists(archive));
}

TEST_CASE("storage: extract_archive reads plain tar as well as tar.gz") {
    temp_dir tmp;
    const fs::path plain = tmp.path / "plain.tar";
    craft_archive(plain, {{"dir", AE_IFDIR, ""}, {"dir/file.txt", AE_IFREG, "plain"}, {"./top.txt", AE_IFREG, "top"}},
                  false);
    extract_archive(plain, tmp.path / "out");
    CHECK(read_file(tmp.path / "out" / "dir" / "file.txt") == "plain");
    CHECK(read_file(tmp.path / "out" / "top.txt") == "top");

    write_file(tmp.path / "garbage.tar.gz", "this is not an archive");
    CHECK_THROWS_AS(extract_archive(tmp.path / "garbage.tar.gz", tmp.path / "out2"), std::runtime_error);
    CHECK_THROWS_AS(extract_archive(tmp.path / "missing.tar.gz", tmp.path / "out3"), std::runtime_error);
}

TEST_CASE("storage: extract_archive refuses members that leave the destination") {
    temp_dir tmp;
    const fs::path dst = tmp.path / "dst";
    const fs::path outside = tmp.path / "outside";
    fs::create_directories(outside);
    const fs::path archive = tmp.path / "evil.tar.gz";

    SUBCASE("a '../evil' member") {
        craft_archive(archive, {{"ok.txt", AE_IFREG, "fine"}, {"../evil", AE_IFREG, "pwned"}});
        CHECK_THROWS_WITH_AS(extract_archive(archive, dst), doctest::Contains("../evil"), std::runtime_error);
        CHECK_FALSE(fs::exists(tmp.path / "evil"));
    }
    SUBCASE("a '..' hidden in the middle") {
        craft_archive(archive, {{"a/../../evil", AE_IFREG, "pwned"}});
        CHECK_THROWS_AS(extract_archive(archive, dst), std::runtime_error);
        CHECK_FALSE(fs::exists(tmp.path / "evil"));
    }
    SUBCASE("an absolute member") {
        const std::string target = (outside / "abs-evil").string();
        craft_archive(archive, {{target, AE_IFREG, "pwned"}});
        CHECK_THROWS_WITH_AS(extract_archive(archive, dst), doctest::Contains("is absolute"), std::runtime_error);
        CHECK_FALSE(fs::exists(outside / "abs-evil"));
    }
    SUBCASE("a write through a symlink the archive planted") {
        craft_archive(archive, {{"link", AE_IFLNK, outside.string()}, {"link/evil", AE_IFREG, "pwned"}});
        CHECK_THROWS_AS(extract_archive(archive, dst), std::runtime_error);
        CHECK_FALSE(fs::exists(outside / "evil"));
    }
    SUBCASE("a hard link through a planted symlink") {
        write_file(outside / "secret", "secret");
        craft_archive(archive, {{"link", AE_IFLNK, outside.string()}, {"hard", 0, "link/secret"}});
        CHECK_THROWS_AS(extract_archive(archive, dst), std::runtime_error);
        CHECK_FALSE(fs::exists(dst / "hard"));
    }
    SUBCASE("a hard link that climbs out") {
        write_file(outside / "secret", "secret");
        craft_archive(archive, {{"hard", 0, "../outside/secret"}});
        CHECK_THROWS_WITH_AS(extract_archive(archive, dst), doctest::Contains("leaves the destination"),
                             std::runtime_error);
        CHECK_FALSE(fs::exists(dst / "hard"));
    }
    SUBCASE("a symlink pointing outside is kept as a link, not written through") {
        craft_archive(archive, {{"link", AE_IFLNK, outside.string()}});
        extract_archive(archive, dst);
        CHECK(fs::is_symlink(dst / "link"));
        CHECK(fs::is_empty(outside));
    }
}
