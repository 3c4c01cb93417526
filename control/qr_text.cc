// QR encoding (libqrencode) and its half-block drawing.
#include "control/qr_text.h"

#include <qrencode.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"

namespace mtp {

absl::StatusOr<std::vector<std::vector<bool>>> EncodeQr(std::string_view text) {
  const std::string copy(text);
  QRcode* code = QRcode_encodeString8bit(copy.c_str(), 0, QR_ECLEVEL_L);
  if (code == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot encode a QR code of ", text.size(), " bytes: ", std::strerror(errno)));
  }
  const int width = code->width;
  std::vector<std::vector<bool>> modules(width, std::vector<bool>(width));
  for (int y = 0; y < width; ++y) {
    for (int x = 0; x < width; ++x) modules[y][x] = (code->data[y * width + x] & 1) != 0;
  }
  QRcode_free(code);
  return modules;
}

std::string DrawQr(const std::vector<std::vector<bool>>& modules) {
  constexpr int kQuiet = 2;
  const int width = static_cast<int>(modules.size());
  const int side = width + 2 * kQuiet;
  auto light = [&](int y, int x) {
    y -= kQuiet;
    x -= kQuiet;
    if (y < 0 || x < 0 || y >= width || x >= width) return true;  // quiet zone
    return !modules[y][x];
  };
  std::string out;
  for (int y = 0; y < side; y += 2) {
    for (int x = 0; x < side; ++x) {
      const bool top = light(y, x);
      const bool bottom = y + 1 < side ? light(y + 1, x) : false;
      if (top && bottom) {
        out += "\u2588";  // █
      } else if (top) {
        out += "\u2580";  // ▀
      } else if (bottom) {
        out += "\u2584";  // ▄
      } else {
        out += ' ';
      }
    }
    out += '\n';
  }
  return out;
}

}  // namespace mtp
