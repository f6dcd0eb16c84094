#include "emulator/encoding.hpp"

#include <algorithm>
#include <random>
#include <stdexcept>

#include <openssl/evp.h>

namespace smlocal {

std::string hex_encode(std::string_view bytes, bool upper) {
    const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (const char c : bytes) {
        const auto byte = static_cast<unsigned char>(c);
        out += digits[byte >> 4];
        out += digits[byte & 0xf];
    }
    return out;
}

std::optional<std::string> hex_decode(std::string_view text) {
    if (text.size() % 2 != 0) return std::nullopt;
    auto value = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        return -1;
    };
    std::string out;
    out.reserve(text.size() / 2);
    for (std::size_t i = 0; i < text.size(); i += 2) {
        const int high = value(text[i]);
        const int low = value(text[i + 1]);
        if (high < 0 || low < 0) return std::nullopt;
        out += static_cast<char>(high * 16 + low);
    }
    return out;
}

std::string random_hex(std::size_t bytes, bool upper) {
    thread_local std::mt19937_64 generator{std::random_device{}()};
    std::string raw;
    raw.reserve(bytes);
    while (raw.size() < bytes) {
        const std::uint64_t word = generator();
        for (int i = 0; i < 8 && raw.size() < bytes; ++i) raw += static_cast<char>((word >> (8 * i)) & 0xff);
    }
    return hex_encode(raw, upper);
}

std::string base64_encode(std::string_view raw) {
    std::string out(4 * ((raw.size() + 2) / 3) + 1, '\0');
    const int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                        reinterpret_cast<const unsigned char*>(raw.data()), static_cast<int>(raw.size()));
    out.resize(static_cast<std::size_t>(written));
    return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
    if (text.empty() || text.size() % 4 != 0) return std::nullopt;
    std::string out(3 * text.size() / 4, '\0');
    const int written = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                        reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
    if (written < 0) return std::nullopt;
    // EVP_DecodeBlock counts the bytes that padding stands for; drop them.
    const auto padding = static_cast<std::size_t>(std::count(text.end() - 2, text.end(), '='));
    out.resize(static_cast<std::size_t>(written) - padding);
    return out;
}

struct md5::context {
    EVP_MD_CTX* evp = EVP_MD_CTX_new();
    ~context() { EVP_MD_CTX_free(evp); }
};

md5::md5() : context_(std::make_unique<context>()) {
    if (!context_->evp || EVP_DigestInit_ex(context_->evp, EVP_md5(), nullptr) != 1)
        throw std::runtime_error("MD5 init failed");
}

md5::~md5() = default;

void md5::update(const void* data, std::size_t size) { EVP_DigestUpdate(context_->evp, data, size); }

std::string md5::finish_raw() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    EVP_DigestFinal_ex(context_->evp, digest, &size);
    return std::string(reinterpret_cast<const char*>(digest), size);
}

std::string md5::hex_of(std::string_view data) {
    md5 hash;
    hash.update(data);
    return hash.finish_hex();
}

}  // namespace smlocal
