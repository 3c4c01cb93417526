// QR codes for the terminal: a proxy link encoded with libqrencode and drawn with Unicode
// half blocks (two module rows per text line), for `mtproto-proxy --link`.
//
// Pure functions; any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace mtp {

// The QR code of `text` (byte mode, error correction level L, the smallest version that fits)
// as a square matrix of modules, true = dark, without the quiet zone.
absl::StatusOr<std::vector<std::vector<bool>>> EncodeQr(std::string_view text);

// `modules` with a 2-module quiet zone, drawn for a terminal with a dark background: a light
// module is lit (█, ▀, ▄), a dark one is blank, as `qrencode -t UTF8` does. Every line has the
// same width and ends with "\n".
std::string DrawQr(const std::vector<std::vector<bool>>& modules);

}  // namespace mtp
