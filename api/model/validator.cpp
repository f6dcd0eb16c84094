// The model-driven validator: one interpreter of botocore's shape language, compiled once.
//
// LIMITATIONS vs real SageMaker (Coral, Java):
// - Patterns are Java regexes; they run here on RE2 after a small translation (see
//   translate_pattern). With botocore 1.43.11 every pattern of the served operations runs:
//     * `arn:[\p{Alnum}\-]+:lambda:...`: Java's POSIX class \p{Alnum} becomes [:alnum:];
//     * `...([a-zA-Z0-9]([a-zA-Z0-9-]){0,62})(?<!-)`: the trailing lookbehind becomes a separate
//       "last character is not '-'" check (exact under full-match semantics);
//     * `...model-package/[\S]{1,2048}`: RE2 caps counted repetition at 1000, so the count is
//       split into chained repetitions with the same range.
//   Anything else RE2 rejects (or that would mean something else in RE2, such as class
//   intersection `&&`) is skipped and listed by service_model::skipped_patterns().
// - Java and RE2 differ on a few character classes: Java's `.` also stops at \r, \u0085,
//   \u2028 and \u2029, and Java's \s includes \x0B. We keep RE2's meaning for those.
// - String lengths count UTF-16 code units, as Java's String.length() does.
// - Violations come in body order (members sorted by name, as nlohmann::json keeps them), then
//   missing required members in model order; the real service's order is not documented.
// - Constraints on list elements and map keys/values of scalar type are reported once per list or
//   map, with the whole value and every constraint of the element shape, as Coral does:
//   "Value '{a=b}' at 'hyperParameters' failed to satisfy constraint: Map value must satisfy
//   constraint: [Member must have length less than or equal to 2500, ...]".
// - JSON type mismatches use our own wording (Coral's SerializationException messages are terse
//   and vary); see validation_result::type_errors.

#include "api/model/validator.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <stdexcept>
#include <tuple>
#include <unordered_set>

#include <re2/re2.h>

namespace smlocal::api {

extern const char sagemaker_model_json[];
extern const char logs_model_json[];

namespace {

using nlohmann::json;

enum class shape_kind : std::uint8_t {
    structure,
    list,
    map,
    string,
    blob,
    integer,
    long_integer,
    float_number,
    double_number,
    boolean,
    timestamp,
    other,  // a type this interpreter does not know (e.g. document): accepted as is
};

shape_kind kind_of(const std::string& type) {
    static const std::unordered_map<std::string, shape_kind> kinds = {
        {"structure", shape_kind::structure},  {"list", shape_kind::list},
        {"map", shape_kind::map},              {"string", shape_kind::string},
        {"blob", shape_kind::blob},            {"integer", shape_kind::integer},
        {"long", shape_kind::long_integer},    {"float", shape_kind::float_number},
        {"double", shape_kind::double_number}, {"boolean", shape_kind::boolean},
        {"timestamp", shape_kind::timestamp},
    };
    auto it = kinds.find(type);
    return it == kinds.end() ? shape_kind::other : it->second;
}

struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

struct shape_node;

struct member_node {
    std::string name;       // wire name, e.g. "TrainingJobName"
    std::string path_name;  // first letter lowered, as AWS writes paths: "trainingJobName"
    const shape_node* shape = nullptr;
    bool required = false;
};

struct shape_node {
    std::string name;
    std::string type_name;  // botocore's word, used in type errors
    shape_kind kind = shape_kind::other;

    std::vector<member_node> members;  // structure, in model order
    std::unordered_map<std::string, std::size_t, string_hash, std::equal_to<>> member_index;  // name -> members[i]
    std::size_t required_count = 0;
    const shape_node* element = nullptr;            // list member, map value
    const shape_node* key = nullptr;                // map key

    std::optional<double> min;  // length for string/list/map, value for numbers
    std::optional<double> max;
    std::unordered_set<std::string> enum_values;
    std::shared_ptr<const RE2> pattern;  // null when the model has none or RE2 cannot run it
    // Patterns that only say "any text" (`.*`, `.+`, `[\S\s]*`) skip RE2: hyperparameter maps
    // carry dozens of them per request.
    enum class shortcut : std::uint8_t { none, anything, one_line, nonempty_line } pattern_shortcut = shortcut::none;
    std::optional<char> forbidden_last;  // from a trailing Java lookbehind `(?<!c)`

    // Constraint texts, precomputed so that a violation costs no formatting of the model.
    std::string max_text;
    std::string min_text;
    std::string pattern_text;
    std::string enum_text;
    std::string all_constraints;  // "[max, min, pattern, enum]" for list elements and map entries

