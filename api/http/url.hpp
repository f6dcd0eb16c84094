#pragma once
// Request-target pieces: the path, the query and its parameters, percent-decoded. Shared by the
// services that route on paths and query strings (S3, STS's query protocol, the dashboard).

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace smlocal::api {

/// "%2F" → "/"; with plus_as_space (form bodies) "+" → " " too. nullopt for a broken escape.
std::optional<std::string> percent_decode(std::string_view text, bool plus_as_space = false);

/// Every byte but RFC 3986's unreserved characters and '/' as %XX (upper-case hex): what S3
/// answers for encoding-type=url, and how a key goes into a URL.
std::string percent_encode(std::string_view text);

/// The path of a request target ("/a/b?x=1" → "/a/b"), not decoded.
std::string_view target_path(std::string_view target);
/// The query of a request target ("/a/b?x=1" → "x=1"), empty when there is none.
std::string_view target_query(std::string_view target);

/// "a=1&b=&c" → {a:"1", b:"", c:""}, names and values decoded ("+" is a space). The first of
/// repeated names wins. nullopt for a broken escape.
std::optional<std::map<std::string, std::string, std::less<>>> parse_query(std::string_view query);

}  // namespace smlocal::api
