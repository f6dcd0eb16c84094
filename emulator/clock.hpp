#pragma once
// The clock seam: job timing and simulator epochs go through it so that tests and the HPO
// benchmark can run on virtual time.

#include <stop_token>

namespace smlocal {

/// Epoch seconds (with a fraction) and interruptible waits.
class clock {
public:
    virtual ~clock() = default;
    /// Seconds since the Unix epoch.
    virtual double now() const = 0;
    /// Waits `seconds` or until `stop` is requested. Returns false when stopped early.
    virtual bool sleep_for(double seconds, std::stop_token stop) = 0;
};

/// The wall clock; waits wake up at once on a stop request.
clock& wall_clock();

}  // namespace smlocal
