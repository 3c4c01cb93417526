// The client leg's two obfuscated2 CTR streams, and before them the 64-byte header they are
// derived from: the header is dead once the streams exist and the streams cannot exist before
// the header is complete, so both share the same bytes of the session slot (an idle session's
// slot is most of its memory; see "Idle memory per connection" in docs/performance.md).
//
// Thread ownership: the owning shard thread only. Plain data embedded in a ClientSession.
#pragma once

#include <array>
#include <cassert>
#include <cstdint>
#include <new>
#include <utility>

#include "crypto/lean_ctr.h"

namespace mtp {

class ClientStreams {
 public:
  static constexpr size_t kHeaderBytes = 64;

  ClientStreams() : header_{} {}
  ClientStreams(ClientStreams&& other) noexcept : header_{} { *this = std::move(other); }
  ClientStreams& operator=(ClientStreams&& other) noexcept {
    if (this == &other) return *this;
    Reset();
    if (other.started_) {
      Start(std::move(other.streams_.decrypt), std::move(other.streams_.encrypt));
      other.Reset();
    } else {
      header_ = other.header_;
    }
    header_bytes = other.header_bytes;
    return *this;
  }
  ClientStreams(const ClientStreams&) = delete;
  ClientStreams& operator=(const ClientStreams&) = delete;
  ~ClientStreams() { Reset(); }

  // True once Start() ran: the streams exist and the header is gone.
  bool started() const { return started_; }

  // The header collected so far (its first header_bytes bytes); only before Start().
  std::array<uint8_t, kHeaderBytes>& header() {
    assert(!started_);
    return header_;
  }

  // Replaces the header by the streams built from it (the caller has copied the header out).
  void Start(LeanAesCtr&& decrypt, LeanAesCtr&& encrypt) {
    if (started_) {
      streams_.decrypt = std::move(decrypt);
      streams_.encrypt = std::move(encrypt);
      return;
    }
    new (&streams_) Streams{std::move(decrypt), std::move(encrypt)};
    started_ = true;
  }

  // Client -> proxy, and proxy -> client; only after Start(). Applied through the shard's
  // CtrKeyCache (ShardContext::ctr_keys), which holds their round keys while they are in use.
  LeanAesCtr& decrypt() {
    assert(started_);
    return streams_.decrypt;
  }
  LeanAesCtr& encrypt() {
    assert(started_);
    return streams_.encrypt;
  }

 private:
  struct Streams {
    LeanAesCtr decrypt;
    LeanAesCtr encrypt;
  };

  void Reset() {
    if (started_) streams_.~Streams();
    started_ = false;
    header_ = {};
  }

  union {
    std::array<uint8_t, kHeaderBytes> header_;
    Streams streams_;
  };

 public:
  uint8_t header_bytes = 0;  // header bytes collected (kHeaderBytes once complete)

 private:
  bool started_ = false;
};

}  // namespace mtp
