#include "dataplane/session_slab.h"

#include <gtest/gtest.h>

#include "dataplane/me/ext_conn_id.h"
#include "dataplane/op_tag.h"
#include "dataplane/session/session_state.h"

namespace mtp {
namespace {

struct Obj {
  int value = 7;
};

TEST(OpTagTest, RoundTripsEveryField) {
  uint64_t ud = PackOpTag(OpKind::kMeSend, 0xabcdef, 0xfffffffe);
  OpTag t = UnpackOpTag(ud);
  EXPECT_EQ(t.op, OpKind::kMeSend);
  EXPECT_EQ(t.generation, 0xabcdefu);
  EXPECT_EQ(t.slot, 0xfffffffeu);
  EXPECT_NE(PackOpTag(OpKind::kAccept, 0, 0), 0u);
  // Generation is truncated to 24 bits.
  EXPECT_EQ(UnpackOpTag(PackOpTag(OpKind::kClientRecv, 0x1000001, 3)).generation, 1u);
}

TEST(SessionSlabTest, AllocatesUpToCapacityThenFails) {
  SessionSlab<Obj> slab(3);
  EXPECT_EQ(slab.Allocate(), 0u);
  EXPECT_EQ(slab.Allocate(), 1u);
  EXPECT_EQ(slab.Allocate(), 2u);
  EXPECT_EQ(slab.Allocate(), SessionSlab<Obj>::kInvalidSlot);
  EXPECT_EQ(slab.live(), 3u);
  EXPECT_EQ(slab.at(1).value, 7);
}

TEST(SessionSlabTest, FreeBumpsGenerationAndStaleLookupsFail) {
  SessionSlab<Obj> slab(2);
  uint32_t s = slab.Allocate();
  uint32_t gen = slab.generation(s);
  EXPECT_NE(slab.Lookup(s, gen), nullptr);
  slab.Free(s);
  EXPECT_EQ(slab.Lookup(s, gen), nullptr);
  EXPECT_FALSE(slab.is_live(s));
  uint32_t again = slab.Allocate();
  EXPECT_EQ(again, s);  // LIFO reuse keeps the working set small
  EXPECT_EQ(slab.generation(again), gen + 1);
  EXPECT_EQ(slab.Lookup(s, gen), nullptr);
  EXPECT_NE(slab.Lookup(s, gen + 1), nullptr);
  EXPECT_EQ(slab.Lookup(1, 0), nullptr);  // never constructed
}

TEST(SessionSlabTest, ConstructsLazilyAndVisitsLiveOnly) {
  SessionSlab<Obj> slab(1000);
  uint32_t a = slab.Allocate();
  uint32_t b = slab.Allocate();
  EXPECT_EQ(slab.constructed(), 2u);
  slab.Free(a);
  int visited = 0;
  slab.ForEachLive([&](uint32_t slot, Obj&) {
    EXPECT_EQ(slot, b);
    ++visited;
  });
  EXPECT_EQ(visited, 1);
}

TEST(SessionStateTest, LegalEdgesOnly) {
  using S = SessionState;
  EXPECT_TRUE(IsLegalSessionTransition(S::kFree, S::kHandshake));
  EXPECT_TRUE(IsLegalSessionTransition(S::kHandshake, S::kSkip));
  EXPECT_TRUE(IsLegalSessionTransition(S::kHandshake, S::kRelaying));
  EXPECT_TRUE(IsLegalSessionTransition(S::kHandshake, S::kConnecting));
  EXPECT_TRUE(IsLegalSessionTransition(S::kConnecting, S::kRelaying));
  EXPECT_TRUE(IsLegalSessionTransition(S::kRelaying, S::kDraining));
  EXPECT_TRUE(IsLegalSessionTransition(S::kDraining, S::kClosing));
  EXPECT_TRUE(IsLegalSessionTransition(S::kClosing, S::kFree));
  EXPECT_FALSE(IsLegalSessionTransition(S::kFree, S::kRelaying));
  EXPECT_FALSE(IsLegalSessionTransition(S::kSkip, S::kRelaying));
  EXPECT_FALSE(IsLegalSessionTransition(S::kRelaying, S::kHandshake));
  EXPECT_FALSE(IsLegalSessionTransition(S::kClosing, S::kRelaying));
  EXPECT_FALSE(IsLegalSessionTransition(S::kDraining, S::kRelaying));
  EXPECT_FALSE(IsLegalSessionTransition(S::kRelaying, S::kFree));
  EXPECT_EQ(SessionStateName(S::kSkip), "skip");
}

TEST(ExtConnIdTest, RoundTripsAndIsNeverZeroOrNegative) {
  uint64_t id = MakeExtConnId(0, 0, 0);
  EXPECT_NE(id, 0u);
  ExtConnIdParts p;
  ASSERT_TRUE(ParseExtConnId(id, &p));
  EXPECT_EQ(p.shard, 0u);
  id = MakeExtConnId(126, 0xffffff, 0xffffffff);
  EXPECT_EQ(id >> 63, 0u);
  ASSERT_TRUE(ParseExtConnId(id, &p));
  EXPECT_EQ(p.shard, 126u);
  EXPECT_EQ(p.generation, 0xffffffu);
  EXPECT_EQ(p.slot, 0xffffffffu);
  EXPECT_FALSE(ParseExtConnId(0x00ffffff00000001ull, &p));  // shard field 0: not ours
  EXPECT_FALSE(ParseExtConnId(0x8100000000000001ull, &p));  // negative
  // A recycled slot yields a different id.
  EXPECT_NE(MakeExtConnId(1, 5, 9), MakeExtConnId(1, 6, 9));
}

}  // namespace
}  // namespace mtp
