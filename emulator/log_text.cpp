#include "emulator/log_text.hpp"

namespace smlocal {

std::string escape_log_line(std::string_view raw) {
    // A CRLF line ending leaves one '\r' behind once the caller has split on '\n'.
    if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);

    std::string out;
    out.reserve(raw.size() + 8);
    for (const char c : raw) {
        const auto byte = static_cast<unsigned char>(c);
        // Bytes >= 0x80 are UTF-8 text and stay as they are; only C0 controls and DEL are escaped.
        if (byte >= 0x20 && byte != 0x7F) {
            out.push_back(c);
            continue;
        }
        // Syslog-style "#ooo": '#' plus the byte in three octal digits (TAB -> "#011").
        out.push_back('#');
        out.push_back(static_cast<char>('0' + ((byte >> 6) & 7)));
        out.push_back(static_cast<char>('0' + ((byte >> 3) & 7)));
        out.push_back(static_cast<char>('0' + (byte & 7)));
    }
    return out;
}

}  // namespace smlocal
