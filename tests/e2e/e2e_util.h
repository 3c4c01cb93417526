// Small helpers every end-to-end suite uses: a file's contents, counting a substring, waiting
// for a condition with a bound. Test thread only.
#pragma once

#include <functional>
#include <string>

namespace mtp::e2e {

// The whole file; empty if it cannot be read.
std::string ReadFile(const std::string& path);
// Occurrences of `needle` in `text`, overlapping ones included.
int CountOf(const std::string& text, const std::string& needle);
// Polls `f` every 20 ms until it holds or `timeout_ms` passed (then checks once more).
bool WaitFor(const std::function<bool()>& f, int timeout_ms);

}  // namespace mtp::e2e
