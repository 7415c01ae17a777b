#include "agent/sources/generator/generator_source.h"

#include <charconv>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "common/log.h"
#include "common/thread_name.h"

namespace custos::agent::generator {
namespace {

class GeneratorSource final : public Source {
 public:
  GeneratorSource(SourceContext& context, int64_t rate, uint64_t count, size_t message_bytes)
      : context_(context), rate_(rate), count_(count), message_bytes_(message_bytes) {}
  ~GeneratorSource() override { Stop(); }

  // Source
  const std::string& name() const override { return name_; }

  Status Start(const std::string& position) override {
    if (!position.empty()) {
      auto [p, ec] = std::from_chars(position.data(), position.data() + position.size(), emitted_);
      if (ec != std::errc() || p != position.data() + position.size()) {
        return DataLoss("generator: saved position '" + position + "' is not a number");
      }
    }
    log::Info("generator", "starting", {{"resume_after", std::to_string(emitted_)},
                                        {"count", std::to_string(count_)}, {"rate", std::to_string(rate_)}});
    start_nanos_ = context_.clock.MonotonicNanos();  // before the thread: the rate counts from Start()
    thread_ = std::thread([this] {
      SetThreadName("generator");
      Run();
    });
    return Status::Ok();
  }

  void Stop() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  v1::Record Make(uint64_t index, int64_t now) const {
    v1::Record r;
    v1::LogRecord* log = r.mutable_log();
    log->set_time_unix_nano(static_cast<uint64_t>(now));
    log->set_severity(v1::SEVERITY_INFO);
    std::string msg = "generator record " + std::to_string(index);
    if (msg.size() < message_bytes_) msg.append(message_bytes_ - msg.size(), '.');
    log->set_message(std::move(msg));
    log->set_source("generator");
    (*log->mutable_fields())["index"] = std::to_string(index);
    return r;
  }

  void Run() {
    constexpr int64_t kTick = 10'000'000;  // 10 ms
    constexpr uint64_t kMaxChunk = 2000;
    Clock& clock = context_.clock;
    int64_t start = start_nanos_;
    uint64_t base = emitted_;
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_ && (count_ == 0 || emitted_ < count_)) {
      // How many records the rate allows by now.
      int64_t elapsed = clock.MonotonicNanos() - start;
      uint64_t due = base + static_cast<uint64_t>(static_cast<double>(elapsed) * static_cast<double>(rate_) / 1e9);
      if (count_ != 0) due = std::min(due, count_);
      if (due <= emitted_) {
        cv_.wait_for(lock, std::chrono::nanoseconds(kTick));
        continue;
      }
      uint64_t n = std::min<uint64_t>(due - emitted_, kMaxChunk);
      lock.unlock();
      int64_t now = clock.NowUnixNanos();
      std::vector<v1::Record> records;
      records.reserve(n);
      for (uint64_t i = 1; i <= n; ++i) records.push_back(Make(emitted_ + i, now));
      Status s = context_.batcher.Add(name_, std::move(records), std::to_string(emitted_ + n));
      lock.lock();
      if (s.ok()) {
        emitted_ += n;
      } else {
        // The batcher is full: wait and regenerate; nothing is dropped.
        cv_.wait_for(lock, std::chrono::nanoseconds(kTick));
        start = clock.MonotonicNanos();
        base = emitted_;
      }
    }
    if (count_ != 0 && emitted_ >= count_) {
      log::Info("generator", "all records handed to the batcher", {{"count", std::to_string(count_)}});
    }
  }

  const std::string name_ = "generator";
  SourceContext& context_;
  const int64_t rate_;
  const uint64_t count_;
  const size_t message_bytes_;
  uint64_t emitted_ = 0;  // written by the source thread only after Start()
  int64_t start_nanos_ = 0;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace

Result<std::unique_ptr<Source>> CreateGeneratorSource(ConfigSection& config, SourceContext& context) {
  int64_t rate = config.Int("rate", 1000, 1, 10'000'000);
  uint64_t count = static_cast<uint64_t>(config.Int("count", 0, 0, INT64_MAX));
  size_t message_bytes = static_cast<size_t>(config.Int("message_bytes", 0, 0, 1 << 20));
  return std::unique_ptr<Source>(new GeneratorSource(context, rate, count, message_bytes));
}

}  // namespace custos::agent::generator
