// Fuzz target: the --mtproto-secret-file parser (crypto/secret.h) over arbitrary text, and the
// link-secret forms every line goes through. Checks that the file result is exactly the line
// by line parse, that a parsed link secret re-encodes to the bytes it came from (hex input:
// the same text in lower case), and that the formatted form parses back to the same secret.
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/ascii.h"
#include "crypto/secret.h"

namespace {

#define FUZZ_CHECK(cond)       \
  do {                         \
    if (!(cond)) std::abort(); \
  } while (0)

bool IsHexDigit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool IsHexText(std::string_view s) {
  if (s.empty() || s.size() % 2 != 0) return false;
  for (char c : s) {
    if (!IsHexDigit(c)) return false;
  }
  return true;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = absl::ascii_tolower(static_cast<unsigned char>(c));
  return out;
}

bool SameLinkSecret(const mtp::LinkSecret& a, const mtp::LinkSecret& b) {
  return a.mode == b.mode && a.secret == b.secret && a.domain == b.domain;
}

// One secret as the parser sees it: checks its round trips; returns it when it parses.
std::optional<mtp::LinkSecret> CheckLinkSecret(std::string_view text) {
  absl::StatusOr<mtp::LinkSecret> parsed = mtp::ParseLinkSecret(text);
  if (!parsed.ok()) {
    FUZZ_CHECK(parsed.status().code() == absl::StatusCode::kInvalidArgument);
    return std::nullopt;
  }
  const mtp::LinkSecret& s = *parsed;
  FUZZ_CHECK((s.mode == mtp::SecretMode::kFakeTls) == !s.domain.empty());
  FUZZ_CHECK(s.domain.size() <= mtp::kMaxFakeTlsDomainBytes);
  for (char c : s.domain) FUZZ_CHECK(c > 0x20 && c < 0x7f);
  const std::string formatted = mtp::FormatLinkSecret(s);
  if (IsHexText(text)) FUZZ_CHECK(formatted == Lower(text));  // same bytes, canonical case
  absl::StatusOr<mtp::LinkSecret> again = mtp::ParseLinkSecret(formatted);
  FUZZ_CHECK(again.ok() && SameLinkSecret(*again, s));
  // The -S form: exactly the 32 hex digits of the key, and only for a plain hex secret.
  absl::StatusOr<mtp::ClientSecret> hex = mtp::ParseClientSecretHex(text);
  FUZZ_CHECK(hex.ok() == (text.size() == 32 && IsHexText(text)));
  if (hex.ok()) FUZZ_CHECK(s.mode == mtp::SecretMode::kPlain && *hex == s.secret);
  return s;
}

std::string_view Trim(std::string_view s) {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view content(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<std::vector<mtp::ClientSecret>> file = mtp::ParseClientSecretFile(content);

  // The same content split by hand: one secret per line, '#' comments, blank lines skipped.
  std::vector<mtp::ClientSecret> expected;
  bool expect_error = false;
  std::string_view rest = content;
  while (!rest.empty() && !expect_error) {
    size_t eol = rest.find('\n');
    std::string_view line = rest.substr(0, eol);
    rest = eol == std::string_view::npos ? std::string_view() : rest.substr(eol + 1);
    line = Trim(line.substr(0, line.find('#')));
    if (line.empty()) continue;
    std::optional<mtp::LinkSecret> secret = CheckLinkSecret(line);
    if (!secret || expected.size() == mtp::kMaxClientSecrets) {
      expect_error = true;
    } else {
      expected.push_back(secret->secret);
    }
  }
  FUZZ_CHECK(file.ok() == !expect_error);
  if (!file.ok()) {
    FUZZ_CHECK(file.status().code() == absl::StatusCode::kInvalidArgument);
    std::string_view message(file.status().message().data(), file.status().message().size());
    FUZZ_CHECK(message.substr(0, 17) == "secret file line ");
    return 0;
  }
  FUZZ_CHECK(*file == expected);
  FUZZ_CHECK(file->size() <= mtp::kMaxClientSecrets);

  // The whole input as one secret too (the -S value and link forms without a file around them).
  CheckLinkSecret(content);
  return 0;
}
