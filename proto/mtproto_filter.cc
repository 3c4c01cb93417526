// Client payload classification (PING/drop/forward) with the reference's rules and order.
#include "proto/mtproto_filter.h"

#include <cassert>
#include <cstring>

namespace mtp {
namespace {

constexpr size_t kMinPayloadBytes = 28;
// auth_key_id + msg_key + salt + session_id + msg_id + seq_no + length.
constexpr size_t kMinEncryptedPayloadBytes = 56;
constexpr size_t kUnencryptedLengthOffset = 16;
constexpr size_t kUnencryptedConstructorOffset = 20;
constexpr uint32_t kMinUnencryptedInnerBytes = 20;

FilterResult Drop(FilterDropReason reason) {
  FilterResult result;
  result.verdict = FilterVerdict::kDrop;
  result.drop_reason = reason;
  return result;
}

}  // namespace

FilterResult ClassifyClientPayload(ByteSpan payload) {
  if (payload.size() >= 4 && LoadLe32(payload.data()) == kRpcPingConstructor) {
    if (payload.size() != kPingPayloadBytes) return Drop(FilterDropReason::kPingWrongSize);
    FilterResult result;
    result.verdict = FilterVerdict::kAnswerPong;
    return result;
  }
  if (payload.size() < kMinPayloadBytes) return Drop(FilterDropReason::kTooShort);
  if (payload.size() % 4 != 0) return Drop(FilterDropReason::kNotMultipleOf4);

  FilterResult result;
  result.verdict = FilterVerdict::kForward;
  if (LoadLe64(payload.data()) != 0) {
    if (payload.size() < kMinEncryptedPayloadBytes) {
      return Drop(FilterDropReason::kEncryptedTooShort);
    }
    return result;
  }
  // Signed compare as in the reference: a negative inner length fails the lower bound.
  const auto inner_bytes =
      static_cast<int32_t>(LoadLe32(payload.data() + kUnencryptedLengthOffset));
  if (inner_bytes < static_cast<int32_t>(kMinUnencryptedInnerBytes) ||
      static_cast<int64_t>(inner_bytes) > static_cast<int64_t>(payload.size()) - 20) {
    return Drop(FilterDropReason::kBadUnencryptedLength);
  }
  switch (LoadLe32(payload.data() + kUnencryptedConstructorOffset)) {
    case kReqPqConstructor:
    case kReqPqMultiConstructor:
    case kReqDhParamsConstructor:
    case kSetClientDhParamsConstructor:
      break;
    default:
      return Drop(FilterDropReason::kBadUnencryptedConstructor);
  }
  result.proxy_req_flags = kProxyReqFlagUnencrypted;
  return result;
}

void BuildPong(ByteSpan ping_payload, std::span<uint8_t, kPongPayloadBytes> out) {
  assert(ping_payload.size() == kPingPayloadBytes);
  StoreLe32(out.data(), kRpcPongConstructor);
  std::memcpy(out.data() + 4, ping_payload.data() + 4, 8);
}

}  // namespace mtp
