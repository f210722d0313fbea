// The checks that span keys, run once every value has its type: old names against new, pairs
// that go together, placeholder and well-known credentials, and listeners that would share a
// port. Internal to config/.
#pragma once

#include "config/load_state.h"

namespace sg::config {

/// Folds each old name (KeySpec::alias_of) into its key: the higher source wins, two values in
/// one source are an error. Also lowers logging.level for app.debug.
void ResolveAliases(LoadState& state);

/// Reports every cross-key problem.
void CheckCrossKeys(LoadState& state);

}  // namespace sg::config
