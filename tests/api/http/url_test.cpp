// Test that the header file is self-contained.
#include "api/http/url.hpp"

#include <doctest/doctest.h>

using namespace smlocal::api;

TEST_CASE("url: percent_decode") {
    CHECK(percent_decode("a%2Fb%20c") == "a/b c");
    CHECK(percent_decode("%e2%82%AC") == "\xe2\x82\xac");
    CHECK(percent_decode("a+b") == "a+b");
    CHECK(percent_decode("a+b", true) == "a b");
    SUBCASE("a broken escape is no string") {
        CHECK_FALSE(percent_decode("%"));
        CHECK_FALSE(percent_decode("ab%2"));
        CHECK_FALSE(percent_decode("%zz"));
    }
}

TEST_CASE("url: percent_encode keeps unreserved characters and '/'") {
    CHECK(percent_encode("a/b c+d~e_f.g-h") == "a/b%20c%2Bd~e_f.g-h");
    CHECK(percent_encode("\xe2\x82\xac") == "%E2%82%AC");
    CHECK(percent_decode(percent_encode("k\x01/\xff")) == "k\x01/\xff");
}

TEST_CASE("url: target pieces and query parameters") {
    CHECK(target_path("/bucket/key?list-type=2") == "/bucket/key");
    CHECK(target_path("/") == "/");
    CHECK(target_query("/bucket?uploads") == "uploads");
    CHECK(target_query("/bucket") == "");

    const auto parameters = parse_query("Action=GetCallerIdentity&Version=2011-06-15&uploads&prefix=a%2Fb+c&&x=1&x=2");
    REQUIRE(parameters);
    CHECK(parameters->at("Action") == "GetCallerIdentity");
    CHECK(parameters->at("uploads") == "");
    CHECK(parameters->at("prefix") == "a/b c");
    CHECK(parameters->at("x") == "1");
    CHECK(parameters->size() == 5);
    CHECK_FALSE(parse_query("a=%G1"));
}
