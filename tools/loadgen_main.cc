// mtp-loadgen: skeleton (flags only) until its codecs land.
#include "tools/flags.h"

int main(int argc, char** argv) {
  mtp::tools::FlagParser flags("mtp-loadgen", "Test peer (work in progress).");
  flags.ParseOrExit(argc, argv);
  return mtp::tools::kExitFailure;
}
