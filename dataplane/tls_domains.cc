// TlsDomainRegistry and FrontAddress.
#include "dataplane/tls_domains.h"

#include <arpa/inet.h>

#include <cassert>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace mtp {

FrontAddress FrontAddress::Ipv4(const uint8_t bytes[4], uint16_t port) {
  FrontAddress a;
  auto* sin = reinterpret_cast<sockaddr_in*>(&a.storage);
  sin->sin_family = AF_INET;
  std::memcpy(&sin->sin_addr, bytes, 4);
  sin->sin_port = htons(port);
  a.length = sizeof(sockaddr_in);
  return a;
}

FrontAddress FrontAddress::Ipv6(const uint8_t bytes[16], uint16_t port) {
  FrontAddress a;
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
  sin6->sin6_family = AF_INET6;
  std::memcpy(&sin6->sin6_addr, bytes, 16);
  sin6->sin6_port = htons(port);
  a.length = sizeof(sockaddr_in6);
  return a;
}

uint16_t FrontAddress::port() const {
  if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
  if (family() == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
  }
  return 0;
}

void FrontAddress::set_port(uint16_t port) {
  if (family() == AF_INET) reinterpret_cast<sockaddr_in*>(&storage)->sin_port = htons(port);
  if (family() == AF_INET6) reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port = htons(port);
}

std::string FrontAddress::ToString() const {
  char text[INET6_ADDRSTRLEN] = {};
  if (family() == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr, text,
              sizeof(text));
    return absl::StrCat(text, ":", port());
  }
  if (family() == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr, text,
              sizeof(text));
    return absl::StrCat("[", text, "]:", port());
  }
  return "none";
}

FrontAddress TlsDomainInfo::FrontFor(uint16_t local_port) const {
  FrontAddress a = front;
  if (a.valid() && !front_overridden) a.set_port(local_port == 80 ? 80 : 443);
  return a;
}

TlsDomainRegistry::TlsDomainRegistry(std::vector<std::string> names,
                                     const TlsDomainProfile& initial_profile)
    : names_(std::move(names)),
      infos_(new std::atomic<std::shared_ptr<const TlsDomainInfo>>[names_.size()]) {
  assert(!names_.empty());
  for (size_t i = 0; i < names_.size(); ++i) {
    auto info = std::make_shared<TlsDomainInfo>();
    info->name = names_[i];
    info->profile = initial_profile;
    infos_[i].store(std::move(info), std::memory_order_release);
  }
}

std::shared_ptr<const TlsDomainInfo> TlsDomainRegistry::Get(size_t index) const {
  assert(index < names_.size());
  return infos_[index].load(std::memory_order_acquire);
}

void TlsDomainRegistry::Publish(size_t index, std::shared_ptr<const TlsDomainInfo> info) {
  assert(index < names_.size() && info != nullptr && info->name == names_[index]);
  infos_[index].store(std::move(info), std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_acq_rel);
}

}  // namespace mtp