    bool scalar() const {
        return kind != shape_kind::structure && kind != shape_kind::list && kind != shape_kind::map;
    }
};

struct operation_node {
    std::string input_name;
    std::string output_name;
    const shape_node* input = nullptr;
    const shape_node* output = nullptr;
};

}  // namespace

struct service_model::compiled {
    json document;
    std::unordered_map<std::string, shape_node, string_hash, std::equal_to<>> shapes;
    std::unordered_map<std::string, operation_node, string_hash, std::equal_to<>> operations;
    std::vector<std::string> skipped_patterns;
};

namespace {

// ---------------------------------------------------------------------------------------------
// Java regex -> RE2

struct translated_pattern {
    std::string re2;
    std::optional<char> forbidden_last;
    std::string unsupported;  // non-empty: why the pattern cannot run on RE2
};

const std::unordered_map<std::string_view, std::string_view>& java_posix_classes() {
    // Java's \p{Name} POSIX classes (US-ASCII only, as RE2's [:name:]).
    static const std::unordered_map<std::string_view, std::string_view> classes = {
        {"Lower", "lower"}, {"Upper", "upper"}, {"ASCII", "ascii"}, {"Alpha", "alpha"},
        {"Digit", "digit"}, {"Alnum", "alnum"}, {"Punct", "punct"}, {"Graph", "graph"},
        {"Print", "print"}, {"Blank", "blank"}, {"Cntrl", "cntrl"}, {"XDigit", "xdigit"},
        {"Space", "space"},
    };
    return classes;
}

// A pattern ending in `(?<!c)` (c one literal character) at the top level means, under full-match
// semantics, "the rest matches and the value does not end in c". Returns c and strips the suffix.
std::optional<char> strip_trailing_lookbehind(std::string& pattern) {
    static constexpr std::string_view open = "(?<!";
    if (pattern.size() < open.size() + 2 || pattern.back() != ')') return std::nullopt;
    std::size_t start = pattern.rfind(open);
    if (start == std::string::npos) return std::nullopt;
    std::string_view inner(pattern.data() + start + open.size(), pattern.size() - start - open.size() - 1);
    char c = 0;
    if (inner.size() == 1 && std::string_view("\\^$.|?*+()[]{}").find(inner[0]) == std::string_view::npos) {
        c = inner[0];
    } else if (inner.size() == 2 && inner[0] == '\\' && std::ispunct(static_cast<unsigned char>(inner[1]))) {
        c = inner[1];
    } else {
        return std::nullopt;
    }
    // A top-level alternation would make the lookbehind apply to one branch only.
    int depth = 0;
    bool in_class = false;
    for (std::size_t i = 0; i < start; ++i) {
        char ch = pattern[i];
        if (ch == '\\') { ++i; continue; }
        if (in_class) { if (ch == ']') in_class = false; continue; }
        if (ch == '[') in_class = true;
        else if (ch == '(') ++depth;
        else if (ch == ')') --depth;
        else if (ch == '|' && depth == 0) return std::nullopt;
    }
    pattern.resize(start);
    return c;
}

// Rewrites `atom{n,m}` with counts above RE2's limit of 1000 as chained repetitions of at most
// 1000 each; the set of matched strings is the same.
std::string split_repetition(const std::string& atom, long lo, std::optional<long> hi) {
    static constexpr long limit = 1000;
    std::string group = "(?:" + atom + ")";
    std::string out;
    for (long left = lo; left > 0; left -= limit) {
        out += group + "{" + std::to_string(std::min(left, limit)) + "}";
    }
    if (!hi) return out + group + "*";
    for (long left = *hi - lo; left > 0; left -= limit) {
        out += group + "{0," + std::to_string(std::min(left, limit)) + "}";
    }
    return out;
}

translated_pattern translate_pattern(std::string_view java) {
    translated_pattern result;
    std::string source(java);
    result.forbidden_last = strip_trailing_lookbehind(source);

    std::string& out = result.re2;
    std::vector<std::size_t> group_starts;  // positions in `out` of open groups
    std::size_t atom_start = std::string::npos;
    bool in_class = false;
    std::size_t class_start = 0;

    for (std::size_t i = 0; i < source.size(); ++i) {
        char c = source[i];
        if (c == '\\') {
            if (i + 1 >= source.size()) { result.unsupported = "trailing backslash"; return result; }
            char e = source[i + 1];
            if ((e == 'p' || e == 'P') && i + 2 < source.size() && source[i + 2] == '{') {
                std::size_t close = source.find('}', i + 3);
                if (close == std::string::npos) { result.unsupported = "unterminated \\p{"; return result; }
                std::string name = source.substr(i + 3, close - i - 3);
                std::string replacement;
                auto posix = java_posix_classes().find(name);
                if (posix != java_posix_classes().end()) {
                    std::string cls = std::string("[:") + (e == 'P' ? "^" : "") + std::string(posix->second) + ":]";
                    replacement = in_class ? cls : "[" + cls + "]";
                } else {
                    replacement = source.substr(i, close - i + 1);  // Unicode categories: RE2 knows them
                }
                if (!in_class) atom_start = out.size();
                out += replacement;
                i = close;
                continue;
            }
            if (e == 'v' || e == 'h' || e == 'H' || e == 'V' || e == 'R' || e == 'X' || e == 'G') {
                result.unsupported = std::string("Java-only escape \\") + e;
                return result;
            }
            if (!in_class) atom_start = out.size();
            out += source.substr(i, 2);
            ++i;
            continue;
        }
        if (in_class) {
            // Java nests classes and intersects them with &&; RE2 would read both literally.
            if (c == '&' && i + 1 < source.size() && source[i + 1] == '&') {
                result.unsupported = "class intersection &&";
                return result;
            }
            if (c == '[') {
                if (i + 1 < source.size() && source[i + 1] == ':') {
                    std::size_t close = source.find(":]", i + 2);
                    if (close != std::string::npos) {
                        out += source.substr(i, close + 2 - i);
                        i = close + 1;
                        continue;
                    }
                }
                result.unsupported = "nested character class";
                return result;
            }
            out += c;
            if (c == ']' && out.size() - 1 > class_start + 1 &&
                !(out.size() - 1 == class_start + 2 && out[class_start + 1] == '^')) {
                in_class = false;
            }
            continue;
        }
        switch (c) {
        case '[':
            in_class = true;
            class_start = out.size();
            atom_start = out.size();
            out += c;
            break;
        case '(':
            group_starts.push_back(out.size());
            atom_start = std::string::npos;
            out += c;
            break;
        case ')':
            if (group_starts.empty()) { result.unsupported = "unbalanced ')'"; return result; }
            atom_start = group_starts.back();
            group_starts.pop_back();
            out += c;
            break;
        case '{': {
            std::size_t close = source.find('}', i);
            std::string body = close == std::string::npos ? "" : source.substr(i + 1, close - i - 1);
            std::size_t comma = body.find(',');
            auto number = [](const std::string& s) -> std::optional<long> {
                if (s.empty() || s.size() > 9 || s.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
                return std::stol(s);
            };
            std::optional<long> lo = number(comma == std::string::npos ? body : body.substr(0, comma));
            std::optional<long> hi = comma == std::string::npos ? lo : number(body.substr(comma + 1));
            bool open_ended = comma != std::string::npos && comma + 1 == body.size();
            if (!lo || (!hi && !open_ended) || atom_start == std::string::npos) {
                out += c;  // not a repetition: RE2 reads it literally, as Java would reject it
                break;
            }
            if (*lo > 1000 || (hi && *hi > 1000)) {
                if (close + 1 < source.size() && source[close + 1] == '+') {
                    result.unsupported = "possessive quantifier";
                    return result;
                }
                std::string atom = out.substr(atom_start);
                out.resize(atom_start);
                out += split_repetition(atom, *lo, open_ended ? std::nullopt : hi);
                // A lazy `?` does not change which whole strings match.
                if (close + 1 < source.size() && source[close + 1] == '?') ++close;
            } else {
                out += source.substr(i, close - i + 1);
            }
            atom_start = std::string::npos;
            i = close;
            break;
        }
        default:
            if (c != '*' && c != '+' && c != '?' && c != '|' && c != '^' && c != '$') atom_start = out.size();
            else atom_start = std::string::npos;
            out += c;
        }
    }
    return result;
}

// ---------------------------------------------------------------------------------------------
// Building the compiled model

std::string lower_first(const std::string& name) {
    std::string out = name;
    if (!out.empty() && out[0] >= 'A' && out[0] <= 'Z') out[0] = static_cast<char>(out[0] - 'A' + 'a');
    return out;
}

std::string format_bound(double v) {
    if (std::floor(v) == v && std::fabs(v) < 1e15) return std::to_string(static_cast<long long>(v));
    json j = v;
    return j.dump();
}

void compile_constraints(shape_node& node, const json& shape, const std::string& name,
                         std::unordered_map<std::string, std::shared_ptr<const RE2>>& regex_cache,
                         std::vector<std::string>& skipped) {
    if (auto it = shape.find("min"); it != shape.end() && it->is_number()) node.min = it->get<double>();
    if (auto it = shape.find("max"); it != shape.end() && it->is_number()) node.max = it->get<double>();
    bool numeric = node.kind == shape_kind::integer || node.kind == shape_kind::long_integer ||
                   node.kind == shape_kind::float_number || node.kind == shape_kind::double_number;
    bool sized = node.kind == shape_kind::string || node.kind == shape_kind::list || node.kind == shape_kind::map;
    // Blob sizes are in bytes of the decoded value; we do not decode base64 here.
    if (!numeric && !sized) {
        node.min.reset();
        node.max.reset();
    }
    const char* what = numeric ? "value" : "length";
    if (node.max) node.max_text = std::string("Member must have ") + what + " less than or equal to " + format_bound(*node.max);
    if (node.min) node.min_text = std::string("Member must have ") + what + " greater than or equal to " + format_bound(*node.min);

    if (auto it = shape.find("enum"); it != shape.end() && node.kind == shape_kind::string) {
        node.enum_text = "Member must satisfy enum value set: [";
        bool first = true;
        for (const json& v : *it) {
            node.enum_values.insert(v.get<std::string>());
            node.enum_text += (first ? "" : ", ") + v.get<std::string>();
            first = false;
        }
        node.enum_text += "]";
    }

    if (auto it = shape.find("pattern"); it != shape.end() && node.kind == shape_kind::string) {
        const std::string& written = it->get_ref<const std::string&>();
        node.pattern_text = "Member must satisfy regular expression pattern: " + written;
        translated_pattern t = translate_pattern(written);
        if (t.unsupported.empty()) {
            auto cached = regex_cache.find(t.re2);
            if (cached == regex_cache.end()) {
                RE2::Options options;
                options.set_log_errors(false);
                auto re = std::make_shared<const RE2>(t.re2, options);
                if (!re->ok()) t.unsupported = re->error();
                cached = regex_cache.emplace(t.re2, t.unsupported.empty() ? re : nullptr).first;
            } else if (!cached->second) {
                t.unsupported = "RE2 cannot compile it";
            }
            node.pattern = cached->second;
        }
        if (t.unsupported.empty()) {
            node.forbidden_last = t.forbidden_last;
            // RE2's `.` stops only at \n, so these three are exact.
            if (written == "[\\S\\s]*" || written == "[\\s\\S]*") node.pattern_shortcut = shape_node::shortcut::anything;
            else if (written == ".*") node.pattern_shortcut = shape_node::shortcut::one_line;
            else if (written == ".+") node.pattern_shortcut = shape_node::shortcut::nonempty_line;
        } else {
            node.pattern.reset();
            skipped.push_back(name + ": " + written + " (" + t.unsupported + ")");
        }
    }

    // Coral lists every constraint of an element shape when a list element or map entry breaks one.
    std::vector<const std::string*> parts;
    for (const std::string* p : {&node.max_text, &node.min_text, &node.pattern_text, &node.enum_text}) {
        if (!p->empty()) parts.push_back(p);
    }
    node.all_constraints = "[";
    for (std::size_t i = 0; i < parts.size(); ++i) node.all_constraints += (i ? ", " : "") + *parts[i];
    node.all_constraints += "]";
}

// ---------------------------------------------------------------------------------------------
// Values

// Java's String.length(): UTF-16 code units. Four-byte UTF-8 sequences are surrogate pairs.
std::size_t utf16_length(const std::string& s) {
    std::size_t n = 0;
    for (unsigned char b : s) {
        if ((b & 0xC0) != 0x80) ++n;
        if (b >= 0xF0) ++n;
    }
    return n;
}

// Java-style toString of a value, as it appears in Coral's messages: [a, b] and {k=v}.
void render(const json& v, std::string& out) {
    switch (v.type()) {
    case json::value_t::string: out += v.get_ref<const std::string&>(); break;
    case json::value_t::array: {
        out += '[';
        bool first = true;
        for (const json& e : v) {
            if (!first) out += ", ";
            render(e, out);
            first = false;
        }
        out += ']';
        break;
    }
    case json::value_t::object: {
        out += '{';
        bool first = true;
        for (auto it = v.begin(); it != v.end(); ++it) {
            if (!first) out += ", ";
            out += it.key();
            out += '=';
            render(it.value(), out);
            first = false;
        }
        out += '}';
        break;
    }
    default: out += v.dump();
    }
}

const char* json_type_name(const json& v) {
    switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::object: return "object";
    case json::value_t::array: return "array";
    case json::value_t::string: return "string";
    case json::value_t::boolean: return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "integer";
    case json::value_t::number_float: return "float";
    default: return "binary";
    }
}

// Days since 1970-01-01 of a proleptic Gregorian date.
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

// ISO-8601 as botocore and the CLI write it: 2024-01-02[T| ]03:04[:05[.678]][Z|+01:00|+0100].
// A missing zone means UTC. Returns epoch seconds.
std::optional<double> parse_iso8601(std::string_view s) {
    std::size_t i = 0;
    auto digits = [&](std::size_t n) -> std::optional<int> {
        if (i + n > s.size()) return std::nullopt;
        int v = 0;
        for (std::size_t k = 0; k < n; ++k) {
            char c = s[i + k];
            if (c < '0' || c > '9') return std::nullopt;
            v = v * 10 + (c - '0');
        }
        i += n;
        return v;
    };
    auto expect = [&](char c) {
        if (i < s.size() && s[i] == c) { ++i; return true; }
        return false;
    };
    auto year = digits(4);
    if (!year || !expect('-')) return std::nullopt;
    auto month = digits(2);
    if (!month || !expect('-')) return std::nullopt;
    auto day = digits(2);
    if (!day || *month < 1 || *month > 12 || *day < 1) return std::nullopt;
    static constexpr int month_days[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (*year % 4 == 0 && *year % 100 != 0) || *year % 400 == 0;
    if (*day > month_days[*month - 1] || (*month == 2 && *day == 29 && !leap)) return std::nullopt;

    double seconds = 0;
    if (i < s.size() && (s[i] == 'T' || s[i] == 't' || s[i] == ' ')) {
        ++i;
        auto hour = digits(2);
        if (!hour || !expect(':')) return std::nullopt;
        auto minute = digits(2);
        if (!minute || *hour > 23 || *minute > 59) return std::nullopt;
        seconds = *hour * 3600.0 + *minute * 60.0;
        if (expect(':')) {
            auto second = digits(2);
            if (!second || *second > 59) return std::nullopt;
            seconds += *second;
            if (expect('.') || expect(',')) {
                double scale = 0.1;
                std::size_t start = i;
                while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
                    seconds += (s[i] - '0') * scale;
                    scale /= 10;
                    ++i;
                }
                if (i == start) return std::nullopt;
            }
        }
        if (expect('Z') || expect('z')) {
        } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
            int sign = s[i] == '-' ? -1 : 1;
            ++i;
            auto oh = digits(2);
            if (!oh) return std::nullopt;
            expect(':');
            auto om = digits(2);
            if (!om || *oh > 23 || *om > 59) return std::nullopt;
            seconds -= sign * (*oh * 3600.0 + *om * 60.0);
        }
    }
    if (i != s.size()) return std::nullopt;
    return static_cast<double>(days_from_civil(*year, static_cast<unsigned>(*month), static_cast<unsigned>(*day))) * 86400.0 + seconds;
}

// ---------------------------------------------------------------------------------------------
// The walk

class walker {
public:
    walker(bool response, std::vector<std::string>& violations, std::vector<std::string>& type_errors)
        : response_(response), violations_(violations), type_errors_(type_errors) {}

