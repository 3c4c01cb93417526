// TlsDomainRegistry and the fronting-port rule.
#include "dataplane/tls_domains.h"

#include <cassert>

namespace mtp {

SocketAddress TlsDomainInfo::FrontFor(uint16_t local_port) const {
  SocketAddress a = front;
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
