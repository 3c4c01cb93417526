// The time sources a shard reads: a monotonic clock for deadlines and timers and the wall clock
// for protocol timestamps (RPC handshakes, fake-TLS hello windows). Injected so the simulator
// can drive time, clock jumps included; production uses SystemClock().
//
// Thread ownership: implementations must be safe to read from the thread that owns the user.
#pragma once

#include <cstdint>

namespace mtp {

class Clock {
 public:
  virtual ~Clock() = default;
  // CLOCK_MONOTONIC in seconds.
  virtual double MonotonicSeconds() const = 0;
  // Wall-clock Unix time in seconds.
  virtual int64_t UnixSeconds() const = 0;
};

// The process's real clocks (a stateless singleton, safe from any thread).
const Clock& SystemClock();

}  // namespace mtp
