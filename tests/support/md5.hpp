#pragma once
// MD5 of a string in hex, the way S3 ETags and Content-MD5 checks need it in tests.

#include <string>
#include <string_view>

#include <openssl/evp.h>

namespace smlocal_test {

inline std::string md5_raw(std::string_view data) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    EVP_Digest(data.data(), data.size(), digest, &size, EVP_md5(), nullptr);
    return std::string(reinterpret_cast<const char*>(digest), size);
}

inline std::string md5_hex(std::string_view data) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (const unsigned char byte : md5_raw(data)) {
        out += digits[byte >> 4];
        out += digits[byte & 0xf];
    }
    return out;
}

}  // namespace smlocal_test
