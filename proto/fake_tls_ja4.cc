// JA4 fingerprint of a ClientHello record (see the header).
#include "proto/fake_tls_ja4.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "absl/strings/str_format.h"
#include "core/hex.h"
#include "crypto/hash.h"
#include "proto/fake_tls_common.h"

namespace mtp {
namespace {

bool IsGrease(uint16_t v) { return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff); }

// Bounds-checked reader over the handshake message.
class Reader {
 public:
  explicit Reader(ByteSpan data) : data_(data) {}
  bool Skip(size_t n) {
    if (n > data_.size() - pos_) return ok_ = false;
    pos_ += n;
    return true;
  }
  uint32_t Int(size_t width) {
    if (width > data_.size() - pos_) {
      ok_ = false;
      return 0;
    }
    uint32_t v = 0;
    for (size_t i = 0; i < width; ++i) v = (v << 8) | data_[pos_ + i];
    pos_ += width;
    return v;
  }
  // The next `n` bytes as a sub-span (empty and !ok() when short).
  ByteSpan Bytes(size_t n) {
    if (n > data_.size() - pos_) {
      ok_ = false;
      return {};
    }
    ByteSpan s = data_.subspan(pos_, n);
    pos_ += n;
    return s;
  }
  bool ok() const { return ok_; }
  bool done() const { return pos_ == data_.size(); }

 private:
  ByteSpan data_;
  size_t pos_ = 0;
  bool ok_ = true;
};

std::string VersionCode(uint16_t v) {
  switch (v) {
    case 0x0304:
      return "13";
    case 0x0303:
      return "12";
    case 0x0302:
      return "11";
    case 0x0301:
      return "10";
    case 0x0300:
      return "s3";
    case 0x0002:
      return "s2";
    case 0xfeff:
      return "d1";
    case 0xfefd:
      return "d2";
    case 0xfefc:
      return "d3";
  }
  return "00";
}

bool IsAlnum(uint8_t c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// First 12 hex digits of SHA-256 over the comma-joined 4-digit hex values, optionally followed
// by "_" and a second list; "000000000000" for an empty first list.
std::string ListHash(const std::vector<uint16_t>& values, const std::vector<uint16_t>* tail) {
  if (values.empty()) return "000000000000";
  std::string text;
  auto join = [&](const std::vector<uint16_t>& list) {
    for (size_t i = 0; i < list.size(); ++i) {
      absl::StrAppendFormat(&text, "%s%04x", i == 0 ? "" : ",", list[i]);
    }
  };
  join(values);
  if (tail != nullptr && !tail->empty()) {
    text += "_";
    join(*tail);
  }
  const Sha256Digest digest =
      Sha256(ByteSpan(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
  return HexEncode(ByteSpan(digest).first(6));
}

}  // namespace

std::optional<std::string> Ja4Fingerprint(ByteSpan record) {
  if (record.size() < kTlsRecordHeaderSize || record[0] != kTlsHandshake) return std::nullopt;
  Reader hs(record.subspan(kTlsRecordHeaderSize));
  if (hs.Int(1) != 0x01) return std::nullopt;
  Reader m(hs.Bytes(hs.Int(3)));
  if (!hs.ok()) return std::nullopt;
  const uint16_t legacy_version = static_cast<uint16_t>(m.Int(2));
  m.Skip(32);        // random
  m.Skip(m.Int(1));  // session id
  Reader suites(m.Bytes(m.Int(2)));
  m.Skip(m.Int(1));  // compression methods
  if (!m.ok()) return std::nullopt;
  std::vector<uint16_t> ciphers;
  while (suites.ok() && !suites.done()) {
    const uint16_t c = static_cast<uint16_t>(suites.Int(2));
    if (suites.ok() && !IsGrease(c)) ciphers.push_back(c);
  }
  if (!suites.ok()) return std::nullopt;

  std::vector<uint16_t> extensions;  // non-GREASE, in order
  std::vector<uint16_t> sig_algs;
  std::optional<uint16_t> highest_version;
  bool sni = false;
  std::string alpn = "00";
  if (!m.done()) {
    Reader exts(m.Bytes(m.Int(2)));
    if (!m.ok()) return std::nullopt;
    while (!exts.done()) {
      const uint16_t type = static_cast<uint16_t>(exts.Int(2));
      Reader data(exts.Bytes(exts.Int(2)));
      if (!exts.ok()) return std::nullopt;
      if (IsGrease(type)) continue;
      extensions.push_back(type);
      if (type == 0x0000) {
        sni = true;
      } else if (type == 0x0010 && alpn == "00") {
        data.Skip(2);  // protocol list length
        const ByteSpan first = data.Bytes(data.Int(1));
        if (data.ok() && !first.empty()) {
          const uint8_t a = first.front();
          const uint8_t b = first.back();
          if (IsAlnum(a) && IsAlnum(b)) {
            alpn = {static_cast<char>(a), static_cast<char>(b)};
          } else {
            const std::string hex = HexEncode(first);
            alpn = {hex.front(), hex.back()};
          }
        }
      } else if (type == 0x000d) {
        Reader list(data.Bytes(data.Int(2)));
        while (list.ok() && !list.done()) {
          const uint16_t s = static_cast<uint16_t>(list.Int(2));
          if (list.ok() && !IsGrease(s)) sig_algs.push_back(s);
        }
      } else if (type == 0x002b) {
        Reader list(data.Bytes(data.Int(1)));
        while (list.ok() && !list.done()) {
          const uint16_t v = static_cast<uint16_t>(list.Int(2));
          if (list.ok() && !IsGrease(v)) {
            highest_version = std::max(highest_version.value_or(0), v);
          }
        }
      }
    }
  }

  std::vector<uint16_t> sorted_ciphers = ciphers;
  std::sort(sorted_ciphers.begin(), sorted_ciphers.end());
  std::vector<uint16_t> sorted_extensions;
  for (uint16_t e : extensions) {
    if (e != 0x0000 && e != 0x0010) sorted_extensions.push_back(e);
  }
  std::sort(sorted_extensions.begin(), sorted_extensions.end());
  return absl::StrFormat("t%s%c%02d%02d%s_%s_%s",
                         VersionCode(highest_version.value_or(legacy_version)), sni ? 'd' : 'i',
                         std::min<size_t>(ciphers.size(), 99),
                         std::min<size_t>(extensions.size(), 99), alpn,
                         ListHash(sorted_ciphers, nullptr), ListHash(sorted_extensions, &sig_algs));
}

}  // namespace mtp
