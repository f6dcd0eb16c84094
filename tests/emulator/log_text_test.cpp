#include "emulator/log_text.hpp"

#include <doctest/doctest.h>

#include <string>

using smlocal::escape_log_line;

TEST_CASE("escape_log_line leaves ordinary text unchanged") {
    SUBCASE("ascii") { CHECK(escape_log_line("epoch 1: loss=0.25 # done") == "epoch 1: loss=0.25 # done"); }
    SUBCASE("empty") { CHECK(escape_log_line("").empty()); }
    SUBCASE("utf-8 bytes >= 0x80") { CHECK(escape_log_line("d\xc3\xa9j\xc3\xa0 \xe2\x9c\x93") == "d\xc3\xa9j\xc3\xa0 \xe2\x9c\x93"); }
    SUBCASE("invalid utf-8 passes through") { CHECK(escape_log_line("a\xff\xfe" "b") == "a\xff\xfe" "b"); }
}

TEST_CASE("escape_log_line escapes control characters as '#' plus three octal digits") {
    SUBCASE("tab as XGBoost prints it") {
        CHECK(escape_log_line("[0]\ttrain-rmse:0.39") == "[0]#011train-rmse:0.39");
        CHECK(escape_log_line("[3]\ttrain-rmse:0.1\tvalidation-rmse:0.2") ==
              "[3]#011train-rmse:0.1#011validation-rmse:0.2");
    }
    SUBCASE("escape sequences of coloured output") { CHECK(escape_log_line("\x1b[31mred\x1b[0m") == "#033[31mred#033[0m"); }
    SUBCASE("NUL") { CHECK(escape_log_line(std::string("a\0b", 3)) == "a#000b"); }
    SUBCASE("bell, newline and unit separator") { CHECK(escape_log_line("\x07\n\x1f") == "#007#012#037"); }
    SUBCASE("DEL") { CHECK(escape_log_line("x\x7fy") == "x#177y"); }
    SUBCASE("a carriage return inside the line") { CHECK(escape_log_line("10%\r20%") == "10%#01520%"); }
}

TEST_CASE("escape_log_line drops one trailing carriage return") {
    SUBCASE("CRLF ending") { CHECK(escape_log_line("done\r") == "done"); }
    SUBCASE("only a CR") { CHECK(escape_log_line("\r").empty()); }
    SUBCASE("only the last one") { CHECK(escape_log_line("done\r\r") == "done#015"); }
}
