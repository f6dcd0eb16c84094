#pragma once
// SageMaker ARNs carry the lower-cased resource name (spec/api.md, ARNs), and resources are
// looked up by ARN case-insensitively.

#include <algorithm>
#include <cctype>
#include <string>

namespace smlocal {

/// ASCII lower case: the form ARNs are built and compared in.
inline std::string lower_case(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return text;
}

/// arn:aws:sagemaker:<region>:<account>:<kind>/<lower-cased name>
inline std::string sagemaker_arn(const std::string& region, const std::string& account, const std::string& kind,
                                 const std::string& name) {
    return "arn:aws:sagemaker:" + region + ":" + account + ":" + kind + "/" + lower_case(name);
}

}  // namespace smlocal
