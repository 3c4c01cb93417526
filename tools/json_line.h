// Builds one-line JSON objects for the tools' machine-readable output (loadgen results, event
// logs, client summaries). Keys are emitted in insertion order; strings are escaped.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace mtp::tools {

class JsonLine {
 public:
  JsonLine& Add(std::string_view key, std::string_view value);
  JsonLine& Add(std::string_view key, const char* value) {
    return Add(key, std::string_view(value));
  }
  JsonLine& Add(std::string_view key, int64_t value);
  JsonLine& Add(std::string_view key, uint64_t value);
  JsonLine& Add(std::string_view key, int value) { return Add(key, int64_t{value}); }
  JsonLine& Add(std::string_view key, unsigned value) { return Add(key, uint64_t{value}); }
  JsonLine& Add(std::string_view key, double value);  // non-finite -> null
  JsonLine& Add(std::string_view key, bool value);
  // Fixed-point with `decimals` digits (timestamps, where %g would drop the fraction).
  JsonLine& AddFixed(std::string_view key, double value, int decimals);
  // `json` must already be valid JSON (a nested object or array).
  JsonLine& AddRaw(std::string_view key, std::string_view json);
  JsonLine& AddNull(std::string_view key);

  // "{...}" without a newline.
  std::string str() const { return body_ + "}"; }

  static std::string Escape(std::string_view s);

 private:
  void Key(std::string_view key);
  std::string body_ = "{";
  bool first_ = true;
};

}  // namespace mtp::tools
