// mtp-fake-dc: skeleton (flags only) until its codecs land.
#include "tools/flags.h"

int main(int argc, char** argv) {
  mtp::tools::FlagParser flags("mtp-fake-dc", "Test peer (work in progress).");
  flags.ParseOrExit(argc, argv);
  return mtp::tools::kExitFailure;
}
