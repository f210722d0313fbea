// A plugin that reaches past the plugin API, for the isolation check's own test.
#include "daemon/plugins/bad/bad.h"

#include "daemon/http/server.h"
#include "daemon/plugin_api/plugin.h"