    void visit(const shape_node& shape, json& value) {
        if (!check_type(shape, value)) return;
        switch (shape.kind) {
        case shape_kind::structure: visit_structure(shape, value); break;
        case shape_kind::list: visit_list(shape, value); break;
        case shape_kind::map: visit_map(shape, value); break;
        default:
            each_violation(shape, value, [&](const std::string& constraint) { violation(value, constraint); });
        }
    }

private:
    class path_guard {
    public:
        path_guard(std::string& path, std::string_view a, std::string_view b = {}) : path_(path), mark_(path.size()) {
            if (!path_.empty()) path_ += '.';
            path_ += a;
            path_ += b;
        }
        ~path_guard() { path_.resize(mark_); }
        path_guard(const path_guard&) = delete;
        path_guard& operator=(const path_guard&) = delete;

    private:
        std::string& path_;
        std::size_t mark_;
    };

    std::string where() const { return path_.empty() ? std::string("in the body") : "at '" + path_ + "'"; }

    void violation(const json& value, const std::string& constraint) {
        std::string text = "Value ";
        if (value.is_null()) {
            text += "null";
        } else {
            text += '\'';
            render(value, text);
            text += '\'';
        }
        text += " at '" + path_ + "' failed to satisfy constraint: " + constraint;
        violations_.push_back(std::move(text));
    }

