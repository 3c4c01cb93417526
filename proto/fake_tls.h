// Umbrella header of the fake-TLS codecs ("ee" secrets, -D domain, spec client-transports §6).
//
//   fake_tls_common.h        constants, secret/random types
//   fake_tls_replay_cache.h  ReplayCache contract + SimpleReplayCache
//   fake_tls_client_hello.h  proxy: framing, SNI, timestamp rule, ValidateClientHello
//   fake_tls_hello_reassembly.h  proxy: a ClientHello cut into several records, re-framed
//   fake_tls_key_share.h     proxy: key_share offers of a hello, the answered group, shares
//   fake_tls_server_hello.h  proxy: TlsDomainProfile, WriteServerHello, X25519 keys
//   fake_tls_records.h       both: TlsRecordReader (unwrap), TlsRecordSizer + WrapTlsRecords
//   fake_tls_client.h        client: ClientHello builders, VerifyServerHello
//   fake_tls_probe.h         prober: probe hello, ParseProbeResponse, AggregateProbeAnswers
//   fake_tls_alert.h         proxy: the fatal alert record for an unknown SNI
//
// Proxy flow on a TLS-only connection: ValidateClientHello over the buffered bytes until it
// stops answering kNeedMore; on a rejection proxy-pass to domains[domain_index]; on kAccept
// consume record_size bytes, WriteServerHelloFresh(MakeServerHelloParams(...)) and send it in
// one write, then feed all later input through a TlsRecordReader(kAfterServerHello) and wrap
// all output with WrapTlsRecords.
#pragma once

#include "proto/fake_tls_alert.h"
#include "proto/fake_tls_client.h"
#include "proto/fake_tls_client_hello.h"
#include "proto/fake_tls_common.h"
#include "proto/fake_tls_hello_reassembly.h"
#include "proto/fake_tls_key_share.h"
#include "proto/fake_tls_probe.h"
#include "proto/fake_tls_records.h"
#include "proto/fake_tls_replay_cache.h"
#include "proto/fake_tls_server_hello.h"
