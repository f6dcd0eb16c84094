#pragma once
// Pipe input mode: one FIFO per channel per epoch, /opt/ml/input/data/<channel>_<epoch>, each
// carrying the host's whole share of the channel (spec/data-sources.md §4).

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "emulator/storage/staging.hpp"

namespace smlocal {

struct pipe_options {
    bool record_io = false;                  // RecordWrapperType RecordIO: each object is one record
    bool gunzip = false;                     // CompressionType Gzip: objects are decompressed first
    std::optional<std::uint64_t> shuffle_seed;  // ShuffleConfig.Seed: object order reshuffled each epoch
};

/// Feeds one channel of one host. `data_dir` is the host folder mounted at /opt/ml/input/data.
class pipe_feeder {
public:
    pipe_feeder(std::filesystem::path data_dir, std::string channel, std::vector<channel_object> objects,
                pipe_options options = {});

    /// Creates `<channel>_0`, waits for a reader, streams every object, closes (the reader sees
    /// EOF), removes the FIFO, then does the same for epoch 1, 2, ... until `stop`. A reader that
    /// closes early ends that epoch. Throws std::runtime_error when a FIFO or an object cannot be
    /// used.
    void run(std::stop_token stop);

    /// Epochs fully delivered (or ended early by the reader) so far.
    int epochs_delivered() const { return epochs_; }

    /// The path of epoch `epoch`'s FIFO.
    std::filesystem::path fifo_path(int epoch) const;

private:
    std::filesystem::path data_dir_;
    std::string channel_;
    std::vector<channel_object> objects_;
    pipe_options options_;
    int epochs_ = 0;
};

/// The RecordIO frame header (MXNet style) for a payload of `size` bytes, and its padding length.
std::string recordio_header(std::uint32_t size);
std::size_t recordio_padding(std::uint32_t size);

}  // namespace smlocal