    void type_error(const shape_node& shape, const json& value) {
        type_errors_.push_back("Unexpected value type " + where() + ": expected " + shape.type_name + ", got " +
                               json_type_name(value));
    }

    // False (with a type error) when the JSON type cannot hold the shape's type.
    bool check_type(const shape_node& shape, json& value) {
        bool ok = true;
        switch (shape.kind) {
        case shape_kind::structure:
        case shape_kind::map: ok = value.is_object(); break;
        case shape_kind::list: ok = value.is_array(); break;
        case shape_kind::string:
        case shape_kind::blob: ok = value.is_string(); break;
        case shape_kind::boolean: ok = value.is_boolean(); break;
        case shape_kind::float_number:
        case shape_kind::double_number: ok = value.is_number(); break;
        case shape_kind::integer:
        case shape_kind::long_integer: {
            ok = value.is_number_integer();  // floats are not integers, even 3.0
            if (!ok) break;
            bool fits = true;
            if (value.is_number_unsigned()) {
                auto u = value.get<std::uint64_t>();
                fits = shape.kind == shape_kind::integer ? u <= std::numeric_limits<std::int32_t>::max()
                                                         : u <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
            } else if (shape.kind == shape_kind::integer) {
                auto i = value.get<std::int64_t>();
                fits = i >= std::numeric_limits<std::int32_t>::min() && i <= std::numeric_limits<std::int32_t>::max();
            }
            if (!fits) {
                type_errors_.push_back("Unexpected value " + where() + ": " + value.dump() + " is out of range for " +
                                       shape.type_name);
                return false;
            }
            break;
        }
        case shape_kind::timestamp:
            if (value.is_number()) break;
            // Responses must carry epoch seconds; requests may use ISO-8601, which we normalise.
            if (!response_ && value.is_string()) {
                if (auto seconds = parse_iso8601(value.get_ref<const std::string&>())) {
                    if (std::floor(*seconds) == *seconds) value = static_cast<std::int64_t>(*seconds);
                    else value = *seconds;
                    break;
                }
                type_errors_.push_back("Unexpected value " + where() + ": '" + value.get_ref<const std::string&>() +
                                       "' is not a timestamp (epoch seconds or ISO-8601)");
                return false;
            }
            ok = false;
            break;
        case shape_kind::other: break;
        }
        if (!ok) type_error(shape, value);
        return ok;
    }

