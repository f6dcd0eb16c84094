#include "emulator/storage/pipe_feeder.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <csignal>
#include <cstring>
#include <fstream>
#include <random>
#include <thread>

#include <fcntl.h>
#include <unistd.h>

using namespace smlocal;
namespace fs = std::filesystem;

namespace {

struct pipe_fixture {
    fs::path root = fs::temp_directory_path() / ("smlocal-pipe-" + std::to_string(std::random_device{}()));
    std::vector<channel_object> objects;

    pipe_fixture() {
        std::signal(SIGPIPE, SIG_IGN);  // as the server does: a vanished reader is an error code
        fs::create_directories(root / "data");
        add("a", "alpha");
        add("b", "bravo!");
    }
    ~pipe_fixture() { fs::remove_all(root); }

    void add(const std::string& name, const std::string& content) {
        std::ofstream(root / name, std::ios::binary) << content;
        objects.push_back({root / name, name, content.size()});
    }
};

// Reads a FIFO to EOF as a training container would, waiting for it to appear.
std::string read_fifo(const fs::path& fifo) {
    for (int i = 0; i < 500 && !fs::exists(fifo); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::ifstream in(fifo, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST_CASE("each epoch gets its own FIFO carrying every object") {
    pipe_fixture f;
    pipe_feeder feeder(f.root / "data", "train", f.objects);
    std::stop_source stop;
    std::thread writer([&] { feeder.run(stop.get_token()); });
    CHECK(read_fifo(f.root / "data/train_0") == "alphabravo!");
    CHECK(read_fifo(f.root / "data/train_1") == "alphabravo!");
    stop.request_stop();
    writer.join();
    CHECK(feeder.epochs_delivered() == 2);
    CHECK_FALSE(fs::exists(f.root / "data/train_0"));
}

TEST_CASE("RecordIO wraps each object in one padded record") {
    pipe_fixture f;
    pipe_feeder feeder(f.root / "data", "rec", f.objects, {.record_io = true});
    std::stop_source stop;
    std::thread writer([&] { feeder.run(stop.get_token()); });
    const std::string data = read_fifo(f.root / "data/rec_0");
    stop.request_stop();
    writer.join();
    // alpha: 8 header + 5 + 3 padding; bravo!: 8 + 6 + 2
    REQUIRE(data.size() == 16 + 16);
    std::uint32_t magic = 0, length = 0;
    std::memcpy(&magic, data.data(), 4);
    std::memcpy(&length, data.data() + 4, 4);
    CHECK(magic == 0xCED7230A);
    CHECK(length == 5);
    CHECK(data.substr(8, 5) == "alpha");
    CHECK(recordio_padding(6) == 2);
}

TEST_CASE("gzip objects are decompressed") {
    pipe_fixture f;
    std::ofstream(f.root / "plain.txt") << "hello gzip";
    REQUIRE(std::system(("gzip -c " + (f.root / "plain.txt").string() + " > " + (f.root / "z.gz").string()).c_str()) == 0);
    pipe_feeder feeder(f.root / "data", "gz", {{f.root / "z.gz", "z.gz", 0}}, {.gunzip = true});
    std::stop_source stop;
    std::thread writer([&] { feeder.run(stop.get_token()); });
    CHECK(read_fifo(f.root / "data/gz_0") == "hello gzip");
    stop.request_stop();
    writer.join();
}

TEST_CASE("a stop ends the wait for a reader") {
    pipe_fixture f;
    pipe_feeder feeder(f.root / "data", "idle", f.objects);
    std::stop_source stop;
    std::thread writer([&] { feeder.run(stop.get_token()); });
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    stop.request_stop();
    writer.join();
    CHECK(feeder.epochs_delivered() == 0);
}

TEST_CASE("a reader that closes early ends the epoch, and the next one follows") {
    pipe_fixture f;
    std::string big(1 << 20, 'x');
    f.add("big", big);
    pipe_feeder feeder(f.root / "data", "early", f.objects);
    std::stop_source stop;
    std::thread writer([&] { feeder.run(stop.get_token()); });
    const fs::path first = f.root / "data/early_0";
    for (int i = 0; i < 500 && !fs::exists(first); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    {
        int fd = ::open(first.c_str(), O_RDONLY);
        REQUIRE(fd >= 0);
        char buffer[4];
        CHECK(::read(fd, buffer, sizeof buffer) == 4);
        ::close(fd);
    }
    CHECK(read_fifo(f.root / "data/early_1").size() == 11 + big.size());
    stop.request_stop();
    writer.join();
}
