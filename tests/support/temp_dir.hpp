#pragma once
// A fresh folder under the system temp dir, removed with everything in it when the test ends.

#include <stdlib.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>

namespace smlocal_test {

struct temp_dir {
    std::filesystem::path path;

    explicit temp_dir(const std::string& prefix = "smlocal-test") {
        std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
        if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed for " + pattern);
        // Canonical, so that tests comparing paths with what the code resolved agree.
        path = std::filesystem::canonical(pattern);
    }
    ~temp_dir() {
        std::error_code ignored;
        std::filesystem::remove_all(path, ignored);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
};

}  // namespace smlocal_test
