#include "emulator/storage/pipe_feeder.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <random>
#include <stdexcept>
#include <thread>

#include <archive.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

namespace smlocal {

namespace fs = std::filesystem;

namespace {

constexpr std::uint32_t recordio_magic = 0xCED7230A;
constexpr auto reader_poll_interval = std::chrono::milliseconds(20);

std::runtime_error system_failure(const std::string& what) {
    return std::runtime_error(what + ": " + std::strerror(errno));
}

// Writes all of `data` unless the reader goes away (false) or a stop is requested (false).
// The FIFO is non-blocking, so a stalled reader never pins this thread past a stop request.
bool write_all(int fd, const char* data, std::size_t size, const std::stop_token& stop) {
    while (size > 0) {
        if (stop.stop_requested()) return false;
        pollfd ready{fd, POLLOUT, 0};
        const int polled = ::poll(&ready, 1, 100);
        if (polled < 0 && errno != EINTR) throw system_failure("poll on FIFO");
        if (polled <= 0) continue;
        if (ready.revents & (POLLERR | POLLHUP)) return false;
        const ssize_t written = ::write(fd, data, size);
        if (written < 0) {
            if (errno == EAGAIN || errno == EINTR) continue;
            if (errno == EPIPE) return false;  // the reader closed early: this epoch is over
            throw system_failure("write to FIFO");
        }
        data += written;
        size -= static_cast<std::size_t>(written);
    }
    return true;
}

// Streams one object's bytes (decompressed if asked) to `sink`; stops when the sink says so.
template <typename Sink>
bool read_object(const channel_object& object, bool gunzip, Sink&& sink) {
    if (!gunzip) {
        std::ifstream in(object.file, std::ios::binary);
        if (!in) throw std::runtime_error("cannot read " + object.file.string());
        std::vector<char> buffer(1 << 16);
        while (in) {
            in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
            if (in.gcount() > 0 && !sink(buffer.data(), static_cast<std::size_t>(in.gcount()))) return false;
        }
        return true;
    }
    // A raw gzip stream: libarchive's "raw" format with the gzip filter yields the plain bytes.
    archive* reader = archive_read_new();
    archive_read_support_filter_gzip(reader);
    archive_read_support_format_raw(reader);
    bool complete = true;
    if (archive_read_open_filename(reader, object.file.c_str(), 1 << 16) != ARCHIVE_OK) {
        const std::string error = archive_error_string(reader) ? archive_error_string(reader) : "unknown error";
        archive_read_free(reader);
        throw std::runtime_error("cannot decompress " + object.file.string() + ": " + error);
    }
    archive_entry* entry = nullptr;
    if (archive_read_next_header(reader, &entry) == ARCHIVE_OK) {
        std::vector<char> buffer(1 << 16);
        for (;;) {
            const la_ssize_t n = archive_read_data(reader, buffer.data(), buffer.size());
            if (n < 0) {
                const std::string error = archive_error_string(reader) ? archive_error_string(reader) : "unknown error";
                archive_read_free(reader);
                throw std::runtime_error("cannot decompress " + object.file.string() + ": " + error);
            }
            if (n == 0) break;
            if (!sink(buffer.data(), static_cast<std::size_t>(n))) {
                complete = false;
                break;
            }
        }
    }
    archive_read_free(reader);
    return complete;
}

std::string read_whole(const channel_object& object, bool gunzip) {
    std::string out;
    read_object(object, gunzip, [&](const char* data, std::size_t size) {
        out.append(data, size);
        return true;
    });
    return out;
}

}  // namespace

std::string recordio_header(std::uint32_t size) {
    // Little-endian magic and length, as MXNet and the training toolkit write them on x86.
    std::string header(8, '\0');
    const std::uint32_t length = size & ((1u << 29) - 1);
    std::memcpy(header.data(), &recordio_magic, 4);
    std::memcpy(header.data() + 4, &length, 4);
    return header;
}

std::size_t recordio_padding(std::uint32_t size) { return (4 - size % 4) % 4; }

pipe_feeder::pipe_feeder(fs::path data_dir, std::string channel, std::vector<channel_object> objects,
                         pipe_options options)
    : data_dir_(std::move(data_dir)), channel_(std::move(channel)), objects_(std::move(objects)), options_(options) {}

fs::path pipe_feeder::fifo_path(int epoch) const { return data_dir_ / (channel_ + "_" + std::to_string(epoch)); }

void pipe_feeder::run(std::stop_token stop) {
    for (int epoch = 0; !stop.stop_requested(); ++epoch) {
        const fs::path fifo = fifo_path(epoch);
        fs::remove(fifo);
        if (::mkfifo(fifo.c_str(), 0666) != 0) throw system_failure("mkfifo " + fifo.string());
        ::chmod(fifo.c_str(), 0666);  // the container may run as another user

        // Opening for writing without a reader fails with ENXIO: poll until one comes, or a stop.
        int fd = -1;
        while (!stop.stop_requested()) {
            fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
            if (fd >= 0) break;
            if (errno != ENXIO && errno != EINTR) throw system_failure("open " + fifo.string());
            std::this_thread::sleep_for(reader_poll_interval);
        }
        if (fd < 0) {
            fs::remove(fifo);
            return;
        }

        std::vector<const channel_object*> order;
        for (const auto& object : objects_) order.push_back(&object);
        if (options_.shuffle_seed) {
            std::mt19937_64 generator(*options_.shuffle_seed + static_cast<std::uint64_t>(epoch));
            std::shuffle(order.begin(), order.end(), generator);
        }

        // An epoch ends when every object is written or the reader leaves; a stop cuts it short.
        bool reader_present = true;
        std::size_t written = 0;
        for (const channel_object* object : order) {
            if (!reader_present || stop.stop_requested()) break;
            if (options_.record_io) {
                const std::string payload = read_whole(*object, options_.gunzip);
                const auto size = static_cast<std::uint32_t>(payload.size());
                const std::string header = recordio_header(size);
                const std::string padding(recordio_padding(size), '\0');
                reader_present = write_all(fd, header.data(), header.size(), stop) &&
                                 write_all(fd, payload.data(), payload.size(), stop) &&
                                 write_all(fd, padding.data(), padding.size(), stop);
            } else {
                reader_present = read_object(*object, options_.gunzip, [&](const char* data, std::size_t size) {
                    return write_all(fd, data, size, stop);
                });
            }
            if (reader_present) ++written;
        }
        ::close(fd);
        fs::remove(fifo);
        const bool finished = written == order.size() || (!reader_present && !stop.stop_requested());
        if (finished) ++epochs_;
        if (stop.stop_requested()) return;
    }
}

}  // namespace smlocal
