// Log line formats: the reference-style text prefix and JSON lines with escaping.
#include "core/log.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>

namespace mtp {
namespace {

constexpr int64_t kUs = int64_t{1700000000} * 1000000 + 42;  // 2023-11-14 22:13:20.000042 UTC

TEST(LogFormatTest, JsonLineIsOneEscapedObjectInUtc) {
  EXPECT_EQ(FormatLogLine(LogFormat::kJson, LogSeverity::kWarning, 77, kUs, "plain"),
            "{\"time\":\"2023-11-14T22:13:20.000042Z\",\"pid\":77,\"level\":\"warning\","
            "\"msg\":\"plain\"}");
  EXPECT_EQ(FormatLogLine(LogFormat::kJson, LogSeverity::kError, 1, kUs,
                          std::string("q\"b\\n\nt\tc\x01 \xd0\xb6", 13)),
            "{\"time\":\"2023-11-14T22:13:20.000042Z\",\"pid\":1,\"level\":\"error\","
            "\"msg\":\"q\\\"b\\\\n\\nt\\tc\\u0001 \xd0\xb6\"}");
  EXPECT_NE(FormatLogLine(LogFormat::kJson, LogSeverity::kInfo, 1, kUs, "").find("\"info\""),
            std::string::npos);
}

TEST(LogFormatTest, TextLineKeepsTheReferencePrefix) {
  setenv("TZ", "UTC", 1);
  tzset();
  EXPECT_EQ(FormatLogLine(LogFormat::kText, LogSeverity::kInfo, 77, kUs, "hello"),
            "[77][2023-11-14 22:13:20.000042 local] I hello");
}

TEST(LogFormatTest, FormatIsProcessWide) {
  EXPECT_EQ(GetLogFormat(), LogFormat::kText);
  SetLogFormat(LogFormat::kJson);
  EXPECT_EQ(GetLogFormat(), LogFormat::kJson);
  SetLogFormat(LogFormat::kText);
}

}  // namespace
}  // namespace mtp
