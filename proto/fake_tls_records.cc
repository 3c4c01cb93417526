// Record unwrapping (client -> proxy) and wrapping with record sizing (proxy -> client).
#include "proto/fake_tls_records.h"

#include <algorithm>
#include <cassert>
#include <cstring>

#include "proto/obfuscated2.h"

namespace mtp {
namespace {

constexpr uint8_t kFirstPrefix[9] = {0x14, 0x03, 0x03, 0x00, 0x01, 0x01, 0x17, 0x03, 0x03};
constexpr uint8_t kAppDataPrefix[3] = {0x17, 0x03, 0x03};

}  // namespace

const char* TlsReadErrorName(TlsReadError error) {
  switch (error) {
    case TlsReadError::kNone: return "none";
    case TlsReadError::kBadFirstPrefix: return "bad_ccs_or_first_record";
    case TlsReadError::kFirstRecordTooShort: return "first_record_too_short";
    case TlsReadError::kBadRecordHeader: return "bad_record_header";
  }
  return "?";
}

TlsRecordReader::TlsRecordReader(Start start) : first_(start == Start::kAfterServerHello) {}

size_t TlsRecordReader::header_size() const {
  return first_ ? kClientFirstRecordPrefixSize : kTlsRecordHeaderSize;
}

TlsReadError TlsRecordReader::CheckHeader() const {
  if (first_) {
    if (std::memcmp(header_, kFirstPrefix, sizeof(kFirstPrefix)) != 0) {
      return TlsReadError::kBadFirstPrefix;
    }
    if (LoadBe16(header_ + 9) < kObfuscated2HeaderBytes) return TlsReadError::kFirstRecordTooShort;
    return TlsReadError::kNone;
  }
  if (std::memcmp(header_, kAppDataPrefix, sizeof(kAppDataPrefix)) != 0) {
    return TlsReadError::kBadRecordHeader;
  }
  return TlsReadError::kNone;
}

TlsRecordReader::Step TlsRecordReader::Next(ByteSpan input) {
  Step step;
  if (error_ != TlsReadError::kNone) {
    step.error = error_;
    return step;
  }
  if (record_left_ == 0) {
    const size_t want = header_size() - header_have_;
    const size_t take = std::min(want, input.size());
    if (take > 0) std::memcpy(header_ + header_have_, input.data(), take);
    header_have_ += take;
    step.consumed = take;
    if (header_have_ < header_size()) return step;  // partial header kept inside
    error_ = CheckHeader();
    if (error_ != TlsReadError::kNone) {
      step.error = error_;
      return step;
    }
    record_left_ = LoadBe16(header_ + header_size() - 2);
    header_have_ = 0;
    first_ = false;
  }
  const size_t n = std::min(record_left_, input.size() - step.consumed);
  step.payload_offset = step.consumed;
  step.payload_size = n;
  step.consumed += n;
  record_left_ -= n;
  payload_bytes_ += n;
  return step;
}

size_t TlsRecordReader::UnwrapInPlace(MutableByteSpan data, TlsReadError* error) {
  size_t in = 0;
  size_t out = 0;
  *error = TlsReadError::kNone;
  while (in < data.size()) {
    const Step step = Next(ByteSpan(data).subspan(in));
    if (step.error != TlsReadError::kNone) {
      *error = step.error;
      return out;
    }
    if (step.payload_size > 0 && in + step.payload_offset != out) {
      std::memmove(data.data() + out, data.data() + in + step.payload_offset, step.payload_size);
    }
    out += step.payload_size;
    in += step.consumed;
  }
  return out;
}

void WriteTlsRecordHeader(uint8_t* out, uint16_t payload_size) {
  std::memcpy(out, kAppDataPrefix, sizeof(kAppDataPrefix));
  StoreBe16(out + 3, payload_size);
}

void TlsRecordSizer::BeginFlush(int64_t now_ms) {
  if (!seen_flush_ || now_ms - last_flush_ms_ >= kAdaptiveIdleResetMs) records_in_burst_ = 0;
  seen_flush_ = true;
  last_flush_ms_ = now_ms;
}

size_t TlsRecordSizer::NextRecordSize(size_t pending) {
  assert(pending > 0);
  switch (sizing_) {
    case TlsRecordSizing::kReference:
      return std::min(pending, kReferenceRecordSize);
    case TlsRecordSizing::kAdaptive: {
      // 1400 << k for the k-th record of the burst, capped at the TLS 1.3 maximum.
      const uint32_t shift = std::min<uint32_t>(records_in_burst_, 4);
      const size_t allowance = std::min(kAdaptiveFirstRecordSize << shift, kAdaptiveMaxRecordSize);
      if (records_in_burst_ < 5) ++records_in_burst_;
      return std::min(pending, allowance);
    }
  }
  return std::min(pending, kReferenceRecordSize);
}

size_t WrapTlsRecords(TlsRecordSizer& sizer, ByteSpan payload, MutableByteSpan out, AesCtr* ctr) {
  assert(out.size() >= MaxWrappedSize(payload.size()));
  size_t in = 0;
  size_t o = 0;
  while (in < payload.size()) {
    const size_t n = sizer.NextRecordSize(payload.size() - in);
    WriteTlsRecordHeader(out.data() + o, static_cast<uint16_t>(n));
    o += kTlsRecordHeaderSize;
    if (ctr != nullptr) {
      ctr->Apply(payload.data() + in, out.data() + o, n);
    } else {
      std::memcpy(out.data() + o, payload.data() + in, n);
    }
    o += n;
    in += n;
  }
  return o;
}

}  // namespace mtp
