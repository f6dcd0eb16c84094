#pragma once
// Byte encodings and MD5, one copy for every layer: hex (ETags, ids, tokens), base64 (list tokens,
// Content-MD5) and MD5 (S3 ETags), on OpenSSL.

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace smlocal {

/// Bytes as hex digits, lower-case unless `upper`.
std::string hex_encode(std::string_view bytes, bool upper = false);
/// Lower-case hex digits (as hex_encode writes them) back to bytes; nullopt for anything else.
std::optional<std::string> hex_decode(std::string_view text);
/// `bytes` random bytes as hex: ids and temp names, not secrets.
std::string random_hex(std::size_t bytes, bool upper = false);

std::string base64_encode(std::string_view raw);
/// nullopt when `text` is not padded base64.
std::optional<std::string> base64_decode(std::string_view text);

/// MD5 over data given in pieces.
class md5 {
public:
    md5();
    ~md5();
    md5(const md5&) = delete;
    md5& operator=(const md5&) = delete;

    void update(const void* data, std::size_t size);
    void update(std::string_view data) { update(data.data(), data.size()); }
    /// The 16-byte digest; the object is spent afterwards.
    std::string finish_raw();
    std::string finish_hex() { return hex_encode(finish_raw()); }

    /// The MD5 of `data` in hex, at once.
    static std::string hex_of(std::string_view data);

private:
    struct context;
    std::unique_ptr<context> context_;
};

}  // namespace smlocal
