// Shard: one pinned thread running a bounded reactor loop over its own IoEngine, TimerWheel
// and control mailboxes, dispatching to a ShardHandler (the dataplane's per-shard worker).
//
// Loop (every step bounded by ShardOptions):
//   drain inbox -> OnMessage;  fire due timers -> OnTimer;  stop check -> OnStop;
//   Poll (sleep until the next timer, a completion or a Wake) -> OnCompletion each;
//   OnLoopEnd.
//
// Thread ownership: Start/Post/TakeFromShard/Join belong to the control thread (the single
// producer of the inbox and single consumer of the outbox); RequestStop may be called from
// any thread; engine()/timers()/now_ms()/PostToControl() only from the shard thread, i.e.
// inside handler callbacks. The engine and handler are created and destroyed on the shard
// thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/io_engine.h"
#include "core/mailbox.h"
#include "core/timer_wheel.h"

namespace mtp {

// A control <-> shard message. `kind` and `value` are defined by the dataplane/control
// protocol; `payload` carries cold-path data (a config snapshot, a rate budget) and is
// released on the receiving thread.
struct ShardMessage {
  uint32_t kind = 0;
  uint64_t value = 0;
  std::shared_ptr<void> payload;
};

struct ShardOptions {
  int id = 0;
  int cpu = -1;  // pin the shard thread to this CPU; -1 = no pinning
  IoBackend backend = IoBackend::kAuto;
  IoEngineOptions engine;
  uint32_t inbox_capacity = 1024;
  uint32_t outbox_capacity = 1024;
  uint32_t timer_capacity = 65536;
  uint32_t max_completions_per_poll = 256;
  uint32_t max_messages_per_loop = 64;
  uint32_t max_timers_per_loop = 4096;
  uint32_t stop_grace_ms = 5000;  // OnStop() may keep the loop alive this long at most
  Waker* control_waker = nullptr;  // woken by PostToControl (optional, must outlive the shard)
};

class Shard;

// Implemented by the dataplane; every method runs on the shard thread.
class ShardHandler {
 public:
  virtual ~ShardHandler() = default;
  // One engine completion (IoCompletion::user_data is whatever the handler submitted).
  virtual void OnCompletion(const IoCompletion& completion) = 0;
  // A timer scheduled with Shard::timers() / ScheduleTimer fired.
  virtual void OnTimer(uint64_t payload) = 0;
  // A message from the control thread.
  virtual void OnMessage(ShardMessage& message) = 0;
  // End of each loop iteration: re-arm receives paused on -ENOBUFS, flush batched work.
  virtual void OnLoopEnd() {}
  // Stop was requested: begin shutting down (cancel ops, close listeners). Return true once
  // nothing is in flight; the loop keeps running (and asks again every iteration) until then
  // or until stop_grace_ms passes.
  virtual bool OnStop() { return true; }
};

using ShardHandlerFactory =
    std::function<absl::StatusOr<std::unique_ptr<ShardHandler>>(Shard& shard)>;

// Monotonic clock in milliseconds (the time base of every shard's timer wheel).
uint64_t MonotonicNowMs();

class Shard {
 public:
  explicit Shard(const ShardOptions& options);
  ~Shard();  // RequestStop() + Join()

  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  // Control thread. Starts the thread, creates engine, timer wheel and handler (via
  // `factory`) on it, and returns once the loop runs or with the error that prevented it.
  absl::Status Start(ShardHandlerFactory factory);
  // Control thread (single producer). False if the inbox is full.
  bool Post(ShardMessage message);
  // Control thread (single consumer) reads what the shard sent with PostToControl.
  bool TakeFromShard(ShardMessage& out);
  // Any thread: asks the loop to finish (graceful via ShardHandler::OnStop).
  void RequestStop();
  // Control thread: waits for the thread to exit.
  void Join();

  int id() const { return options_.id; }
  int cpu() const { return options_.cpu; }
  // Backend actually in use ("io_uring"/"epoll"); valid after a successful Start().
  const std::string& backend_name() const { return backend_name_; }

  // Shard thread only.
  IoEngine& engine() { return *engine_; }
  TimerWheel& timers() { return *timers_; }
  uint64_t now_ms() const { return now_ms_; }  // refreshed every loop iteration
  TimerHandle ScheduleTimer(uint64_t delay_ms, uint64_t payload) {
    return timers_->ScheduleAt(now_ms_ + delay_ms, payload);
  }
  bool CancelTimer(TimerHandle handle) { return timers_->Cancel(handle); }
  bool PostToControl(ShardMessage message);
  bool stop_requested() const { return stop_requested_.load(std::memory_order_acquire); }

  // Loop counters (written by the shard thread, readable from any thread).
  uint64_t loop_iterations() const { return iterations_.load(std::memory_order_relaxed); }
  uint64_t completions_dispatched() const {
    return completions_.load(std::memory_order_relaxed);
  }

 private:
  // Forwards Wake() to the engine while it exists; Detach() waits out concurrent callers so
  // the engine can be destroyed while the control thread may still Post().
  class EngineWaker final : public Waker {
   public:
    void Attach(IoEngine* engine) { engine_.store(engine, std::memory_order_seq_cst); }
    void Detach();
    void Wake() override;

   private:
    std::atomic<IoEngine*> engine_{nullptr};
    std::atomic<int> active_{0};
  };

  void Run(ShardHandlerFactory factory, std::promise<absl::Status>* started);
  void Loop(ShardHandler& handler);

  const ShardOptions options_;
  Mailbox<ShardMessage> inbox_;
  Mailbox<ShardMessage> outbox_;
  EngineWaker engine_waker_;
  std::atomic<bool> stop_requested_{false};
  std::thread thread_;
  std::string backend_name_;

  std::unique_ptr<IoEngine> engine_;
  std::unique_ptr<TimerWheel> timers_;
  uint64_t now_ms_ = 0;
  alignas(kCacheLineBytes) std::atomic<uint64_t> iterations_{0};
  std::atomic<uint64_t> completions_{0};
};

}  // namespace mtp
