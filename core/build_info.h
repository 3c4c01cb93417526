// Build identity baked in at build time (core/build_info.cc.in, filled by meson): the project
// version, the git commit, the build type and the compiler. Constants; any thread.
//
// The commit comes from `-Dcommit=...` when given (builds without .git, e.g. Debian packages),
// else from `git rev-parse HEAD` in the source tree at build time (re-run on every build), with
// "-dirty" appended when tracked files differ from HEAD; "unknown" when neither is available.
#pragma once



namespace mtp {

const char* BuildVersion();   // meson project version, e.g. "0.1.0"
const char* BuildCommit();    // 40 hex digits [+ "-dirty"], or "unknown"
const char* BuildType();      // meson buildtype, e.g. "release" (+ "+sanitizers")
const char* BuildCompiler();  // e.g. "gcc 12.2.0"

}  // namespace mtp
