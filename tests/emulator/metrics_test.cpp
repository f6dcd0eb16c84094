#include "emulator/metrics.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "emulator/errors.hpp"
#include "emulator/log_text.hpp"

using smlocal::metric_definition;
using smlocal::metric_extractor;
using smlocal::metric_point;
using smlocal::service_error;
using definitions = std::vector<metric_definition>;

namespace {

std::string error_code_of(const definitions& defs) {
    try {
        metric_extractor extractor(defs);
    } catch (const service_error& e) {
        return e.code();
    }
    return "";
}

}  // namespace

TEST_CASE("metric_extractor reads the first capture group of a matching line") {
    const metric_extractor extractor(definitions{{"validation:loss", R"(validation:loss=([0-9\.]+))"}});
    CHECK_FALSE(extractor.empty());

    SUBCASE("match anywhere in the line") {
        const auto points = extractor.extract("epoch 3 train:loss=0.5 validation:loss=0.125 lr=0.1", 42.5);
        REQUIRE(points.size() == 1);
        CHECK(points[0].name == "validation:loss");
        CHECK(points[0].value == doctest::Approx(0.125));
        CHECK(points[0].timestamp == 42.5);
        CHECK_FALSE(points[0].epoch.has_value());
    }
    SUBCASE("a line without the metric yields nothing") { CHECK(extractor.extract("epoch 3 train:loss=0.5", 1).empty()); }
    SUBCASE("a capture that is not a number yields nothing") {
        CHECK(extractor.extract("validation:loss=...", 1).empty());
        CHECK(extractor.extract("validation:loss=1.2.3", 1).empty());
    }
}

TEST_CASE("metric_extractor matches AWS's XGBoost regexes against escaped lines") {
    const metric_extractor extractor({
        {"validation:auc", R"(.*\[[0-9]+\].*#011validation-auc:(\S+))"},
        {"train:auc", R"(.*\[[0-9]+\].*#011train-auc:([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?).*)"},
        // \S+ runs on into the next "#011..." field: the capture is not a number, so no point.
        {"greedy", R"(#011train-auc:(\S+))"},
    });
    const std::string line = smlocal::escape_log_line("[17]\ttrain-auc:0.91234\tvalidation-auc:0.87651\r");

    SUBCASE("every matching definition gives a point, in definition order") {
        const auto points = extractor.extract(line, 7);
        REQUIRE(points.size() == 2);
        CHECK(points[0].name == "validation:auc");
        CHECK(points[0].value == doctest::Approx(0.87651));
        CHECK(points[1].name == "train:auc");
        CHECK(points[1].value == doctest::Approx(0.91234));
    }
    SUBCASE("the raw, unescaped line does not match, as on AWS") {
        CHECK(extractor.extract("[17]\ttrain-auc:0.91234\tvalidation-auc:0.87651", 7).empty());
    }
    SUBCASE("invalid UTF-8 elsewhere in the line does not hide the metric") {
        const auto points = extractor.extract("[2]#011train-auc:0.5#011note:\xff\xfe#011validation-auc:0.75", 7);
        REQUIRE(points.size() == 2);
        CHECK(points[0].value == doctest::Approx(0.75));
        CHECK(points[1].value == doctest::Approx(0.5));
    }
}

