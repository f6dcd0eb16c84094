#pragma once
// How container output becomes CloudWatch log text.

#include <string>
#include <string_view>

namespace smlocal {

/// Escapes control characters syslog-style as real SageMaker logs show them: TAB becomes "#011",
/// any other byte below 0x20 (and DEL) becomes '#' plus three octal digits. A trailing '\r' is
/// dropped. Metric regexes run over this escaped text, as AWS's built-in ones expect.
std::string escape_log_line(std::string_view raw);

}  // namespace smlocal
