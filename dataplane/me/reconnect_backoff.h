// Reconnect pacing of one ME target (middle-end-rpc.md §9, the reference's
// compute_next_reconnect): base interval 1.0 + 0.1*U s; while the target has no connected
// link the interval grows t <- 1.5*t + 0.2*U after every attempt until it reaches >= 20 s;
// it resets to the base as soon as a link is up. Pure: time and randomness come from the caller.
#pragma once

#include <cstdint>

namespace mtp {

class ReconnectBackoff {
 public:
  static constexpr double kMaxIntervalS = 20.0;

  // `u` in [0, 1): the random draw for the base interval.
  explicit ReconnectBackoff(double u = 0.0) : base_s_(1.0 + 0.1 * u), interval_s_(base_s_) {}

  // May a new connection attempt start at `now_s`? (Always while some link is connected.)
  bool MayConnect(double now_s, bool any_connected) const {
    return any_connected || now_s >= next_attempt_s_;
  }

  // An attempt was started at `now_s` while no link was connected: schedule the next one and
  // grow the interval. `u` in [0, 1).
  void OnAttempt(double now_s, double u) {
    next_attempt_s_ = now_s + interval_s_;
    if (interval_s_ < kMaxIntervalS) interval_s_ = 1.5 * interval_s_ + 0.2 * u;
  }

  // A link of the target became connected: the interval returns to the base. The next attempt
  // time stays, so links that connect and then fail their handshake are not retried in a loop.
  void OnConnected() { interval_s_ = base_s_; }

  double interval_s() const { return interval_s_; }
  double next_attempt_s() const { return next_attempt_s_; }

 private:
  double base_s_;
  double interval_s_;
  double next_attempt_s_ = 0;  // first attempt immediately
};

}  // namespace mtp