    // Calls report(constraint) for each constraint of a scalar shape that `value` breaks.
    static bool matches(const shape_node& shape, const std::string& s) {
        using shortcut = shape_node::shortcut;
        switch (shape.pattern_shortcut) {
        case shortcut::anything: return true;
        case shortcut::one_line: return s.find('\n') == std::string::npos;
        case shortcut::nonempty_line: return !s.empty() && s.find('\n') == std::string::npos;
        case shortcut::none: break;
        }
        return RE2::FullMatch(s, *shape.pattern) &&
               !(shape.forbidden_last && !s.empty() && s.back() == *shape.forbidden_last);
    }

    template <class Report>
    static void string_violations(const shape_node& shape, const std::string& s, Report&& report) {
        if (shape.min || shape.max) {
            auto n = static_cast<double>(utf16_length(s));
            if (shape.max && n > *shape.max) report(shape.max_text);
            if (shape.min && n < *shape.min) report(shape.min_text);
        }
        if (shape.pattern && !matches(shape, s)) report(shape.pattern_text);
        if (!shape.enum_values.empty() && !shape.enum_values.contains(s)) report(shape.enum_text);
    }

    template <class Report>
    static void each_violation(const shape_node& shape, const json& value, Report&& report) {
        if (shape.kind == shape_kind::string) {
            string_violations(shape, value.get_ref<const std::string&>(), report);
            return;
        }
        if (value.is_number() && (shape.min || shape.max)) {
            auto n = value.get<double>();
            if (shape.max && n > *shape.max) report(shape.max_text);
            if (shape.min && n < *shape.min) report(shape.min_text);
        }
    }

