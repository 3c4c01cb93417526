// The shard's admission check for secrets with limits (see secret_admission.h): admit a client
// once its secret is known, count its bytes, give its connection back at close, and adopt the
// control thread's admission snapshots (closing the clients of a secret whose gate closed).
//
// Thread ownership: the shard thread.
#pragma once

#include <cstdint>

#include "dataplane/session/secret_admission.h"
#include "dataplane/shard/shard_context.h"

namespace mtp {

class ClientSessions;

// Once the client's secret is known (`secret_index` in the live config): admits it (the
// session then holds its slot: one connection, and its bytes count) or returns why not, with
// the refusal counted and logged (rate-limited). kNone for secrets without a slot.
SecretRefusal AdmitSecretClient(ShardContext& ctx, uint32_t slot, ClientSession& s,
                                int secret_index);
// When the session is freed: gives its connection back.
void ReleaseSecretClient(ShardContext& ctx, ClientSession& s);
// Client bytes of an admitted session (either direction).
inline void CountSecretBytes(ShardContext& ctx, const ClientSession& s, uint64_t n) {
  if (s.limit_slot >= 0 && ctx.secret.mine != nullptr) ctx.secret.mine->bytes[s.limit_slot].Add(n);
}
// At a quiet point of the loop: adopts a newer admission snapshot and closes the live sessions
// whose secret's gate is now closed (each counted under its reason). True when one was adopted.
bool AdoptSecretAdmission(ShardContext& ctx, ClientSessions& clients);

}  // namespace mtp
