// Test that the header file is self-contained.
#include "emulator/encoding.hpp"

#include <doctest/doctest.h>

using namespace smlocal;

TEST_CASE("encoding: hex both ways") {
    CHECK(hex_encode(std::string("\x00\x01\xab\xff", 4)) == "0001abff");
    CHECK(hex_encode("\xab", true) == "AB");
    CHECK(hex_decode("0001abff") == std::string("\x00\x01\xab\xff", 4));
    CHECK_FALSE(hex_decode("abc"));
    CHECK_FALSE(hex_decode("zz"));
    CHECK_FALSE(hex_decode("AB"));  // only what hex_encode writes
    const std::string id = random_hex(16);
    CHECK(id.size() == 32);
    CHECK(hex_decode(id));
    CHECK(random_hex(16) != id);
    CHECK(random_hex(4, true).find_first_not_of("0123456789ABCDEF") == std::string::npos);
}

TEST_CASE("encoding: base64 both ways, padding included") {
    for (const std::string& raw : std::initializer_list<std::string>{"", "a", "ab", "abc", "abcd", std::string("\x00\xff\x10", 3)}) {
        CAPTURE(raw);
        const std::string text = base64_encode(raw);
        CHECK(text.size() % 4 == 0);
        if (!raw.empty()) CHECK(base64_decode(text) == raw);
    }
    CHECK(base64_encode("ab") == "YWI=");
    CHECK_FALSE(base64_decode(""));
    CHECK_FALSE(base64_decode("abc"));
    CHECK_FALSE(base64_decode("@@@@"));
}

TEST_CASE("encoding: md5 at once and in pieces") {
    // RFC 1321's test vectors.
    CHECK(md5::hex_of("") == "d41d8cd98f00b204e9800998ecf8427e");
    CHECK(md5::hex_of("message digest") == "f96b697d7cb7938d525a2f31aaf161d0");
    md5 pieces;
    pieces.update("message ");
    pieces.update("digest");
    CHECK(pieces.finish_raw() == *hex_decode("f96b697d7cb7938d525a2f31aaf161d0"));
}