    static bool conforms(const shape_node& shape, const json& value) {
        bool ok = true;
        each_violation(shape, value, [&](const std::string&) { ok = false; });
        return ok;
    }

    void check_size(const shape_node& shape, const json& value) {
        auto n = static_cast<double>(value.size());
        if (shape.max && n > *shape.max) violation(value, shape.max_text);
        if (shape.min && n < *shape.min) violation(value, shape.min_text);
    }

    void missing(const member_node& member) {
        path_guard guard(path_, member.path_name);
        violation(json(), "Member must not be null");
    }

    // Walks the members present (a hash lookup each), so the cost follows the body, not the
    // model: CreateTrainingJobRequest has 28 members and a typical body uses 8.
    void visit_structure(const shape_node& shape, json& value) {
        auto& object = value.get_ref<json::object_t&>();
        std::size_t required_present = 0;
        for (auto it = object.begin(); it != object.end();) {
            auto found = shape.member_index.find(it->first);
            if (found == shape.member_index.end()) {
                // Newer clients may send members we do not know: drop them quietly.
                if (!response_) {
                    it = object.erase(it);
                    continue;
                }
                type_errors_.push_back("Unknown member '" + it->first + "' " + where());
            } else if (it->second.is_null()) {
                const member_node& member = shape.members[found->second];
                if (response_ && !member.required) {
                    path_guard guard(path_, member.path_name);
                    type_errors_.push_back("Null value " + where() + ": absent members must be omitted");
                }
                // Requests: a null optional member is an absent one; required ones are reported below.
                if (!response_) {
                    it = object.erase(it);
                    continue;
                }
            } else {
                const member_node& member = shape.members[found->second];
                required_present += member.required ? 1 : 0;
                path_guard guard(path_, member.path_name);
                visit(*member.shape, it->second);
            }
            ++it;
        }
        if (required_present == shape.required_count) return;
        for (const member_node& member : shape.members) {
            if (!member.required) continue;
            auto it = object.find(member.name);
            if (it == object.end() || it->second.is_null()) missing(member);
        }
    }

