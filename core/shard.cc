// Shard: thread start-up (pinning, engine, timers, handler), the bounded loop, shutdown.
#include "core/shard.h"

#include <pthread.h>
#include <time.h>

#include <algorithm>
#include <future>
#include <vector>

#include "absl/strings/str_format.h"
#include "core/cpu_set.h"
#include "core/log.h"

namespace mtp {

uint64_t MonotonicNowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

void Shard::EngineWaker::Wake() {
  active_.fetch_add(1, std::memory_order_seq_cst);
  if (IoEngine* engine = engine_.load(std::memory_order_seq_cst)) engine->Wake();
  active_.fetch_sub(1, std::memory_order_seq_cst);
}

void Shard::EngineWaker::Detach() {
  engine_.store(nullptr, std::memory_order_seq_cst);
  // A Wake() that saw the engine finishes within a write(2); wait it out.
  while (active_.load(std::memory_order_seq_cst) > 0) std::this_thread::yield();
}

Shard::Shard(const ShardOptions& options)
    : options_(options),
      inbox_(options.inbox_capacity, &engine_waker_),
      outbox_(options.outbox_capacity, options.control_waker) {}

Shard::~Shard() {
  RequestStop();
  Join();
}

absl::Status Shard::Start(ShardHandlerFactory factory) {
  if (thread_.joinable()) return absl::FailedPreconditionError("shard already started");
  std::promise<absl::Status> started;
  std::future<absl::Status> result = started.get_future();
  thread_ = std::thread([this, f = std::move(factory), &started]() mutable {
    Run(std::move(f), &started);
  });
  absl::Status status = result.get();
  if (!status.ok()) thread_.join();
  return status;
}

bool Shard::Post(ShardMessage message) { return inbox_.Send(std::move(message)); }

bool Shard::TakeFromShard(ShardMessage& out) { return outbox_.Receive(out); }

bool Shard::PostToControl(ShardMessage message) { return outbox_.Send(std::move(message)); }

void Shard::RequestStop() {
  stop_requested_.store(true, std::memory_order_release);
  engine_waker_.Wake();
}

void Shard::Join() {
  if (thread_.joinable()) thread_.join();
}

void Shard::Run(ShardHandlerFactory factory, std::promise<absl::Status>* started) {
  char name[16];
  snprintf(name, sizeof(name), "shard-%d", options_.id);
  pthread_setname_np(pthread_self(), name);
  if (options_.cpu >= 0) {
    absl::Status pinned = PinCurrentThread(options_.cpu);
    if (!pinned.ok()) {
      // Not fatal: containers may restrict affinity; the shard still works unpinned.
      MTP_WARN("shard %d: %s; running unpinned", options_.id, pinned.message());
    }
  }
  auto engine = CreateIoEngine(options_.backend, options_.engine);
  if (!engine.ok()) {
    started->set_value(absl::Status(
        engine.status().code(),
        absl::StrFormat("shard %d: I/O engine: %s", options_.id, engine.status().message())));
    return;
  }
  engine_ = std::move(*engine);
  backend_name_ = std::string(engine_->name());
  now_ms_ = MonotonicNowMs();
  timers_ = std::make_unique<TimerWheel>(options_.timer_capacity, now_ms_);
  auto handler = factory(*this);
  if (!handler.ok() || *handler == nullptr) {
    absl::Status status = handler.ok() ? absl::InternalError("handler factory returned null")
                                       : handler.status();
    timers_.reset();
    engine_.reset();
    started->set_value(absl::Status(
        status.code(), absl::StrFormat("shard %d: handler: %s", options_.id, status.message())));
    return;
  }
  engine_waker_.Attach(engine_.get());
  MTP_LOG(1, "shard %d running on %s, cpu %d", options_.id, backend_name_, options_.cpu);
  started->set_value(absl::OkStatus());  // `started` is gone after this line

  Loop(**handler);

  handler->reset();  // the handler may still cancel/close through the engine
  engine_waker_.Detach();
  timers_.reset();
  engine_.reset();
  MTP_LOG(1, "shard %d stopped", options_.id);
}

void Shard::Loop(ShardHandler& handler) {
  std::vector<IoCompletion> batch(std::max<uint32_t>(options_.max_completions_per_poll, 1));
  bool stopping = false;
  uint64_t stop_deadline_ms = 0;
  while (true) {
    now_ms_ = MonotonicNowMs();

    ShardMessage message;
    uint32_t messages = 0;
    for (; messages < options_.max_messages_per_loop && inbox_.Receive(message); ++messages) {
      handler.OnMessage(message);
      message = ShardMessage{};
    }

    timers_->Advance(now_ms_, options_.max_timers_per_loop,
                     [&handler](uint64_t payload) { handler.OnTimer(payload); });

    if (stop_requested()) {
      if (!stopping) {
        stopping = true;
        stop_deadline_ms = now_ms_ + options_.stop_grace_ms;
      }
      if (handler.OnStop()) break;
      if (now_ms_ >= stop_deadline_ms) {
        MTP_WARN("shard %d: stop grace period over with work in flight", options_.id);
        break;
      }
    }

    int64_t timeout_ms = timers_->TimeoutMs(now_ms_);
    if (messages == options_.max_messages_per_loop || inbox_.SizeApprox() > 0) timeout_ms = 0;
    if (stopping) timeout_ms = timeout_ms < 0 ? 100 : std::min<int64_t>(timeout_ms, 100);
    int n = engine_->Poll(batch, timeout_ms < 0 ? -1 : timeout_ms * 1000);

    now_ms_ = MonotonicNowMs();
    for (int i = 0; i < n; ++i) handler.OnCompletion(batch[i]);
    completions_.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
    handler.OnLoopEnd();
    iterations_.fetch_add(1, std::memory_order_relaxed);
  }
}

}  // namespace mtp
