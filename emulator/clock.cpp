#include "emulator/clock.hpp"

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace smlocal {
namespace {

class wall_clock_impl final : public clock {
public:
    double now() const override {
        using namespace std::chrono;
        return duration<double>(system_clock::now().time_since_epoch()).count();
    }

    bool sleep_for(double seconds, std::stop_token stop) override {
        std::mutex mutex;
        std::condition_variable_any wake;
        std::unique_lock lock(mutex);
        // Nothing notifies `wake`: the wait ends at the timeout or on a stop request.
        wake.wait_for(lock, stop, std::chrono::duration<double>(seconds), [] { return false; });
        return !stop.stop_requested();
    }
};

}  // namespace

clock& wall_clock() {
    static wall_clock_impl instance;
    return instance;
}

}  // namespace smlocal