    void visit_list(const shape_node& shape, json& value) {
        check_size(shape, value);
        const shape_node& element = *shape.element;
        bool element_broken = false;
        std::size_t index = 0;
        for (json& item : value) {
            ++index;
            path_guard guard(path_, std::to_string(index), ".member");
            if (!check_type(element, item)) continue;
            if (element.scalar()) element_broken = element_broken || !conforms(element, item);
            else visit(element, item);
        }
        if (element_broken) violation(value, "Member must satisfy constraint: " + element.all_constraints);
    }

    void visit_map(const shape_node& shape, json& value) {
        check_size(shape, value);
        const shape_node& key = *shape.key;
        const shape_node& element = *shape.element;
        bool key_broken = false;
        bool value_broken = false;
        for (auto it = value.begin(); it != value.end(); ++it) {
            if (key.kind == shape_kind::string && !key_broken) {
                string_violations(key, it.key(), [&](const std::string&) { key_broken = true; });
            }
            path_guard guard(path_, it.key());
            if (!check_type(element, it.value())) continue;
            if (element.scalar()) value_broken = value_broken || !conforms(element, it.value());
            else visit(element, it.value());
        }
        if (key_broken) violation(value, "Map keys must satisfy constraint: " + key.all_constraints);
        if (value_broken) violation(value, "Map value must satisfy constraint: " + element.all_constraints);
    }

