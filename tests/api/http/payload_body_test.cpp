// Test that the header file is self-contained.
#include "api/http/payload_body.hpp"

#include <fstream>
#include <iterator>
#include <string>

#include <doctest/doctest.h>

#include "tests/support/md5.hpp"
#include "tests/support/temp_dir.hpp"

using smlocal::api::body_file;
using smlocal::api::file_sink;
using smlocal::api::file_source;

namespace {

// Writes `content` through a file_sink in pieces of `piece` bytes; returns the sink's MD5.
std::string sink(const std::filesystem::path& path, const std::string& content, std::size_t piece) {
    file_sink out;
    boost::beast::error_code ec;
    out.open(path, ec);
    REQUIRE_FALSE(ec);
    for (std::size_t at = 0; at < content.size(); at += piece) {
        out.write(content.data() + at, std::min(piece, content.size() - at), ec);
        REQUIRE_FALSE(ec);
    }
    const std::string md5 = out.finish(ec);
    REQUIRE_FALSE(ec);
    return md5;
}

}  // namespace

TEST_CASE("payload_body: file_sink writes and hashes bodies of every size, inline or alongside") {
    smlocal_test::temp_dir dir("smlocal-payload");
    const auto path = dir.path / "body";
    constexpr std::size_t mib = 1024 * 1024;
    // Within one block (hashed inline), exactly one block, and several blocks with a remainder
    // (hashed on the hashing thread, with more blocks than its queue holds).
    for (const std::size_t size : {std::size_t{0}, std::size_t{5}, mib, 7 * mib + 3}) {
        CAPTURE(size);
        std::string content(size, '\0');
        for (std::size_t i = 0; i < size; ++i) content[i] = static_cast<char>((i * 7919) >> 3);
        CHECK(sink(path, content, 65536) == smlocal_test::md5_hex(content));
        std::ifstream in(path, std::ios::binary);
        CHECK(std::string(std::istreambuf_iterator<char>(in), {}) == content);
    }
}

TEST_CASE("payload_body: file_source reads exactly its range, and a shrunken file is an error") {
    smlocal_test::temp_dir dir("smlocal-payload");
    const auto path = dir.path / "object";
    std::string content(3 * 1024 * 1024 + 11, 'a');
    for (std::size_t i = 0; i < content.size(); i += 4096) content[i] = 'b';
    std::ofstream(path, std::ios::binary) << content;

    file_source source;
    boost::beast::error_code ec;
    source.open(body_file{path, 100, content.size() - 200, {}}, ec);
    REQUIRE_FALSE(ec);
    std::string read;
    while (!source.done()) {
        const auto block = source.next(ec);
        REQUIRE_FALSE(ec);
        read.append(static_cast<const char*>(block.data()), block.size());
    }
    CHECK(read == content.substr(100, content.size() - 200));

    file_source beyond;
    beyond.open(body_file{path, content.size() - 10, 20, {}}, ec);
    REQUIRE_FALSE(ec);
    beyond.next(ec);  // the 10 bytes that exist
    CHECK_FALSE(ec);
    beyond.next(ec);
    CHECK(ec);
}
