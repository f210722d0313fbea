// Libraries loaded with dlopen when a feature first needs them (libcurl for S3 and the chain,
// libpq for PostgreSQL, libcrypto for the CLI's uploads), so that a process that never uses them
// does not load, relocate and map them and the libraries they bring at start.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

#include <dlfcn.h>

#include "common/result.h"

namespace sg {

/// dlopen(`soname`) for the life of the process (never closed); the error names the Debian
/// package that has it.
Result<void*> OpenLibrary(const char* soname, const char* package);

/// Resolves `name` in `library` into `slot`; keeps the first missing name in `missing` (for the
/// error that names it).
template <class Fn>
void BindSymbol(void* library, const char* name, Fn& slot, std::string& missing) {
  slot = reinterpret_cast<Fn>(dlsym(library, name));
  if (slot == nullptr && missing.empty()) missing = name;
}

/// The table `Load` makes (a library's functions), made once for the life of the process and
/// safe from any thread: the same table, or the same error, after.
template <class Table, Result<Table> (*Load)()>
Result<const Table*> LoadOnce() {
  static std::once_flag once;
  // Never destroyed: a thread that outlives main() may still call into the library.
  static Result<Table>* loaded = nullptr;
  std::call_once(once, [] { loaded = new Result<Table>(Load()); });
  if (!*loaded) return loaded->error();
  return &loaded->value();
}

/// LoadOnce's table for code that runs after its creator checked the load: ends the process with
/// the error if the library cannot be loaded (that check was skipped: a bug).
template <class Table, Result<Table> (*Load)()>
const Table& LoadedOrAbort() {
  auto table = LoadOnce<Table, Load>();
  if (!table) {
    std::fprintf(stderr, "streamgate: %s\n", table.error().message.c_str());
    std::abort();
  }
  return **table;
}

}  // namespace sg