    bool response_;
    std::vector<std::string>& violations_;
    std::vector<std::string>& type_errors_;
    std::string path_;
};

const operation_node& find_operation(const service_model::compiled& model, std::string_view operation) {
    auto it = model.operations.find(operation);
    if (it == model.operations.end()) {
        throw std::out_of_range("the service model has no operation " + std::string(operation));
    }
    return it->second;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// service_model

service_model service_model::parse(const json& document) {
    try {
        return compile(document);
    } catch (const json::exception& e) {
        // A member of the wrong JSON type somewhere in the model document.
        throw std::runtime_error(std::string("not a botocore service model: ") + e.what());
    }
}

service_model service_model::compile(const json& document) {
    if (!document.is_object() || !document.contains("operations") || !document.contains("shapes") ||
        !document["operations"].is_object() || !document["shapes"].is_object()) {
        throw std::runtime_error("not a botocore service model: needs 'operations' and 'shapes' objects");
    }
    auto model = std::make_shared<compiled>();
    model->document = document;
    const json& shapes = model->document["shapes"];

    // First every node, so that members can point at any shape; rehashing never moves nodes.
    for (auto it = shapes.begin(); it != shapes.end(); ++it) {
        if (!it->is_object() || !it->contains("type") || !(*it)["type"].is_string()) {
            throw std::runtime_error("shape " + it.key() + " has no type");
        }
        shape_node& node = model->shapes[it.key()];
        node.name = it.key();
        node.type_name = (*it)["type"].get<std::string>();
        node.kind = kind_of(node.type_name);
    }
    auto resolve = [&](const json& ref, const std::string& from) -> const shape_node* {
        if (!ref.is_object() || !ref.contains("shape")) throw std::runtime_error("bad shape reference in " + from);
        auto target = model->shapes.find(ref["shape"].get<std::string>());
        if (target == model->shapes.end()) {
            throw std::runtime_error(from + " refers to unknown shape " + ref["shape"].get<std::string>());
        }
        return &target->second;
    };

    std::unordered_map<std::string, std::shared_ptr<const RE2>> regex_cache;
    for (auto it = shapes.begin(); it != shapes.end(); ++it) {
        shape_node& node = model->shapes[it.key()];
        const json& shape = *it;
        if (node.kind == shape_kind::structure) {
            std::unordered_set<std::string> required;
            if (auto r = shape.find("required"); r != shape.end()) {
                for (const json& name : *r) required.insert(name.get<std::string>());
            }
            if (auto m = shape.find("members"); m != shape.end()) {
                for (auto member = m->begin(); member != m->end(); ++member) {
                    bool is_required = required.contains(member.key());
                    node.member_index.emplace(member.key(), node.members.size());
                    node.members.push_back({member.key(), lower_first(member.key()),
                                            resolve(member.value(), it.key() + "." + member.key()), is_required});
                    node.required_count += is_required ? 1 : 0;
                }
            }
        } else if (node.kind == shape_kind::list) {
            node.element = resolve(shape.value("member", json()), it.key());
        } else if (node.kind == shape_kind::map) {
            node.key = resolve(shape.value("key", json()), it.key());
            node.element = resolve(shape.value("value", json()), it.key());
        }
        compile_constraints(node, shape, it.key(), regex_cache, model->skipped_patterns);
    }

    const json& operations = model->document["operations"];
    for (auto it = operations.begin(); it != operations.end(); ++it) {
        operation_node op;
        for (auto [key, name, node] : {std::tuple{"input", &op.input_name, &op.input},
                                       std::tuple{"output", &op.output_name, &op.output}}) {
            if (auto ref = it->find(key); ref != it->end()) {
                *node = resolve(*ref, it.key() + "." + key);
                *name = (*node)->name;
            }
        }
        model->operations.emplace(it.key(), std::move(op));
    }
    return service_model(std::move(model));
}

bool service_model::has_operation(std::string_view operation) const {
    return compiled_->operations.find(operation) != compiled_->operations.end();
}

const std::string& service_model::input_shape(std::string_view operation) const {
    static const std::string none;
    auto it = compiled_->operations.find(operation);
    return it == compiled_->operations.end() ? none : it->second.input_name;
}

const std::string& service_model::output_shape(std::string_view operation) const {
    static const std::string none;
    auto it = compiled_->operations.find(operation);
    return it == compiled_->operations.end() ? none : it->second.output_name;
}

const json& service_model::shape(std::string_view name) const {
    const json& shapes = compiled_->document["shapes"];
    auto it = shapes.find(name);
    if (it == shapes.end()) throw std::out_of_range("the service model has no shape " + std::string(name));
    return *it;
}

const std::vector<std::string>& service_model::skipped_patterns() const { return compiled_->skipped_patterns; }

// ---------------------------------------------------------------------------------------------
// Validation

validation_result request_validator::validate(std::string_view operation, json& request) const {
    const operation_node& op = find_operation(*model_.compiled_, operation);
    validation_result result;
    walker walk(false, result.violations, result.type_errors);
    if (op.input) {
        walk.visit(*op.input, request);
    } else if (!request.is_object()) {
        result.type_errors.push_back(std::string("Unexpected value type in the body: expected structure, got ") +
                                     json_type_name(request));
    } else {
        request = json::object();  // no input: everything is unknown
    }
    return result;
}

std::string format_validation_message(const std::vector<std::string>& violations) {
    std::string message = std::to_string(violations.size()) +
                          (violations.size() == 1 ? " validation error detected: " : " validation errors detected: ");
    for (std::size_t i = 0; i < violations.size(); ++i) {
        if (i) message += "; ";
        message += violations[i];
    }
    return message;
}

std::vector<std::string> check_output(const service_model& model, std::string_view operation, const json& response) {
    const operation_node& op = find_operation(*model.compiled_, operation);
    std::vector<std::string> problems;
    std::vector<std::string> type_problems;
    json copy = response;
    if (op.output) {
        walker(true, problems, type_problems).visit(*op.output, copy);
    } else if (copy != json::object()) {
        problems.push_back("the operation has no output, so the body must be {}");
    }
    problems.insert(problems.end(), type_problems.begin(), type_problems.end());
    return problems;
}

const service_model& sagemaker_model() {
    static const service_model model = service_model::parse(json::parse(sagemaker_model_json));
    return model;
}

const service_model& logs_model() {
    static const service_model model = service_model::parse(json::parse(logs_model_json));
    return model;
}

}  // namespace smlocal::api