TEST_CASE("metric_extractor parses the capture as a finite number") {
    const metric_extractor extractor(definitions{{"m", R"(m=(.*);)"}});
    const auto value_of = [&](const std::string& capture) -> std::optional<double> {
        const auto points = extractor.extract("m=" + capture + ";", 0);
        if (points.empty()) return std::nullopt;
        return points[0].value;
    };

    SUBCASE("numeric forms") {
        CHECK(value_of("3") == 3.0);
        CHECK(value_of("-0.5") == -0.5);
        CHECK(value_of(".5") == 0.5);
        CHECK(value_of("+2.25") == 2.25);
        CHECK(value_of("1e-3") == doctest::Approx(0.001));
        CHECK(value_of("6.02E23") == doctest::Approx(6.02e23));
    }
    SUBCASE("surrounding spaces are allowed") { CHECK(value_of("  0.25 ") == 0.25); }
    SUBCASE("non-numeric captures") {
        CHECK_FALSE(value_of(""));
        CHECK_FALSE(value_of("   "));
        CHECK_FALSE(value_of("abc"));
        CHECK_FALSE(value_of("0.5s"));
        CHECK_FALSE(value_of("1 2"));
    }
    SUBCASE("non-finite values") {
        CHECK_FALSE(value_of("nan"));
        CHECK_FALSE(value_of("inf"));
        CHECK_FALSE(value_of("-Infinity"));
        CHECK_FALSE(value_of("1e999"));
    }
}

TEST_CASE("metric_extractor takes the first of several capture groups") {
    const metric_extractor extractor(definitions{{"loss", R"(loss=([0-9.]+) \(step ([0-9]+)\))"}});
    const auto points = extractor.extract("loss=0.75 (step 120)", 0);
    REQUIRE(points.size() == 1);
    CHECK(points[0].value == 0.75);
}

TEST_CASE("metric_extractor rejects unusable regexes with ValidationException") {
    SUBCASE("syntax error") {
        CHECK_THROWS_WITH_AS(metric_extractor(definitions{{"validation:loss", R"(validation:loss=([0-9\.]+)"}}),
                             R"(Invalid MetricDefinitions regex for metric 'validation:loss': missing ): validation:loss=([0-9\.]+)",
                             service_error);
        CHECK(error_code_of(definitions{{"validation:loss", "([0-9]+"}}) == "ValidationException");
    }
    SUBCASE("lookaround, which linear-time RE2 does not support") {
        CHECK(error_code_of(definitions{{"m", "(?=x)(y)"}}) == "ValidationException");
    }
    SUBCASE("no capture group") {
        CHECK_THROWS_WITH_AS(metric_extractor(definitions{{"ok", "a=(1)"}, {"train:loss", "loss=[0-9.]+"}}),
                             "Invalid MetricDefinitions regex for metric 'train:loss': must contain one capture group",
                             service_error);
        CHECK(error_code_of(definitions{{"train:loss", "loss=(?:[0-9.]+)"}}) == "ValidationException");
    }
}

TEST_CASE("metric_extractor with no definitions") {
    const metric_extractor extractor(definitions{});
    CHECK(extractor.empty());
    CHECK(extractor.extract("loss=1", 0).empty());
}

TEST_CASE("metric_extractor can be moved") {
    metric_extractor source(definitions{{"m", "m=([0-9]+)"}});
    const metric_extractor moved(std::move(source));
    REQUIRE(moved.extract("m=4", 0).size() == 1);
}

TEST_CASE("update_final_metrics keeps the last value per metric in first-appearance order") {
    std::vector<metric_point> finals;
    smlocal::update_final_metrics(finals, {"train:loss", 0.9, 1, 1});
    smlocal::update_final_metrics(finals, {"validation:loss", 1.1, 1, 1});
    smlocal::update_final_metrics(finals, {"train:loss", 0.4, 2, 2});

    SUBCASE("last value wins, with its timestamp and epoch") {
        REQUIRE(finals.size() == 2);
        CHECK(finals[0].name == "train:loss");
        CHECK(finals[0].value == 0.4);
        CHECK(finals[0].timestamp == 2);
        CHECK(finals[0].epoch == 2);
        CHECK(finals[1].name == "validation:loss");
        CHECK(finals[1].value == 1.1);
    }
    SUBCASE("a new metric goes last") {
        smlocal::update_final_metrics(finals, {"accuracy", 0.8, 3, std::nullopt});
        REQUIRE(finals.size() == 3);
        CHECK(finals[2].name == "accuracy");
        CHECK_FALSE(finals[2].epoch.has_value());
    }
}
