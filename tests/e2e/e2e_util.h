// Small helpers every end-to-end suite uses: a file's contents, counting a substring, waiting
// for a condition with a bound, a free loopback port. Test thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace mtp::e2e {

// The whole file; empty if it cannot be read.
std::string ReadFile(const std::string& path);
// Occurrences of `needle` in `text`, overlapping ones included.
int CountOf(const std::string& text, const std::string& needle);
// Polls `f` every 20 ms until it holds or `timeout_ms` passed (then checks once more).
bool WaitFor(const std::function<bool()>& f, int timeout_ms);
// A 127.0.0.1 port nothing listens on right now (bound, then released; 0 if none could be
// had): for a peer started later, or one that must stay unreachable. Another process may take
// it meanwhile, which on a test machine's loopback is rare and shows as a failed bind.
uint16_t UnusedLoopbackPort();

}  // namespace mtp::e2e
