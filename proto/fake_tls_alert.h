// TLS alert records (RFC 8446 §6) a fake-TLS listener can answer with instead of fronting a
// connection (--tls-unknown-sni alert): what a real server that has no certificate for the
// SNI sends, one fatal alert record, then the close. Constant data; any thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "proto/fake_tls_common.h"

namespace mtp {

inline constexpr uint8_t kTlsAlert = 0x15;  // ContentType alert
inline constexpr uint8_t kTlsAlertLevelFatal = 2;
inline constexpr uint8_t kTlsAlertUnrecognizedName = 112;  // RFC 6066 §3

inline constexpr size_t kTlsAlertRecordSize = kTlsRecordHeaderSize + 2;
using TlsAlertRecord = std::array<uint8_t, kTlsAlertRecordSize>;

// One plaintext alert record: 15, record version, length 2, level fatal, `description`.
// The version defaults to 03 03: RFC 8446 §5.1 fixes legacy_record_version to 0x0303 for every
// record but an initial ClientHello, and the alert is the server's first record.
constexpr TlsAlertRecord FatalTlsAlertRecord(uint8_t description,
                                             uint16_t record_version = 0x0303) {
  return TlsAlertRecord{kTlsAlert,
                        static_cast<uint8_t>(record_version >> 8),
                        static_cast<uint8_t>(record_version),
                        0x00,
                        0x02,
                        kTlsAlertLevelFatal,
                        description};
}

// The answer to an SNI naming no -D domain: fatal unrecognized_name (15 03 03 00 02 02 70).
inline constexpr TlsAlertRecord kUnrecognizedNameAlert =
    FatalTlsAlertRecord(kTlsAlertUnrecognizedName);

}  // namespace mtp
